"""Read every document, render every region, and write only if nothing is wrong: `invoke docs [--check]`.

All marker problems of all files are collected before anything is rendered, so on any problem
nothing is written; files whose text changes are written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .. import ledger
from ..atomic import sweep, write_atomic
from ..errors import EXIT_FAILED, EXIT_OK
from ..model import Matrix
from .context import DOCS_DIR, GENERATORS, README, Context
from .markers import DocsError, Parsed, fill, parse, region_text

# Regions each shipped document must keep (deleting one by accident is an error, not silent drift).
REQUIRED: dict[str, tuple[str, ...]] = {
    "README.md": ("summary", "gpu-picker"),
    "docs/BUILD_MATRIX.md": (
        "summary",
        "counts",
        "version-matrix",
        "nixpkgs-patches",
        "unverified-fetches",
        "sm-isa-grids",
        "variant-matrix",
        "anchor-branches",
        "evidence",
    ),
    "docs/QUICKSTART.md": ("decision-tree", "gpu-reference", "cpu-isa-guide", "examples", "magma-patch"),
    "docs/variants.md": ("key-reference", "hardware-rules", "matrix-blocks"),
    "docs/BUILDING.md": ("scale-jobs",),
}


@dataclass
class DocsReport:
    """What `invoke docs` did (or, with --check, would do)."""

    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: dict[str, list[str]] = field(default_factory=dict)  # file → regions that differ
    regions: dict[str, list[str]] = field(default_factory=dict)  # file → regions found

    @property
    def clean(self) -> bool:
        return not self.drift


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


def plan(
    root: Path,
    matrix: Matrix,
    records: dict[tuple[str, str], ledger.Record] | None = None,
    required: dict[str, tuple[str, ...]] | None = None,
) -> dict[PurePosixPath, tuple[str, str, Parsed]]:
    """Parse every document and render every region in memory: {file: (old text, new text, parsed old)}.

    Raises DocsError listing every marker problem of every file (and missing required files or
    regions) before rendering anything, so a caller that writes only after this returns writes
    nothing on error.
    """
    required = REQUIRED if required is None else required
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
    if problems:
        raise DocsError(problems)
    out = {}
    for rel, (text, parsed) in parsed_all.items():
        ctx = Context(matrix, records, rel)
        contents = {r.name: GENERATORS[r.name](ctx) for r in parsed.regions}
        out[rel] = (text, fill(parsed, contents), parsed)
    return out


def sync(
    root: Path,
    matrix: Matrix,
    check: bool = False,
    records: dict[tuple[str, str], ledger.Record] | None = None,
    required: dict[str, tuple[str, ...]] | None = None,
) -> DocsReport:
    """Rewrite (or, with ``check``, compare) every generated region of README.md and docs/*.md.

    Only files whose text changes are written, each atomically (temp file + rename). Marker
    problems raise DocsError before anything is written. ``records`` defaults to the ledger's
    latest records under ``root``; ``required`` to :data:`REQUIRED`.
    """
    root = Path(root)
    planned = plan(root, matrix, records, required)
    report = DocsReport()
    for rel, (old, new, parsed) in planned.items():
        report.regions[str(rel)] = [r.name for r in parsed.regions]
        if old == new:
            report.unchanged.append(str(rel))
            continue
        after, _ = parse(new, str(rel))
        report.drift[str(rel)] = [
            r.name for r, a in zip(parsed.regions, after.regions) if region_text(parsed, r) != region_text(after, a)
        ]
        report.updated.append(str(rel))
    if not check:
        for directory in sorted({(root / rel).parent for rel in planned}):
            sweep(directory)  # temp files of a run that was killed
        for rel in report.updated:
            write_atomic(root / rel, planned[PurePosixPath(rel)][1])
    return report


def cmd_docs(root: str, file: str, check: bool, as_json: bool = False, quiet: bool = False) -> int:
    """`invoke docs [--check] [--json] [--quiet]`: 0 done / in sync, 1 drift (--check), 2 bad model or markers (nothing written)."""
    from .. import cli

    @cli.guarded
    def run() -> int:
        m = cli.load(file, quiet=quiet or as_json)
        report = sync(Path(root), m, check=check)
        n_regions = sum(len(r) for r in report.regions.values())
        say = (lambda *_: None) if quiet or as_json else print
        if as_json:
            keys = {"clean": report.clean, "drift": report.drift, "updated": report.updated, "unchanged": report.unchanged}
            print(json.dumps({**keys, "regions": n_regions, "local_records": len(ledger.pending(Path(root)))}, indent=2))
        elif ledger.pending(Path(root)) and not quiet:
            n = len(ledger.pending(Path(root)))
            print(f"note: {n} record(s) in {ledger.LOCAL} are not evidence in the docs until `invoke ledger --promote`")
        if check:
            if report.clean:
                say(
                    f"docs --check: {len(report.regions)} file(s), {n_regions} generated region(s) match variants.toml and the ledger"
                )
                return EXIT_OK
            for rel, names in report.drift.items():
                say(f"out of date  {rel}  ({', '.join(names)})")
            if not as_json:
                print(f"docs --check: {len(report.drift)} file(s) out of date; run `invoke docs`")
            return EXIT_FAILED
        for rel in report.updated:
            say(f"updated   {rel}  ({', '.join(report.drift[rel])})")
        say(f"docs: {len(report.updated)} updated, {len(report.unchanged)} unchanged ({n_regions} generated regions)")
        return EXIT_OK

    return run()
