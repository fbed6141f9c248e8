"""What the workflow builds by default: the torch configurations whose derivations changed, and are not cached.

The plan job compares the checked-out commit with a **base** (:func:`buildmatrix.plan.since`):
the ``base`` input of ``workflow_dispatch`` when given, else the head commit of this workflow's
last successful run on the branch (GitHub's list of runs, saved by the job's own step and read
by :func:`last_success`). A build job is kept when one of its variants' derivations has a new
drvPath and is not in the cache the builds push to (``[ci.cache] substituter``; asked, but a
cache that cannot be read is a note, not a failure). With no base (the first run, or a base
that history lacks), the whole selection builds and the summary says why. ``build: all``
(the input) keeps today's selection: everything the tags and keyword choose. A successful run
narrowed by tags or keyword is still the next run's base for every configuration: after one,
give ``base`` (or ``build: all``) to catch up the rest; the cache check (pinned) catches it too.

Under the stand-in (pins without a sha256 in the plan job's store) the cache holds none of the
evaluated derivations, so only the delta narrows the selection; with the pinned trees both do.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import model
from ..errors import UsageError

BUILD_MODES = ("changed", "all")
SHA = re.compile(r"[0-9a-f]{40}")
MAX_RUNS_BYTES = 1 << 20


@dataclass(frozen=True, kw_only=True)
class Rebuild:
    """The delta the plan step selected by (``variants``: None means no narrowing)."""

    base: str = ""
    commit: str = ""
    variants: frozenset[str] | None = None
    why_all: str = ""  # why the whole selection builds
    to_build: int = 0
    core_hours: float = 0.0
    platforms: dict[str, int] = field(default_factory=dict)
    availability: str = ""


def last_success(path: str | Path) -> str:
    """The ``head_sha`` of the first run in a saved ``GET /repos/…/actions/workflows/…/runs`` answer; empty if none."""
    p = Path(path)
    if not p.is_file():
        return ""
    with p.open("rb") as fh:
        data = fh.read(MAX_RUNS_BYTES + 1)
    try:
        runs = json.loads(data[:MAX_RUNS_BYTES]).get("workflow_runs") or []
    except (ValueError, AttributeError):  # not JSON, not UTF-8, cut short, not an object: no base
        return ""
    sha = runs[0].get("head_sha", "") if runs and isinstance(runs[0], dict) else ""
    return sha if isinstance(sha, str) and SHA.fullmatch(sha) else ""


def rebuild(root: Path, m: model.Matrix, mode: str, base: str, runs_json: str, caches: Sequence[str]) -> Rebuild:
    """The delta for ``mode`` (changed/all) against ``base`` (else the last successful run's commit)."""
    from ..plan import since

    if mode not in BUILD_MODES:
        raise UsageError(f"--build {mode!r}: use one of {', '.join(BUILD_MODES)}")
    if mode == "all":
        return Rebuild(why_all="build: all (the input) selects everything the tags and keyword choose")
    if shutil.which("nix-instantiate") is None:
        return Rebuild(base=base, why_all="nix-instantiate is not on PATH, so no derivation could be compared")
    rev = base or (last_success(runs_json) if runs_json else "")
    if not rev:
        return Rebuild(why_all="no base: no successful run of this workflow on this branch yet, and no base input")
    if not base:
        try:
            since.resolve(root, rev)
        except UsageError:
            return Rebuild(base=rev, why_all=f"the last successful run's commit {rev[:12]} is not in this history")
    report = since.make_since_plan(root, m, rev, None, [(1, 1)], caches=caches, strict=False, option="--base")
    return Rebuild(
        base=rev,
        commit=report["since"]["commit"],
        variants=frozenset(report["variants"]["to_build"]),
        to_build=report["to_build"],
        core_hours=report["core_hours"],
        platforms={p: t["to_build"] for p, t in report["platforms"].items()},
        availability=report["availability"],
    )


def summary_lines(r: Rebuild) -> list[str]:
    """Markdown lines for the run's summary: what the delta is, per platform."""
    if r.variants is None:
        return [f"**Building the whole selection**: {r.why_all}.", ""]
    per = ", ".join(f"{p} {n}" for p, n in sorted(r.platforms.items())) or "none"
    return [
        f"**Rebuild since {r.base}** (`{r.commit[:12]}`): {r.to_build} derivation(s) to build, "
        f"{r.core_hours:.1f} core-hours; per platform: {per}.",
        f"Looked up in the {r.availability}. Run with `build: all` for everything the tags and keyword choose.",
        "",
    ]
