"""Find the line of a key path in a TOML text (best effort, for error messages).

tomllib gives values but no positions. This scanner follows table headers
(``[a.b]``, ``[[matrix]]``, ``[[matrix.override]]``) and ``key =`` lines, which
is all variants.toml uses; keys inside inline tables report the line of the
enclosing key.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)(\s*\.\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+))*\s*=""")
_PART = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*(?:\.|$)""")


def _split_dotted(text: str) -> tuple[str, ...]:
    parts = []
    for m in _PART.finditer(text):
        token = m.group(1)
        if token[0] in "\"'":
            token = token[1:-1]
        parts.append(token)
    return tuple(parts)


class LineIndex:
    """Maps key paths (as used in Problem.path) to 1-based line numbers."""

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        counters: dict[tuple, int] = {}
        current: tuple = ()
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                dotted = _split_dotted(header.group(2))
                if header.group(1) == "[[":
                    # An array of tables nested in the last element of its parent array.
                    base = self._resolve_prefix(dotted[:-1], counters)
                    key = (*base, dotted[-1])
                    index = counters.get(key, -1) + 1
                    counters[key] = index
                    current = (*key, index)
                else:
                    current = (*self._resolve_prefix(dotted[:-1], counters), dotted[-1])
                self._record(current, number)
                continue
            key = _KEY.match(line)
            if key:
                dotted = _split_dotted(line[: key.end() - 1])
                self._record((*current, *dotted), number)

    @staticmethod
    def _resolve_prefix(dotted: tuple, counters: dict) -> tuple:
        out: tuple = ()
        for part in dotted:
            out = (*out, part)
            if out in counters:
                out = (*out, counters[out])
        return out

    def _record(self, path: tuple, number: int) -> None:
        for i in range(1, len(path) + 1):
            self.lines.setdefault(path[:i], number)

    def line_of(self, path: tuple) -> int | None:
        """Line of the deepest known prefix of ``path``."""
        for i in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:i]))
            if found is not None:
                return found
        return None
