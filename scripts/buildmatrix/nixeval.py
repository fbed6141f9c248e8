"""Prove every generated recipe by real Nix evaluation against a stand-in nixpkgs.

nixpkgs cannot be downloaded here, so each recipe is evaluated with
``buildmatrixNixpkgs`` pointing at ``tests/nixpkgs-standin`` (a small package set
that models the interfaces the recipes use; see its README) configured with the
facts of the recipe's pin (chosen by the pin's rev) and the recipe's platform.

One driver expression imports every recipe and returns, per recipe, what the
recipe produced (drvPath, name, version, source, preConfigure text, cmakeFlags,
MAGMA's patches, passthru, meta, the torch inside each torchvision, …). A single
``nix-instantiate --eval --strict --json`` per job evaluates it; the derivations
are then instantiated (``.drv`` files written) when the store is writable. The
facts are compared in Python with what the model (variants.toml) declares.

Figures: recipes evaluated; distinct torch derivations ÷ unique torch
configurations (1.00 when every torchvision reuses its pytorch variant's torch);
TORCH_CUDA_ARCH_LIST entries per GPU torchvision (1 when it builds for one SM);
wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import darwin, jobset, ledger, model, nix, pinfacts
from .errors import BuildMatrixError
from .model import Matrix, Variant
from .recipes import PKGS_DIR, file_name

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path("tests") / "nixpkgs-standin"
FAKE_HASH = pinfacts.FAKE_HASH
HARDWARE = "nix-instantiate (stand-in nixpkgs)"

# Variables nixpkgs' own preConfigure and the recipes' build plumbing export: not switches.
NOT_SWITCHES = frozenset(
    {
        "CXXFLAGS",
        "CFLAGS",
        "CUDAFLAGS",
        "TORCH_CUDA_ARCH_LIST",
        "PYTORCH_BUILD_VERSION",
        "PYTORCH_ROCM_ARCH",
        "CUPTI_INCLUDE_DIR",
        "CUPTI_LIBRARY_DIR",
        "CUDNN_INCLUDE_DIR",
        "CUDNN_LIB_DIR",
    }
)
# cmakeFlags nixpkgs' torch sets itself; everything else in cmakeFlags was added by the recipe.
BASE_CMAKE = ("-DPYTHON_SIX_SOURCE_DIR=", "-DCUDAToolkit_VERSION=", "-DCMAKE_CUDA_COMPILER_TOOLKIT_VERSION=")
# Compiler flags a recipe may add besides the ISA's: the CUDA 13 CCCL include shim.
CCCL_SHIM = "-I$NIX_BUILD_TOP/cccl-compat"

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
  torchvisionFacts =
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
    if kind == "torch" then torchFacts drv else torchvisionFacts drv;
in
"""


# ------------------------------------------------------------------------ results


@dataclass
class Mismatch:
    """One check that failed for one variant."""

    variant: str
    check: str
    expected: Any
    actual: Any

    def line(self) -> str:
        if self.check == "eval":
            return f"{self.variant}: evaluation failed: {self.actual}"
        return f"{self.variant}: {self.check}: expected {self.expected!r}, got {self.actual!r}"


