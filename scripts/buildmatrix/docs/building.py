"""docs/BUILDING.md region ``scale-jobs``: jobs per platform of the jobset and of the workflow."""

from __future__ import annotations

from ..ci import workflow
from ..recipes import jobset
from .context import Context, generator
from .markdown import code, table


@generator("scale-jobs")
def gen_scale_jobs(ctx: Context) -> str:
    """Per platform: jobset jobs, build jobs (torch configurations), smoke jobs, variants not smoke-tested."""
    m = ctx.matrix
    per = {p: len(vs) for p, vs in jobset.jobs_by_platform(m).items()}
    builds = workflow.build_jobs(m)
    config = m.ci_config  # None: the file has no [ci] table
    smoke, untested = workflow.smoke_jobs(m, config, builds) if config else ([], [])
    rows = []
    for p, n in per.items():
        b = sum(1 for j in builds if j.platform == p)
        s = sum(1 for j in smoke if j.platform == p)
        u = sum(1 for name in untested if m.by_name[name].platform == p)
        rows.append([code(p), str(n), str(b), str(s) if config else "—", str(u) if config else "—"])
    rows.append(["**all**", f"**{len(m.variants)}**", f"**{len(builds)}**",
                 f"**{len(smoke)}**" if config else "—", f"**{len(untested)}**" if config else "—"])  # fmt: skip
    head = ["platform", "jobset jobs (`.flox/jobs.nix`)", "build jobs (torch configurations)", "smoke jobs", "not smoke-tested"]
    note = "" if config else "\n\nvariants.toml has no `[ci]` table, so there is no workflow to count."
    return table(head, rows) + note
