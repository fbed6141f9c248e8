"""``invoke detect`` and ``python -m buildmatrix.detect``: the variants for this host (:mod:`buildmatrix.detect`)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence

from ..errors import EXIT_FAILED, EXIT_OK
from . import common as cli


@cli.guarded
def cmd_detect(file: str, as_json: bool, cpu: str | None = None, torch: str | None = None) -> int:
    """`invoke detect`: print the recommendation (text or JSON). 0 when some variant fits, 1 when none does.

    ``torch`` ("2.9") recommends among that torch line's variants; an unknown line is bad input (2)."""
    from ..detect import choice, probe

    m = cli.load(file, quiet=True)
    cli.check_filters(m, {"torch": torch})  # an unknown line fails before probing the host
    host = probe.detect_host(cpu=cpu) if cpu else probe.detect_host()
    rec = choice.recommend(m, host, torch=torch or None)
    if as_json:
        print(json.dumps(rec.as_dict(), indent=2, default=str))
    else:
        print(probe.render_text(rec))
    return EXIT_OK if rec.recommended else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m buildmatrix.detect",
        description="Detect this host's CPU and NVIDIA GPUs and recommend the variants of variants.toml that fit it.",
    )
    parser.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    parser.add_argument("--file", default=os.environ.get("BUILDMATRIX_FILE", "variants.toml"), help="the model file")
    parser.add_argument("--cpu", help="pretend the CPU is this archspec microarchitecture (e.g. zen4); GPUs are still probed")
    parser.add_argument("--torch", metavar="M.m", help="recommend a variant of this torch line (2.9); default: the default line")
    args = parser.parse_args(argv)
    return cmd_detect(args.file, args.json, args.cpu, args.torch)
