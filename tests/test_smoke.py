"""Smoke checks without a GPU: expectations from the model, interpreter discovery on a fake
result tree, and scripts/smoke_check.py run for real in a child process against a fake
``torch``/``torchvision``/``torchaudio`` package tree (pass, fail, skip, SIGILL, timeout)."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from buildmatrix import errors, ledger
from buildmatrix.cli import smoke as smokecli
from buildmatrix.detect import probe as detect
from buildmatrix.detect.host import GpuInfo, Host
from buildmatrix.smoke import checkrun, expect, resultenv
from buildmatrix.smoke import run as smoke
from conftest import ROOT
from mini import MINI, load_text, with_audio

CHECKER = ROOT / "scripts" / "smoke_check.py"
X86 = platform.machine().lower() in ("x86_64", "amd64")
needs_x86_linux = pytest.mark.skipif(not (X86 and sys.platform.startswith("linux")), reason="fake hosts are x86_64-linux")

# ------------------------------------------------------------- fake packages

FAKE_TORCH = '''
"""A fake torch: just enough API for smoke_check.py, steered by FAKE_TORCH_* variables."""
import contextlib
import math
import os
import random
import signal
import time
import types

if os.environ.get("FAKE_TORCH_SIGNAL"):
    os.kill(os.getpid(), getattr(signal, os.environ["FAKE_TORCH_SIGNAL"]))
if os.environ.get("FAKE_TORCH_HANG"):
    time.sleep(600)

__version__ = os.environ.get("FAKE_TORCH_VERSION", "2.10.0")
_CUDA = os.environ.get("FAKE_TORCH_CUDA", "13.0") or None
_CAP = tuple(int(x) for x in os.environ.get("FAKE_TORCH_CAP", "9.0").split("."))
_STATE = {"seed": 0, "autocast": None}


class dtype:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "torch." + self.name


float32, float16, bfloat16, int64 = dtype("float32"), dtype("float16"), dtype("bfloat16"), dtype("int64")


class Tensor:
    def __init__(self, data, shape, dtype=float32, device="cpu"):
        self.data, self.shape, self.dtype, self.device = data, tuple(shape), dtype, device

    def detach(self):
        return self

    def float(self):
        return Tensor(self.data, self.shape, float32, self.device)

    def cpu(self):
        return Tensor(self.data, self.shape, self.dtype, "cpu")

    def to(self, device):
        return Tensor(self.data, self.shape, self.dtype, str(device))

    def flatten(self):
        return Tensor(self.data, (len(self.data),), self.dtype, self.device)

    def tolist(self):
        return list(self.data)


def _flat(x):
    return [v for row in x for v in _flat(row)] if isinstance(x, (list, tuple)) else [x]


def _shape(x):
    return (len(x),) + _shape(x[0]) if isinstance(x, (list, tuple)) and x else ()


def tensor(data, dtype=float32):
    return Tensor(_flat(data), _shape(data), dtype)


def manual_seed(seed):
    _STATE["seed"] = seed


def randn(*shape):
    return Tensor(None, shape)  # never read: the fake model only looks at the shape


@contextlib.contextmanager
def no_grad():
    yield


@contextlib.contextmanager
def autocast(device_type, dtype=None):
    _STATE["autocast"] = dtype
    try:
        yield
    finally:
        _STATE["autocast"] = None


class _Model:
    def __init__(self, classes=1000):
        self.device, self.classes = "cpu", classes

    def eval(self):
        return self

    def to(self, device):
        self.device = str(device)
        return self

    def __call__(self, x):
        rng = random.Random(42)
        vals = [rng.gauss(0, 1) for _ in range(x.shape[0] * self.classes)]
        if self.device != "cpu" and os.environ.get("FAKE_TORCH_BAD_GPU"):
            vals = [v + 0.5 for v in vals]
        out_dtype = _STATE["autocast"] or float32
        if _STATE["autocast"] is not None:
            vals = [v * (1 + 1e-3) for v in vals]
        return Tensor(vals, (x.shape[0], self.classes), out_dtype, self.device)


class _Layer:
    def __init__(self, *args, **kwargs):
        pass


class _NN(types.ModuleType):
    def Sequential(self, *layers):
        return _Model(classes=10)

    def __getattr__(self, name):
        return _Layer


nn = _NN("torch.nn")


def _nms(boxes, scores, thr):
    rows = [boxes.data[i:i + 4] for i in range(0, len(boxes.data), 4)]
    order = sorted(range(len(rows)), key=lambda i: -scores.data[i])
    keep = []
    for i in order:
        ok = True
        for j in keep:
            a, b = rows[i], rows[j]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if inter / union > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return Tensor(keep, (len(keep),), int64, boxes.device)


def _roi_align(feat, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    n = rois.shape[0] * 8 * output_size[0] * output_size[1]
    rng = random.Random(7)
    return Tensor([rng.random() for _ in range(n)], (n,), float32, feat.device)


class _Ops:
    class torchvision:
        nms = staticmethod(_nms)


ops = _Ops()


class _Cuda:
    has_magma = False

    def is_available(self):
        return bool(_CUDA) and not os.environ.get("FAKE_TORCH_NO_GPU")

    def device_count(self):
        return 1 if self.is_available() else 0

    def get_device_capability(self, i=0):
        return _CAP

    def get_device_name(self, i=0):
        return "Fake GPU %d.%d" % _CAP

    def get_arch_list(self):
        return os.environ.get("FAKE_TORCH_ARCHS", "sm_90").split()

    def init(self):
        self.has_magma = os.environ.get("FAKE_TORCH_MAGMA", "1") == "1"

    def is_bf16_supported(self, including_emulation=True):
        return _CAP >= (8, 0)

    def set_device(self, i):
        pass

    def synchronize(self):
        pass


cuda = _Cuda()
version = types.SimpleNamespace(cuda=_CUDA)
_ns = types.SimpleNamespace
backends = _ns(
    cudnn=_ns(
        is_available=lambda: bool(_CUDA) and os.environ.get("FAKE_TORCH_CUDNN", "1") == "1",
        version=lambda: 91002,
        conv=_ns(fp32_precision="tf32"),
        rnn=_ns(fp32_precision="tf32"),
    ),
    cuda=_ns(matmul=_ns(fp32_precision="ieee")),
    cpu=_ns(get_cpu_capability=lambda: os.environ.get("FAKE_TORCH_CPU_CAP", "AVX2")),
    mps=_ns(is_built=lambda: False, is_available=lambda: False),
)
__config__ = _ns(
    show=lambda: "PyTorch built with:\\n  - CPU capability usage: AVX2\\n"
    + ("  - NVCC architecture flags: -gencode;arch=compute_90,code=sm_90\\n  - Magma 2.9.0\\n" if _CUDA else "")
)
'''

FAKE_TORCHVISION = """
import os
import types

