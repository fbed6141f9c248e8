#!/usr/bin/env python3
"""Smoke checks for one PyTorch/TorchVision/TorchAudio variant, run inside the variant's own interpreter.

Needs only the standard library, torch and (where present) torchvision and torchaudio; Python 3.9+.

    python smoke_check.py EXPECTATIONS.json [--out REPORT.json] [--progress EVENTS.jsonl]
    python smoke_check.py - < EXPECTATIONS.json

EXPECTATIONS is the JSON that ``buildmatrix.smoke.expect.expectations()`` writes from
variants.toml (``python -m buildmatrix.smoke --variant NAME --print-expectations``).
A human summary goes to stderr; the JSON report goes to ``--out`` (default: stdout).
``--progress`` appends one JSON line as each check starts and ends, so the caller
can name the step an illegal instruction or a segfault killed.

Exit status: 0 every check passed (notes and skips allowed), 1 a check failed,
77 skipped: this host's hardware does not match the variant (platform, CPU
features, no NVIDIA GPU, or a GPU the variant's SASS cannot run on), 2 bad input.

Order matters: the platform and CPU-feature checks run BEFORE ``import torch``,
so a build for an ISA this CPU lacks is skipped instead of dying of SIGILL.

Tolerances (relative L2 error ``||a - b|| / ||b||`` over the flattened outputs):
ResNet18 (``weights=None``, seed 0, input 2x3x224x224) fp32 on the GPU vs the CPU,
with TF32 turned off for cuDNN and cuBLAS: 1e-3 (measured values are ~1e-6; 2e-2
if TF32 could not be turned off). Under autocast against the GPU fp32 output:
fp16 3e-2, bf16 1e-1 (bf16 keeps 8 bits of mantissa). roi_align GPU vs CPU: 1e-4.
nms GPU vs CPU: identical kept indices (integer box coordinates make IoUs exact).
torchaudio lfilter (a stable low-pass biquad on a seeded 2x4096 float32 waveform,
clamp off) on the CPU vs a float64 reference computed here, and on the GPU vs the CPU:
1e-4 each. MelSpectrogram (16 kHz) on the GPU vs the CPU: 1e-4. torchaudio's file I/O
(load/save, backends) is never touched: from 2.9 it needs TorchCodec.

Testing hook: SMOKE_CHECK_CPUINFO=PATH reads CPU flags from PATH instead of
/proc/cpuinfo.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import random
import sys
import time
import traceback
import warnings

# buildmatrix/errors.py's exit statuses (this file cannot import buildmatrix; tests/test_smoke.py checks the copy).
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_SKIPPED = 0, 1, 2, 77
SCHEMA = 1

TOL_FP32 = 1e-3
TOL_FP32_TF32 = 2e-2
TOL_FP16 = 3e-2
TOL_BF16 = 1e-1
TOL_ROI_ALIGN = 1e-4
TOL_LFILTER = 1e-4
TOL_MELSPEC = 1e-4

# x86 feature sets behind ATen's runtime CPU capability levels (aten/src/ATen/native/DispatchStub.cpp).
X86_AVX2 = ("avx2", "fma")
X86_AVX512 = ("avx512f", "avx512vl", "avx512bw", "avx512dq", "fma")


class HardwareMismatch(Exception):
    """The host cannot run this variant: the run is skipped, not failed."""


class Failed(Exception):
    """A check failed with a one-line reason."""


class Skipped(Exception):
    """A check does not apply (its detail says why)."""


# ----------------------------------------------------------------- utilities


def _machine() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(m, m)


def host_platform() -> str:
    system = "darwin" if sys.platform == "darwin" else ("linux" if sys.platform.startswith("linux") else sys.platform)
    return f"{_machine()}-{system}"


def read_cpu_flags() -> set | None:
    """CPU flags from /proc/cpuinfo (x86 ``flags``, Arm ``Features``); None when unreadable."""
    path = os.environ.get("SMOKE_CHECK_CPUINFO") or "/proc/cpuinfo"
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return set(value.split())
    except OSError:
        return None
    return None


def public_version(v: str) -> str:
    return str(v).split("+", 1)[0]


def version_matches(actual: str, expected: str) -> bool:
    """``2.11.0+cu130`` matches ``2.11.0``; an expectation with a local part must match exactly."""
    if "+" in expected:
        return str(actual) == expected
    return public_version(actual) == expected or public_version(actual).startswith(expected + ".")


def major_minor(v: str | None) -> str | None:
    if not v:
        return None
    parts = str(v).split(".")
    return ".".join(parts[:2])


def sass_runs_on(build: str, device: str) -> bool:
    """SASS compiled for ``build`` ("8.0") runs on a ``device`` ("8.6"): same major, minor >= (8.7 only runs 8.7)."""
    bmaj, bmin = (int(x) for x in build.split("."))
    dmaj, dmin = (int(x) for x in device.split("."))
    if (dmaj, dmin) == (8, 7) and (bmaj, bmin) != (8, 7):
        return False
    return dmaj == bmaj and dmin >= bmin


def cudnn_version_text(v: int | None) -> str:
    if v is None:
        return "none"
    v = int(v)
    if v >= 90000:
        return f"{v // 10000}.{(v % 10000) // 100}.{v % 100}"
    return f"{v // 1000}.{(v % 1000) // 100}.{v % 100}"


def rel_l2(a: list, b: list) -> float:
    """||a - b|| / ||b|| over two flat lists of floats (inf when a value is not finite)."""
    if len(a) != len(b):
        raise Failed(f"shapes differ: {len(a)} vs {len(b)} values")
    num = den = 0.0
    for x, y in zip(a, b):
        if not (math.isfinite(x) and math.isfinite(y)):
            return float("inf")
        num += (x - y) ** 2
        den += y * y
    return math.sqrt(num) / max(math.sqrt(den), 1e-30)


def flat(t) -> list:
    return t.detach().float().cpu().flatten().tolist()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return "{}: {}".format(type(exc).__name__, text[0] if text else "")


def explain(exc: BaseException, exp: dict) -> str:
    """A one-line reason, with the likely cause for the errors a mismatched build produces."""
    text = str(exc)
    line = first_line(exc)
    if "no kernel image is available" in text:
        return "{} -- the build has no SASS for this GPU (expected {})".format(line, exp.get("arch"))
    if "Could not run 'torchvision::" in text and "CUDA" in text:
        return f"{line} -- torchvision was built without CUDA kernels"
    if "Could not run 'torchaudio::" in text and "CUDA" in text:
        return f"{line} -- torchaudio was built without CUDA kernels"
    if "libcuda" in text or "CUDA driver" in text:
        return f"{line} -- the CUDA driver library was not found or is too old"
    return line


# ------------------------------------------------------------------- runner


class Checker:
    """Runs named checks, times them, records them, and streams progress events."""

    def __init__(self, exp: dict, progress: str | None):
        self.exp = exp
        self.checks: list = []
        self.status: dict = {}
        self.progress = open(progress, "a", buffering=1, encoding="utf-8") if progress else None
        self.info: dict = {}
        self.config: dict = {}

    def event(self, **data) -> None:
        if self.progress:
            self.progress.write(json.dumps(data, default=str) + "\n")
            self.progress.flush()

    def add(self, name: str, status: str, detail: str, seconds: float = 0.0) -> None:
        entry = {"name": name, "status": status, "detail": detail, "seconds": round(seconds, 3)}
        self.checks.append(entry)
        self.status[name] = status
        self.event(event="done", check=entry)
        mark = {"pass": "PASS", "fail": "FAIL", "skip": "skip", "note": "note"}[status]
        _err(f"  {mark:<4} {name:<24} {detail} ({seconds:.2f}s)")

    def run(self, name: str, fn, needs: tuple = ()):
        """Run ``fn()`` unless a check it needs did not pass; ``fn`` returns a detail (pass) or ``(status, detail)``.

        Failed/other exceptions make the check fail, Skipped skips it, HardwareMismatch skips it and ends the run.
        """
        for dep in needs:
            if self.status.get(dep) not in ("pass", "note"):
                self.add(name, "skip", f"needs {dep}")
                return None
        self.event(event="start", check=name)
        start = time.perf_counter()
        try:
            out = fn()
        except HardwareMismatch as exc:
            self.add(name, "skip", str(exc), time.perf_counter() - start)
            raise
        except Skipped as exc:
            self.add(name, "skip", str(exc), time.perf_counter() - start)
            return None
        except Failed as exc:
            self.add(name, "fail", str(exc), time.perf_counter() - start)
            return None
        except Exception as exc:  # every other error is this check's failure, not the checker's
            self.add(name, "fail", explain(exc, self.exp), time.perf_counter() - start)
            self.info.setdefault("tracebacks", {})[name] = traceback.format_exc(limit=6)
            return None
        status, detail = ("pass", out) if isinstance(out, str) else out
        self.add(name, status, detail, time.perf_counter() - start)
        return out


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# ------------------------------------------------------------------- checks


def check_platform(exp: dict) -> str:
    want, have = exp.get("platform"), host_platform()
    if want and want != have:
        raise HardwareMismatch(f"variant is for {want}; this host is {have}")
    return have


def check_cpu_features(exp: dict, flags: set | None):
    need = exp.get("isa_features") or []
    if not need:
        raise Skipped("no ISA features declared")
    if flags is None:
        return "note", "cannot read CPU flags (no /proc/cpuinfo); not checked"
    missing = [f for f in need if f not in flags]
    if missing:
        raise HardwareMismatch("ISA {} needs CPU feature(s) {} that this CPU lacks".format(exp.get("isa"), ", ".join(missing)))
    return "ISA {}: {} present".format(exp.get("isa"), ", ".join(need))


def check_python(exp: dict) -> str:
    have = "{}.{}".format(*sys.version_info[:2])
    want = exp.get("python")
    if want and have != want:
        raise Failed(f"Python {platform.python_version()}, expected {want} ({sys.executable})")
    return f"{platform.python_version()} ({sys.executable})"


def cpu_capability_verdict(cap: str, isa: str | None, flags: set | None, forced: str | None):
    """Whether ATen's runtime CPU capability fits the host and the ISA: (status, detail)."""
    cap_u = cap.upper()
    if forced:
        return "note", f"{cap} (ATEN_CPU_CAPABILITY={forced} lowers it on purpose)"
    if flags is None:
        return "note", f"{cap} (host CPU flags unknown)"
    if _machine() == "x86_64":
        level = {"AVX512": 3, "AVX2": 2}.get(cap_u, 0)
        host_level = 3 if all(f in flags for f in X86_AVX512) else (2 if all(f in flags for f in X86_AVX2) else 0)
        if level > host_level:
            return "fail", "{} dispatch on a CPU without {}".format(cap, "AVX-512" if level == 3 else "AVX2+FMA")
        isa_level = 0 if (isa or "") == "avx" else (2 if isa == "avx2" else (3 if (isa or "").startswith("avx512") else 0))
        want = min(isa_level, host_level)
        if isa == "avx" and level > 0:
            return "note", (
                f"{cap}: the AVX build still has {cap} kernels; ATen guards them at run time, so AVX-only CPUs stay safe"
            )
        if level < want:
            return "fail", "{}, but an {} build on this CPU should dispatch {}".format(
                cap,
                isa,
                {2: "AVX2", 3: "AVX512"}[want],
            )
        return "pass", "{} (host supports up to {})".format(cap, {0: "DEFAULT", 2: "AVX2", 3: "AVX512"}[host_level])
    if _machine() == "aarch64":
        if cap_u.startswith("SVE") and "sve" not in flags:
            return "fail", f"{cap} dispatch on a CPU without SVE"
        return "pass", cap
    return "pass", cap


