"""Hardware detection: which variants of variants.toml run on this host, and which one to pick.

``invoke detect`` / ``python -m buildmatrix.detect [--json] [--file variants.toml] [--cpu NAME]``

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
    and when the driver is at least the CUDA release's ``min_driver`` (and the GPU
    architecture's). CUDA minor-version compatibility (a 13.1 program on a 13.0-era
    driver, without PTX JIT and newer-driver APIs) is deliberately not counted as a
    fit: the output mentions it for the CUDA versions it concerns.

Everything that touches the machine is injectable (``detect_host(nvml=…, run=…,
cpu=…)``) so tests can fake NVML, nvidia-smi output and archspec hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as _platform
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import BuildMatrixError

DEFAULT = object()  # "use the real provider" marker for detect_host's injectable arguments

NVIDIA_SMI_FIELDS = "index,name,compute_cap,driver_version,memory.total"
NVIDIA_SMI_QUERY = ["nvidia-smi", f"--query-gpu={NVIDIA_SMI_FIELDS}", "--format=csv,noheader,nounits"]
NVIDIA_SMI_QUERY_OLD = ["nvidia-smi", "--query-gpu=index,name,driver_version,memory.total", "--format=csv,noheader,nounits"]

Runner = Callable[[Sequence[str]], str]

# ------------------------------------------------------------------------- host


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


# ------------------------------------------------------------------ CPU probing


def normalize_machine(machine: str) -> str:
    """``platform.machine()`` as Nix names it: ``AMD64``/``x64`` -> ``x86_64``, ``arm64`` -> ``aarch64``."""
    m = machine.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(m, m)


def _family_name(uarch: Any) -> str:
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


def _cpu_from_archspec(host: Host) -> bool:
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


def _resolve_cpu(cpu: Any) -> Any:
    """An archspec Microarchitecture (or look-alike) from a Microarchitecture, its name, or a callable returning one."""
    if callable(cpu) and not hasattr(cpu, "features"):
        cpu = cpu()
    if isinstance(cpu, str):
        import archspec.cpu

        if cpu not in archspec.cpu.TARGETS:
            raise BuildMatrixError(f"archspec knows no microarchitecture {cpu!r} (see archspec.cpu.TARGETS)")
        cpu = archspec.cpu.TARGETS[cpu]
    return cpu


def _cpu_given(host: Host, cpu: Any) -> None:
    """Fill the CPU part of ``host`` from a resolved microarchitecture."""
    host.cpu = cpu.name
    host.vendor = getattr(cpu, "vendor", "") or ""
    host.features = frozenset(cpu.features)
    generic = getattr(cpu, "generic", None)
    host.generic = getattr(generic, "name", generic)
    host.cpu_source = "given"


# ------------------------------------------------------------------ GPU probing


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _gpus_from_nvml(nvml: Any, host: Host) -> bool:
    """Query NVML (the ``pynvml`` module of nvidia-ml-py, or a fake with the same functions)."""
    try:
        nvml.nvmlInit()
    except Exception as exc:
        host.notes.append(f"NVML: cannot initialise ({_text(exc) or type(exc).__name__})")
        return False
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        try:
            v = int(nvml.nvmlSystemGetCudaDriverVersion())
            host.cuda_driver = f"{v // 1000}.{(v % 1000) // 10}"
        except Exception:
            pass
        gpus = []
        for i in range(int(nvml.nvmlDeviceGetCount())):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name = _text(nvml.nvmlDeviceGetName(h))
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(h)
            try:
                mem = int(nvml.nvmlDeviceGetMemoryInfo(h).total) // (1024 * 1024)
            except Exception:
                mem = None
            gpus.append(GpuInfo(i, name, f"{int(major)}.{int(minor)}", driver, mem))
    except Exception as exc:
        host.notes.append(f"NVML: query failed ({_text(exc) or type(exc).__name__})")
        return False
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass
    host.gpus, host.driver, host.gpu_source = gpus, driver, "nvml"
    return True


def parse_nvidia_smi(text: str, with_capability: bool = True) -> list[GpuInfo]:
    """Rows of ``nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total --format=csv,noheader,nounits``."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if with_capability:
            if len(cells) < 4:
                raise ValueError(f"unexpected nvidia-smi line: {line!r}")
            index, name, cap, driver = cells[:4]
            mem = cells[4] if len(cells) > 4 else ""
        else:
            if len(cells) < 3:
                raise ValueError(f"unexpected nvidia-smi line: {line!r}")
            index, name, driver = cells[:3]
            cap, mem = "", cells[3] if len(cells) > 3 else ""
        cap = cap if re.fullmatch(r"\d+\.\d+", cap) else None
        out.append(GpuInfo(int(index), name, cap, driver or None, int(float(mem)) if re.fullmatch(r"[\d.]+", mem) else None))
    return out


