"""Check one variants.toml table against its declaration in ``spec.py``.

``check_table`` reports every problem of a raw (parsed TOML) table into a list of
``errors.Problem`` at once, each with its key path, what is wrong and a fix: unknown keys
(with "did you mean"), missing required keys, wrong types, integers out of range, and
strings that break their key's ``pattern``/``enum`` or a rule of a context they reach
(reach.py). Nothing here reads or writes files.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import Problem
from . import reach
from .keys import Key
from .shape import SPECS


def _typename(value: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


# Past this many problems the checker stops looking for "did you mean" hints: a
# file of a hundred thousand unknown keys is answered in a second, not in minutes.
HINT_LIMIT = 200


def check_string(
    text: str, pattern: str | None, enum: tuple[str, ...] | None, reaches: tuple[str, ...]
) -> tuple[str, str] | None:
    """(message, fix) if ``text`` breaks the key's own grammar or a rule of a context it reaches."""
    if len(text) > reach.MAX_STRING:
        return reach.problem(text, reaches)
    if reach.VERSION in reaches:
        found = reach.version_problem(text)
        if found:
            return found
    if pattern and not reach.full(pattern, text):
        return (f"{_show(text)} is malformed (expected to match {pattern})", "")
    if enum and text not in enum:
        return (f"{_show(text)} is not one of {', '.join(enum)}", did_you_mean(text, enum))
    return reach.problem(text, reaches)


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def check_table(raw: Any, spec_name: str, path: tuple, problems: list[Problem]) -> None:
    """Check one table against its spec: unknown keys, types, patterns, enums, the rules of every context."""
    spec = SPECS[spec_name]
    if not isinstance(raw, dict):
        problems.append(Problem(path, f"must be a table, found {_typename(raw)}", "write it as a [table] or { inline = table }"))
        return
    for key, value in raw.items():
        kpath = (*path, key)
        if key not in spec.keys:
            hint = did_you_mean(key, spec.keys) if len(problems) < HINT_LIMIT else ""
            allowed = ", ".join(sorted(spec.keys))
            problems.append(Problem(kpath, f"unknown key `{_short(key)}`", hint or f"allowed keys here: {allowed}"))
            continue
        _check_value(value, spec.keys[key], kpath, problems)
    for key, k in spec.keys.items():
        if k.required and key not in raw:
            problems.append(Problem((*path, key), "required key is missing", f"add `{key} = ...` ({k.doc})"))


def _short(key: str) -> str:
    return key if len(key) <= 60 else key[:57] + "..."


def _check_value(value: Any, k: Key, path: tuple, problems: list[Problem]) -> None:
    def bad(expected: str) -> None:
        problems.append(Problem(path, f"must be {expected}, found {_typename(value)}", k.doc))

    def check_str(s: str, p: tuple, pattern=k.pattern, enum=k.enum, reaches=k.reaches) -> None:
        found = check_string(s, pattern, enum, reaches)
        if found:
            problems.append(Problem(p, found[0], found[1] or k.doc))

    if k.kind == "str":
        if not isinstance(value, str):
            return bad("a string")
        check_str(value, path)
    elif k.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return bad("an integer")
        if not k.minimum <= value <= k.maximum:
            shown = str(value) if len(str(value)) <= 30 else f"a {len(str(value))}-digit number"
            problems.append(Problem(path, f"{shown} is out of range", f"use an integer from {k.minimum} to {k.maximum}"))
    elif k.kind == "bool":
        if not isinstance(value, bool):
            return bad("true or false")
    elif k.kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return bad("a list of strings")
        for i, v in enumerate(value):
            check_str(v, (*path, i))
    elif k.kind == "strOrList":
        if isinstance(value, str):
            return check_str(value, path)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
            return bad("a string or a non-empty list of strings")
        for i, v in enumerate(value):
            check_str(v, (*path, i))
    elif k.kind == "strmap":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return bad("a table of strings")
        for name, v in value.items():
            found = check_string(name, k.key_pattern, None, k.key_reaches)
            if found:
                problems.append(
                    Problem((*path, name), f"{_show(name)} is not a valid {k.key_doc}: {found[0]}", found[1] or k.doc)
                )
                continue
            check_str(v, (*path, name))
    elif k.kind == "table":
        check_table(value, k.table, path, problems)
    elif k.kind == "tablemap":
        if not isinstance(value, dict):
            return bad("a table")
        table = SPECS[k.table]
        for name, entry in value.items():
            found = check_string(name, table.key_pattern, None, table.name_reaches)
            if found:
                problems.append(Problem((*path, name), f"name {found[0]}", found[1] or "rename the entry"))
            check_table(entry, k.table, (*path, name), problems)
    elif k.kind == "tablelist":
        if not isinstance(value, list):
            return bad("a list of tables ([[...]] or [ {...}, ... ])")
        for i, entry in enumerate(value):
            check_table(entry, k.table, (*path, i), problems)
    else:  # pragma: no cover - spec error
        raise AssertionError(k.kind)

