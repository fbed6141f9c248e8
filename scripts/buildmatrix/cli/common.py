"""What every command shares: loading with warnings once, the one guard that turns errors into exit statuses, name splitting.

Each ``cmd_*`` function (here, and in the other modules of :mod:`buildmatrix.cli`) loads,
calls the package, prints, and returns a process exit status (``errors.EXIT_*``); the generated
files' commands (``cmd_gen``, ``cmd_schema``, ``cmd_ci``, ``cmd_docs``) are in :mod:`buildmatrix.cli.generate`. The
errors this package raises on purpose carry their status (:mod:`buildmatrix.errors`);
:func:`guarded` is the one place that prints them and returns it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import model
from ..errors import EXIT_FAILED, BuildMatrixError, ModelError, SkippedError


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
