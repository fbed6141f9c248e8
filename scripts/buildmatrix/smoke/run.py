"""Smoke tests of built variants on matching hardware.

``python -m buildmatrix.smoke [--variant NAME|ALIAS] [--python PATH] [--result PATH]
[--json FILE|-] [--expect-python V] [--expect-torch V] [--expect-torchvision V] [--expect-torchaudio V]
[--expect-cuda V] [--expect-cudnn on|off|any] [--expect-magma on|off|any]
[--record] [--timeout S] [--force] [--print-expectations] [--file variants.toml] [--root DIR]``

What happens for one variant:

1. ``expect.expectations(m, v)`` turns the model into the JSON the checker reads (Python,
   torch version, CUDA, SM, ISA features, cuDNN, MAGMA…). ``--expect-*`` flags
   replace single values; the report lists every replaced value under
   ``overridden`` (model value and the value used), the summary says so, and a
   ledger record of such a run says it too (``detail`` starts with
   "expectations overridden", ``extra.overridden``).
2. The host is probed (:mod:`buildmatrix.detect.probe`, :func:`buildmatrix.detect.fit.assess`); a variant whose platform, ISA,
   GPU architecture or driver does not fit is skipped (exit 77) without starting
   anything, unless ``--force``.
3. An interpreter is found (below, :mod:`buildmatrix.smoke.resultenv`) and ``scripts/smoke_check.py``
   runs in it (:mod:`buildmatrix.smoke.checkrun`) as a
   child process (own session, time limit ``--timeout``, ``PYTHONFAULTHANDLER=1``).
   The checker streams progress events, so a child killed by a signal is reported
   as a failure of the step it was in: SIGILL names the ISA and the CPU features
   the host lacks, SIGSEGV/SIGBUS/SIGABRT/SIGKILL and timeouts get their likely cause.

Finding the interpreter for a flox/nix result (a result has no ``bin/python``):

* The result is ``--result PATH`` or the ``result-<variant>`` link that ``flox build``
  leaves next to ``.flox`` (in ``--root``). Its store path is a buildPythonPackage
  output: ``<out>/lib/python3.X/site-packages`` (3.X names the interpreter it was
  built for) and ``<out>/nix-support/propagated-build-inputs`` (store paths, e.g.
  torchvision → torch's ``out``, torch → numpy, sympy…). ``PYTHONPATH`` is the
  site-packages of the result and of its propagated inputs, transitively, result
  first (what nixpkgs' ``requiredPythonModules`` collects); ``PYTHONNOUSERSITE=1``
  keeps ``~/.local`` out, and the checker fails if torch was imported from
  anywhere else.
* The interpreter: ``--python`` if given; else ``python3.X`` of the
  ``python3-3.X.*`` store path in ``nix-store --query --requisites <out>`` (torch's
  wrapped scripts put its interpreter in the closure); else ``python3.X`` on PATH,
  with a note (a host CPython of the same minor usually loads Nix-built extensions,
  but not when its glibc is older than the build's).
* Limits: ``.pth`` files of those site-packages are not processed (PYTHONPATH
  entries are not site dirs); propagated inputs that are not Python packages are
  ignored. The alternative is an environment built by Nix,
  ``python3.withPackages (ps: [ (import .flox/pkgs/<variant>.nix { }) ])``,
  passed as ``--python <env>/bin/python3`` (give no ``--result``).
* On a host that is not NixOS, Nix's torch looks for ``libcuda.so.1`` in
  ``/run/opengl-driver/lib``. When that is missing, the driver's libraries (found
  with ``ldconfig -p``) are symlinked into a private directory put on
  ``LD_LIBRARY_PATH`` (only libcuda / libnvidia-*, never the host's libc).
* ``--python PATH`` without a result runs that interpreter as it is (no PYTHONPATH
  change): how a stand-in torch is tested, e.g. a preinstalled wheel with
  ``--expect-torch``/``--expect-python`` overrides.

With no ``--variant``, every ``result-<name>`` link in the root that names a
variant is tested when its hardware matches this host; the rest are skipped with
the reason (extra-output links ``-dev``/``-lib``/``-log`` are ignored).

The command line is :mod:`buildmatrix.cli.smoke`. Exit status (the table in :mod:`buildmatrix.errors`): 0 pass (every check passed;
notes and skipped sub-checks allowed), 1 a check failed (or the checker crashed / timed
out), 2 bad usage (unknown variant, no interpreter), 77 skipped: this host's hardware
does not match (also when there is nothing to test). Several variants: 1 if any
failed, else 0 if any passed, else 77.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import ledger
from ..detect.fit import assess
from ..detect.gpu import Runner, run_command
from ..detect.host import Host
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_SKIPPED, UsageError
from .checkrun import DEFAULT_TIMEOUT, run_checker
from .expect import apply_overrides, expectations
from .resultenv import discover, driver_shim

LEDGER_STATUS = {"pass": "ok", "fail": "failed", "skipped": "skipped"}
EXTRA_OUTPUTS = ("dev", "lib", "log", "cxxdev", "dist", "doc", "man", "bin")


# -------------------------------------------------------------- one variant


def skipped_report(exp: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        "schema": 1,
        "tool": "buildmatrix.smoke",
        "variant": exp["variant"],
        "status": "skipped",
        "exit_code": EXIT_SKIPPED,
        "reason": reason,
        "overridden": exp.get("overridden") or {},
        "expectations": exp,
        "checks": [],
        "seconds": 0.0,
    }


def smoke_variant(
    m: Any,
    v: Any,
    host: Host,
    root: Path,
    result: Path | None = None,
    python: str | None = None,
    overrides: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
    stream: bool = True,
    run: Runner = run_command,
) -> dict[str, Any]:
    """Smoke-test one variant and return its report (``status`` pass/fail/skipped, ``exit_code``)."""
    exp = apply_overrides(expectations(m, v), overrides)
    verdict = assess(m, v, host)
    if not verdict.fits and not force:
        rep = skipped_report(exp, f"hardware does not match: {'; '.join(verdict.reasons)}")
        rep["host"] = host.as_dict()
        return rep
    if result is None and not python:
        link = root / f"result-{v.name}"
        if link.exists() or link.is_symlink():
            result = link
    interp = discover(result, python, run=run)
    if interp.pythonpath:
        exp["torch_paths"] = list(interp.pythonpath)
    with tempfile.TemporaryDirectory(prefix="buildmatrix-driver-") as shim_dir:
        if interp.store_path is not None:
            # Nix binaries find their libraries through RUNPATH; an inherited LD_LIBRARY_PATH would override it.
            if os.environ.get("LD_LIBRARY_PATH"):
                interp.notes.append("LD_LIBRARY_PATH of this shell dropped for the result (it would override Nix's RUNPATH)")
            interp.env["LD_LIBRARY_PATH"] = ""
            if v.cuda is not None:
                try:
                    src = driver_shim(Path(shim_dir), run=run)
                except OSError:
                    src = None
                if src:
                    interp.env["LD_LIBRARY_PATH"] = shim_dir
                    interp.notes.append(f"not NixOS (/run/opengl-driver/lib missing): driver libraries of {src} linked in")
        report = run_checker(interp, exp, timeout=timeout, host=host, stream=stream)
    report["tool"] = "buildmatrix.smoke"
    report["interpreter"] = interp.as_dict()
    report["host"] = host.as_dict()
    report["hardware"] = host.hardware()
    report["fit"] = {"kind": verdict.kind, "reasons": verdict.reasons, "forced": bool(force and not verdict.fits)}
    if interp.store_path is None and exp.get("overridden"):
        report["stand_in"] = True
    return report


def record_smoke(root: Path, report: dict[str, Any], host: Host, start: str) -> Path:
    """Append the run to the ledger as a ``smoke`` record."""
    status = LEDGER_STATUS[report["status"]]
    checks = report.get("checks") or []
    counts: dict[str, int] = {}
    for c in checks:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    detail = report.get("reason") or f"{counts.get('pass', 0)} checks passed"
    over = report.get("overridden") or {}
    if over:
        detail = "expectations overridden (" + ", ".join(f"{k}={o['value']}" for k, o in sorted(over.items())) + "): " + detail
    interp = report.get("interpreter") or {}
    rec = ledger.Record(
        variant=report["variant"],
        action="smoke",
        status=status,
        start=start,
        end=ledger.now(),
        git_rev=ledger.git_rev(root),
        host=ledger.host_name(),
        hardware=host.hardware(),
        result=interp.get("store_path") or interp.get("python") or "",
        detail=detail,
        extra={
            "checks": counts,
            "overridden": over,
            "stand_in": bool(report.get("stand_in")),
            "interpreter": interp.get("python"),
            "torch": (report.get("environment") or {}).get("torch"),
            "seconds": report.get("seconds"),
        },
    )
    return ledger.append(root, rec)


# ------------------------------------------------------------------ commands


def result_links(root: Path, m: Any) -> tuple[list[tuple[Any, Path]], list[str]]:
    """(variant, link) for every ``result-<variant>`` in root; plus names that are no variant."""
    found, unknown = [], []
    for link in sorted(root.glob("result-*")):
        name = link.name.removeprefix("result-")
        if name in m.by_name:
            found.append((m.by_name[name], link))
            continue
        base, _, out = name.rpartition("-")
        if out in EXTRA_OUTPUTS and base in m.by_name:
            continue
        unknown.append(link.name)
    return found, unknown


def render_summary(report: dict[str, Any]) -> str:
    status = report["status"].upper()
    checks = report.get("checks") or []
    n_pass = sum(1 for c in checks if c["status"] == "pass")
    line = f"{status:<7} {report['variant']}"
    if report["status"] == "pass":
        line += f" ({n_pass} checks passed in {report.get('seconds', 0):.1f}s)"
    else:
        line += f": {report.get('reason', '')}"
    over = report.get("overridden") or {}
    if over:
        line += "\n        expectations overridden: " + ", ".join(
            f"{k} {o['model']} -> {o['value']} ({o['flag']})" for k, o in sorted(over.items())
        )
        if report.get("stand_in"):
            line += "\n        stand-in interpreter: this run tests the smoke checks and this host, not the variant's own build"
    for note in (report.get("interpreter") or {}).get("notes", []):
        line += f"\n        note: {note}"
    return line


def combine(statuses: list[str]) -> int:
    """The exit status of several runs: failed if any failed, else ok if any passed, else skipped."""
    if "fail" in statuses:
        return EXIT_FAILED
    if "pass" in statuses:
        return EXIT_OK
    return EXIT_SKIPPED


def targets(m: Any, root: Path, variant: str | None, result: str | Path | None) -> tuple[list[tuple[Any, Path | None]], list[str]]:
    """(variant, result or None) to test, and the ``result-*`` links that name no variant.

    ``variant`` (a name or alias) picks its variants, with ``result`` as their result; without it,
    every ``result-<variant>`` link in ``root``."""
    if variant:
        return [(v, Path(result) if result else None) for v in m.resolve(variant)], []
    if result:
        raise UsageError("--result needs --variant (which variant the result is)")
    return result_links(root, m)


def run_targets(
    m: Any,
    root: Path,
    host: Host,
    chosen: list[tuple[Any, Path | None]],
    python: str | None = None,
    overrides: dict[str, Any] | None = None,
    record: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
    stream: bool = True,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Smoke-test each target: (a report per target, the usage problems of those that could not even start).

    With ``record``, a tested result's report becomes a ``smoke`` ledger record (not a usage
    problem, nor a variant with no build here); each recording is said on stderr."""
    reports: list[dict[str, Any]] = []
    usage_errors: list[str] = []
    for v, res in chosen:
        start = ledger.now()
        try:
            rep = smoke_variant(m, v, host, root, res, python, overrides, timeout, force, stream)
        except UsageError as exc:
            rep = dict(skipped_report(expectations(m, v), ""), status="fail", exit_code=EXIT_FAILED)
            rep["reason"] = f"cannot run: {exc}"
            usage_errors.append(f"{v.name}: {exc}")
        reports.append(rep)
        link = root / f"result-{v.name}"
        tested = res is not None or bool(python) or link.exists() or link.is_symlink()
        if record and not tested:  # no build here to test: a skip would look like evidence about one
            print(f"not recorded: no result-{v.name} here, so nothing about the build was tested", file=sys.stderr)
        elif record and not rep["reason"].startswith("cannot run: "):  # a usage problem is no evidence
            path = record_smoke(root, rep, host, start)
            print(f"recorded in {path}", file=sys.stderr)
    return reports, usage_errors
