"""Turn a TOML file's bytes (variants.toml, the builders file, build-costs.toml) into data, or into a ModelError: never a traceback.

Before the model sees anything, this module bounds what a hostile or broken file
can cost: its size, the nesting of its arrays and tables, the length of its dotted
keys, and the length of its numbers. Undecodable bytes are reported with their line.
Each limit is far above what a real matrix needs and far below what makes tomllib
or the checker slow (or recurse without end).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ..errors import ModelError, Problem

MAX_BYTES = 2 * 1024 * 1024  # the shipped file is ~12 KB
MAX_NESTING = 32  # arrays / inline tables / table headers inside each other
MAX_KEY_PARTS = 16  # parts of one dotted key or table header (a.b.c)
MAX_DIGITS = 30  # digits of one number (a 64-bit integer has at most 19)

# Strings, comments and the punctuation that opens, closes or separates things.
_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''.*?'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
    r"|#[^\n]*"
    r"|[0-9_]{" + str(MAX_DIGITS + 1) + r",}"
    r"|[\[\]{}.=,\n]",
    re.S,
)


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def read(path: Path) -> str:
    """The text of ``path`` (UTF-8), or a ModelError naming the file and the line of a bad byte."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ModelError(
            path, [Problem((), f"cannot read the file: {exc.strerror}", "run from the repository root or pass --file")]
        ) from None
    if len(data) > MAX_BYTES:
        raise ModelError(path, [_too_big()])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ModelError(
            path,
            [
                Problem(
                    (),
                    f"byte 0x{data[exc.start]:02X} at column {column} is not UTF-8 ({exc.reason})",
                    "save the file as UTF-8 (TOML files are UTF-8)",
                    line,
                )
            ],
        ) from None
    return text.removeprefix("\ufeff")


def _too_big() -> Problem:
    return Problem(
        (), f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB", "is this the right file? (variants.toml is a few KB)"
    )


def prescan(text: str) -> Problem | None:
    """The first place where ``text`` nests too deep or has too long a dotted key or number."""
    if len(text) > MAX_BYTES:
        return _too_big()
    depth = 0
    dots = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        first = tok[0]
        if first in "[{":
            depth += 1
            dots = 0
            if depth > MAX_NESTING:
                return Problem(
                    (),
                    f"arrays or tables are nested more than {MAX_NESTING} deep",
                    "flatten it (variants.toml needs three levels at most)",
                    _line(text, m.start()),
                )
        elif first in "]}":
            depth -= 1
            dots = 0
        elif tok == ".":
            dots += 1
            if dots >= MAX_KEY_PARTS:
                return Problem(
                    (),
                    f"a dotted key or table name has more than {MAX_KEY_PARTS} parts",
                    "variants.toml needs three parts at most ([gpu.sm90], exclude.gpu)",
                    _line(text, m.start()),
                )
        elif first in "=,\n":
            dots = 0
        elif first in "0123456789_":
            return Problem(
                (), f"a number has more than {MAX_DIGITS} digits", "integers in variants.toml are 64-bit", _line(text, m.start())
            )
    return None


def parse(text: str, path: Path) -> dict:
    """tomllib.loads, with every way it can fail turned into a ModelError naming the file (and line)."""
    found = prescan(text)
    if found:
        raise ModelError(path, [found])
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else None
        raise ModelError(path, [Problem((), f"not valid TOML: {exc}", "fix the syntax at that line", line)]) from None
    except (RecursionError, MemoryError, ValueError) as exc:  # limits prescan missed: still an error, not a traceback
        raise ModelError(path, [Problem((), f"cannot parse the file ({type(exc).__name__})", "simplify it")]) from None
