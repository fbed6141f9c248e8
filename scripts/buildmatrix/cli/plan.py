"""``invoke plan``: what building a selection costs (:mod:`buildmatrix.plan`), as text or JSON;
with ``--since REV`` what the working tree's edit rebuilds (:mod:`buildmatrix.plan.since`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import EXIT_OK
from . import common as cli


@cli.guarded
def cmd_plan(
    root: str | Path, file: str | Path, names: str, builders_spec: str, as_json: bool, since: str = "", cache: str = ""
) -> int:
    """``invoke plan``: exit 0, or 2 on bad input (message on stderr)."""
    from ..plan import cache as plancache
    from ..plan import predict, schedule
    from ..plan import since as plansince

    fleets = schedule.parse_builders(builders_spec or f"1x{os.cpu_count() or 1}")
    caches = [plancache.cache_url(u) for u in cache.replace(",", " ").split() if u]
    m = cli.load(file, quiet=as_json)
    if since:
        report = plansince.make_since_plan(Path(root), m, since, cli.split_names(names), fleets, caches=caches)
        print(json.dumps(report, indent=2) if as_json else plansince.render(report))
        return EXIT_OK
    plan = predict.make_plan(Path(root), m, cli.split_names(names), fleets, caches=caches)
    print(json.dumps(plan.as_dict(), indent=2) if as_json else predict.render(plan))
    return EXIT_OK
