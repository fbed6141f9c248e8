"""``invoke patch-magma``: which variants get the MAGMA CUDA-13 clockRate patch, and a dry run against a tree.

The report and the dry run are :mod:`buildmatrix.magma.report`'s; their status (0 agrees, 1 a
recipe or the tree disagrees) is this command's exit status.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError
from . import common as cli


@cli.guarded
def cmd_patch_magma(file: str, root: str, source: str, pin: str, patch_name: str, as_json: bool = False, quiet: bool = False) -> int:
    from ..magma import report as magma

    m = cli.load(file, quiet=quiet or as_json)
    if not source:
        text, status = magma.report(m, Path(root))
        if as_json:
            print(json.dumps({"status": status, "patches": magma.report_data(m, Path(root))}, indent=2))
        elif not quiet:
            print(text)
        return status
    if patch_name not in m.patches:
        raise UsageError(f"no patch named {patch_name!r} (patches: {', '.join(m.patches)})")
    text, status = magma.check_against_source(m, m.patches[patch_name], Path(source), pin or None)
    if as_json:
        print(json.dumps({"status": status, "patch": patch_name, "source": source, "report": text.splitlines()}, indent=2))
    elif not quiet or status:
        print(text)
    return status
