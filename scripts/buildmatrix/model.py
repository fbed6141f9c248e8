"""The variants.toml model: axis tables, matrix blocks, and the variants they expand to.

``load(path)`` parses, checks and expands the file in one go and either returns a
:class:`Matrix` or raises :class:`ModelError` listing every problem (file, key path,
line, fix). Nothing in this module writes to disk.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.version import Version

from . import loadguard, pinfacts, reach, requires, spec, speccheck
from .errors import ModelError, Problem, ProblemList, UsageError
from .tomlpos import LineIndex

DEFAULT_FILE = "variants.toml"
MAX_NAME = 200  # a variant name is a file name (<name>.nix): file systems allow 255 bytes


# ------------------------------------------------------------------ axis entries


@dataclass(frozen=True)
class Package:
    name: str
    attr: str
    title: str
    requires: str | None = None


@dataclass(frozen=True)
class Python:
    version: str
    attr_override: str | None = None

    @property
    def token(self) -> str:
        return "python" + self.version.replace(".", "")

    @property
    def attr(self) -> str:
        return self.attr_override or f"{self.token}Packages"


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    torch_patches: tuple[str, ...] | None = None
    torchvision_patches: tuple[str, ...] | None = None
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


@dataclass(frozen=True)
class Source:
    name: str
    package: str  # torch | torchvision
    version: str
    owner: str
    repo: str
    rev: str
    hash: str
    fetch_submodules: bool
    fetcher: str = "fetchFromGitHub"
    hash_source: str = ""
    unverified: str = ""


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Defaults:
    python: str
    cuda: str
    packages: tuple[str, ...]


# ---------------------------------------------------------------------- variants


@dataclass(frozen=True)
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
    source: Source | None
    vision_source: Source | None
    custom_description: str
    env: tuple[tuple[str, str], ...]
    cmake_flags: tuple[str, ...]
    patches: tuple[Patch, ...]
    origin: tuple[str, ...]
    requires: str | None = None  # name of the variant whose torch this one uses

    @property
    def platform(self) -> str:
        return "aarch64-darwin" if self.target == "mps" else self.isa.platform

    @property
    def description(self) -> str:
        """meta.description: the block's or override's text, else one made from the facts."""
        if self.custom_description:
            return self.custom_description
        what = f"{self.package.title} {self.torch_version}"
        if self.requires:
            version = f" {self.torchvision_version}" if self.torchvision_version else ""
            what = f"{self.package.title}{version} (PyTorch {self.torch_version})"
        if self.target == "cuda":
            hw = f"NVIDIA {self.gpu.name} ({self.gpu.gpus[0]}) with CUDA {self.cuda.version} and {self.isa.title}"
        elif self.target == "cpu":
            hw = f"CPU only, {self.isa.title}"
        else:
            hw = "Apple Silicon (MPS)"
        extra = f" ({self.suffix})" if self.suffix else ""
        return f"{what}{extra} for {hw}, Python {self.python.version}"

    @property
    def torch_version(self) -> str:
        return self.source.version if self.source else self.pin.torch

    @property
    def torchvision_version(self) -> str | None:
        """torchvision's version for torchvision variants (its source's, else the pin's if recorded)."""
        if not self.requires:
            return None
        return self.vision_source.version if self.vision_source else self.pin.torchvision

    @property
    def narrow_capabilities(self) -> bool:
        """Whether nixpkgs' CUDA libraries must be built for this GPU alone.

        Without config.cudaCapabilities nixpkgs builds MAGMA, NCCL & co. for the CUDA
        release's default capabilities (SASS plus PTX). When every default is above this
        GPU (sm61, sm70 on CUDA 12.8+), none of that code runs on it, so the recipe narrows
        the package set to this capability. Otherwise the defaults are kept, and with them
        binary-cache hits for everything but torch.
        """
        if self.target != "cuda":
            return False
        cap = _cap_tuple(self.gpu.capability)
        return all(_cap_tuple(d) > cap for d in self.cuda.default_capabilities)

    @property
    def allow_broken(self) -> bool:
        return self.target == "cuda" and self.cuda.major >= 13 and self.pin.torch_cuda13_broken

    @property
    def cudnn(self) -> bool:
        return self.target == "cuda" and self.gpu.cudnn

    @property
    def kind(self) -> str:
        """The recipe template family: cuda12, cuda13, cpu or mps."""
        if self.target == "cuda":
            return "cuda13" if self.cuda.major >= 13 else "cuda12"
        return self.target

    @property
    def short(self) -> str:
        """The alias part of the name: ``sm120-avx``, ``cpu-avx2``, ``darwin-mps``."""
        core = {
            "cuda": lambda: f"{self.gpu.name}-{self.isa.name}",
            "cpu": lambda: f"cpu-{self.isa.name}",
            "mps": lambda: "darwin-mps",
        }[self.target]()
        return f"{core}-{self.suffix}" if self.suffix else core

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

    def matches(self, field_name: str, wanted: Iterable[str]) -> bool:
        value = {
            "name": self.name,
            "package": self.package.name,
            "python": self.python.version,
            "target": self.target,
            "cuda": self.cuda.version if self.cuda else None,
            "gpu": self.gpu.name if self.gpu else None,
            "isa": self.isa.name if self.isa else None,
        }[field_name]
        return value in wanted

    def as_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready view (used by `invoke list --json` and smoke expectations)."""
        return {
            "name": self.name,
            "package": self.package.name,
            "python": self.python.version,
            "target": self.target,
            "cuda": self.cuda.version if self.cuda else None,
            "gpu": self.gpu.name if self.gpu else None,
            "capability": self.gpu.capability if self.gpu else None,
            "isa": self.isa.name if self.isa else None,
            "platform": self.platform,
            "suffix": self.suffix or None,
            "torch_version": self.torch_version,
            "pin": self.pin.name,
            "pin_rev": self.pin.rev,
            "source": self.source.name if self.source else None,
            "torchvision_version": self.torchvision_version,
            "torchvision_source": self.vision_source.name if self.vision_source and self.requires else None,
            "cudnn": self.cudnn,
            "magma_patches": [p.name for p in self.patches],
            "requires": self.requires,
            "description": self.description,
            "alias": self.short,
            "origin": list(self.origin),
        }


@dataclass
class Matrix:
    """The loaded model: axis tables plus every expanded variant (in file order)."""

    path: Path
    defaults: Defaults
    packages: dict[str, Package]
    pythons: dict[str, Python]
    cudas: dict[str, Cuda]
    gpus: dict[str, Gpu]
    isas: dict[str, Isa]
    pins: dict[str, Pin]
    sources: dict[str, Source]
    patches: dict[str, Patch]
    variants: list[Variant]
    warnings: list[str] = field(default_factory=list)
    nixpkgs_patches: dict[str, Any] = field(default_factory=dict)  # pinfacts.NixpkgsPatch by file name

    @cached_property
    def by_name(self) -> dict[str, Variant]:
        return {v.name: v for v in self.variants}

    def variant(self, name: str) -> Variant:
        try:
            return self.by_name[name]
        except KeyError:
            raise UsageError(_unknown_name_message(name, self.by_name)) from None

    def select(self, **filters: str | Iterable[str] | None) -> list[Variant]:
        """Variants whose fields match every non-empty filter (package, python, cuda, gpu, isa, target, name)."""
        out = self.variants
        for key, wanted in filters.items():
            if not wanted:
                continue
            values = {wanted} if isinstance(wanted, str) else set(wanted)
            out = [v for v in out if v.matches(key, values)]
        return out

    def resolve(self, alias: str) -> list[Variant]:
        """Variants an alias names: a full name, ``sm120-avx`` (defaults) or ``cuda13_1-sm120-avx``.

        An alias the defaults lack but exactly one other CUDA version has (``sm70-avx2``
        built only with CUDA 12.9) names that one; several raise, listing the spellings."""
        if alias in self.by_name:
            return [self.by_name[alias]]
        found = [
            v
            for v in self.variants
            if v.python.version == self.defaults.python
            and v.package.name in self.defaults.packages
            and (
                (v.short == alias and (v.target != "cuda" or v.cuda.version == self.defaults.cuda))
                or (v.target == "cuda" and f"{v.cuda.token}-{v.short}" == alias)
            )
        ]
        if not found:
            elsewhere = sorted({f"{v.cuda.token}-{v.short}" for v in self.variants if v.short == alias and v.cuda})
            elsewhere += sorted({v.name for v in self.variants if v.short == alias and not v.cuda})
            if len(elsewhere) == 1 and elsewhere[0] != alias:  # one CUDA version only (sm70-avx2 on 12.9): that one
                return self.resolve(elsewhere[0])
            if elsewhere:
                raise UsageError(
                    f"{alias!r} does not exist at the defaults (Python {self.defaults.python}, CUDA {self.defaults.cuda}); "
                    f"it does as: {', '.join(elsewhere)}"
                )
            known = {v.short for v in self.variants} | set(self.by_name)
            raise UsageError(_unknown_name_message(alias, known))
        return found

    def with_dependencies(self, names: Iterable[str] | None) -> list[Variant]:
        """The variants ``names`` (names or aliases) resolve to plus the torch variants they import, in file order; all when None."""
        if names is None:
            return list(self.variants)
        wanted: set[str] = set()
        for n in names:
            for v in self.resolve(n):
                wanted.update({v.name, self.torch_variant(v).name})
        return [v for v in self.variants if v.name in wanted]

    def torch_variant(self, v: Variant) -> Variant:
        """The variant that provides ``v``'s torch (``v`` itself for pytorch)."""
        return self.by_name[v.requires] if v.requires else v


