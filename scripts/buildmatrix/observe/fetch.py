"""Fetching a pin's (or source's) tarball as the recipes fetch it, from GitHub or a local mirror.

The recipes fetch a pin with ``builtins.fetchTarball { url; sha256; }``: the store path
``/nix/store/<hash>-source`` of the unpacked tree, named ``source``. ``nix-prefetch-url --unpack
--name source URL`` adds that very path and prints its sha256 (Nix base-32) and the path; once it
is in the store, the recipes' own fetchTarball of the GitHub URL with that sha256 resolves to it
offline (a fixed-output path already valid is not downloaded again).

A mirror is a directory holding each tarball under the base name of the URL the recipes fetch
(``https://github.com/NixOS/nixpkgs/archive/<rev>.tar.gz`` -> ``DIR/<rev>.tar.gz``); ``--mirror``
takes the directory or a ``file://`` URL of it. Its files stand in for GitHub's archives: a hash
recorded from one is valid for the GitHub URL only if the file is that archive.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildMatrixError, FailedError, UsageError
from ..spec import reach
from ..spec import shape as spec

_BASENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\.tar\.gz")


@dataclass(frozen=True)
class Target:
    """What is fetched: a [pin.NAME] (``sha256``) or a [source.NAME] (``hash``), at the URL the recipes use."""

    kind: str  # "pin" | "source"
    name: str
    url: str
    recorded: str  # the hash variants.toml records ("" when unverified)
    tarball: bool = True  # False: a source with submodules (a git checkout, not a tarball)

    @property
    def table(self) -> str:
        return f'[{self.kind}."{self.name}"]' if not reach.full(r"[A-Za-z0-9_-]+", self.name) else f"[{self.kind}.{self.name}]"

    @property
    def hash_key(self) -> str:
        return "sha256" if self.kind == "pin" else "hash"


@dataclass(frozen=True)
class Fetched:
    target: Target
    sha256: str  # SRI
    store_path: str
    command: str  # the command line that produced it
    mirror_file: str = ""  # the mirror file it came from ("" from the URL itself)

    @property
    def changed(self) -> bool:
        return self.sha256 != _sri(self.target.recorded)


def targets(m) -> list[Target]:
    out = [Target("pin", p.name, p.url, p.sha256) for p in m.pins.values()]
    for s in m.sources.values():
        url = f"https://github.com/{s.owner}/{s.repo}/archive/{s.rev}.tar.gz"
        out.append(Target("source", s.name, url, s.hash, tarball=not s.fetch_submodules))
    return out


def mirror_dir(option: str) -> Path:
    """``--mirror DIR`` or ``--mirror file:///DIR``: the directory, which must exist."""
    text = option
    if option.startswith("file://"):
        parsed = urllib.parse.urlparse(option)
        if parsed.netloc not in ("", "localhost"):
            raise UsageError(f"--mirror {option}: a file:// URL names a local directory (file:///path)")
        text = urllib.parse.unquote(parsed.path)
    path = Path(text)
    if not path.is_dir():
        raise UsageError(f"--mirror {option}: no such directory; give the directory holding <rev>.tar.gz files")
    return path


def mirror_file(directory: Path, target: Target) -> Path:
    """The mirror's file for ``target``: the base name of its URL (``<rev>.tar.gz``)."""
    base = urllib.parse.urlparse(target.url).path.rsplit("/", 1)[-1]
    if not _BASENAME.fullmatch(base):
        raise UsageError(f"{target.table}: its URL {target.url} ends in no <name>.tar.gz a mirror can hold")
    path = directory / base
    if not path.is_file():
        raise UsageError(
            f"--mirror {directory}: no {base} for {target.table}; put the archive of {target.url} there "
            "(the rule: a mirror file is named as the URL's last part), or leave the name out"
        )
    return path


def prefetch(target: Target, mirror: Path | None) -> Fetched:
    """``nix-prefetch-url --unpack --print-path --name source`` of the target (or its mirror file)."""
    exe = shutil.which("nix-prefetch-url")
    if not exe:
        raise UsageError("`nix-prefetch-url` is not installed: `invoke observe` needs Nix (apt-get install nix-bin)")
    local = mirror_file(mirror, target) if mirror else None
    url = local.resolve().as_uri() if local else target.url
    argv = ["nix-prefetch-url", "--unpack", "--print-path", "--type", "sha256", "--name", "source", url]
    proc = subprocess.run([exe, *argv[1:]], capture_output=True, text=True)
    lines = proc.stdout.split()
    if proc.returncode != 0 or len(lines) != 2 or not reach.full(spec.NIX32_SHA256_RE, lines[0]):
        from ..edit import tail

        why = " ".join(tail(proc.stderr, 300).split()) or f"exit {proc.returncode}"
        if local:
            raise UsageError(f"--mirror: {local} is not a readable tarball ({why}); replace it with the archive of {target.url}")
        raise FailedError(f"{target.table}: `{' '.join(argv)}` failed: {why} (needs network access to GitHub)")
    if not reach.full(r"/nix/store/[0-9a-z]{32}-source", lines[1]):
        raise BuildMatrixError(f"nix-prefetch-url printed {lines[1]!r}, not a store path")
    return Fetched(target, _sri(lines[0]), lines[1], " ".join(argv), str(local or ""))


def _sri(text: str) -> str:
    if not text or text.startswith("sha256-"):
        return text
    from ..edit import given_hash

    return given_hash(text)
