"""``invoke observe [PIN...] [--write] [--json] [--mirror DIR]``: first contact with the real pins.

Prints one table (key | variants.toml says | the tree says | variants affected) of every hash and
every pin fact the recipes rest on (:mod:`buildmatrix.observe`). Exit 0 when every belief agrees
(or ``--write`` recorded every disagreement), 1 while one disagrees, 2 for bad input (an unknown
name, a missing mirror file, an unreadable tarball): then nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import EXIT_FAILED, EXIT_OK
from . import common as cli
from . import generate


def _cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(x) for x in value) + "]"
    return str(value)


def _mark(row: dict) -> str:
    if not row["agrees"]:
        return "DIFFERS"
    return "" if row["read"] else "UNREAD (no recipe asserts it)"


def table(rows: list[dict]) -> list[str]:
    """The observe table, aligned, a DIFFERS mark on each disagreement."""
    head = ("key", "variants.toml says", "the tree says", "variants affected", "")
    body = [
        (r["key"], _cell(r["says"]), _cell(r["tree"]), "-" if r["variants"] is None else str(r["variants"]), _mark(r))
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(4)]
    return [
        (" | ".join(c.ljust(w) for c, w in zip(line[:4], widths)) + (f" | {line[4]}" if line[4] else "")).rstrip()
        for line in [head, *body]
    ]


@cli.guarded
def cmd_observe(file: str, root: str, names: str, write: bool, as_json: bool, mirror: str) -> int:
    """Fetch each chosen pin and source, read its facts, print the table; with ``write`` record and regenerate."""
    from .. import observe
    from ..observe import record

    m = cli.load(file, quiet=as_json)
    report = observe.observe(m, cli.split_names(names), mirror)
    done: list[str] = []
    manual: list[str] = []
    if write:
        done, manual = record.write(Path(file), report)
        status = generate.cmd_gen(file, root, None, False, True, None, False, quiet=True)
        if status:
            return status
    if as_json:
        print(json.dumps({**report.as_dict(), "written": done, "needs_a_person": manual}, indent=2, sort_keys=True))
    else:
        print("\n".join(table(report.rows())))
        for x in report.fetched:
            print(f"fetched {x.target.table}: {x.store_path} ({x.command})")
        for line in report.skipped:
            print(f"skipped {line}")
        for line in done:
            print(f"recorded {line}")
        if write:
            print(f"variants.toml: {len(done)} value(s) recorded as observed {report.date}; recipes regenerated (`invoke gen`)")
        for line in manual:
            print(f"still wrong {line}")
        if not write and not report.ok:
            wrong = sum(1 for r in report.rows() if not r["agrees"])
            print(f"{wrong} belief(s) disagree: `invoke observe --write` records what the tree says")
    return EXIT_OK if (report.ok or (write and not manual)) else EXIT_FAILED
