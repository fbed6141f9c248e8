"""Release tarballs and directories as patch targets: safe extraction, the source root, the check.

:func:`source_tree` yields the source root of a directory or a release tarball; a tarball is
extracted into a temporary directory (removed on exit) only after every member is checked.
:func:`check_source` is :func:`buildmatrix.magma.patching.check_tree` for either. Nothing here writes
to the tree or tarball that is checked. Standard library only.
"""

from __future__ import annotations

import contextlib
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from .patching import Patch, PatchError, Result, check_tree

TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")


def is_tarball(path: Path) -> bool:
    return Path(path).name.endswith(TARBALL_SUFFIXES)


def _safe_members(tar: tarfile.TarFile, source: Path) -> list[tarfile.TarInfo]:
    """All members, after refusing any that could land outside the extraction directory."""
    members = tar.getmembers()
    for m in members:
        name = PurePosixPath(m.name)
        if m.name.startswith(("/", "\\")) or ".." in name.parts:
            raise PatchError(f"{source}: unsafe member {m.name!r} (absolute or '..' path); refusing to extract")
        if m.issym() or m.islnk():
            base = str(name.parent / m.linkname) if m.issym() else m.linkname
            target = posixpath.normpath(base)
            if m.linkname.startswith("/") or target == ".." or target.startswith("../"):
                raise PatchError(f"{source}: link {m.name!r} -> {m.linkname!r} points outside the archive; refusing to extract")
        elif not (m.isfile() or m.isdir()):
            raise PatchError(f"{source}: member {m.name!r} is not a regular file or directory; refusing to extract")
    return members


def _source_root(extracted: Path, patch: Patch, strip: int) -> Path:
    """The tarball's single top-level directory (``magma-2.9.0/``), unless the patch's files sit at the top."""
    entries = list(extracted.iterdir())
    if len(entries) != 1 or not entries[0].is_dir():
        return extracted
    inner = entries[0]
    needed = [f.path(strip) for f in patch.files if not f.is_creation]
    if needed and not all((inner / p).exists() for p in needed) and all((extracted / p).exists() for p in needed):
        return extracted
    return inner


@contextlib.contextmanager
def source_tree(patch: Patch, source: Path, strip: int = 1) -> Iterator[tuple[Path, str]]:
    """The source root of a directory or a release tarball (.tar, .tar.gz/.tgz, .tar.xz, .tar.bz2).

    A tarball is extracted into a temporary directory (removed on exit) after every member
    has been checked (no absolute paths, no ``..``, no links out, no devices); the root is
    its single top-level directory, or the extraction directory itself. Yields
    ``(root, shown)``: the directory, and how a report names it.
    """
    source = Path(source)
    if source.is_dir():
        yield source, str(source)
        return
    if not source.is_file():
        raise PatchError(f"{source}: no such file or directory")
    if not (is_tarball(source) or tarfile.is_tarfile(source)):
        raise PatchError(f"{source}: not a directory or a tarball ({', '.join(TARBALL_SUFFIXES)})")
    with tempfile.TemporaryDirectory(prefix="buildmatrix-patch-") as tmp:
        dest = Path(tmp)
        try:
            with tarfile.open(source, "r:*") as tar:
                members = _safe_members(tar, source)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(dest, members=members, filter="data")
                else:  # pragma: no cover - Python without PEP 706 (members were checked above)
                    tar.extractall(dest, members=members)
        except (tarfile.TarError, OSError) as err:
            raise PatchError(f"{source}: cannot extract: {err}") from err
        root = _source_root(dest, patch, strip)
        yield root, (root.name if root != dest else ".")


def check_source(patch: Patch, source: Path, strip: int = 1) -> Result:
    """Like :func:`check_tree`, for a directory or a release tarball; ``root`` names the top-level directory."""
    with source_tree(patch, source, strip) as (root, shown):
        result = check_tree(patch, root, strip)
        return Result(result.status, result.file, result.hunk, result.reason, shown, result.placements)
