"""What a recipe decides from its pin's facts, and the assertions it makes about its pin when evaluated.

variants.toml states beliefs about each pinned nixpkgs tree (its torch, torchvision and torchaudio
versions, its patches, whether its MAGMA carries the CUDA 13 fix, which CUDA release an attribute
is, the Apple SDK it has). A recipe decides what to do from them; this module turns each belief
the recipe rests on into an assertion the recipe checks against the tree itself at evaluation,
with a message naming the variants.toml key to correct and showing both values. (What loading
validates about the pins is :mod:`buildmatrix.model.pins`.) Nothing here writes to disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import nix

if TYPE_CHECKING:  # pragma: no cover
    from ..model import Matrix, Variant
    from ..model.entries import NixpkgsPatch

# nixpkgs deletes PyTorch's cmake/Modules/FindCUDAToolkit.cmake when building with CUDA, and
# this patch of its own makes the build cope; a recipe that drops it writes a stub instead.
FIND_CUDA_TOOLKIT_PATCH = "fix-cmake-cuda-toolkit.patch"


def torch_patch_decisions(m: Matrix, v: Variant) -> list[tuple[NixpkgsPatch, bool]]:
    """nixpkgs' torch patches this variant's torch starts with, each with keep (True) or drop."""
    names = v.pin.torch_patches or ()
    return [(m.nixpkgs_patches[n], m.nixpkgs_patches[n].kept_for(v)) for n in names if m.nixpkgs_patches[n].added_for(v)]


def companion_patch_decisions(m: Matrix, v: Variant) -> list[tuple[NixpkgsPatch, bool]]:
    """nixpkgs' patches of a companion's package (torchvision, torchaudio) at its pin, each with keep or drop."""
    names = v.pin.patches_of(v.package.attr) or ()
    return [(m.nixpkgs_patches[n], m.nixpkgs_patches[n].kept_for(v)) for n in names if m.nixpkgs_patches[n].added_for(v)]


def needs_find_cuda_toolkit_stub(m: Matrix, v: Variant) -> bool:
    """CUDA torch whose source override drops nixpkgs' fix-cmake-cuda-toolkit.patch."""
    if v.cuda is None or v.requires or not v.source:
        return False
    return any(p.name == FIND_CUDA_TOOLKIT_PATCH and not keep for p, keep in torch_patch_decisions(m, v))


def needs_cccl_shim(v: Variant) -> bool:
    """A CUDA 13 torch built from a source override maps CCCL's old include paths (``<cccl/cuda/...>``).

    The anchor's torch 2.10.0 recipes need it: the CUTLASS bundled with that source includes
    ``<cccl/cuda/std/...>``, which CUDA 13's CCCL ships as ``<cuda/std/...>`` (build-pytorch
    docs/pytorch-2.10-cuda13-build-notes.md). A pin's own torch is built as nixpkgs builds it, as
    the anchor's torch 2.9.1 CUDA 13.0 recipes on 0182a36 are (no shim; docs/pins.md#cccl-shim).
    """
    return v.cuda is not None and v.cuda.major >= 13 and v.source is not None and not v.requires


@dataclass(frozen=True)
class Assertion:
    """One pin fact checked when the recipe is evaluated: ``actual`` is a Nix expression over ``pinned``."""

    key: str  # the variants.toml key to correct
    what: str  # what is compared, in words a maintainer can look up in nixpkgs
    actual: str  # Nix expression (lines at indentation 0 when it has several)
    value: Any  # what variants.toml believes: a bool, a string or a list of strings

    @property
    def expected(self) -> str:
        """``value`` as a Nix literal."""
        return _nix_value(self.value)

    @property
    def expected_items(self) -> list[str] | None:
        """The literals of a list ``value`` (for a layout with one per line), else None."""
        return [_nix_value(x) for x in self.value] if isinstance(self.value, (list, tuple)) else None

    @property
    def message_key(self) -> str:
        return nix.string(self.key)[1:-1]


def _nix_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return nix.string(value)
    return "[ " + " ".join(_nix_value(x) for x in value) + " ]" if value else "[ ]"


