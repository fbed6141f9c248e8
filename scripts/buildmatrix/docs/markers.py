"""The region engine: find ``<!-- BEGIN/END GENERATED: name -->`` pairs, check them, fill them.

Every marker problem (unknown name, BEGIN without END, END without BEGIN, nesting, a name used twice in
one file, a malformed marker line) is reported with file and line; bytes outside the regions are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import BuildMatrixError
from .context import GENERATORS

BEGIN_RE = re.compile(r"<!-- BEGIN GENERATED: ([a-z0-9][a-z0-9-]*) -->")
END_RE = re.compile(r"<!-- END GENERATED: ([a-z0-9][a-z0-9-]*) -->")
# Anything that looks like a marker but is not exactly one (a typo must not pass silently).
LOOSE_RE = re.compile(r"^\s*<!--\s*(BEGIN|END)[\s_-]*GENERATED", re.IGNORECASE)
_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+\Z")  # lines split on \n only (keeps \r, \x0c, \u2028 … inside lines)


class DocsError(BuildMatrixError):
    """Marker problems (or an unreadable ledger); nothing was written."""

    def __init__(self, problems: list[str], what: str = "the generated-content markers"):
        super().__init__(problems)
        self.problems = problems
        self.what = what

    def __str__(self) -> str:
        head = f"{len(self.problems)} problem(s) with {self.what}; nothing was written"
        return "\n".join([head, *self.problems])


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class Region:
    """One BEGIN/END pair: the generator's name and the indices of its two marker lines."""

    name: str
    begin: int  # index of the BEGIN line
    end: int  # index of the END line


@dataclass
class Parsed:
    """A document as lines (with their endings) and its well-formed regions, in order."""

    lines: list[str]
    regions: list[Region]


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split on ``\\n`` only (``str.splitlines`` would also split on \\x0c, \\u2028 …)."""
    return _LINE_RE.findall(text)


def parse(text: str, where: str, known: Iterable[str] | None = None) -> tuple[Parsed, list[str]]:
    """Find the regions of one document. Returns (parsed, problems); problems name ``where:line``."""
    known = set(GENERATORS if known is None else known)
    lines = split_lines(text)
    problems: list[str] = []
    regions: list[Region] = []
    seen: dict[str, int] = {}
    open_name: str | None = None
    open_at = 0
    for i, line in enumerate(lines):
        body = line.rstrip()
        begin, end = BEGIN_RE.fullmatch(body), END_RE.fullmatch(body)
        at = f"{where}:{i + 1}"
        if not (begin or end):
            if LOOSE_RE.match(line):
                problems.append(
                    f"{at}: malformed marker {body.strip()!r}; write exactly `<!-- BEGIN GENERATED: name -->` or "
                    "`<!-- END GENERATED: name -->` on a line of its own, starting in column 1"
                )
            continue
        if begin:
            name = begin.group(1)
            if open_name is not None:
                problems.append(
                    f"{at}: BEGIN {name!r} inside region {open_name!r} (opened at line {open_at + 1}); regions cannot nest"
                )
                continue
            if name not in known:
                problems.append(f"{at}: unknown generator {name!r}; known: {', '.join(sorted(known))}")
            if name in seen:
                problems.append(f"{at}: region {name!r} appears twice in this file (first at line {seen[name] + 1})")
            seen.setdefault(name, i)
            open_name, open_at = name, i
            continue
        name = end.group(1)
        if open_name is None:
            problems.append(f"{at}: END {name!r} without a BEGIN")
        elif name != open_name:
            problems.append(f"{at}: END {name!r} closes region {open_name!r} (opened at line {open_at + 1})")
            open_name = None
        else:
            regions.append(Region(name, open_at, i))
            open_name = None
    if open_name is not None:
        problems.append(f"{where}:{open_at + 1}: BEGIN {open_name!r} has no matching `<!-- END GENERATED: {open_name} -->`")
    return Parsed(lines, regions), problems


def _newline_of(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n"


def fill(parsed: Parsed, contents: dict[str, str]) -> str:
    """The document with each region's inside replaced by ``contents[name]`` (prose kept byte for byte)."""
    out: list[str] = []
    pos = 0
    for r in parsed.regions:
        out.extend(parsed.lines[pos : r.begin + 1])
        nl = _newline_of(parsed.lines[r.begin])
        body = contents[r.name].strip("\n")
        out.append(("\n" + body + "\n\n").replace("\n", nl))
        pos = r.end
    out.extend(parsed.lines[pos:])
    return "".join(out)


def region_text(parsed: Parsed, region: Region) -> str:
    return "".join(parsed.lines[region.begin + 1 : region.end])
