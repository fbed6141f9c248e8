"""`invoke gen`, `invoke ci`, `invoke schema` and `invoke docs`: the generated files, through the one driver.

Each command gathers its outputs (:class:`buildmatrix.generated.Output`), plans them and checks
or writes them (``buildmatrix.generated``): a hand-written file where a generated one goes stops
the command with status 2 before anything is written; drift under ``--check`` is status 1.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from .. import generated, ledger, model
from ..errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from ..spec.schema import SCHEMA_FILE
from .common import _err, check_filters, guarded, load, say_unverified, split_names

__all__ = ["SCHEMA_FILE", "cmd_ci", "cmd_docs", "cmd_gen", "cmd_schema"]


def _filtered(m: model.Matrix, names: list[str] | None, filters: dict) -> list[str] | None:
    """Variant names chosen by names and/or field filters; None means all."""
    if not names and not any(filters.values()):
        return None
    chosen = m.variants
    if names:
        chosen = [v for n in names for v in m.resolve(n)]
    picked = {v.name for v in m.select(**filters)}
    return [v.name for v in chosen if v.name in picked]


def _single(root: str, output: generated.Output, check: bool) -> str:
    """Check (or write) one output; returns its state before: unchanged, missing or different."""
    planned = generated.plan(Path(root), [output])
    (generated.check if check else generated.write)(planned)
    return planned.state(output.path)


# ----------------------------------------------------------------------- gen


def _full_outputs(m: model.Matrix, with_workflow: bool) -> list[generated.Output]:
    from .. import recipes
    from ..ci import workflow
    from ..recipes import jobset

    return [*recipes.outputs(m), jobset.output(m), *([workflow.output(m)] if with_workflow else [])]


# buildmatrix.ci.workflow.WORKFLOW_FILE (tests/test_gencache.py holds them equal), named here so that
# a check from the memo does not import the workflow's generator (Jinja2, the build sessions).
WORKFLOW_FILE = PurePosixPath(".github") / "workflows" / "build.yml"


def _with_workflow(root: Path) -> bool:
    return (root / WORKFLOW_FILE).parent.is_dir()


def memo_key(root: Path, file: str) -> str:
    """The key of a full run's memo: variants.toml's bytes, the code, and whether the workflow is an output."""
    from .. import gencache

    return gencache.key(Path(file).read_bytes(), [f"workflow={_with_workflow(Path(root))}"])


def _gen_plan(m: model.Matrix, root: Path, chosen: list[str] | None, file: str, check: bool) -> generated.Plan:
    """The recipes; with every variant also the jobset and, where .github/workflows exists, the workflow
    (they list every variant), and the stale recipes. One plan: one refusal stops all three.

    A full run remembers what it rendered (``buildmatrix.gencache``); a full ``--check`` whose inputs
    are unchanged checks the files against those digests instead of rendering again."""
    from .. import gencache
    from ..recipes import OWNED, outputs

    if chosen is not None:
        return generated.plan(root, outputs(m, chosen))
    with_workflow = _with_workflow(root)
    key = memo_key(root, file)
    if check:
        full = gencache.outputs(root, key, lambda: _full_outputs(m, with_workflow))
    else:
        full = _full_outputs(m, with_workflow)
        gencache.store(root, key, full)
    return generated.plan(root, full, owned=[OWNED])


def _label(path: str) -> str:
    """How gen names a file: a recipe by its file name, the jobset and the workflow by their paths."""
    from .. import recipes

    return PurePosixPath(path).name if PurePosixPath(path).parent == recipes.OWNED.directory else path


def _gen_check_says(report: generated.Report, count: int, as_json: bool, say) -> int:
    from .. import recipes
    from ..recipes import jobset

    jobs, flow, lib = str(jobset.JOBS_FILE), str(WORKFLOW_FILE), str(recipes.LIB_FILE)
    about = {jobs: "  (the jobset)", flow: "  (the GitHub Actions workflow, `invoke ci`)"}
    lines = report.lines(_label, lambda field, path: about.get(path, ""))
    if as_json:

        def drift(path: str) -> str:
            return generated.MISSING if path in report.created else generated.DIFFERENT if path in report.updated else ""

        def recipes_of(paths) -> list[str]:
            return [_label(p) for p in paths if p not in (jobs, flow, lib)]

        out = {"clean": report.clean, "recipes": count, "missing": recipes_of(report.created)}
        out |= {"different": recipes_of(report.updated), "stale": recipes_of(report.stale)}
        out["lib"] = drift(lib) or generated.UNCHANGED  # the helper file every recipe imports
        out["jobset"] = drift(jobs) or drift(flow) or generated.UNCHANGED  # as before: the workflow's drift too
        print(json.dumps(out, indent=2))
    if report.clean:
        say(f"gen --check: {count} recipe(s) match variants.toml")
        return EXIT_OK
    for line in lines:
        say(line)
    if not as_json:
        print(f"gen --check: {len(lines)} file(s) out of date; run `invoke gen` (it also deletes stale recipes)")
    return EXIT_FAILED


def _gen_write_says(m: model.Matrix, report: generated.Report, as_json: bool, say) -> int:
    from ..model import hashes

    if as_json:
        out = {k: [_label(p) for p in v] if isinstance(v, list) else v for k, v in report.as_dict().items()}
        out["pruned"] = out["deleted"]  # the name before the one report shape
        out["unverified"] = hashes.unverified(m)  # variant -> what it fetches unverified
        print(json.dumps(out, indent=2))
        return EXIT_OK
    why = {"deleted": "  (stale: no variant produces it)", "stale": "  (no variant produces it; a full `invoke gen` deletes it)"}
    for line in report.lines(_label, lambda field, path: why.get(field, "")):
        say(line)
    say(f"gen: {report.summary()}")
    return EXIT_OK


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
    """Write (or check) the recipes, the jobset and the workflow. A full run deletes generated recipes no variant
    produces any more (``prune``; hand-written files are never touched); ``--check`` fails on them."""
    m = load(file, quiet=quiet or as_json)
    check_filters(m, filters or {})
    chosen = _filtered(m, split_names(names), filters or {})
    if chosen is not None and not chosen:
        _err("error: the names and filters select no variant")
        return EXIT_BAD_INPUT
    planned = _gen_plan(m, Path(root), chosen, file, check)
    say = (lambda *_: None) if quiet or as_json else print
    if check:
        count = len(chosen) if chosen is not None else len(m.variants)
        return _gen_check_says(generated.check(planned), count, as_json, say)
    if not (quiet or as_json):  # what the written recipes fetch unverified: one line (--json lists them all)
        say_unverified(m, chosen)
    return _gen_write_says(m, generated.write(planned, prune=prune), as_json, say)


# -------------------------------------------------------------- schema / ci


def _one_file(root: str, output: generated.Output, check: bool, task: str, current: str) -> int:
    """`invoke TASK [--check]` for a command with one output: ``current`` is how --check says it is in sync."""
    state = _single(root, output, check)
    name = output.path
    if check:
        if state == generated.UNCHANGED:
            print(f"{task} --check: {name} {current}")
            return EXIT_OK
        print(f"{task} --check: {name} is {'missing' if state == generated.MISSING else 'out of date'}; run `invoke {task}`")
        return EXIT_FAILED
    print(f"{name} unchanged" if state == generated.UNCHANGED else f"wrote {name}")
    return EXIT_OK


@guarded
def cmd_schema(root: str, check: bool) -> int:
    """`invoke schema [--check]`: docs/variants.schema.json from the model's spec."""
    from ..spec import schema

    return _one_file(root, schema.output(), check, "schema", "is up to date")


