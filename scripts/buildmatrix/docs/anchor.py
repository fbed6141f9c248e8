"""docs/BUILD_MATRIX.md region ``anchor-branches``: every branch of the hand-written anchor repositories and
where its recipe names are here (per branch, with name counts and the listed exceptions).

The data is ``tests/data/anchor-names/`` and ``tests/data/anchor-mapping-exceptions.toml`` next to the
model file; the scheme is :mod:`buildmatrix.anchormap` (tests/test_anchor_mapping.py holds every name to it).
"""

from __future__ import annotations

from .. import anchormap
from .context import Context, generator
from .markdown import table


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
        f"(`{anchormap.EXCEPTIONS_FILE}`). Names: `{anchormap.NAMES_DIR}/`."
    )
    header = ["Anchor branch", "torch", "Names", "Mapped", "Line here (token)", "Blocks here", "Pins here", "Exceptions"]
    return intro + "\n\n" + table(header, rows)
