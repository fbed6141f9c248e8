"""The check's memo: the digests of what a full ``invoke gen`` renders, keyed by everything it renders from.

Rendering 1,707 recipes costs seconds; checking them against the disk costs a read and a hash
each. A full ``invoke gen`` (and a full ``gen --check`` that had to render) stores, under the
ignored ``.cache/buildmatrix/``, the SHA-256 digest of every output's text together with a
*key*: the SHA-256 of every input the text depends on:

- the bytes of variants.toml (every run still loads the model, which checks that each patch
  file exists; reading no other file, rendering is a function of those bytes),
- every file of this package as loaded (the generator's code, the templates, their data),
- the Python version and the Jinja2 / MarkupSafe sources (``__init__.py`` names the version),
- what the caller adds (which optional outputs a full run has: the workflow when
  ``.github/workflows`` exists).

A later full ``gen --check`` whose key is the same uses the digests (:class:`generated.Output` with
``digest``) instead of rendering: the driver still reads every file, compares it with its digest,
finds missing files, hand-written ones and stale ones exactly as with the texts. The memo never
says the *tree* is clean; it only says what rendering would give, so a hand-edited, deleted or
extra recipe is found as before, and a changed input is a different key (the check renders).
A memo that is unreadable, of another key or malformed is ignored; writing it is best effort.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from . import generated
from .files import write_atomic

CACHE_FILE = Path(".cache") / "buildmatrix" / "gen-check.json"  # relative to the root; .cache/ is ignored
VERSION = 1  # of the memo's shape and of the key's recipe
PACKAGE = Path(__file__).resolve().parent
LIBRARIES = ("jinja2", "markupsafe")  # the third-party code rendering runs


def _package_files(directory: Path) -> list[Path]:
    out = []
    with os.scandir(directory) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    out += _package_files(Path(entry.path))
            elif entry.is_file() and not entry.name.endswith((".pyc", ".pyo")):
                out.append(Path(entry.path))
    return out


def _library_sources() -> list[tuple[str, bytes]]:
    out = []
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec and spec.origin else ""
        out.append((f"{name}:{origin}", Path(origin).read_bytes() if origin and Path(origin).is_file() else b""))
    return out


def key(variants: bytes, extra: Iterable[str] = ()) -> str:
    """The digest of every input a full generation renders from (see the module's docstring)."""
    h = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    feed("memo", str(VERSION).encode())
    feed("python", f"{sys.implementation.name} {sys.version}".encode())
    feed("variants.toml", variants)
    for path in sorted(_package_files(PACKAGE)):
        feed(f"package/{path.relative_to(PACKAGE).as_posix()}", path.read_bytes())
    for label, data in _library_sources():
        feed(label, data)
    for item in extra:
        feed("extra", item.encode())
    return h.hexdigest()


def load(root: Path, want: str) -> list[generated.Output] | None:
    """The memo's outputs (digests only) when it was stored under the key ``want``; else None."""
    try:
        data = json.loads((Path(root) / CACHE_FILE).read_text(encoding="utf-8"))
        if data.get("version") != VERSION or data.get("key") != want:
            return None
        return [
            generated.Output(path=PurePosixPath(o["path"]), text=None, digest=o["digest"], marker=o["marker"], what=o["what"])
            for o in data["outputs"]
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(root: Path, want: str, outputs: Iterable[generated.Output]) -> None:
    """Remember the digests of ``outputs`` under the key ``want`` (best effort: a read-only tree keeps no memo)."""
    rows = [{"path": str(o.path), "digest": o.sha256(), "marker": o.marker, "what": o.what} for o in outputs]
    try:
        path = Path(root) / CACHE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"version": VERSION, "key": want, "outputs": rows}) + "\n")
    except OSError:
        pass


def outputs(root: Path, want: str, render: Callable[[], list[generated.Output]]) -> list[generated.Output]:
    """For a check: the memo's outputs under the key ``want``, else ``render()`` (and remember its digests)."""
    found = load(root, want)
    if found is not None:
        return found
    rendered = render()
    store(root, want, rendered)
    return rendered