def _unknown_name_message(name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=5, cutoff=0.5)
    hint = ("; closest: " + ", ".join(close)) if close else ""
    return f"no variant named {name!r}{hint} (see `invoke list`)"


# ----------------------------------------------------------------------- loading


def load(path: str | Path = DEFAULT_FILE) -> Matrix:
    """Parse, check and expand ``path``. Raises ModelError with every problem found."""
    path = Path(path)
    return loads(loadguard.read(path), path)


def loads(text: str, path: Path | str = DEFAULT_FILE) -> Matrix:
    path = Path(path)
    raw = loadguard.parse(text, path)
    builder = _Builder(raw, path, LineIndex(text))
    return builder.build()


class _Builder:
    def __init__(self, raw: dict, path: Path, lines: LineIndex):
        self.raw = raw
        self.path = path
        self.lines = lines
        self.problems: list[Problem] = []

    # -- helpers
    def problem(self, keypath: tuple, message: str, fix: str = "") -> None:
        self.problems.append(Problem(keypath, message, fix, self.lines.line_of(keypath)))

    def fail_if_problems(self, omitted: int = 0) -> None:
        if self.problems:
            seen: set = set()
            unique = []
            for p in self.problems:
                key = (p.path, p.message)
                if key not in seen:
                    seen.add(key)
                    unique.append(p)
            unique.sort(key=lambda p: p.line or 0)
            raise ModelError(self.path, unique, omitted)

    def ref(self, keypath: tuple, name: str, table: dict, what: str, table_name: str) -> bool:
        if name in table:
            return True
        hint = speccheck.did_you_mean(name, table)
        known = ", ".join(sorted(table)) or "none defined"
        define = f"define [{table_name}.{_q(name)}] or " if reach.full(spec.KEY_RE, name) else ""
        self.problem(keypath, f"unknown {what} {name!r}", hint or f"{define}use one of: {known}")
        return False

    # -- main
    def build(self) -> Matrix:
        structural = ProblemList()
        speccheck.check_table(self.raw, "root", (), structural)
        # Re-locate problems from the structural pass (they were created without lines).
        self.problems = [Problem(p.path, p.message, p.fix, p.line or self.lines.line_of(p.path)) for p in structural]
        self.fail_if_problems(structural.omitted)
        raw = self.raw
        if raw["schema_version"] != 1:
            self.problem(
                ("schema_version",), f"unsupported schema_version {raw['schema_version']}", "this tool reads schema_version = 1"
            )

        packages = {n: Package(n, e["attr"], e["title"], e.get("requires")) for n, e in raw["package"].items()}
        pythons = {n: Python(n, e.get("attr")) for n, e in raw["python"].items()}
        cudas = {n: Cuda(n, e["min_driver"], tuple(e["default_capabilities"]), e.get("attr")) for n, e in raw["cuda"].items()}
        patches = {
            n: Patch(n, e["file"], e["package"], e["min_cuda"], e["upstream"], e["summary"], e.get("nixpkgs_name"))
            for n, e in raw.get("patch", {}).items()
        }
        sources = {
            n: Source(
                n,
                e.get("package", "torch"),
                e["version"],
                e["owner"],
                e["repo"],
                e["rev"],
                e["hash"],
                e["fetch_submodules"],
                e["fetcher"],
                e.get("hash_source", ""),
                e.get("unverified", ""),
            )
            for n, e in raw.get("source", {}).items()
        }
        nixpkgs_patches = pinfacts.load_nixpkgs_patches(raw.get("nixpkgs_patch", {}))
        gpus = {n: self._gpu(n, e) for n, e in raw["gpu"].items()}
        isas = {n: self._isa(n, e) for n, e in raw["isa"].items()}
        pins = {n: self._pin(n, e, cudas, patches) for n, e in raw["pin"].items()}
        pinfacts.check(raw, pins, sources, patches, nixpkgs_patches, self.problem)
        for n, p in packages.items():
            if p.requires:
                self.ref(("package", n, "requires"), p.requires, packages, "package", "package")
        for keypath, message, fix in requires.problems(packages):
            self.problem(keypath, message, fix)
        for n, s in sources.items():
            if s.hash and not _is_sri(s.hash):
                self.problem(
                    ("source", n, "hash"),
                    f"{s.hash!r} is not an SRI sha256 hash",
                    "use the sha256-… form printed by Nix, or leave it empty and run `invoke pin --source " + n + "`",
                )
        for n, p in patches.items():
            if not (self.path.parent / p.file).is_file():
                self.problem(
                    ("patch", n, "file"), f"patch file {p.file} does not exist", "add the file under patches/ or fix the path"
                )
        for n in gpus:
            for i, isa in enumerate(gpus[n].isas or ()):
                self.ref(("gpu", n, "isas", i), isa, isas, "ISA", "isa")
        d = raw["defaults"]
        defaults = Defaults(d["python"], d["cuda"], tuple(d["packages"]))
        self.ref(("defaults", "python"), defaults.python, pythons, "Python version", "python")
        self.ref(("defaults", "cuda"), defaults.cuda, cudas, "CUDA version", "cuda")
        for i, p in enumerate(defaults.packages):
            self.ref(("defaults", "packages", i), p, packages, "package", "package")

        axes = dict(package=packages, python=pythons, cuda=cudas, gpu=gpus, isa=isas)
        variants: list[Variant] = []
        for i, block in enumerate(raw["matrix"]):
            variants.extend(self._expand(i, block, axes, pins, sources, patches))
        if not raw["matrix"]:
            self.problem(("matrix",), "the matrix is empty", "add at least one [[matrix]] block")
        variants = self._apply_global_overrides(variants, axes, pins, sources, patches)
        if not self.problems:
            self._check_variants(variants, packages)
        self.fail_if_problems()

        matrix = Matrix(self.path, defaults, packages, pythons, cudas, gpus, isas, pins, sources, patches, variants)
        matrix.nixpkgs_patches = nixpkgs_patches
        used_pins = {v.pin.name for v in variants}
        matrix.warnings += pinfacts.unverified_warnings(matrix)
        unused = sorted(set(pins) - used_pins)
        if unused:
            matrix.warnings.append("pins no variant uses: " + ", ".join(unused))
        return matrix

    # -- axis tables
    def _gpu(self, n: str, e: dict) -> Gpu:
        cap = e["capability"]
        expected = "sm" + cap.replace(".", "")
        if expected != n:
            self.problem(
                ("gpu", n, "capability"),
                f"capability {cap} does not match the name {n} (it would be {expected})",
                f'use capability = "{n[2:-1]}.{n[-1]}"',
            )
        if e.get("max_cuda") and Version(e["max_cuda"]) < Version(e["min_cuda"]):
            self.problem(("gpu", n, "max_cuda"), "max_cuda is older than min_cuda", "swap or fix the versions")
        return Gpu(
            n,
            cap,
            e["family"],
            tuple(e["gpus"]),
            e["min_cuda"],
            e.get("max_cuda"),
            tuple(e["platforms"]),
            tuple(e["isas"]) if "isas" in e else None,
            e.get("cudnn", True),
            e["min_driver"],
        )

    def _isa(self, n: str, e: dict) -> Isa:
        try:
            import archspec.cpu

            for i, target in enumerate(e["archspec"]):
                t = archspec.cpu.TARGETS.get(target)
                if t is None:
                    hint = speccheck.did_you_mean(target, archspec.cpu.TARGETS)
                    self.problem(
                        ("isa", n, "archspec", i),
                        f"archspec knows no microarchitecture {target!r}",
                        hint or "see `archspec cpu --help` / archspec.cpu.TARGETS",
                    )
                    continue
                missing = [f for f in e["features"] if f not in t.features]
                if missing:
                    self.problem(
                        ("isa", n, "archspec", i),
                        f"{target} lacks features {', '.join(missing)} that {n} requires",
                        "name a microarchitecture that has them",
                    )
        except ImportError:  # archspec is a dependency; tolerate its absence in minimal environments
            pass
        return Isa(
            n,
            e["title"],
            e["platform"],
            tuple(e["flags"]),
            tuple(e["features"]),
            tuple(e["archspec"]),
            e["hardware"],
            e["rank"],
            tuple(sorted(e.get("env", {}).items())),
            tuple(e.get("cmake_flags", ())),
        )

    def _pin(self, n: str, e: dict, cudas: dict, patches: dict) -> Pin:
        sha = e["sha256"]
        if sha and not (_is_nix32(sha) or _is_sri(sha)):
            self.problem(
                ("pin", n, "sha256"),
                f"{sha!r} is not a sha256 (52 nix-base32 characters or sha256-… SRI)",
                f"leave it empty and run `invoke pin {n}` on a machine with network",
            )
        for i, c in enumerate(e["cuda"]):
            self.ref(("pin", n, "cuda", i), c, cudas, "CUDA version", "cuda")
        for c in e.get("cuda_attrs", {}):
            self.ref(("pin", n, "cuda_attrs", c), c, cudas, "CUDA version", "cuda")
        for i, p in enumerate(e.get("carries", [])):
            self.ref(("pin", n, "carries", i), p, patches, "patch", "patch")
        return Pin(
            n,
            e["rev"],
            sha,
            tuple(e["cuda"]),
            tuple(sorted(e.get("cuda_attrs", {}).items())),
            e.get("torch"),
            e["torch_cuda13_broken"],
            tuple(e.get("carries", [])),
            e.get("note", ""),
            e.get("torchvision"),
            e["fetcher"],
            e.get("hash_source", ""),
            e.get("unverified", ""),
            tuple(e["torch_patches"]) if "torch_patches" in e else None,
            tuple(e["torchvision_patches"]) if "torchvision_patches" in e else None,
            e.get("apple_sdk"),
            e.get("apple_sdk_version"),
        )

    # -- matrix expansion
    def _check_match(self, keypath: tuple, match: dict, axes: dict) -> dict[str, set]:
        out = {}
        for key, value in match.items():
            values = {value} if isinstance(value, str) else set(value)
            table = {
                "package": axes["package"],
                "python": axes["python"],
                "cuda": axes["cuda"],
                "gpu": axes["gpu"],
                "isa": axes["isa"],
                "target": dict.fromkeys(spec.TARGETS),
            }.get(key)
            if table is not None:
                for v in sorted(values):
                    self.ref((*keypath, key), v, table, key, key)
            out[key] = values
        return out

    def _expand(self, i: int, block: dict, axes: dict, pins: dict, sources: dict, patches: dict) -> list[Variant]:
        bpath = ("matrix", i)
        before = len(self.problems)
        name = block["name"]
        target = block["target"]
        lists: dict[str, list] = {}
        for key in ("packages", "python", "cuda", "gpu", "isa"):
            lists[key] = block.get(key)
        needs = {"cuda": ("cuda", "gpu", "isa"), "cpu": ("isa",), "mps": ()}[target]
        for key in ("cuda", "gpu", "isa"):
            if key in needs and not lists[key]:
                self.problem(
                    (*bpath, key), f"a {target} block needs a non-empty `{key}` list", f"add `{key} = [...]` to block {name!r}"
                )
            if key not in needs and lists[key]:
                self.problem(
                    (*bpath, key),
                    f"a {target} block cannot have `{key}`",
                    f'remove `{key}` from block {name!r} (or set target = "cuda")',
                )
        for key in ("packages", "python"):
            if not lists[key]:
                self.problem((*bpath, key), f"`{key}` is empty", f"list at least one {key} in block {name!r}")
        axis_of = {"packages": "package", "python": "python", "cuda": "cuda", "gpu": "gpu", "isa": "isa"}
        for key, axis in axis_of.items():
            for j, value in enumerate(lists[key] or []):
                self.ref((*bpath, key, j), value, axes[axis], axis, axis)
            if lists[key] and len(set(lists[key])) != len(lists[key]):
                self.problem((*bpath, key), "lists a value twice", "remove the duplicate")
        excludes = [self._check_match((*bpath, "exclude", k), ex, axes) for k, ex in enumerate(block.get("exclude", []))]
        overrides = [
            (self._check_match((*bpath, "override", k, "match"), ov["match"], axes), ov)
            for k, ov in enumerate(block.get("override", []))
        ]
        for k, ov in enumerate(block.get("override", [])):
            self._check_settings((*bpath, "override", k), ov, pins, sources)
        self._check_settings(bpath, block, pins, sources)
        if len(self.problems) > before:
            return []

        exclude_used = [False] * len(excludes)
        override_used = [False] * len(overrides)
        out: list[Variant] = []
        combos = itertools.product(
            lists["packages"], lists["python"], lists["cuda"] or [None], lists["gpu"] or [None], lists["isa"] or [None]
        )
        for pkg, py, cu, gp, isa in combos:
            facts = {"package": pkg, "python": py, "cuda": cu, "gpu": gp, "isa": isa, "target": target}
            hit = [k for k, ex in enumerate(excludes) if _match_facts(ex, facts)]
            for k in hit:
                exclude_used[k] = True
            if hit:
                continue
            settings = {k: block[k] for k in spec.SETTINGS_KEYS if k in block}
            origin = [f"matrix[{i}] ({name})"]
            for k, (match, ov) in enumerate(overrides):
                if _match_facts(match, facts):
                    override_used[k] = True
                    settings.update({key: ov[key] for key in spec.SETTINGS_KEYS if key in ov})
                    origin.append(f"matrix[{i}].override[{k}]")
            out.append(self._variant(bpath, block, facts, settings, axes, pins, sources, patches, tuple(origin)))
        for k, used in enumerate(exclude_used):
            if not used:
                self.problem(
                    (*bpath, "exclude", k),
                    "this exclude matches no combination of the block",
                    "remove it (stale excludes hide mistakes)",
                )
        for k, used in enumerate(override_used):
            if not used:
                self.problem(
                    (*bpath, "override", k), "this override matches no variant of the block", "fix its `match` or remove it"
                )
        if not out and len(self.problems) == before:
            self.problem(bpath, f"block {name!r} expands to no variants", "remove the block or loosen its excludes")
        return out

    def _check_settings(self, keypath: tuple, table: dict, pins: dict, sources: dict) -> None:
        """References in a settings table (a block, a block override, a global override)."""
        if "pin" in table:
            self.ref((*keypath, "pin"), table["pin"], pins, "pin", "pin")
        for key in ("torch", "torchvision"):
            if key in table and self.ref((*keypath, key), table[key], sources, f"{key} source", "source"):
                if sources[table[key]].package != key:
                    self.problem(
                        (*keypath, key),
                        f"source {table[key]!r} is a {sources[table[key]].package} source, not a {key} one",
                        f'name a [source.NAME] with package = "{key}"',
                    )

    def _variant(self, bpath, block, facts, settings, axes, pins, sources, patches, origin) -> Variant:
        package = axes["package"][facts["package"]]
        python = axes["python"][facts["python"]]
        cuda = axes["cuda"][facts["cuda"]] if facts["cuda"] else None
        gpu = axes["gpu"][facts["gpu"]] if facts["gpu"] else None
        isa = axes["isa"][facts["isa"]] if facts["isa"] else None
        suffix = block.get("suffix", "")
        target = facts["target"]
        if target == "cuda":
            core = f"{python.token}-{cuda.token}-{gpu.name}-{isa.name}"
        elif target == "cpu":
            core = f"{python.token}-cpu-{isa.name}"
        else:
            core = f"{python.token}-darwin-mps"
        name = f"{package.name}-{core}" + (f"-{suffix}" if suffix else "")
        pin = pins[settings["pin"]]
        source = sources[settings["torch"]] if settings.get("torch") else None
        vision = sources[settings["torchvision"]] if settings.get("torchvision") else None
        applied = tuple(p for p in patches.values() if p.applies(cuda, pin))
        v = Variant(
            name=name,
            package=package,
            python=python,
            target=target,
            cuda=cuda,
            gpu=gpu,
            isa=isa,
            suffix=suffix,
            pin=pin,
            source=source,
            vision_source=vision,
            custom_description=settings.get("description", ""),
            env=tuple(sorted(settings.get("env", {}).items())),
            cmake_flags=tuple(settings.get("cmake_flags", ())),
            patches=applied,
            origin=origin,
            requires=(f"{package.requires}-{core}" + (f"-{suffix}" if suffix else "")) if package.requires else None,
        )
        self._check_combination(bpath, v)
        return v

    def _check_combination(self, bpath: tuple, v: Variant) -> None:
        """The hardware rules. Messages name the combination so a cross product's error is findable."""
        where = (*bpath,)
        if v.target == "cuda":
            gpu, cuda, isa = v.gpu, v.cuda, v.isa
            combo = f"{gpu.name} × CUDA {cuda.version}"
            if cuda.v < Version(gpu.min_cuda):
                self.problem(
                    (*where, "cuda"),
                    f"{combo}: CUDA {cuda.version} is too old for {gpu.name} (needs ≥ {gpu.min_cuda})",
                    f'exclude {{ gpu = "{gpu.name}", cuda = "{cuda.version}" }} or drop {cuda.version} from the block',
                )
            if gpu.max_cuda and cuda.v > Version(gpu.max_cuda):
                self.problem(
                    (*where, "cuda"),
                    f"{combo}: CUDA {cuda.version} dropped {gpu.name} (last supported: {gpu.max_cuda})",
                    f'exclude {{ gpu = "{gpu.name}", cuda = "{cuda.version}" }} or drop {cuda.version} from the block',
                )
            if isa.platform not in gpu.platforms:
                self.problem(
                    (*where, "isa"),
                    f"{gpu.name} × {isa.name}: {gpu.name} exists only on {', '.join(gpu.platforms)} but {isa.name} is {isa.platform}",
                    f'exclude {{ gpu = "{gpu.name}", isa = "{isa.name}" }}',
                )
            elif gpu.isas is not None and isa.name not in gpu.isas:
                self.problem(
                    (*where, "isa"),
                    f"{gpu.name} × {isa.name}: {gpu.name} is built only with {', '.join(gpu.isas)}",
                    f'exclude {{ gpu = "{gpu.name}", isa = "{isa.name}" }}',
                )
            if cuda.version not in v.pin.cuda:
                self.problem(
                    (*where, "pin"),
                    f"pin {v.pin.name} has no CUDA {cuda.version} package set (it has {', '.join(v.pin.cuda) or 'none'})",
                    "use a pin that provides it (override pin for that CUDA version)",
                )
        pinfacts.check_variant(v, self.problem, where)
        if v.source is None and v.pin.torch is None:
            self.problem(
                (*where, "pin"),
                f"{v.name}: the torch version of pin {v.pin.name} is unknown and no torch source is set",
                'set `torch = "<source>"` for these variants, or record the pin\'s `torch` version',
            )
        if v.target in ("cuda", "cpu") and not v.isa.platform.endswith("-linux"):
            self.problem(
                (*where, "isa"),
                f"{v.isa.name} is a {v.isa.platform} ISA; {v.target} variants are Linux builds",
                "use a Linux ISA (darwin has only the mps target)",
            )

    def _apply_global_overrides(self, variants, axes, pins, sources, patches) -> list[Variant]:
        overrides = self.raw.get("override", [])
        if not overrides:
            return variants
        clean_so_far = not self.problems
        by_name = {v.name for v in variants}
        before = len(self.problems)
        parsed = []
        for k, ov in enumerate(overrides):
            match = self._check_match(("override", k, "match"), ov["match"], axes)
            for n in sorted(match.get("name", ())):
                if n not in by_name and clean_so_far:
                    self.problem(("override", k, "match", "name"), f"no variant named {n!r}", _unknown_name_message(n, by_name))
            self._check_settings(("override", k), ov, pins, sources)
            parsed.append((match, ov))
        if len(self.problems) > before:
            return variants
        used = [False] * len(parsed)
        out = []
        for v in variants:
            for k, (match, ov) in enumerate(parsed):
                if all(v.matches(key, values) for key, values in match.items()):
                    used[k] = True
                    v = _with_settings(v, ov, pins, sources, patches, f"override[{k}]")
                    self._check_combination(("override", k), v)
            out.append(v)
        for k, u in enumerate(used):
            if not u and clean_so_far:
                self.problem(("override", k), "this override matches no variant", "fix its `match` or remove it")
        return out

    def _check_variants(self, variants: list[Variant], packages: dict) -> None:
        seen: dict[str, Variant] = {}
        for v in variants:
            if v.name in seen:
                self.problem(
                    ("matrix",),
                    f"variant {v.name!r} is produced twice ({seen[v.name].origin[0]} and {v.origin[0]})",
                    "remove the overlap between the blocks (or give one a suffix)",
                )
            seen[v.name] = v
            if len(v.name) > MAX_NAME:
                self.problem(
                    _origin_path(v),
                    f"variant name {v.name[:40]}… is {len(v.name)} characters long (at most {MAX_NAME}: it is a file name)",
                    "shorten the suffix or the names of the entries it is made of",
                )
            elif not _re_name(v.name):
                self.problem(
                    ("matrix",),
                    f"variant name {v.name!r} is not a valid attribute name",
                    f"names must match {spec.NAME_RE} (no dots)",
                )
        for v in variants:
            if not v.requires:
                continue
            base = seen.get(v.requires)
            block_path = _origin_path(v)
            if base is None:
                self.problem(
                    block_path,
                    f"{v.name} shares the torch of {v.requires}, which the matrix does not build",
                    f"add {v.package.requires!r} to the packages of {v.origin[0]}",
                )
                continue
            paired = paired_torchvision(v.torch_version)
            if v.torchvision_version and paired and not v.torchvision_version.startswith(paired + "."):
                self.problem(
                    block_path,
                    f"{v.name}: torchvision {v.torchvision_version} does not pair with torch {v.torch_version} (it needs {paired}.x)",
                    f'set `torchvision = "<source>"` to a torchvision {paired} source for this block',
                )
            if v.torch_key != base.torch_key:
                self.problem(
                    block_path,
                    f"{v.name} would need a torch different from {base.name} (pin, torch source, env or cmake_flags differ)",
                    "set torch-related settings for both packages alike (torch is built once and shared)",
                )


