"""`nox -s build-… -- --dry-run`: what a build would do, on any machine, with or without flox.

Prints the exact ``flox build`` argv, the ``NIX_CONFIG`` it would get, every recipe (and
whether git tracks it), the log paths, the parallelism and why, the builders, and then,
plainly, what a dry run cannot know here (flox missing, what Nix would substitute or
build, the store paths). Nothing is built or recorded. A dry run fails only for what
would certainly stop the real build (a missing recipe, a platform this host cannot
build for without ``--force``); a missing ``flox`` is a note, not a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import ledger, model
from ..errors import BuildMatrixError
from . import builders, parallelism, trust
from . import flox as floxrun


def dry_run(
    root: Path,
    variants: Sequence[model.Variant],
    options: Any,
    argv: Sequence[str],
    env: Mapping[str, str],
    say=print,
) -> floxrun.Outcome:
    """Preview the build of ``variants``: ``options`` is the caller's ``builds.BuildOptions``, ``argv`` the
    ``flox build`` command line it would run (the caller forms both; nothing here imports ``builds``)."""
    try:
        remote = builders.load(root, env)
    except BuildMatrixError as exc:
        return floxrun.Outcome(floxrun.STATUS_REFUSED, str(exc))
    par = parallelism.plan_parallelism(variants, cores=options.cores, max_jobs=remote.max_jobs(options.max_jobs))
    run_env, note = parallelism.nix_config_env(env, par, forced=options.cores is not None, extra=remote.nix_config_lines())
    logs = [floxrun.LOG_DIR / f"{v.name}.log" for v in variants]
    say("build (dry run: nothing is built or recorded)")
    say(f"  command:     {' '.join(trust.redact_argv(argv))}   (in {root})")
    say(f"  NIX_CONFIG:  {trust.show_nix_config(run_env.get('NIX_CONFIG', ''))!r}")  # as the build prints it, redacted
    say(f"  parallelism: cores={par.cores} max-jobs={par.max_jobs} ({par.reason}){'; ' + note if note else ''}")
    say(f"  builders:    {remote.describe()}")
    rels = {v.name: floxrun.recipe_path(root, v.name) for v in variants}
    present = [str(r) for r in rels.values() if r is not None]
    untracked = set(floxrun.untracked_paths(root, present) or []) if present else set()
    for v in variants:
        rel = rels[v.name]
        state = (
            "missing: run `invoke gen`" if rel is None else ("untracked: `git add` it" if str(rel) in untracked else "tracked")
        )
        say(f"  recipe:      {rel or floxrun.PKGS_DIR / (v.name + '.nix')}  ({v.platform}; {state})")
    say(f"  log:         {logs[0]}" + (f" (hard-linked as {', '.join(map(str, logs[1:]))})" if logs[1:] else ""))
    say(f"  records:     one per variant in {ledger.LOCAL} (git-ignored; `invoke ledger --promote`)")
    unknown = []
    if not shutil.which("flox", path=env.get("PATH", os.defpath)):
        unknown.append(
            f"flox is not installed here ({floxrun.FLOX_INSTALL_URL}): its version and whether it accepts these options"
        )
    unknown.append("what Nix would substitute from a cache and what it would compile, and the result store paths")
    unknown.append("whether the memory the parallelism assumes is still free when the build starts")
    say("  not known from a dry run: " + "; ".join(unknown))
    no_flox = floxrun.flox_missing_message("flox build")  # noted above, not a reason to fail a preview
    problems = [p for p in floxrun.preflight(root, variants, force=options.force, env=env, remote=remote) if p != no_flox]
    if problems:
        return floxrun.Outcome(floxrun.STATUS_REFUSED, "a real build would refuse:\n" + "\n".join(problems))
    return floxrun.Outcome(floxrun.STATUS_OK, "dry run: nothing built")
