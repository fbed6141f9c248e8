"""Bring the ledger records of a CI run back into this checkout's local ledger, ``ledger/local.jsonl``.

The workflow's jobs append records to their own checkout's local ledger, exactly as a local
``nox -s build-…`` or ``nox -s smoke`` does, and upload those lines; its ``records`` job
merges them into one artifact, ``ledger-records``. A maintainer downloads it (for example
``gh run download RUN_ID -n ledger-records -D ci-records``) and runs ``invoke ci-import
ci-records``: every line is checked (:func:`buildmatrix.ledger.check_line`: fields, types,
timestamps, revisions, sizes, and the variant against variants.toml when it is at hand),
records already in either ledger are skipped (so importing twice changes nothing), the rest
are appended to ``ledger/local.jsonl`` oldest first, as if this machine had made them. Then
``invoke ledger --promote`` makes them evidence (``ledger/records.jsonl``) and regenerates
the docs, the same step as for local runs; commit both.

The artifact comes from another machine: nothing in it is trusted. Nothing is written when
any line is bad (the error names the file, the line and the field), nor when either ledger
here has a bad line.
"""

from __future__ import annotations

import json
from collections.abc import Container
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


def read_records(path: str, variants: Container[str] | None = None) -> list[ledger.Record]:
    """Every record in the .jsonl files under ``path``, each checked; LedgerError naming file:line and field for a bad one."""
    records = []
    for f in _files(path):
        try:
            records += ledger.read_lines(f, "import", variants)
        except ledger.LedgerError as exc:
            raise ledger.LedgerError(f"{exc}\nnothing was imported") from None
    return records


def import_records(root: Path, path: str, variants: Container[str] | None = None) -> tuple[list[ledger.Record], int]:
    """(records appended to the local ledger, records skipped because a ledger has them already).

    ``variants``: the names a record may be about (the model's), when the caller has the model.
    A path with no .jsonl file is bad input; so is any bad line, here or in the artifact: then nothing is written."""
    if not _files(path):
        raise BuildMatrixError(f"{path}: no .jsonl files (the ledger-records artifact holds build-*.jsonl, push-*.jsonl, smoke-*.jsonl)")
    incoming = read_records(path, variants)
    try:
        have = {_key(r) for r in ledger.read(root)}
    except ledger.LedgerError as exc:  # a damaged ledger line: say where, import nothing
        raise ledger.LedgerError(f"{exc}\nnothing was imported") from None
    new, seen = [], set()
    for r in sorted(incoming, key=lambda r: (r.end, r.start, r.variant, r.action)):
        k = _key(r)
        if k in have or k in seen:
            continue
        seen.add(k)
        new.append(r)
    if new:
        ledger.append_all(root, new)  # one write: all of them or none
    return new, len(incoming) - len(new)
