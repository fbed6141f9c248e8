"""Atomic file replacement that leaves no debris, even after ``kill -9``.

A reader sees the old file or the new one, never half of one: the content goes to a
temp file in the same directory and is renamed over the target.
A process killed between the two steps leaves its temp file behind. Temp files are
therefore named ``.buildmatrix-<pid>.<random>.tmp``: ``.gitignore`` hides them, and
:func:`sweep` (run by every writer before its first write in a directory, and by
``invoke gen`` / ``invoke docs`` at start) deletes those whose process is gone.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

PREFIX = ".buildmatrix-"
SUFFIX = ".tmp"
_OURS = re.compile(r"\.buildmatrix-([0-9]+)\.[0-9a-f]{16}\.tmp")
# What tempfile.mkstemp made in earlier versions: .<target>.<8 random characters>.tmp
_LEGACY = re.compile(r"\..+\.(nix|md|json|toml|yml|yaml)\.[A-Za-z0-9_]{8}\.tmp")
# A temp file this old is debris whatever its pid says (pids are reused).
STALE_AFTER_S = 3600

_swept: set[Path] = set()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OverflowError:
        return False
    return True


def sweep(directory: Path) -> list[str]:
    """Delete temp files that killed writers left in ``directory``; return their names."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        ours = _OURS.fullmatch(entry.name)
        if not ours and not _LEGACY.fullmatch(entry.name):
            continue
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
            if not ours or old or not _alive(int(ours.group(1))):
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:  # gone already (another sweeper), or not ours to delete
            continue
    _swept.add(Path(directory).resolve())
    return removed


def write_atomic(path: Path, content: str) -> None:
    """Replace ``path`` with ``content`` so a reader sees the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.resolve() not in _swept:
        sweep(path.parent)
    tmp = path.parent / f"{PREFIX}{os.getpid()}.{secrets.token_hex(8)}{SUFFIX}"
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
