"""Scheduling figures of ``invoke plan``: builder fleets, list-schedule makespan, critical path.

Pure functions over job durations and dependencies; Nix schedules the real build, and
nothing here runs one.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping

from ..errors import UsageError

MAX_MACHINES = 1000  # builders of one fleet
MAX_CORES = 1024  # cores of one builder
MAX_FLEETS = 16  # fleets of one --builders


def parse_builders(spec: str) -> list[tuple[int, int]]:
    """``"1x32,4x32"`` (or ``4×32``) -> [(1, 32), (4, 32)]."""
    out = []
    if len(spec) > 200:
        raise UsageError(f"--builders is {len(spec)} characters long: give at most {MAX_FLEETS} fleets N×CORES, e.g. 1x32,4x32")
    for part in spec.replace("×", "x").replace(" ", ",").split(","):
        if not part:
            continue
        mt = re.fullmatch(r"([0-9]{1,6})x([0-9]{1,6})", part.lower())
        if not mt or not 1 <= int(mt.group(1)) <= MAX_MACHINES or not 1 <= int(mt.group(2)) <= MAX_CORES:
            raise UsageError(
                f"--builders {part[:40]!r}: give N×CORES (or NxCORES) with N from 1 to {MAX_MACHINES} and CORES from 1 "
                f"to {MAX_CORES}, e.g. 4x32; several comma-separated"
            )
        out.append((int(mt.group(1)), int(mt.group(2))))
    if len(out) > MAX_FLEETS:
        raise UsageError(f"--builders names {len(out)} fleets: give at most {MAX_FLEETS}, e.g. 1x32,4x32")
    if not out:
        raise UsageError("--builders: give N×CORES, e.g. 4x32")
    return out


def makespan(durations: Mapping[str, float], deps: Mapping[str, Iterable[str]], machines: int) -> float:
    """List schedule of the jobs on ``machines``: a ready job with the longest remaining path first."""
    deps = {j: {d for d in deps.get(j, ()) if d in durations} for j in durations}
    users: dict[str, list[str]] = {j: [] for j in durations}
    for j, ds in deps.items():
        for d in ds:
            users[d].append(j)
    rank: dict[str, float] = {}
    for j in topological(durations, deps)[::-1]:
        rank[j] = durations[j] + max((rank[u] for u in users[j]), default=0.0)
    waiting = {j: len(ds) for j, ds in deps.items()}
    ready = [(-rank[j], j) for j, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    t, free, end = 0.0, machines, 0.0
    while ready or running:
        while free and ready:
            _, j = heapq.heappop(ready)
            heapq.heappush(running, (t + durations[j], j))
            free -= 1
        t, j = heapq.heappop(running)
        free += 1
        end = max(end, t)
        for u in users[j]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (-rank[u], u))
    return end


def critical_path(durations: Mapping[str, float], deps: Mapping[str, Iterable[str]]) -> float:
    deps = {j: {d for d in deps.get(j, ()) if d in durations} for j in durations}
    finish: dict[str, float] = {}
    for j in topological(durations, deps):
        finish[j] = durations[j] + max((finish[d] for d in deps[j]), default=0.0)
    return max(finish.values(), default=0.0)


def topological(jobs: Iterable[str], deps: Mapping[str, set[str]]) -> list[str]:
    order, state = [], {}
    for start in sorted(jobs):
        stack = [(start, iter(sorted(deps[start])))]
        if start in state:
            continue
        state[start] = 1
        while stack:
            j, it = stack[-1]
            nxt = next((d for d in it if d not in state), None)
            if nxt is None:
                stack.pop()
                order.append(j)
            else:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(deps[nxt]))))
    return order
