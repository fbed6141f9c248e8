"""[[matrix]] blocks -> variants: the cross product of each block, minus excludes, plus overrides.

:func:`expand_block` checks one block's lists and references, forms every combination, drops
those an ``exclude`` matches, applies the block's ``override`` tables in order and names the
variants (``<package>-<python>[-<cuda>]-<target's short form>[-torch<M>_<m>][-<suffix>]``: the target's
short form from :mod:`buildmatrix.targets`, the torch line token when the variant's torch is not of the
``[defaults] torch`` line, :func:`~buildmatrix.model.variant.line_token`).
:func:`apply_overrides` applies the file's top-level [[override]] tables to the result, and
:func:`check_names` checks the names of them all. Every variant made is held to the
variant rules (:mod:`buildmatrix.model.rules`); stale excludes and overrides are problems.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace

from .. import targets
from ..spec import reach
from ..spec import shape as spec
from . import rules
from .collect import Collector
from .entries import Source, Tables
from .matrix import unknown_name_message
from .variant import Variant, line_token, name_core

MAX_NAME = 200  # a variant name is a file name (<name>.nix): file systems allow 255 bytes
LISTS = ("packages", "python", "cuda", "gpu", "isa")
AXIS_OF = {"packages": "package", "python": "python", "cuda": "cuda", "gpu": "gpu", "isa": "isa"}


def check_match(keypath: tuple, match: dict, t: Tables, c: Collector) -> dict[str, set]:
    """A match table (exclude, override match) as key -> accepted values; unknown names are problems."""
    out = {}
    for key, value in match.items():
        values = {value} if isinstance(value, str) else set(value)
        if key == "target":
            table = dict.fromkeys(targets.NAMES)
        elif key in AXIS_OF.values():
            table = t.axis(key)
        else:
            table = None
        if table is not None:
            for v in sorted(values):
                c.ref((*keypath, key), v, table, key, key)
        out[key] = values
    return out


def check_settings(keypath: tuple, table: dict, t: Tables, c: Collector) -> None:
    """References in a settings table (a block, a block override, a global override)."""
    if "pin" in table:
        c.ref((*keypath, "pin"), table["pin"], t.pins, "pin", "pin")
    for key in spec.SOURCE_PACKAGES:
        if key in table and c.ref((*keypath, key), table[key], t.sources, f"{key} source", "source"):
            if t.sources[table[key]].package != key:
                c.problem(
                    (*keypath, key),
                    f"source {table[key]!r} is a {t.sources[table[key]].package} source, not a {key} one",
                    f'name a [source.NAME] with package = "{key}"',
                )


def expand_block(i: int, block: dict, t: Tables, c: Collector) -> list[Variant]:
    """The variants of block ``i`` (none if the block itself has problems)."""
    bpath = ("matrix", i)
    before = len(c)
    name = block["name"]
    lists = {key: block.get(key) for key in LISTS}
    rules.check_block(bpath, block, c.problem)
    for key in ("packages", "python"):
        if not lists[key]:
            c.problem((*bpath, key), f"`{key}` is empty", f"list at least one {key} in block {name!r}")
    for key, axis in AXIS_OF.items():
        for j, value in enumerate(lists[key] or []):
            c.ref((*bpath, key, j), value, t.axis(axis), axis, axis)
        if lists[key] and len(set(lists[key])) != len(lists[key]):
            c.problem((*bpath, key), "lists a value twice", "remove the duplicate")
    excludes = [check_match((*bpath, "exclude", k), ex, t, c) for k, ex in enumerate(block.get("exclude", []))]
    overrides = [
        (check_match((*bpath, "override", k, "match"), ov["match"], t, c), ov) for k, ov in enumerate(block.get("override", []))
    ]
    for k, ov in enumerate(block.get("override", [])):
        check_settings((*bpath, "override", k), ov, t, c)
    check_settings(bpath, block, t, c)
    if len(c) > before:
        return []

    exclude_used = [False] * len(excludes)
    override_used = [False] * len(overrides)
    out: list[Variant] = []
    combos = itertools.product(*(lists[key] or [None] for key in LISTS))
    for pkg, py, cu, gp, isa in combos:
        facts = {"package": pkg, "python": py, "cuda": cu, "gpu": gp, "isa": isa, "target": block["target"]}
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
        v = _variant(facts, block.get("suffix", ""), settings, t, tuple(origin))
        rules.check_variant(v, bpath, c.problem)
        out.append(v)
    for k, used in enumerate(exclude_used):
        if not used:
            c.problem(
                (*bpath, "exclude", k),
                "this exclude matches no combination of the block",
                "remove it (stale excludes hide mistakes)",
            )
    for k, used in enumerate(override_used):
        if not used:
            c.problem((*bpath, "override", k), "this override matches no variant of the block", "fix its `match` or remove it")
    if not out and len(c) == before:
        c.problem(bpath, f"block {name!r} expands to no variants", "remove the block or loosen its excludes")
    return out


def _variant(facts: dict, suffix: str, settings: dict, t: Tables, origin: tuple[str, ...]) -> Variant:
    package = t.packages[facts["package"]]
    python = t.pythons[facts["python"]]
    cuda = t.cudas[facts["cuda"]] if facts["cuda"] else None
    gpu = t.gpus[facts["gpu"]] if facts["gpu"] else None
    isa = t.isas[facts["isa"]] if facts["isa"] else None
    pin = t.pins[settings["pin"]]
    source = t.sources[settings["torch"]] if settings.get("torch") else None
    line = line_token(source.version if source else pin.torch, t.defaults.torch)
    core = _core(name_core(python, targets.of(facts["target"]), cuda, gpu, isa), line, suffix)
    return Variant(
        name=f"{package.name}-{core}",
        package=package,
        python=python,
        target=facts["target"],
        cuda=cuda,
        gpu=gpu,
        isa=isa,
        suffix=suffix,
        line=line,
        pin=pin,
        source=source,
        companion_sources=_companion_sources({}, settings, t),
        custom_description=settings.get("description", ""),
        env=tuple(sorted(settings.get("env", {}).items())),
        cmake_flags=tuple(settings.get("cmake_flags", ())),
        patches=tuple(p for p in t.patches.values() if p.applies(cuda, pin)),
        origin=origin,
        requires=f"{package.requires}-{core}" if package.requires else None,
    )


def _companion_sources(base: dict, settings: dict, t: Tables) -> tuple[tuple[str, Source], ...]:
    """``base`` (attr -> Source) with the companion sources ``settings`` name (torchvision = "…", torchaudio = "…")."""
    out = dict(base)
    out.update({attr: t.sources[settings[attr]] for attr in spec.COMPANIONS if settings.get(attr)})
    return tuple((attr, out[attr]) for attr in spec.COMPANIONS if attr in out)


def _core(core: str, line: str, suffix: str) -> str:
    """The name after ``<package>-``: the name core, then the torch line token and the suffix where there are."""
    return "-".join(part for part in (core, line, suffix) if part)


def apply_overrides(overrides: list[dict], variants: list[Variant], t: Tables, c: Collector) -> list[Variant]:
    """The top-level [[override]] tables applied in order; each changed variant meets the rules again."""
    if not overrides:
        return variants
    clean_so_far = not c.problems
    by_name = {v.name for v in variants}
    before = len(c)
    parsed = []
    for k, ov in enumerate(overrides):
        match = check_match(("override", k, "match"), ov["match"], t, c)
        for n in sorted(match.get("name", ())):
            if n not in by_name and clean_so_far:
                c.problem(("override", k, "match", "name"), f"no variant named {n!r}", unknown_name_message(n, by_name))
        check_settings(("override", k), ov, t, c)
        parsed.append((match, ov))
    if len(c) > before:
        return variants
    used = [False] * len(parsed)
    out = []
    for v in variants:
        for k, (match, ov) in enumerate(parsed):
            if all(v.matches(key, values) for key, values in match.items()):
                used[k] = True
                v = _with_settings(v, ov, t, f"override[{k}]")
                rules.check_variant(v, ("override", k), c.problem)
        out.append(v)
    for k, u in enumerate(used):
        if not u and clean_so_far:
            c.problem(("override", k), "this override matches no variant", "fix its `match` or remove it")
    return out


def _with_settings(v: Variant, ov: dict, t: Tables, origin: str) -> Variant:
    pin = t.pins[ov["pin"]] if "pin" in ov else v.pin
    out = replace(
        v,
        pin=pin,
        source=t.sources[ov["torch"]] if "torch" in ov else v.source,
        companion_sources=_companion_sources(dict(v.companion_sources), ov, t),
        patches=tuple(p for p in t.patches.values() if p.applies(v.cuda, pin)),
        custom_description=ov.get("description", v.custom_description),
        env=tuple(sorted(ov["env"].items())) if "env" in ov else v.env,
        cmake_flags=tuple(ov["cmake_flags"]) if "cmake_flags" in ov else v.cmake_flags,
        origin=(*v.origin, origin),
    )
    line = line_token(out.torch_version, t.defaults.torch)
    if line == v.line:
        return out
    # Another torch line: the name follows it (and so does the name of the torch a torchvision variant imports).
    core = _core(name_core(v.python, v.target_info, v.cuda, v.gpu, v.isa), line, v.suffix)
    requires = f"{v.package.requires}-{core}" if v.package.requires else None
    return replace(out, line=line, name=f"{v.package.name}-{core}", requires=requires)


def check_names(variants: list[Variant], c: Collector) -> dict[str, Variant]:
    """Names unique, short enough for a file name, valid attribute names; returns the variants by name."""
    seen: dict[str, Variant] = {}
    for v in variants:
        if v.name in seen:
            c.problem(
                ("matrix",),
                f"variant {v.name!r} is produced twice ({seen[v.name].origin[0]} and {v.origin[0]})",
                _twice_fix(seen[v.name], v),
            )
        seen[v.name] = v
        if len(v.name) > MAX_NAME:
            c.problem(
                origin_path(v),
                f"variant name {v.name[:40]}… is {len(v.name)} characters long (at most {MAX_NAME}: it is a file name)",
                "shorten the suffix or the names of the entries it is made of",
            )
        elif not reach_name(v.name):
            c.problem(
                ("matrix",),
                f"variant name {v.name!r} is not a valid attribute name",
                f"names must match {spec.NAME_RE} (no dots)",
            )
    return seen


def _twice_fix(first: Variant, second: Variant) -> str:
    lines = {first.torch_line, second.torch_line}
    if len(lines) == 1 or None in lines:
        return "remove the overlap between the blocks (or give one a suffix)"
    return (
        f"they build torch {first.torch_version} and {second.torch_version}: name the default torch line in "
        "[defaults] torch (the other line's names then carry -torch<M>_<m>), or give one block a suffix"
    )


def origin_path(v: Variant) -> tuple:
    """The key path of the block that made ``v``: ``("matrix", 2)``."""
    m = re.fullmatch(r"matrix\[(\d+)\] .*", v.origin[0], re.S)
    return ("matrix", int(m.group(1))) if m else ("matrix",)


def reach_name(name: str) -> bool:
    return reach.full(spec.NAME_RE, name)


def _match_facts(match: dict[str, set], facts: dict) -> bool:
    return all(facts.get(key) in values for key, values in match.items())