import torch

__version__ = os.environ.get("FAKE_TV_VERSION", "0.25.0")
models = types.SimpleNamespace(resnet18=lambda weights=None: torch._Model())
ops = types.SimpleNamespace(nms=torch._nms, roi_align=torch._roi_align)
"""

FAKE_TV_EXTENSION = """
def _has_ops():
    return True
"""

FAKE_TORCHAUDIO = """
import os
import random
import types

import torch

__version__ = os.environ.get("FAKE_TORCH_TA_VERSION", "2.10.0")
_extension = types.SimpleNamespace(_IS_TORCHAUDIO_EXT_AVAILABLE=not os.environ.get("FAKE_TORCH_TA_NO_EXT"))


def _lfilter(waveform, a_coeffs, b_coeffs, clamp=True, batching=True):
    a, b, n = a_coeffs.data, b_coeffs.data, waveform.shape[-1]
    out = []
    for r in range(len(waveform.data) // n):
        x, y = waveform.data[r * n:(r + 1) * n], []
        for i in range(n):
            acc = sum(b[k] * x[i - k] for k in range(len(b)) if i >= k)
            acc -= sum(a[k] * y[i - k] for k in range(1, len(a)) if i >= k)
            y.append(acc / a[0])
        out += y
    on_gpu = waveform.device != "cpu"
    if (on_gpu and os.environ.get("FAKE_TORCH_TA_BAD_GPU")) or (not on_gpu and os.environ.get("FAKE_TORCH_TA_BAD_CPU")):
        out = [v * 1.01 for v in out]
    return torch.Tensor(out, waveform.shape, torch.float32, waveform.device)


class _Mel:
    def __init__(self, sample_rate=16000, **kw):
        self.device = "cpu"

    def to(self, device):
        self.device = str(device)
        return self

    def __call__(self, x):
        rng = random.Random(5)
        vals = [rng.random() for _ in range(2 * 128 * 21)]
        if x.device != "cpu" and os.environ.get("FAKE_TORCH_TA_BAD_MEL"):
            vals = [v + 0.5 for v in vals]
        return torch.Tensor(vals, (2, 128, 21), torch.float32, x.device)


functional = types.SimpleNamespace(lfilter=_lfilter)
transforms = types.SimpleNamespace(MelSpectrogram=_Mel)
"""


@pytest.fixture
def fake_site(tmp_path: Path) -> Path:
    """A site-packages directory holding the fake torch, torchvision and torchaudio."""
    site = tmp_path / "site"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text(textwrap.dedent(FAKE_TORCH))
    (site / "torchvision").mkdir()
    (site / "torchvision" / "__init__.py").write_text(textwrap.dedent(FAKE_TORCHVISION))
    (site / "torchvision" / "extension.py").write_text(textwrap.dedent(FAKE_TV_EXTENSION))
    (site / "torchaudio").mkdir()
    (site / "torchaudio" / "__init__.py").write_text(textwrap.dedent(FAKE_TORCHAUDIO))
    return site


CPUINFO_AVX512 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 avx avx2 fma f16c avx512f avx512dq avx512vl avx512bw avx512_vnni avx512_bf16\n"
CPUINFO_AVX2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx avx2 fma f16c\n"


@pytest.fixture
def env(tmp_path: Path, fake_site: Path, monkeypatch) -> dict:
    """Environment for a child using the fakes: PYTHONPATH and a fake /proc/cpuinfo (AVX-512 host)."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO_AVX512)
    for key in list(os.environ):
        if key.startswith("FAKE_TORCH") or key == "FAKE_TV_VERSION":
            monkeypatch.delenv(key)
    monkeypatch.setenv("PYTHONPATH", str(fake_site))
    monkeypatch.setenv("SMOKE_CHECK_CPUINFO", str(cpuinfo))
    return {"cpuinfo": cpuinfo, "site": fake_site}


def py_version() -> str:
    return "{}.{}".format(*sys.version_info[:2])


def exp_for(shipped, name: str, **over) -> dict:
    exp = expect.expectations(shipped, shipped.variant(name))
    exp["python"] = py_version()  # the test interpreter stands in for the variant's
    exp.update(over)
    return exp


def run_checker(exp: dict, tmp_path: Path, extra_env: dict | None = None) -> tuple[int, dict, str]:
    f = tmp_path / "exp.json"
    f.write_text(json.dumps(exp))
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, str(CHECKER), str(f), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, **(extra_env or {})},
        timeout=120,
    )
    report = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, report, proc.stderr


