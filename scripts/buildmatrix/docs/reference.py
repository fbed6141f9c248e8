"""docs/variants.md regions: ``key-reference`` and ``matrix-blocks`` from :mod:`buildmatrix.spec.shape`, ``hardware-rules``
from :data:`buildmatrix.model.rules.RULES`."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from ..model import RULES, Variant
from ..spec import shape as spec
from .context import Context, cap_key, generator, isa_key, ver
from .markdown import code, slug, table

KIND_NAMES = {
    "str": "string",
    "int": "integer",
    "bool": "boolean",
    "strlist": "list of strings",
    "strmap": "table of strings",
    "table": "table",
    "tablemap": "tables by name",
    "tablelist": "array of tables",
    "strOrList": "string or list of strings",
}


def _spec_order() -> list[str]:
    """Spec tables reachable from the root, depth first in declaration order."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        order.append(name)
        for k in spec.SPECS[name].keys.values():
            if k.table:
                visit(k.table)

    visit("root")
    return order


def _spec_forms() -> dict[str, list[str]]:
    """How each spec table is written in TOML: ``[gpu.NAME]``, ``[[matrix]]``, ``exclude = [ { … } ] in [[matrix]]``."""
    forms: dict[str, list[str]] = defaultdict(list)
    for name in _spec_order():
        for key, k in spec.SPECS[name].keys.items():
            if not k.table:
                continue
            if name == "root":
                pattern = spec.SPECS[k.table].key_pattern or ""
                dotted = bool(pattern) and re.fullmatch(pattern, "3.13") is not None
                always = dotted and not any(re.fullmatch(pattern, x) for x in ("a", "a1", "sm90", "x-y"))
                entry = '"NAME"' if always else "NAME"
                form = {"table": f"`[{key}]`", "tablemap": f"`[{key}.{entry}]`", "tablelist": f"`[[{key}]]`"}[k.kind]
                if dotted and not always:
                    form += ' (quote NAME if it contains a dot: `"NAME"`)'
            else:
                parent = forms[name][0] if forms[name] else name
                shape = {
                    "table": f"`{key} = {{ … }}`",
                    "tablemap": f"`{key}.NAME = {{ … }}`",
                    "tablelist": f"`{key} = [ {{ … }}, … ]`",
                }
                form = f"{shape[k.kind]} in {parent}"
            if form not in forms[k.table]:
                forms[k.table].append(form)
    return forms


def spec_heading(name: str) -> str:
    return "Top level" if name == "root" else f"Table {name}"


@generator("key-reference")
def gen_key_reference(ctx: Context) -> str:
    """Every table and key of variants.toml, from spec.SPECS (the validator's own declaration)."""
    forms = _spec_forms()
    parts = []
    for name in _spec_order():
        t = spec.SPECS[name]
        head = f"### {spec_heading(name)}\n\n{t.doc}"
        if forms.get(name):
            head += " Written as " + "; ".join(forms[name]) + "."
        if t.key_pattern:
            head += f" `NAME` must match {code(t.key_pattern)} and reaches: {', '.join(t.name_reaches)}."
        rows = []
        for key, k in t.keys.items():
            kind = KIND_NAMES.get(k.kind, k.kind)
            if k.table:
                kind += f" ([{k.table}](#{slug(spec_heading(k.table))}))"
            allowed = ", ".join(code(e) for e in k.enum) if k.enum else (code(k.pattern) if k.pattern else "")
            reaches = ", ".join(k.reaches) or "—"
            rows.append([code(key), kind, "yes" if k.required else "no", k.doc, allowed or "—", reaches])
        parts.append(head + "\n\n" + table(["Key", "Type", "Required", "Meaning", "Allowed", "Reaches"], rows))
    return "\n\n".join(parts)


@generator("matrix-blocks")
def gen_matrix_blocks(ctx: Context) -> str:
    """The shipped file's [[matrix]] blocks and what each expands to."""
    m = ctx.matrix
    blocks: dict[tuple[int, str], list[Variant]] = defaultdict(list)
    for v in m.variants:
        found = re.match(r"matrix\[(\d+)\] \((.*)\)$", v.origin[0])
        key = (int(found.group(1)), found.group(2)) if found else (-1, v.origin[0])
        blocks[key].append(v)

    def values(vs: list[Variant], get, order) -> str:
        vals = {get(v) for v in vs} - {None}
        return ", ".join(sorted(vals, key=order)) if vals else "—"

    rows = []
    for (i, name), vs in sorted(blocks.items()):
        rows.append(
            [
                str(i),
                code(name),
                vs[0].target,
                values(vs, lambda v: v.package.name, list(m.packages).index),
                values(vs, lambda v: v.python.version, ver),
                values(vs, lambda v: v.cuda.version if v.cuda else None, ver),
                values(vs, lambda v: v.gpu.name if v.gpu else None, lambda n: cap_key(m.gpus[n])),
                values(vs, lambda v: v.isa.name if v.isa else None, lambda n: isa_key(m.isas[n])),
                values(vs, lambda v: v.suffix or None, str),
                values(vs, lambda v: v.pin.name, str),
                values(vs, lambda v: v.source.name if v.source else None, str),
                str(len(vs)),
            ]
        )
    rows.append(["", "**Total**", *([""] * 9), f"**{len(m.variants)}**"])
    text = table(
        ["#", "Block", "Target", "Packages", "Python", "CUDA", "GPUs", "ISAs", "Suffix", "Pins", "Torch source", "Variants"], rows
    )
    overridden = Counter(o for v in m.variants for o in v.origin[1:])
    if overridden:
        text += "\n\nOverrides in effect: " + ", ".join(f"{code(o)} ({n} variants)" for o, n in sorted(overridden.items())) + "."
    return text


SCOPE_WORDS = {
    "block": "each `[[matrix]]` block",
    "variant": "each variant",
    "pair": "a variant that reuses a torch, with the variant it names",
}


def rule_key_link(key: str) -> str:
    """``gpu.min_cuda`` as a link to its table in the key reference."""
    table_name, _, _key = key.partition(".")
    return f"[{code(key)}](#{slug(spec_heading(table_name))})"


@generator("hardware-rules")
def gen_hardware_rules(ctx: Context) -> str:
    """Every hardware and pairing rule: its id (as error messages show it), what it requires, the keys it reads."""
    rows = [[code(r.id), SCOPE_WORDS[r.scope], r.summary, ", ".join(rule_key_link(k) for k in r.keys)] for r in RULES.values()]
    return table(["Rule", "Checked for", "Requires", "Keys"], rows)
