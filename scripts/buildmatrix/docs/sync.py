"""Read every document, render every region and page, and write only if nothing is wrong: `invoke docs [--check]`.

All marker problems of all files, and every hand-written file in the place of a generated page,
are collected before anything is rendered, so on any problem nothing is written; files whose
text changes are written atomically, and stale pages (of a torch line the model no longer has)
are deleted after that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .. import ledger
from ..errors import EXIT_FAILED, EXIT_OK
from ..files import sweep, write_atomic
from ..model import Matrix
from .anchor import ANCHOR_PAGES
from .context import DOCS_DIR, GENERATORS, README, Context
from .lines import LINE_PAGES
from .markers import DocsError, Parsed, fill, parse, region_text
from .pages import PageSet, plan_pages

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


@dataclass
class DocsReport:
    """What `invoke docs` did (or, with --check, would do)."""

    updated: list[str] = field(default_factory=list)  # documents and pages whose text changes (new pages too)
    unchanged: list[str] = field(default_factory=list)
    drift: dict[str, list[str]] = field(default_factory=dict)  # file → regions that differ ("new page", "page")
    regions: dict[str, list[str]] = field(default_factory=dict)  # document → regions found
    pages: list[str] = field(default_factory=list)  # every page the model gives
    stale: list[str] = field(default_factory=list)  # generated pages the model no longer gives (deleted unless --check)

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


@dataclass
class Plan:
    """Everything `invoke docs` would write, in memory: documents, pages (old text None: new) and stale pages."""

    documents: dict[PurePosixPath, tuple[str, str, Parsed]]  # file → (old text, new text, parsed old)
    pages: dict[PurePosixPath, tuple[str | None, str]]
    stale: list[PurePosixPath]


def plan(
    root: Path,
    matrix: Matrix,
    records: dict[tuple[str, str], ledger.Record] | None = None,
    required: dict[str, tuple[str, ...]] | None = None,
    pages: tuple[PageSet, ...] | None = None,
) -> Plan:
    """Parse every document and render every region and page in memory.

    Raises DocsError listing every marker problem of every file (and missing required files or
    regions, and hand-written files with the name of a generated page) before rendering any
    region, so a caller that writes only after this returns writes nothing on error.
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
    parsed_all: dict[PurePosixPath, tuple[str, Parsed]] = {}
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
        parsed_all[rel] = (text, parsed)
    page_plans = [plan_pages(root, page_set, matrix, records, problems) for page_set in pages]
    if problems:
        raise DocsError(problems)
    out = {}
    for rel, (text, parsed) in parsed_all.items():
        ctx = Context(matrix, records, rel)
        contents = {r.name: GENERATORS[r.name](ctx) for r in parsed.regions}
        out[rel] = (text, fill(parsed, contents), parsed)
    texts = {rel: t for p in page_plans if p for rel, t in p.texts.items()}
    return Plan(out, texts, sorted(rel for p in page_plans if p for rel in p.stale))


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
    report = DocsReport()
    texts: dict[PurePosixPath, str] = {}
    for rel, (old, new, parsed) in planned.documents.items():
        report.regions[str(rel)] = [r.name for r in parsed.regions]
        if old == new:
            report.unchanged.append(str(rel))
            continue
        after, _ = parse(new, str(rel))
        report.drift[str(rel)] = [
            r.name for r, a in zip(parsed.regions, after.regions) if region_text(parsed, r) != region_text(after, a)
        ]
        report.updated.append(str(rel))
        texts[rel] = new
    for rel, (old, new) in planned.pages.items():
        report.pages.append(str(rel))
        if old == new:
            report.unchanged.append(str(rel))
            continue
        report.drift[str(rel)] = ["new page" if old is None else "page"]
        report.updated.append(str(rel))
        texts[rel] = new
    report.stale = [str(rel) for rel in planned.stale]
    if not check:
        for directory in sorted({(root / rel).parent for rel in [*planned.documents, *planned.pages]}):
            sweep(directory)  # temp files of a run that was killed
        for rel, new in texts.items():
            write_atomic(root / rel, new)
        for rel in planned.stale:
            (root / rel).unlink(missing_ok=True)
    return report


def cmd_docs(root: str, file: str, check: bool, as_json: bool = False, quiet: bool = False) -> int:
    """`invoke docs [--check] [--json] [--quiet]`: 0 done / in sync, 1 drift or stale pages (--check), 2 bad model,
    markers or a hand-written file where a page goes (nothing written)."""
    from ..cli import common as cli

    @cli.guarded
    def run() -> int:
        m = cli.load(file, quiet=quiet or as_json)
        report = sync(Path(root), m, check=check)
        n_regions = sum(len(r) for r in report.regions.values())
        say = (lambda *_: None) if quiet or as_json else print
        if as_json:
            keys = {"clean": report.clean, "drift": report.drift, "updated": report.updated, "unchanged": report.unchanged}
            keys |= {"pages": report.pages, "stale": report.stale}
            print(json.dumps({**keys, "regions": n_regions, "local_records": len(ledger.pending(Path(root)))}, indent=2))
        elif ledger.pending(Path(root)) and not quiet:
            n = len(ledger.pending(Path(root)))
            print(f"note: {n} record(s) in {ledger.LOCAL} are not evidence in the docs until `invoke ledger --promote`")
        pages = f"{len(report.pages)} generated page(s)"
        if check:
            if report.clean:
                say(
                    f"docs --check: {len(report.regions)} file(s), {n_regions} generated region(s) and {pages} "
                    "match variants.toml and the ledger"
                )
                return EXIT_OK
            for rel, names in report.drift.items():
                say(f"out of date  {rel}  ({', '.join(names)})")
            for rel in report.stale:
                say(f"stale        {rel}  (a generated page variants.toml no longer gives; `invoke docs` deletes it)")
            if not as_json:
                print(f"docs --check: {len(report.drift) + len(report.stale)} file(s) out of date; run `invoke docs`")
            return EXIT_FAILED
        for rel in report.updated:
            verb = "created" if report.drift[rel] == ["new page"] else "updated"
            say(f"{verb}   {rel}  ({', '.join(report.drift[rel])})")
        for rel in report.stale:
            say(f"deleted   {rel}  (stale: a generated page variants.toml no longer gives)")
        say(
            f"docs: {len(report.updated)} updated, {len(report.stale)} deleted, {len(report.unchanged)} unchanged "
            f"({n_regions} generated regions, {pages})"
        )
        return EXIT_OK

    return run()