def _gpus_from_nvidia_smi(run: Runner, host: Host) -> bool:
    try:
        text = run(NVIDIA_SMI_QUERY)
        gpus = parse_nvidia_smi(text)
    except FileNotFoundError:
        host.notes.append("nvidia-smi: not found")
        return False
    except (subprocess.CalledProcessError, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        # Drivers before compute_cap existed reject the field: ask again without it.
        try:
            gpus = parse_nvidia_smi(run(NVIDIA_SMI_QUERY_OLD), with_capability=False)
            host.notes.append("nvidia-smi: this driver cannot report compute_cap; GPU capability unknown")
        except (subprocess.CalledProcessError, ValueError, OSError, subprocess.TimeoutExpired):
            detail = getattr(exc, "stderr", None) or getattr(exc, "output", None) or str(exc)
            host.notes.append(f"nvidia-smi: failed ({_text(detail).strip().splitlines()[0] if _text(detail).strip() else exc})")
            return False
    if not gpus:
        host.notes.append("nvidia-smi: ran but listed no GPU")
        return False
    host.gpus, host.driver, host.gpu_source = gpus, gpus[0].driver, "nvidia-smi"
    return True


def run_command(argv: Sequence[str]) -> str:
    """Default runner: stdout of ``argv`` (10 s limit); raises like subprocess.run(check=True)."""
    return subprocess.run(list(argv), capture_output=True, text=True, check=True, timeout=10).stdout


def _default_nvml(host: Host) -> Any:
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        host.notes.append("NVML: nvidia-ml-py is not installed (pip install nvidia-ml-py); trying nvidia-smi")
        return None
    return pynvml


def detect_host(
    nvml: Any = DEFAULT,
    run: Runner | None | object = DEFAULT,
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
        if not _cpu_from_archspec(host):
            vendor, flags = read_proc_cpuinfo(proc_cpuinfo)
            host.cpu, host.vendor, host.features = machine, vendor, flags
            host.cpu_source = "/proc/cpuinfo" if flags else "none"
            host.notes.append(
                "archspec is not installed: CPU features read from /proc/cpuinfo flags, microarchitecture unknown"
                if flags
                else "archspec is not installed and /proc/cpuinfo is unreadable: CPU features unknown (pip install archspec)"
            )
        else:
            machine = _family_name_of_host(machine)
    else:
        uarch = _resolve_cpu(cpu)
        _cpu_given(host, uarch)
        machine = _family_name(uarch)
        system = system or "linux"
    host.platform = f"{machine}-{system}"

    if system == "darwin":
        host.notes.append("macOS: no NVIDIA GPUs; Apple Silicon uses the mps variants")
        return host
    nvml_mod = _default_nvml(host) if nvml is DEFAULT else nvml
    runner = run_command if run is DEFAULT else run
    if nvml_mod is not None and nvml_mod is not False and _gpus_from_nvml(nvml_mod, host):
        return host
    if runner is not None and _gpus_from_nvidia_smi(runner, host):  # type: ignore[arg-type]
        return host
    host.gpus, host.driver, host.gpu_source = [], None, "none"
    return host


def _family_name_of_host(machine: str) -> str:
    """The machine name archspec's host family gives (x86_64, aarch64), else ``machine``."""
    try:
        import archspec.cpu

        return _family_name(archspec.cpu.host())
    except Exception:
        return machine


# --------------------------------------------------------------- fit decisions


def _version_tuple(text: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text or ""))


def driver_at_least(driver: str | None, minimum: str) -> bool:
    """Numeric comparison of driver versions (``580.95.05`` ≥ ``580.65.06``); unknown driver → False."""
    if not driver:
        return False
    have, need = _version_tuple(driver), _version_tuple(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def newest_cuda(matrix: Any, driver: str | None) -> str | None:
    """The newest CUDA version of the model whose min_driver ``driver`` meets."""
    ok = [c for c in matrix.cudas.values() if driver_at_least(driver, c.min_driver)]
    return max(ok, key=lambda c: c.v).version if ok else None


@dataclass
class Verdict:
    """Whether one variant runs on the host, and why (or why not)."""

    fits: bool
    kind: str  # fits: "exact" | "compatible" | "cpu-on-gpu-host"; rejected: platform | isa | no-gpu | sass | driver | gpu-unknown
    reasons: list[str]
    gpus: list[int] = field(default_factory=list)  # indices of host GPUs it runs on


def missing_features(isa: Any, host: Host) -> list[str]:
    return [f for f in isa.features if f not in host.features]


def assess(matrix: Any, v: Any, host: Host) -> Verdict:
    """Decide whether variant ``v`` runs on ``host``: every reason it does not, or what kind of fit it is."""
    rejected: list[tuple[str, str]] = []
    if v.platform != host.platform:
        rejected.append(("platform", f"built for {v.platform}; this host is {host.platform}"))
    elif v.isa is not None:
        missing = missing_features(v.isa, host)
        if missing and host.cpu_source != "none":
            rejected.append(
                ("isa", f"ISA {v.isa.name} needs CPU feature(s) {', '.join(missing)}, which {host.cpu} does not report")
            )
    ok_gpus: list[int] = []
    if v.target == "cuda":
        if not host.gpus:
            rejected.append(("no-gpu", "a CUDA build; no NVIDIA GPU was detected"))
        else:
            known = [g for g in host.gpus if g.capability]
            if not known:
                rejected.append(("gpu-unknown", "the GPU's compute capability is unknown (driver too old to report it)"))
            else:
                ok_gpus = [g.index for g in known if v.gpu.runs_on(g.capability)]
                if not ok_gpus:
                    g = known[0]
                    rejected.append(("sass", _sass_reason(v.gpu, g)))
                if not driver_at_least(host.driver, v.cuda.min_driver):
                    rejected.append(("driver", _driver_reason(matrix, v, host)))
                elif not driver_at_least(host.driver, v.gpu.min_driver):
                    rejected.append(
                        ("driver", f"driver {host.driver} is older than {v.gpu.min_driver}, which {v.gpu.family} GPUs need")
                    )
    if rejected:
        return Verdict(False, rejected[0][0], [r for _, r in rejected])

    reasons: list[str] = []
    if v.isa is not None and host.cpu_source == "none":
        reasons.append(f"ISA {v.isa.name}: not checked (CPU features unknown)")
    elif v.isa is not None:
        best = best_isa(matrix, host)
        if best and best.name != v.isa.name:
            extra = [f for f in best.features if f not in v.isa.features]
            reasons.append(
                f"ISA {v.isa.name} is a subset of what {host.cpu} has (it runs, but leaves "
                f"{', '.join(extra) or best.name} unused; best: {best.name})"
            )
        else:
            reasons.append(f"ISA {v.isa.name}: {host.cpu} has all of {', '.join(v.isa.features)}")
    if v.target == "cuda":
        exact = [g for g in host.gpus if g.index in ok_gpus and g.capability == v.gpu.capability]
        if exact:
            kind = "exact"
            reasons.insert(0, f"{v.gpu.name} SASS matches {exact[0].name} ({exact[0].capability}) exactly")
        else:
            g = next(g for g in host.gpus if g.index in ok_gpus)
            kind = "compatible"
            reasons.insert(
                0,
                f"{v.gpu.name} SASS runs on {g.name} ({g.capability}) through binary compatibility "
                f"(same major, lower minor); a {_model_gpu_for(matrix, g.capability) or 'native'} build would match exactly",
            )
        if len(ok_gpus) < len(host.gpus):
            left = [g.index for g in host.gpus if g.index not in ok_gpus]
            reasons.append(f"runs on GPU(s) {', '.join(map(str, ok_gpus))} only, not on {', '.join(map(str, left))}")
        reasons.append(f"driver {host.driver} ≥ {v.cuda.min_driver} (CUDA {v.cuda.version})")
        return Verdict(True, kind, reasons, ok_gpus)
    if v.target == "cpu" and host.gpus:
        reasons.insert(0, "CPU-only build: runs here but does not use the GPU(s)")
        return Verdict(True, "cpu-on-gpu-host", reasons)
    return Verdict(True, "exact", reasons)


def _driver_reason(matrix: Any, v: Any, host: Host) -> str:
    text = f"driver {host.driver or 'unknown'} is older than {v.cuda.min_driver}, which CUDA {v.cuda.version} needs"
    same_major = [
        c.version for c in matrix.cudas.values() if c.major == v.cuda.major and driver_at_least(host.driver, c.min_driver)
    ]
    if host.driver and same_major:
        text += (
            f" (CUDA minor-version compatibility might let it start on this CUDA {max(same_major)}-era driver, without"
            " PTX JIT or newer-driver APIs; not counted as a fit)"
        )
    return text


def _model_gpu_for(matrix: Any, capability: str | None) -> str | None:
    for g in matrix.gpus.values():
        if g.capability == capability:
            return g.name
    return None


def _sass_reason(gpu: Any, g: GpuInfo) -> str:
    major = gpu.capability.split(".")[0]
    if (g.capability or "") == "8.7" and gpu.capability != "8.7":
        return f"{gpu.name} SASS does not run on {g.name} (8.7, Jetson Orin): only an sm87 build does"
    return (
        f"{gpu.name} SASS ({gpu.capability}) does not run on {g.name} ({g.capability}): SASS runs only on the same major "
        f"({major}.x) with an equal or higher minor, and these builds carry no PTX"
    )


def best_isa(matrix: Any, host: Host) -> Any:
    """The highest-ranked ISA of the model for this platform whose features the host has (None if none)."""
    fitting = [i for i in matrix.isas.values() if i.platform == host.platform and not missing_features(i, host)]
    return max(fitting, key=lambda i: i.rank) if fitting else None


# -------------------------------------------------------------- recommendation


@dataclass
class Choice:
    """A variant with its verdict."""

    variant: Any
    verdict: Verdict

    @property
    def alias(self) -> str:
        v = self.variant
        return f"{v.cuda.token}-{v.short}" if v.target == "cuda" else v.short

    def as_dict(self) -> dict[str, Any]:
        v = self.variant
        return {
            "name": v.name,
            "package": v.package.name,
            "alias": self.alias,
            "target": v.target,
            "cuda": v.cuda.version if v.cuda else None,
            "gpu": v.gpu.name if v.gpu else None,
            "isa": v.isa.name if v.isa else None,
            "kind": self.verdict.kind,
            "reasons": list(self.verdict.reasons),
        }


@dataclass
class Recommendation:
    """Everything `invoke detect` prints."""

    host: Host
    python: str
    packages: tuple[str, ...]
    isa: Any  # best Isa or None
    isa_table: list[tuple[str, bool, str]]  # (isa name, fits, reason)
    driver_cuda: str | None  # newest CUDA of the model the driver runs
    driver_notes: list[str]
    recommended: list[Choice]
    alternatives: list[Choice]
    rejected: list[Choice]
    why: list[str]  # why the recommended variant(s) won

    def as_dict(self) -> dict[str, Any]:
        groups: dict[str, dict[str, list[str]]] = {}
        for c in self.rejected:
            groups.setdefault(c.verdict.kind, {}).setdefault(c.verdict.reasons[0], []).append(c.variant.name)
        return {
            "host": self.host.as_dict(),
            "python": self.python,
            "packages": list(self.packages),
            "isa": self.isa.name if self.isa else None,
            "isa_table": [{"isa": n, "fits": ok, "reason": r} for n, ok, r in self.isa_table],
            "driver_cuda": self.driver_cuda,
            "driver_notes": list(self.driver_notes),
            "recommended": [c.as_dict() for c in self.recommended],
            "why": list(self.why),
            "alternatives": [c.as_dict() for c in self.alternatives],
            "rejected": [c.as_dict() for c in self.rejected],
            "rejected_groups": groups,
        }


def _score(c: Choice, default_cuda: str, features_known: bool = True) -> tuple:
    """Sort key of a fitting variant: higher is better (the lowest ISA first when CPU features are unknown)."""
    v = c.variant
    isa_rank = (v.isa.rank if features_known else -v.isa.rank) if v.isa else 0
    return (
        {"exact": 3, "compatible": 2, "cpu-on-gpu-host": 1}.get(c.verdict.kind, 0),
        len(c.verdict.gpus),  # GPUs it runs on
        _version_tuple(v.gpu.capability) if v.gpu else (),  # among SASS-compatible builds, the closest
        bool(v.cuda and v.cuda.version == default_cuda),
        _version_tuple(v.cuda.version) if v.cuda else (),
        isa_rank,
        not v.suffix,
    )


def recommend(matrix: Any, host: Host, packages: Iterable[str] | None = None, python: str | None = None) -> Recommendation:
    """Best variant(s) for the defaults' packages and Python, compatible alternatives and rejections, with reasons."""
    packages = tuple(packages or matrix.defaults.packages)
    python = python or matrix.defaults.python
    pool = [v for v in matrix.variants if v.package.name in packages and v.python.version == python]
    choices = [Choice(v, assess(matrix, v, host)) for v in pool]
    fitting = [c for c in choices if c.verdict.fits]
    rejected = [c for c in choices if not c.verdict.fits]

    isa = best_isa(matrix, host)
    isa_table = []
    for i in sorted(matrix.isas.values(), key=lambda i: (i.platform, -i.rank)):
        if i.platform != host.platform:
            isa_table.append((i.name, False, f"{i.platform} ISA"))
            continue
        miss = missing_features(i, host)
        if miss:
            isa_table.append((i.name, False, f"missing {', '.join(miss)}"))
        else:
            isa_table.append((i.name, True, f"has {', '.join(i.features)} (rank {i.rank})"))

    driver_cuda = newest_cuda(matrix, host.driver) if host.gpus else None
    driver_notes = []
    if host.gpus:
        if driver_cuda:
            newer = sorted((c for c in matrix.cudas.values() if c.v > matrix.cudas[driver_cuda].v), key=lambda c: c.v)
            text = f"driver {host.driver} runs CUDA ≤ {driver_cuda} of the model"
            if newer:
                text += "; " + ", ".join(f"CUDA {c.version} needs ≥ {c.min_driver}" for c in newer)
            driver_notes.append(text)
        else:
            driver_notes.append(f"driver {host.driver or 'unknown'} is older than every CUDA of the model needs")
        if host.cuda_driver:
            driver_notes.append(f"the driver itself reports CUDA {host.cuda_driver} (NVML)")

    recommended: list[Choice] = []
    why: list[str] = []
    default_cuda = matrix.defaults.cuda
    known = host.cpu_source != "none"
    if fitting:
        best = max(fitting, key=lambda c: _score(c, default_cuda, known))
        key = _hw_key(best.variant)
        for pkg in packages:
            same = [c for c in fitting if c.variant.package.name == pkg and _hw_key(c.variant) == key]
            if same:
                recommended.append(same[0])
            else:
                alt = [c for c in fitting if c.variant.package.name == pkg]
                if alt:
                    recommended.append(max(alt, key=lambda c: _score(c, default_cuda, known)))
        why = _why(matrix, host, best, isa, driver_cuda)
    chosen = {id(c) for c in recommended}
    alternatives = sorted((c for c in fitting if id(c) not in chosen), key=lambda c: _score(c, default_cuda, known), reverse=True)
    return Recommendation(
        host, python, packages, isa, isa_table, driver_cuda, driver_notes, recommended, alternatives, rejected, why
    )


def _hw_key(v: Any) -> tuple:
    return (v.target, v.cuda.version if v.cuda else None, v.gpu.name if v.gpu else None, v.isa.name if v.isa else None, v.suffix)


def _why(matrix: Any, host: Host, best: Choice, isa: Any, driver_cuda: str | None) -> list[str]:
    v = best.variant
    out = []
    if v.target == "cuda":
        out.append(best.verdict.reasons[0])
        if v.cuda.version == matrix.defaults.cuda:
            out.append(f"CUDA {v.cuda.version}: the model's default, and driver {host.driver} runs it")
        else:
            out.append(f"CUDA {v.cuda.version}: the newest fitting CUDA (default {matrix.defaults.cuda} does not fit)")
    elif v.target == "cpu":
        if host.gpus:
            out.append("no CUDA variant fits this GPU/driver (see the rejected list), so a CPU-only build")
        else:
            out.append(f"no NVIDIA GPU detected ({host.gpu_source}): CPU-only build")
    else:
        out.append("Apple Silicon: the MPS build")
    if v.isa is not None and host.cpu_source == "none":
        out.append(f"ISA {v.isa.name}: CPU features unknown, so the most conservative ISA (install archspec)")
    elif v.isa is not None and isa is not None:
        out.append(f"ISA {isa.name}: the highest-ranked ISA whose features ({', '.join(isa.features)}) {host.cpu} has")
    return out


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
        lines.append(f"Recommended for Python {rec.python}:")
        for c in rec.recommended:
            lines.append(f"  {c.variant.name}")
        for w in rec.why:
            lines.append(f"    because: {w}")
    else:
        lines.append(f"No variant for Python {rec.python} of {', '.join(rec.packages)} runs on this host.")
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


# ---------------------------------------------------------------------- entry


def cmd_detect(file: str, as_json: bool, cpu: str | None = None) -> int:
    """`invoke detect`: print the recommendation (text or JSON). 0 when some variant fits, 1 when none does."""
    from . import model

    try:
        m = model.load(file)
        host = detect_host(cpu=cpu) if cpu else detect_host()
    except BuildMatrixError as exc:
        print(str(exc) if "problem(s)" in str(exc) else f"error: {exc}", file=sys.stderr)
        return 2
    rec = recommend(m, host)
    if as_json:
        print(json.dumps(rec.as_dict(), indent=2, default=str))
    else:
        print(render_text(rec))
    return 0 if rec.recommended else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m buildmatrix.detect",
        description="Detect this host's CPU and NVIDIA GPUs and recommend the variants of variants.toml that fit it.",
    )
    parser.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    parser.add_argument("--file", default=os.environ.get("BUILDMATRIX_FILE", "variants.toml"), help="the model file")
    parser.add_argument("--cpu", help="pretend the CPU is this archspec microarchitecture (e.g. zen4); GPUs are still probed")
    args = parser.parse_args(argv)
    return cmd_detect(args.file, args.json, args.cpu)


if __name__ == "__main__":
    sys.exit(main())
