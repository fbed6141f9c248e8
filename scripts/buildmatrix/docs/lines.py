"""The torch lines: one wholly generated page per line and their index, region ``torch-lines`` of docs/BUILD_MATRIX.md.

A line's page (``docs/matrix/torch2_9.md``, :func:`render_page`) holds that line's facts, its
SM × ISA grids (``sm-isa-grids``), every variant it builds (``variant-matrix``) and those that
fetch something unverified (``unverified-fetches``), rendered with the line as the context's scope. :data:`LINE_PAGES` derives the pages from the model: one
per entry of ``Matrix.torch_lines``, a pre-release line (a nightly's 2.11) included. A new line
gets its page from the next ``invoke docs``; a removed line's page is stale and deleted
(:mod:`buildmatrix.docs.pages`).
"""

from __future__ import annotations

from collections import Counter

from .. import targets
from ..model import Matrix, Variant
from ..model.variant import is_prerelease
from .build_matrix import torch_cell
from .context import GENERATORS, Context, built_gpus, generator, sorted_cudas, sorted_gpus, ver
from .facts import LINE_PAGES_DIR, line_link, line_page, pin_link
from .markdown import code, table
from .pages import PageSet
from .pins import UNVERIFIED_HEADING

INDEX = "docs/BUILD_MATRIX.md"
VARIANTS_INTRO = (
    "One section per GPU architecture (then CPU-only and Apple Silicon); within a section the rows are sorted by "
    "CPU ISA, then CUDA version, Python version and package. The package name is the Flox package "
    "(`flox build <name>`) and the recipe `.flox/pkgs/<name>.nix`.\n\n"
    "The status column comes from `ledger/records.jsonl` only: the most advanced step recorded as ok "
    '("evaluated, not built", "built", "smoke-tested", "published"), followed by any later step whose latest record '
    'failed, was interrupted or skipped. "not built" means no record at all. Hardware, host, date and commit of each '
    "record are in [Recorded evidence]({evidence})."
)


def _prerelease(vs: list[Variant]) -> bool:
    return all(is_prerelease(v.torch_version) for v in vs)


def line_label(m: Matrix, line: str) -> str:
    """``2.10 (default)``, ``2.11 (pre-release: nightly)``, ``2.9``."""
    vs = m.torch_lines[line]
    notes = ["default"] if line == m.defaults.torch else []
    if _prerelease(vs):
        notes.append("pre-release: " + ", ".join(sorted({v.suffix for v in vs if v.suffix}) or ["no suffix"]))
    return line + (f" ({'; '.join(notes)})" if notes else "")


def _note(m: Matrix, line: str) -> str:
    """`` (default)``, `` (pre-release)`` or nothing: what a link to a line says besides its number."""
    if line == m.defaults.torch:
        return " (default)"
    return " (pre-release)" if _prerelease(m.torch_lines[line]) else ""


def _names(m: Matrix, line: str, vs: list[Variant]) -> str:
    """How the line's names are spelled: no token (the default line), ``-torch2_9``, or a pre-release's suffix."""
    parts = []
    tokens = sorted({v.line for v in vs if not is_prerelease(v.torch_version)})
    if tokens == [""]:
        parts.append("no line token" + (" (the default line)" if line == m.defaults.torch else ""))
    elif tokens:
        parts.append(", ".join(code(f"-{t}") for t in tokens if t) + f" (`--torch {line}` selects the line)")
    suffixes = sorted({v.suffix for v in vs if v.suffix and is_prerelease(v.torch_version)})
    if suffixes:
        parts.append("pre-release: the block suffix " + ", ".join(code(f"-{s}") for s in suffixes) + ", no line token")
    return "; ".join(parts)


def _targets(vs: list[Variant]) -> str:
    """``CUDA 12.8: 100, 12.9: 80; CPU-only: 30; Apple Silicon (MPS): 4`` (what the line builds)."""
    by_cuda = Counter(v.cuda.version for v in vs if v.cuda)
    parts = []
    if by_cuda:
        parts.append("CUDA " + ", ".join(f"{c}: {by_cuda[c]}" for c in sorted(by_cuda, key=ver)))
    by_target = Counter(v.target for v in vs)
    parts += [f"{t.count_label}: {by_target[t.name]}" for t in targets.without_gpu() if by_target[t.name]]
    return "; ".join(parts)


def _pins(m: Matrix, vs: list[Variant]) -> str:
    return ", ".join(pin_link(m.pins[p]) for p in sorted({v.pin.name for v in vs}))


