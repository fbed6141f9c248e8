"""Errors that point at the exact place in variants.toml and say how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def format_keypath(path: tuple) -> str:
    """Render a key path the way a user would write it: ``matrix[2].exclude[0].gpu``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if not text.replace("_", "").replace("-", "").isalnum():
                text = f'"{text}"'
            out += ("." if out else "") + text
    return out or "<root>"


@dataclass(frozen=True)
class Problem:
    """One finding about the model: where it is, what is wrong, how to fix it."""

    path: tuple
    message: str
    fix: str = ""
    line: int | None = None

    def render(self, file: Path | str) -> str:
        where = f"{file}:{self.line}" if self.line else f"{file}"
        text = f"{where}: {format_keypath(self.path)}: {self.message}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class ProblemList(list):
    """A list of problems that keeps the first ``limit`` and only counts the rest.

    A file of a million unknown keys must not cost a million Problem objects (nor a
    message of a million lines): the checker's structural pass collects into this.
    """

    def __init__(self, limit: int = 1000):
        super().__init__()
        self.limit = limit
        self.omitted = 0

    def append(self, problem: Problem) -> None:
        if len(self) < self.limit:
            super().append(problem)
        else:
            self.omitted += 1


# How many problems a ModelError prints before "… and K more".
SHOWN_PROBLEMS = 50


class BuildMatrixError(Exception):
    """Base class for every error this package raises on purpose."""


@dataclass
class ModelError(BuildMatrixError):
    """The model file is invalid. Carries every problem found, not just the first."""

    file: Path
    problems: list[Problem] = field(default_factory=list)
    omitted: int = 0  # problems found but not kept (see ProblemList)

    @property
    def total(self) -> int:
        return len(self.problems) + self.omitted

    def __str__(self) -> str:
        head = f"{self.file}: {self.total} problem(s); nothing was written"
        lines = [head, *(p.render(self.file) for p in self.problems[:SHOWN_PROBLEMS])]
        rest = self.total - min(len(self.problems), SHOWN_PROBLEMS)
        if rest:
            lines.append(f"... and {rest} more problem(s); fix these first (the first {SHOWN_PROBLEMS} are shown)")
        return "\n".join(lines)


class UsageError(BuildMatrixError):
    """A command was called with arguments that do not name anything in the model."""
