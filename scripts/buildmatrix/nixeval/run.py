"""Run nix-instantiate on generated recipes against the stand-in nixpkgs.

nixpkgs cannot be downloaded here, so recipes are evaluated with ``buildmatrixNixpkgs``
pointing at ``scripts/buildmatrix/nixeval/standin`` (a small package set that models the interfaces the
recipes use; see its README). ``write_standins`` gives each (pin rev, platform) a directory
whose ``default.nix`` is the stand-in configured with that pin's facts and platform.

``driver`` is the one expression that imports every recipe of a batch and returns, per
recipe, what it produced (drvPath, name, version, source, preConfigure text, cmakeFlags,
MAGMA's patches, passthru, meta, the torch inside each torchvision / torchaudio, ...).
``evaluate_chunk`` runs ``nix-instantiate --eval --strict --json`` on it and splits a
failing batch until each failing recipe stands alone; with ``write_drvs`` it evaluates in
read-write mode, so the same pass also writes every ``.drv`` file it evaluates (one
evaluation instead of an evaluation and an instantiation). Used by nixeval, plan and fetchwalk. Files are written only under the
temporary directory a caller passes (and the Nix store, when instantiating).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..model import Variant
from ..recipes import nix

REPO = Path(__file__).resolve().parents[3]
STANDIN = Path("scripts") / "buildmatrix" / "nixeval" / "standin"  # relative to the repository root

# The fact extraction, applied to every recipe. Attribute access is defensive (`or null`)
# so that a recipe missing something shows up as a mismatch, not as an evaluation error.
_DRIVER_PRELUDE = r"""
let
  unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];
  isTorch = x: builtins.isAttrs x && x ? unroll-src;
  patchId =
    p:
    if builtins.typeOf p == "path" then
      baseNameOf p
    else if builtins.isAttrs p then
      p.name or "?"
    else
      baseNameOf (toString p);
  magmaOf =
    t:
    let
      found = builtins.filter (x: builtins.isAttrs x && (x.pname or "") == "magma") (t.buildInputs or [ ]);
    in
    if found == [ ] then null else builtins.head found;
  magmaFacts =
    m:
    if m == null then
      null
    else
      {
        inherit (m) drvPath;
        patches = map patchId (m.patches or [ ]);
        broken = m.meta.broken or false;
        brokenConditions = builtins.attrNames (m.brokenConditions or { });
        clockRateFixes = m.standinClockRateFixes or null;
        cudaVersion = m.cudaPackages.cudaMajorMinorVersion or null;
        cmakeFlags = m.cmakeFlags or [ ];
      };
  common = d: {
    inherit (d) drvPath name system;
    pname = d.pname or null;
    outputs = d.outputs or [ "out" ];
    preConfigure = d.preConfigure or "";
    meta = {
      description = d.meta.description or null;
      longDescription = d.meta.longDescription or null;
      platforms = d.meta.platforms or null;
    };
    passthru = {
      gpuArch = d.gpuArch or null;
      cpuISA = d.cpuISA or null;
      variant = d.buildmatrix.variant or null;
      torchVariant = d.buildmatrix.torchVariant or null;
    };
  };
  torchFacts =
    t:
    common t
    // {
      version = t.version or null;
      src = {
        hash = t.src.outputHash or null;
        rev = t.src.rev or null;
        owner = t.src.owner or null;
        repo = t.src.repo or null;
        fetchSubmodules = t.src.fetchSubmodules or null;
      };
      patches = map patchId (t.patches or [ ]);
      postPatch = t.postPatch or "";
      cmakeFlags = t.cmakeFlags or [ ];
      buildVersion = t.PYTORCH_BUILD_VERSION or null;
      cudaSupport = t.cudaSupport or null;
      cudaVersion = if t.cudaSupport or false then t.cudaPackages.cudaMajorMinorVersion else null;
      cudaCapabilities = t.cudaCapabilities or null;
      broken = t.meta.broken or false;
      brokenConditions = builtins.attrNames (t.brokenConditions or { });
      allowBroken = t.buildmatrix.pkgs.config.allowBroken or null;
      config = {
        allowUnfree = t.buildmatrix.pkgs.config.allowUnfree or null;
        cudaSupport = t.buildmatrix.pkgs.config.cudaSupport or null;
      };
      buildInputNames = map (x: x.pname or x.name or "?") (
        builtins.filter builtins.isAttrs (t.buildInputs or [ ])
      );
      configCapabilities = t.buildmatrix.pkgs.config.cudaCapabilities or null;
      magma = magmaFacts (magmaOf t);
    };
  companionFacts =
    v:
    common v
    // {
      version = v.version or null;
      src = {
        hash = v.src.outputHash or null;
        rev = v.src.rev or null;
        owner = v.src.owner or null;
        repo = v.src.repo or null;
      };
      patches = map patchId (v.patches or [ ]);
      archList = v.TORCH_CUDA_ARCH_LIST or null;
      forceCuda = if v ? FORCE_CUDA then toString v.FORCE_CUDA else null;
      torchDrvPaths = unique (
        map (x: x.drvPath) (
          builtins.filter isTorch (
            (v.buildInputs or [ ]) ++ (v.propagatedBuildInputs or [ ]) ++ (v.nativeBuildInputs or [ ])
          )
        )
      );
    };
  recipe =
    kind: file: standin:
    let
      drv = import file { buildmatrixNixpkgs = standin; };
    in
    if kind == "torch" then torchFacts drv else companionFacts drv;
