"""Facts about the nixpkgs pins that recipes rest on: hashes and their provenance, nixpkgs' own
patches decided by name, and the assertions a recipe makes about its pin when evaluated.

variants.toml states beliefs about each pinned nixpkgs tree (its torch, torchvision and torchaudio versions,
its patches, whether its MAGMA carries the CUDA 13 fix, which CUDA release an attribute is, the
Apple SDK it has). A recipe decides what to do from them; this module turns each belief the
recipe rests on into an assertion the recipe checks against the tree itself at evaluation, with
a message naming the variants.toml key to correct and showing both values.

Nothing here writes to disk; ``model`` calls :func:`check` while loading (the per-variant pin
rules, such as ``pin-torch-patches``, are in :mod:`buildmatrix.model.rules`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import nix, spec

if TYPE_CHECKING:  # pragma: no cover
    from .model import Matrix, Pin, Source, Variant

# nixpkgs deletes PyTorch's cmake/Modules/FindCUDAToolkit.cmake when building with CUDA, and
# this patch of its own makes the build cope; a recipe that drops it writes a stub instead.
FIND_CUDA_TOOLKIT_PATCH = "fix-cmake-cuda-toolkit.patch"
# The fake hash nixpkgs' fetchers use for an empty one (lib.fakeHash): the fetch fails and prints the real hash.
FAKE_HASH = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def nixpkgs_adds(when: str, v: Variant) -> bool:
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

    def added_for(self, v: Variant) -> bool:
        """Whether nixpkgs adds it to this variant's package (the condition in its expression)."""
        return nixpkgs_adds(self.when, v)

    def kept_for(self, v: Variant) -> bool:
        return v.platform in self.keep_on


def load_nixpkgs_patches(raw: dict) -> dict[str, NixpkgsPatch]:
    return {n: NixpkgsPatch(n, e["package"], e["when"], tuple(e["keep_on"]), e["reason"], e["source"]) for n, e in raw.items()}


# ------------------------------------------------------------------- load checks

Problem = Callable[..., None]


def _check_provenance(where: tuple, hash_key: str, value: str, table: dict, fix: str, problem: Problem) -> None:
    if value:
        if not table.get("hash_source"):
            problem(
                (*where, "hash_source"),
                f"`{hash_key}` is set but nothing says where it comes from",
                'add `hash_source = "..."` naming the public source or the `invoke pin` run that computed it',
            )
        if table.get("unverified"):
            problem(
                (*where, "unverified"),
                f"`{hash_key}` is recorded, so it cannot also be declared unverified",
                "remove `unverified` (or empty the hash if it is not trustworthy)",
            )
    else:
        if not table.get("unverified"):
            problem(
                (*where, hash_key),
                f"`{hash_key}` is empty and the entry is not declared unverified",
                f'fill it ({fix}) or add `unverified = "<why no trustworthy hash exists>"`',
            )
        if table.get("hash_source"):
            problem(
                (*where, "hash_source"), f"`hash_source` names a source for an empty `{hash_key}`", "remove it or fill the hash"
            )


def check(raw: dict, pins: dict, sources: dict, patches: dict, nixpkgs_patches: dict, problem: Problem) -> None:
    """Provenance of every hash; every nixpkgs patch a pin lists is decided; carried fixes are nameable."""
    for n, e in raw["pin"].items():
        _check_provenance(("pin", n), "sha256", e["sha256"], e, f"`invoke pin {n}`", problem)
        for package in spec.SOURCE_PACKAGES:
            key = f"{package}_patches"
            for i, name in enumerate(e.get(key, [])):
                decided = nixpkgs_patches.get(name)
                if decided is None:
                    problem(
                        ("pin", n, key, i),
                        f"nixpkgs patch {name!r} is listed for this pin but not decided",
                        f'add [nixpkgs_patch."{name}"] with package = "{package}", when, keep_on, reason and source',
                    )
                elif decided.package != package:
                    problem(
                        ("pin", n, key, i),
                        f'[nixpkgs_patch."{name}"] is a {decided.package} patch, listed here as a {package} one',
                        "fix its `package` or move the name to the other list",
                    )
        for i, carried in enumerate(e.get("carries", [])):
            if carried in patches and not patches[carried].nixpkgs_name:
                problem(
                    ("pin", n, "carries", i),
                    f"patch {carried!r} has no `nixpkgs_name`, so the recipes cannot check that this pin carries it",
                    f'add `nixpkgs_name = "<file name>"` to [patch.{carried}] (the name of the fix among nixpkgs\' own patches)',
                )
    for n, e in raw.get("source", {}).items():
        _check_provenance(("source", n), "hash", e["hash"], e, f"`invoke pin --source {n}`", problem)
        wants = "fetchFromGitHub+submodules" if e["fetch_submodules"] else "fetchFromGitHub"
        if e["fetcher"] != wants:
            problem(
                ("source", n, "fetcher"),
                f"fetcher = {e['fetcher']!r} disagrees with fetch_submodules = {str(e['fetch_submodules']).lower()}",
                f'a hash is valid for one fetch only: use fetcher = "{wants}" or change fetch_submodules (and re-pin the hash)',
            )