@dataclass
class Report:
    """What the evaluation found, with the figures the issue asks for."""

    variants: list[str]
    evaluated: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    torch_derivations: int = 0
    torch_configurations: int = 0
    arch_entries: dict[str, int] = field(default_factory=dict)  # GPU torchvision variant -> entries
    instantiated: int | None = None  # .drv files written; None when skipped
    wall_s: float = 0.0
    advisories: list[str] = field(default_factory=list)
    facts: dict[str, dict] = field(default_factory=dict)
    checks: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.evaluated == len(self.variants)

    @property
    def torch_ratio(self) -> float | None:
        return self.torch_derivations / self.torch_configurations if self.torch_configurations else None

    @property
    def arch_entries_mean(self) -> float | None:
        return sum(self.arch_entries.values()) / len(self.arch_entries) if self.arch_entries else None

    def failed_variants(self) -> set[str]:
        return {m.variant for m in self.mismatches}

    def for_variant(self, name: str) -> list[Mismatch]:
        return [m for m in self.mismatches if m.variant == name]

    def figures(self) -> dict[str, Any]:
        return {
            "recipes": len(self.variants),
            "evaluated": self.evaluated,
            "torch_derivations": self.torch_derivations,
            "torch_configurations": self.torch_configurations,
            "torch_ratio": None if self.torch_ratio is None else round(self.torch_ratio, 2),
            "torchvision_gpu_variants": len(self.arch_entries),
            "arch_entries_mean": None if self.arch_entries_mean is None else round(self.arch_entries_mean, 2),
            "arch_entries_max": max(self.arch_entries.values(), default=None),
            "instantiated": self.instantiated,
            "checks": self.checks,
            "mismatches": len(self.mismatches),
            "wall_s": round(self.wall_s, 2),
        }

    def lines(self) -> list[str]:
        f = self.figures()
        ratio = "n/a" if f["torch_ratio"] is None else f"{f['torch_ratio']:.2f}"
        mean = "n/a" if f["arch_entries_mean"] is None else f"{f['arch_entries_mean']:.2f}"
        out = [
            f"recipes evaluated: {self.evaluated} of {len(self.variants)}",
            f"distinct torch derivations / unique torch configurations: "
            f"{self.torch_derivations} / {self.torch_configurations} = {ratio} (target 1.00)",
            f"torchvision TORCH_CUDA_ARCH_LIST entries per GPU variant: {mean} "
            f"(max {f['arch_entries_max']}, {len(self.arch_entries)} variants; target 1)",
            "derivations instantiated: "
            + (
                "skipped"
                if self.instantiated is None
                else f"{self.instantiated} recipe .drv files written (with their inputs' .drv)"
            ),
            f"checks: {self.checks}, mismatches: {len(self.mismatches)}",
            f"wall time: {self.wall_s:.1f} s (target < 60 s on 2 cores)",
        ]
        out += [f"advisory: {a}" for a in self.advisories]
        out += [f"MISMATCH {m.line()}" for m in self.mismatches]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "figures": self.figures(),
            "mismatches": [asdict(m) for m in self.mismatches],
            "advisories": self.advisories,
            "arch_entries": self.arch_entries,
        }


# ---------------------------------------------------------------------- stand-ins


@dataclass(frozen=True)
class _Entry:
    variant: Variant
    recipe: Path
    standin: Path

    @property
    def kind(self) -> str:
        return "torchvision" if self.variant.requires else "torch"


def _nix_path(path: Path) -> str:
    """A Nix path expression for any absolute path (no quoting pitfalls)."""
    return f"(/. + {nix.string(str(path.resolve()))})"


def standin_dir(root: Path) -> Path:
    """The stand-in package set: the one in ``root`` if it has one, else this checkout's."""
    for base in (root, REPO):
        if (base / STANDIN / "default.nix").is_file():
            return (base / STANDIN).resolve()
    raise FileNotFoundError(f"no stand-in nixpkgs at {root / STANDIN} or {REPO / STANDIN}")


def _write_standins(variants: Iterable[Variant], standin: Path, tmp: Path) -> dict[tuple[str, str], Path]:
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
            f"import {_nix_path(standin)} {{\n"
            f"  rev = {nix.string(v.pin.rev)};\n"
            f"  system = {nix.string(v.platform)};\n"
            f"}}\n",
            encoding="utf-8",
        )
        dirs[key] = d
    return dirs


def _driver(entries: Sequence[_Entry], standin: Path, instantiate: bool = False) -> str:
    """The Nix expression: facts per recipe (or, to instantiate, the list of derivations)."""
    if instantiate:
        items = "\n".join(f"  (import {_nix_path(e.recipe)} {{ buildmatrixNixpkgs = {_nix_path(e.standin)}; }})" for e in entries)
        return f"[\n{items}\n]\n"
    items = "\n".join(
        f"    {nix.attr_name(e.variant.name)} = recipe {nix.string(e.kind)} {_nix_path(e.recipe)} {_nix_path(e.standin)};"
        for e in entries
    )
    return f"{_DRIVER_PRELUDE}{{\n  pins = import {_nix_path(standin / 'pins.nix')};\n  recipes = {{\n{items}\n  }};\n}}\n"


