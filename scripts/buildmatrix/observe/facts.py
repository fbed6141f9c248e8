"""Which facts of a pinned nixpkgs tree the recipes rest on, and reading them from the tree itself.

A fact is what a recipe asserts about its pin (:mod:`buildmatrix.recipes.pinfacts`): the same
Nix expression over ``pinned`` (the tree imported with no overlays), the same value variants.toml
believes, and the variants whose recipes assert it. Pin keys no recipe asserts are read too (at
x86_64-linux, without CUDA where none is needed), with no variant affected. Nothing here writes
outside the temporary directory :func:`read` makes.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..recipes import nix, pinfacts, render

# "[pin.NAME] field" or "[pin.NAME] carries (patch)": the pin key a fact corrects.
_PIN_KEY = re.compile(r"\[pin\.[^\]]+\] ([a-z_0-9]+)(?: \((.+)\))?")
REFERENCE_SYSTEM = "x86_64-linux"  # where a fact no recipe asserts is read


@dataclass(frozen=True)
class Config:
    """How a recipe imports its pinned tree: the system it evaluates for and its nixpkgs config."""

    system: str
    cuda: bool = False
    allow_broken: bool = False

    def nix(self) -> str:
        flags = "".join(
            f" {k} = {'true' if on else 'false'};" for k, on in (("cudaSupport", self.cuda), ("allowBroken", self.allow_broken))
        )
        return f"{{ system = {nix.string(self.system)}; config = {{ allowUnfree = true;{flags} }}; overlays = [ ]; }}"


@dataclass
class Fact:
    """One belief about one pin's tree, as the recipes that rest on it assert it."""

    pin: str  # the [pin.NAME]
    key: str  # the variants.toml key to correct, as the recipes' messages name it
    what: str  # what is compared, in nixpkgs' words
    expr: str  # Nix expression over `pinned` (and `patchName`)
    value: Any  # what variants.toml believes
    config: Config
    variants: list[str] = field(default_factory=list)
    tree: Any = None  # what the tree says, once read
    error: str = ""  # why it could not be read

    @property
    def field(self) -> str | None:
        """The [pin.*] key this fact corrects (``torch``, ``carries``, ...); None for a [python.*] fact."""
        found = _PIN_KEY.fullmatch(self.key)
        return found.group(1) if found else None

    @property
    def patch(self) -> str | None:
        """For ``carries (NAME)``: the [patch.NAME]."""
        found = _PIN_KEY.fullmatch(self.key)
        return found.group(2) if found else None

    @property
    def read(self) -> bool:
        return not self.error

    @property
    def agrees(self) -> bool:
        """Read and equal to the belief; a fact no recipe asserts that cannot be read disagrees with nothing."""
        return _same(self.value, self.tree) if self.read else not self.variants

    def as_dict(self) -> dict:
        return {
            "pin": self.pin,
            "key": self.key,
            "what": self.what,
            "says": self.value,
            "tree": self.tree if self.read else None,
            "error": self.error or None,
            "agrees": self.agrees,
            "system": self.config.system,
            "variants": len(self.variants),
        }


def _same(believed: Any, tree: Any) -> bool:
    if isinstance(believed, (list, tuple)) and isinstance(tree, list):
        return list(believed) == tree
    return believed == tree


