"""The hardware and pairing rules: what makes a combination of variants.toml entries impossible.

Each rule is a function registered with :func:`rule` under a stable kebab-case id, with a
one-line docstring (its summary) and the variants.toml keys it reads. Every message a rule
reports ends in ``[rule: ID]``, so a refused combination can be looked up in
docs/variants.md ("Hardware and pairing rules", generated from :data:`RULES`). Ids are part
of the interface: rename one only together with the docs, never reuse one.

Scopes: ``block`` rules see one [[matrix]] block before it expands, ``variant`` rules see
each variant as it is made (and again after a global [[override]]), ``pair`` rules see a
variant that reuses another's torch next to that variant (or None if it is missing).
Rules only report; what to do about a problem is the collector's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from packaging.version import Version

from .. import targets
from .variant import Variant

Problem = Callable[[tuple, str, str], None]
SCOPES = ("block", "variant", "pair")


@dataclass(frozen=True, kw_only=True)
class Rule:
    id: str
    summary: str
    scope: str  # one of SCOPES
    keys: tuple[str, ...]  # the variants.toml keys involved, as "table.key" of spec.SPECS
    check: Callable[..., None]

    def tag(self, message: str) -> str:
        return f"{message} [rule: {self.id}]"


RULES: dict[str, Rule] = {}


def rule(rule_id: str, *, scope: str, keys: tuple[str, ...]) -> Callable:
    """Register the decorated check as rule ``rule_id``; its docstring's first line is the summary."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        if rule_id in RULES:
            raise ValueError(f"rule id {rule_id!r} is registered twice")
        if scope not in SCOPES:
            raise ValueError(f"rule {rule_id!r}: unknown scope {scope!r}")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        if not summary:
            raise ValueError(f"rule {rule_id!r} needs a docstring (its summary in the docs)")
        RULES[rule_id] = Rule(id=rule_id, summary=summary, scope=scope, keys=keys, check=fn)
        return fn

    return register


class Report:
    """What a check calls: ``report(key, message, fix)``; the key is below the place being checked."""

    def __init__(self, r: Rule, where: tuple, problem: Problem):
        self.rule, self.where, self.problem = r, where, problem

    def __call__(self, key: str | None, message: str, fix: str) -> None:
        self.problem((*self.where, key) if key else self.where, self.rule.tag(message), fix)


def _scoped(scope: str) -> Iterable[Rule]:
    return (r for r in RULES.values() if r.scope == scope)


def check_block(bpath: tuple, block: dict, problem: Problem) -> None:
    """The block rules for [[matrix]] block ``block`` at ``bpath``."""
    for r in _scoped("block"):
        r.check(block, Report(r, bpath, problem))


def check_variant(v: Variant, where: tuple, problem: Problem) -> None:
    """The variant rules for ``v``; ``where`` is the block or override that made it."""
    for r in _scoped("variant"):
        r.check(v, Report(r, where, problem))


def check_pair(v: Variant, base: Variant | None, where: tuple, problem: Problem) -> None:
    """The pair rules for ``v`` (which reuses a torch) and ``base``, the variant it names (None: missing)."""
    for r in _scoped("pair"):
        r.check(v, base, Report(r, where, problem))


# PyTorch's release pairing: the companion series that goes with torch 2.N, by package attribute.
PAIRED_SERIES: dict[str, Callable[[int], str]] = {
    "torchvision": lambda n: f"0.{n + 15}",
    "torchaudio": lambda n: f"2.{n}",
}


def paired_release(attr: str, torch_version: str) -> str | None:
    """The ``attr`` release series PyTorch pairs with a torch 2.x release (None: no rule for it)."""
    m = re.fullmatch(r"2\.(\d+)\..*", torch_version, re.S)
    series = PAIRED_SERIES.get(attr)
    return series(int(m.group(1))) if m and series else None


def paired_torchvision(torch_version: str) -> str | None:
    """The torchvision release series PyTorch pairs with a torch 2.x release: 2.N -> 0.(N+15)."""
    return paired_release("torchvision", torch_version)


def paired_torchaudio(torch_version: str) -> str | None:
    """The torchaudio release series PyTorch pairs with a torch 2.x release: 2.N -> 2.N."""
    return paired_release("torchaudio", torch_version)


# ------------------------------------------------------------------------- block


@rule("target-axes", scope="block", keys=("matrix.target", "matrix.cuda", "matrix.gpu", "matrix.isa"))
def _target_axes(block: dict, report: Report) -> None:
    """A block lists exactly the hardware axes its target uses (cuda: cuda, gpu, isa; cpu: isa; mps: none)."""
    target, name = targets.of(block["target"]), block["name"]
    for key in targets.AXES:
        if key in target.axes and not block.get(key):
            report(key, f"a {target.name} block needs a non-empty `{key}` list", f"add `{key} = [...]` to block {name!r}")
        if key not in target.axes and block.get(key):
            other = targets.with_axis(key)[0].name
            report(
                key,
                f"a {target.name} block cannot have `{key}`",
                f'remove `{key}` from block {name!r} (or set target = "{other}")',
            )


