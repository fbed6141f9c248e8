"""What is already built: outputs valid in the local store or held by a binary cache.

``invoke plan`` (and ``plan --since``) ask, for every output path of the derivation graph:

1. the local store (``nix-store --check-validity --print-invalid``);
2. each substituter in turn, for the outputs still missing (``nix path-info --store URL
   --json``: an entry without ``"valid": false`` is in that cache). The substituters are the
   builders file's (``[[substituter]]``, :mod:`buildmatrix.builds.builders`, validated there)
   and the ``--cache`` URLs the user names (validated by :func:`cache_url`).

A cache that cannot be read is an error for a ``--cache`` URL (the user asked for it) and a
note for a builders-file substituter (a plan is still a plan when one cache is down). Nothing
here writes: a ``file://`` URL whose directory holds no ``nix-cache-info`` is refused before
Nix is run, because ``nix path-info --store file://DIR`` would create ``DIR``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..builds import trust
from ..errors import UsageError
from ..nixeval import run as nixrun

NIX_COMMAND = ["--extra-experimental-features", "nix-command"]
LOCAL = "local store"
CHUNK = 500  # store paths per nix path-info call (argv stays far below ARG_MAX)


@dataclass
class Lookup:
    """Output path -> where it is, and the caches that could not be read (url -> why)."""

    where: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def _missing_file_cache(url: str) -> Path | None:
    """The directory of a ``file://`` URL that holds no binary cache (None: not file://, or a cache)."""
    parts = urlsplit(url)
    directory = Path(unquote(parts.path))
    return directory if parts.scheme == "file" and not (directory / "nix-cache-info").is_file() else None


def cache_url(value: str, option: str = "--cache") -> str:
    """A binary cache URL the user names: a conservative store URL (:func:`trust.store_url`), and for
    ``file://`` an existing binary cache directory. UsageError naming ``option`` and the fix otherwise."""
    trust.store_url(value, option)
    directory = _missing_file_cache(value)
    if directory is not None:
        raise UsageError(
            f"{option} {value}: {directory} is no binary cache (it has no nix-cache-info); "
            "fill one with `invoke push --to file:///DIR`, or name an existing cache"
        )
    return value


def _ask(url: str, paths: Sequence[str]) -> tuple[set[str], str]:
    """(the paths ``url`` holds, why it could not be read: empty when it could)."""
    held: set[str] = set()
    if _missing_file_cache(url) is not None:  # nix path-info would create the directory
        return held, "no nix-cache-info there"
    for i in range(0, len(paths), CHUNK):
        argv = ["nix", *NIX_COMMAND, "path-info", "--store", url, "--json", *paths[i : i + CHUNK]]
        proc = subprocess.run(argv, capture_output=True, text=True, env=nixrun.nix_env())
        if proc.returncode:
            return held, nixrun.error_text(proc.stderr).splitlines()[0][:300] if proc.stderr.strip() else f"exit {proc.returncode}"
        try:
            infos = json.loads(proc.stdout or "[]")
        except json.JSONDecodeError:
            return held, "nix path-info printed no JSON"
        held.update(str(i["path"]) for i in infos if isinstance(i, dict) and "path" in i and i.get("valid", True))
    return held, ""


def lookup(outputs: Iterable[str], substituters: Sequence[str], local: bool = True) -> Lookup:
    """Where each of ``outputs`` already is: the local store first, then each substituter in order."""
    outs = sorted(set(outputs))
    found = Lookup()
    if not outs:
        return found
    if local:
        argv = ["nix-store", "--check-validity", "--print-invalid", *outs]
        proc = subprocess.run(argv, capture_output=True, text=True, env=nixrun.nix_env())
        if proc.returncode:
            raise UsageError(f"nix-store --check-validity failed:\n{nixrun.error_text(proc.stderr)}")
        invalid = set(proc.stdout.split())
        found.where.update({o: LOCAL for o in outs if o not in invalid})
    for url in substituters:
        missing = [o for o in outs if o not in found.where]
        if not missing:
            break
        held, why = _ask(url, missing)
        found.where.update({o: url for o in missing if o in held})
        if why:
            found.unreadable[url] = why
    return found


def availability(graph: Mapping[str, object], substituters: Sequence[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Output path -> where it already is (``local store`` or a substituter URL), for a derivation graph."""
    return lookup((o for d in graph.values() for o in d.outputs), substituters).where


def require_readable(found: Lookup, asked: Iterable[str], option: str = "--cache") -> None:
    """UsageError (one line) when a cache the user named with ``option`` could not be read."""
    for url in asked:
        if url in found.unreadable:
            raise UsageError(f"{option} {trust.redact(url)}: the cache could not be read ({found.unreadable[url]}); "
                             "check the URL and its credentials (nix path-info --store URL)")  # fmt: skip


def known(
    graph: Mapping[str, object],
    root: Path,
    env: Mapping[str, str],
    pinned: bool,
    caches: Sequence[str] = (),
    strict: bool = True,
) -> tuple[dict[str, str], str]:
    """(output path -> where it already is, the sentence saying where was looked).

    The builders file's substituters are asked for pinned evaluations only (stand-in derivations are in
    no cache); the ``--cache`` URLs always (the user asked), and one that cannot be read is an error."""
    from ..builds import builders

    cfg = builders.load(root, env)
    subs = [s.url for s in cfg.substituters] if pinned else []
    found = lookup((o for d in graph.values() for o in d.outputs), [*caches, *(u for u in subs if u not in caches)])
    if strict:
        require_readable(found, caches)
    note = LOCAL + (f" and {len(subs)} substituter(s) of {cfg.source}" if subs else "")
    if caches:
        note += f" and {len(caches)} --cache URL(s)"
    if not pinned:
        note += f" ({'builders-file ' if caches else ''}substituters not asked: stand-in derivations are in no cache)"
    elif not cfg.substituters:
        note += " (no substituters in a builders file)"
    down = [u for u in ([] if strict else list(caches)) + subs if u in found.unreadable]
    if down:
        note += "; could not read " + ", ".join(trust.redact(u) for u in down)
    return found.where, note
