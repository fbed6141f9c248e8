"""Bring the ledger records of a CI run back into ``ledger/records.jsonl``.

The workflow's jobs append records to their own checkout's ledger, exactly as a local
``nox -s build-…`` or ``nox -s smoke`` does, and upload the new lines; its ``records`` job
merges them into one artifact, ``ledger-records``. A maintainer downloads it (for example
``gh run download RUN_ID -n ledger-records -D ci-records``) and runs ``invoke ci-import
ci-records``: every line is checked to be a ledger record, records already in the ledger
are skipped (so importing twice changes nothing), the rest are appended oldest first. Then
``invoke docs`` shows them in the same evidence as local runs; commit both.

Nothing is written when any line is not a record (the error names the file and line).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .. import ledger
from ..errors import BuildMatrixError


def _files(path: str) -> list[Path]:
    out: list[Path] = []
    for part in (p for p in path.split(",") if p.strip()):
        p = Path(part.strip())
        if p.is_dir():
            out += sorted(p.rglob("*.jsonl"))
        elif p.is_file():
            out.append(p)
        else:
            raise BuildMatrixError(f"{p}: no such file or directory (give the downloaded ledger-records directory)")
    return out


def _key(r: ledger.Record) -> str:
    return json.dumps(asdict(r), sort_keys=True, ensure_ascii=False)


def read_records(path: str) -> list[ledger.Record]:
    """Every record in the .jsonl files under ``path``; BuildMatrixError naming file:line for a bad line."""
    records = []
    for f in _files(path):
        for number, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(ledger.Record(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise BuildMatrixError(f"{f}:{number}: not a ledger record ({exc}); nothing was imported") from None
    return records


def import_records(root: Path, path: str) -> tuple[list[ledger.Record], int]:
    """(records appended, records skipped because the ledger has them already); a path with no .jsonl file is bad input."""
    if not _files(path):
        raise BuildMatrixError(f"{path}: no .jsonl files (the ledger-records artifact holds build-*.jsonl, push-*.jsonl, smoke-*.jsonl)")
    incoming = read_records(path)
    try:
        have = {_key(r) for r in ledger.read(root)}
    except ValueError as exc:  # a damaged ledger line: say where, import nothing
        raise BuildMatrixError(str(exc)) from None
    new, seen = [], set()
    for r in sorted(incoming, key=lambda r: (r.end, r.start, r.variant, r.action)):
        k = _key(r)
        if k in have or k in seen:
            continue
        seen.add(k)
        new.append(r)
    for r in new:
        ledger.append(root, r)
    return new, len(incoming) - len(new)
