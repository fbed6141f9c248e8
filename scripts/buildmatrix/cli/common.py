"""What every command shares: loading with warnings once, the one unverified-fetch line of the commands that build or publish, the one guard that turns errors into exit statuses, name splitting.

Each ``cmd_*`` function (here, and in the other modules of :mod:`buildmatrix.cli`) loads,
calls the package, prints, and returns a process exit status (``errors.EXIT_*``); the generated
files' commands (``cmd_gen``, ``cmd_schema``, ``cmd_ci``, ``cmd_docs``) are in :mod:`buildmatrix.cli.generate`. The
errors this package raises on purpose carry their status (:mod:`buildmatrix.errors`);
:func:`guarded` is the one place that prints them and returns it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from .. import model
from ..errors import EXIT_FAILED, BuildMatrixError, ModelError, SkippedError, UsageError
from ..model import hashes


def _err(text: str) -> None:
    print(text, file=sys.stderr)


_WARNED: set[str] = set()  # each warning once per process, however often the file is loaded


def load(file: str | Path = model.DEFAULT_FILE, quiet: bool = False) -> model.Matrix:
    m = model.load(file)
    for w in m.warnings:
        if not quiet and w not in _WARNED:
            _err(f"warning: {w}")
        _WARNED.add(w)
    return m


# What each filter option names, in its error message ("--isa avx3: no such CPU ISA").
FILTER_WORDS = {
    "package": "package",
    "python": "Python version",
    "cuda": "CUDA version",
    "gpu": "GPU architecture",
    "isa": "CPU ISA",
    "target": "target",
    "torch": "torch line",
}


def _distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace a character) from ``a`` to ``b``, ignoring case."""
    a, b = a.lower(), b.lower()
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _closest(value: str, valid: list[str]) -> list[str]:
    """What ``value`` was probably meant as: the versions it is the start of (``13`` -> 13.0, 13.1),
    else the one fewest edits away (ties: the same length, then file order); none if all are far."""
    started = [v for v in valid if v.startswith(f"{value}.")]
    if started:
        return started
    ranked = sorted((_distance(value, v), abs(len(v) - len(value)), i, v) for i, v in enumerate(valid))
    return [ranked[0][3]] if ranked and ranked[0][0] <= max(1, len(value) // 3) else []


def check_filters(m: model.Matrix, filters: dict) -> None:
    """Raise UsageError (exit 2) for a filter value the model does not know, listing the valid ones.

    ``filters``: option name (a key of :data:`FILTER_WORDS`) -> value; empty values are no filter.
    The valid values are :meth:`Matrix.filter_values`, so a value that is valid but selects no
    variant is no error ("no variant matches")."""
    for key, value in filters.items():
        if not value:
            continue
        valid = m.filter_values(key)
        if value in valid:
            continue
        close = _closest(value, valid)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        listed = m.describe_lines() if key == "torch" else ", ".join(valid)
        raise UsageError(f"--{key} {value}: no such {FILTER_WORDS[key]}{hint}; valid: {listed}")


def say_unverified(m: model.Matrix, names: Iterable[str] | None = None) -> None:
    """For a command that builds or publishes ``names`` (None: all): one warning line, once, if any of
    them fetches something unverified (:func:`hashes.unverified_line`). Queries never call it."""
    line = hashes.unverified_line(m, names)
    if line and line not in _WARNED:
        _err(f"warning: {line}")
        _WARNED.add(line)


def guarded(fn):
    """Turn this package's errors into a clear message on stderr and the status the error carries.

    ``ModelError`` prints its problems as they are, ``SkippedError`` its reason (a skip is no
    error), any other ``BuildMatrixError`` "error: ..."; an ``OSError`` (a file that cannot be
    written or read) is ``EXIT_FAILED`` with its file name. Other exceptions are bugs: traceback.
    """

    def wrapper(*args, **kwargs) -> int:
        try:
            return fn(*args, **kwargs)
        except (ModelError, SkippedError) as exc:
            _err(str(exc))
            return exc.exit_status
        except BuildMatrixError as exc:
            _err(f"error: {exc}")
            return exc.exit_status
        except OSError as exc:  # a file that cannot be written (read-only tree, full disk): a message, not a traceback
            _err(f"error: {exc.filename or ''}: {exc.strerror or exc}")
            return EXIT_FAILED

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def split_names(names: str | None) -> list[str] | None:
    """``"a,b c"`` → ``["a", "b", "c"]``; empty → None (everything)."""
    if not names:
        return None
    return [n for n in names.replace(",", " ").split() if n]
