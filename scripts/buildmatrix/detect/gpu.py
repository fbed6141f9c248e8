"""The GPU half of :func:`buildmatrix.detect.probe.detect_host`: NVML first, then nvidia-smi, else no GPU.

NVML is reached through nvidia-ml-py (the ``pynvml`` module) or any object with the
same functions (tests pass fakes); nvidia-smi through a :data:`Runner` (``argv ->
stdout``), asked ``--query-gpu=index,name,compute_cap,driver_version,memory.total`` and,
for drivers too old to know ``compute_cap``, once more without it (capability unknown).
Each ``from_*`` fills the GPU fields of a :class:`~buildmatrix.detect.host.Host` and returns
True, or leaves a note saying why it could not and returns False.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from .host import GpuInfo, Host

NVIDIA_SMI_FIELDS = "index,name,compute_cap,driver_version,memory.total"
NVIDIA_SMI_QUERY = ["nvidia-smi", f"--query-gpu={NVIDIA_SMI_FIELDS}", "--format=csv,noheader,nounits"]
NVIDIA_SMI_QUERY_OLD = ["nvidia-smi", "--query-gpu=index,name,driver_version,memory.total", "--format=csv,noheader,nounits"]

Runner = Callable[[Sequence[str]], str]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def from_nvml(nvml: Any, host: Host) -> bool:
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


def from_nvidia_smi(run: Runner, host: Host) -> bool:
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


def default_nvml(host: Host) -> Any:
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        host.notes.append("NVML: nvidia-ml-py is not installed (pip install nvidia-ml-py); trying nvidia-smi")
        return None
    return pynvml