# ------------------------------------------------------------------- running Nix


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _nix_env() -> dict[str, str]:
    """The environment for nix-instantiate: no user nixpkgs config leaks into the stand-in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIXPKGS_")}
    env.setdefault("HOME", tempfile.gettempdir())
    return env


def _error_text(stderr: str) -> str:
    """The Nix error, without colour codes and the advice about --show-trace."""
    text = _ANSI.sub("", stderr)
    start = text.find("error:")
    text = text[start:] if start >= 0 else text
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip() and "--show-trace" not in ln]
    return "\n".join(lines)[:2000]


def _run_nix(args: list[str], expr_file: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("nix-instantiate")
    if exe is None:
        raise FileNotFoundError("nix-instantiate not on PATH (apt-get install nix-bin)")
    return subprocess.run([exe, *args, str(expr_file)], capture_output=True, text=True, env=_nix_env())


def _evaluate_chunk(entries: list[_Entry], standin: Path, tmp: Path, tag: str) -> tuple[dict[str, dict], dict[str, str], dict]:
    """Facts for each entry; a failing batch is split until the failing recipes are alone."""
    expr = tmp / f"driver-{tag}.nix"
    expr.write_text(_driver(entries, standin), encoding="utf-8")
    proc = _run_nix(["--eval", "--strict", "--json", "--readonly-mode"], expr)
    if proc.returncode == 0:
        data = json.loads(proc.stdout)
        return data["recipes"], {}, data["pins"]
    if len(entries) == 1:
        return {}, {entries[0].variant.name: _error_text(proc.stderr)}, {}
    half = len(entries) // 2
    facts_a, errors_a, pins_a = _evaluate_chunk(entries[:half], standin, tmp, tag + "a")
    facts_b, errors_b, pins_b = _evaluate_chunk(entries[half:], standin, tmp, tag + "b")
    return {**facts_a, **facts_b}, {**errors_a, **errors_b}, pins_a or pins_b


def _instantiate_chunk(entries: list[_Entry], standin: Path, tmp: Path, tag: str) -> list[str]:
    """Write the .drv files of these recipes (and their inputs); the top-level .drv paths."""
    expr = tmp / f"instantiate-{tag}.nix"
    expr.write_text(_driver(entries, standin, instantiate=True), encoding="utf-8")
    proc = _run_nix([], expr)
    if proc.returncode != 0:
        return []
    return [ln.strip() for ln in proc.stdout.splitlines() if ln.strip().endswith(".drv")]


def _store_writable() -> bool:
    store = Path(os.environ.get("NIX_STORE_DIR", "/nix/store"))
    return store.is_dir() and os.access(store, os.W_OK)


# ------------------------------------------------------------------ expectations


_EXPORT = re.compile(r"^[ \t]*export[ \t]+([A-Za-z_][A-Za-z0-9_]*)=(.*?)[ \t]*$", re.M)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def exports(text: str) -> list[tuple[str, str]]:
    """The ``export NAME=value`` lines of a build script, in order (values unquoted)."""
    return [(m.group(1), _unquote(m.group(2))) for m in _EXPORT.finditer(text)]


def effective_flags(text: str, var: str) -> list[str]:
    """The value of ``$var`` after the script's exports, starting empty (``"-x $VAR"`` prepends)."""
    current: list[str] = []
    refs = {f"${var}", f"${{{var}}}", f"${{{var}:-}}"}
    for name, value in exports(text):
        if name != var:
            continue
        new: list[str] = []
        for token in value.split():
            if token in refs:
                new += current
            else:
                new.append(token)
        current = new
    return current


def last_export(text: str, var: str) -> str | None:
    values = [value for name, value in exports(text) if name == var]
    return values[-1] if values else None


def switches(text: str) -> dict[str, str]:
    """Build switches a script exports (last value wins), without flags and nixpkgs' own paths."""
    return {name: value for name, value in exports(text) if name not in NOT_SWITCHES}


def expected_switches(v: Variant) -> dict[str, str]:
    if v.requires:
        return {}
    out = dict(v.isa.env if v.isa else ())
    out.update(dict(v.env))
    if v.target == "cuda" and not v.gpu.cudnn:
        out["USE_CUDNN"] = "0"
    out.update(dict(darwin.env(v)))
    return out