@guarded
def cmd_ci(file: str, root: str, check: bool) -> int:
    """`invoke ci [--check]`: .github/workflows/build.yml from variants.toml."""
    from ..ci import workflow

    return _one_file(root, workflow.output(load(file)), check, "ci", "matches variants.toml")


# ---------------------------------------------------------------------- docs


@guarded
def cmd_docs(root: str, file: str, check: bool, as_json: bool = False, quiet: bool = False) -> int:
    """`invoke docs [--check] [--json] [--quiet]`: 0 done / in sync, 1 drift or stale pages (--check), 2 bad model,
    markers or a hand-written file where a page goes (nothing written)."""
    from .. import docs

    m = load(file, quiet=quiet or as_json)
    report = docs.sync(Path(root), m, check=check)
    n_regions = sum(len(r) for r in report.regions.values())
    say = (lambda *_: None) if quiet or as_json else print
    try:
        pending = len(ledger.pending(Path(root)))
    except ledger.LedgerError as exc:  # this machine's records are not the docs' input: say so, do not fail the docs
        pending = 0
        if not quiet:
            _err(f"warning: {exc}")
    if as_json:
        keys = {"clean": report.clean, "drift": report.drift, "updated": report.updated, "unchanged": report.unchanged}
        keys |= {"pages": report.pages, "stale": report.stale, "files": report.files.as_dict()}
        print(json.dumps({**keys, "regions": n_regions, "local_records": pending}, indent=2))
    elif pending and not quiet:
        print(f"note: {pending} record(s) in {ledger.LOCAL} are not evidence in the docs until `invoke ledger --promote`")
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
        verb = "created" if rel in report.files.created else "updated"
        say(f"{verb}   {rel}  ({', '.join(report.drift[rel])})")
    for rel in report.stale:
        say(f"deleted   {rel}  (stale: a generated page variants.toml no longer gives)")
    say(
        f"docs: {len(report.updated)} updated, {len(report.stale)} deleted, {len(report.unchanged)} unchanged "
        f"({n_regions} generated regions, {pages})"
    )
    return EXIT_OK
