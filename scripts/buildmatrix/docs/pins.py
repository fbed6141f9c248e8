"""docs/BUILD_MATRIX.md pin regions: ``unverified-fetches`` (variants that fetch something unverified) and
``nixpkgs-patches`` (nixpkgs' own patches decided per pin).
"""

from __future__ import annotations

from .. import pinfacts, spec
from .context import Context, generator
from .markdown import code, table


@generator("unverified-fetches")
def gen_unverified_fetches(ctx: Context) -> str:
    """Every variant whose build fetches a pin or source declared unverified, once, with the command that fixes it."""
    m = ctx.matrix
    groups = pinfacts.unverified_groups(m)
    if not groups:
        return "Every pin and source of every variant has a recorded hash with its source."
    total = sum(len(names) for _, names in groups)
    entries = {
        **{f"pin {n}": p.unverified for n, p in m.pins.items()},
        **{f"source {n}": s.unverified for n, s in m.sources.items()},
    }
    out = [
        f"{total} of {len(m.variants)} variants fetch a pin or source declared `unverified` in variants.toml. "
        "Their recipes carry a fake hash: the first real build stops at that fetch and prints the real hash. "
        "Record it with the command below (add `--hash <printed hash>` to record what the failed fetch printed "
        "without downloading again), run `invoke gen`, and build again.",
        "",
        table(
            ["Unverified", "Why", "Fill with"],
            [
                [
                    " + ".join(code(w) for w in why),
                    "; ".join(entries[w] for w in why),
                    "; ".join(code(pinfacts.fill_command(w)) for w in why),
                ]
                for why, _ in groups
            ],
        ),
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
