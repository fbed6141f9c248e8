"""``nox -s eval -- --pinned``: every recipe against the real pinned trees that are in the store.

A pin counts when its sha256 is recorded and the fixed-output path ``builtins.fetchTarball`` would
give for it (``/nix/store/<hash>-source``) is already valid, after ``invoke observe`` or a first
fetch: nothing is downloaded. For those pins, every fact any recipe asserts is read from the tree
(:mod:`buildmatrix.observe.facts`) so that EVERY failing assertion is reported, grouped by key with
the variants it stops, not only the first a recipe meets; then every recipe of those pins is
evaluated (``drvPath``) through ``builtins.fetchTarball`` of the pin's URL and recorded hash, for
its own platform, and those that fail are named. Files are written only in a temporary directory.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..recipes import nix
from ..recipes.render import PKGS_DIR
from . import run as nixrun

BATCH = 64  # recipes per nix-instantiate call


@dataclass
class PinnedReport:
    pins: list[str] = field(default_factory=list)  # evaluated: in the store
    skipped: list[str] = field(default_factory=list)  # each with why
    failing: dict[str, list[dict]] = field(default_factory=dict)  # key -> [{says, tree, variants}]
    evaluated: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # variant -> first error line

    @property
    def ok(self) -> bool:
        return bool(self.pins) and not self.failing and not self.failed

    def lines(self) -> list[str]:
        out = [f"pinned: {p}" for p in self.pins] + [f"skipped {s}" for s in self.skipped]
        for key, rows in sorted(self.failing.items()):
            for r in rows:
                out.append(f"ASSERT {key}: variants.toml says {json.dumps(r['says'])}, the tree says {json.dumps(r['tree'])}")
                out.append(f"       stops {len(r['variants'])} recipe(s): {', '.join(r['variants'][:5])}" + (" …" if len(r["variants"]) > 5 else ""))
        out += [f"EVAL {name}: {why}" for name, why in sorted(self.failed.items())]
        out.append(
            f"pinned evaluation: {self.evaluated} recipe(s) on {len(self.pins)} pinned tree(s), "
            f"{len(self.failing)} key(s) with failing assertions, {len(self.failed)} recipe(s) failing"
        )
        return out

    def as_dict(self) -> dict:
        return {
            "pins": self.pins,
            "skipped": self.skipped,
            "failing": self.failing,
            "evaluated": self.evaluated,
            "failed": self.failed,
            "ok": self.ok,
        }


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if not exe:
        raise UsageError(f"`{name}` is not installed: `nox -s eval -- --pinned` needs Nix (apt-get install nix-bin)")
    return exe


def store_path(sha256: str) -> str | None:
    """The store path builtins.fetchTarball gives for this hash (named ``source``), if it is valid."""
    from ..edit import bytes_to_nix32, given_hash

    digest = base64.b64decode(given_hash(sha256).removeprefix("sha256-"))
    argv = [_tool("nix-store"), "--print-fixed-path", "--recursive", "sha256", bytes_to_nix32(digest), "source"]
    path = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    valid = subprocess.run([_tool("nix-store"), "--check-validity", path], capture_output=True, text=True)
    return path if valid.returncode == 0 else None


def evaluate_pinned(m, root: Path, names: list[str] | None = None) -> PinnedReport:
    """Every failing assertion and every failing recipe of the pins in the store (``names``: those variants)."""
    from ..observe import facts as factmod

    exe = _tool("nix-instantiate")
    report = PinnedReport()
    trees: dict[str, str] = {}
    for pin in m.pins.values():
        if not pin.sha256:
            report.skipped.append(f"[pin.{pin.name}]: no sha256 recorded (run `invoke observe {pin.name} --write`)")
            continue
        path = store_path(pin.sha256)
        if path is None:
            report.skipped.append(f"[pin.{pin.name}]: not in the store (run `invoke observe {pin.name}` or fetch it once)")
            continue
        trees[pin.name] = path
        report.pins.append(pin.name)
    chosen = set(names) if names else None
    env = nixrun.nix_env()
    for name, path in trees.items():
        found = [f for f in factmod.collect(m, [name]) if f.variants]
        for f in found:
            f.variants = [v for v in f.variants if chosen is None or v in chosen]
        found = [f for f in found if f.variants]
        factmod.read(Path(path), found, exe, env)
        for f in found:
            if not f.agrees:
                tree = f.tree if f.read else f"(error: {f.error})"
                report.failing.setdefault(f.key, []).append({"says": f.value, "tree": tree, "variants": sorted(f.variants)})
    variants = [v for v in m.variants if v.pin.name in trees and (chosen is None or v.name in chosen)]
    report.evaluated = len(variants)
    stopped = {v: key for key, rows in report.failing.items() for r in rows for v in r["variants"]}
    with tempfile.TemporaryDirectory(prefix="buildmatrix-pinned-") as tmp:
        for i in range(0, len(variants), BATCH):
            _evaluate(Path(tmp), Path(root), variants[i : i + BATCH], exe, env, report)
    for name in report.failed:
        if name in stopped:
            report.failed[name] = f"stopped by the failing assertion of {stopped[name]} (above)"
    return report


def _driver(root: Path, variants) -> str:
    items = []
    for v in variants:
        recipe = f"(/. + {nix.string(str((root / PKGS_DIR / f'{v.name}.nix').resolve()))})"
        fetch = f"builtins.fetchTarball {{ url = {nix.string(v.pin.url)}; sha256 = {nix.string(v.pin.sha256)}; }}"
        tree = f"args: import ({fetch}) (args // {{ system = {nix.string(v.platform)}; }})"
        items.append(
            f"  {nix.string(v.name)} = let r = builtins.tryEval (import {recipe} {{ buildmatrixNixpkgs = {tree}; }}).drvPath; "
            "in if r.success then null else \"failed (an assertion or a throw)\";"
        )
    return "{\n" + "\n".join(items) + "\n}\n"


def _evaluate(tmp: Path, root: Path, variants, exe: str, env: dict, report: PinnedReport) -> None:
    expr = tmp / "pinned.nix"
    expr.write_text(_driver(root, variants), encoding="utf-8")
    proc = subprocess.run([exe, "--eval", "--strict", "--json", str(expr)], capture_output=True, text=True, env=env)
    if proc.returncode == 0:
        for name, why in json.loads(proc.stdout).items():
            if why:
                report.failed[name] = why
        return
    if len(variants) == 1:
        report.failed[variants[0].name] = " ".join(nixrun.error_text(proc.stderr).split())[:300]
        return
    half = len(variants) // 2
    _evaluate(tmp, root, variants[:half], exe, env, report)
    _evaluate(tmp, root, variants[half:], exe, env, report)
