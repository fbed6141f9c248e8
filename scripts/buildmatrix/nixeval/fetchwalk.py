"""The fetch walk: every fetch call every recipe makes, evaluated, and none without a hash.

Each recipe is imported with ``scopedImport`` whose ``builtins.fetchTarball`` (and the other
builtin fetchers) records its arguments and hands back the stand-in nixpkgs for that pin, and
whose ``import`` does the same for every file it imports (a torchvision recipe imports its
torch recipe with the default nixpkgs, so its pin fetch is walked too). The stand-in's own
fetchers trace each call (``traceFetches``). Forcing every recipe's ``drvPath`` forces every
fixed-output derivation in its closure, so the traces are all the fetches a build would make.

A fetch passes when it has a real hash and uses the fetcher its pin or source names, or when
it carries the fake hash of a pin or source that variants.toml declares unverified. Anything
else (no hash, a fake hash nobody declared, another fetcher) is a finding.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..model import Matrix, hashes
from ..recipes import PKGS_DIR, file_name, nix
from . import run as nixrun

TRACE_RE = re.compile(r"^trace: buildmatrix-fetch (\{.*\})$", re.M)


@dataclass
class Walk:
    fetches: list[dict] = field(default_factory=list)  # every traced call, in order
    findings: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.findings and not self.error


def _builtin_fetchers(standins: dict[str, Path], recipes_dir: Path) -> str:
    """The Nix scope: builtins whose fetchers trace and return the stand-in of the rev they name.

    Only recipes (files under ``recipes_dir``) are imported with the scope: the stand-in's files
    are imported plainly, so Nix parses and evaluates each once instead of once per recipe (they
    trace their own fetches, ``traceFetches``).
    """
    table = " ".join(f"{nix.string(rev)} = {nixrun.nix_path(d)};" for rev, d in standins.items())
    recipes = nix.string(str(recipes_dir.resolve()) + "/")
    return f"""
  standins = {{ {table} }};
  revOf = url: builtins.head (builtins.match ".*/archive/([0-9a-f]{{40}})\\\\.tar\\\\.gz" url);
  trace = fetcher: id: hash: builtins.trace ("buildmatrix-fetch " + builtins.toJSON {{ inherit fetcher id hash; }});
  scope = {{
    builtins = builtins // {{
      fetchTarball =
        args:
        let
          a = if builtins.isString args then {{ url = args; }} else args;
        in
        trace "builtins.fetchTarball" a.url (a.sha256 or null) (standins.${{revOf a.url}} or (throw "no stand-in for ${{a.url}}"));
      fetchurl = args: trace "builtins.fetchurl" (args.url or args) (args.sha256 or args.hash or null) (throw "builtins.fetchurl is not walked");
      fetchGit = args: trace "builtins.fetchGit" (args.url or args) (args.narHash or null) (throw "builtins.fetchGit is not walked");
      fetchTree = args: trace "builtins.fetchTree" (builtins.toJSON args) (args.narHash or null) (throw "builtins.fetchTree is not walked");
    }};
    import =
      path:
      if builtins.substring 0 (builtins.stringLength {recipes}) (toString path) == {recipes} then
        builtins.scopedImport scope path
      else
        builtins.import path;
  }};
"""


def walk(matrix: Matrix, root: Path, names=None, standin: Path | None = None) -> Walk:
    """Evaluate every recipe's drvPath with the walking scope; check each traced fetch against the model."""
    root = Path(root).resolve()
    standin = (standin or nixrun.standin_dir(root)).resolve()
    variants = matrix.with_dependencies(names)
    out = Walk()
    with tempfile.TemporaryDirectory(prefix="buildmatrix-fetchwalk-") as tmpdir:
        tmp = Path(tmpdir)
        by_platform: dict[str, dict[str, Path]] = {}
        for v in variants:
            d = tmp / f"nixpkgs-{v.pin.rev[:7]}-{v.platform}"
            if not d.exists():
                d.mkdir()
                (d / "default.nix").write_text(
                    f"import {nixrun.nix_path(standin)} {{\n  rev = {nix.string(v.pin.rev)};\n"
                    f"  system = {nix.string(v.platform)};\n  traceFetches = true;\n}}\n",
                    encoding="utf-8",
                )
            by_platform.setdefault(v.platform, {})[v.pin.rev] = d
        items = []
        for platform, standins in sorted(by_platform.items()):
            recipes = " ".join(
                f"(builtins.scopedImport scope {nixrun.nix_path(root / PKGS_DIR / file_name(v))} {{ }}).drvPath"
                for v in variants
                if v.platform == platform
            )
            items.append(f"(let\n{_builtin_fetchers(standins, root / PKGS_DIR)}\nin [ {recipes} ])")
        expr = tmp / "walk.nix"
        expr.write_text("[\n" + "\n".join(items) + "\n]\n", encoding="utf-8")
        proc = nixrun.run_nix(["--eval", "--strict", "--json", "--readonly-mode"], expr)
    out.fetches = [json.loads(m.group(1)) for m in TRACE_RE.finditer(proc.stderr)]
    if proc.returncode != 0:
        out.error = nixrun.error_text(proc.stderr)
    out.findings = check(matrix, out.fetches)
    return out


def _declared(matrix: Matrix) -> tuple[dict[str, str], dict[str, tuple[str, bool]]]:
    """Unverified fetch ids -> their entry, and hashed source ids -> (fetcher, fetchSubmodules)."""
    unverified: dict[str, str] = {}
    hashed: dict[str, tuple[str, bool]] = {}
    for p in matrix.pins.values():
        if not p.sha256:
            unverified[p.url] = f"pin {p.name}"
    for s in matrix.sources.values():
        ident = f"{s.owner}/{s.repo}@{s.rev}"
        if s.hash:
            hashed[ident] = (s.fetcher, s.fetch_submodules)
        else:
            unverified[ident] = f"source {s.name}"
    return unverified, hashed


def check(matrix: Matrix, fetches: list[dict]) -> list[str]:
    unverified, hashed = _declared(matrix)
    findings = []
    seen = set()
    for f in fetches:
        key = json.dumps(f, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        ident, h = f["id"], f.get("hash")
        if not h:
            findings.append(f"{f['fetcher']} {ident}: no hash (unpinned fetch)")
        elif h == hashes.FAKE_HASH and ident not in unverified:
            findings.append(f"{f['fetcher']} {ident}: a fake hash, but variants.toml declares nothing unverified for it")
        if ident in hashed and h != hashes.FAKE_HASH:
            fetcher, submodules = hashed[ident]
            if f["fetcher"] != "fetchFromGitHub" or bool(f.get("fetchSubmodules")) != submodules:
                got = f["fetcher"] + ("+submodules" if f.get("fetchSubmodules") else "")
                findings.append(f"{ident}: fetched with {got}, but its hash is recorded for {fetcher}")
    return findings