def expected_cmake(v: Variant) -> list[str]:
    out = [f"-DTORCH_BUILD_VERSION={v.source.version}"] if v.source else []
    return out + list(v.isa.cmake_flags if v.isa else ()) + list(v.cmake_flags)


class _Checker:
    """Collects the checks of one variant."""

    def __init__(self, report: Report, variant: str):
        self.report = report
        self.variant = variant

    def eq(self, check: str, expected: Any, actual: Any) -> None:
        self.report.checks += 1
        if expected != actual:
            self.report.mismatches.append(Mismatch(self.variant, check, expected, actual))

    def true(self, check: str, ok: bool, expected: Any, actual: Any) -> None:
        self.report.checks += 1
        if not ok:
            self.report.mismatches.append(Mismatch(self.variant, check, expected, actual))


def _check_common(c: _Checker, v: Variant, f: dict) -> None:
    c.eq("pname", v.name, f["pname"])
    c.eq("system", v.platform, f["system"])
    c.eq("meta.description", v.description, f["meta"]["description"])
    c.eq("meta.platforms", [v.platform], f["meta"]["platforms"])
    c.true("meta.longDescription", bool(f["meta"]["longDescription"]), "a non-empty text", f["meta"]["longDescription"])
    gpu_arch = v.gpu.capability if v.target == "cuda" else ("mps" if v.target == "mps" else None)
    c.eq("passthru.gpuArch", gpu_arch, f["passthru"]["gpuArch"])
    c.eq("passthru.cpuISA", v.isa.name if v.isa else None, f["passthru"]["cpuISA"])
    c.eq("passthru.buildmatrix.variant", v.name, f["passthru"]["variant"])
    flags = list(v.isa.flags) if v.isa else []
    allowed_extra = [CCCL_SHIM] if (v.kind == "cuda13" and not v.requires) else []
    for var in ("CXXFLAGS", "CFLAGS"):
        eff = effective_flags(f["preConfigure"], var)
        c.eq(f"{var} ISA flags", flags, [t for t in eff if t.startswith("-m")])
        c.eq(f"{var} other flags", allowed_extra, [t for t in eff if not t.startswith("-m")])
    c.eq("exported switches", expected_switches(v), switches(f["preConfigure"]))


