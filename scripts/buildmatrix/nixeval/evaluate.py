"""Prove every generated recipe by real Nix evaluation against a stand-in nixpkgs.

nixpkgs cannot be downloaded here, so each recipe is evaluated with
``buildmatrixNixpkgs`` pointing at ``scripts/buildmatrix/nixeval/standin`` (a small package set
that models the interfaces the recipes use; see its README) configured with the
facts of the recipe's pin (chosen by the pin's rev) and the recipe's platform.

One driver expression imports every recipe and returns, per recipe, what the
recipe produced (drvPath, name, version, source, preConfigure text, cmakeFlags,
MAGMA's patches, passthru, meta, the torch inside each torchvision, …). A single
``nix-instantiate --eval --strict --json`` per job evaluates it, in read-write mode when
the store is writable, so that the same pass writes every ``.drv`` file. The
facts are compared in Python with what the model (variants.toml) declares.

Figures: recipes evaluated; distinct torch derivations ÷ unique torch
configurations (1.00 when every torchvision reuses its pytorch variant's torch);
TORCH_CUDA_ARCH_LIST entries per GPU torchvision/torchaudio (1 when each builds for one SM);
wall time.

Modules: ``nixrun`` (the stand-in, the driver expression, running nix-instantiate),
``nixcheck`` (what each recipe's facts must be, the Report), and this one: ``evaluate``
(select, evaluate in parallel batches, check, figure). The command line is :mod:`buildmatrix.cli.nixeval`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import ledger
from ..model import Matrix
from ..recipes import PKGS_DIR, file_name, jobset
from . import check as nixcheck
from . import fetchwalk
from . import run as nixrun

HARDWARE = "nix-instantiate (stand-in nixpkgs)"
CHUNK = 900  # recipes one nix-instantiate evaluates at most (the shipped matrix: 2 processes on 2 cores)


def evaluate(
    matrix: Matrix,
    root: Path,
    names: Iterable[str] | None = None,
    *,
    jobs: int | None = None,
    instantiate: bool | None = None,
    standin: Path | None = None,
) -> nixcheck.Report:
    """Evaluate the recipes of ``names`` (default: every variant) under ``root`` and check them.

    The pytorch variant of each selected torchvision is evaluated too. ``instantiate``
    (default: when the Nix store is writable) also writes every .drv file.
    """
    start = time.monotonic()
    root = Path(root).resolve()
    standin = (standin or nixrun.standin_dir(root)).resolve()
    variants = matrix.with_dependencies(names)
    report = nixcheck.Report(variants=[v.name for v in variants])
    jobs = max(1, jobs or min(4, os.cpu_count() or 1))
    if instantiate is None:
        instantiate = nixrun.store_writable()
    with tempfile.TemporaryDirectory(prefix="buildmatrix-nixeval-") as tmpdir:
        tmp = Path(tmpdir)
        dirs = nixrun.write_standins(variants, standin, tmp)
        entries = [nixrun.Entry(v, root / PKGS_DIR / file_name(v), dirs[(v.pin.rev, v.platform)]) for v in variants]
        n = max(jobs, -(-len(entries) // CHUNK))  # at most CHUNK recipes a process: its cost stays linear
        chunks = [entries[i::n] for i in range(n) if entries[i::n]]
        facts: dict[str, dict] = {}
        errors: dict[str, str] = {}
        pins: dict = {}
        with ThreadPoolExecutor(max_workers=min(jobs, len(chunks)) or 1) as pool:
            results = list(
                pool.map(lambda ic: nixrun.evaluate_chunk(ic[1], standin, tmp, str(ic[0]), instantiate), enumerate(chunks))
            )
        for f, e, p in results:
            facts.update(f)
            errors.update(e)
            pins = pins or p
        if instantiate:
            # The read-write evaluation wrote each .drv it evaluated: prove they are in the store.
            evaluated_drvs = {f["drvPath"] for f in facts.values()}
            written = {p for p in evaluated_drvs if Path(p).is_file()}
            report.instantiated = len(written)
            missing = sorted(evaluated_drvs - written)
            nixcheck.Checker(report, "(all)").eq("evaluated drvPaths that nix-instantiate did not write", [], missing[:5])
    if not pins:
        pins = nixrun.read_pins(standin)
    report.facts = facts
    report.evaluated = len(facts)
    for name, err in errors.items():
        report.mismatches.append(nixcheck.Mismatch(name, "eval", "an evaluated derivation", err))
    torch_drv_by_name: dict[str, str] = {}
    for v in variants:
        f = facts.get(v.name)
        if f is None or v.requires:
            continue
        torch_drv_by_name[v.name] = f["drvPath"]
        nixcheck.check_torch(nixcheck.Checker(report, v.name), v, f, pins[v.pin.rev], matrix)
    torch_drvs: set[str] = set(torch_drv_by_name.values())
    configs: set[tuple] = set()
    for v in variants:
        configs.add((matrix.torch_variant(v) if v.requires else v).torch_key)
        f = facts.get(v.name)
        if f is None or not v.requires:
            continue
        torch_drvs.update(f["torchDrvPaths"])
        shared = report.sharing.setdefault(v.package.name, [0, 0])
        shared[0] += f["torchDrvPaths"] == [torch_drv_by_name.get(v.requires)]
        shared[1] += 1
        nixcheck.check_companion(nixcheck.Checker(report, v.name), v, f, torch_drv_by_name.get(v.requires), matrix)
        if v.cuda is not None:
            arch = nixcheck.last_export(f["preConfigure"], "TORCH_CUDA_ARCH_LIST") or f["archList"] or ""
            report.arch_entries[v.name] = len([a for a in arch.split(";") if a])
    report.torch_derivations = len(torch_drvs)
    report.torch_configurations = len(configs)
    report.advisories = nixcheck.advisories(variants, facts, pins)
    report.wall_s = time.monotonic() - start
    return report


# ------------------------------------------------------------- records, the whole run


def record(root: Path, report: nixcheck.Report, start: str, end: str) -> None:
    rev = ledger.git_rev(root)
    host = ledger.host_name()
    for name in report.variants:
        problems = report.for_variant(name)
        status = "failed" if problems else "ok"
        detail = problems[0].line() if problems else "evaluated against the stand-in nixpkgs; every check passed"
        if len(problems) > 1:
            detail += f" (+{len(problems) - 1} more)"
        ledger.append(
            root,
            ledger.Record(
                variant=name,
                action="eval",
                status=status,
                start=start,
                end=end,
                git_rev=rev,
                host=host,
                hardware=HARDWARE,
                detail=" ".join(detail.split())[:500],
            ),
        )


def evaluate_all(
    matrix: Matrix, root: Path, names: list[str] | None, jobs: int | None = None, instantiate: bool | None = None
) -> tuple[nixcheck.Report, jobset.JobsetReport | None, fetchwalk.Walk]:
    """The recipes' report, the jobset's (None for a subset of names or no jobset file) and the fetch walk.

    The jobset (it lists every variant: evaluated when every recipe is) and the fetch walk are
    separate nix-instantiate runs: they run while the recipes are evaluated."""
    side = ThreadPoolExecutor(max_workers=2)
    try:
        jobs_f = None if names or not (root / jobset.JOBS_FILE).exists() else side.submit(jobset.evaluate, matrix, root, None, nixrun.nix_env())
        walk_f = side.submit(fetchwalk.walk, matrix, root, names or None)
        report = evaluate(matrix, root, names or None, jobs=jobs, instantiate=instantiate)
        return report, (jobs_f.result() if jobs_f else None), walk_f.result()
    finally:
        side.shutdown(wait=True)
