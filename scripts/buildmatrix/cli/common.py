"""What every command shares: loading with warnings once, the one guard that turns errors into exit statuses, name splitting.

Each ``cmd_*`` function (here, and in the other modules of :mod:`buildmatrix.cli`) loads,
calls the package, prints, and returns a process exit status (``errors.EXIT_*``). The
errors this package raises on purpose carry their status (:mod:`buildmatrix.errors`);
:func:`guarded` is the one place that prints them and returns it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import model
from ..errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BuildMatrixError, ModelError, SkippedError


def _err(text: str) -> None:
    print(text, file=sys.stderr)


_WARNED: set[str] = set()  # each warning once per process, however often the file is loaded


def load(file: str | Path = model.DEFAULT_FILE, quiet: bool = False) -> model.Matrix:
    m = model.load(file)
    for w in m.warnings:
        if not quiet and w not in _WARNED:
            _err(f"warning: {w}")
        _WARNED.add(w)
    return m


def guarded(fn):
    """Turn this package's errors into a clear message on stderr and the status the error carries.

    ``ModelError`` prints its problems as they are, ``SkippedError`` its reason (a skip is no
    error), any other ``BuildMatrixError`` "error: ..."; an ``OSError`` (a file that cannot be
    written or read) is ``EXIT_FAILED`` with its file name. Other exceptions are bugs: traceback.
    """

    def wrapper(*args, **kwargs) -> int:
        try:
            return fn(*args, **kwargs)
        except (ModelError, SkippedError) as exc:
            _err(str(exc))
            return exc.exit_status
        except BuildMatrixError as exc:
            _err(f"error: {exc}")
            return exc.exit_status
        except OSError as exc:  # a file that cannot be written (read-only tree, full disk): a message, not a traceback
            _err(f"error: {exc.filename or ''}: {exc.strerror or exc}")
            return EXIT_FAILED

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def split_names(names: str | None) -> list[str] | None:
    """``"a,b c"`` → ``["a", "b", "c"]``; empty → None (everything)."""
    if not names:
        return None
    return [n for n in names.replace(",", " ").split() if n]


def _filtered(m: model.Matrix, names: list[str] | None, filters: dict) -> list[str] | None:
    """Variant names chosen by names and/or field filters; None means all."""
    if not names and not any(filters.values()):
        return None
    chosen = m.variants
    if names:
        chosen = [v for n in names for v in m.resolve(n)]
    picked = {v.name for v in m.select(**filters)}
    return [v.name for v in chosen if v.name in picked]


# ----------------------------------------------------------------------- gen


@guarded
def cmd_gen(
    file: str,
    root: str,
    names: str | None,
    check: bool,
    prune: bool = True,
    filters: dict | None = None,
    as_json: bool = False,
    quiet: bool = False,
) -> int:
    """Write (or check) the recipes and the jobset. A full run deletes generated recipes no variant
    produces any more (``prune``; hand-written files are never touched); ``--check`` fails on them."""
    from .. import recipes
    from ..recipes import jobset

    m = load(file, quiet=quiet or as_json)
    chosen = _filtered(m, split_names(names), filters or {})
    if chosen is not None and not chosen:
        _err("error: the names and filters select no variant")
        return EXIT_BAD_INPUT
    root_path = Path(root)
    say = (lambda *_: None) if quiet or as_json else print
    if check:
        drift = recipes.check(m, root_path, chosen)
        jobs_state = jobset.check(m, root_path) if chosen is None else ""
        flow_state = _workflow(m, root_path, write=False) if chosen is None else ""
        if flow_state:
            say(f"{flow_state:<9} {_workflow_file()}  (the GitHub Actions workflow, `invoke ci`)")
        jobs_state = jobs_state or flow_state
        count = len(chosen) if chosen is not None else len(m.variants)
        if as_json:
            out = {
                "clean": drift.clean and not jobs_state,
                "recipes": count,
                "missing": drift.missing,
                "different": drift.different,
                "stale": drift.stale,
                "lib": drift.lib or "unchanged",
                "jobset": jobs_state or "unchanged",
            }
            print(json.dumps(out, indent=2))
        if jobs_state:
            say(f"{jobs_state:<9} {jobset.JOBS_FILE}  (the jobset)")
        if drift.clean and not jobs_state:
            say(f"gen --check: {count} recipe(s) match variants.toml")
            return EXIT_OK
        for line in drift.lines():
            say(line)
        if not as_json:
            print(
                f"gen --check: {len(drift.lines()) + bool(jobs_state)} file(s) out of date; "
                "run `invoke gen` (it also deletes stale recipes)"
            )
        return EXIT_FAILED
    if chosen is None:
        jobset.check(m, root_path)  # a hand-written .flox/jobs.nix stops the run before anything is written
    report = recipes.generate(m, root_path, chosen, prune=prune)
    if report.lib != "unchanged":  # the helper file every recipe imports
        getattr(report, report.lib).append(str(recipes.LIB_FILE))
    if chosen is None:  # the jobset lists every variant: written with the full set only
        getattr(report, jobset.write(m, root_path)).append(str(jobset.JOBS_FILE))
        flow_state = _workflow(m, root_path, write=True)  # so is the workflow: one `invoke gen` after any edit
        if flow_state:
            (report.created if flow_state == "missing" else report.updated).append(str(_workflow_file()))
    from ..model import hashes

    if as_json:
        out = {k: getattr(report, k) for k in ("created", "updated", "unchanged", "pruned", "stale")}
        out["unverified"] = hashes.unverified(m)  # variant -> what it fetches unverified
        print(json.dumps(out, indent=2))
        return EXIT_OK
    for n in report.created:
        say(f"created   {n}")
    for n in report.updated:
        say(f"updated   {n}")
    for n in report.pruned:
        say(f"deleted   {n}  (stale: no variant produces it)")
    for n in report.stale:
        say(f"stale     {n}  (no variant produces it; a full `invoke gen` deletes it)")
    for line in hashes.unverified_report(m):
        say(line)
    say(
        f"gen: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.pruned)} deleted, {len(report.stale)} stale"
    )
    return EXIT_OK


def _workflow_file() -> Path:
    from ..ci import workflow

    return workflow.WORKFLOW_FILE


def _workflow(m: model.Matrix, root: Path, write: bool) -> str:
    """"" when the generated GitHub Actions workflow is current (or the repository has no
    .github/workflows), else "missing" / "different" (written first when ``write``)."""
    from .. import files as atomic
    from ..ci import workflow

    path = root / workflow.WORKFLOW_FILE
    if not path.parent.is_dir():
        return ""
    workflow.refuse_handwritten(path)
    text = workflow.render(m, workflow.load_config(m))
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == text:
        return ""
    if write:
        atomic.write_atomic(path, text)
    return "missing" if current is None else "different"


# --------------------------------------------------------------------- schema

SCHEMA_FILE = Path("docs") / "variants.schema.json"


@guarded
def cmd_schema(root: str, check: bool) -> int:
    from .. import files as atomic
    from ..spec import schema

    path = Path(root) / SCHEMA_FILE
    text = schema.json_schema()
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        if current == text:
            print(f"schema --check: {SCHEMA_FILE} is up to date")
            return EXIT_OK
        print(f"schema --check: {SCHEMA_FILE} is out of date; run `invoke schema`")
        return EXIT_FAILED
    if current != text:
        atomic.write_atomic(path, text)
        print(f"wrote {SCHEMA_FILE}")
    else:
        print(f"{SCHEMA_FILE} unchanged")
    return EXIT_OK


def cmd_ci(file: str, root: str, check: bool) -> int:
    """``invoke ci [--check]``."""
    from .. import files as atomic
    from ..ci import workflow
    @guarded
    def run() -> int:
        m = load(file)
        text = workflow.render(m, workflow.load_config(m))
        path = Path(root) / workflow.WORKFLOW_FILE
        workflow.refuse_handwritten(path)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if check:
            if current == text:
                print(f"ci --check: {workflow.WORKFLOW_FILE} matches variants.toml")
                return 0
            print(f"ci --check: {workflow.WORKFLOW_FILE} is {'missing' if current is None else 'out of date'}; run `invoke ci`")
            return 1
        if current == text:
            print(f"{workflow.WORKFLOW_FILE} unchanged")
        else:
            atomic.write_atomic(path, text)
            print(f"wrote {workflow.WORKFLOW_FILE}")
        return 0

    return run()
