"""``nox -s eval`` / ``python -m buildmatrix.nixeval [--json] [--record] [--pinned] [NAMES]``: the Nix proof (:mod:`buildmatrix.nixeval`).

Exit 0 every recipe, the jobset and the fetch walk check out, 1 something does not, 2 bad
input (the model, a name, no ``nix-instantiate``). ``--pinned`` evaluates against the real pinned
trees in the store instead (:mod:`buildmatrix.nixeval.pinned`): 77 when none is there.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import EXIT_FAILED, EXIT_OK, EXIT_SKIPPED, UsageError
from . import common as cli


@cli.guarded
def cmd_eval(root: Path, file: Path, names: list[str], as_json: bool, record: bool, jobs: int | None, instantiate: bool | None) -> int:
    """Evaluate, optionally record, print the figures and every mismatch; the exit status of the whole proof."""
    from .. import ledger
    from ..nixeval import evaluate

    started, t0 = ledger.now(), time.monotonic()
    try:
        matrix = cli.load(file, quiet=True)
        report, jobs_report, walk = evaluate.evaluate_all(matrix, root, names or None, jobs=jobs, instantiate=instantiate)
    except FileNotFoundError as exc:  # no nix-instantiate (or no recipe): nothing could be evaluated
        raise UsageError(str(exc)) from None
    if record:
        evaluate.record(root, report, started, ledger.now())
    from ..model import hashes

    chosen = {v.name for n in names for v in matrix.resolve(n)} if names else set(matrix.by_name)
    declared = len(set(hashes.unverified(matrix)) & chosen)  # the count `invoke gen` prints for the same variants
    walk_lines = [
        f"fetch walk: {len(walk.fetches)} fetch calls; {declared} variant(s) fetch a pin or source declared unverified "
        f"(as `invoke gen` counts them); {len(walk.findings)} fetch(es) without a trustworthy hash nobody declared"
    ]
    walk_lines += [f"FETCH {x}" for x in walk.findings] + ([f"FETCH evaluation failed: {walk.error}"] if walk.error else [])
    total_s = time.monotonic() - t0
    walk_lines.append(f"total wall time: {total_s:.1f} s (target < 20 s on 2 cores for the whole shipped matrix)")
    if as_json:
        extra = {"jobset": jobs_report.as_dict()} if jobs_report else {}
        extra["total_wall_s"] = round(total_s, 2)
        extra["fetch_walk"] = {"fetches": len(walk.fetches), "declared_unverified_variants": declared, "findings": walk.findings, "error": walk.error}
        print(json.dumps({**report.as_dict(), **extra}, indent=2, sort_keys=True))
    else:
        print("\n".join(report.lines() + (jobs_report.lines() if jobs_report else []) + walk_lines))
    ok = report.ok and (jobs_report is None or jobs_report.ok) and walk.ok
    return EXIT_OK if ok else EXIT_FAILED


@cli.guarded
def cmd_eval_pinned(root: Path, file: Path, names: list[str], as_json: bool) -> int:
    """``--pinned``: every recipe against the pinned trees in the store; every failing assertion, grouped by key."""
    from ..nixeval import pinned

    matrix = cli.load(file, quiet=True)
    report = pinned.evaluate_pinned(matrix, root, names or None)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        print("\n".join(report.lines()))
    if not report.pins:
        cli._err("skipped: --pinned: no pinned tree is in the store; run `invoke observe` (or fetch a pin once) first")
        return EXIT_SKIPPED
    return EXIT_OK if report.ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m buildmatrix.nixeval [--json] [--record] [NAMES]``: print the figures and every mismatch."""
    from ..nixeval import evaluate
    from ..nixeval import run as nixrun

    parser = argparse.ArgumentParser(prog="python -m buildmatrix.nixeval", description=evaluate.__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="variant names or aliases (default: every variant)")
    parser.add_argument("--root", default=None, help="repository root (default: the one holding variants.toml)")
    parser.add_argument("--file", default=None, help="variants.toml (default: ROOT/variants.toml)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--record", action="store_true", help="append one `eval` ledger record per variant")
    parser.add_argument("--jobs", type=int, default=None, help="parallel nix-instantiate processes")
    parser.add_argument("--no-instantiate", action="store_true", help="evaluate only; write no .drv files")
    parser.add_argument("--pinned", action="store_true", help="evaluate against the pinned trees in the store (after `invoke observe`)")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else (Path.cwd() if (Path.cwd() / "variants.toml").exists() else nixrun.REPO)
    file = Path(args.file) if args.file else root / "variants.toml"
    instantiate = False if args.no_instantiate else None
    if args.pinned:
        return cmd_eval_pinned(root, file, args.names, args.json)
    return cmd_eval(root, file, args.names, args.json, args.record, args.jobs, instantiate)
