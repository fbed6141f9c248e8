"""Escaping for the Nix language. Every user string that reaches a recipe goes through here."""

from __future__ import annotations

import re

from ..errors import BuildMatrixError
from ..spec import reach

_DQ_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string(text: str) -> str:
    """A double-quoted Nix string literal whose value is exactly ``text``.

    Backslash, double quote and the control characters Nix knows are escaped;
    ``${`` becomes ``\\${`` so no interpolation can happen. Other characters
    (any Unicode) are literal in Nix strings.
    """
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$" and text.startswith("${", i):
            out.append("\\${")
            i += 2
            continue
        out.append(_DQ_ESCAPES.get(ch, ch))
        i += 1
    return '"' + "".join(out) + '"'


def multiline(text: str, indent: str) -> str:
    """A Nix literal for multi-line prose: an indented string when that is exact, else a quoted one.

    Indented strings (``'' ... ''``) read best, but ``'`` next to an escape, ``$``,
    tabs, carriage returns and leading whitespace have subtle rules there. Text
    with any of those is emitted as a double-quoted string instead, which has
    one simple, complete escaping rule.
    """
    lines = text.split("\n")
    plain = not any(c in text for c in "'$\t\r") and not any(line[:1].isspace() for line in lines) and text.strip()
    if not plain:
        return string(text)
    body = "\n".join((indent + "  " + line) if line else "" for line in lines)
    return "''\n" + body + "\n" + indent + "''"


_SAFE_SHELL_WORD = re.compile(reach.SHELL_WORD_RE)


def shell_word(text: str) -> str:
    """Return ``text`` unchanged if it is inert in a shell word and in a Nix indented string.

    Flags and switch values are validated when variants.toml is loaded; this is the
    renderer's second line of defence, so a bug upstream cannot inject shell.
    """
    if _SAFE_SHELL_WORD.fullmatch(text) is None:
        raise BuildMatrixError(f"refusing to put {text!r} into a build script: only [A-Za-z0-9_.,:+=/@%-] are allowed")
    return text


_IDENT = re.compile(reach.NIX_IDENT_RE)


def attr_name(text: str) -> str:
    """An attribute name: bare if it is an identifier (and not a keyword), quoted otherwise."""
    return text if _IDENT.fullmatch(text) and text not in reach.NIX_KEYWORDS else string(text)


def comment(text: str) -> str:
    """Text for a single-line ``#`` comment: line breaks become spaces."""
    return " ".join(text.split())
