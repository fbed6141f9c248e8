"""Hardware detection: which variants of variants.toml run on this host, and which one to pick.

``invoke detect`` / ``python -m buildmatrix.detect [--json] [--file variants.toml] [--cpu NAME] [--torch M.m]``
(``--torch 2.9``: recommend among that torch line's variants instead of the default line's)

CPU
    archspec (``archspec.cpu.host()``) gives the microarchitecture (``sapphirerapids``,
    ``zen4``, ``neoverse_v2``…); the feature set is the union of that
    microarchitecture's features and the flags the kernel reports
    (``archspec.cpu.detect.detected_info()``, i.e. /proc/cpuinfo on Linux). Without
    archspec the flags are read from /proc/cpuinfo directly and the microarchitecture
    is unknown (the output says so). An ISA fits when every feature it lists in
    variants.toml (archspec names, which on Linux are the /proc/cpuinfo flag names) is
    present; the best ISA is the fitting one of highest ``rank``. Any lower-ranked
    fitting ISA also runs (an avx2 build runs on an avx512 host): ISAs are feature
    subsets.
GPU
    NVML through nvidia-ml-py (``pynvml``) first, then
    ``nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total``,
    else no GPU. A CUDA variant fits a GPU when its SASS runs there
    (``Gpu.runs_on``: same major, equal or higher minor; the recipes pass one
    ``gpuTargets`` entry without ``+PTX``, so there is no PTX to JIT for newer GPUs)
    and when the driver is at least the CUDA release's floor (``fit.cuda_floor``: its
    major release's minor-version-compatibility minimum, e.g. a 13.1 build on a 580
    driver, with a limited feature set; else its ``min_driver``) and the GPU
    architecture's ``min_driver``. A fit through minor-version compatibility says so
    and ranks below one whose release ``min_driver`` the driver meets.

Everything that touches the machine is injectable (``detect_host(nvml=…, run=…,
cpu=…)``) so tests can fake NVML, nvidia-smi output and archspec hosts.

Where the parts live: :mod:`buildmatrix.detect.host` (the Host record), :mod:`buildmatrix.detect.cpu`
and :mod:`buildmatrix.detect.gpu` (probing), :mod:`buildmatrix.detect.fit` (one variant against the
host), :mod:`buildmatrix.detect.choice` (the recommendation); this module composes them and renders
the report. The command line (``invoke detect``, ``python -m buildmatrix.detect``) is
:mod:`buildmatrix.cli.detect`.
"""

from __future__ import annotations

import platform as _platform
from pathlib import Path
from typing import Any

from . import cpu as cpuprobe
from . import gpu as gpuprobe
from .choice import Choice, Recommendation
from .host import Host, normalize_machine

DEFAULT = object()  # "use the real provider" marker for detect_host's injectable arguments


def detect_host(
    nvml: Any = DEFAULT,
    run: gpuprobe.Runner | None | object = DEFAULT,
    cpu: Any = DEFAULT,
    system: str | None = None,
    proc_cpuinfo: str | Path = "/proc/cpuinfo",
) -> Host:
    """Probe this machine (or the fakes given).

    nvml: the ``pynvml`` module or a fake with its functions; None skips NVML.
    run: ``argv -> stdout`` used for nvidia-smi; None skips nvidia-smi.
    cpu: an archspec Microarchitecture, its name, or a callable returning one; by
    default archspec's host detection (or /proc/cpuinfo without archspec).
    system: ``linux`` or ``darwin``; default: this machine's (``linux`` when ``cpu`` is given).
    """
    host = Host(platform="", cpu="", vendor="", features=frozenset())
    if cpu is DEFAULT:
        system = system or _platform.system().lower()
        machine = normalize_machine(_platform.machine())
        if not cpuprobe.from_archspec(host):
            cpuprobe.from_proc_cpuinfo(host, machine, proc_cpuinfo)
        else:
            machine = cpuprobe.host_family(machine)
    else:
        uarch = cpuprobe.resolve(cpu)
        cpuprobe.from_given(host, uarch)
        machine = cpuprobe.family(uarch)
        system = system or "linux"
    host.platform = f"{machine}-{system}"

    if system == "darwin":
        host.notes.append("macOS: no NVIDIA GPUs; Apple Silicon uses the mps variants")
        return host
    nvml_mod = gpuprobe.default_nvml(host) if nvml is DEFAULT else nvml
    runner = gpuprobe.run_command if run is DEFAULT else run
    if nvml_mod is not None and nvml_mod is not False and gpuprobe.from_nvml(nvml_mod, host):
        return host
    if runner is not None and gpuprobe.from_nvidia_smi(runner, host):  # type: ignore[arg-type]
        return host
    host.gpus, host.driver, host.gpu_source = [], None, "none"
    return host


