"""One expanded variant and what follows from it: name parts, description, recipe family.

A :class:`Variant` is one fully resolved build (what `invoke show NAME` prints). Its
properties are pure functions of its fields; target-specific wording comes from the
target's record (:mod:`buildmatrix.targets`), never from a test of the target's name.

Names: ``<package>-<name core>[-<line>][-<suffix>]``. The core is :func:`name_core`; the
line token (:func:`line_token`, ``torch2_9``) is there when the variant's torch release line
differs from ``[defaults] torch``; the suffix is the block's. The alias (:attr:`Variant.short`)
is the target's short form plus the same line token and suffix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from .. import targets
from ..spec import shape as spec
from .entries import Cuda, Gpu, Isa, Package, Patch, Pin, Python, Source


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One fully resolved build: what `invoke show NAME` prints."""

    name: str
    package: Package
    python: Python
    target: str  # cuda | cpu | mps
    cuda: Cuda | None
    gpu: Gpu | None
    isa: Isa | None
    suffix: str
    pin: Pin
    line: str = ""  # the torch line token of the name ("torch2_9"); "" on the default line (line_token)
    source: Source | None  # the torch source (a companion's is that of the torch it reuses)
    companion_sources: tuple[tuple[str, Source], ...]  # (package attr, source) the settings name, e.g. torchvision
    custom_description: str
    env: tuple[tuple[str, str], ...]
    cmake_flags: tuple[str, ...]
    patches: tuple[Patch, ...]
    origin: tuple[str, ...]
    requires: str | None = None  # name of the variant whose torch this one uses

    @property
    def target_info(self) -> targets.Target:
        """The record of this variant's target (targets.py)."""
        return targets.of(self.target)

    @property
    def platform(self) -> str:
        return self.target_info.platform or self.isa.platform

    @property
    def description(self) -> str:
        """meta.description: the block's or override's text, else one made from the facts."""
        if self.custom_description:
            return self.custom_description
        what = f"{self.package.title} {self.torch_version}"
        if self.requires:
            version = f" {self.companion_version}" if self.companion_version else ""
            what = f"{self.package.title}{version} (PyTorch {self.torch_version})"
        hw = self.target_info.hardware_of(cuda=self.cuda, gpu=self.gpu, isa=self.isa)
        extra = f" ({self.suffix})" if self.suffix else ""
        return f"{what}{extra} for {hw}, Python {self.python.version}"

    @property
    def torch_version(self) -> str:
        return self.source.version if self.source else self.pin.torch

    @property
    def torch_line(self) -> str | None:
        """The release line of this variant's torch: "2.9" for 2.9.1, "2.11" for 2.11.0a0 (None if unknown)."""
        return release_line(self.torch_version) if self.torch_version else None

    @property
    def companion_source(self) -> Source | None:
        """A companion's (torchvision, torchaudio) own source; None for torch variants and the pin's own."""
        return dict(self.companion_sources).get(self.package.attr) if self.requires else None

    def source_of(self, attr: str) -> Source | None:
        """The ``attr`` source this variant's settings name (whatever its own package is)."""
        return self.source if attr == "torch" else dict(self.companion_sources).get(attr)

    @property
    def companion_version(self) -> str | None:
        """A companion's (torchvision, torchaudio) version: its source's, else the pin's if recorded."""
        if not self.requires:
            return None
        return self.companion_source.version if self.companion_source else self.pin.version_of(self.package.attr)

    def version_of(self, attr: str) -> str | None:
        """The version of package ``attr`` in this variant: torch always, a companion only its own."""
        if attr == "torch":
            return self.torch_version
        return self.companion_version if self.requires and self.package.attr == attr else None

    @property
    def torchvision_version(self) -> str | None:
        return self.version_of("torchvision")

    @property
    def torchaudio_version(self) -> str | None:
        return self.version_of("torchaudio")

    @property
    def narrow_capabilities(self) -> bool:
        """Whether nixpkgs' CUDA libraries must be built for this GPU alone.

        Without config.cudaCapabilities nixpkgs builds MAGMA, NCCL & co. for the CUDA
        release's default capabilities (SASS plus PTX). When every default is above this
        GPU (sm61, sm70 on CUDA 12.8+), none of that code runs on it, so the recipe narrows
        the package set to this capability. Otherwise the defaults are kept, and with them
        binary-cache hits for everything but torch.
        """
        if self.gpu is None:
            return False
        cap = _cap_tuple(self.gpu.capability)
        return all(_cap_tuple(d) > cap for d in self.cuda.default_capabilities)

    @property
    def allow_broken(self) -> bool:
        return self.cuda is not None and self.cuda.major >= 13 and self.pin.torch_cuda13_broken

    @property
    def cudnn(self) -> bool:
        return self.gpu is not None and self.gpu.cudnn

    @property
    def kind(self) -> str:
        """The recipe template family: cuda12, cuda13, cpu or mps."""
        if self.cuda is not None:
            return "cuda13" if self.cuda.major >= 13 else "cuda12"
        return self.target

    @property
    def short(self) -> str:
        """The alias part of the name: ``sm120-avx``, ``cpu-avx2``, ``darwin-mps``."""
        core = self.target_info.short_of(cuda=self.cuda, gpu=self.gpu, isa=self.isa)
        return "-".join(part for part in (core, self.line, self.suffix) if part)

    @property
    def cuda_alias(self) -> str:
        """The alias spelled with its CUDA: ``cuda12_9-sm103-avx2`` (``short`` for a CPU or MPS build).

        The one spelling of the alias rule; which aliases name a variant is
        :meth:`buildmatrix.model.matrix.Matrix.aliases_of`."""
        return f"{self.cuda.token}-{self.short}" if self.cuda is not None else self.short

    @property
    def torch_key(self) -> tuple:
        """What decides the torch derivation; equal keys must give one derivation."""
        return (
            self.python.version,
            self.target,
            self.cuda.version if self.cuda else None,
            self.gpu.name if self.gpu else None,
            self.isa.name if self.isa else None,
            self.suffix,
            self.pin.name,
            self.source.name if self.source else None,
            self.env,
            self.cmake_flags,
        )

    @property
    def match_values(self) -> dict[str, str | None]:
        """What a match table (exclude, override ``match``) compares, by match key (spec.MATCH_KEYS)."""
        return {
            "name": self.name,
            "package": self.package.name,
            "python": self.python.version,
            "target": self.target,
            "cuda": self.cuda.version if self.cuda else None,
            "gpu": self.gpu.name if self.gpu else None,
            "isa": self.isa.name if self.isa else None,
        }

    def matches(self, field_name: str, wanted: Iterable[str]) -> bool:
        return self.match_values[field_name] in wanted

    def _own_source_name(self, attr: str) -> str | None:
        own = self.companion_source if self.package.attr == attr else None
        return own.name if own else None

    def as_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready view (used by `invoke list --json` and smoke expectations)."""
        values = self.match_values
        return {
            **{key: values[key] for key in ("name", "package", "python", "target", "cuda", "gpu")},
            "capability": self.gpu.capability if self.gpu else None,
            "isa": values["isa"],
            "platform": self.platform,
            "suffix": self.suffix or None,
            "torch_version": self.torch_version,
            "torch_line": self.torch_line,
            "pin": self.pin.name,
            "pin_rev": self.pin.rev,
            "source": self.source.name if self.source else None,
            **{f"{attr}_version": self.version_of(attr) for attr in spec.COMPANIONS},
            **{f"{attr}_source": self._own_source_name(attr) for attr in spec.COMPANIONS},
            "cudnn": self.cudnn,
            "magma_patches": [p.name for p in self.patches],
            "requires": self.requires,
            "description": self.description,
            "alias": self.short,
            "origin": list(self.origin),
        }


def name_core(python: Python, target: targets.Target, cuda: Cuda | None, gpu: Gpu | None, isa: Isa | None) -> str:
    """The name between package and suffix: ``python313-cuda13_0-sm90-avx2``, ``python313-cpu-avx2``."""
    tokens = [python.token, *([cuda.token] if cuda else []), target.short_of(cuda=cuda, gpu=gpu, isa=isa)]
    return "-".join(tokens)


def release_line(version: str) -> str | None:
    """``"2.9.1"`` -> ``"2.9"``, ``"2.11.0a0+gitf3b7280"`` -> ``"2.11"``; None for text that is no version."""
    try:
        release = Version(version).release
    except InvalidVersion:
        return None
    return f"{release[0]}.{release[1] if len(release) > 1 else 0}"


def is_prerelease(version: str) -> bool:
    """Whether ``version`` is a pre-release or development build (a nightly: ``2.11.0a0+git…``)."""
    try:
        v = Version(version)
    except InvalidVersion:
        return False
    return v.is_prerelease or v.is_devrelease


def line_token(torch_version: str | None, default_line: str | None) -> str:
    """The name token of a torch line: ``torch2_9`` when ``torch_version``'s release line is not ``default_line``.

    "" on the default line, without a default line (a single-line file), for an unknown
    torch, and for a pre-release torch: a nightly's block ``suffix`` names it instead."""
    if not default_line or not torch_version or is_prerelease(torch_version):
        return ""
    line = release_line(torch_version)
    if line is None or line == default_line:
        return ""
    return "torch" + line.replace(".", "_")


def _cap_tuple(capability: str) -> tuple[int, int]:
    major, minor = capability.split(".")
    return int(major), int(minor)
