"""Command implementations behind tasks.py and noxfile.py (which stay thin).

Each ``cmd_*`` function prints its output and returns a process exit status;
errors this package raises on purpose become a message on stderr and status 2
(bad input) or 1 (a check failed).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from .. import model
from ..errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BuildMatrixError, ModelError


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
    """Turn this package's errors into a clear message and an exit status."""

    def wrapper(*args, **kwargs) -> int:
        try:
            return fn(*args, **kwargs)
        except ModelError as exc:
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
    text = workflow.render(m, m.ci)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == text:
        return ""
    if write:
        atomic.write_atomic(path, text)
    return "missing" if current is None else "different"


# ---------------------------------------------------------------- list / show


def _row(v: model.Variant) -> list[str]:
    return [
        v.name,
        v.target,
        v.cuda.version if v.cuda else "-",
        v.gpu.name if v.gpu else "-",
        v.isa.name if v.isa else "-",
        v.platform,
        v.torch_version,
    ]


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r).rstrip() for r in rows]
    return "\n".join(lines)


@guarded
def cmd_list(file: str, filters: dict, as_json: bool, torch: str = "") -> int:
    """`invoke list`: the variants the filters select; ``torch`` ("2.9") keeps that torch line's (unknown: exit 2)."""
    m = load(file, quiet=as_json)
    chosen = m.select(**filters)
    if torch:
        chosen = m.on_line(torch, chosen)
    if as_json:
        print(json.dumps([v.as_dict() for v in chosen], indent=2))
        return EXIT_OK
    if not chosen:
        print("no variant matches these filters")
        return EXIT_OK
    print(table(["NAME", "TARGET", "CUDA", "GPU", "ISA", "PLATFORM", "TORCH"], [_row(v) for v in chosen]))
    by_pkg = Counter(v.package.name for v in chosen)
    print(f"\n{len(chosen)} variant(s): " + ", ".join(f"{n} {c}" for n, c in sorted(by_pkg.items())))
    return EXIT_OK


def _line_default(m: model.Matrix) -> str:
    return f", torch {m.defaults.torch}" if m.defaults.torch else ""


@guarded
def cmd_show(file: str, name: str, as_json: bool) -> int:
    from ..recipes import file_name, long_description, template_for

    m = load(file, quiet=as_json)
    variants = m.resolve(name)
    if as_json:
        print(json.dumps([v.as_dict() for v in variants], indent=2))
        return EXIT_OK
    for v in variants:
        torch = m.torch_variant(v)
        fields = [
            ("name", v.name),
            ("alias", f"{v.short} (defaults: Python {m.defaults.python}, CUDA {m.defaults.cuda}{_line_default(m)})"),
            ("package", f"{v.package.name} (nixpkgs attribute {v.python.attr}.{v.package.attr})"),
            ("target", v.target),
            ("python", v.python.version),
        ]
        if v.cuda:
            fields += [
                ("cuda", f"{v.cuda.version} ({v.pin.cuda_attr(v.cuda)}; driver >= {v.cuda.min_driver})"),
                ("gpu", f"{v.gpu.name} = capability {v.gpu.capability} ({v.gpu.family}: {', '.join(v.gpu.gpus)})"),
                ("cudnn", "on" if v.cudnn else "off"),
            ]
        if v.isa:
            fields.append(("isa", f"{v.isa.name} [{' '.join(v.isa.flags)}] on {v.isa.platform}"))
        fields += [
            ("platform", v.platform),
            ("pin", f"{v.pin.name} = {v.pin.rev}" + ("" if v.pin.sha256 else " (no sha256: unverified)")),
            ("torch", f"{v.torch_version} " + (f"from source {v.source.name} ({v.source.rev})" if v.source else "from the pin")
             + (f"; line {v.torch_line} (name token {v.line})" if v.line else "")),
            ("torch derivation", "this recipe" if torch is v else f"shared with {torch.name} (imported)"),
            ("allowBroken", "yes" if v.allow_broken else "no"),
            ("patches", ", ".join(f"{p.name} -> {p.package}" for p in v.patches) or "none"),
            ("recipe", f".flox/pkgs/{file_name(v)} (template {template_for(v)})"),
            ("produced by", " then ".join(v.origin)),
            ("description", v.description),
        ]
        width = max(len(k) for k, _ in fields)
        for k, val in fields:
            print(f"{k:<{width}}  {val}")
        print("\n" + long_description(v, m))
        if len(variants) > 1:
            print()
    return EXIT_OK


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


# ---------------------------------------------------------------------- edits


def _print_edit(result) -> int:
    for n in result.added:
        print(f"added     {n}")
    for n in result.removed:
        print(f"removed   {n}")
    if result.message:
        print(result.message)
    print(f"variants.toml: {len(result.added)} added, {len(result.removed)} removed; run `invoke gen` and `invoke docs`")
    return EXIT_OK


@guarded
def cmd_add(file: str, alias: str, block: str, cuda: str, python: str, packages: str, pin: str, torch: str, suffix: str) -> int:
    from .. import edit

    pkgs = split_names(packages)
    return _print_edit(
        edit.add(Path(file), alias, block=block, cuda=cuda, python=python, packages=pkgs, pin=pin, torch=torch, suffix=suffix)
    )


@guarded
def cmd_remove(file: str, names: str) -> int:
    from .. import edit

    chosen = split_names(names)
    if not chosen:
        _err("error: name the variants or aliases to remove")
        return EXIT_BAD_INPUT
    return _print_edit(edit.remove(Path(file), chosen))


@guarded
def cmd_pin(file: str, name: str, rev: str, source: bool, hash: str = "") -> int:
    from .. import edit

    result = edit.pin_source(Path(file), name, rev, hash) if source else edit.pin(Path(file), name, rev, hash)
    return _print_edit(result)


# ---------------------------------------------------------------------- magma


@guarded
def cmd_patch_magma(file: str, root: str, source: str, pin: str, patch_name: str, as_json: bool = False, quiet: bool = False) -> int:
    from ..magma import report as magma

    m = load(file, quiet=quiet or as_json)
    if not source:
        text, status = magma.report(m, Path(root))
        if as_json:
            print(json.dumps({"status": status, "patches": magma.report_data(m, Path(root))}, indent=2))
        elif not quiet:
            print(text)
        return status
    if patch_name not in m.patches:
        _err(f"error: no patch named {patch_name!r} (patches: {', '.join(m.patches)})")
        return EXIT_BAD_INPUT
    text, status = magma.check_against_source(m, m.patches[patch_name], Path(source), pin or None)
    if as_json:
        print(json.dumps({"status": status, "patch": patch_name, "source": source, "report": text.splitlines()}, indent=2))
    elif not quiet or status:
        print(text)
    return status


def cmd_ci(file: str, root: str, check: bool) -> int:
    """``invoke ci [--check]``."""
    from .. import files as atomic
    from ..ci import workflow
    @guarded
    def run() -> int:
        m = load(file)
        text = workflow.render(m, m.ci)
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


def cmd_ci_plan(file: str, tags: str, keyword: str, as_json: bool) -> int:
    """``invoke ci-plan``: what the workflow would run for these inputs."""
    from ..ci import workflow
    @guarded
    def run() -> int:
        m = load(file, quiet=as_json)
        result = workflow.plan(m, m.ci, tags, keyword)
        if as_json:
            print(json.dumps({"builds": [j.entry() for j in result["builds"]], "smoke": [s.entry() for s in result["smoke"]],
                              "untested": result["untested"]}, indent=2))  # fmt: skip
        else:
            print(workflow.summary(result), end="")
        return 0

    return run()