def _sorted_names(expr: str) -> str:
    return f"builtins.sort builtins.lessThan (map patchName ({expr}))"


def torch_assertions(m: Matrix, v: Variant, python_attr: str, cuda_attr: str | None) -> list[Assertion]:
    """The pin facts a torch recipe rests on."""
    pin = v.pin
    key = f"[pin.{pin.name}]"
    out = []
    if pin.torch:
        out.append(Assertion(f"{key} torch", f"{python_attr}.torch.version", f"pinned.{python_attr}.torch.version", pin.torch))
    py_key = f'[python."{v.python.version}"]'
    out.append(
        Assertion(
            f"{py_key} (attribute {python_attr})",
            f"{python_attr}.python.pythonVersion",
            f"pinned.{python_attr}.python.pythonVersion",
            v.python.version,
        )
    )
    if v.cuda:
        where = "cuda_attrs" if v.cuda.version in dict(pin.cuda_attrs) else "cuda"
        out.append(
            Assertion(
                f"{key} {where}",
                f"{cuda_attr}.cudaMajorMinorVersion",
                f"pinned.{cuda_attr}.cudaMajorMinorVersion",
                v.cuda.version,
            )
        )
    if v.cuda and v.cuda.major >= 13:
        # allowBroken rests on it: the pin's own torch lists this CUDA major among its brokenConditions.
        out.append(
            Assertion(
                f"{key} torch_cuda13_broken",
                f'whether {python_attr}.torch with {cuda_attr} lists "Unsupported CUDA version"',
                f"(pinned.{python_attr}.torch.override {{\n"
                "  cudaSupport = true;\n"
                f"  cudaPackages = pinned.{cuda_attr};\n"
                '}).brokenConditions ? "Unsupported CUDA version"',
                pin.torch_cuda13_broken,
            )
        )
    if v.source and pin.torch_patches is not None:
        names = sorted(p.name for p, _ in torch_patch_decisions(m, v))
        out.append(
            Assertion(
                f"{key} torch_patches",
                f"the names of {python_attr}.torch.patches",
                _sorted_names(f"pinned.{python_attr}.torch.patches or [ ]"),
                names,
            )
        )
    for p in m.patches.values():
        if p.nixpkgs_name and p.wanted_by(v.cuda):  # wanted only with a CUDA
            out.append(
                Assertion(
                    f"{key} carries ({p.name})",
                    f"whether {p.package}.patches holds {p.nixpkgs_name}",
                    f"builtins.elem {nix.string(p.nixpkgs_name)} (map patchName (pinned.{nix.attr_name(p.package)}.patches or [ ]))",
                    p.name in pin.carries,
                )
            )
    if v.target_info.os == "darwin" and pin.apple_sdk:
        out.append(
            Assertion(f"{key} apple_sdk", f"whether {pin.apple_sdk} exists", f"pinned ? {nix.attr_name(pin.apple_sdk)}", True)
        )
        if pin.apple_sdk_version:
            out.append(
                Assertion(
                    f"{key} apple_sdk_version",
                    f"the major version of {pin.apple_sdk}",
                    f"pinned.lib.versions.major pinned.{nix.attr_name(pin.apple_sdk)}.version",
                    pin.apple_sdk_version,
                )
            )
    return out


def companion_assertions(m: Matrix, v: Variant, python_attr: str) -> list[Assertion]:
    """The pin facts a companion recipe (torchvision, torchaudio) rests on (its torch recipe checks the rest)."""
    pin, attr = v.pin, v.package.attr
    key = f"[pin.{pin.name}]"
    pkg = f"{python_attr}.{nix.attr_name(attr)}"
    out = []
    if pin.version_of(attr):
        out.append(Assertion(f"{key} {attr}", f"{pkg}.version", f"pinned.{pkg}.version", pin.version_of(attr)))
    if v.companion_source and pin.patches_of(attr) is not None:
        names = sorted(p.name for p, _ in companion_patch_decisions(m, v))
        out.append(
            Assertion(
                f"{key} {attr}_patches",
                f"the names of {pkg}.patches",
                _sorted_names(f"pinned.{pkg}.patches or [ ]"),
                names,
            )
        )
    return out
