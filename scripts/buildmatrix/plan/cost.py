"""The cost table of ``invoke plan``: core-hours per derivation class, each figure with its source.

``build-costs.toml`` holds public figures (``[class]`` tables with ``core-hours``, or ``cuda`` and
``cpu``, and ``source``); :func:`measured_costs` replaces them with the ledger's measured build
durations where real builds are recorded. Reading only: nothing here writes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import ledger, model
from ..errors import ModelError, Problem
from ..spec import loadguard, reach
from ..spec.tomlpos import LineIndex

COSTS_FILE = Path("build-costs.toml")
CLASSES = ("torch", "torchvision", "magma", "nccl", "cuda-redist", "rest")
KINDS = ("cuda", "cpu")
MAX_CORE_HOURS = 1_000_000.0  # of one derivation: a figure above is a typo (or an attack on the plan's arithmetic)


@dataclass(frozen=True, kw_only=True)
class Cost:
    core_hours: float
    source: str


@dataclass(frozen=True, kw_only=True)
class CostTable:
    file: Path
    costs: dict[tuple[str, str], Cost]  # (class, kind) -> figure

    def of(self, cls: str, kind: str) -> Cost:
        return self.costs[(cls, kind)]


def load_costs(path: Path) -> CostTable:
    """The cost table: ``[class]`` tables with ``core-hours`` (or ``cuda``/``cpu``) and ``source``."""
    text = loadguard.read(path)  # ModelError naming the file for unreadable, undecodable, huge or deep input
    data = loadguard.parse(text, path)
    index, problems, costs = LineIndex(text), [], {}
    for key in data:
        if key not in CLASSES:
            problems.append(Problem((key,), "unknown class", f"classes: {', '.join(CLASSES)}", index.line_of((key,))))
    for cls in CLASSES:
        t = data.get(cls)
        if not isinstance(t, dict):
            problems.append(
                Problem((cls,), "missing (or not a table)", f"add [{cls}] with core-hours and source", index.line_of((cls,)))
            )
            continue
        source = t.get("source")
        if not isinstance(source, str) or not source.strip():
            problems.append(Problem((cls, "source"), "every figure needs its source", 'add source = "…"', index.line_of((cls,))))
        for k in ("source", "note"):  # printed by `invoke plan` and in its JSON: one line of text
            found = reach.problem(t[k], (reach.DOCS,)) if isinstance(t.get(k), str) else None
            if found:
                problems.append(Problem((cls, k), found[0], found[1], index.line_of((cls, k))))
        for k in t:
            if k not in ("core-hours", "cuda", "cpu", "source", "note"):
                problems.append(
                    Problem((cls, k), "unknown key", "use core-hours, cuda, cpu, source, note", index.line_of((cls, k)))
                )
        for kind in KINDS:
            value = t.get(kind, t.get("core-hours"))
            if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                    or not 0 <= value <= MAX_CORE_HOURS):  # fmt: skip
                where = (cls, kind) if kind in t else (cls, "core-hours")
                problems.append(
                    Problem(
                        where,
                        f"needs a finite number from 0 to {MAX_CORE_HOURS:g} (core-hours per derivation), not {value!r}",
                        "write the measured or published core-hours, e.g. core-hours = 12.5",
                        index.line_of(where) or index.line_of((cls,)),
                    )
                )
                continue
            costs[(cls, kind)] = Cost(core_hours=float(value), source=str(source or ""))
    if problems:
        raise ModelError(path, problems)
    return CostTable(file=path, costs=costs)


def measured_costs(records: Iterable[ledger.Record], m: model.Matrix) -> dict[tuple[str, str], Cost]:
    """Core-hours measured by real builds: (torch, kind) from ok builds of one pytorch variant (with or
    without its torchvision), (torchvision, kind) from ok builds of torchvision variants alone whose torch
    was built before. Each figure is duration x cores of the whole ``flox build`` call (an upper bound:
    a first build also compiles magma and NCCL); the median over the records."""
    samples: dict[tuple[str, str], list[float]] = {}
    built: set[str] = set()
    for r in sorted(records, key=lambda r: r.end):
        if r.action != "build" or r.status != "ok" or r.variant not in m.by_name:
            continue
        v, x = m.by_name[r.variant], r.extra
        names = [a for a in x.get("argv", []) if a in m.by_name]
        hours = float(x.get("duration_s") or 0) / 3600 * int(x.get("cores") or 0)
        kind = "cuda" if v.cuda else "cpu"
        if hours > 0 and not v.requires and set(names) <= {v.name} | {w.name for w in m.variants if w.requires == v.name}:
            samples.setdefault(("torch", kind), []).append(hours)
        elif hours > 0 and v.requires and v.requires in built and all(m.by_name[n].requires for n in names):
            samples.setdefault(("torchvision", kind), []).append(hours / len(names))
        built.add(v.name)
    return {
        k: Cost(core_hours=statistics.median(s), source=f"ledger: median of {len(s)} measured build(s) (duration x cores)")
        for k, s in samples.items()
    }