def _torches(vs: list[Variant]) -> str:
    return ", ".join(sorted({torch_cell(v) for v in vs}, key=lambda c: ver(c.split()[0])))


@generator("torch-lines")
def gen_torch_lines(ctx: Context) -> str:
    """docs/BUILD_MATRIX.md: one row per torch line, linking its page, and which architectures each line builds."""
    m = ctx.matrix
    lines = m.torch_lines
    rows = []
    for line, vs in lines.items():
        pkgs = Counter(v.package.name for v in vs)
        rows.append(
            [
                line_label(m, line),
                f"[{line_page(line).name}]({ctx.link(str(line_page(line)))})",
                _torches(vs),
                _names(m, line, vs),
                f"{len(vs)} (" + ", ".join(f"{m.packages[p].title} {pkgs[p]}" for p in m.packages if pkgs[p]) + ")",
                _targets(vs),
                ", ".join(sorted({v.python.version for v in vs}, key=ver)),
                _pins(m, vs),
            ]
        )
    index = table(["torch line", "Page", "torch", "Names", "Variants", "Builds", "Python", "nixpkgs pins"], rows)
    grid = []
    for g in built_gpus(m):
        cells = []
        for vs in lines.values():
            cudas = sorted({v.cuda.version for v in vs if v.gpu and v.gpu.name == g.name}, key=ver)
            cells.append(", ".join(cudas) or "—")
        grid.append([f"{g.name}: {g.family}", *cells])
    for t in targets.without_gpu():
        if any(v.target == t.name for v in m.variants):
            grid.append([t.label, *("✓" if any(v.target == t.name for v in vs) else "—" for vs in lines.values())])
    per_line = table(["Architecture", *(line_link(ctx, line) + _note(m, line) for line in lines)], grid)
    return (
        f"{index}\n\n**Architectures per line**: the CUDA versions each line builds an architecture with "
        "(✓ = built, — = not on that line); a line's page has its SM × ISA grids and every variant.\n\n" + per_line
    )


def render_page(ctx: Context) -> str:
    """The page of torch line ``ctx.line``: title, the line's facts, its SM × ISA grids, its variants, and those of
    them that fetch something unverified."""
    m, line = ctx.matrix, ctx.line
    vs = ctx.variants
    pkgs = Counter(v.package.name for v in vs)
    others = [line_link(ctx, other) + _note(m, other) for other in m.torch_lines if other != line]
    built = [g.name for g in sorted_gpus(m) if any(v.gpu and v.gpu.name == g.name for v in vs)]
    cudas = [c for c in sorted_cudas(m) if any(v.cuda and v.cuda.version == c for v in vs)]
    facts = [
        f"- **{len(vs)} variant{'s' if len(vs) != 1 else ''}**: "
        + ", ".join(f"{pkgs[p]} {m.packages[p].title}" for p in m.packages if pkgs[p])
        + f" (Python {', '.join(sorted({v.python.version for v in vs}, key=ver))})",
        f"- torch: {_torches(vs)}",
        f"- Names: {_names(m, line, vs)}",
        f"- Builds: {_targets(vs)}",
        f"- GPU architectures: {len(built)}" + (f" ({', '.join(built)})" if built else ""),
        f"- CUDA: {', '.join(cudas) or 'none'}",
        f"- nixpkgs pins: {_pins(m, vs)}",
    ]
    nav = f"[Build matrix]({ctx.link(INDEX)}) › [torch lines]({ctx.link(INDEX + '#torch-lines')}) › {line}"
    if others:
        nav += ". Other lines: " + ", ".join(others)
    return "\n\n".join(
        [
            f"# torch {line_label(m, line)}",
            nav + ".",
            "\n".join(facts),
            "## SM × ISA at a glance",
            GENERATORS["sm-isa-grids"](ctx),
            "## Variants",
            VARIANTS_INTRO.format(evidence=ctx.link(INDEX + "#recorded-evidence")),
            GENERATORS["variant-matrix"](ctx),
            f"## {UNVERIFIED_HEADING}",
            GENERATORS["unverified-fetches"](ctx),
        ]
    )


def line_pages(m: Matrix) -> dict[str, str]:
    """{page file name: torch line}, one per line the variants build: ``torch2_9.md`` → ``2.9``."""
    return {line_page(line).name: line for line in m.torch_lines}


LINE_PAGES = PageSet(directory=LINE_PAGES_DIR, pages=line_pages, render=render_page, what="torch line")
