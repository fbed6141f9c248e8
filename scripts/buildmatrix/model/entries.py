"""The axis records of variants.toml: one frozen, keyword-only record per table entry.

``Package`` … ``Patch`` are the entries of the axis tables ([package.NAME], [python."X.Y"],
[cuda."X.Y"], [gpu.NAME], [isa.NAME], [pin.NAME], [source.NAME], [patch.NAME]) and
``Defaults`` is [defaults]; :class:`Tables` holds them all. Field names are the spec keys they come from (spec.py), except
``name`` / ``version`` (the entry's own table name) and ``attr_override`` (the optional ``attr``
key, which the ``attr`` property completes). Records only answer questions about themselves;
building them from the raw tables is :mod:`buildmatrix.model.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from packaging.version import Version


class Built(Protocol):
    """What a nixpkgs patch condition reads of a variant (a Variant is one; this module imports none)."""

    @property
    def cuda(self) -> Cuda | None: ...

    @property
    def platform(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class Package:
    name: str
    attr: str
    title: str
    requires: str | None = None


@dataclass(frozen=True, kw_only=True)
class Python:
    version: str
    attr_override: str | None = None

    @property
    def token(self) -> str:
        return "python" + self.version.replace(".", "")

    @property
    def attr(self) -> str:
        return self.attr_override or f"{self.token}Packages"


@dataclass(frozen=True, kw_only=True)
class Cuda:
    version: str
    min_driver: str
    default_capabilities: tuple[str, ...] = ()
    attr_override: str | None = None

    @property
    def token(self) -> str:
        return "cuda" + self.version.replace(".", "_")

    @property
    def attr(self) -> str:
        return self.attr_override or "cudaPackages_" + self.version.replace(".", "_")

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def v(self) -> Version:
        return Version(self.version)


@dataclass(frozen=True, kw_only=True)
class Gpu:
    name: str
    capability: str
    family: str
    gpus: tuple[str, ...]
    min_cuda: str
    max_cuda: str | None
    platforms: tuple[str, ...]
    isas: tuple[str, ...] | None
    cudnn: bool
    min_driver: str

    @property
    def major(self) -> int:
        return int(self.capability.split(".")[0])

    def supports_cuda(self, cuda: Cuda) -> bool:
        if cuda.v < Version(self.min_cuda):
            return False
        return self.max_cuda is None or cuda.v <= Version(self.max_cuda)

    def runs_on(self, capability: str) -> bool:
        """Whether SASS built for this arch runs on a device of ``capability``.

        CUDA binary compatibility: same major version and a minor version at
        least as high (an sm80 build runs on 8.6 and 8.9, not on 9.0). Jetson
        8.7 is excluded as PyTorch's DEVICE_REQUIREMENT table does.
        """
        dev_major, dev_minor = (int(x) for x in capability.split("."))
        major, minor = (int(x) for x in self.capability.split("."))
        if (dev_major, dev_minor) == (8, 7) and (major, minor) != (8, 7):
            return False
        return dev_major == major and dev_minor >= minor


@dataclass(frozen=True, kw_only=True)
class Isa:
    name: str
    title: str
    platform: str
    flags: tuple[str, ...]
    features: tuple[str, ...]
    archspec: tuple[str, ...]
    hardware: str
    rank: int
    env: tuple[tuple[str, str], ...] = ()
    cmake_flags: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Pin:
    name: str
    rev: str
    sha256: str
    cuda: tuple[str, ...]
    cuda_attrs: tuple[tuple[str, str], ...]
    torch: str | None
    torch_cuda13_broken: bool
    carries: tuple[str, ...]
    note: str = ""
    torchvision: str | None = None
    fetcher: str = "builtins.fetchTarball"
    hash_source: str = ""
    unverified: str = ""
    torchaudio: str | None = None
    torch_patches: tuple[str, ...] | None = None
    torchvision_patches: tuple[str, ...] | None = None
    torchaudio_patches: tuple[str, ...] | None = None
    apple_sdk: str | None = None
    apple_sdk_version: str | None = None

    @property
    def url(self) -> str:
        return f"https://github.com/NixOS/nixpkgs/archive/{self.rev}.tar.gz"

    @property
    def short(self) -> str:
        return self.rev[:7]

    def cuda_attr(self, cuda: Cuda) -> str:
        return dict(self.cuda_attrs).get(cuda.version, cuda.attr)

    def version_of(self, attr: str) -> str | None:
        """The recorded version of this revision's own ``attr`` (torch, torchvision, torchaudio)."""
        return {"torch": self.torch, "torchvision": self.torchvision, "torchaudio": self.torchaudio}.get(attr)

    def patches_of(self, attr: str) -> tuple[str, ...] | None:
        """``<attr>_patches``: nixpkgs' own patch names of ``attr`` here (None: not listed)."""
        return {
            "torch": self.torch_patches,
            "torchvision": self.torchvision_patches,
            "torchaudio": self.torchaudio_patches,
        }.get(attr)


