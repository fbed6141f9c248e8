"""How the smoke checker is started for a flox/nix result: which interpreter, which PYTHONPATH, which driver libraries.

:func:`discover` turns a ``result-<variant>`` link (or store path) and/or ``--python``
into an :class:`Interpreter`: ``PYTHONPATH`` is the site-packages of the result and of
its ``nix-support/propagated-build-inputs``, transitively, result first; the interpreter
is ``--python``, else ``python3.X`` from the result's closure (``nix-store --query
--requisites``), else ``python3.X`` on PATH with a note. :func:`driver_shim` links the
host's NVIDIA driver libraries into a private directory when /run/opengl-driver/lib is
missing (a host that is not NixOS). The full story, with its limits, is in the
docstring of :mod:`buildmatrix.smoke.run`. Problems raise :class:`~buildmatrix.errors.UsageError`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..detect.gpu import Runner, run_command
from ..detect.host import normalize_machine
from ..errors import UsageError

DRIVER_LIBS = ("libcuda.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so", "libnvidia-nvvm.so", "libnvidia-gpucomp.so")


@dataclass
class Interpreter:
    """How the checker is started: which python, with which PYTHONPATH, and how that was decided."""

    python: str
    pythonpath: list[str] = field(default_factory=list)
    how: str = ""
    result: Path | None = None
    store_path: Path | None = None
    python_version: str | None = None  # the 3.X the result was built for
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "how": self.how,
            "result": str(self.result) if self.result else None,
            "store_path": str(self.store_path) if self.store_path else None,
            "python_version": self.python_version,
            "pythonpath": list(self.pythonpath),
            "env": dict(self.env),
            "notes": list(self.notes),
        }


def site_packages(out: Path) -> list[Path]:
    """``<out>/lib/python3.X/site-packages`` directories of one store path."""
    return sorted(p for p in (out / "lib").glob("python3.*/site-packages") if p.is_dir())


def propagated_closure(out: Path) -> list[Path]:
    """``out`` and everything its ``nix-support/propagated-build-inputs`` reach, breadth first, each once."""
    seen: list[Path] = []
    queue = deque([out])
    while queue:
        p = queue.popleft()
        if p in seen:
            continue
        seen.append(p)
        f = p / "nix-support" / "propagated-build-inputs"
        try:
            text = f.read_text(encoding="utf-8")
        except OSError:
            continue
        queue.extend(Path(x) for x in text.split() if x)
    return seen


def python_in_closure(out: Path, version: str, run: Runner) -> str | None:
    """``python3.X`` of the ``python3-3.X.*`` store path in ``nix-store --query --requisites out``."""
    try:
        text = run(["nix-store", "--query", "--requisites", str(out)])
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    pattern = re.compile(r"-python3-(\d+\.\d+)(?:\.\d+)?[^/]*$")
    for line in text.splitlines():
        m = pattern.search(line.strip())
        if m and m.group(1) == version:
            exe = Path(line.strip()) / "bin" / f"python{version}"
            if exe.exists():
                return str(exe)
    return None


def discover(
    result: Path | None = None,
    python: str | None = None,
    run: Runner = run_command,
    which: Callable[[str], str | None] = shutil.which,
) -> Interpreter:
    """The interpreter and PYTHONPATH for a result link/store path, or a plain ``--python``."""
    if result is None:
        if not python:
            raise UsageError("nothing to run: give --result PATH, --python PATH, or build the variant (result-<name>)")
        exe = which(python) or (python if Path(python).exists() else None)
        if not exe:
            raise UsageError(f"interpreter {python!r} not found")
        return Interpreter(exe, how=f"--python {python} as it is (no result: PYTHONPATH unchanged)")
    if not result.exists():
        raise UsageError(f"result {result} does not exist (a dangling link? rebuild it)")
    out = result.resolve()
    sps = site_packages(out)
    if not sps:
        raise UsageError(f"{out} has no lib/python3.X/site-packages: not a Python package output")
    version = sps[0].parent.name.removeprefix("python")
    closure = propagated_closure(out)
    path: list[str] = []
    for p in closure:
        path.extend(str(sp) for sp in site_packages(p) if str(sp) not in path)
    interp = Interpreter("", path, result=result, store_path=out, python_version=version, env={"PYTHONNOUSERSITE": "1"})
    if python:
        exe = which(python) or (python if Path(python).exists() else None)
        if not exe:
            raise UsageError(f"interpreter {python!r} not found")
        interp.python, interp.how = exe, f"--python {python}"
    elif found := python_in_closure(out, version, run):
        interp.python, interp.how = found, "python of the result's closure (nix-store --query --requisites)"
    elif found := which(f"python{version}"):
        interp.python, interp.how = found, f"python{version} from PATH"
        interp.notes.append(
            f"no python{version} found in the result's closure (nix-store unavailable?): using the host's {found}; "
            "it loads Nix-built extensions only if its glibc is at least as new as the build's"
        )
    else:
        raise UsageError(
            f"no python{version} for {out}: nix-store is unavailable and python{version} is not on PATH; pass --python"
        )
    interp.how += f"; PYTHONPATH = site-packages of {len(path)} store path(s) (the result and its propagated inputs)"
    return interp


def driver_shim(dest: Path, run: Runner = run_command, opengl_dir: Path = Path("/run/opengl-driver/lib")) -> str | None:
    """On a non-NixOS host, symlink the NVIDIA driver libraries into ``dest`` for LD_LIBRARY_PATH. Returns the source dir."""
    if opengl_dir.exists():
        return None
    src = None
    arch = {"x86_64": "x86-64", "aarch64": "AArch64"}.get(normalize_machine(os.uname().machine), "")
    try:
        candidates = []
        for line in run(["ldconfig", "-p"]).splitlines():
            m = re.search(r"libcuda\.so\.1 \(([^)]*)\) => (\S+)", line)
            if m:
                candidates.append((arch not in m.group(1), Path(m.group(2))))
        if candidates:
            src = min(candidates, key=lambda c: c[0])[1].resolve().parent
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pass
    if src is None:
        for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/aarch64-linux-gnu", "/usr/lib/wsl/lib", "/usr/lib"):
            if Path(d, "libcuda.so.1").exists():
                src = Path(d)
                break
    if src is None:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    for lib in sorted(src.iterdir()):
        if any(lib.name.startswith(prefix) for prefix in DRIVER_LIBS):
            link = dest / lib.name
            if not link.exists():
                link.symlink_to(lib)
    return str(src)