def _origin_path(v: Variant) -> tuple:
    m = re.fullmatch(r"matrix\[(\d+)\] .*", v.origin[0], re.S)
    return ("matrix", int(m.group(1))) if m else ("matrix",)


def _with_settings(v: Variant, ov: dict, pins, sources, patches, origin: str) -> Variant:
    from dataclasses import replace

    pin = pins[ov["pin"]] if "pin" in ov else v.pin
    source = sources[ov["torch"]] if "torch" in ov else v.source
    vision = sources[ov["torchvision"]] if "torchvision" in ov else v.vision_source
    applied = tuple(p for p in patches.values() if p.applies(v.cuda, pin))
    return replace(
        v,
        pin=pin,
        source=source,
        vision_source=vision,
        patches=applied,
        custom_description=ov.get("description", v.custom_description),
        env=tuple(sorted(ov["env"].items())) if "env" in ov else v.env,
        cmake_flags=tuple(ov["cmake_flags"]) if "cmake_flags" in ov else v.cmake_flags,
        origin=(*v.origin, origin),
    )


def paired_torchvision(torch_version: str) -> str | None:
    """The torchvision release series PyTorch pairs with a torch 2.x release: 2.N -> 0.(N+15)."""
    m = re.fullmatch(r"2\.(\d+)\..*", torch_version, re.S)
    return f"0.{int(m.group(1)) + 15}" if m else None


def _cap_tuple(capability: str) -> tuple[int, int]:
    major, minor = capability.split(".")
    return int(major), int(minor)


def _match_facts(match: dict[str, set], facts: dict) -> bool:
    return all(facts.get(key) in values for key, values in match.items())


def _re_name(name: str) -> bool:
    return reach.full(spec.NAME_RE, name)


def _is_nix32(s: str) -> bool:
    return reach.full(spec.NIX32_SHA256_RE, s)


def _is_sri(s: str) -> bool:
    return reach.full(spec.SRI_SHA256_RE, s)


def _q(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else f'"{name}"'