def _check_torch(c: _Checker, v: Variant, f: dict, pin: dict, m: Matrix) -> None:
    version = v.torch_version
    _check_common(c, v, f)
    c.eq("name", f"python{v.python.version}-{v.name}-{version}", f["name"])
    c.eq("version", version, f["version"])
    pin_torch = pin["torch"]["version"]
    if v.source:
        c.eq("src.hash", v.source.hash or FAKE_HASH, f["src"]["hash"])
        c.eq("src.rev", v.source.rev, f["src"]["rev"])
        c.eq("src.owner/repo", f"{v.source.owner}/{v.source.repo}", f"{f['src']['owner']}/{f['src']['repo']}")
        c.eq("src.fetchSubmodules", v.source.fetch_submodules, f["src"]["fetchSubmodules"])
    if v.source:
        # nixpkgs' torch patches are written for the pin's torch: each is kept or dropped by name.
        kept = [p.name for p, keep in pinfacts.torch_patch_decisions(m, v) if keep]
        c.eq(f"patches (nixpkgs' for torch {pin_torch}, decided by name)", kept, _names(f["patches"]))
    build_version = last_export(f["preConfigure"], "PYTORCH_BUILD_VERSION") or f["buildVersion"]
    c.eq("PYTORCH_BUILD_VERSION", version, build_version)
    c.eq("cmakeFlags added", expected_cmake(v), [x for x in f["cmakeFlags"] if not x.startswith(BASE_CMAKE)])
    c.eq("allowBroken", bool(f["brokenConditions"]), bool(f["allowBroken"]))
    post = f["postPatch"]
    if "rm cmake/Modules/FindCUDAToolkit.cmake" in post and "fix-cmake-cuda-toolkit.patch" not in f["patches"]:
        # nixpkgs deletes the module and patches the build to cope; without that patch the install step needs the file.
        after = post.split("rm cmake/Modules/FindCUDAToolkit.cmake")[-1]
        c.true(
            "FindCUDAToolkit.cmake rewritten after nixpkgs deletes it",
            "> cmake/Modules/FindCUDAToolkit.cmake" in after,
            "a stub",
            "none",
        )
    arch = last_export(f["preConfigure"], "TORCH_CUDA_ARCH_LIST")
    if v.target != "cuda":
        c.eq("cudaSupport", False, f["cudaSupport"])
        c.eq("TORCH_CUDA_ARCH_LIST", None, arch)
        return
    cap = v.gpu.capability
    c.eq("cudaSupport", True, f["cudaSupport"])
    c.eq("cudaPackages version", v.cuda.version, f["cudaVersion"])
    c.eq("TORCH_CUDA_ARCH_LIST (gpuTargets)", cap, arch)
    c.eq("passthru.cudaCapabilities", [cap], f["cudaCapabilities"])
    m = f["magma"]
    c.true("magma among torch's inputs", m is not None, "magma-cuda-static", None)
    if m is None:
        return
    c.eq("magma cudaPackages version", v.cuda.version, m["cudaVersion"])
    c.eq(
        "config.cudaCapabilities (narrowed only below every default)",
        [cap] if v.narrow_capabilities else None,
        f["configCapabilities"],
    )
    flag = next((x for x in m["cmakeFlags"] if x.startswith("-DCMAKE_CUDA_ARCHITECTURES=")), "")
    archs = [a for a in flag.split("=", 1)[-1].split(";") if a]
    c.true(
        "magma has code that runs on the GPU (SASS of its arch or PTX of a lower one)",
        any(_arch_number(a) <= _arch_number(cap.replace(".", "")) for a in archs),
        f"an architecture <= {cap.replace('.', '')}",
        flag,
    )
    c.eq("magma meta.broken", [], m["brokenConditions"])
    cuda13 = v.cuda.major >= 13
    carries = pin["magma"]["carriesCuda13ClockRateFix"]
    c.eq("magma clockRate fixes", 1 if cuda13 else 0, m["clockRateFixes"])
    ours = {Path(p.file).name for p in v.patches}
    wanted = cuda13 and carries is False
    c.eq(
        "repository MAGMA patch in magma's patches",
        wanted,
        bool(ours) and ours <= set(m["patches"]),
    )
    c.eq("variants.toml MAGMA patches (pin facts)", wanted, bool(v.patches))


def _names(patches: list[str]) -> list[str]:
    """Patch names without a store path's hash prefix."""
    return [re.sub(r"^[0-9a-z]{32}-", "", p) for p in patches]


def _check_torchvision(c: _Checker, v: Variant, f: dict, torch_drv: str | None, m: Matrix) -> None:
    _check_common(c, v, f)
    c.true(
        "name",
        f["name"].startswith(f"python{v.python.version}-{v.name}-"),
        f"python{v.python.version}-{v.name}-<version>",
        f["name"],
    )
    c.eq("passthru.buildmatrix.torchVariant", v.requires, f["passthru"]["torchVariant"])
    if v.torchvision_version:
        c.eq("torchvision version", v.torchvision_version, f["version"])
        c.eq("name", f"python{v.python.version}-{v.name}-{v.torchvision_version}", f["name"])
    if v.vision_source:
        c.eq("src.hash", v.vision_source.hash or FAKE_HASH, f["src"]["hash"])
        c.eq("src.rev", v.vision_source.rev, f["src"]["rev"])
        c.eq("src.owner/repo", f"{v.vision_source.owner}/{v.vision_source.repo}", f"{f['src']['owner']}/{f['src']['repo']}")
        kept = [p.name for p, keep in pinfacts.torchvision_patch_decisions(m, v) if keep]
        c.eq("patches (nixpkgs' for the pin's torchvision, decided by name)", kept, _names(f["patches"]))
    c.eq("torch inside torchvision (drvPath)", [torch_drv], f["torchDrvPaths"])
    arch = last_export(f["preConfigure"], "TORCH_CUDA_ARCH_LIST") or f["archList"]
    if v.target == "cuda":
        c.eq("torchvision TORCH_CUDA_ARCH_LIST", v.gpu.capability, arch)
        c.eq("torchvision FORCE_CUDA", "1", f["forceCuda"])
    else:
        c.eq("torchvision TORCH_CUDA_ARCH_LIST", None, arch)


