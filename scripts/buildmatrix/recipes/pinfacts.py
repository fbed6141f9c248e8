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
    """The pin facts a torch recipe rests on, and only those: each is asserted where a decision of
    this recipe rests on it (the comment above each says which). A pin fact no decision uses is
    not asserted, so a wrong or disputed one cannot stop a recipe that never reads it.

    By recipe kind: the pin's own torch asserts ``torch``; a source override does not (it builds
    its source's version) but asserts ``torch_patches`` (it keeps or drops them by name). Every
    torch asserts the Python minor; CUDA adds ``cuda`` / ``cuda_attrs``, CUDA 13 adds
    ``torch_cuda13_broken``, a CUDA that wants a ``[patch.*]`` (MAGMA's, from 13.0) adds
    ``carries``; darwin adds ``apple_sdk`` / ``apple_sdk_version``.
    """
    pin = v.pin
    key = f"[pin.{pin.name}]"
    out = []
    if pin.torch and not v.source:
        # What the recipe builds: the pin's own torch, as that version (its name, meta.description,
        # the companions paired with it). A source override builds its source's version instead.
        out.append(Assertion(f"{key} torch", f"{python_attr}.torch.version", f"pinned.{python_attr}.torch.version", pin.torch))
    # Every torch recipe (pin or source, any target) builds in the Python set it names for this minor.
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
        # Every CUDA torch (pin or source, 12 or 13) overlays this cudaPackages attribute as its CUDA
        # release: `cuda_attrs` names it where recorded, else it is cudaPackages_X_Y of `cuda`.
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
        # allowBroken rests on it, for a pin's own torch and a source override alike: overrideAttrs
        # keeps the pin's torch expression, whose brokenConditions list this CUDA major. CUDA 12
        # recipes decide nothing on it (no allowBroken), so they do not assert it.
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
    # A source override keeps or drops each of the pin's torch patches by name (the FindCUDAToolkit
    # stub rests on it too); the pin's own torch keeps them as nixpkgs applies them (not asserted).
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
    # Whether the recipe adds our patch (e.g. MAGMA's CUDA 13 fix) rests on whether the pin carries
    # it: asserted where the patch is wanted (its CUDA and above: pin or source torch alike).
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
    # darwin (pin or source torch): buildInputs name this SDK attribute for Apple's frameworks
    # (apple_sdk), and USE_MPS=1 / BLAS=vecLib are chosen believing it is the SDK of the recorded
    # major (apple_sdk_version; PyTorch's MPS backend needs a recent SDK's MPSGraph).
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
    """The pin facts a companion recipe (torchvision, torchaudio) rests on itself; the torch recipe it
    imports asserts its own (they stop the companion's evaluation too: it builds on that torch).

    The pin's own companion asserts its version (``torchvision`` / ``torchaudio``); one built from a
    ``[source.*]`` override does not (it builds its source's version) but asserts the pin's patch
    names of its package (``<attr>_patches``), which it keeps or drops by name.
    """
    pin, attr = v.pin, v.package.attr
    key = f"[pin.{pin.name}]"
    pkg = f"{python_attr}.{nix.attr_name(attr)}"
    out = []
    if pin.version_of(attr) and not v.companion_source:
        # What the recipe builds: the pin's own package as that version (its name, description and
        # pairing with the torch). A source override replaces version and src: it never reads this.
        out.append(Assertion(f"{key} {attr}", f"{pkg}.version", f"pinned.{pkg}.version", pin.version_of(attr)))
    # A source override keeps or drops each of nixpkgs' patches of the package by name.
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