# ------------------------------------------------------------- unverified fetches


def unverified(m: Matrix) -> dict[str, list[str]]:
    """Variant name -> the unverified pins / sources its build fetches (with its torch's), in file order."""
    out: dict[str, list[str]] = {}
    for v in m.variants:
        t = m.torch_variant(v) if v.requires else v
        why = []
        if not v.pin.sha256:
            why.append(f"pin {v.pin.name}")
        if t.source and not t.source.hash:
            why.append(f"source {t.source.name}")
        if v.companion_source and not v.companion_source.hash:
            why.append(f"source {v.companion_source.name}")
        if why:
            out[v.name] = why
    return out


def fill_command(what: str) -> str:
    kind, name = what.split(" ", 1)
    return f"invoke pin {name}" if kind == "pin" else f"invoke pin --source {name}"


def unverified_groups(m: Matrix) -> list[tuple[tuple[str, ...], list[str]]]:
    """(unverified things, variants) groups: every affected variant in exactly one group."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, why in unverified(m).items():
        groups.setdefault(tuple(why), []).append(name)
    return sorted(groups.items())


def unverified_warnings(m: Matrix) -> list[str]:
    """One short warning for every command; `invoke gen` prints the groups (:func:`unverified_report`)."""
    groups = unverified_groups(m)
    if not groups:
        return []
    total = sum(len(names) for _, names in groups)
    counts = Counter(w for why, names in groups for w in why for _ in names)
    parts = ", ".join(f"{w} ({n})" for w, n in sorted(counts.items()))
    return [
        f"{total} variant(s) fetch a pin or source declared unverified ({parts}); "
        "`invoke gen` groups them, `invoke gen --json` names them all, and docs/BUILD_MATRIX.md#unverified-fetches "
        "counts them per torch line"
    ]


def unverified_report(m: Matrix, limit: int | None = 3) -> list[str]:
    """What `invoke gen` prints: each group of variants by what it fetches unverified, with its fill command.

    A group names its first ``limit`` variants and counts the rest (``None``: every affected
    variant, each once); `invoke gen --json` carries the full lists (:func:`unverified`).
    """
    groups = unverified_groups(m)
    if not groups:
        return []
    total = sum(len(names) for _, names in groups)
    lines = [
        f"unverified: {total} variant(s) fetch a pin or source without a trustworthy hash; their recipes carry a fake "
        "hash, so the first real build stops at that fetch and prints the real one (record it with the command, "
        "adding `--hash <printed hash>`):"
    ]
    for why, names in groups:
        cmds = "; ".join(f"`{fill_command(w)}`" for w in why)
        shown = names if limit is None else names[:limit]
        more = f", … and {len(names) - len(shown)} more" if len(shown) < len(names) else ""
        lines.append(f"  {' + '.join(why)} ({len(names)}, fill with {cmds}): {', '.join(shown)}{more}")
    return lines


# -------------------------------------------------------------- recipe decisions


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
    the anchor's torch 2.9.1 CUDA 13.0 recipes on 0182a36 are (no shim; anchor-lines.md 1.6).
    """
    return v.cuda is not None and v.cuda.major >= 13 and v.source is not None and not v.requires