def _arch_number(arch: str) -> int:
    """``"86"``, ``"110"``, ``"90a"`` -> 86, 110, 90 (CMake CUDA_ARCHITECTURES entries)."""
    return int(re.match(r"\d+", arch).group(0)) if re.match(r"\d+", arch) else 0


def advisories(variants: Iterable[Variant], facts: dict[str, dict], pins: dict) -> list[str]:
    """Findings that are not assertions: what the stand-in predicts a real build or run would show."""
    out: list[str] = []
    pairing: dict[tuple[str, str], list[str]] = defaultdict(list)
    for v in variants:
        f = facts.get(v.name)
        if f and v.requires and not v.vision_source:
            # The model does not know this torchvision's version: it is whatever the pin packages.
            pairing[(f["name"].rsplit("-", 1)[-1], v.torch_version)].append(v.name)
    for (tv, torch), names in sorted(pairing.items()):
        out.append(
            f"{len(names)} torchvision recipes (e.g. {names[0]}) build the pin's torchvision {tv} against torch {torch}; "
            "set a torchvision source in variants.toml to choose the paired release"
        )
    return out


# ---------------------------------------------------------------------- evaluate


def evaluate(
    matrix: Matrix,
    root: Path,
    names: Iterable[str] | None = None,
    *,
    jobs: int | None = None,
    instantiate: bool | None = None,
    standin: Path | None = None,
) -> Report:
    """Evaluate the recipes of ``names`` (default: every variant) under ``root`` and check them.

    The pytorch variant of each selected torchvision is evaluated too. ``instantiate``
    (default: when the Nix store is writable) also writes every .drv file.
    """
    start = time.monotonic()
    root = Path(root).resolve()
    standin = (standin or standin_dir(root)).resolve()
    variants = matrix.with_dependencies(names)
    report = Report(variants=[v.name for v in variants])
    jobs = max(1, jobs or min(4, os.cpu_count() or 1))
    if instantiate is None:
        instantiate = _store_writable()
    with tempfile.TemporaryDirectory(prefix="buildmatrix-nixeval-") as tmpdir:
        tmp = Path(tmpdir)
        dirs = _write_standins(variants, standin, tmp)
        entries = [_Entry(v, root / PKGS_DIR / file_name(v), dirs[(v.pin.rev, v.platform)]) for v in variants]
        chunks = [entries[i::jobs] for i in range(jobs) if entries[i::jobs]]
        facts: dict[str, dict] = {}
        errors: dict[str, str] = {}
        pins: dict = {}
        with ThreadPoolExecutor(max_workers=len(chunks) or 1) as pool:
            results = list(pool.map(lambda ic: _evaluate_chunk(ic[1], standin, tmp, str(ic[0])), enumerate(chunks)))
            for f, e, p in results:
                facts.update(f)
                errors.update(e)
                pins = pins or p
            if instantiate:
                good = [[e for e in chunk if e.variant.name in facts] for chunk in chunks]
                written = list(pool.map(lambda ic: _instantiate_chunk(ic[1], standin, tmp, str(ic[0])), enumerate(good)))
                paths = {p for chunk in written for p in chunk}
                evaluated_drvs = {facts[e.variant.name]["drvPath"] for chunk in good for e in chunk}
                report.instantiated = len(paths)
                missing = sorted(evaluated_drvs - paths)
                _Checker(report, "(all)").eq("evaluated drvPaths that nix-instantiate did not write", [], missing[:5])
    if not pins:
        pins = _read_pins(standin)
    report.facts = facts
    report.evaluated = len(facts)
    for name, err in errors.items():
        report.mismatches.append(Mismatch(name, "eval", "an evaluated derivation", err))
    torch_drv_by_name: dict[str, str] = {}
    for v in variants:
        f = facts.get(v.name)
        if f is None or v.requires:
            continue
        torch_drv_by_name[v.name] = f["drvPath"]
        _check_torch(_Checker(report, v.name), v, f, pins[v.pin.rev], matrix)
    torch_drvs: set[str] = set(torch_drv_by_name.values())
    configs: set[tuple] = set()
    for v in variants:
        configs.add((matrix.torch_variant(v) if v.requires else v).torch_key)
        f = facts.get(v.name)
        if f is None or not v.requires:
            continue
        torch_drvs.update(f["torchDrvPaths"])
        _check_torchvision(_Checker(report, v.name), v, f, torch_drv_by_name.get(v.requires), matrix)
        if v.target == "cuda":
            arch = last_export(f["preConfigure"], "TORCH_CUDA_ARCH_LIST") or f["archList"] or ""
            report.arch_entries[v.name] = len([a for a in arch.split(";") if a])
    report.torch_derivations = len(torch_drvs)
    report.torch_configurations = len(configs)
    report.advisories = advisories(variants, facts, pins)
    report.wall_s = time.monotonic() - start
    return report


