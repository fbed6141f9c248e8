"""Run ``scripts/smoke_check.py`` in a child process and return its report, or a failure report that says why.

The child gets its own session, a time limit (killed with its process group after
``timeout``), ``PYTHONFAULTHANDLER=1`` and the :class:`~buildmatrix.smoke.resultenv.Interpreter`'s
environment. It streams progress events, so a child that dies is reported as a failure
of the step it was in: SIGILL names the ISA and the CPU features the host lacks,
SIGSEGV/SIGBUS/SIGABRT/SIGKILL and timeouts get their likely cause
(:func:`signal_message`). A child that exits 0, 1 or 77 with a report is taken at its word.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..detect.host import Host
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_SKIPPED
from .resultenv import Interpreter

CHECKER = Path(__file__).resolve().parents[2] / "smoke_check.py"
DEFAULT_TIMEOUT = 300


SIGNAL_CAUSES = {
    "SIGSEGV": "segmentation fault: usually an ABI mismatch between the interpreter and the build "
    "(Python minor version, glibc) or a crash inside a native library",
    "SIGBUS": "bus error: a truncated or corrupt library file, or /dev/shm exhausted",
    "SIGABRT": "aborted: a C++ exception or assertion in a native library (see the output above)",
    "SIGKILL": "killed: out of memory (OOM killer) or killed from outside",
    "SIGFPE": "floating-point exception in native code",
}


def signal_message(sig: int, step: str, exp: dict[str, Any], host: Host | None) -> str:
    """The failure text for a checker killed by ``sig`` during ``step``."""
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    if name == "SIGILL":
        isa, feats = exp.get("isa"), exp.get("isa_features") or []
        text = f"illegal instruction (SIGILL) during {step}: the build uses CPU instructions this host lacks"
        if isa:
            text += f" (ISA {isa} needs features {', '.join(feats)}"
            if host is not None and host.features:
                missing = [f for f in feats if f not in host.features]
                if missing:
                    text += f"; {host.cpu} lacks {', '.join(missing)})"
                else:
                    text += (
                        f"; {host.cpu} has all of them, so the build contains instructions beyond its ISA:"
                        " -march/-mcpu newer than declared, or an unguarded code path)"
                    )
            else:
                text += ")"
        return text
    cause = SIGNAL_CAUSES.get(name, "killed by a signal")
    return f"{cause} ({name}) during {step}"


def _read_progress(path: Path) -> tuple[list[dict], str | None]:
    """Completed checks and the step that was running when the child stopped."""
    done: list[dict] = []
    running = None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return done, running
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "start":
            running = ev.get("check")
        elif ev.get("event") == "done":
            done.append(ev["check"])
            if ev["check"].get("name") == running:
                running = None
    return done, running


def run_checker(
    interp: Interpreter,
    exp: dict[str, Any],
    timeout: float = DEFAULT_TIMEOUT,
    host: Host | None = None,
    stream: bool = True,
    checker: Path = CHECKER,
) -> dict[str, Any]:
    """Run smoke_check.py in ``interp`` (own session, time limit) and return its report, or a failure report."""
    with tempfile.TemporaryDirectory(prefix="buildmatrix-smoke-") as tmp:
        work = Path(tmp)
        exp_file, out_file, progress = work / "expectations.json", work / "report.json", work / "progress.jsonl"
        exp_file.write_text(json.dumps(exp, indent=2), encoding="utf-8")
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env["PYTHONFAULTHANDLER"] = "1"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if interp.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(interp.pythonpath)
        for key, value in interp.env.items():
            if value:
                env[key] = value
            else:
                env.pop(key, None)
        cmd = [interp.python, str(checker), str(exp_file), "--out", str(out_file), "--progress", str(progress)]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        tail: deque[str] = deque(maxlen=40)

        def pump() -> None:
            assert proc.stderr is not None
            for raw in iter(proc.stderr.readline, b""):
                line = raw.decode("utf-8", "replace")
                tail.append(line.rstrip("\n"))
                if stream:
                    sys.stderr.write(line)
                    sys.stderr.flush()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            rc = proc.wait()
        reader.join(timeout=5)
        seconds = time.monotonic() - start
        report = None
        if not timed_out and rc in (EXIT_OK, EXIT_FAILED, EXIT_SKIPPED) and out_file.exists():
            try:
                report = json.loads(out_file.read_text(encoding="utf-8"))
            except ValueError:
                report = None
        if report is None:
            done, running = _read_progress(progress)
            step = running or (f"after {done[-1]['name']}" if done else "start-up")
            if timed_out:
                reason = f"timed out after {timeout:g}s during {step}"
            elif rc < 0 or (rc > 128 and _is_signal(rc - 128)):
                reason = signal_message(-rc if rc < 0 else rc - 128, step, exp, host)
            else:
                last = next((t for t in reversed(tail) if t.strip()), "")
                reason = f"the checker exited {rc} without a report during {step}" + (f": {last.strip()}" if last else "")
            report = {
                "schema": 1,
                "tool": "smoke_check",
                "variant": exp.get("variant"),
                "status": "fail",
                "exit_code": EXIT_FAILED,
                "reason": reason,
                "overridden": exp.get("overridden") or {},
                "expectations": exp,
                "checks": [*done, {"name": running or "checker", "status": "fail", "detail": reason, "seconds": 0.0}],
                "environment": {"executable": interp.python},
                "config": {},
                "seconds": round(seconds, 3),
                "returncode": rc,
            }
            if not stream:
                report["stderr_tail"] = list(tail)
        return report


def _is_signal(n: int) -> bool:
    try:
        signal.Signals(n)
        return True
    except ValueError:
        return False