def by_name(report: dict) -> dict:
    return {c["name"]: c for c in report["checks"]}


# ------------------------------------------------------------- expectations


def test_expectations_from_the_shipped_model(shipped):
    exp = expect.expectations(shipped, shipped.variant("torchvision-python313-cuda13_0-sm90-avx512"))
    assert exp["python"] == "3.13"
    assert exp["torch"] == "2.10.0"
    assert exp["cuda"] == "13.0"
    assert exp["capability"] == "9.0" and exp["arch"] == "sm_90"
    assert exp["isa"] == "avx512" and "avx512f" in exp["isa_features"]
    assert exp["cudnn"] is True and exp["magma"] is True
    assert exp["magma_patches"] == ["magma-cuda13-clockrate"]
    assert exp["needs_torchvision"] is True
    assert exp["torch_variant"] == "pytorch-python313-cuda13_0-sm90-avx512"
    assert exp["overridden"] == {}
    json.dumps(exp)  # JSON-ready

    sm61 = expect.expectations(shipped, shipped.variant("pytorch-python313-cuda12_8-sm61-avx"))
    assert sm61["cudnn"] is False and sm61["magma_patches"] == []
    cpu = expect.expectations(shipped, shipped.variant("pytorch-python313-cpu-avx2"))
    assert cpu["cuda"] is None and cpu["arch"] is None and cpu["magma"] is None and cpu["cudnn"] is None
    nightly = expect.expectations(shipped, shipped.variant("pytorch-python313-cuda13_0-sm121-armv9-nightly"))
    assert nightly["torch"].startswith("2.11.0a0+git") and nightly["platform"] == "aarch64-linux"


def test_overrides_are_listed(shipped):
    exp = expect.expectations(shipped, shipped.variant("pytorch-python313-cuda13_0-sm90-avx512"))
    out = expect.apply_overrides(exp, {"torch": "2.11.0", "python": "3.12", "cuda": "13.0", "magma": "any", "torchvision": None})
    assert out["torch"] == "2.11.0" and out["python"] == "3.12" and out["magma"] is None
    assert out["overridden"]["torch"] == {"model": "2.10.0", "value": "2.11.0", "flag": "--expect-torch"}
    assert "cuda" not in out["overridden"]  # same as the model: not an override
    assert set(out["overridden"]) == {"torch", "python", "magma"}
    assert exp["overridden"] == {}  # the input is not changed


