"""`invoke ledger [--promote] [--json]`: this machine's unpromoted records, and promoting them.

Sessions append to the git-ignored local ledger (see buildmatrix.ledger), so a build or a
smoke test never leaves a tracked file changed. Promoting is the maintainer's step that
turns them into committed evidence: the records move to ``ledger/records.jsonl`` and the
docs' evidence regions are regenerated in the same run, ready to commit together.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .. import ledger
from ..errors import EXIT_OK, UsageError
from . import common as cli
from .matrix import table


@cli.guarded
def cmd_ledger(root: str, file: str, promote: bool, as_json: bool = False) -> int:
    base = Path(root)
    try:
        if promote:  # only records of the model's variants become evidence; any bad line and nothing moves
            records = ledger.promote(base, set(cli.load(file, quiet=True).by_name))
        else:
            records = ledger.pending(base)
    except ledger.LedgerError as exc:  # a line that is not a record: named with file, line and field
        raise UsageError(f"{exc}\nnothing was promoted" if promote else str(exc)) from None
    if as_json:
        print(json.dumps({"promoted" if promote else "pending": [asdict(r) for r in records]}, indent=2))
    elif not records:
        print(f"no local records ({ledger.LOCAL} is empty): nothing to promote")
    else:
        rows = [[r.end, r.action, r.status, r.variant, r.detail] for r in records]
        print(table(["END", "ACTION", "STATUS", "VARIANT", "DETAIL"], rows))  # columns as wide as their longest cell
        if promote:
            print(f"promoted {len(records)} record(s) from {ledger.LOCAL} to {ledger.LEDGER}")
        else:
            print(f"{len(records)} local record(s); `invoke ledger --promote` adds them to {ledger.LEDGER} and the docs")
    if promote and records:
        from .generate import cmd_docs

        status = cmd_docs(root, file, False, quiet=as_json)
        if status:
            return status
        if not as_json:
            print(f"now commit them: git add {ledger.LEDGER} README.md docs && git commit -m 'ledger: …'")
    return EXIT_OK
