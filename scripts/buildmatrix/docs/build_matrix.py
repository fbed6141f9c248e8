"""docs/BUILD_MATRIX.md regions ``counts``, ``version-matrix``, ``evidence``, and the sections of a torch line's page
(docs/matrix/torch2_9.md, :mod:`buildmatrix.docs.lines`): ``sm-isa-grids``, ``variant-matrix``.

The two page sections list the variants in the context's scope (:attr:`Context.variants`): one line's
on its page, every variant elsewhere. The pin regions of docs/BUILD_MATRIX.md live in
:mod:`buildmatrix.docs.pins`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from .. import ledger, targets
from ..model import Gpu, Isa, Matrix, Variant
from .context import (
    ACTION_WORDS,
    TARGET_ORDER,
    Context,
    cap_key,
    generator,
    products,
    record_date,
    record_rev,
    sorted_cudas,
    sorted_gpus,
    sorted_isas,
    status,
    target_label,
    variant_key,
    ver,
)
from .facts import NIXPKGS_TREE, pin_link, section_heading
from .markdown import code, literal, plain, slug, table


@generator("counts")
def gen_counts(ctx: Context) -> str:
    """Counts per package × (CUDA/target, SM, ISA, Python), with totals."""
    m = ctx.matrix
    pkgs = [p for p in m.packages]
    titles = [m.packages[p].title for p in pkgs]

    def block(title: str, first: str, keys: list[tuple[str, Callable[[Variant], object], object]]) -> str:
        rows = []
        for label, axis, value in keys:
            counts = [sum(1 for v in m.variants if v.package.name == p and axis(v) == value) for p in pkgs]
            rows.append([label, *map(str, counts), str(sum(counts))])
        totals = [sum(1 for v in m.variants if v.package.name == p) for p in pkgs]
        rows.append(["**Total**", *(f"**{t}**" for t in totals), f"**{sum(totals)}**"])
        return f"**{title}**\n\n" + table([first, *titles, "Total"], rows)

    def target(v: Variant) -> str:
        return v.cuda.version if v.cuda else v.target

    def gpu(v: Variant) -> str | None:
        return v.gpu.name if v.gpu else None

    def isa(v: Variant) -> str | None:
        return v.isa.name if v.isa else None

    def python(v: Variant) -> str:
        return v.python.version

    target_keys = [(f"CUDA {c}", target, c) for c in sorted_cudas(m)]
    target_keys += [(t.label, target, t.name) for t in targets.TARGETS.values() if "cuda" not in t.axes]
    gpu_keys = [(f"{g.name} ({g.family})", gpu, g.name) for g in sorted_gpus(m)]
    gpu_keys += [("no GPU (CPU only, MPS)", gpu, None)]
    isa_keys = [(f"{i.name} ({i.platform})", isa, i.name) for i in sorted_isas(m)]
    isa_keys += [("none (Apple MPS)", isa, None)]
    py_keys = [(f"Python {p}", python, p) for p in sorted(m.pythons, key=ver)]
    return "\n\n".join(
        [
            block("Variants by target and CUDA version", "Target", target_keys),
            block("Variants by GPU architecture (SM)", "SM", gpu_keys),
            block("Variants by CPU ISA", "CPU ISA", isa_keys),
            block("Variants by Python version", "Python", py_keys),
        ]
    )


def torch_cell(v: Variant) -> str:
    """The torch of ``v``: version and where it comes from (a source, or the pin's own)."""
    if v.source:
        note = "" if v.source.hash else "; source hash not recorded yet"
        return f"{v.torch_version} (source `{v.source.name}`{note})"
    return f"{v.torch_version} (the pin's own)"


def _vision_cell(vs: list[Variant]) -> str:
    """torchvision of the group's torchvision variants: version and where it comes from."""
    tvs = [v for v in vs if v.requires and v.package.attr == "torchvision"]
    if not tvs:
        return "—"
    v = tvs[0]
    if v.companion_source:
        note = "" if v.companion_source.hash else "; source hash not recorded yet"
        return f"{v.torchvision_version} (source `{v.companion_source.name}`{note})"
    return f"{v.torchvision_version} (the pin's own)" if v.torchvision_version else "the pin's own (version not recorded)"


def _magma_cell(m: Matrix, v: Variant) -> str:
    if v.patches:
        return "yes: " + ", ".join(code(p.name) for p in v.patches)
    if v.cuda is None:
        return "no (no CUDA)"
    carried = [p.name for p in m.patches.values() if p.wanted_by(v.cuda) and p.name in v.pin.carries]
    if carried:
        return "no: the pin already carries " + ", ".join(code(p) for p in carried)
    return "no (not needed)"


@generator("version-matrix")
def gen_version_matrix(ctx: Context) -> str:
    """One row per (pin, torch, CUDA/target, Python) and the pins themselves."""
    m = ctx.matrix
    groups: dict[tuple, list[Variant]] = defaultdict(list)
    for v in m.variants:
        key = (
            TARGET_ORDER[v.target],
            ver(v.cuda.version) if v.cuda else ver("0"),
            v.pin.name,
            ver(v.torch_version),
            v.source.name if v.source else "",
            v.source_of("torchvision").name if v.source_of("torchvision") else "",
            ver(v.python.version),
            v.target,
        )
        groups[key].append(v)
    rows = []
    for key in sorted(groups):
        vs = groups[key]
        v = vs[0]
        rows.append(
            [
                pin_link(v.pin),
                torch_cell(v),
                _vision_cell(vs),
                target_label(v),
                code(v.pin.cuda_attr(v.cuda)) if v.cuda else "—",
                f"≥ {v.cuda.min_driver}" if v.cuda else "—",
                v.python.version,
                _magma_cell(m, v),
                "yes" if v.allow_broken else "no",
                str(len(vs)),
            ]
        )
    main = table(
        [
            "nixpkgs pin",
            "torch",
            "torchvision",
            "Target",
            "CUDA package set",
            "Driver",
            "Python",
            "MAGMA patch",
            "allowBroken",
            "Variants",
        ],
        rows,
    )
    pin_rows = []
    used = Counter(v.pin.name for v in m.variants)
    for name in sorted(m.pins):
        p = m.pins[name]
        pin_rows.append(
            [
                name,
                f"[`{p.rev}`]({NIXPKGS_TREE}{p.rev})",
                "recorded" if p.sha256 else "**unverified** (no sha256 recorded)",
                ", ".join(p.cuda) or "—",
                p.torch or "unknown",
                ", ".join(code(c) for c in p.carries) or "—",
                str(used[name]),
                p.note,
            ]
        )
    pins = table(["Pin", "nixpkgs revision", "sha256", "CUDA sets", "Own torch", "Carries", "Variants", "Note"], pin_rows)
    return main + "\n\n**nixpkgs pins**\n\n" + pins


def _packages_mark(m: Matrix, base: list[str]) -> str:
    """``✓`` when the default packages are built, ``✓ pytorch`` when only some, `` +torchaudio`` for any more."""
    if not base:
        return "—"
    defaults = [p for p in m.defaults.packages if p in m.packages]
    have = [p for p in base if p in defaults]
    more = [p for p in base if p not in defaults]
    if not have:  # none of the defaults, only other packages
        return "✓ " + "/".join(more)
    out = "✓" if len(have) == len(defaults) else "✓ " + "/".join(have)
    return out + "".join(f" +{p}" for p in more)


def _grid_cell(m: Matrix, present: list[Variant], gpu: Gpu, isa: Isa, cuda) -> str:
    base = sorted({v.package.name for v in present if not v.suffix}, key=list(m.packages).index)
    extra = sorted({v.suffix for v in present if v.suffix})
    if not present:
        impossible = (
            (cuda is not None and not gpu.supports_cuda(cuda))
            or isa.platform not in gpu.platforms
            or (gpu.isas is not None and isa.name not in gpu.isas)
        )
        return "n/a" if impossible else "—"
    out = _packages_mark(m, base)
    if extra:
        out += " +" + " +".join(extra)
    return out


@generator("sm-isa-grids")
def gen_sm_isa_grids(ctx: Context) -> str:
    """One SM × ISA grid per CUDA version in scope, plus the CPU-only and Apple rows (a line page: that line's)."""
    m = ctx.matrix
    variants = ctx.variants
    isas = sorted_isas(m)
    index: dict[tuple, list[Variant]] = defaultdict(list)
    for v in variants:
        index[
            (v.target, v.cuda.version if v.cuda else None, v.gpu.name if v.gpu else None, v.isa.name if v.isa else None)
        ].append(v)
    parts = []
    for c in sorted({v.cuda.version for v in variants if v.cuda}, key=ver):
        cuda = m.cudas[c]
        n = sum(1 for v in variants if v.cuda and v.cuda.version == c)
        rows = []
        for g in sorted_gpus(m):
            rows.append(
                [f"{g.name} ({g.capability})", *(_grid_cell(m, index[("cuda", c, g.name, i.name)], g, i, cuda) for i in isas)]
            )
        parts.append(f"#### CUDA {c} ({n} variant{'s' if n != 1 else ''})\n\n" + table(["SM", *(i.name for i in isas)], rows))
    n_cpu = sum(1 for v in variants if v.target == targets.CPU.name)
    if n_cpu:
        cpu_row = []
        for i in isas:
            present = index[("cpu", None, None, i.name)]
            base = sorted({v.package.name for v in present}, key=list(m.packages).index)
            cpu_row.append(_packages_mark(m, base))
        parts.append(
            f"#### CPU only ({n_cpu} variant{'s' if n_cpu != 1 else ''})\n\n"
            + table(["", *(i.name for i in isas)], [["CPU only", *cpu_row]])
        )
    else:
        parts.append("#### CPU only\n\nNo CPU-only variants.")
    mps = sorted({v.package.name for v in variants if v.target == targets.MPS.name}, key=list(m.packages).index)
    parts.append(
        "#### Apple Silicon\n\n"
        + (
            f"`darwin-mps` (aarch64-darwin, Metal Performance Shaders): {', '.join(m.packages[p].title for p in mps)}."
            if mps
            else "No Apple Silicon (MPS) variants."
        )
    )
    legend = (
        "✓ = recipes for the default packages (" + ", ".join(m.packages[p].title for p in m.defaults.packages) + "); "
        "`✓ pytorch` = only that package; `+torchaudio` (or another package) = that package too; "
        "`+nightly` (or another suffix) = an extra suffixed variant; "
        "— = not in the matrix (`invoke add` can add it); n/a = impossible (the CUDA version cannot compile for that GPU, "
        "or the GPU does not exist on that ISA's platform)."
    )
    return legend + "\n\n" + "\n\n".join(parts)


@generator("variant-matrix")
def gen_variant_matrix(ctx: Context) -> str:
    """Every variant in scope, one section per GPU architecture (then CPU-only, Apple), sorted ISA → CUDA → Python → package."""
    m = ctx.matrix
    sections: dict[tuple, list[Variant]] = defaultdict(list)
    for v in sorted(ctx.variants, key=lambda v: variant_key(m, v)):
        sections[(TARGET_ORDER[v.target], cap_key(v.gpu) if v.gpu else ())].append(v)
    heads = []
    bodies = []
    for key in sorted(sections):
        vs = sections[key]
        first = vs[0]
        heading = section_heading(first.gpu, first.target)
        heads.append(f"[{first.gpu.name if first.gpu else heading}](#{slug(heading)}) ({len(vs)})")
        if first.gpu:
            intro = f"Compute capability {first.gpu.capability}: {products(first.gpu)}."
        else:
            intro = first.target_info.intro
        rows = [
            [
                code(v.name),
                v.gpu.family if v.gpu else v.target_info.device,
                v.gpu.name if v.gpu else "—",
                v.isa.name if v.isa else "—",
                v.cuda.version if v.cuda else "—",
                v.python.version,
                v.torch_version,
                v.platform,
                status(ctx.records, v.name),
            ]
            for v in vs
        ]
        bodies.append(
            f"### {heading}\n\n{intro}\n\n"
            + table(["Package name", "GPU", "SM", "CPU ISA", "CUDA", "Python", "torch", "Platform", "Status"], rows)
        )
    used = {v.gpu.name for v in ctx.variants if v.gpu}
    unbuilt = [g.name for g in sorted_gpus(m) if g.name not in used]
    jump = "Jump to: " + " · ".join(heads)
    if unbuilt:
        jump += f". No variants for {', '.join(unbuilt)}."
    return jump + "\n\n" + "\n\n".join(bodies)


@generator("evidence")
def gen_evidence(ctx: Context) -> str:
    """Recorded evidence only: builds, smoke tests and publishes listed; successful evaluations summarised."""
    m = ctx.matrix
    names = set(m.by_name)
    recs = [r for (n, _a), r in ctx.records.items() if n in names]
    unknown = sorted({n for (n, _a) in ctx.records if n not in names})
    if not recs:
        text = (
            "No evidence is recorded yet: `ledger/records.jsonl` has no evaluation, build, smoke test or publish "
            "for any variant in variants.toml, so every variant's status is \u201cnot built\u201d."
        )
    else:
        evals = Counter(
            (r.status, record_date(r), record_rev(r), r.detail) for r in recs if r.action == "eval" and r.status == "ok"
        )
        lines = []
        if evals:
            lines.append("**Evaluations** (latest per variant):\n")
            for (_st, date, rev, detail), n in sorted(evals.items(), key=lambda x: (x[0][1], x[0][2], x[0][3])):
                lines.append(
                    f"- {n} variant{'s' if n != 1 else ''} evaluated ok on {plain(date)} at commit {literal(rev)}"
                    + (f": {plain(detail)}" if detail else "")
                )
        rest = sorted(
            (r for r in recs if not (r.action == "eval" and r.status == "ok")),
            key=lambda r: (variant_key(m, m.by_name[r.variant]), ledger.ACTIONS.index(r.action)),
        )
        if rest:
            rows = [
                [
                    literal(r.variant),
                    ACTION_WORDS[r.action],
                    plain(r.status),
                    plain(r.hardware),
                    plain(r.host),
                    plain(record_date(r)),
                    literal(record_rev(r)),
                    plain(r.detail),
                ]
                for r in rest
            ]
            if lines:
                lines.append("")
            lines.append("**Builds, smoke tests and publishes** (latest record per variant and step):\n")
            lines.append(table(["Variant", "Step", "Result", "Hardware", "Host", "Date", "Commit", "Detail"], rows))
        text = "\n".join(lines)
    if unknown:  # removed variants: their records stay in the ledger, shown as history, never as current
        steps = {
            n: ", ".join(f"{ACTION_WORDS[a]} {plain(r.status)}" for (k, a), r in sorted(ctx.records.items()) if k == n)
            for n in unknown
        }
        text += (
            f"\n\n**Removed variants** ({len(unknown)}: in the ledger, no longer in variants.toml; no recipe, not current): "
            + "; ".join(f"{literal(n)} ({steps[n]})" for n in unknown)
            + "."
        )
    return text