def test_print_expectations_cli(capsys):
    code = smokecli.main(
        ["--file", str(ROOT / "variants.toml"), "--variant", "pytorch-python313-cuda13_0-sm90-avx512", "--print-expectations"]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["arch"] == "sm_90"


# ------------------------------------------------------- the checker, for real


@needs_x86_linux
def test_checker_passes_on_a_matching_fake_gpu(shipped, tmp_path, env):
    exp = exp_for(shipped, "torchvision-python313-cuda13_0-sm90-avx512")
    code, report, err = run_checker(exp, tmp_path, {"FAKE_TORCH_CPU_CAP": "AVX512"})
    assert code == 0, err
    assert report["status"] == "pass"
    checks = by_name(report)
    for name in (
        "platform",
        "cpu_features",
        "python_version",
        "import_torch",
        "torch_version",
        "import_torchvision",
        "torchvision_ops",
        "cuda_version",
        "cuda_available",
        "device_capability",
        "arch_list",
        "cudnn",
        "magma",
        "cpu_capability",
        "model_cpu",
        "model_cuda_fp32",
        "autocast_fp16",
        "autocast_bf16",
        "nms_cpu",
        "nms_cuda",
        "roi_align_cuda",
    ):
        assert checks[name]["status"] == "pass", (name, checks[name])
    assert checks["torchvision_version"]["status"] == "pass"  # the model expects torchvision 0.25.0
    assert "0.25" in checks["torchvision_version"]["detail"]
    assert report["config"]["nvcc_arch_flags"].endswith("code=sm_90")
    assert "result: PASS" in err
    assert all({"name", "status", "detail", "seconds"} <= set(c) for c in report["checks"])


@needs_x86_linux
def test_checker_notes_extra_archs_and_accepts_compatible_device(shipped, tmp_path, env):
    exp = exp_for(shipped, "torchvision-python313-cuda13_0-sm80-avx512")
    code, report, err = run_checker(
        exp, tmp_path, {"FAKE_TORCH_CAP": "8.6", "FAKE_TORCH_ARCHS": "sm_80 sm_90", "FAKE_TORCH_CPU_CAP": "AVX512"}
    )
    assert code == 0, err
    checks = by_name(report)
    assert checks["device_capability"]["status"] == "pass" and "compatible" in checks["device_capability"]["detail"]
    assert checks["arch_list"]["status"] == "note" and "sm_90" in checks["arch_list"]["detail"]


@needs_x86_linux
@pytest.mark.parametrize(
    "fake_env, failing, words",
    [
        ({"FAKE_TORCH_VERSION": "2.9.1"}, "torch_version", "expected 2.10.0"),
        ({"FAKE_TORCH_ARCHS": "sm_80"}, "arch_list", "sm_90 missing"),
        ({"FAKE_TORCH_MAGMA": "0"}, "magma", "declares MAGMA present"),
        ({"FAKE_TORCH_CUDNN": "0"}, "cudnn", "declares cuDNN on"),
        ({"FAKE_TORCH_BAD_GPU": "1"}, "model_cuda_fp32", "differs from CPU"),
        ({"FAKE_TORCH_CUDA": "12.8"}, "cuda_version", "expected 13.0"),
        ({"FAKE_TORCH_CPU_CAP": "DEFAULT"}, "cpu_capability", "should dispatch AVX512"),
    ],
)
def test_checker_fails_with_the_reason(shipped, tmp_path, env, fake_env, failing, words):
    exp = exp_for(shipped, "torchvision-python313-cuda13_0-sm90-avx512")
    code, report, err = run_checker(exp, tmp_path, {"FAKE_TORCH_CPU_CAP": "AVX512", **fake_env})
    assert code == 1, err
    assert report["status"] == "fail"
    check = by_name(report)[failing]
    assert check["status"] == "fail" and words in check["detail"], check
    assert report["reason"].startswith(failing)


@needs_x86_linux
def test_checker_fails_a_cpu_variant_that_imports_a_cuda_torch(shipped, tmp_path, env):
    exp = exp_for(shipped, "torchvision-python313-cpu-avx512")
    code, report, _ = run_checker(exp, tmp_path, {"FAKE_TORCH_CPU_CAP": "AVX512"})
    assert code == 1
    assert "built with CUDA 13.0" in by_name(report)["cpu_only_build"]["detail"]
    code, report, err = run_checker(exp, tmp_path, {"FAKE_TORCH_CPU_CAP": "AVX512", "FAKE_TORCH_CUDA": ""})
    assert code == 0, err
    assert by_name(report)["nms_cpu"]["status"] == "pass"
    assert "model_cuda_fp32" not in by_name(report)


@needs_x86_linux
def test_checker_skips_when_the_cpu_lacks_the_isa_before_importing_torch(shipped, tmp_path, env):
    env["cpuinfo"].write_text(CPUINFO_AVX2)
    exp = exp_for(shipped, "pytorch-python313-cpu-avx512bf16")
    # If torch were imported it would die of SIGILL: the skip must come first.
    code, report, err = run_checker(exp, tmp_path, {"FAKE_TORCH_SIGNAL": "SIGILL"})
    assert code == 77, err
    assert report["status"] == "skipped"
    assert "avx512_bf16" in report["reason"]
    assert "import_torch" not in by_name(report)


@needs_x86_linux
@pytest.mark.skipif(os.path.exists("/dev/nvidia0"), reason="this host has an NVIDIA GPU")
def test_checker_skips_a_gpu_variant_without_a_gpu(shipped, tmp_path, env):
    exp = exp_for(shipped, "pytorch-python313-cuda13_0-sm90-avx512")
    code, report, err = run_checker(exp, tmp_path, {"FAKE_TORCH_NO_GPU": "1"})
    assert code == 77, err
    assert "no NVIDIA GPU" in report["reason"]


@needs_x86_linux
def test_checker_skips_an_incompatible_gpu(shipped, tmp_path, env):
    exp = exp_for(shipped, "pytorch-python313-cuda13_0-sm80-avx512")
    code, report, _ = run_checker(exp, tmp_path, {"FAKE_TORCH_CAP": "9.0"})
    assert code == 77
    assert "cannot run sm_80 SASS" in report["reason"]


@needs_x86_linux
def test_pytorch_variant_without_torchvision_uses_a_small_cnn(shipped, tmp_path, env):
    (env["site"] / "torchvision" / "__init__.py").write_text("raise ImportError('no torchvision here')\n")
    exp = exp_for(shipped, "pytorch-python313-cuda13_0-sm90-avx512")
    code, report, err = run_checker(exp, tmp_path, {"FAKE_TORCH_CPU_CAP": "AVX512"})
    assert code == 0, err
    checks = by_name(report)
    assert checks["import_torchvision"]["status"] == "skip"
    assert "small CNN" in checks["model_cuda_fp32"]["detail"]
    # ... but a torchvision variant must have torchvision.
    code, report, _ = run_checker(exp_for(shipped, "torchvision-python313-cuda13_0-sm90-avx512"), tmp_path)
    assert code == 1 and by_name(report)["import_torchvision"]["status"] == "fail"


def test_checker_rejects_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    proc = subprocess.run([sys.executable, str(CHECKER), str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2


def test_checker_helpers():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import smoke_check as sc
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert sc.version_matches("2.11.0+cu130", "2.11.0")
    assert sc.version_matches("0.26.0", "0.26")
    assert not sc.version_matches("2.10.1", "2.10.0")
    assert sc.version_matches("2.11.0a0+gitf3b7280", "2.11.0a0+gitf3b7280")
    assert not sc.version_matches("2.11.0a0+gitdeadbee", "2.11.0a0+gitf3b7280")
    assert sc.cudnn_version_text(91002) == "9.10.2" and sc.cudnn_version_text(8907) == "8.9.7"
    assert sc.sass_runs_on("8.0", "8.6") and not sc.sass_runs_on("8.0", "9.0") and not sc.sass_runs_on("8.6", "8.0")
    assert not sc.sass_runs_on("8.0", "8.7") and sc.sass_runs_on("8.7", "8.7")
    assert sc.rel_l2([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert sc.rel_l2([float("nan")], [1.0]) == float("inf")
    cfg = sc.config_lines(
        "PyTorch built with:\n  - CPU capability usage: AVX512\n"
        "  - NVCC architecture flags: -gencode;arch=compute_90,code=sm_90\n  - Magma 2.9.0\n"
        "  - Build settings: BLAS_INFO=mkl, USE_CUDA=ON\n"
    )
    assert cfg["cpu_capability_usage"] == "AVX512" and cfg["magma"] == "Magma 2.9.0"
    assert cfg["nvcc_arch_flags"].endswith("code=sm_90") and "USE_CUDA=ON" in cfg["build_settings"]


def test_checker_exit_statuses_are_errors_py_table():
    """smoke_check.py cannot import buildmatrix, so it keeps a copy of the exit statuses: the same names, the same values."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import smoke_check as sc
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    copied = {k: v for k, v in vars(sc).items() if k.startswith("EXIT_")}
    table = {k: v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert copied == table == {"EXIT_OK": 0, "EXIT_FAILED": 1, "EXIT_BAD_INPUT": 2, "EXIT_SKIPPED": 77}


def test_checker_matches_the_models_sass_rule(shipped):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import smoke_check as sc
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    caps = sorted({g.capability for g in shipped.gpus.values()} | {"8.7", "9.1", "12.2"})
    for gpu in shipped.gpus.values():
        for cap in caps:
            assert sc.sass_runs_on(gpu.capability, cap) == gpu.runs_on(cap), (gpu.name, cap)


@needs_x86_linux
def test_cpu_capability_verdicts(monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import smoke_check as sc
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    avx2 = {"avx", "avx2", "fma"}
    avx512 = avx2 | {"avx512f", "avx512vl", "avx512bw", "avx512dq"}
    assert sc.cpu_capability_verdict("AVX512", "avx2", avx2, None)[0] == "fail"  # impossible: would SIGILL
    assert sc.cpu_capability_verdict("AVX512", "avx2", avx512, None)[0] == "pass"  # subset ISA on a bigger host
    assert sc.cpu_capability_verdict("AVX2", "avx512", avx512, None)[0] == "fail"
    assert sc.cpu_capability_verdict("AVX2", "avx", avx512, None)[0] == "note"
    assert sc.cpu_capability_verdict("DEFAULT", "avx", {"avx"}, None)[0] == "pass"
    assert sc.cpu_capability_verdict("DEFAULT", "avx512", avx512, "DEFAULT")[0] == "note"  # ATEN_CPU_CAPABILITY


# ----------------------------------------------------------------- torchaudio

TA_GPU = "torchaudio-python313-cuda13_0-sm90-avx2"
AUDIO_CHECKS = ("import_torchaudio", "torchaudio_version", "torchaudio_ext", "torchaudio_lfilter_cpu")


@pytest.fixture
def audio_model(tmp_path):
    """MINI with torchaudio (tests/mini.py): the shipped file does not build it yet."""
    (tmp_path / "model").mkdir()
    return load_text(tmp_path / "model", with_audio(MINI))


def test_expectations_of_a_torchaudio_variant(audio_model, shipped):
    exp = expect.expectations(audio_model, audio_model.variant(TA_GPU))
    assert exp["torchaudio"] == "2.10.0" and exp["needs_torchaudio"] is True
    assert exp["torchvision"] is None and exp["needs_torchvision"] is False
    assert exp["torch_variant"] == "pytorch-python313-cuda13_0-sm90-avx2" and exp["arch"] == "sm_90"
    tv = expect.expectations(shipped, shipped.variant("torchvision-python313-cuda13_0-sm90-avx512"))
    assert tv["torchaudio"] is None and tv["needs_torchaudio"] is False
    out = expect.apply_overrides(exp, {"torchaudio": "2.10.1"})
    assert out["overridden"]["torchaudio"] == {"model": "2.10.0", "value": "2.10.1", "flag": "--expect-torchaudio"}


@needs_x86_linux
def test_checker_runs_torchaudio_on_cpu_and_the_fake_gpu(audio_model, tmp_path, env):
    code, report, err = run_checker(exp_for(audio_model, TA_GPU), tmp_path)
    assert code == 0, err
    checks = by_name(report)
    for name in (*AUDIO_CHECKS, "torchaudio_lfilter_cuda", "torchaudio_melspec_cuda"):
        assert checks[name]["status"] == "pass", (name, checks[name])
    assert "reference within" in checks["torchaudio_lfilter_cpu"]["detail"]
    assert report["environment"]["torchaudio"] == "2.10.0"


@needs_x86_linux
@pytest.mark.parametrize(
    "fake_env, failing, words",
    [
        ({"FAKE_TORCH_TA_VERSION": "2.9.1"}, "torchaudio_version", "expected 2.10.0"),
        ({"FAKE_TORCH_TA_NO_EXT": "1"}, "torchaudio_ext", "did not load"),
        ({"FAKE_TORCH_TA_BAD_CPU": "1"}, "torchaudio_lfilter_cpu", "differs from the float64 reference"),
        ({"FAKE_TORCH_TA_BAD_GPU": "1"}, "torchaudio_lfilter_cuda", "differs from CPU"),
        ({"FAKE_TORCH_TA_BAD_MEL": "1"}, "torchaudio_melspec_cuda", "differs from CPU"),
    ],
)
def test_checker_fails_torchaudio_with_the_reason(audio_model, tmp_path, env, fake_env, failing, words):
    code, report, err = run_checker(exp_for(audio_model, TA_GPU), tmp_path, fake_env)
    assert code == 1, err
    check = by_name(report)[failing]
    assert check["status"] == "fail" and words in check["detail"], check
    assert report["reason"].startswith(failing)


@needs_x86_linux
def test_torchaudio_pairing_without_a_model_version(audio_model, shipped, tmp_path, env):
    wrong = {"FAKE_TORCH_TA_VERSION": "2.9.1"}
    code, report, _ = run_checker(exp_for(audio_model, TA_GPU, torchaudio=None), tmp_path, wrong)
    detail = by_name(report)["torchaudio_version"]["detail"]
    assert code == 1 and "does not pair with torch 2.10.0 (needs 2.10.x)" in detail
    # Beside a torchvision variant the same torchaudio is only a note, and a missing one is skipped.
    code, report, err = run_checker(
        exp_for(shipped, "torchvision-python313-cuda13_0-sm90-avx512"), tmp_path, {**wrong, "FAKE_TORCH_CPU_CAP": "AVX512"}
    )
    assert code == 0, err
    assert by_name(report)["torchaudio_version"]["status"] == "note"
    (env["site"] / "torchaudio" / "__init__.py").write_text("raise ImportError('no torchaudio here')\n")
    code, report, err = run_checker(
        exp_for(shipped, "pytorch-python313-cuda13_0-sm90-avx512"), tmp_path, {"FAKE_TORCH_CPU_CAP": "AVX512"}
    )
    checks = by_name(report)
    assert code == 0 and checks["import_torchaudio"]["status"] == "skip", err
    assert "torchaudio_lfilter_cpu" not in checks
    code, report, _ = run_checker(exp_for(audio_model, TA_GPU), tmp_path)
    assert code == 1 and by_name(report)["import_torchaudio"]["status"] == "fail"


def test_torchaudio_helpers():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import smoke_check as sc
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    b, a = sc.lowpass_biquad()
    # Stable: both poles of 1 + a1/a0 z^-1 + a2/a0 z^-2 inside the unit circle (|a2/a0| < 1, |a1/a0| < 1 + a2/a0).
    assert abs(a[2] / a[0]) < 1 and abs(a[1] / a[0]) < 1 + a[2] / a[0]
    impulse = sc.iir_reference([[1.0] + [0.0] * 63], b, a)
    assert impulse[0] == pytest.approx(b[0] / a[0]) and abs(impulse[-1]) < 1e-3  # decays
    assert sum(sc.iir_reference([[1.0] * 400], b, a)[-10:]) / 10 == pytest.approx(1.0, rel=1e-3)  # low-pass: DC gain 1
    rows = sc.audio_waveform()
    assert len(rows) == 2 and len(rows[0]) == 4096 and rows == sc.audio_waveform()  # seeded
    assert sc.paired_torchaudio("2.10.0+cu130") == "2.10" and sc.paired_torchaudio("3.0.0") is None


# ------------------------------------- the supervisor (smoke.py, checkrun.py)


def fake_host(cpu: str = "sapphirerapids", capability: str | None = "9.0", driver: str = "580.95.05") -> Host:
    h = detect.detect_host(nvml=None, run=None, cpu=cpu)
    if capability:
        h.gpus = [GpuInfo(0, "NVIDIA H100 80GB HBM3", capability, driver, 81559)]
        h.driver, h.gpu_source = driver, "nvml"
    return h


@needs_x86_linux
def test_sigill_is_a_failure_naming_the_cause(shipped, tmp_path, env, monkeypatch):
    monkeypatch.setenv("FAKE_TORCH_SIGNAL", "SIGILL")
    exp = expect.apply_overrides(
        expect.expectations(shipped, shipped.variant("pytorch-python313-cuda13_0-sm90-avx512bf16")), {"python": py_version()}
    )
    interp = resultenv.Interpreter(sys.executable, [str(env["site"])])
    host = fake_host("cascadelake")  # has AVX-512 VNNI, not BF16
    report = checkrun.run_checker(interp, exp, timeout=60, host=host, stream=False)
    assert report["status"] == "fail" and report["exit_code"] == 1
    assert "illegal instruction (SIGILL) during import_torch" in report["reason"]
    assert "ISA avx512bf16" in report["reason"] and "cascadelake lacks avx512_bf16" in report["reason"]
    assert report["checks"][-1]["name"] == "import_torch"
    assert [c["name"] for c in report["checks"][:2]] == ["platform", "cpu_features"]  # completed before the crash


@needs_x86_linux
def test_sigill_on_a_host_with_every_feature_blames_the_build(shipped, tmp_path, env, monkeypatch):
    monkeypatch.setenv("FAKE_TORCH_SIGNAL", "SIGILL")
    exp = expect.apply_overrides(
        expect.expectations(shipped, shipped.variant("pytorch-python313-cpu-avx512")), {"python": py_version()}
    )
    report = checkrun.run_checker(resultenv.Interpreter(sys.executable), exp, timeout=60, host=fake_host("sapphirerapids", None))
    assert "instructions beyond its ISA" in report["reason"]


@needs_x86_linux
def test_segfault_and_timeout(shipped, tmp_path, env, monkeypatch):
    exp = expect.apply_overrides(
        expect.expectations(shipped, shipped.variant("pytorch-python313-cpu-avx2")), {"python": py_version()}
    )
    monkeypatch.setenv("FAKE_TORCH_SIGNAL", "SIGSEGV")
    report = checkrun.run_checker(resultenv.Interpreter(sys.executable), exp, timeout=60, stream=False)
    assert report["status"] == "fail" and "SIGSEGV" in report["reason"] and "import_torch" in report["reason"]
    monkeypatch.delenv("FAKE_TORCH_SIGNAL")
    monkeypatch.setenv("FAKE_TORCH_HANG", "1")
    report = checkrun.run_checker(resultenv.Interpreter(sys.executable), exp, timeout=3, stream=False)
    assert report["status"] == "fail" and report["reason"].startswith("timed out after 3s during import_torch")


def test_signal_messages(shipped):
    exp = expect.expectations(shipped, shipped.variant("pytorch-python313-cpu-armv9"))
    host = fake_host("neoverse_v1", None)
    text = checkrun.signal_message(signal.SIGILL, "model_cpu", exp, host)
    assert "ISA armv9 needs features sve, sve2" in text and "neoverse_v1 lacks sve2" in text
    assert "ABI mismatch" in checkrun.signal_message(signal.SIGSEGV, "import_torch", exp, None)
    assert "out of memory" in checkrun.signal_message(signal.SIGKILL, "model_cpu", exp, None)


# --------------------------------------------------- interpreter discovery


def fake_store(tmp_path: Path) -> dict:
    """A fake /nix/store: torchvision → torch → numpy, python3, and a result link."""
    store = tmp_path / "nix" / "store"
    paths = {}
    for key, name in {
        "tv": "aaaa-python3.13-torchvision-python313-cuda13_0-sm90-avx512-0.24.1",
        "torch": "bbbb-python3.13-pytorch-python313-cuda13_0-sm90-avx512-2.10.0",
        "numpy": "cccc-python3.13-numpy-2.3.1",
        "python": "dddd-python3-3.13.5",
        "cuda": "eeee-cuda_cudart-13.0.48",
    }.items():
        p = store / name
        p.mkdir(parents=True)
        paths[key] = p
    for key in ("tv", "torch", "numpy"):
        (paths[key] / "lib" / "python3.13" / "site-packages").mkdir(parents=True)
    (paths["python"] / "bin").mkdir()
    (paths["python"] / "bin" / "python3.13").write_text("#!/bin/sh\n")
    for key, deps in {"tv": ["torch", "numpy"], "torch": ["numpy", "cuda"]}.items():
        (paths[key] / "nix-support").mkdir()
        (paths[key] / "nix-support" / "propagated-build-inputs").write_text(" ".join(str(paths[d]) for d in deps) + "\n")
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".flox").mkdir()
    link = root / "result-torchvision-python313-cuda13_0-sm90-avx512"
    link.symlink_to(paths["tv"])
    (root / "result-torchvision-python313-cuda13_0-sm90-avx512-log").symlink_to(paths["tv"])
    (root / "result-something-else").symlink_to(paths["numpy"])
    return {"root": root, "link": link, **paths}


def test_discovery_from_a_result_link(tmp_path):
    s = fake_store(tmp_path)
    requisites = "\n".join(str(s[k]) for k in ("tv", "torch", "numpy", "python", "cuda"))
    calls = []

    def run(argv):
        calls.append(argv)
        return requisites

    interp = resultenv.discover(s["link"], run=run, which=lambda name: None)
    assert calls == [["nix-store", "--query", "--requisites", str(s["tv"].resolve())]]
    assert interp.python == str(s["python"] / "bin" / "python3.13")
    assert interp.python_version == "3.13"
    sp = "lib/python3.13/site-packages"
    assert interp.pythonpath == [str(s["tv"] / sp), str(s["torch"] / sp), str(s["numpy"] / sp)]  # result first, each once
    assert interp.env["PYTHONNOUSERSITE"] == "1"
    assert "closure" in interp.how


def test_discovery_without_nix_store(tmp_path):
    s = fake_store(tmp_path)

    def run(argv):
        raise FileNotFoundError(argv[0])

    interp = resultenv.discover(s["link"], run=run, which=lambda name: "/usr/bin/python3.13" if name == "python3.13" else None)
    assert interp.python == "/usr/bin/python3.13" and interp.notes and "glibc" in interp.notes[0]
    with pytest.raises(errors.UsageError, match="pass --python"):
        resultenv.discover(s["link"], run=run, which=lambda name: None)
    interp = resultenv.discover(s["link"], python="/opt/py/bin/python3", run=run, which=lambda name: name)
    assert interp.python == "/opt/py/bin/python3" and len(interp.pythonpath) == 3


def test_discovery_plain_python_and_errors(tmp_path):
    interp = resultenv.discover(None, python=sys.executable)
    assert interp.python == sys.executable and interp.pythonpath == [] and interp.env == {}
    with pytest.raises(errors.UsageError):
        resultenv.discover(None, None)
    with pytest.raises(errors.UsageError, match="does not exist"):
        resultenv.discover(tmp_path / "result-nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.UsageError, match="site-packages"):
        resultenv.discover(tmp_path / "empty")


def test_result_links(tmp_path, shipped):
    s = fake_store(tmp_path)
    found, unknown = smoke.result_links(s["root"], shipped)
    assert [v.name for v, _ in found] == ["torchvision-python313-cuda13_0-sm90-avx512"]
    assert unknown == ["result-something-else"]  # the -log link is an extra output, ignored


def test_driver_shim(tmp_path):
    drv = tmp_path / "drv"
    drv.mkdir()
    for n in ("libcuda.so.580.95.05", "libnvidia-ml.so.580.95.05", "libc.so.6"):
        (drv / n).write_text("")
    (drv / "libcuda.so.1").symlink_to(drv / "libcuda.so.580.95.05")
    ldconfig = f"\tlibcuda.so.1 (libc6,x86-64) => {drv}/libcuda.so.1\n"
    shim = tmp_path / "shim"
    assert resultenv.driver_shim(shim, run=lambda argv: ldconfig, opengl_dir=tmp_path / "missing") == str(drv)
    assert sorted(p.name for p in shim.iterdir()) == ["libcuda.so.1", "libcuda.so.580.95.05", "libnvidia-ml.so.580.95.05"]
    assert resultenv.driver_shim(tmp_path / "shim2", run=lambda argv: ldconfig, opengl_dir=drv) is None  # NixOS: nothing to do


# -------------------------------------------------------- end to end, fakes


@needs_x86_linux
def test_cmd_smoke_runs_matching_results_and_skips_the_rest(shipped, tmp_path, env, monkeypatch, capsys):
    """Two result trees built around the fake torch: the sm90 one runs, the sm100 one is skipped by detect."""
    store = tmp_path / "store"
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("torchvision-python313-cuda13_0-sm90-avx512", "torchvision-python313-cuda13_0-sm100-avx512"):
        out = store / f"x-{name}"
        sp = out / "lib" / f"python{py_version()}" / "site-packages"
        sp.parent.mkdir(parents=True)
        sp.symlink_to(env["site"], target_is_directory=True)
        (root / f"result-{name}").symlink_to(out)
    monkeypatch.delenv("PYTHONPATH")
    monkeypatch.setenv("FAKE_TORCH_CPU_CAP", "AVX512")
    host = fake_host("sapphirerapids", "9.0")
    code = smokecli.cmd_smoke(
        root,
        ROOT / "variants.toml",
        python=sys.executable,
        json_out=str(tmp_path / "all.json"),
        overrides={"python": py_version()},
        record=True,
        host=host,
        stream=False,
    )
    out = capsys.readouterr()
    assert code == 0, out
    runs = {r["variant"]: r for r in json.loads((tmp_path / "all.json").read_text())["runs"]}
    ok = runs["torchvision-python313-cuda13_0-sm90-avx512"]
    assert ok["status"] == "pass", ok["reason"]
    assert by_name(ok)["torch_origin"]["status"] == "pass"  # torch came from the result's closure
    assert ok["interpreter"]["pythonpath"][0].endswith("site-packages")
    skipped = runs["torchvision-python313-cuda13_0-sm100-avx512"]
    assert skipped["status"] == "skipped" and "sm100 SASS" in skipped["reason"]
    records = ledger.read(root)
    assert [(r.variant, r.status) for r in records] == [
        ("torchvision-python313-cuda13_0-sm100-avx512", "skipped"),
        ("torchvision-python313-cuda13_0-sm90-avx512", "ok"),
    ]
    assert records[1].action == "smoke" and records[1].hardware == "NVIDIA H100 80GB HBM3 (9.0), sapphirerapids"
    assert records[1].detail.startswith("expectations overridden (python=")
    assert "PASS" in out.out and "SKIPPED" in out.out


@needs_x86_linux
def test_main_with_a_stand_in_interpreter_and_overrides(tmp_path, env, monkeypatch, capsys):
    """What the lead runs on the H100, with the fake torch standing in for the preinstalled one."""
    monkeypatch.setenv("FAKE_TORCH_VERSION", "2.11.0+cu130")
    monkeypatch.setenv("FAKE_TV_VERSION", "0.26.0+cu130")
    monkeypatch.setenv("FAKE_TORCH_CPU_CAP", "AVX512")
    host = fake_host("sapphirerapids", "9.0")
    monkeypatch.setattr(detect, "detect_host", lambda: host)
    report_file = tmp_path / "smoke.json"
    code = smokecli.main(
        [
            "--file",
            str(ROOT / "variants.toml"),
            "--root",
            str(tmp_path),
            "--variant",
            "torchvision-python313-cuda13_0-sm90-avx512",
            "--python",
            sys.executable,
            "--expect-python",
            py_version(),
            "--expect-torch",
            "2.11.0",
            "--expect-torchvision",
            "0.26.0",
            "--expect-cuda",
            "13.0",
            "--json",
            str(report_file),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(report_file.read_text())
    assert report["status"] == "pass"
    assert report["overridden"]["torch"] == {"model": "2.10.0", "value": "2.11.0", "flag": "--expect-torch"}
    assert report["overridden"]["torchvision"]["model"] == "0.25.0"
    assert report["stand_in"] is True
    assert by_name(report)["torch_version"]["detail"].startswith("2.11.0+cu130")
    assert "expectations overridden: python" in out.out and "stand-in interpreter" in out.out


def test_main_skips_when_hardware_does_not_match(tmp_path, monkeypatch, capsys):
    host = fake_host("zen4", None)
    monkeypatch.setattr(detect, "detect_host", lambda: host)
    code = smokecli.main(
        ["--file", str(ROOT / "variants.toml"), "--root", str(tmp_path), "--variant", "sm90-avx512", "--python", sys.executable]
    )
    assert code == 77
    assert "no NVIDIA GPU" in capsys.readouterr().out


def test_main_usage_errors(tmp_path, monkeypatch, capsys):
    host = fake_host("zen4", None)
    monkeypatch.setattr(detect, "detect_host", lambda: host)
    assert smokecli.main(["--file", str(ROOT / "variants.toml"), "--variant", "no-such-variant"]) == 2
    # a matching CPU variant with nothing built and no --python: usage error, not a crash
    assert smokecli.main(["--file", str(ROOT / "variants.toml"), "--root", str(tmp_path), "--variant", "cpu-avx512"]) == 2
    # nothing built at all: skipped
    assert smokecli.main(["--file", str(ROOT / "variants.toml"), "--root", str(tmp_path)]) == 77
    assert "nothing to test" in capsys.readouterr().err
