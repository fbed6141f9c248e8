"""Raw axis tables -> entries: every [package], [python], [cuda], [gpu], [isa], [pin], [source], [patch].

:func:`read` builds the records of :mod:`buildmatrix.model.entries` from the parsed file
(already checked against spec.py, so every required key is there) and reports what spec.py
cannot see: a capability that does not match its GPU name, archspec names and features, hash
forms, references between tables, files that do not exist. It returns one frozen
:class:`~buildmatrix.model.entries.Tables`, the context the expansion reads.
"""

from __future__ import annotations

from pathlib import Path

from packaging.version import Version

from ..spec import check as speccheck
from ..spec import reach
from ..spec import shape as spec
from . import entries, hashes, requires
from .collect import Collector
from .entries import Cuda, Defaults, Gpu, Isa, Package, Patch, Pin, Python, Source, Tables


def read(raw: dict, path: Path, c: Collector) -> Tables:
    """The entries of ``raw`` (a spec-checked file); problems go to ``c``."""
    packages = {
        n: Package(name=n, attr=e["attr"], title=e["title"], requires=e.get("requires")) for n, e in raw["package"].items()
    }
    pythons = {n: Python(version=n, attr_override=e.get("attr")) for n, e in raw["python"].items()}
    cudas = {
        n: Cuda(
            version=n,
            min_driver=e["min_driver"],
            default_capabilities=tuple(e["default_capabilities"]),
            attr_override=e.get("attr"),
        )
        for n, e in raw["cuda"].items()
    }
    patches = {n: _patch(n, e) for n, e in raw.get("patch", {}).items()}
    sources = {n: _source(n, e) for n, e in raw.get("source", {}).items()}
    nixpkgs_patches = entries.load_nixpkgs_patches(raw.get("nixpkgs_patch", {}))
    gpus = {n: _gpu(n, e, c) for n, e in raw["gpu"].items()}
    isas = {n: _isa(n, e, c) for n, e in raw["isa"].items()}
    pins = {n: _pin(n, e, cudas, patches, c) for n, e in raw["pin"].items()}
    hashes.check(raw, pins, sources, patches, nixpkgs_patches, c.problem)
    for n, p in packages.items():
        if p.requires:
            c.ref(("package", n, "requires"), p.requires, packages, "package", "package")
    for keypath, message, fix in requires.problems(packages):
        c.problem(keypath, message, fix)
    for n, s in sources.items():
        if s.hash and not _is_sri(s.hash):
            c.problem(
                ("source", n, "hash"),
                f"{s.hash!r} is not an SRI sha256 hash",
                "use the sha256-… form printed by Nix, or leave it empty and run `invoke pin --source " + n + "`",
            )
    for n, p in patches.items():
        if not (path.parent / p.file).is_file():
            c.problem(("patch", n, "file"), f"patch file {p.file} does not exist", "add the file under patches/ or fix the path")
    for n in gpus:
        for i, isa in enumerate(gpus[n].isas or ()):
            c.ref(("gpu", n, "isas", i), isa, isas, "ISA", "isa")
    d = raw["defaults"]
    defaults = Defaults(python=d["python"], cuda=d["cuda"], packages=tuple(d["packages"]), torch=d.get("torch"))
    c.ref(("defaults", "python"), defaults.python, pythons, "Python version", "python")
    c.ref(("defaults", "cuda"), defaults.cuda, cudas, "CUDA version", "cuda")
    for i, p in enumerate(defaults.packages):
        c.ref(("defaults", "packages", i), p, packages, "package", "package")
    return Tables(
        defaults=defaults,
        packages=packages,
        pythons=pythons,
        cudas=cudas,
        gpus=gpus,
        isas=isas,
        pins=pins,
        sources=sources,
        patches=patches,
        nixpkgs_patches=nixpkgs_patches,
    )


def _patch(n: str, e: dict) -> Patch:
    return Patch(
        name=n,
        file=e["file"],
        package=e["package"],
        min_cuda=e["min_cuda"],
        upstream=e["upstream"],
        summary=e["summary"],
        nixpkgs_name=e.get("nixpkgs_name"),
    )


def _source(n: str, e: dict) -> Source:
    return Source(
        name=n,
        package=e.get("package", "torch"),
        version=e["version"],
        owner=e["owner"],
        repo=e["repo"],
        rev=e["rev"],
        hash=e["hash"],
        fetch_submodules=e["fetch_submodules"],
        fetcher=e["fetcher"],
        hash_source=e.get("hash_source", ""),
        unverified=e.get("unverified", ""),
    )


