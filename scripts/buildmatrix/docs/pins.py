"""docs/BUILD_MATRIX.md pin regions: ``unverified-fetches`` (variants that fetch something unverified: counted per
torch line in BUILD_MATRIX.md, named on each line's page) and ``nixpkgs-patches`` (nixpkgs' own patches decided per pin).
"""

from __future__ import annotations

from collections import Counter

from ..model import hashes
from ..spec import shape as spec
from .context import Context, generator
from .facts import line_link
from .markdown import code, slug, table

UNVERIFIED_HEADING = "Unverified fetches"  # the heading of this region's section, in BUILD_MATRIX.md and each line page


@generator("unverified-fetches")
def gen_unverified_fetches(ctx: Context) -> str:
    """Variants whose build fetches a pin or source declared unverified, with the command that fixes it.

    In docs/BUILD_MATRIX.md: one row per group (what is unverified) with its count per torch line,
    linking each line's page; on a line's page: every affected variant of that line, once."""
    m = ctx.matrix
    scope = {v.name for v in ctx.variants}
    groups = [(why, [n for n in names if n in scope]) for why, names in hashes.unverified_groups(m)]
    groups = [(why, names) for why, names in groups if names]
    if ctx.line is not None:
        return _line_unverified(ctx, groups)
    if not groups:
        return "Every pin and source of every variant has a recorded hash with its source."
    total = sum(len(names) for _, names in groups)
    entries = {
        **{f"pin {n}": p.unverified for n, p in m.pins.items()},
        **{f"source {n}": s.unverified for n, s in m.sources.items()},
    }
    line_of = {v.name: v.torch_line for v in m.variants}

    def per_line(names: list[str]) -> str:
        counts = Counter(line_of[n] for n in names)
        return ", ".join(
            f"{line_link(ctx, line, slug(UNVERIFIED_HEADING))}: {counts[line]}" for line in m.torch_lines if counts[line]
        )

    return "\n".join(
        [
            f"{total} of {len(m.variants)} variants fetch a pin or source declared `unverified` in variants.toml. "
            "Their recipes carry a fake hash: the first real build stops at that fetch and prints the real hash. "
            "Record it with the command below (add `--hash <printed hash>` to record what the failed fetch printed "
            "without downloading again), run `invoke gen`, and build again. Each torch line's page names its "
            "variants (`invoke gen --json` lists them too).",
            "",
            table(
                ["Unverified", "Why", "Fill with", "Variants", "Per torch line"],
                [
                    [
                        " + ".join(code(w) for w in why),
                        "; ".join(entries[w] for w in why),
                        "; ".join(code(hashes.fill_command(w)) for w in why),
                        str(len(names)),
                        per_line(names),
                    ]
                    for why, names in groups
                ],
            ),
        ]
    )


def _line_unverified(ctx: Context, groups: list[tuple[tuple[str, ...], list[str]]]) -> str:
    """A line page's list: every variant of the line that fetches something unverified, once, by what it fetches."""
    fix = f"[Unverified fetches]({ctx.link('docs/BUILD_MATRIX.md#unverified-fetches')})"
    if not groups:
        return f"Every variant of torch {ctx.line} fetches only pins and sources with a recorded hash ({fix})."
    total = sum(len(names) for _, names in groups)
    out = [
        f"Variants of torch {ctx.line} that fetch a pin or source declared `unverified` ({total} of {len(ctx.variants)}): "
        f"their first real build stops at that fetch and prints the real hash; what to run then: {fix}."
    ]
    for why, names in groups:
        out += ["", f"**{' + '.join(why)}** ({len(names)}): " + ", ".join(code(n) for n in names)]
    return "\n".join(out)


@generator("nixpkgs-patches")
def gen_nixpkgs_patches(ctx: Context) -> str:
    """nixpkgs' own torch / torchvision / torchaudio patches at each pin: kept or dropped by a source override, and why."""
    m = ctx.matrix
    rows = []
    for pin in m.pins.values():
        for package in spec.SOURCE_PACKAGES:
            for name in pin.patches_of(package) or ():
                p = m.nixpkgs_patches[name]
                users = [v for v in m.variants if v.pin is pin and (v.companion_source if v.requires else v.source)]
                users = [v for v in users if (v.package.attr if v.requires else "torch") == p.package and p.added_for(v)]
                kept = sorted({v.platform for v in users if p.kept_for(v)})
                dropped = sorted({v.platform for v in users if not p.kept_for(v)})
                verdict = (
                    "never added here"
                    if not users
                    else "; ".join(
                        part
                        for part in (
                            f"kept on {', '.join(kept)}" if kept else "",
                            f"dropped on {', '.join(dropped)}" if dropped else "",
                        )
                        if part
                    )
                )
                rows.append([code(pin.name), p.package, code(name), p.when, verdict, str(len(users)), p.reason])
        for attr in spec.COMPANIONS:
            if pin.patches_of(attr) == ():
                rows.append(
                    [code(pin.name), attr, "(none)", "—", "nothing to decide", "—", f"nixpkgs' {attr} has no patches here"]
                )
    if not rows:
        return "No pin lists its torch, torchvision or torchaudio patches."
    return table(["Pin", "Package", "nixpkgs patch", "nixpkgs adds it", "Source override", "Variants", "Why"], rows)
