"""Read every document, render every region and page, and write only if nothing is wrong: `invoke docs [--check]`.

All marker problems of all files, and every hand-written file in the place of a generated page,
are collected before anything is written, so on any problem nothing is written. Documents (their
regions filled) and pages are outputs of the one driver (``buildmatrix.generated``): files whose
text changes are written atomically, and stale pages (of a torch line the model no longer has)
are deleted after that. The command, ``cmd_docs``, is in ``buildmatrix.cli.generate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import generated, ledger
from ..model import Matrix
from .anchor import ANCHOR_PAGES
from .context import DOCS_DIR, GENERATORS, README, Context
from .lines import LINE_PAGES
from .markers import DocsError, Parsed, fill, parse, region_text
from .pages import PageSet, owned
from .pages import outputs as page_outputs_of

# Regions each shipped document must keep (deleting one by accident is an error, not silent drift).
REQUIRED: dict[str, tuple[str, ...]] = {
    "README.md": ("summary", "gpu-picker"),
    "docs/BUILD_MATRIX.md": (
        "summary",
        "counts",
        "version-matrix",
        "nixpkgs-patches",
        "unverified-fetches",
        "torch-lines",
        "anchor-branches",
        "evidence",
    ),
    "docs/QUICKSTART.md": ("decision-tree", "gpu-reference", "cpu-isa-guide", "examples", "magma-patch"),
    "docs/variants.md": ("key-reference", "hardware-rules", "matrix-blocks"),
    "docs/BUILDING.md": ("scale-jobs",),
}
# Wholly generated pages, derived from the model: one per torch line in docs/matrix/ (docs/lines.py).
PAGES: tuple[PageSet, ...] = (LINE_PAGES, ANCHOR_PAGES)


@dataclass(frozen=True, kw_only=True)
class DocsReport:
    """What `invoke docs` did (or, with --check, would do); ``files`` is the driver's report of it."""

    files: generated.Report
    updated: list[str]  # documents and pages whose text changes (new pages too), in file order
    unchanged: list[str]
    drift: dict[str, list[str]]  # file → regions that differ ("new page", "page")
    regions: dict[str, list[str]]  # document → regions found
    pages: list[str]  # every page the model gives
    stale: list[str]  # generated pages the model no longer gives (deleted unless --check)

    @property
    def clean(self) -> bool:
        return not (self.drift or self.stale)


def doc_files(root: Path) -> list[PurePosixPath]:
    """README.md and docs/*.md (those that exist), relative to ``root``."""
    out = []
    if (root / README).is_file():
        out.append(README)
    docs = root / DOCS_DIR
    if docs.is_dir():
        out += [DOCS_DIR / p.name for p in sorted(docs.iterdir()) if p.suffix == ".md" and p.is_file()]
    return out


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Everything `invoke docs` would write, in memory: the driver's plan and each document's parsed regions."""

    files: generated.Plan  # documents (regions filled), then pages; and the stale pages
    parsed: dict[PurePosixPath, Parsed]  # document → its regions as on disk
    pages: tuple[PurePosixPath, ...]


def plan(
    root: Path,
    matrix: Matrix,
    records: dict[tuple[str, str], ledger.Record] | None = None,
    required: dict[str, tuple[str, ...]] | None = None,
    pages: tuple[PageSet, ...] | None = None,
) -> Plan:
    """Parse every document and render every region and page in memory.

    Raises DocsError listing every marker problem of every file (and missing required files or
    regions, and hand-written files with the name of a generated page); no region is rendered
    when a marker is wrong, and a caller that writes only after this returns writes nothing on error.
    """
    required = REQUIRED if required is None else required
    pages = PAGES if pages is None else pages
    if records is None:
        try:
            records = ledger.latest(root, committed_only=True)  # local records show once promoted
        except ValueError as exc:
            raise DocsError([str(exc)], "the build ledger") from None
    problems: list[str] = []
    files = doc_files(root)
    for rel in sorted(required):
        if PurePosixPath(rel) not in files:
            problems.append(f"{rel}: missing (it must hold the regions {', '.join(required[rel])})")
    parsed_all: dict[PurePosixPath, Parsed] = {}
    for rel in files:
        try:
            text = _read(root / rel)
        except UnicodeDecodeError as exc:
            problems.append(f"{rel}: not UTF-8 ({exc})")
            continue
        parsed, errs = parse(text, str(rel))
        problems += errs
        names = {r.name for r in parsed.regions}
        for need in required.get(str(rel), ()):
            if need not in names:
                problems.append(
                    f"{rel}: region {need!r} is missing; add `<!-- BEGIN GENERATED: {need} -->` and "
                    f"`<!-- END GENERATED: {need} -->` where it belongs"
                )
        parsed_all[rel] = parsed
    page_outputs = [out for page_set in pages for out in page_outputs_of(root, page_set, matrix, records, problems)]
    documents = []
    if not problems:  # regions are rendered only from markers that parsed
        for rel, parsed in parsed_all.items():
            ctx = Context(matrix, records, rel)
            contents = {r.name: GENERATORS[r.name](ctx) for r in parsed.regions}
            documents.append(generated.Output(path=rel, text=fill(parsed, contents), marker=None, what="a document"))
    planned = generated.plan(root, [*documents, *page_outputs], owned=[owned(page_set) for page_set in pages])
    problems += planned.problems
    if problems:
        raise DocsError(problems)
    return Plan(files=planned, parsed=parsed_all, pages=tuple(o.path for o in page_outputs))


def sync(
    root: Path,
    matrix: Matrix,
    check: bool = False,
    records: dict[tuple[str, str], ledger.Record] | None = None,
    required: dict[str, tuple[str, ...]] | None = None,
    pages: tuple[PageSet, ...] | None = None,
) -> DocsReport:
    """Rewrite (or, with ``check``, compare) every generated region of README.md and docs/*.md, and every page.

    Only files whose text changes are written, each atomically (temp file + rename); then stale
    pages are deleted. Marker problems, and hand-written files where a page goes, raise DocsError
    before anything is written. ``records`` defaults to the ledger's latest records under
    ``root``; ``required`` to :data:`REQUIRED`, ``pages`` to :data:`PAGES`.
    """
    root = Path(root)
    planned = plan(root, matrix, records, required, pages)
    drift: dict[str, list[str]] = {}
    for entry in planned.files.entries:
        rel = entry.output.path
        if entry.state == generated.UNCHANGED:
            continue
        if rel not in planned.parsed:
            drift[str(rel)] = ["new page" if entry.state == generated.MISSING else "page"]
            continue
        before, (after, _) = planned.parsed[rel], parse(entry.output.text, str(rel))
        drift[str(rel)] = [
            r.name for r, a in zip(before.regions, after.regions) if region_text(before, r) != region_text(after, a)
        ]
    files = generated.check(planned.files) if check else generated.write(planned.files, prune=True)
    return DocsReport(
        files=files,
        updated=[str(e.output.path) for e in planned.files.entries if e.state != generated.UNCHANGED],
        unchanged=list(files.unchanged),
        drift=drift,
        regions={str(rel): [r.name for r in parsed.regions] for rel, parsed in planned.parsed.items()},
        pages=[str(rel) for rel in planned.pages],
        stale=[str(rel) for rel in planned.files.stale],
    )