def _gpu(n: str, e: dict, c: Collector) -> Gpu:
    cap = e["capability"]
    expected = "sm" + cap.replace(".", "")
    if expected != n:
        c.problem(
            ("gpu", n, "capability"),
            f"capability {cap} does not match the name {n} (it would be {expected})",
            f'use capability = "{n[2:-1]}.{n[-1]}"',
        )
    if e.get("max_cuda") and Version(e["max_cuda"]) < Version(e["min_cuda"]):
        c.problem(("gpu", n, "max_cuda"), "max_cuda is older than min_cuda", "swap or fix the versions")
    return Gpu(
        name=n,
        capability=cap,
        family=e["family"],
        gpus=tuple(e["gpus"]),
        min_cuda=e["min_cuda"],
        max_cuda=e.get("max_cuda"),
        platforms=tuple(e["platforms"]),
        isas=tuple(e["isas"]) if "isas" in e else None,
        cudnn=e.get("cudnn", True),
        min_driver=e["min_driver"],
    )


def _isa(n: str, e: dict, c: Collector) -> Isa:
    try:
        import archspec.cpu

        for i, target in enumerate(e["archspec"]):
            t = archspec.cpu.TARGETS.get(target)
            if t is None:
                hint = speccheck.did_you_mean(target, archspec.cpu.TARGETS)
                c.problem(
                    ("isa", n, "archspec", i),
                    f"archspec knows no microarchitecture {target!r}",
                    hint or "see `archspec cpu --help` / archspec.cpu.TARGETS",
                )
                continue
            missing = [f for f in e["features"] if f not in t.features]
            if missing:
                c.problem(
                    ("isa", n, "archspec", i),
                    f"{target} lacks features {', '.join(missing)} that {n} requires",
                    "name a microarchitecture that has them",
                )
    except ImportError:  # archspec is a dependency; tolerate its absence in minimal environments
        pass
    return Isa(
        name=n,
        title=e["title"],
        platform=e["platform"],
        flags=tuple(e["flags"]),
        features=tuple(e["features"]),
        archspec=tuple(e["archspec"]),
        hardware=e["hardware"],
        rank=e["rank"],
        env=tuple(sorted(e.get("env", {}).items())),
        cmake_flags=tuple(e.get("cmake_flags", ())),
    )


def _pin(n: str, e: dict, cudas: dict, patches: dict, c: Collector) -> Pin:
    sha = e["sha256"]
    if sha and not (_is_nix32(sha) or _is_sri(sha)):
        c.problem(
            ("pin", n, "sha256"),
            f"{sha!r} is not a sha256 (52 nix-base32 characters or sha256-… SRI)",
            f"leave it empty and run `invoke pin {n}` on a machine with network",
        )
    for i, cu in enumerate(e["cuda"]):
        c.ref(("pin", n, "cuda", i), cu, cudas, "CUDA version", "cuda")
    for cu in e.get("cuda_attrs", {}):
        c.ref(("pin", n, "cuda_attrs", cu), cu, cudas, "CUDA version", "cuda")
    for i, p in enumerate(e.get("carries", [])):
        c.ref(("pin", n, "carries", i), p, patches, "patch", "patch")
    return Pin(
        name=n,
        rev=e["rev"],
        sha256=sha,
        cuda=tuple(e["cuda"]),
        cuda_attrs=tuple(sorted(e.get("cuda_attrs", {}).items())),
        torch=e.get("torch"),
        torch_cuda13_broken=e["torch_cuda13_broken"],
        carries=tuple(e.get("carries", [])),
        note=e.get("note", ""),
        torchvision=e.get("torchvision"),
        torchaudio=e.get("torchaudio"),
        fetcher=e["fetcher"],
        hash_source=e.get("hash_source", ""),
        unverified=e.get("unverified", ""),
        torch_patches=tuple(e["torch_patches"]) if "torch_patches" in e else None,
        torchvision_patches=tuple(e["torchvision_patches"]) if "torchvision_patches" in e else None,
        torchaudio_patches=tuple(e["torchaudio_patches"]) if "torchaudio_patches" in e else None,
        apple_sdk=e.get("apple_sdk"),
        apple_sdk_version=e.get("apple_sdk_version"),
    )


def _is_nix32(s: str) -> bool:
    return reach.full(spec.NIX32_SHA256_RE, s)


def _is_sri(s: str) -> bool:
    return reach.full(spec.SRI_SHA256_RE, s)
