"""This machine: the records detection fills (:class:`Host`, :class:`GpuInfo`) and the cheap facts a build needs.

Nothing here imports a probing library. The CPU is probed in :mod:`buildmatrix.detect.cpu`
(archspec, /proc/cpuinfo), NVIDIA GPUs in :mod:`buildmatrix.detect.gpu` (NVML, nvidia-smi),
and :func:`buildmatrix.detect.probe.detect_host` composes both into a :class:`Host`. The
functions below use only what the standard library sees: the Nix system double
(:func:`host_platform`), the memory a build may use (``MemAvailable`` from /proc/meminfo,
lowered to the cgroup v2 ``memory.max - memory.current`` when that is smaller;
``hw.memsize`` on macOS), the CPUs this process may run on, and the one line a build
record stores (:func:`hardware_summary`).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

GIB = 1024**3


class GpuInfo(NamedTuple):
    """One NVIDIA device as the driver reports it."""

    index: int
    name: str
    capability: str | None  # "9.0"; None when the driver cannot say (nvidia-smi before compute_cap)
    driver: str | None
    memory_mib: int | None


@dataclass
class Host:
    """What this machine is, as far as choosing a variant goes."""

    platform: str  # Nix system: x86_64-linux, aarch64-linux, aarch64-darwin
    cpu: str  # archspec microarchitecture name, or the bare machine name when unknown
    vendor: str
    features: frozenset[str]
    gpus: list[GpuInfo] = field(default_factory=list)
    driver: str | None = None
    gpu_source: str = "none"  # nvml | nvidia-smi | none
    cpu_source: str = "archspec"  # archspec | /proc/cpuinfo | given | none
    generic: str | None = None  # archspec's generic level (x86_64_v4, armv9.0a)
    cuda_driver: str | None = None  # the newest CUDA the driver itself reports (NVML), e.g. "13.0"
    notes: list[str] = field(default_factory=list)

    @property
    def arch(self) -> str:
        return self.platform.split("-", 1)[0]

    def hardware(self) -> str:
        """One line for the ledger: ``NVIDIA H100 80GB HBM3 (9.0), sapphirerapids``."""
        parts = [f"{g.name} ({g.capability or '?'})" for g in self.gpus]
        return ", ".join([*parts, self.cpu])

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "cpu": self.cpu,
            "vendor": self.vendor,
            "generic": self.generic,
            "cpu_source": self.cpu_source,
            "features": sorted(self.features),
            "gpu_source": self.gpu_source,
            "driver": self.driver,
            "cuda_driver": self.cuda_driver,
            "gpus": [g._asdict() for g in self.gpus],
            "hardware": self.hardware(),
            "notes": list(self.notes),
        }


def normalize_machine(machine: str) -> str:
    """``platform.machine()`` as Nix names it: ``AMD64``/``x64`` -> ``x86_64``, ``arm64`` -> ``aarch64``."""
    m = machine.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(m, m)


def host_platform() -> str:
    """This host as a Nix system double: ``x86_64-linux``, ``aarch64-linux``, ``aarch64-darwin``."""
    return f"{normalize_machine(platform.machine())}-{platform.system().lower()}"


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per key (``MemAvailable``, ``MemTotal``…)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*(kB)?", line)
        if m:
            out[m.group(1)] = int(m.group(2)) * (1024 if m.group(3) else 1)
    return out


def _cgroup_headroom(base: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes this cgroup (v2) may still allocate, or None without a limit."""
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def memory_available() -> tuple[int | None, str]:
    """(bytes a build may use, where the figure comes from); (None, why) when unknown."""
    try:
        info = parse_meminfo(Path("/proc/meminfo").read_text())
    except OSError:
        info = {}
    if "MemAvailable" in info or "MemTotal" in info:
        key = "MemAvailable" if "MemAvailable" in info else "MemTotal"
        value, source = info[key], f"{key} in /proc/meminfo"
        cg = _cgroup_headroom()
        if cg is not None and cg < value:
            value, source = cg, "cgroup memory.max - memory.current"
        return value, source
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True, check=True).stdout
            return int(out.strip()), "hw.memsize (total; macOS has no MemAvailable)"
        except (OSError, subprocess.CalledProcessError, ValueError):
            pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "physical pages (total)"
    except (OSError, ValueError, AttributeError):
        return None, "unknown"


def cpu_count() -> int:
    """CPUs this process may run on (affinity/cpuset aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def hardware_summary() -> str:
    """One line for a build record: ``x86_64-linux, 16 CPU(s), 60 GiB available``."""
    mem, _ = memory_available()
    mem_text = f", {mem / GIB:.0f} GiB available" if mem else ""
    return f"{host_platform()}, {cpu_count()} CPU(s){mem_text}"