# ----------------------------------------------------------------------- variant


@rule("cuda-gpu-range", scope="variant", keys=("gpu.min_cuda", "gpu.max_cuda", "matrix.cuda", "matrix.exclude"))
def _cuda_gpu_range(v: Variant, report: Report) -> None:
    """The CUDA version can compile for the GPU: `min_cuda` ≤ CUDA ≤ `max_cuda`."""
    gpu, cuda = v.gpu, v.cuda
    if gpu is None or cuda is None:
        return
    combo = f"{gpu.name} × CUDA {cuda.version}"
    fix = f'exclude {{ gpu = "{gpu.name}", cuda = "{cuda.version}" }} or drop {cuda.version} from the block'
    if cuda.v < Version(gpu.min_cuda):
        report("cuda", f"{combo}: CUDA {cuda.version} is too old for {gpu.name} (needs ≥ {gpu.min_cuda})", fix)
    if gpu.max_cuda and cuda.v > Version(gpu.max_cuda):
        report("cuda", f"{combo}: CUDA {cuda.version} dropped {gpu.name} (last supported: {gpu.max_cuda})", fix)


@rule("gpu-platform", scope="variant", keys=("gpu.platforms", "isa.platform", "matrix.exclude"))
def _gpu_platform(v: Variant, report: Report) -> None:
    """The GPU exists on the ISA's platform (sm110 and sm121 are aarch64-linux only)."""
    gpu, isa = v.gpu, v.isa
    if gpu is not None and isa is not None and isa.platform not in gpu.platforms:
        report(
            "isa",
            f"{gpu.name} × {isa.name}: {gpu.name} exists only on {', '.join(gpu.platforms)} but {isa.name} is {isa.platform}",
            f'exclude {{ gpu = "{gpu.name}", isa = "{isa.name}" }}',
        )


@rule("gpu-isas", scope="variant", keys=("gpu.isas", "matrix.exclude"))
def _gpu_isas(v: Variant, report: Report) -> None:
    """A GPU that lists `isas` is built only with those ISAs."""
    gpu, isa = v.gpu, v.isa
    if gpu is None or isa is None or isa.platform not in gpu.platforms:
        return  # gpu-platform reports that one
    if gpu.isas is not None and isa.name not in gpu.isas:
        report(
            "isa",
            f"{gpu.name} × {isa.name}: {gpu.name} is built only with {', '.join(gpu.isas)}",
            f'exclude {{ gpu = "{gpu.name}", isa = "{isa.name}" }}',
        )


@rule("pin-cuda", scope="variant", keys=("pin.cuda", "matrix.pin", "override.pin"))
def _pin_cuda(v: Variant, report: Report) -> None:
    """The variant's pin provides a package set for its CUDA version."""
    if v.cuda is not None and v.cuda.version not in v.pin.cuda:
        report(
            "pin",
            f"pin {v.pin.name} has no CUDA {v.cuda.version} package set (it has {', '.join(v.pin.cuda) or 'none'})",
            "use a pin that provides it (override pin for that CUDA version)",
        )


def _companion_patches_listed(attr: str, v: Variant, report: Report) -> None:
    """A source override of companion ``attr`` needs the pin's ``<attr>_patches``."""
    if v.requires and v.package.attr == attr and v.companion_source and v.pin.patches_of(attr) is None:
        report(
            attr,
            f"{v.name}: pin {v.pin.name} does not list `{attr}_patches`, so its patches cannot be decided by name",
            f"add `{attr}_patches = [...]` (nixpkgs' {attr} patch names at {v.pin.short}) to [pin.{v.pin.name}]",
        )


@rule("pin-torchvision-patches", scope="variant", keys=("pin.torchvision_patches", "matrix.torchvision"))
def _pin_torchvision_patches(v: Variant, report: Report) -> None:
    """A torchvision source override needs the pin's `torchvision_patches`, to decide each by name."""
    _companion_patches_listed("torchvision", v, report)


@rule("pin-torchaudio-patches", scope="variant", keys=("pin.torchaudio_patches", "matrix.torchaudio"))
def _pin_torchaudio_patches(v: Variant, report: Report) -> None:
    """A torchaudio source override needs the pin's `torchaudio_patches`, to decide each by name."""
    _companion_patches_listed("torchaudio", v, report)


