"""Errors that point at the exact place in variants.toml and say how to fix it, and the exit statuses.

Exit statuses are defined here once; every ``cmd_*``, nox session and ``python -m
buildmatrix.*`` returns one of them:

    ====  ==================  =====================================================
    0     ``EXIT_OK``         done; a smoke test passed
    1     ``EXIT_FAILED``     it ran and failed (a check, a build, an unwritable file)
    2     ``EXIT_BAD_INPUT``  bad usage or an invalid model: nothing was run
    77    ``EXIT_SKIPPED``    nothing here matches this host (the automake "skip" code)
    ====  ==================  =====================================================

(``NOT_STARTED``, 127, is the shell's "command not found": what ``builds.run_module`` returns
when ``python -m …`` could not even be started. It is no status of this package's own.)

An error class carries its status (``exit_status``): ``UsageError`` / ``ModelError`` (2),
``FailedError`` (1), ``SkippedError`` (77). A command raises one of them, and the one place
that turns an error into a message and a status, ``cli.common.guarded``, needs no table of its
own; any other ``OSError`` (a file that cannot be written) is 1 there too. ``scripts/smoke_check.py``
runs where this package is not importable and keeps a copy of these constants;
tests/test_smoke.py asserts the copy equals this table.
"""

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


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_SKIPPED = 77
NOT_STARTED = 127  # not one of ours: the shell's "command not found" (see the module docstring)


# How many problems a ModelError prints before "… and K more".
SHOWN_PROBLEMS = 50


class BuildMatrixError(Exception):
    """Base class for every error this package raises on purpose.

    ``exit_status``: what a command that stops on this error returns (bad input unless
    a subclass says otherwise).
    """

    exit_status = EXIT_BAD_INPUT


@dataclass
class ModelError(BuildMatrixError):
    """The model file is invalid. Carries every problem found, not just the first."""

    exit_status = EXIT_BAD_INPUT

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

    exit_status = EXIT_BAD_INPUT


class FailedError(BuildMatrixError):
    """It ran and failed (a step of a publish, a git command): exit 1 after the message."""

    exit_status = EXIT_FAILED


class SkippedError(BuildMatrixError):
    """Nothing here to do on this host (no result to test): exit 77 after the message."""

    exit_status = EXIT_SKIPPED
