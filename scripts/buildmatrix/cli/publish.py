"""``invoke publish NAME --org ORG [--as-anchor]``: ``flox publish`` behind guards, plain or under the anchor's names.

The guards and the publishing are :mod:`buildmatrix.publish.plain`'s; the anchor branch and
its wrappers :mod:`buildmatrix.publish.anchor`'s. This one command checks the arguments, loads,
prints the guards (and with ``--as-anchor`` the plan), and publishes. Exit 0 published (or
``--check`` / ``--dry-run`` / ``--json``), 1 a guard or a step failed, 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import model
from ..errors import EXIT_FAILED, EXIT_OK, FailedError, UsageError
from . import common as cli


@cli.guarded
def cmd_publish(
    root: str | Path,
    file: str | Path,
    name: str,
    org: str,
    stability: str = "",
    no_smoke_required: bool = False,
    check_only: bool = False,
    torch: str = "",
    as_anchor: bool = False,
    dry_run: bool = False,
    as_json: bool = False,
) -> int:
    """``invoke publish``: the plain publish, or with ``as_anchor`` a non-default torch line's variant under its anchor name."""
    from ..builds import sessions as builds

    if not as_anchor and as_json:
        raise UsageError("--json goes with --as-anchor (the plain publish prints its plan with --dry-run)")
    if check_only and dry_run:
        raise UsageError("--check or --dry-run, not both: --check exits 1 when a guard fails, --dry-run shows the plan")
    if not org:
        raise UsageError("--org ORG is required (your Flox user name or organisation)")
    from ..builds import trust

    trust.org(org, "--org")  # it reaches flox's argv, a branch and the messages
    root = Path(root)
    m = cli.load(file)
    variants = builds.resolve_target(m, name, torch or None)
    if not as_json:  # the one line about unverified fetches (queries print none)
        cli.say_unverified(m, [v.name for v in variants])
    if as_anchor:
        return _as_anchor(root, m, variants, org, stability, no_smoke_required, check_only, dry_run, as_json)
    from ..publish import plain

    guards = plain.check_guards(root, m, variants, no_smoke_required=no_smoke_required)
    print(f"publish {', '.join(v.name for v in variants)} to {org}:")
    if dry_run:
        _guards_hold(guards, dry_run=True)
        for v in variants:
            print(f"would run: {' '.join(plain.publish_argv(v.name, org, stability or None))}")
        print(f"dry run: nothing was published; {_dry_run_state(guards)}")
        return EXIT_OK
    if not _guards_hold(guards):
        return EXIT_FAILED
    if check_only:
        print("all guards hold (--check: nothing published)")
        return EXIT_OK
    plain.publish_variants(root, variants, org, stability)
    print(f"published {', '.join(v.name for v in variants)} to {org}; `invoke ledger --promote` and a commit keep the record")
    return EXIT_OK


def _guards_hold(guards, *, then: str = "", dry_run: bool = False) -> bool:
    """Print the guards (then ``then``); False, after saying so, when one fails and this is no dry run."""
    failed = [g for g in guards if not g.ok]
    for g in guards:
        print(g.render())
    if then:
        print(then)
    if failed and not dry_run:
        print(f"{len(failed)} guard(s) failed; nothing was published.")
    return not failed


def _dry_run_state(guards) -> str:
    """What a dry run says of the guards: whether a real run would stop at them."""
    failed = sum(not g.ok for g in guards)
    return f"{failed} guard(s) fail now: a real run would stop there" if failed else "all guards hold"


def _as_anchor(
    root: Path,
    m: model.Matrix,
    variants: list[model.Variant],
    org: str,
    stability: str,
    no_smoke_required: bool,
    check_only: bool,
    dry_run: bool,
    as_json: bool,
) -> int:
    from ..publish import anchor, plain

    plan = anchor.make_plan(root, m, variants, org, stability)
    guards = plain.check_guards(root, m, variants, no_smoke_required=no_smoke_required)
    if as_json:
        print(json.dumps(plan.as_json(guards), indent=2))
        return EXIT_OK
    anchors = ", ".join(f"{w.variant} as {w.anchor}" for w in plan.wrappers)
    print(f"publish {anchors} to {org} (torch {plan.line}, branch {plan.branch}):")
    held = _guards_hold(guards, then=plan.render(), dry_run=dry_run)
    if dry_run:
        print(f"dry run: nothing was committed, pushed, cloned or published; {_dry_run_state(guards)}")
        return EXIT_OK
    if not held:
        return EXIT_FAILED
    if not plan.url:
        raise FailedError(f"the upstream of {plan.source_branch} is not a remote with a URL; push it to one (`git push -u origin <branch>`)")
    if check_only:
        print("all guards hold (--check: nothing committed or published)")
        return EXIT_OK
    anchor.execute(root, plan)
    return EXIT_OK