def config_lines(text: str) -> dict:
    """The interesting lines of ``torch.__config__.show()``."""
    out: dict = {}
    for raw in text.splitlines():
        line = raw.strip().lstrip("- ").strip()
        low = line.lower()
        if low.startswith("cpu capability usage"):
            out["cpu_capability_usage"] = line.split(":", 1)[-1].strip()
        elif low.startswith("nvcc architecture flags"):
            out["nvcc_arch_flags"] = line.split(":", 1)[-1].strip()
        elif low.startswith("cuda runtime"):
            out["cuda_runtime"] = line
        elif low.startswith("cudnn"):
            out["cudnn"] = line
        elif low.startswith("magma"):
            out["magma"] = line
        elif low.startswith("build settings"):
            out["build_settings"] = line.split(":", 1)[-1].strip()
    return out


def _ieee_fp32(torch) -> bool:
    """Turn TF32 off for cuDNN convolutions and cuBLAS matmuls. True when it worked."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # torch >= 2.9: fp32_precision; setting conv and rnn alike keeps the legacy getters consistent
            torch.backends.cudnn.conv.fp32_precision = "ieee"
            torch.backends.cudnn.rnn.fp32_precision = "ieee"
            torch.backends.cuda.matmul.fp32_precision = "ieee"
            return True
        except Exception:  # older torch (no such attribute) or a rejected value: try the legacy flags
            pass
        try:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            return True
        except Exception:
            return False


def make_model(torch, tv):
    """ResNet18 with random weights (never downloads), or a small CNN when torchvision is absent."""
    torch.manual_seed(0)
    if tv is not None:
        model = tv.models.resnet18(weights=None)
        name = "resnet18"
    else:
        nn = torch.nn
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(32, 10),
        )
        name = "small CNN (torchvision absent)"
    model.eval()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    return model, x, name


def nms_inputs(torch):
    """200 boxes with integer coordinates (exact IoUs) and distinct scores."""
    rng = random.Random(0)
    boxes, scores = [], []
    for i in range(200):
        x1, y1 = rng.randrange(0, 100), rng.randrange(0, 100)
        boxes.append([float(x1), float(y1), float(x1 + rng.randrange(10, 50)), float(y1 + rng.randrange(10, 50))])
        scores.append(1.0 - i / 400.0)
    rng.shuffle(scores)
    return torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores, dtype=torch.float32)


def roi_inputs(torch):
    torch.manual_seed(1)
    feat = torch.randn(2, 8, 32, 32)
    rng = random.Random(1)
    rois = []
    for _ in range(16):
        x1, y1 = rng.uniform(0, 20), rng.uniform(0, 20)
        rois.append([float(rng.randrange(0, 2)), x1, y1, x1 + rng.uniform(2, 11), y1 + rng.uniform(2, 11)])
    return feat, torch.tensor(rois, dtype=torch.float32)


# --------------------------------------------------------------------- main


def importer(exp: dict, c: Checker, mods: dict, module: str, key: str):
    """The ``import_<module>`` check of a companion package (torchvision, torchaudio): imported into
    ``mods[key]``; missing is a failure when the expectations need it (``needs_<module>``), else a skip."""

    def check():
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            if exp.get(f"needs_{module}"):
                raise Failed(f"cannot import {module}: {first_line(exc)}") from None
            raise Skipped(f"{module} is not part of this variant ({first_line(exc)})") from None
        mods[key] = mod
        c.info[module] = mod.__version__
        return f"{module} {mod.__version__} from {os.path.dirname(mod.__file__)}"

    return check


def run_checks(exp: dict, c: Checker) -> None:
    """Every check, in order. Raises HardwareMismatch to skip the whole run."""
    target = exp.get("target", "cpu")
    c.run("platform", lambda: check_platform(exp))
    flags = read_cpu_flags()
    if exp.get("isa_features"):
        c.run("cpu_features", lambda: check_cpu_features(exp, flags))
    c.run("python_version", lambda: check_python(exp))

    mods: dict = {}

    def import_torch():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import torch
        mods["torch"] = torch
        c.info["torch"] = torch.__version__
        c.info["torch_file"] = torch.__file__
        c.info["import_warnings"] = [str(w.message).splitlines()[0] for w in caught][:5]
        return f"torch {torch.__version__} from {os.path.dirname(torch.__file__)}"

    c.run("import_torch", import_torch)
    if "torch" not in mods:
        return
    torch = mods["torch"]

    def torch_from_result():
        roots = exp.get("torch_paths") or []
        if not roots:
            raise Skipped("no result closure given (plain --python run)")
        if not any(os.path.realpath(torch.__file__).startswith(os.path.realpath(r)) for r in roots):
            raise Failed(f"torch imported from {torch.__file__}, not from the result's closure ({roots[0]})")
        return "torch comes from the result's closure"

    c.run("torch_origin", torch_from_result, needs=("import_torch",))

    def torch_version():
        want = exp.get("torch")
        if want and not version_matches(torch.__version__, want):
            raise Failed(f"torch {torch.__version__}, expected {want}")
        return "{} (expected {})".format(torch.__version__, want or "any")

    c.run("torch_version", torch_version, needs=("import_torch",))

    c.run("import_torchvision", importer(exp, c, mods, "torchvision", "tv"), needs=("import_torch",))
    tv = mods.get("tv")

    def torchvision_version():
        want = exp.get("torchvision")
        have = tv.__version__
        if want:
            if not version_matches(have, want):
                raise Failed(f"torchvision {have}, expected {want}")
            return f"{have} (expected {want})"
        # No version in the model: report whether it is the release paired with this torch (minor = torch minor + 15).
        try:
            tmaj, tmin = (int(x) for x in public_version(torch.__version__).split(".")[:2])
            vmaj, vmin = (int(x) for x in public_version(have).split(".")[:2])
        except ValueError:
            return "note", f"{have} (no expectation; version not numeric)"
        paired = f"0.{tmin + 15}" if tmaj == 2 else None
        if paired and f"{vmaj}.{vmin}" != paired:
            return "note", f"{have}: no expectation in the model; the release paired with torch {tmaj}.{tmin} is {paired}.x"
        return "note", f"{have} (no expectation in the model; pairs with torch {public_version(torch.__version__)})"

    c.run("torchvision_version", torchvision_version, needs=("import_torchvision",))

    def torchvision_ops():
        try:
            op = torch.ops.torchvision.nms
        except (AttributeError, RuntimeError) as exc:
            raise Failed(
                f"torch.ops.torchvision.nms is not registered (torchvision's _C did not load): {first_line(exc)}"
            ) from None
        try:
            from torchvision.extension import _has_ops

            if not _has_ops():
                raise Failed("torchvision.extension._has_ops() is False")
        except ImportError:
            pass
        return f"torch.ops.torchvision.nms registered ({type(op).__name__})"

    c.run("torchvision_ops", torchvision_ops, needs=("import_torchvision",))

    def torch_config():
        text = torch.__config__.show()
        c.config.update(config_lines(text))
        c.config["show"] = text.splitlines()[:60]
        bits = [c.config[k] for k in ("cpu_capability_usage", "nvcc_arch_flags") if k in c.config]
        return "note", "; ".join(bits) or "no CPU capability / NVCC lines"

    c.run("torch_config", torch_config, needs=("import_torch",))

    dev = None
    if target == "cuda":
        dev = cuda_checks(exp, c, torch)
    elif target == "mps":
        dev = mps_checks(exp, c, torch)
    else:

        def cpu_only():
            cuda = getattr(torch.version, "cuda", None)
            if cuda:
                raise Failed(f"a CPU variant, but torch was built with CUDA {cuda} (another torch on sys.path?)")
            return "CPU-only torch (torch.version.cuda is None)"

        c.run("cpu_only_build", cpu_only, needs=("import_torch",))

    def cpu_capability():
        cap = torch.backends.cpu.get_cpu_capability()
        c.info["cpu_capability"] = cap
        return cpu_capability_verdict(cap, exp.get("isa"), flags, os.environ.get("ATEN_CPU_CAPABILITY"))

    if target != "mps":
        c.run("cpu_capability", cpu_capability, needs=("import_torch",))

    model_checks(exp, c, torch, tv, dev)
    audio_checks(exp, c, torch, dev)


def cuda_checks(exp: dict, c: Checker, torch):
    """CUDA build, device, arch list, cuDNN, MAGMA. Returns the device string to use, or None."""
    state: dict = {}

    def cuda_version():
        have = getattr(torch.version, "cuda", None)
        if not have:
            raise Failed("torch.version.cuda is None: a CPU-only torch (expected CUDA {})".format(exp.get("cuda")))
        want = exp.get("cuda")
        if want and major_minor(have) != major_minor(want):
            raise Failed(f"CUDA {have}, expected {want}")
        return "CUDA {} (expected {})".format(have, want or "any")

    c.run("cuda_version", cuda_version, needs=("import_torch",))

    def cuda_available():
        if not getattr(torch.version, "cuda", None):
            raise Failed("torch.version.cuda is None: a CPU-only torch cannot use the GPU")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ok = torch.cuda.is_available()
            n = torch.cuda.device_count() if ok else 0
        c.info["cuda_warnings"] = [str(w.message).splitlines()[0] for w in caught][:5]
        if not ok or n == 0:
            if not _nvidia_device_present():
                raise HardwareMismatch("no NVIDIA GPU on this host (no /proc/driver/nvidia/gpus, no /dev/nvidia0)")
            raise Failed("torch.cuda.is_available() is False although an NVIDIA GPU is present (driver library not found?)")
        return f"{n} device(s)"

    c.run("cuda_available", cuda_available, needs=("import_torch",))
    if c.status.get("cuda_available") != "pass":
        return None

    def device_capability():
        want = exp.get("capability")
        found = []
        for i in range(torch.cuda.device_count()):
            maj, mnr = torch.cuda.get_device_capability(i)
            found.append((i, f"{maj}.{mnr}", torch.cuda.get_device_name(i)))
        if not want:
            state["device"] = 0
            return "note", "; ".join(f"{i}: {n} ({cap})" for i, cap, n in found)
        usable = [f for f in found if sass_runs_on(want, f[1])]
        if not usable:
            i, cap, name = found[0]
            raise HardwareMismatch(
                "{} ({}) cannot run {} SASS (same major and an equal or higher minor needed)".format(name, cap, exp.get("arch"))
            )
        i, cap, name = usable[0]
        state["device"] = i
        c.info["device"] = {"index": i, "name": name, "capability": cap}
        torch.cuda.set_device(i)
        how = "equal" if cap == want else f"compatible: {want} SASS runs on {cap}"
        other = "" if len(usable) == len(found) else f"; {len(found) - len(usable)} other GPU(s) do not match"
        return f"GPU {i} {name}: {cap} ({how}){other}"

    c.run("device_capability", device_capability, needs=("cuda_available",))

    def arch_list():
        archs = list(torch.cuda.get_arch_list())
        c.info["arch_list"] = archs
        want = exp.get("arch")
        if not want:
            return "note", " ".join(archs)
        if want not in archs:
            raise Failed(f"{want} missing from torch.cuda.get_arch_list() = {archs}")
        extra = [a for a in archs if a != want]
        if extra:
            return "note", "{} present; also built for {} (the variant asked for {} only)".format(want, ", ".join(extra), want)
        return f"{want} present (and nothing else)"

    c.run("arch_list", arch_list, needs=("cuda_available",))

    def cudnn():
        avail = bool(torch.backends.cudnn.is_available())
        ver = torch.backends.cudnn.version() if avail else None
        want = exp.get("cudnn")
        text = "cuDNN " + (cudnn_version_text(ver) if avail else "not available")
        if want is None:
            return "note", text
        if bool(want) != avail:
            raise Failed("{}, but the variant declares cuDNN {}".format(text, "on" if want else "off"))
        return "{} (declared {})".format(text, "on" if want else "off")

    c.run("cudnn", cudnn, needs=("cuda_available",))

    def magma():
        torch.cuda.init()  # has_magma is only set for real during CUDA initialisation
        have = bool(getattr(torch.cuda, "has_magma", False))
        want = exp.get("magma")
        line = c.config.get("magma")
        text = "has_magma={}{}".format(have, f" ({line})" if line else "")
        if want is None:
            return "note", text
        if bool(want) != have:
            raise Failed("{}, but the variant declares MAGMA {}".format(text, "present" if want else "absent"))
        patches = exp.get("magma_patches") or []
        # The patch is a build-time fact of the recipe; at run time only MAGMA's presence can be seen.
        return text + ("; the recipe builds MAGMA with {}".format(", ".join(patches)) if patches else "")

    c.run("magma", magma, needs=("cuda_available",))
    if c.status.get("device_capability") != "pass" and c.status.get("device_capability") != "note":
        return None
    return f"cuda:{state.get('device', 0)}"


def mps_checks(exp: dict, c: Checker, torch):
    def mps():
        built = torch.backends.mps.is_built()
        if not built:
            raise Failed("torch.backends.mps.is_built() is False")
        if not torch.backends.mps.is_available():
            raise HardwareMismatch("MPS is built but not available on this Mac (macOS 12.3+ on Apple Silicon needed)")
        return "MPS built and available"

    c.run("mps_available", mps, needs=("import_torch",))
    return "mps" if c.status.get("mps_available") == "pass" else None


def _nvidia_device_present() -> bool:
    try:
        if os.listdir("/proc/driver/nvidia/gpus"):
            return True
    except OSError:
        pass
    return os.path.exists("/dev/nvidia0")


def model_checks(exp: dict, c: Checker, torch, tv, dev: str | None) -> None:
    state: dict = {}

    def cpu_forward():
        model, x, name = make_model(torch, tv)
        with torch.no_grad():
            y = model(x)
        vals = flat(y)
        if not all(math.isfinite(v) for v in vals):
            raise Failed(f"{name} CPU output has non-finite values")
        state.update(model=model, x=x, ref=vals, name=name)
        return f"{name} fp32 forward, output {tuple(y.shape)}"

    c.run("model_cpu", cpu_forward, needs=("import_torch",))

    if dev is not None:

        def gpu_fp32():
            ieee = _ieee_fp32(torch) if dev.startswith("cuda") else True
            tol = TOL_FP32 if ieee else TOL_FP32_TF32
            model = state["model"].to(dev)
            with torch.no_grad():
                y = model(state["x"].to(dev))
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            vals = flat(y)
            err = rel_l2(vals, state["ref"])
            state["gpu"] = vals
            tf = "TF32 off" if ieee else "TF32 could not be turned off"
            if not err <= tol:
                raise Failed(
                    "{} on {} differs from CPU: rel. L2 error {:.3g} > {:.0e} ({})".format(state["name"], dev, err, tol, tf)
                )
            return "{} on {} matches CPU: rel. L2 error {:.2g} <= {:.0e} ({})".format(state["name"], dev, err, tol, tf)

        c.run("model_{}_fp32".format(dev.split(":")[0]), gpu_fp32, needs=("model_cpu",))

        if dev.startswith("cuda"):

            def autocast(dtype_name: str, tol: float):
                def fn():
                    dtype = getattr(torch, dtype_name)
                    if dtype_name == "bfloat16":
                        try:
                            ok = torch.cuda.is_bf16_supported(including_emulation=False)
                        except TypeError:
                            ok = torch.cuda.is_bf16_supported()
                        if not ok:
                            raise Skipped("bf16 is not supported natively on this GPU")
                    model = state["model"].to(dev)
                    with torch.no_grad(), torch.autocast("cuda", dtype=dtype):
                        y = model(state["x"].to(dev))
                    torch.cuda.synchronize()
                    if y.dtype != dtype:
                        raise Failed(f"autocast output dtype {y.dtype}, expected {dtype}")
                    err = rel_l2(flat(y), state.get("gpu") or state["ref"])
                    if not err <= tol:
                        raise Failed(f"autocast {dtype_name} vs fp32: rel. L2 error {err:.3g} > {tol:.0e}")
                    return f"autocast {dtype_name}: rel. L2 error vs fp32 {err:.2g} <= {tol:.0e}"

                return fn

            c.run("autocast_fp16", autocast("float16", TOL_FP16), needs=("model_cpu",))
            c.run("autocast_bf16", autocast("bfloat16", TOL_BF16), needs=("model_cpu",))

    if tv is None:
        c.add("torchvision_ops_run", "skip", "torchvision not importable")
        return

    def nms_cpu():
        boxes, scores = nms_inputs(torch)
        keep = tv.ops.nms(boxes, scores, 0.5).tolist()
        if not keep:
            raise Failed("nms kept no box")
        state["keep"] = keep
        return f"nms on CPU kept {len(keep)} of {boxes.shape[0]} boxes"

    c.run("nms_cpu", nms_cpu, needs=("import_torchvision",))
    if dev is None:
        return

    def nms_dev():
        boxes, scores = nms_inputs(torch)
        keep = tv.ops.nms(boxes.to(dev), scores.to(dev), 0.5).cpu().tolist()
        if keep != state["keep"]:
            first = next((i for i, (a, b) in enumerate(zip(keep, state["keep"])) if a != b), "end")
            raise Failed(f"nms on {dev} kept {len(keep)} boxes, CPU kept {len(state['keep'])} (first difference at {first})")
        return f"nms on {dev} (torchvision's own kernel) = CPU result ({len(keep)} boxes)"

    c.run("nms_" + dev.split(":")[0], nms_dev, needs=("nms_cpu",))

    def roi_align_dev():
        feat, rois = roi_inputs(torch)
        kw = dict(output_size=(7, 7), spatial_scale=1.0, sampling_ratio=2, aligned=True)
        ref = flat(tv.ops.roi_align(feat, rois, **kw))
        out = flat(tv.ops.roi_align(feat.to(dev), rois.to(dev), **kw))
        err = rel_l2(out, ref)
        if not err <= TOL_ROI_ALIGN:
            raise Failed(f"roi_align on {dev} differs from CPU: rel. L2 error {err:.3g} > {TOL_ROI_ALIGN:.0e}")
        return f"roi_align on {dev} = CPU within {err:.2g} (16 RoIs, 7x7)"

    c.run("roi_align_{}".format(dev.split(":")[0]), roi_align_dev, needs=("import_torchvision",))


# ---------------------------------------------------------------- torchaudio


def lowpass_biquad(sample_rate: float = 16000.0, cutoff: float = 1000.0, q: float = 0.707) -> tuple:
    """(b, a) of a low-pass biquad (RBJ cookbook, as torchaudio's lowpass_biquad): poles inside the unit circle."""
    w0 = 2 * math.pi * cutoff / sample_rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    return [(1 - cos) / 2, 1 - cos, (1 - cos) / 2], [1 + alpha, -2 * cos, 1 - alpha]


def audio_waveform(channels: int = 2, samples: int = 4096) -> list:
    """A seeded waveform in [-0.5, 0.5), as nested lists (rows are channels)."""
    rng = random.Random(3)
    return [[rng.uniform(-0.5, 0.5) for _ in range(samples)] for _ in range(channels)]


def iir_reference(rows: list, b: list, a: list) -> list:
    """Direct-form IIR in float64, row by row: y[n] = (sum b[k] x[n-k] - sum a[k] y[n-k], k >= 1) / a[0]."""
    out = []
    for x in rows:
        y: list = []
        for n in range(len(x)):
            acc = sum(b[k] * x[n - k] for k in range(len(b)) if n - k >= 0)
            acc -= sum(a[k] * y[n - k] for k in range(1, len(a)) if n - k >= 0)
            y.append(acc / a[0])
        out.extend(y)
    return out


def paired_torchaudio(torch_version: str) -> str | None:
    """torchaudio's release series for a torch 2.N release: 2.N (major.minor equal)."""
    mm = major_minor(public_version(torch_version))
    return mm if mm and mm.startswith("2.") else None


def audio_checks(exp: dict, c: Checker, torch, dev: str | None) -> None:
    """torchaudio: import, version (paired with torch), extension, lfilter CPU and GPU, MelSpectrogram GPU."""
    mods: dict = {}

    c.run("import_torchaudio", importer(exp, c, mods, "torchaudio", "ta"), needs=("import_torch",))
    ta = mods.get("ta")
    if ta is None:
        return

    def torchaudio_version():
        want, have = exp.get("torchaudio"), ta.__version__
        if want:
            if not version_matches(have, want):
                raise Failed(f"torchaudio {have}, expected {want}")
            return f"{have} (expected {want})"
        paired = paired_torchaudio(torch.__version__)
        if paired and major_minor(public_version(have)) != paired:
            text = f"torchaudio {have} does not pair with torch {public_version(torch.__version__)} (needs {paired}.x)"
            if exp.get("needs_torchaudio"):
                raise Failed(text)
            return "note", text
        return "note", f"{have} (no expectation in the model; pairs with torch {public_version(torch.__version__)})"

    c.run("torchaudio_version", torchaudio_version, needs=("import_torchaudio",))

    def torchaudio_ext():
        flag = getattr(getattr(ta, "_extension", None), "_IS_TORCHAUDIO_EXT_AVAILABLE", None)
        if flag is False:
            raise Failed("torchaudio._extension._IS_TORCHAUDIO_EXT_AVAILABLE is False: its compiled extension did not load")
        if flag is True:
            return "compiled extension loaded (_IS_TORCHAUDIO_EXT_AVAILABLE)"
        return "note", "no extension flag in this torchaudio; the lfilter checks exercise its kernels"

    c.run("torchaudio_ext", torchaudio_ext, needs=("import_torchaudio",))
    state: dict = {}

    def lfilter_inputs(device: str):
        b, a = lowpass_biquad()
        x = torch.tensor(audio_waveform(), dtype=torch.float32).to(device)
        return x, torch.tensor(a, dtype=torch.float32).to(device), torch.tensor(b, dtype=torch.float32).to(device)

    def lfilter_cpu():
        x, a, b = lfilter_inputs("cpu")
        out = flat(ta.functional.lfilter(x, a, b, clamp=False))
        bb, aa = lowpass_biquad()
        err = rel_l2(out, iir_reference(audio_waveform(), bb, aa))
        if not err <= TOL_LFILTER:
            raise Failed(f"lfilter on CPU differs from the float64 reference: rel. L2 error {err:.3g} > {TOL_LFILTER:.0e}")
        state["ref"] = out
        return f"lfilter (low-pass biquad, 2x4096) on CPU = reference within {err:.2g}"

    c.run("torchaudio_lfilter_cpu", lfilter_cpu, needs=("import_torchaudio",))
    if dev is None or not dev.startswith("cuda"):
        return
    kind = dev.split(":")[0]

    def lfilter_dev():
        x, a, b = lfilter_inputs(dev)
        out = ta.functional.lfilter(x, a, b, clamp=False)
        torch.cuda.synchronize()
        err = rel_l2(flat(out), state["ref"])
        if not err <= TOL_LFILTER:
            raise Failed(f"lfilter on {dev} differs from CPU: rel. L2 error {err:.3g} > {TOL_LFILTER:.0e}")
        return f"lfilter on {dev} (torchaudio's own kernel) = CPU within {err:.2g}"

    c.run(f"torchaudio_lfilter_{kind}", lfilter_dev, needs=("torchaudio_lfilter_cpu",))

    def melspec_dev():
        x = torch.tensor(audio_waveform(), dtype=torch.float32)
        with warnings.catch_warnings():  # "at least one mel filterbank has all zero values" (128 mels, n_fft 400)
            warnings.simplefilter("ignore")
            mel = ta.transforms.MelSpectrogram(sample_rate=16000)
        ref = flat(mel(x))
        out = mel.to(dev)(x.to(dev))
        torch.cuda.synchronize()
        err = rel_l2(flat(out), ref)
        if not err <= TOL_MELSPEC:
            raise Failed(f"MelSpectrogram on {dev} differs from CPU: rel. L2 error {err:.3g} > {TOL_MELSPEC:.0e}")
        return f"MelSpectrogram (16 kHz) on {dev} = CPU within {err:.2g}, output {tuple(out.shape)}"

    c.run(f"torchaudio_melspec_{kind}", melspec_dev, needs=("import_torchaudio",))


def build_report(exp: dict, c: Checker, status: str, reason: str, seconds: float) -> dict:
    return {
        "schema": SCHEMA,
        "tool": "smoke_check",
        "variant": exp.get("variant"),
        "status": status,
        "exit_code": {"pass": EXIT_OK, "fail": EXIT_FAILED, "skipped": EXIT_SKIPPED}[status],
        "reason": reason,
        "overridden": exp.get("overridden") or {},
        "expectations": exp,
        "checks": c.checks,
        "environment": dict(
            c.info,
            python=platform.python_version(),
            executable=sys.executable,
            platform=host_platform(),
        ),
        "config": c.config,
        "seconds": round(seconds, 3),
    }


def load_expectations(arg: str) -> dict:
    text = sys.stdin.read() if arg == "-" else open(arg, encoding="utf-8").read()
    exp = json.loads(text)
    if not isinstance(exp, dict) or "variant" not in exp:
        raise ValueError("expectations must be a JSON object with at least a 'variant' key")
    return exp


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-check one PyTorch/TorchVision/TorchAudio variant in this interpreter.")
    parser.add_argument("expectations", help="expectations JSON file, or - for stdin")
    parser.add_argument("--out", help="write the JSON report here (default: stdout)")
    parser.add_argument("--progress", help="append JSON progress events (one per line) here")
    args = parser.parse_args(argv)
    try:
        exp = load_expectations(args.expectations)
    except (OSError, ValueError) as exc:
        _err(f"smoke_check: cannot read expectations: {exc}")
        return EXIT_BAD_INPUT

    start = time.perf_counter()
    c = Checker(exp, args.progress)
    _err("smoke check: {} ({}) with {}".format(exp.get("variant"), exp.get("target"), sys.executable))
    for key, o in sorted((exp.get("overridden") or {}).items()):
        _err("  expectation overridden: {} {} -> {}".format(key, o.get("model"), o.get("value")))
    status, reason = "pass", ""
    try:
        run_checks(exp, c)
    except HardwareMismatch as exc:
        status, reason = "skipped", str(exc)
    if status == "pass":
        failed = [x for x in c.checks if x["status"] == "fail"]
        if failed:
            status, reason = "fail", "{}: {}".format(failed[0]["name"], failed[0]["detail"])
    seconds = time.perf_counter() - start
    report = build_report(exp, c, status, reason, seconds)
    counts = {}
    for x in c.checks:
        counts[x["status"]] = counts.get(x["status"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    over = " (expectations overridden: {})".format(", ".join(sorted(exp["overridden"]))) if exp.get("overridden") else ""
    _err("result: {}{}{} [{}] in {:.1f}s".format(status.upper(), " -- " + reason if reason else "", over, summary, seconds))
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return report["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
