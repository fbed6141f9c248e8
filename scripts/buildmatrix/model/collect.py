"""The problem collector: every check of a load reports here, and the load fails once, with all of them.

A :class:`Collector` turns (key path, message, fix) into a :class:`~buildmatrix.errors.Problem`
with the line the key path is on, checks references with a "did you mean", and raises one
:class:`~buildmatrix.errors.ModelError` listing every problem (deduplicated, in line order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import ModelError, Problem
from ..spec import check as speccheck
from ..spec import reach
from ..spec import shape as spec
from ..spec.tomlpos import LineIndex


class Collector:
    def __init__(self, path: Path, lines: LineIndex):
        self.path = path
        self.lines = lines
        self.problems: list[Problem] = []

    def __len__(self) -> int:
        return len(self.problems)

    def problem(self, keypath: tuple, message: str, fix: str = "") -> None:
        self.problems.append(Problem(keypath, message, fix, self.lines.line_of(keypath)))

    def adopt(self, found: Iterable[Problem]) -> None:
        """Take problems made without a line (the structural pass) and give each its line."""
        self.problems += [Problem(p.path, p.message, p.fix, p.line or self.lines.line_of(p.path)) for p in found]

    def ref(self, keypath: tuple, name: str, table: Mapping, what: str, table_name: str) -> bool:
        """Whether ``name`` is an entry of ``table``; if not, a problem naming the closest entries."""
        if name in table:
            return True
        hint = speccheck.did_you_mean(name, table)
        known = ", ".join(sorted(table)) or "none defined"
        define = f"define [{table_name}.{_q(name)}] or " if reach.full(spec.KEY_RE, name) else ""
        self.problem(keypath, f"unknown {what} {name!r}", hint or f"{define}use one of: {known}")
        return False

    def fail_if_problems(self, omitted: int = 0) -> None:
        """Raise ModelError with every problem so far, each once, in line order."""
        if not self.problems:
            return
        seen: set = set()
        unique = []
        for p in self.problems:
            key = (p.path, p.message)
            if key not in seen:
                seen.add(key)
                unique.append(p)
        unique.sort(key=lambda p: p.line or 0)
        raise ModelError(self.path, unique, omitted)


def _q(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else f'"{name}"'
