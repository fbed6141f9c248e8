"""Where the anchor's recipe names are here: region ``anchor-branches`` of docs/BUILD_MATRIX.md (per branch,
with name counts and the listed exceptions) and one wholly generated page per anchor repository,
``docs/anchor/<repo>.md`` (:data:`ANCHOR_PAGES`: every name, branch by branch, and its variant).

The data is ``scripts/buildmatrix/model/anchor-names/`` and ``scripts/buildmatrix/model/anchor-exceptions.toml`` next to the
model file; the scheme is :mod:`buildmatrix.model.anchormap` (tests/test_anchor_mapping.py holds every name to it).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ..model import Matrix, anchormap
from .context import Context, generator
from .facts import line_link
from .markdown import code, table
from .pages import PageSet


@generator("anchor-branches")
def gen_anchor_branches(ctx: Context) -> str:
    m = ctx.matrix
    root = m.path.parent
    if not (root / anchormap.NAMES_DIR / "branches.toml").is_file():
        return f"The anchor's names are not in this checkout ({anchormap.NAMES_DIR}/)."
    rows = anchormap.branch_rows(m, root)
    total = sum(int(r[2]) for r in rows)
    mapped = sum(int(r[3]) for r in rows)
    intro = (
        f"The {len(rows)} branches of the hand-written repositories this file replaces "
        "(barstoolbluz/build-pytorch, build-torchvision) and where their "
        f"{total} recipe names are here: {mapped} map to a variant with the same package, Python, CUDA, GPU, ISA "
        "and torch version. A branch's name gains its torch line's token unless that is the default line "
        "([Names](variants.md#names)); the other names are listed exceptions, each with its reason "
        f"(`{anchormap.EXCEPTIONS_FILE}`). Names: `{anchormap.NAMES_DIR}/`; every name and its variant: "
        + ", ".join(f"[{r}]({ctx.link(str(ANCHOR_PAGES_DIR / f))})" for f, r in _anchor_pages(m).items())
        + "."
    )
    header = ["Anchor branch", "torch", "Names", "Mapped", "Line here (token)", "Blocks here", "Pins here", "Exceptions"]
    return intro + "\n\n" + table(header, rows)


# ------------------------------------------------------------- per-name pages (docs/anchor/<repo>.md)

ANCHOR_PAGES_DIR = PurePosixPath("docs") / "anchor"


def _anchor_pages(m: Matrix) -> dict[str, str]:
    """One page per anchor repository named in the anchor data: {``build-pytorch.md``: ``build-pytorch``}."""
    root = m.path.parent
    if not (root / anchormap.NAMES_DIR / "branches.toml").is_file():
        return {}
    return {f"{repo}.md": repo for repo in sorted({b["repo"] for b in anchormap.branches(root)})}


def render_anchor_page(ctx: Context) -> str:
    """Every recipe name of one anchor repository, branch by branch, and the variant it is here (or why none)."""
    m, repo = ctx.matrix, ctx.line
    maps = [bm for bm in anchormap.map_all(m, m.path.parent) if bm.facts["repo"] == repo]
    total = sum(len(bm.mapped) + len(bm.excepted) + len(bm.unmapped) for bm in maps)
    parts = [
        f"# Anchor names: {repo}",
        f"Every recipe name of the {len(maps)} branches of barstoolbluz/{repo} ({total} names), and the variant it is "
        "here by the documented scheme ([Names](../variants.md#names): a branch off the default torch line gains its "
        "line's token). A name that is not a variant here says why (the listed exceptions, "
        f"`{anchormap.EXCEPTIONS_FILE}`). The per-branch counts: "
        f"[BUILD_MATRIX.md]({ctx.link('docs/BUILD_MATRIX.md#anchor-branches')}).",
    ]
    for bm in maps:
        rows = []
        for name in anchormap.names(m.path.parent, repo, bm.facts["branch"]):
            if name in bm.mapped:
                v = bm.mapped[name]
                here = code(v.name) + (f" ({line_link(ctx, v.torch_line)})" if v.torch_line else "")
            elif name in bm.excepted:
                here = "— " + bm.excepted[name].reason
            else:
                here = "— not a variant here (unmapped)"
            rows.append([code(name), here])
        torch = bm.facts["torch"] or "—"
        parts.append(f"## `{bm.facts['branch']}` (torch {torch}, {len(rows)} names, {len(bm.mapped)} mapped)")
        parts.append(table(["Anchor name", "Variant here"], rows))
    return "\n\n".join(parts)


ANCHOR_PAGES = PageSet(directory=ANCHOR_PAGES_DIR, pages=_anchor_pages, render=render_anchor_page, what="anchor repository")