def _read_pins(standin: Path) -> dict:
    proc = _run_nix(["--eval", "--strict", "--json", "--readonly-mode"], standin / "pins.nix")
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


# -------------------------------------------------------------------------- CLI


def _record(root: Path, report: Report, start: str, end: str) -> None:
    rev = ledger.git_rev(root)
    host = ledger.host_name()
    for name in report.variants:
        problems = report.for_variant(name)
        status = "failed" if problems else "ok"
        detail = problems[0].line() if problems else "evaluated against the stand-in nixpkgs; every check passed"
        if len(problems) > 1:
            detail += f" (+{len(problems) - 1} more)"
        ledger.append(
            root,
            ledger.Record(
                variant=name,
                action="eval",
                status=status,
                start=start,
                end=end,
                git_rev=rev,
                host=host,
                hardware=HARDWARE,
                detail=" ".join(detail.split())[:500],
            ),
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m buildmatrix.nixeval [--json] [--record] [NAMES]``: print the figures and every mismatch."""
    parser = argparse.ArgumentParser(prog="python -m buildmatrix.nixeval", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="variant names or aliases (default: every variant)")
    parser.add_argument("--root", default=None, help="repository root (default: the one holding variants.toml)")
    parser.add_argument("--file", default=None, help="variants.toml (default: ROOT/variants.toml)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--record", action="store_true", help="append one `eval` ledger record per variant")
    parser.add_argument("--jobs", type=int, default=None, help="parallel nix-instantiate processes")
    parser.add_argument("--no-instantiate", action="store_true", help="evaluate only; write no .drv files")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else (Path.cwd() if (Path.cwd() / "variants.toml").exists() else REPO)
    started = ledger.now()
    try:
        matrix = model.load(Path(args.file) if args.file else root / "variants.toml")
        report = evaluate(
            matrix,
            root,
            args.names or None,
            jobs=args.jobs,
            instantiate=False if args.no_instantiate else None,
        )
    except (BuildMatrixError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.record:
        _record(root, report, started, ledger.now())
    # The jobset lists every variant: evaluated (and timed) when every recipe is.
    jobs = None if args.names or not (root / jobset.JOBS_FILE).exists() else jobset.evaluate(matrix, root)
    from . import fetchwalk  # imports this module

    walk = fetchwalk.walk(matrix, root, args.names or None)
    walk_lines = [f"fetch walk: {len(walk.fetches)} fetch calls, {len(walk.findings)} without a trustworthy hash"]
    walk_lines += [f"FETCH {x}" for x in walk.findings] + ([f"FETCH evaluation failed: {walk.error}"] if walk.error else [])
    if args.json:
        extra = {"jobset": jobs.as_dict()} if jobs else {}
        extra["fetch_walk"] = {"fetches": len(walk.fetches), "findings": walk.findings, "error": walk.error}
        print(json.dumps({**report.as_dict(), **extra}, indent=2, sort_keys=True))
    else:
        print("\n".join(report.lines() + (jobs.lines() if jobs else []) + walk_lines))
    return 0 if report.ok and (jobs is None or jobs.ok) and walk.ok else 1


if __name__ == "__main__":
    sys.exit(main())
