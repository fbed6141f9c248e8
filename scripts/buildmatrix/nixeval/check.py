"""What a recipe's evaluated facts must be, given its variant: the checks behind nixeval.

``check_torch`` and ``check_companion`` (torchvision, torchaudio) compare the facts nixrun extracted from one
recipe with what variants.toml declares for its variant (name, version, source, the
nixpkgs patches kept by name, exported switches and compiler flags, the CUDA architecture
list, MAGMA, the torch a companion is built on). Each comparison is counted on a
``Report`` and each failure is a ``Mismatch``. ``advisories`` lists findings that are not
assertions. ``exports``, ``effective_flags`` and ``last_export`` read the ``export
NAME=value`` lines of a build script. Nothing here runs Nix or touches a file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model import Matrix, Variant, entries, hashes
from ..model.rules import paired_release
from ..recipes import pinfacts, render

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
# The switch a companion's nixpkgs expression sets with CUDA (name, value), checked on its recipes.
COMPANION_CUDA_SWITCHES = {"torchvision": ("FORCE_CUDA", "1")}
# Compiler flags a recipe may add besides the ISA's: the CCCL include shim of a CUDA 13 torch source override.
CCCL_SHIM = "-I$NIX_BUILD_TOP/cccl-compat"


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
    arch_entries: dict[str, int] = field(default_factory=dict)  # GPU companion variant -> entries
    # companion package -> [recipes whose torch is their pytorch recipe's very derivation, recipes]
    sharing: dict[str, list[int]] = field(default_factory=dict)
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
            "companion_gpu_variants": len(self.arch_entries),
            "torch_shared": {pkg: {"shared": n, "recipes": total} for pkg, (n, total) in sorted(self.sharing.items())},
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
            "recipes whose torch is their pytorch recipe's derivation: "
            + (
                ", ".join(f"{pkg} {n}/{total} = {100 * n / total:.0f}%" for pkg, (n, total) in sorted(self.sharing.items()))
                or "none"
            )
            + " (target 100%)",
            f"torchvision/torchaudio TORCH_CUDA_ARCH_LIST entries per GPU variant: {mean} "
            f"(max {f['arch_entries_max']}, {len(self.arch_entries)} variants; target 1)",
            "derivations instantiated: "
            + (
                "skipped"
                if self.instantiated is None
                else f"{self.instantiated} recipe .drv files written (with their inputs' .drv)"
            ),
            f"checks: {self.checks}, mismatches: {len(self.mismatches)}",
            f"recipe evaluation wall time: {self.wall_s:.1f} s",
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
    if v.gpu is not None and not v.gpu.cudnn:
        out["USE_CUDNN"] = "0"
    out.update(dict(render.target_env(v)))
    return out


def expected_cmake(v: Variant) -> list[str]:
    out = [f"-DTORCH_BUILD_VERSION={v.source.version}"] if v.source else []
    return out + list(v.isa.cmake_flags if v.isa else ()) + list(v.cmake_flags)


class Checker:
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


def check_common(c: Checker, v: Variant, f: dict) -> None:
    c.eq("pname", v.name, f["pname"])
    c.eq("system", v.platform, f["system"])
    c.eq("meta.description", v.description, f["meta"]["description"])
    c.eq("meta.platforms", [v.platform], f["meta"]["platforms"])
    c.true("meta.longDescription", bool(f["meta"]["longDescription"]), "a non-empty text", f["meta"]["longDescription"])
    gpu_arch = v.gpu.capability if v.gpu is not None else v.target_info.gpu_arch
    c.eq("passthru.gpuArch", gpu_arch, f["passthru"]["gpuArch"])
    c.eq("passthru.cpuISA", v.isa.name if v.isa else None, f["passthru"]["cpuISA"])
    c.eq("passthru.buildmatrix.variant", v.name, f["passthru"]["variant"])
    flags = list(v.isa.flags) if v.isa else []
    allowed_extra = [CCCL_SHIM] if pinfacts.needs_cccl_shim(v) else []
    for var in ("CXXFLAGS", "CFLAGS"):
        eff = effective_flags(f["preConfigure"], var)
        c.eq(f"{var} ISA flags", flags, [t for t in eff if t.startswith("-m")])
        c.eq(f"{var} other flags", allowed_extra, [t for t in eff if not t.startswith("-m")])
    c.eq("exported switches", expected_switches(v), switches(f["preConfigure"]))


def check_torch(c: Checker, v: Variant, f: dict, pin: dict, m: Matrix) -> None:
    version = v.torch_version
    check_common(c, v, f)
    c.eq("name", f"python{v.python.version}-{v.name}-{version}", f["name"])
    c.eq("version", version, f["version"])
    pin_torch = pin["torch"]["version"]
    if v.source:
        c.eq("src.hash", v.source.hash or hashes.FAKE_HASH, f["src"]["hash"])
        c.eq("src.rev", v.source.rev, f["src"]["rev"])
        c.eq("src.owner/repo", f"{v.source.owner}/{v.source.repo}", f"{f['src']['owner']}/{f['src']['repo']}")
        c.eq("src.fetchSubmodules", v.source.fetch_submodules, f["src"]["fetchSubmodules"])
    if v.source:
        # nixpkgs' torch patches are written for the pin's torch: each is kept or dropped by name.
        kept = [p.name for p, keep in pinfacts.torch_patch_decisions(m, v) if keep]
        c.eq(f"patches (nixpkgs' for torch {pin_torch}, decided by name)", kept, _names(f["patches"]))
    else:
        # The pin's own torch keeps every patch nixpkgs adds to it (they are written for it).
        own = [p["name"] for p in pin["torch"]["patches"] if entries.nixpkgs_adds(p["when"], v)]
        c.eq(f"patches (nixpkgs' own for its torch {pin_torch}, all kept)", own, _names(f["patches"]))
    build_version = last_export(f["preConfigure"], "PYTORCH_BUILD_VERSION") or f["buildVersion"]
    c.eq("PYTORCH_BUILD_VERSION", version, build_version)
    c.eq("cmakeFlags added", expected_cmake(v), [x for x in f["cmakeFlags"] if not x.startswith(BASE_CMAKE)])
    c.eq("allowBroken", bool(f["brokenConditions"]), bool(f["allowBroken"]))
    post = f["postPatch"]
    if "rm cmake/Modules/FindCUDAToolkit.cmake" in post and "fix-cmake-cuda-toolkit.patch" not in _names(f["patches"]):
        # nixpkgs deletes the module and patches the build to cope; without that patch the install step needs the file.
        after = post.split("rm cmake/Modules/FindCUDAToolkit.cmake")[-1]
        c.true(
            "FindCUDAToolkit.cmake rewritten after nixpkgs deletes it",
            "> cmake/Modules/FindCUDAToolkit.cmake" in after,
            "a stub",
            "none",
        )
    arch = last_export(f["preConfigure"], "TORCH_CUDA_ARCH_LIST")
    if v.cuda is None:
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
    # nixpkgs adds its fix whenever magma has CUDA (not only 13), so a carrying pin's CUDA 12 magma has it too.
    c.eq("magma clockRate fixes", 1 if cuda13 or carries is True else 0, m["clockRateFixes"])
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


def check_companion(c: Checker, v: Variant, f: dict, torch_drv: str | None, m: Matrix) -> None:
    """A torchvision / torchaudio recipe: its own version, source and patches, and its torch is the very torch recipe."""
    attr, cs = v.package.attr, v.companion_source
    check_common(c, v, f)
    c.true(
        "name",
        f["name"].startswith(f"python{v.python.version}-{v.name}-"),
        f"python{v.python.version}-{v.name}-<version>",
        f["name"],
    )
    c.eq("passthru.buildmatrix.torchVariant", v.requires, f["passthru"]["torchVariant"])
    if v.companion_version:
        c.eq(f"{attr} version", v.companion_version, f["version"])
        c.eq("name", f"python{v.python.version}-{v.name}-{v.companion_version}", f["name"])
    if cs:
        c.eq("src.hash", cs.hash or hashes.FAKE_HASH, f["src"]["hash"])
        c.eq("src.rev", cs.rev, f["src"]["rev"])
        c.eq("src.owner/repo", f"{cs.owner}/{cs.repo}", f"{f['src']['owner']}/{f['src']['repo']}")
        kept = [p.name for p, keep in pinfacts.companion_patch_decisions(m, v) if keep]
        c.eq(f"patches (nixpkgs' for the pin's {attr}, decided by name)", kept, _names(f["patches"]))
    c.eq(f"torch inside {attr} (drvPath)", [torch_drv], f["torchDrvPaths"])
    # An empty list is none: nixpkgs' torchaudio sets it from a CPU torch's empty cudaCapabilities.
    arch = last_export(f["preConfigure"], "TORCH_CUDA_ARCH_LIST") or f["archList"] or None
    force_cuda = COMPANION_CUDA_SWITCHES.get(attr)

    if v.cuda is not None:
        c.eq(f"{attr} TORCH_CUDA_ARCH_LIST", v.gpu.capability, arch)
        if force_cuda:
            c.eq(f"{attr} {force_cuda[0]}", force_cuda[1], f["forceCuda"])
    else:
        c.eq(f"{attr} TORCH_CUDA_ARCH_LIST", None, arch)


def _arch_number(arch: str) -> int:
    """``"86"``, ``"110"``, ``"90a"`` -> 86, 110, 90 (CMake CUDA_ARCHITECTURES entries)."""
    return int(re.match(r"\d+", arch).group(0)) if re.match(r"\d+", arch) else 0


def advisories(variants: Iterable[Variant], facts: dict[str, dict], pins: dict) -> list[str]:
    """Findings that are not assertions: what the stand-in predicts a real build or run would show."""
    out: list[str] = []
    pairing: dict[tuple[str, str], list[str]] = defaultdict(list)
    for v in variants:
        f = facts.get(v.name)
        if f and v.requires and not v.companion_source:
            # The model does not know this companion's version: it is whatever the pin packages.
            pairing[(v.package.attr, f["name"].rsplit("-", 1)[-1], v.torch_version)].append(v.name)
    for (attr, have, torch), names in sorted(pairing.items()):
        paired = paired_release(attr, torch)
        if paired is None or have.startswith(paired + "."):
            continue  # the pin's own release is the one paired with this torch
        out.append(
            f"{len(names)} {attr} recipes (e.g. {names[0]}) build the pin's {attr} {have} against torch {torch}; "
            f"set a {attr} {paired} source in variants.toml to build the paired release"
        )
    return out
