"""The CPU half of :func:`buildmatrix.detect.probe.detect_host`: archspec first, /proc/cpuinfo without it.

archspec (``archspec.cpu.host()``) names the microarchitecture (``sapphirerapids``,
``zen4``, ``neoverse_v2``…); the feature set is the union of that microarchitecture's
features and the flags the kernel reports (``archspec.cpu.detect.detected_info()``, i.e.
/proc/cpuinfo on Linux). Without archspec the flags are read from /proc/cpuinfo directly
and the microarchitecture is unknown. ``--cpu NAME`` (:func:`resolve`, :func:`from_given`)
pretends the CPU is an archspec microarchitecture. Each ``from_*`` fills the CPU fields
of a :class:`~buildmatrix.detect.host.Host` and leaves a note for what it could not find out.
"""

from __future__ import annotations

import platform as _platform
from pathlib import Path
from typing import Any

from ..errors import BuildMatrixError
from .host import Host, normalize_machine


def family(uarch: Any) -> str:
    """The Nix machine name of a microarchitecture's family (x86_64, aarch64); this machine's when it has none."""
    fam = getattr(uarch, "family", None)
    name = getattr(fam, "name", fam)
    return normalize_machine(str(name)) if name else normalize_machine(_platform.machine())


def read_proc_cpuinfo(path: str | Path = "/proc/cpuinfo") -> tuple[str, frozenset[str]]:
    """(vendor, flags) from the first processor block of /proc/cpuinfo (x86 ``flags``, Arm ``Features``)."""
    vendor, flags = "", frozenset()
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return vendor, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "cpu implementer" and not vendor:
            vendor = {"0x41": "ARM", "0x4e": "NVIDIA", "0x61": "Apple", "0xc0": "Ampere"}.get(
                value.strip().lower(), value.strip()
            )
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
    return vendor, flags


def from_archspec(host: Host) -> bool:
    """Fill the CPU part of ``host`` from archspec; False when archspec is not importable."""
    try:
        import archspec.cpu
    except ImportError:
        return False
    try:
        uarch = archspec.cpu.host()
    except Exception as exc:  # an exotic machine archspec cannot place: fall back to /proc/cpuinfo
        host.notes.append(f"archspec could not detect this CPU ({exc})")
        return False
    features = set(uarch.features)
    try:
        from archspec.cpu.detect import detected_info

        features |= set(detected_info().features)
    except Exception as exc:  # archspec internals moved: the microarchitecture's features are still right
        host.notes.append(f"archspec: raw CPU flags unavailable ({exc}); using {uarch.name}'s feature list")
    host.cpu = uarch.name
    host.vendor = uarch.vendor
    host.features = frozenset(features)
    host.generic = getattr(uarch.generic, "name", None)
    host.cpu_source = "archspec"
    return True


def resolve(cpu: Any) -> Any:
    """An archspec Microarchitecture (or look-alike) from a Microarchitecture, its name, or a callable returning one."""
    if callable(cpu) and not hasattr(cpu, "features"):
        cpu = cpu()
    if isinstance(cpu, str):
        import archspec.cpu

        if cpu not in archspec.cpu.TARGETS:
            raise BuildMatrixError(f"archspec knows no microarchitecture {cpu!r} (see archspec.cpu.TARGETS)")
        cpu = archspec.cpu.TARGETS[cpu]
    return cpu


def from_given(host: Host, cpu: Any) -> None:
    """Fill the CPU part of ``host`` from a resolved microarchitecture."""
    host.cpu = cpu.name
    host.vendor = getattr(cpu, "vendor", "") or ""
    host.features = frozenset(cpu.features)
    generic = getattr(cpu, "generic", None)
    host.generic = getattr(generic, "name", generic)
    host.cpu_source = "given"


def from_proc_cpuinfo(host: Host, machine: str, path: str | Path = "/proc/cpuinfo") -> None:
    """Fill the CPU part of ``host`` from /proc/cpuinfo flags (no archspec): microarchitecture unknown."""
    vendor, flags = read_proc_cpuinfo(path)
    host.cpu, host.vendor, host.features = machine, vendor, flags
    host.cpu_source = "/proc/cpuinfo" if flags else "none"
    host.notes.append(
        "archspec is not installed: CPU features read from /proc/cpuinfo flags, microarchitecture unknown"
        if flags
        else "archspec is not installed and /proc/cpuinfo is unreadable: CPU features unknown (pip install archspec)"
    )


def host_family(machine: str) -> str:
    """The machine name archspec's host family gives (x86_64, aarch64), else ``machine``."""
    try:
        import archspec.cpu

        return family(archspec.cpu.host())
    except Exception:
        return machine