@dataclass(frozen=True, kw_only=True)
class Source:
    name: str
    package: str  # spec.SOURCE_PACKAGES: torch | torchvision | torchaudio
    version: str
    owner: str
    repo: str
    rev: str
    hash: str
    fetch_submodules: bool
    fetcher: str = "fetchFromGitHub"
    hash_source: str = ""
    unverified: str = ""


@dataclass(frozen=True, kw_only=True)
class Patch:
    name: str
    file: str
    package: str
    min_cuda: str
    upstream: str
    summary: str
    nixpkgs_name: str | None = None

    def wanted_by(self, cuda: Cuda | None) -> bool:
        """Whether a variant on ``cuda`` needs this patch (before asking its pin)."""
        return cuda is not None and cuda.v >= Version(self.min_cuda)

    def applies(self, cuda: Cuda | None, pin: Pin) -> bool:
        """Whether a variant on ``cuda`` and ``pin`` gets it: wanted, and the pin does not carry it already."""
        return self.wanted_by(cuda) and self.name not in pin.carries


@dataclass(frozen=True, kw_only=True)
class Defaults:
    python: str
    cuda: str
    packages: tuple[str, ...]
    torch: str | None = None  # the default torch release line ("2.10"); None: names carry no line token


@dataclass(frozen=True, kw_only=True)
class Tables:
    """Every axis table of one file, by entry name (a Matrix is these plus the variants)."""

    defaults: Defaults
    packages: dict[str, Package]
    pythons: dict[str, Python]
    cudas: dict[str, Cuda]
    gpus: dict[str, Gpu]
    isas: dict[str, Isa]
    pins: dict[str, Pin]
    sources: dict[str, Source]
    patches: dict[str, Patch]
    nixpkgs_patches: dict[str, NixpkgsPatch]  # by file name

    def axis(self, name: str) -> dict:
        """The entries a block list or a match key names: package, python, cuda, gpu or isa."""
        return {
            "package": self.packages,
            "python": self.pythons,
            "cuda": self.cudas,
            "gpu": self.gpus,
            "isa": self.isas,
        }[name]


def nixpkgs_adds(when: str, v: Built) -> bool:
    """Whether nixpkgs' condition ``when`` (always | cuda | linux | darwin | mkl) for one of its patches holds for ``v``."""
    return {
        "always": True,
        "cuda": v.cuda is not None,
        "linux": v.platform.endswith("-linux"),
        "darwin": v.platform.endswith("-darwin"),
        # blas.provider is OpenBLAS on every platform the matrix builds for (nixpkgs' default).
        "mkl": False,
    }[when]


@dataclass(frozen=True)
class NixpkgsPatch:
    """One of nixpkgs' own torch/torchvision/torchaudio patches and what a source override does with it."""

    name: str
    package: str  # spec.SOURCE_PACKAGES
    when: str  # always | cuda | linux | darwin | mkl
    keep_on: tuple[str, ...]
    reason: str
    source: str
    keep_cuda: tuple[str, ...] = ()

    def added_for(self, v: Built) -> bool:
        """Whether nixpkgs adds it to this variant's package (the condition in its expression)."""
        return nixpkgs_adds(self.when, v)

    def kept_for(self, v: Built) -> bool:
        return v.platform in self.keep_on or (v.cuda is not None and v.cuda.version in self.keep_cuda)


def load_nixpkgs_patches(raw: dict) -> dict[str, NixpkgsPatch]:
    return {
        n: NixpkgsPatch(n, e["package"], e["when"], tuple(e["keep_on"]), e["reason"], e["source"], tuple(e.get("keep_cuda", ())))
        for n, e in raw.items()
    }
