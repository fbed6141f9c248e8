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


class BuildMatrixError(Exception):
    """Base class for every error this package raises on purpose."""


@dataclass
class ModelError(BuildMatrixError):
    """The model file is invalid. Carries every problem found, not just the first."""

    file: Path
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{self.file}: {len(self.problems)} problem(s); nothing was written"
        return "\n".join([head, *(p.render(self.file) for p in self.problems)])


class UsageError(BuildMatrixError):
    """A command was called with arguments that do not name anything in the model."""
