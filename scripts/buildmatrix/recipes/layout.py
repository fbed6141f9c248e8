"""Line layout of generated Nix: every line at most ``WIDTH`` columns, in nixfmt's (RFC 166) shape.

The templates place code; the decisions about where a long comment, string, list or function
application breaks are made here, so that no template hand-wraps anything:

- comments wrap at word boundaries into lines of even length (no last line holding one word);
- a string literal too long for its line becomes ``"…" + "…"`` chunks, one per line, with the
  operator leading (nixfmt's layout of an operator chain); the string's value is unchanged;
- a list too long for its line puts one item per line;
- a function application too long for its line puts the function and each argument on its own
  line, the last argument's opening bracket absorbed when it is a parenthesised expression.

Every function returns text with its own indentation; nothing here changes what a value means.
"""

from __future__ import annotations

import re
import textwrap

from . import nix

WIDTH = 100
_HELD = "\x00"  # a space inside a `command`, while wrapping


def fits(line: str) -> bool:
    return len(line) <= WIDTH


def wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """``text`` wrapped at spaces into lines of at most ``width``, as even in length as the count allows.

    Plain greedy filling leaves a last line holding a word or two (a comment line reading only
    ``FOUND)``); the narrowest width that needs no more lines than ``width`` does spreads the words
    evenly instead.
    """

    # A `command` in backticks is one phrase: it never breaks (its spaces are held by a stand-in).
    held = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", _HELD), text)

    def fill(w: int) -> list[str]:
        lines = textwrap.wrap(
            held,
            width=w,
            initial_indent=first,
            subsequent_indent=rest,
            break_long_words=False,
            break_on_hyphens=False,
        )
        return [ln.replace(_HELD, " ") for ln in lines]

    best = fill(width)
    if len(best) < 2 or len(best[-1]) > width * 2 // 5:
        return best
    floor = max(len(first), len(rest)) + max(len(w) for w in held.split())
    for w in range(width - 1, max(floor, width * 3 // 5) - 1, -1):
        trial = fill(w)
        if len(trial) > len(best):
            break
        best = trial
    return best


def comment(text: str, indent: str, first: str = "", rest: str = "") -> str:
    """``text`` as ``#`` comment lines at ``indent``: ``indent# first…``, then ``indent# rest…``."""
    lines = wrap(nix.comment(text), WIDTH - len(indent) - 2, first, rest)
    return "\n".join(f"{indent}# {ln}".rstrip() for ln in lines)


def prose(text: str, width: int) -> str:
    """Multi-line prose (meta.longDescription) with each line wrapped to ``width``; blank lines kept."""
    out = []
    for line in text.split("\n"):
        out += wrap(line, width) if line.strip() else [""]
    return "\n".join(out)


def _chunks(text: str, room: int) -> list[str]:
    """``text`` cut into pieces whose Nix literals are at most ``room`` wide (after a space or ``/``)."""
    pieces: list[str] = []
    rest = text
    while len(nix.string(rest)) > room:
        cut = 0
        for i in range(1, len(rest)):
            if len(nix.string(rest[:i])) > room:
                break
            if rest[i - 1] in " /" or (rest[i - 1] in ",;" and rest[i : i + 1] == " "):
                cut = i
        if cut == 0:  # no break point: cut at the widest piece that fits
            cut = max(i for i in range(1, len(rest)) if len(nix.string(rest[:i])) <= room)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return pieces + [rest] if rest else pieces


def string(text: str, indent: str, lead: str = "", tail: str = "") -> list[str]:
    """The literal of ``text`` as lines: ``indent lead "text" tail`` when it fits, else one chunk per line.

    The chunked form is ``"a"`` / ``+ "b"`` at ``indent`` (``lead`` and ``tail`` are then left to
    the caller: see :func:`binding`, :func:`argument`).
    """
    one = f"{indent}{lead}{nix.string(text)}{tail}"
    if fits(one):
        return [one]
    parts = _chunks(text, WIDTH - len(indent) - 2 - len(tail))
    return [f"{indent}{'+ ' if i else ''}{nix.string(p)}" for i, p in enumerate(parts)]


def binding(name: str, text: str, indent: str) -> str:
    """``name = "text";`` at ``indent``; too long, the string goes below as ``"…" + "…"`` chunks."""
    one = f"{indent}{name} = {nix.string(text)};"
    if fits(one):
        return one
    lines = string(text, indent + "  ", tail=";")  # one line: the tail is on it
    return "\n".join([f"{indent}{name} =", *lines[:-1], lines[-1] if len(lines) == 1 else lines[-1] + ";"])


def _last_group(line: str) -> int | None:
    """Where the parenthesised group that ends ``line`` opens (None: it ends otherwise)."""
    if not line.endswith(")"):
        return None
    depth, in_string = 0, False
    for i in range(len(line) - 1, -1, -1):
        ch = line[i]
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            in_string = not in_string
        elif not in_string and ch == ")":
            depth += 1
        elif not in_string and ch == "(":
            depth -= 1
            if depth == 0:
                return i if i > 0 and line[i - 1] == " " else None
    return None


def expr_lines(expr: str, indent: str) -> list[str]:
    """A (possibly multi-line) expression re-indented under ``indent``.

    A line too long that ends in a parenthesised last argument opens it at its end and puts its
    content on the next line, one level deeper (nixfmt's absorbed last argument).
    """
    out = []
    for ln in expr.split("\n"):
        line = f"{indent}{ln}" if ln else ""
        at = _last_group(line)
        if fits(line) or at is None:
            out.append(line)
            continue
        inner = expr_lines(line[at + 1 : -1], indent + "  ")
        out += [line[: at + 1], *inner, indent + ")"]
    return out


def argument(value: str | list[str], indent: str) -> list[str]:
    """One argument of an application, on lines of its own at ``indent``.

    ``value`` is Nix code, or a list of raw strings for a string argument (chunked if too long,
    in parentheses). Multi-line code and code too long for the line go in parentheses.
    """
    if isinstance(value, list):
        (text,) = value
        lines = string(text, indent)
        if len(lines) == 1:
            return lines
        return [f"{indent}(", *string(text, indent + "  "), f"{indent})"]
    if "\n" not in value and fits(indent + value):
        return [indent + value]
    return [f"{indent}(", *expr_lines(value, indent + "  "), f"{indent})"]


def nix_list(items: list[str], indent: str, lead: str = "", tail: str = "") -> list[str]:
    """``lead[ a b ]tail`` on one line when it fits, else ``lead[``, one item per line, ``]tail``."""
    one = f"{indent}{lead}[ {' '.join(items)} ]{tail}" if items else f"{indent}{lead}[ ]{tail}"
    if fits(one):
        return [one]
    return [f"{indent}{lead}[", *(f"{indent}  {x}" for x in items), f"{indent}]{tail}"]


def strings_list(names: list[str]) -> str:
    """A Nix list of string literals on one line (the caller breaks it: :func:`nix_list`)."""
    return "[ " + " ".join(nix.string(n) for n in names) + " ]" if names else "[ ]"


def kept_patches(names: list[str], indent: str) -> str:
    """``patches`` of a source override: nixpkgs' own patches filtered to the ``names`` kept."""
    items = [nix.string(n) for n in names]
    one = f"{indent}patches = builtins.filter (p: builtins.elem (patchName p) {strings_list(names)}) ("
    if fits(one):
        return "\n".join([one, f"{indent}  old.patches or [ ]", f"{indent});"])
    inner = indent + "    "
    return "\n".join(
        [
            f"{indent}patches =",
            f"{indent}  let",
            *nix_list(items, inner, "kept = ", ";"),
            f"{indent}  in",
            f"{indent}  builtins.filter (p: builtins.elem (patchName p) kept) (old.patches or [ ]);",
        ]
    )


def assertion(a) -> str:
    """``assert check key what expected (actual);`` for a pinfacts.Assertion, at indentation 0.

    The arguments share the first line when it fits (the parenthesised ``actual`` absorbed below
    it); otherwise the function and each argument take a line of their own.
    """
    actual = expr_lines(a.actual, "  ")
    head = f"assert check {nix.string(a.key)} {nix.string(a.what)} {a.expected} ("
    if fits(head) and all(fits(ln) for ln in actual):
        return "\n".join([head, *actual, ");"])
    items = a.expected_items
    expected = nix_list(items, "  ") if items is not None else argument(a.expected, "  ")
    return "\n".join(
        [
            "assert check",
            *argument([a.key], "  "),
            *argument([a.what], "  "),
            *expected,
            *(
                [f"  ({a.actual});"]
                if "\n" not in a.actual and fits(f"  ({a.actual});")
                else ["  (", *expr_lines(a.actual, "    "), "  );"]
            ),
        ]
    )
