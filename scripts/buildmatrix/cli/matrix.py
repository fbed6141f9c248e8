"""``invoke list`` and ``invoke show``: the variants variants.toml expands to, as a table or JSON."""

from __future__ import annotations

import json
from collections import Counter

from .. import model
from ..errors import EXIT_OK
from . import common as cli


def _row(v: model.Variant) -> list[str]:
    return [
        v.name,
        v.target,
        v.cuda.version if v.cuda else "-",
        v.gpu.name if v.gpu else "-",
        v.isa.name if v.isa else "-",
        v.platform,
        v.torch_version,
    ]


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r).rstrip() for r in rows]
    return "\n".join(lines)


@cli.guarded
def cmd_list(file: str, filters: dict, as_json: bool, torch: str = "") -> int:
    """`invoke list`: the variants the filters select; ``torch`` ("2.9") keeps that torch line's (unknown: exit 2)."""
    m = cli.load(file, quiet=as_json)
    cli.check_filters(m, {**filters, "torch": torch})
    chosen = m.select(**filters)
    if torch:
        chosen = m.on_line(torch, chosen)
    if as_json:
        print(json.dumps([v.as_dict() for v in chosen], indent=2))
        return EXIT_OK
    if not chosen:
        print("no variant matches these filters")
        return EXIT_OK
    print(table(["NAME", "TARGET", "CUDA", "GPU", "ISA", "PLATFORM", "TORCH"], [_row(v) for v in chosen]))
    by_pkg = Counter(v.package.name for v in chosen)
    print(f"\n{len(chosen)} variant(s): " + ", ".join(f"{n} {c}" for n, c in sorted(by_pkg.items())))
    return EXIT_OK


def _line_default(m: model.Matrix) -> str:
    return f", torch {m.defaults.torch}" if m.defaults.torch else ""


@cli.guarded
def cmd_show(file: str, name: str, as_json: bool) -> int:
    from ..recipes import file_name, long_description, template_for

    m = cli.load(file, quiet=as_json)
    variants = m.resolve(name)
    if as_json:
        print(json.dumps([v.as_dict() for v in variants], indent=2))
        return EXIT_OK
    for v in variants:
        torch = m.torch_variant(v)
        fields = [
            ("name", v.name),
            ("alias", f"{v.short} (defaults: Python {m.defaults.python}, CUDA {m.defaults.cuda}{_line_default(m)})"),
            ("package", f"{v.package.name} (nixpkgs attribute {v.python.attr}.{v.package.attr})"),
            ("target", v.target),
            ("python", v.python.version),
        ]
        if v.cuda:
            fields += [
                ("cuda", f"{v.cuda.version} ({v.pin.cuda_attr(v.cuda)}; driver >= {v.cuda.min_driver})"),
                ("gpu", f"{v.gpu.name} = capability {v.gpu.capability} ({v.gpu.family}: {', '.join(v.gpu.gpus)})"),
                ("cudnn", "on" if v.cudnn else "off"),
            ]
        if v.isa:
            fields.append(("isa", f"{v.isa.name} [{' '.join(v.isa.flags)}] on {v.isa.platform}"))
        fields += [
            ("platform", v.platform),
            ("pin", f"{v.pin.name} = {v.pin.rev}" + ("" if v.pin.sha256 else " (no sha256: unverified)")),
            ("torch", f"{v.torch_version} " + (f"from source {v.source.name} ({v.source.rev})" if v.source else "from the pin")
             + (f"; line {v.torch_line} (name token {v.line})" if v.line else "")),
            ("torch derivation", "this recipe" if torch is v else f"shared with {torch.name} (imported)"),
            ("allowBroken", "yes" if v.allow_broken else "no"),
            ("patches", ", ".join(f"{p.name} -> {p.package}" for p in v.patches) or "none"),
            ("recipe", f".flox/pkgs/{file_name(v)} (template {template_for(v)})"),
            ("produced by", " then ".join(v.origin)),
            ("description", v.description),
        ]
        width = max(len(k) for k, _ in fields)
        for k, val in fields:
            print(f"{k:<{width}}  {val}")
        print("\n" + long_description(v, m))
        if len(variants) > 1:
            print()
    return EXIT_OK