in
"""


# ---------------------------------------------------------------------- stand-ins


@dataclass(frozen=True)
class Entry:
    variant: Variant
    recipe: Path
    standin: Path

    @property
    def kind(self) -> str:
        return "companion" if self.variant.requires else "torch"


def nix_path(path: Path) -> str:
    """A Nix path expression for any absolute path (no quoting pitfalls)."""
    return f"(/. + {nix.string(str(path.resolve()))})"


def standin_dir(root: Path) -> Path:
    """The stand-in package set: the one in ``root`` if it has one, else this checkout's."""
    for base in (root, REPO):
        if (base / STANDIN / "default.nix").is_file():
            return (base / STANDIN).resolve()
    raise FileNotFoundError(f"no stand-in nixpkgs at {root / STANDIN} or {REPO / STANDIN}")


def write_standins(variants: Iterable[Variant], standin: Path, tmp: Path) -> dict[tuple[str, str], Path]:
    """One directory per (pin rev, platform) whose default.nix is the stand-in for that pin."""
    dirs: dict[tuple[str, str], Path] = {}
    for v in variants:
        key = (v.pin.rev, v.platform)
        if key in dirs:
            continue
        d = tmp / f"nixpkgs-{v.pin.rev[:7]}-{v.platform}"
        d.mkdir()
        (d / "default.nix").write_text(
            f"# Stand-in nixpkgs for rev {v.pin.rev}, evaluated on {v.platform}.\n"
            f"import {nix_path(standin)} {{\n"
            f"  rev = {nix.string(v.pin.rev)};\n"
            f"  system = {nix.string(v.platform)};\n"
            f"}}\n",
            encoding="utf-8",
        )
        dirs[key] = d
    return dirs


def driver(entries: Sequence[Entry], standin: Path) -> str:
    """The Nix expression: facts per recipe."""
    items = "\n".join(
        f"    {nix.attr_name(e.variant.name)} = recipe {nix.string(e.kind)} {nix_path(e.recipe)} {nix_path(e.standin)};"
        for e in entries
    )
    return f"{_DRIVER_PRELUDE}{{\n  pins = import {nix_path(standin / 'pins.nix')};\n  recipes = {{\n{items}\n  }};\n}}\n"


# ------------------------------------------------------------------- running Nix


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# Nix starts its garbage collector's heap at a quarter of RAM, up to 384 MiB, "so that in most
# cases we don't need to garbage collect at all": every evaluation here would then reach that
# size before its first collection. A small start collects early, and the evaluations keep only
# their facts alive: each stays near 100 MB, and takes less time (fewer fresh pages to touch).
GC_INITIAL_HEAP = str(32 * 1024 * 1024)


def nix_env() -> dict[str, str]:
    """The environment for nix-instantiate: no user nixpkgs config leaks into the stand-in; a small first GC heap."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIXPKGS_")}
    env.setdefault("HOME", tempfile.gettempdir())
    env.setdefault("GC_INITIAL_HEAP_SIZE", GC_INITIAL_HEAP)
    return env


def error_text(stderr: str) -> str:
    """The Nix error, without colour codes and the advice about --show-trace."""
    text = _ANSI.sub("", stderr)
    start = text.find("error:")
    text = text[start:] if start >= 0 else text
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip() and "--show-trace" not in ln]
    return "\n".join(lines)[:2000]


def run_nix(args: list[str], expr_file: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("nix-instantiate")
    if exe is None:
        raise FileNotFoundError("nix-instantiate not on PATH (apt-get install nix-bin)")
    return subprocess.run([exe, *args, str(expr_file)], capture_output=True, text=True, env=nix_env())


def evaluate_chunk(
    entries: list[Entry], standin: Path, tmp: Path, tag: str, write_drvs: bool = False
) -> tuple[dict[str, dict], dict[str, str], dict]:
    """Facts for each entry; a failing batch is split until the failing recipes are alone.

    ``write_drvs``: evaluate in read-write mode, so every derivation whose drvPath is read is
    written to the store (its ``.drv`` and its inputs' ``.drv``), as ``nix-instantiate`` would.
    """
    expr = tmp / f"driver-{tag}.nix"
    expr.write_text(driver(entries, standin), encoding="utf-8")
    proc = run_nix(["--eval", "--strict", "--json", "--read-write-mode" if write_drvs else "--readonly-mode"], expr)
    if proc.returncode == 0:
        data = json.loads(proc.stdout)
        return data["recipes"], {}, data["pins"]
    if len(entries) == 1:
        return {}, {entries[0].variant.name: error_text(proc.stderr)}, {}
    half = len(entries) // 2
    facts_a, errors_a, pins_a = evaluate_chunk(entries[:half], standin, tmp, tag + "a", write_drvs)
    facts_b, errors_b, pins_b = evaluate_chunk(entries[half:], standin, tmp, tag + "b", write_drvs)
    return {**facts_a, **facts_b}, {**errors_a, **errors_b}, pins_a or pins_b


def store_writable() -> bool:
    store = Path(os.environ.get("NIX_STORE_DIR", "/nix/store"))
    return store.is_dir() and os.access(store, os.W_OK)


def read_pins(standin: Path) -> dict:
    proc = run_nix(["--eval", "--strict", "--json", "--readonly-mode"], standin / "pins.nix")
    return json.loads(proc.stdout) if proc.returncode == 0 else {}
