"""Whether one variant runs on a detected host, and why or why not (:func:`assess`).

A variant is rejected for the wrong platform, a CPU feature its ISA needs and the host
lacks (not checked when the CPU features are unknown), no NVIDIA GPU, SASS that does not
run on any of the host's GPUs (``Gpu.runs_on``: same major, equal or higher minor; the
recipes carry no PTX), or a driver older than the CUDA release's or the GPU family's
driver floor (:func:`cuda_floor`), or older than the GPU family's ``min_driver``. A fit
is ``exact``, ``compatible`` (SASS of a lower minor) or ``cpu-on-gpu-host``.

CUDA minor-version compatibility (NVIDIA's CUDA Compatibility guide, :data:`MINOR_VERSION_COMPAT_URL`):
from CUDA 11 on, an application built with any toolkit of one major release runs, with a
limited feature set, on a driver at least the major release's minimum (:data:`MAJOR_MIN_DRIVER`),
even when that driver is older than the one the toolkit release ships with (``min_driver``
in ``variants.toml``). Such a fit is counted, with ``limited`` set and a note that features
which need a newer driver may be unavailable; a variant whose release ``min_driver`` the
driver meets is preferred. :func:`best_isa` is the highest-ranked ISA whose features the host has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .host import GpuInfo, Host


def version_tuple(text: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text or ""))


def driver_at_least(driver: str | None, minimum: str) -> bool:
    """Numeric comparison of driver versions (``580.95.05`` ≥ ``580.65.06``); unknown driver → False."""
    if not driver:
        return False
    have, need = version_tuple(driver), version_tuple(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


MINOR_VERSION_COMPAT_URL = "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html"

# The lowest Linux driver that runs an application built with any toolkit of a CUDA major
# release (minor-version compatibility; NVIDIA's CUDA Compatibility guide, Table 1, and the
# CUDA Toolkit release notes for the full 12.x figure). A major not listed gets no
# compatibility: its releases need their own min_driver.
MAJOR_MIN_DRIVER = {12: "525.60.13", 13: "580"}

MINOR_VERSION_NOTE = (
    "runs through CUDA minor-version compatibility with a limited feature set: NVIDIA says features that need "
    "a newer driver (such as JIT-compiling PTX of a newer toolkit, or newer driver APIs) may be unavailable"
)


def cuda_floor(cuda: Any) -> str:
    """The lowest driver that runs builds of CUDA release ``cuda``: its major release's
    minor-version-compatibility minimum where NVIDIA gives one (never above the release's own
    ``min_driver``), otherwise the release's ``min_driver``."""
    floor = MAJOR_MIN_DRIVER.get(int(cuda.major))
    if floor is not None and driver_at_least(cuda.min_driver, floor):
        return floor
    return cuda.min_driver


def newest_cuda(matrix: Any, driver: str | None) -> str | None:
    """The newest CUDA version of the model that ``driver`` runs (minor-version compatibility counted)."""
    ok = [c for c in matrix.cudas.values() if driver_at_least(driver, cuda_floor(c))]
    return max(ok, key=lambda c: c.v).version if ok else None


@dataclass
class Verdict:
    """Whether one variant runs on the host, and why (or why not)."""

    fits: bool
    kind: str  # fits: "exact" | "compatible" | "cpu-on-gpu-host"; rejected: platform | isa | no-gpu | sass | driver | gpu-unknown
    reasons: list[str]
    gpus: list[int] = field(default_factory=list)  # indices of host GPUs it runs on
    limited: bool = False  # runs only through CUDA minor-version compatibility (driver < the release's min_driver)


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
                ("isa", f"ISA {v.isa.name} needs CPU feature(s) {', '.join(missing)}, which this CPU does not report")
            )
    ok_gpus: list[int] = []
    if v.gpu is not None:
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
                if not driver_at_least(host.driver, cuda_floor(v.cuda)):
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
                f"ISA {v.isa.name} is a subset of what this CPU has (it runs, but leaves "
                f"{', '.join(extra) or best.name} unused; best: {best.name})"
            )
        else:
            reasons.append(f"ISA {v.isa.name}: this CPU has all of {', '.join(v.isa.features)}")
    if v.gpu is not None:
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
        limited = not driver_at_least(host.driver, v.cuda.min_driver)
        if limited:
            reasons.append(
                f"driver {host.driver} ≥ {cuda_floor(v.cuda)} but older than {v.cuda.min_driver} (CUDA {v.cuda.version}'s "
                f"own driver): {MINOR_VERSION_NOTE} ({MINOR_VERSION_COMPAT_URL})"
            )
        else:
            reasons.append(f"driver {host.driver} ≥ {v.cuda.min_driver} (CUDA {v.cuda.version})")
        return Verdict(True, kind, reasons, ok_gpus, limited)
    if v.gpu is None and v.isa is not None and host.gpus:
        reasons.insert(0, "CPU-only build: runs here but does not use the GPU(s)")
        return Verdict(True, "cpu-on-gpu-host", reasons)
    return Verdict(True, "exact", reasons)


def _driver_reason(matrix: Any, v: Any, host: Host) -> str:
    floor = cuda_floor(v.cuda)
    text = f"driver {host.driver or 'unknown'} is older than {floor}, which CUDA {v.cuda.version} needs"
    if floor != v.cuda.min_driver:
        text += f" (the CUDA {v.cuda.major}.x minor-version-compatibility minimum; {v.cuda.min_driver} for every feature)"
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