@rule("pin-torch-patches", scope="variant", keys=("pin.torch_patches", "matrix.torch"))
def _pin_torch_patches(v: Variant, report: Report) -> None:
    """A torch source override needs the pin's `torch_patches`, to decide each by name."""
    if not v.requires and v.source and v.pin.torch_patches is None:
        report(
            "torch",
            f"{v.name}: pin {v.pin.name} does not list `torch_patches`, so its patches cannot be decided by name",
            f"add `torch_patches = [...]` (nixpkgs' torch patch names at {v.pin.short}) to [pin.{v.pin.name}]",
        )


@rule("pin-apple-sdk", scope="variant", keys=("pin.apple_sdk", "pin.apple_sdk_version"))
def _pin_apple_sdk(v: Variant, report: Report) -> None:
    """A darwin torch build names its pin's Apple SDK, so the pin records `apple_sdk`."""
    if v.target_info.os == "darwin" and not v.requires and not v.pin.apple_sdk:
        report(
            "pin",
            f"{v.name}: pin {v.pin.name} records no `apple_sdk` for the darwin build",
            f'add `apple_sdk = "apple-sdk_NN"` and `apple_sdk_version = "NN"` to [pin.{v.pin.name}]',
        )


@rule("torch-version-known", scope="variant", keys=("pin.torch", "matrix.torch"))
def _torch_version_known(v: Variant, report: Report) -> None:
    """The torch version is known: from the torch source, else from the pin's `torch`."""
    if v.source is None and v.pin.torch is None:
        report(
            "pin",
            f"{v.name}: the torch version of pin {v.pin.name} is unknown and no torch source is set",
            'set `torch = "<source>"` for these variants, or record the pin\'s `torch` version',
        )


@rule("target-isa-platform", scope="variant", keys=("isa.platform", "matrix.isa", "matrix.target"))
def _target_isa_platform(v: Variant, report: Report) -> None:
    """The ISA's platform is of the target's system: cuda and cpu variants are Linux builds."""
    t, isa = v.target_info, v.isa
    if isa is not None and not isa.platform.endswith("-" + t.os):
        elsewhere = sorted({o.os for o in targets.TARGETS.values()} - {t.os})
        only = "; ".join(
            f"{os} has only the {', '.join(o.name for o in targets.TARGETS.values() if o.os == os)} target" for os in elsewhere
        )
        report(
            "isa",
            f"{isa.name} is a {isa.platform} ISA; {t.name} variants are {_os_title(t.os)} builds",
            f"use a {_os_title(t.os)} ISA" + (f" ({only})" if only else ""),
        )


def _os_title(os: str) -> str:
    return {"linux": "Linux", "darwin": "macOS"}.get(os, os)


# -------------------------------------------------------------------------- pair


@rule("shared-torch-built", scope="pair", keys=("package.requires", "matrix.packages"))
def _shared_torch_built(v: Variant, base: Variant | None, report: Report) -> None:
    """A package that `requires` another reuses its torch, so the matrix builds that variant too."""
    if base is None:
        report(
            None,
            f"{v.name} shares the torch of {v.requires}, which the matrix does not build",
            f"add {v.package.requires!r} to the packages of {v.origin[0]}",
        )


def _companion_pairs(attr: str, v: Variant, base: Variant | None, report: Report) -> None:
    """A known version of companion ``attr`` is of the series paired with the variant's torch."""
    have = v.version_of(attr) if base is not None else None
    paired = paired_release(attr, v.torch_version)
    if have and paired and not have.startswith(paired + "."):
        report(
            None,
            f"{v.name}: {attr} {have} does not pair with torch {v.torch_version} (it needs {paired}.x)",
            f'set `{attr} = "<source>"` to a {attr} {paired} source for this block',
        )


@rule("torchvision-pairs-torch", scope="pair", keys=("source.version", "pin.torchvision", "matrix.torchvision"))
def _torchvision_pairs_torch(v: Variant, base: Variant | None, report: Report) -> None:
    """torchvision 0.(N+15).x goes with torch 2.N (PyTorch's release pairing)."""
    _companion_pairs("torchvision", v, base, report)


@rule("torchaudio-pairs-torch", scope="pair", keys=("source.version", "pin.torchaudio", "matrix.torchaudio"))
def _torchaudio_pairs_torch(v: Variant, base: Variant | None, report: Report) -> None:
    """torchaudio 2.N.x goes with torch 2.N (PyTorch's release pairing)."""
    _companion_pairs("torchaudio", v, base, report)


@rule("shared-torch-same", scope="pair", keys=("matrix.pin", "matrix.torch", "matrix.env", "matrix.cmake_flags"))
def _shared_torch_same(v: Variant, base: Variant | None, report: Report) -> None:
    """A variant that reuses a torch has the same torch settings (pin, torch source, env, cmake_flags)."""
    if base is not None and v.torch_key != base.torch_key:
        report(
            None,
            f"{v.name} would need a torch different from {base.name} (pin, torch source, env or cmake_flags differ)",
            "set torch-related settings for both packages alike (torch is built once and shared)",
        )