# ------------------------------------------------------------------- rendering


def render_text(rec: Recommendation) -> str:
    """The human-readable report of `invoke detect`."""
    h = rec.host
    lines = [f"Host: {h.platform}, CPU {h.cpu} ({h.vendor or 'unknown vendor'}"]
    lines[0] += f", {h.generic})" if h.generic else ")"
    lines.append(f"  CPU source: {h.cpu_source}; {len(h.features)} features")
    if h.gpus:
        for g in h.gpus:
            mem = f", {g.memory_mib} MiB" if g.memory_mib else ""
            lines.append(f"  GPU {g.index}: {g.name}, compute capability {g.capability or 'unknown'}{mem} (via {h.gpu_source})")
        lines.append(f"  driver {h.driver}")
    else:
        lines.append("  GPU: none detected")
    for n in h.notes:
        lines.append(f"  note: {n}")
    for n in rec.driver_notes:
        lines.append(f"  {n}")
    lines.append("")
    lines.append("CPU ISAs (best first):")
    for name, ok, reason in rec.isa_table:
        if reason.endswith(" ISA") and not ok:
            continue
        mark = "*" if rec.isa and rec.isa.name == name else ("+" if ok else "-")
        lines.append(f"  {mark} {name:<12} {reason}")
    lines.append("")
    if rec.recommended:
        lines.append(f"Recommended for Python {rec.python}" + (f", torch {rec.torch}:" if rec.torch else ":"))
        for c in rec.recommended:
            lines.append(f"  {c.variant.name}")
        for w in rec.why:
            lines.append(f"    because: {w}")
    else:
        line = f" (torch {rec.torch})" if rec.torch else ""
        lines.append(f"No variant for Python {rec.python} of {', '.join(rec.packages)}{line} runs on this host.")
    if rec.alternatives:
        lines.append("")
        lines.append("Also compatible (alias: reason):")
        seen: dict[str, Choice] = {}
        for c in rec.alternatives:
            seen.setdefault(c.alias, c)
        for alias, c in seen.items():
            pkgs = sorted({a.variant.package.name for a in rec.alternatives if a.alias == alias})
            lines.append(f"  {alias} ({', '.join(pkgs)}): {'; '.join(c.verdict.reasons)}")
    if rec.rejected:
        lines.append("")
        lines.append(f"Not for this host ({len(rec.rejected)} variants):")
        groups: dict[str, dict[str, set[str]]] = {}
        for c in rec.rejected:
            groups.setdefault(c.verdict.kind, {}).setdefault(c.verdict.reasons[0], set()).add(c.alias)
        titles = {
            "platform": "wrong platform",
            "isa": "CPU feature missing",
            "no-gpu": "no NVIDIA GPU",
            "gpu-unknown": "GPU capability unknown",
            "sass": "SASS incompatible",
            "driver": "driver too old",
        }
        for kind, reasons in groups.items():
            total = sum(len(a) for a in reasons.values())
            lines.append(f"  {titles.get(kind, kind)} ({total} aliases):")
            for reason, aliases in sorted(reasons.items()):
                shown = sorted(aliases)
                more = f" … (+{len(shown) - 6})" if len(shown) > 6 else ""
                lines.append(f"    {reason}: {', '.join(shown[:6])}{more}")
    return "\n".join(lines)