def collect(m, pin_names: list[str]) -> list[Fact]:
    """Every fact of these pins: those the recipes assert (one per key, expression and belief,
    read for the first config, x86_64-linux first, that asserts it), then the pin keys none asserts."""
    facts: dict[tuple, Fact] = {}
    wanted = set(pin_names)
    for v in sorted(m.variants, key=lambda x: (x.platform != REFERENCE_SYSTEM, x.platform, x.name)):
        if v.pin.name not in wanted:
            continue
        py = nix.attr_name(v.python.attr)
        cuda = nix.attr_name(v.pin.cuda_attr(v.cuda)) if v.cuda else None
        found = pinfacts.companion_assertions(m, v, py) if v.requires else pinfacts.torch_assertions(m, v, py, cuda)
        for a in found:
            ident = (v.pin.name, a.key, a.actual, json.dumps(a.value))
            if ident not in facts:
                cfg = Config(v.platform, v.cuda is not None, v.allow_broken)
                facts[ident] = Fact(v.pin.name, a.key, a.what, a.actual, _plain(a.value), cfg)
            facts[ident].variants.append(v.name)
    out = list(facts.values())
    for name in pin_names:
        used = {f.field for f in out if f.pin == name}
        out += [f for f in _unasserted(m, m.pins[name]) if f.field not in used]
    return sorted(out, key=lambda f: (pin_names.index(f.pin), f.key, f.config.system, f.expr))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _unasserted(m, pin) -> list[Fact]:
    """The pin's keys read at x86_64-linux, as a recipe there would read them (none asserts them)."""
    key = f"[pin.{pin.name}]"
    plain, cuda = Config(REFERENCE_SYSTEM), Config(REFERENCE_SYSTEM, cuda=True)
    out = []
    for attr in ("torch", "torchvision", "torchaudio"):
        if pin.version_of(attr):
            expr = f"pinned.python3Packages.{attr}.version"
            out.append(Fact(pin.name, f"{key} {attr}", f"python3Packages.{attr}.version", expr, pin.version_of(attr), plain))
    for version in pin.cuda:
        where = "cuda_attrs" if version in dict(pin.cuda_attrs) else "cuda"
        attr = nix.attr_name(dict(pin.cuda_attrs).get(version, "cudaPackages_" + version.replace(".", "_")))
        expr = f"pinned.{attr}.cudaMajorMinorVersion"
        out.append(Fact(pin.name, f"{key} {where}", f"{attr}.cudaMajorMinorVersion", expr, version, cuda))
    for attr in ("torch", "torchvision", "torchaudio"):
        names = pin.patches_of(attr)
        if names is None:
            continue
        cfg = cuda if pin.cuda else plain
        added = sorted(n for n in names if m.nixpkgs_patches[n].when in ("always", "linux") + (("cuda",) if cfg.cuda else ()))
        expr = f"builtins.sort builtins.lessThan (map patchName (pinned.python3Packages.{attr}.patches or [ ]))"
        out.append(Fact(pin.name, f"{key} {attr}_patches", f"the names of python3Packages.{attr}.patches", expr, added, cfg))
    cuda13 = [c for c in pin.cuda if int(c.split(".")[0]) >= 13]  # else the alias, which may not exist here
    attr = nix.attr_name(dict(pin.cuda_attrs).get(cuda13[0], "cudaPackages_" + cuda13[0].replace(".", "_"))) if cuda13 else "cudaPackages_13"
    if attr:
        expr = f'(pinned.python3Packages.torch.override {{ cudaSupport = true; cudaPackages = pinned.{attr}; }}).brokenConditions ? "Unsupported CUDA version"'
        what = f'whether python3Packages.torch with {attr} lists "Unsupported CUDA version"'
        out.append(Fact(pin.name, f"{key} torch_cuda13_broken", what, expr, pin.torch_cuda13_broken, Config(REFERENCE_SYSTEM, True, True)))
    for p in m.patches.values():
        if p.nixpkgs_name:
            expr = f"builtins.elem {nix.string(p.nixpkgs_name)} (map patchName (pinned.{nix.attr_name(p.package)}.patches or [ ]))"
            what = f"whether {p.package}.patches holds {p.nixpkgs_name}"
            out.append(Fact(pin.name, f"{key} carries ({p.name})", what, expr, p.name in pin.carries, cuda))
    if pin.apple_sdk:
        sdk = nix.attr_name(pin.apple_sdk)
        darwin = Config("aarch64-darwin")
        out.append(Fact(pin.name, f"{key} apple_sdk", f"whether {pin.apple_sdk} exists", f"pinned ? {sdk}", True, darwin))
        if pin.apple_sdk_version:
            what, expr = f"the major version of {pin.apple_sdk}", f"pinned.lib.versions.major pinned.{sdk}.version"
            out.append(Fact(pin.name, f"{key} apple_sdk_version", what, expr, pin.apple_sdk_version, darwin))
    return out


# ------------------------------------------------------------------ reading


def _driver(tree: Path, lib: Path, facts: list[Fact]) -> str:
    body = "\n".join(
        f"  {nix.string(str(i))} = let pinned = import tree {f.config.nix()}; in\n{f.expr};" for i, f in enumerate(facts)
    )
    return (
        f"let\n  tree = {_path(tree)};\n  inherit (import {_path(lib)}) patchName;\nin\n{{\n{body}\n}}\n"
    )


def _path(p: Path) -> str:
    """A Nix path expression for ``p`` (any characters: a string made a path)."""
    return f"(/. + {nix.string(str(Path(p).resolve()))})"


def read(tree: Path, facts: list[Fact], nix_instantiate: str, env: dict[str, str]) -> None:
    """Fill each fact's ``tree`` (or ``error``) from ``tree`` (a directory whose default.nix is nixpkgs').

    One evaluation for all; if it fails, halves until each failing fact stands alone with its error."""
    if not (Path(tree) / "default.nix").is_file():
        raise UsageError(f"{tree}: no default.nix at the top of the unpacked tree; is it a nixpkgs tarball?")
    with tempfile.TemporaryDirectory(prefix="buildmatrix-observe-") as tmp:
        lib = Path(tmp) / "recipe-lib.nix"
        lib.write_text(render.render_lib(), encoding="utf-8")
        _read(Path(tmp), Path(tree), lib, facts, nix_instantiate, env)


def _read(tmp: Path, tree: Path, lib: Path, facts: list[Fact], exe: str, env: dict[str, str]) -> None:
    if not facts:
        return
    expr = tmp / "observe.nix"
    expr.write_text(_driver(tree, lib, facts), encoding="utf-8")
    proc = subprocess.run([exe, "--eval", "--strict", "--json", str(expr)], capture_output=True, text=True, env=env)
    if proc.returncode == 0:
        values = json.loads(proc.stdout)
        for i, f in enumerate(facts):
            f.tree = values[str(i)]
        return
    if len(facts) == 1:
        from ..nixeval import run as nixrun

        text = " ".join(nixrun.error_text(proc.stderr).split()).removeprefix("error: ")
        facts[0].error = (text[:300] + ("…" if len(text) > 300 else "")) or f"nix-instantiate exit {proc.returncode}"
        return
    half = len(facts) // 2
    _read(tmp, tree, lib, facts[:half], exe, env)
    _read(tmp, tree, lib, facts[half:], exe, env)
