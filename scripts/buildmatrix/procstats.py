"""Run one command and measure it as ``/usr/bin/time -v`` would, and a little more (for ``invoke bench``).

:func:`measure` gives the wall time, the CPU time (user + system) of the command and of every
descendant it waited for, the largest resident set of any one of those processes (``wait4``'s
``ru_maxrss``, what ``/usr/bin/time`` prints as "Maximum resident set size"), and the peak of
the *sum* of the resident sets of the command's process tree at once, sampled every 0.1 s from
``/proc`` (Linux only; 0 elsewhere, and a peak shorter than a sample can be missed).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Stats:
    returncode: int
    wall_s: float
    cpu_s: float  # user + system, the command and its waited-for descendants
    max_rss_mb: float  # the largest single process
    tree_rss_mb: float  # the largest sum over the process tree at one moment (sampled)
    stdout: str
    stderr: str


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and all its descendants now (0 where /proc is not there)."""
    total = 0
    if not os.path.isdir("/proc"):
        return total
    kids, todo = _children(), [pid]
    while todo:
        p = todo.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            pass
        todo += kids.get(p, [])
    return total


def measure(argv: list[str], cwd: Path, env: dict[str, str] | None = None, interval: float = 0.1) -> Stats:
    """Run ``argv`` in ``cwd`` to its end; its output is captured (to files, so no pipe fills)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(interval):
                peak[0] = max(peak[0], tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text_out, text_err = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return Stats(
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        tree_rss_mb=peak[0] / 2**20,
        stdout=text_out,
        stderr=text_err,
    )