@dataclass(frozen=True)
class Assertion:
    """One pin fact checked when the recipe is evaluated: ``actual`` is a Nix expression over ``pinned``."""

    key: str  # the variants.toml key to correct
    what: str  # what is compared, in words a maintainer can look up in nixpkgs
    actual: str  # Nix expression
    expected: str  # Nix literal

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
        out.append(
            Assertion(
                f"{key} torch", f"{python_attr}.torch.version", f"pinned.{python_attr}.torch.version", _nix_value(pin.torch)
            )
        )
    py_key = f'[python."{v.python.version}"]'
    out.append(
        Assertion(
            f"{py_key} (attribute {python_attr})",
            f"{python_attr}.python.pythonVersion",
            f"pinned.{python_attr}.python.pythonVersion",
            _nix_value(v.python.version),
        )
    )
    if v.cuda:
        where = "cuda_attrs" if v.cuda.version in dict(pin.cuda_attrs) else "cuda"
        out.append(
            Assertion(
                f"{key} {where}",
                f"{cuda_attr}.cudaMajorMinorVersion",
                f"pinned.{cuda_attr}.cudaMajorMinorVersion",
                _nix_value(v.cuda.version),
            )
        )
    if v.cuda and v.cuda.major >= 13:
        # allowBroken rests on it: the pin's own torch lists this CUDA major among its brokenConditions.
        out.append(
            Assertion(
                f"{key} torch_cuda13_broken",
                f'whether {python_attr}.torch with {cuda_attr} lists "Unsupported CUDA version"',
                f"(pinned.{python_attr}.torch.override {{ cudaSupport = true; cudaPackages = pinned.{cuda_attr}; }})"
                '.brokenConditions ? "Unsupported CUDA version"',
                _nix_value(pin.torch_cuda13_broken),
            )
        )
    if v.source and pin.torch_patches is not None:
        names = sorted(p.name for p, _ in torch_patch_decisions(m, v))
        out.append(
            Assertion(
                f"{key} torch_patches",
                f"the names of {python_attr}.torch.patches",
                _sorted_names(f"pinned.{python_attr}.torch.patches or [ ]"),
                _nix_value(names),
            )
        )
    for p in m.patches.values():
        if p.nixpkgs_name and p.wanted_by(v.cuda):  # wanted only with a CUDA
            out.append(
                Assertion(
                    f"{key} carries ({p.name})",
                    f"whether {p.package}.patches holds {p.nixpkgs_name}",
                    f"builtins.elem {nix.string(p.nixpkgs_name)} (map patchName (pinned.{nix.attr_name(p.package)}.patches or [ ]))",
                    _nix_value(p.name in pin.carries),
                )
            )
    if v.target_info.os == "darwin" and pin.apple_sdk:
        out.append(
            Assertion(f"{key} apple_sdk", f"whether {pin.apple_sdk} exists", f"pinned ? {nix.attr_name(pin.apple_sdk)}", "true")
        )
        if pin.apple_sdk_version:
            out.append(
                Assertion(
                    f"{key} apple_sdk_version",
                    f"the major version of {pin.apple_sdk}",
                    f"pinned.lib.versions.major pinned.{nix.attr_name(pin.apple_sdk)}.version",
                    _nix_value(pin.apple_sdk_version),
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
        out.append(Assertion(f"{key} {attr}", f"{pkg}.version", f"pinned.{pkg}.version", _nix_value(pin.version_of(attr))))
    if v.companion_source and pin.patches_of(attr) is not None:
        names = sorted(p.name for p, _ in companion_patch_decisions(m, v))
        out.append(
            Assertion(
                f"{key} {attr}_patches",
                f"the names of {pkg}.patches",
                _sorted_names(f"pinned.{pkg}.patches or [ ]"),
                _nix_value(names),
            )
        )
    return out


def fetch_hash(value: str) -> str:
    """What a recipe writes for a hash: the recorded one, else the fake one (the first fetch prints the real)."""
    return value or FAKE_HASH


def source_is_unverified(s: Source | None) -> bool:
    return bool(s) and not s.hash


def pin_is_unverified(p: Pin) -> bool:
    return not p.sha256
