"""README.md regions: ``summary`` (also in docs/BUILD_MATRIX.md) and ``gpu-picker``."""

from __future__ import annotations

from collections import Counter, defaultdict

from .. import ledger, targets
from ..model import Matrix
from ..model.variant import is_prerelease
from .context import (
    ACTION_DONE,
    Context,
    built_gpus,
    generator,
    products,
    record_date,
    sorted_cudas,
    sorted_gpus,
    sorted_isas,
    variant_key,
    ver,
)
from .facts import best_build, cudas_of, example_variants, isas_of, line_link, non_gpu_rows, release_lines, section_heading
from .markdown import code, plain, slug, table


@generator("summary")
def gen_summary(ctx: Context) -> str:
    """Counts in a few lines, plus what the ledger records."""
    m = ctx.matrix
    vs = m.variants
    pkgs = Counter(v.package.name for v in vs)
    pythons = sorted({v.python.version for v in vs}, key=ver)
    by_cuda = Counter(v.cuda.version for v in vs if v.cuda)
    cuda_n = sum(by_cuda.values())
    by_target = Counter(v.target for v in vs)
    built = built_gpus(m)
    unbuilt = [g.name for g in sorted_gpus(m) if g not in built]
    isas = [i.name for i in sorted_isas(m) if any(v.isa and v.isa.name == i.name for v in vs)]
    used_pins = sorted({v.pin.name for v in vs})
    hashed = [p for p in used_pins if m.pins[p].sha256]
    lines = [
        f"- **{len(vs)} variants**: "
        + ", ".join(f"{pkgs[p]} {m.packages[p].title}" for p in m.packages if pkgs[p])
        + f" (Python {', '.join(pythons)})",
        f"- NVIDIA GPU builds: {cuda_n} ("
        + ", ".join(f"CUDA {c}: {by_cuda[c]}" for c in sorted_cudas(m) if by_cuda[c])
        + ")"
        + "".join(f"; {t.count_label}: {by_target[t.name]}" for t in targets.without_gpu()),
        f"- GPU architectures: {len(built)} ({', '.join(g.name for g in built)})"
        + (f"; described in variants.toml but not built: {', '.join(unbuilt)}" if unbuilt else ""),
        f"- CPU ISAs: {len(isas)} ({', '.join(isas)})",
        "- torch lines, one page each: " + _lines_note(ctx),
        f"- Short names such as `{_first_alias(m)}` mean Python {m.defaults.python}, CUDA {m.defaults.cuda}, "
        + " + ".join(m.packages[p].title for p in m.defaults.packages)
        + _line_note(m),
        f"- nixpkgs pins: {len(used_pins)}, "
        + (
            "none with a recorded sha256 (fetched unverified until `invoke pin` records one)"
            if not hashed
            else f"{len(hashed)} with a recorded sha256"
            + (f", {len(used_pins) - len(hashed)} unverified" if len(hashed) < len(used_pins) else "")
        ),
        "- Recorded evidence: " + _evidence_line(ctx),
    ]
    return "\n".join(lines)


def _lines_note(ctx: Context) -> str:
    """``[2.9](docs/matrix/torch2_9.md) (2.9.1: 758 variants), [2.10](…) (default; 2.10.0: 474 variants), …``."""
    m = ctx.matrix
    parts = []
    for line, vs in m.torch_lines.items():
        notes = ["default"] if line == m.defaults.torch else []
        if all(is_prerelease(v.torch_version) for v in vs):
            notes.append("pre-release")
        versions = ", ".join(sorted({v.torch_version for v in vs}, key=ver))
        n = f"{len(vs)} variant{'s' if len(vs) != 1 else ''}"
        parts.append(f"{line_link(ctx, line)} ({'; '.join([*notes, f'{versions}: {n}'])})")
    return ", ".join(parts)


def _line_note(m: Matrix) -> str:
    """``, torch 2.10; other torch lines: `sm90-avx512-torch2_9` (or `--torch 2.9`)``, where the file has several."""
    if not m.defaults.torch:
        return ""
    tokened = [v for v in m.variants if v.line]
    text = f", torch {m.defaults.torch}"
    if tokened:
        v = min(tokened, key=lambda v: variant_key(m, v))
        text += f"; other torch lines carry theirs: `{v.short}` (or `--torch {v.torch_line}`)"
    return text


def _first_alias(m: Matrix) -> str:
    ex = example_variants(m)
    return ex[0][0] if ex else min(m.variants, key=lambda v: variant_key(m, v)).short


def _evidence_line(ctx: Context) -> str:
    names = set(ctx.matrix.by_name)
    ok: dict[str, set[str]] = defaultdict(set)
    dates = []
    for (name, action), r in ctx.records.items():
        if name in names and r.status == "ok":
            ok[action].add(name)
            dates.append(record_date(r))
    link = ctx.link("docs/BUILD_MATRIX.md#recorded-evidence")
    if not ok:
        return f"none yet (no evaluation, build, smoke test or publish is recorded in `ledger/records.jsonl`; [evidence]({link}))"
    parts = [f"{len(ok[a])} {ACTION_DONE[a]}" for a in ledger.ACTIONS if ok.get(a)]
    return ", ".join(parts) + f" (latest record {plain(max(dates))}; [evidence]({link}))"


@generator("gpu-picker")
def gen_gpu_picker(ctx: Context) -> str:
    """README: your GPU → architecture, CUDA versions and ISAs built for it."""
    m = ctx.matrix
    rows = []
    for g in sorted_gpus(m):
        b = best_build(m, g.capability)
        if b is None:
            rows.append([products(g, 3), g.capability, "no variant", "—", "—", "—"])
            continue
        use = code(b.name) + ("" if b.name == g.name else f" (no {g.name} build; SASS-compatible)")
        lines = release_lines(ctx, lambda v, b=b: v.gpu is b, slug(section_heading(b, "cuda")))
        rows.append([products(g, 3), g.capability, use, ", ".join(cudas_of(m, b)), ", ".join(isas_of(m, b)), lines])
    rows += non_gpu_rows(ctx, long=False)
    return table(["Your GPU", "Compute capability", "Use", "CUDA", "CPU ISAs", "torch lines"], rows)
