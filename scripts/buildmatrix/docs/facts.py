"""Facts several regions share: archspec's view of each ISA, the best build for a GPU, CUDAs and ISAs per GPU, pin links,
the torch lines' pages and links to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .. import targets
from ..errors import BuildMatrixError
from ..model import Gpu, Isa, Matrix, Variant
from ..model.variant import is_prerelease
from .context import DOCS_DIR, Context, built_gpus, cap_key, sorted_isas, variant_key, ver
from .markdown import slug

NIXPKGS_TREE = "https://github.com/NixOS/nixpkgs/tree/"
LINE_PAGES_DIR = DOCS_DIR / "matrix"  # one generated page per torch line (docs/lines.py)


@dataclass
class IsaFacts:
    """What archspec's database says about one ISA of the model."""

    runs_on: list[str] = field(default_factory=list)
    near_misses: list[tuple[str, list[str]]] = field(default_factory=list)  # (target, missing features)
    best_for: list[str] = field(default_factory=list)


def archspec_version() -> str:
    try:
        import archspec

        return str(archspec.__version__)
    except (ImportError, AttributeError):
        return "not installed"


def _family(platform: str) -> str:
    return platform.split("-", 1)[0]


def isa_facts(m: Matrix) -> dict[str, IsaFacts]:
    """Per ISA: the non-generic archspec microarchitectures that have all its features, the nearest ones that
    do not (they run the next lower ISA but lack something), and those for which it is the best ISA."""
    out = {name: IsaFacts() for name in m.isas}
    try:
        import archspec.cpu
    except ImportError:
        return out
    targets = sorted(
        (t for t in archspec.cpu.TARGETS.values() if t.vendor != "generic"),
        key=lambda t: t.name,
    )

    def has(t, isa: Isa) -> bool:
        return all(f in t for f in isa.features)

    isas = sorted_isas(m)
    for isa in isas:
        fam = _family(isa.platform)
        mine = [t for t in targets if _family(str(t.family.name)) == fam]
        lower = [i for i in isas if i.platform == isa.platform and i.rank < isa.rank]
        subset = [i for i in lower if set(i.features) <= set(isa.features)]
        previous = max(subset or lower, key=lambda i: i.rank) if lower else None
        facts = out[isa.name]
        facts.runs_on = [t.name for t in mine if has(t, isa)]
        facts.near_misses = [
            (t.name, [f for f in isa.features if f not in t])
            for t in mine
            if not has(t, isa) and (previous is None or has(t, previous))
        ]
    for t in targets:
        fitting = [i for i in isas if _family(i.platform) == _family(str(t.family.name)) and has(t, i)]
        if fitting:
            out[max(fitting, key=lambda i: i.rank).name].best_for.append(t.name)
    return out


# ------------------------------------------------------------ GPU decisions


def best_build(m: Matrix, capability: str) -> Gpu | None:
    """The built architecture whose SASS runs on a device of ``capability``, closest first (as `invoke detect`)."""
    fitting = [g for g in built_gpus(m) if g.runs_on(capability)]
    return max(fitting, key=cap_key) if fitting else None


def cudas_of(m: Matrix, gpu: Gpu) -> list[str]:
    return sorted({v.cuda.version for v in m.variants if v.gpu and v.gpu.name == gpu.name}, key=ver)


def isas_of(m: Matrix, gpu: Gpu | None, target: str = "cuda") -> list[str]:
    names = {
        v.isa.name for v in m.variants if v.target == target and v.isa and (gpu is None or (v.gpu and v.gpu.name == gpu.name))
    }
    return [i.name for i in sorted_isas(m) if i.name in names]


def line_page(line: str) -> PurePosixPath:
    """The generated page of torch line ``line``: ``docs/matrix/torch2_9.md`` for "2.9"."""
    return LINE_PAGES_DIR / f"torch{line.replace('.', '_')}.md"


def line_link(ctx: Context, line: str, anchor: str = "") -> str:
    """``[2.9](…/matrix/torch2_9.md#anchor)``, relative to the document ``ctx`` renders."""
    return f"[{line}]({ctx.link(str(line_page(line)) + (f'#{anchor}' if anchor else ''))})"


def section_heading(g: Gpu | None, target: str) -> str:
    """The heading of a GPU's (or a GPU-less target's) section in a line page's variant list."""
    return f"{g.name}: {g.family}" if g is not None else targets.of(target).label


def release_lines(ctx: Context, keep, anchor: str = "") -> str:
    """The release lines (not pre-releases) of the variants ``keep`` accepts, oldest first, each linking to its
    page (at ``#anchor``)."""
    m = ctx.matrix
    return ", ".join(
        line_link(ctx, line, anchor)
        for line, vs in m.torch_lines.items()
        if any(keep(v) and not is_prerelease(v.torch_version) for v in vs)
    )


def non_gpu_rows(ctx: Context, *, long: bool) -> list[list[str]]:
    """Picker rows for the targets without a GPU axis that have variants: hardware, "—", use, "—", ISAs,
    torch lines (each linking to that target's section of the line's page).

    ``long`` picks the QUICKSTART wording (``Target.picker_long``), otherwise the README's."""
    m = ctx.matrix
    rows = []
    for t in targets.without_gpu():
        if not any(v.target == t.name for v in m.variants):
            continue
        hardware, use = t.picker_long if long else t.picker
        isas = isas_of(m, None, t.name) if "isa" in t.axes else []
        lines = release_lines(ctx, lambda v, t=t: v.target == t.name, slug(section_heading(None, t.name)))
        rows.append([hardware, "—", use, "—", ", ".join(isas) or "—", lines])
    return rows


def pin_link(pin) -> str:
    return f"[{pin.name}]({NIXPKGS_TREE}{pin.rev})"


def _pick(m: Matrix, alias: str) -> list[Variant]:
    try:
        return m.resolve(alias)
    except BuildMatrixError:
        return []


def example_variants(m: Matrix) -> list[tuple[str, list[Variant]]]:
    """(alias, variants) for the example commands: preferred ones if the model has them, else computed ones."""
    pool = sorted((v for v in m.variants if not v.suffix), key=lambda v: variant_key(m, v))
    default = [v for v in pool if v.cuda and v.cuda.version == m.defaults.cuda]

    def first(pred) -> Variant | None:
        return next((v for v in default if pred(v)), None)

    chosen: list[tuple[str, list[Variant]]] = []
    wants = [
        ("sm90-avx512", lambda v: v.isa.platform == "x86_64-linux"),
        ("sm121-armv9", lambda v: v.isa.platform == "aarch64-linux"),
    ]
    for alias, pred in wants:
        vs = _pick(m, alias)
        if not vs:
            v = first(pred)
            vs = _pick(m, v.short) if v else []
            alias = v.short if v else alias
        if vs:
            chosen.append((alias, vs))
    other = [v for v in pool if v.cuda and v.cuda.version != m.defaults.cuda]
    pref = _pick(m, "cuda12_9-sm103-avx2")
    if pref:
        chosen.append(("cuda12_9-sm103-avx2", pref))
    elif other:
        a = other[-1].cuda_alias
        chosen.append((a, _pick(m, a)))
    for alias in ("cpu-avx2", "darwin-mps"):
        vs = _pick(m, alias)
        if vs:
            chosen.append((alias, vs))
    return [(a, vs) for a, vs in chosen if vs]
