"""``invoke plan``: what building a selection costs (:mod:`buildmatrix.plan`), as text or JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import EXIT_OK
from . import common as cli


@cli.guarded
def cmd_plan(root: str | Path, file: str | Path, names: str, builders_spec: str, as_json: bool) -> int:
    """``invoke plan``: exit 0, or 2 on bad input (message on stderr)."""
    from ..plan import predict, schedule

    fleets = schedule.parse_builders(builders_spec or f"1x{os.cpu_count() or 1}")
    m = cli.load(file, quiet=as_json)
    plan = predict.make_plan(Path(root), m, cli.split_names(names), fleets)
    print(json.dumps(plan.as_dict(), indent=2) if as_json else predict.render(plan))
    return EXIT_OK
