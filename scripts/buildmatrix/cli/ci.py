"""``invoke ci-plan``, ``invoke ci-import`` and ``python -m buildmatrix.ci plan`` (the workflow's plan step).

What the workflow runs is :mod:`buildmatrix.ci.workflow`'s; importing a CI run's records is
:mod:`buildmatrix.ci.records`'. (``invoke ci``, writing the workflow, is in :mod:`.common`.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import EXIT_OK, FailedError
from . import common as cli


@cli.guarded
def cmd_ci_plan(file: str, tags: str, keyword: str, as_json: bool) -> int:
    """``invoke ci-plan``: what the workflow would run for these inputs."""
    from ..builds import trust
    from ..ci import workflow

    trust.selection(tags, keyword)  # bounded before any parsing
    m = cli.load(file, quiet=as_json)
    result = workflow.plan(m, m.ci, tags, keyword)
    if as_json:
        print(json.dumps({"builds": [j.entry() for j in result["builds"]], "smoke": [s.entry() for s in result["smoke"]],
                          "untested": result["untested"]}, indent=2))  # fmt: skip
    else:
        print(workflow.summary(result), end="")
    return EXIT_OK


@cli.guarded
def cmd_import(root: str, path: str, file: str | None = None) -> int:
    """``invoke ci-import PATH``: into the local ledger; ``invoke ledger --promote`` makes them evidence.

    Records are checked against the model ``file`` (default: ``root``'s variants.toml, when there is one)."""
    from .. import ledger
    from ..ci import records

    model_file = Path(file) if file else Path(root) / "variants.toml"
    variants = set(cli.load(model_file, quiet=True).by_name) if file or model_file.exists() else None
    new, skipped = records.import_records(Path(root), path, variants)
    for r in new:
        print(f"imported  {r.action:<6} {r.status:<11} {r.variant}  ({r.host}, {r.git_rev[:12]}, {r.end})")
    print(
        f"ci-import: {len(new)} record(s) appended to {ledger.LOCAL}, {skipped} already in the ledger; "
        f"`invoke ledger --promote` makes them evidence ({ledger.LEDGER}) and regenerates the docs"
    )
    return EXIT_OK


@cli.guarded
def cmd_plan_step(
    file: str,
    tags: str,
    keyword: str,
    smoke: bool,
    github_output: str | None,
    summary: str | None,
    build: str = "all",
    base: str = "",
    runs_json: str = "",
    cache: str = "",
) -> int:
    """The workflow's plan step: the summary (appended to ``summary``) and the matrices as GitHub outputs.

    ``build``: ``changed`` keeps the configurations whose derivations changed since ``base`` (else the
    commit of the last successful run in ``runs_json``) and miss from ``cache``; ``all`` everything
    selected. Exit 1 when the inputs select no torch configuration (after writing the outputs); a delta
    with nothing to build is no failure."""
    from ..builds import trust
    from ..ci import delta, workflow

    trust.selection(tags, keyword)  # workflow_dispatch inputs: anyone who may run the workflow writes them
    caches = [trust.store_url(u, "--cache") for u in cache.split()]
    m = cli.load(file, quiet=True)
    root = Path(file).resolve().parent
    rebuild = delta.rebuild(root, m, build, base, runs_json, caches)
    result = workflow.plan(m, m.ci, tags, keyword, smoke=smoke, only=rebuild.variants)
    text = workflow.summary(result, delta.summary_lines(rebuild))
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write("## buildmatrix plan\n\n" + text)
    print(text, end="")
    lines = "".join(f"{k}={v}\n" for k, v in result["outputs"].items())
    if github_output:
        with open(github_output, "a", encoding="utf-8") as fh:
            fh.write(lines)
    else:
        print(lines, end="")
    if not result["builds"] and rebuild.variants is None:
        raise FailedError(f"tags {tags!r} and keyword {keyword!r} select no torch configuration")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``python -m buildmatrix.ci plan``: the workflow's plan step (GitHub outputs and summary)."""
    parser = argparse.ArgumentParser(prog="python -m buildmatrix.ci")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="select the jobs; write the matrices as GitHub outputs")
    p.add_argument("--file", default="variants.toml")
    p.add_argument("--tags", default="")
    p.add_argument("--keyword", default="")
    p.add_argument("--smoke", default="true", choices=["true", "false"])
    p.add_argument("--build", default="all", choices=["changed", "all"],
                   help="changed: only configurations whose derivations changed since the base and miss from the cache")
    p.add_argument("--base", default="", help="the commit to compare with (default: the last successful run's, --runs-json)")
    p.add_argument("--runs-json", default="", help="GitHub's list of this workflow's successful runs, newest first (a file)")
    p.add_argument("--cache", default="", help="binary cache URL(s) to ask which outputs exist (space-separated)")
    p.add_argument("--github-output", help="append name=value lines here ($GITHUB_OUTPUT)")
    p.add_argument("--summary", help="append the Markdown summary here ($GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    return cmd_plan_step(args.file, args.tags, args.keyword, args.smoke == "true", args.github_output, args.summary,
                         args.build, args.base, args.runs_json, args.cache)  # fmt: skip
