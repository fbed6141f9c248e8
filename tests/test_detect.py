"""Hardware detection and recommendation with fake hosts: archspec microarchitectures for the CPU,
fake NVML modules and nvidia-smi output for the GPU. Nothing here needs a GPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from buildmatrix.cli import detect as detectcli
from buildmatrix.detect import choice, fit
from buildmatrix.detect import cpu as cpuprobe
from buildmatrix.detect import gpu as gpuprobe
from buildmatrix.detect import probe as detect
from buildmatrix.detect.host import GpuInfo
from buildmatrix.errors import BuildMatrixError
from conftest import ROOT

# ------------------------------------------------------------------ fakes


class FakeNvmlError(Exception):
    pass


class FakeNvml:
    """The subset of pynvml (nvidia-ml-py) that detect uses."""

    def __init__(self, gpus, driver="580.95.05", cuda=13000, fail_init=False):
        self.gpus, self.driver, self.cuda, self.fail_init = gpus, driver, cuda, fail_init
        self.shutdown = False

    def nvmlInit(self):
        if self.fail_init:
            raise FakeNvmlError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlSystemGetDriverVersion(self):
        return self.driver.encode()  # old nvidia-ml-py returns bytes

    def nvmlSystemGetCudaDriverVersion(self):
        return self.cuda

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return self.gpus[h][0]

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return self.gpus[h][1]

    def nvmlDeviceGetMemoryInfo(self, h):
        class Mem:
            total = 80 * 1024**3

        return Mem()


H100 = FakeNvml([("NVIDIA H100 80GB HBM3", (9, 0))])


def smi(text: str | None = None, fail_first: bool = False):
    """A runner standing in for nvidia-smi (None: not installed)."""
    calls = []

    def run(argv):
        calls.append(list(argv))
        if text is None:
            raise FileNotFoundError(argv[0])
        if fail_first and len(calls) == 1:
            raise subprocess.CalledProcessError(6, argv, output="", stderr='Field "compute_cap" is not a valid field to query.')
        return text

    run.calls = calls
    return run


def host(cpu, nvml=None, run=None, system=None):
    return detect.detect_host(nvml=nvml, run=run, cpu=cpu, system=system)


def names(choices):
    return [c.variant.name for c in choices]


def rejected(rec, name):
    return next(c for c in rec.rejected if c.variant.name == name).verdict


def alternative(rec, name):
    return next(c for c in rec.alternatives if c.variant.name == name).verdict


# ---------------------------------------------------------------- CPU only


@pytest.mark.parametrize(
    "cpu, isa, platform",
    [
        ("cascadelake", "avx512vnni", "x86_64-linux"),
        ("zen4", "avx512bf16", "x86_64-linux"),
        ("sapphirerapids", "avx512bf16", "x86_64-linux"),
        ("icelake", "avx512vnni", "x86_64-linux"),  # VNNI but no BF16
        ("skylake_avx512", "avx512", "x86_64-linux"),  # no VNNI
        ("haswell", "avx2", "x86_64-linux"),
        ("ivybridge", "avx", "x86_64-linux"),
        ("neoverse_n1", "armv8_2", "aarch64-linux"),
        ("neoverse_v1", "armv8_2", "aarch64-linux"),  # SVE but no SVE2
        ("neoverse_v2", "armv9", "aarch64-linux"),
    ],
)
def test_best_isa_per_host(shipped, cpu, isa, platform):
    h = host(cpu)
    assert h.platform == platform and h.gpu_source == "none" and h.cpu == cpu
    rec = choice.recommend(shipped, h)
    assert rec.isa.name == isa
    assert names(rec.recommended) == [f"pytorch-python313-cpu-{isa}", f"torchvision-python313-cpu-{isa}"]
    assert any("no NVIDIA GPU" in w for w in rec.why)
    assert any(f"ISA {isa}" in w for w in rec.why)


def test_neoverse_v1_does_not_get_armv9(shipped):
    rec = choice.recommend(shipped, host("neoverse_v1"))
    v = rejected(rec, "pytorch-python313-cpu-armv9")
    assert v.kind == "isa" and "sve2" in v.reasons[0] and "sve," not in v.reasons[0]
    table = {n: (ok, r) for n, ok, r in rec.isa_table}
    assert table["armv9"] == (False, "missing sve2")
    assert rejected(rec, "pytorch-python313-cpu-avx2").kind == "platform"


def test_ivybridge_gets_avx_not_avx2(shipped):
    rec = choice.recommend(shipped, host("ivybridge"))
    v = rejected(rec, "pytorch-python313-cpu-avx2")
    assert v.kind == "isa" and "avx2, fma" in v.reasons[0] and "f16c" not in v.reasons[0]  # ivybridge has f16c
    assert not rec.alternatives  # nothing below avx


def test_isa_subsets_are_alternatives(shipped):
    rec = choice.recommend(shipped, host("cascadelake"))
    for isa in ("avx512", "avx2", "avx"):
        reason = alternative(rec, f"pytorch-python313-cpu-{isa}").reasons[0]
        assert "subset" in reason and "best: avx512vnni" in reason
    assert "avx512_bf16" in rejected(rec, "pytorch-python313-cpu-avx512bf16").reasons[0]
    # GPU variants: no GPU; ISA problems are listed first where both apply
    assert rejected(rec, "pytorch-python313-cuda13_0-sm90-avx512").kind == "no-gpu"
    both = rejected(rec, "pytorch-python313-cuda13_0-sm90-avx512bf16")
    assert both.kind == "isa" and any("no NVIDIA GPU" in r for r in both.reasons)
    assert rejected(rec, "pytorch-python313-darwin-mps").kind == "platform"


def test_apple_silicon_gets_mps(shipped):
    h = host("m1", system="darwin")
    assert h.platform == "aarch64-darwin" and not h.gpus
    rec = choice.recommend(shipped, h)
    assert names(rec.recommended) == ["pytorch-python313-darwin-mps", "torchvision-python313-darwin-mps"]


# -------------------------------------------------------------------- GPUs


def test_h100_driver_580(shipped):
    h = host("sapphirerapids", nvml=H100, run=smi(None))
    assert h.gpu_source == "nvml" and h.driver == "580.95.05" and h.cuda_driver == "13.0"
    assert h.gpus == [GpuInfo(0, "NVIDIA H100 80GB HBM3", "9.0", "580.95.05", 81920)]
    assert H100.shutdown
    assert h.hardware() == "NVIDIA H100 80GB HBM3 (9.0), sapphirerapids"
    rec = choice.recommend(shipped, h)
    assert names(rec.recommended) == [
        "pytorch-python313-cuda13_0-sm90-avx512bf16",
        "torchvision-python313-cuda13_0-sm90-avx512bf16",
    ]
    # 580.95.05 runs CUDA 13.1 through minor-version compatibility, but the default 13.0 needs nothing of it
    assert rec.driver_cuda == "13.1"
    assert any("CUDA 13.1 through minor-version compatibility" in n and "590.44.01" in n for n in rec.driver_notes)
    v = alternative(rec, "pytorch-python313-cuda13_1-sm90-avx512bf16")
    assert v.kind == "exact" and v.limited and any("590.44.01" in r and "limited feature set" in r for r in v.reasons)
    assert not alternative(rec, "pytorch-python313-cuda13_0-sm90-avx512").limited
    assert alternative(rec, "pytorch-python313-cuda12_9-sm90-avx512bf16").kind == "exact"
    assert alternative(rec, "pytorch-python313-cuda13_0-sm90-avx512").kind == "exact"
    assert alternative(rec, "pytorch-python313-cpu-avx512bf16").kind == "cpu-on-gpu-host"
    sass = rejected(rec, "pytorch-python313-cuda13_0-sm80-avx512bf16")
    assert sass.kind == "sass" and "does not run on NVIDIA H100 80GB HBM3 (9.0)" in sass.reasons[0]
    assert rejected(rec, "pytorch-python313-cuda13_0-sm100-avx512bf16").kind == "sass"
    # the alternatives list the exact GPU matches before the CPU-only builds
    kinds = [c.verdict.kind for c in rec.alternatives]
    assert kinds.index("cpu-on-gpu-host") > max(i for i, k in enumerate(kinds) if k == "exact")


def test_rtx3090_through_nvidia_smi(shipped):
    run = smi("0, NVIDIA GeForce RTX 3090, 8.6, 575.51.03, 24576\n")
    h = host("zen3", nvml=FakeNvml([], fail_init=True), run=run)
    assert h.gpu_source == "nvidia-smi" and h.gpus[0].capability == "8.6" and h.gpus[0].memory_mib == 24576
    assert run.calls[0][:2] == ["nvidia-smi", "--query-gpu=index,name,compute_cap,driver_version,memory.total"]
    assert any("NVML: cannot initialise" in n for n in h.notes)
    rec = choice.recommend(shipped, h)
    # driver 575.51.03 runs CUDA 12.9 at most; zen3 has AVX2
    assert names(rec.recommended) == ["pytorch-python313-cuda12_9-sm86-avx2", "torchvision-python313-cuda12_9-sm86-avx2"]
    assert any("default 13.0 does not fit" in w for w in rec.why)
    compat = alternative(rec, "pytorch-python313-cuda12_9-sm80-avx2")
    assert compat.kind == "compatible" and "binary compatibility" in compat.reasons[0] and "sm86" in compat.reasons[0]
    for gpu in ("sm89", "sm90", "sm75"):
        assert rejected(rec, f"pytorch-python313-cuda12_9-{gpu}-avx2").kind == "sass"
    assert rejected(rec, "pytorch-python313-cuda13_0-sm86-avx2").kind == "driver"
    assert rejected(rec, "pytorch-python313-cuda12_9-sm86-avx512").kind == "isa"


def test_l4_with_a_535_driver_runs_cuda_12_through_minor_version_compatibility(shipped):
    h = host("cascadelake", nvml=FakeNvml([("NVIDIA L4", (8, 9))], driver="535.104.05", cuda=12020))
    rec = choice.recommend(shipped, h)
    assert rec.driver_cuda == "12.9" and "minor-version compatibility" in rec.driver_notes[0]
    assert names(rec.recommended) == [
        "pytorch-python313-cuda12_9-sm89-avx512vnni",
        "torchvision-python313-cuda12_9-sm89-avx512vnni",
    ]
    assert all(c.verdict.limited for c in rec.recommended)
    v = rejected(rec, "pytorch-python313-cuda13_0-sm89-avx512vnni")
    assert v.kind == "driver" and "older than 580" in v.reasons[0] and "580.65.06" in v.reasons[0]


def test_a_driver_older_than_every_major_minimum_gets_cpu_variants(shipped):
    h = host("cascadelake", nvml=FakeNvml([("NVIDIA L4", (8, 9))], driver="520.61.05", cuda=11080))
    rec = choice.recommend(shipped, h)
    assert rec.driver_cuda is None and "older than every CUDA" in rec.driver_notes[0]
    assert names(rec.recommended) == ["pytorch-python313-cpu-avx512vnni", "torchvision-python313-cpu-avx512vnni"]
    assert any("no CUDA variant fits" in w for w in rec.why)
    v = rejected(rec, "pytorch-python313-cuda12_8-sm89-avx512vnni")
    assert v.kind == "driver" and fit.MAJOR_MIN_DRIVER[12] in v.reasons[0]


def _cudas(shipped, major):
    return sorted((c for c in shipped.cudas.values() if c.major == major), key=lambda c: c.v)


def _gpu_variant(shipped, cuda, platform="x86_64-linux"):
    """A shipped GPU variant of ``cuda`` whose GPU needs no newer driver than the major's minimum."""
    floor = fit.MAJOR_MIN_DRIVER[cuda.major]
    return next(
        v
        for v in sorted(shipped.variants, key=lambda v: v.name)
        if v.cuda is cuda and v.gpu is not None and v.platform == platform and fit.driver_at_least(floor, v.gpu.min_driver)
    )


def _gpu_host(v, driver):
    return host("sapphirerapids", nvml=FakeNvml([("GPU", tuple(int(x) for x in v.gpu.capability.split(".")))], driver=driver))


def test_a_major_minimum_driver_runs_every_cuda_release_of_that_major(shipped):
    """Minor-version compatibility: the major's minimum driver (580 for 13.x) runs every 13.x release of the model,
    the newest included, whose own min_driver is higher; the fit says its feature set is limited."""
    newest = _cudas(shipped, 13)[-1]
    floor = fit.MAJOR_MIN_DRIVER[13]
    assert not fit.driver_at_least(floor, newest.min_driver)  # the release itself ships with a newer driver
    for cuda in _cudas(shipped, 13):
        v = _gpu_variant(shipped, cuda)
        verdict = fit.assess(shipped, v, _gpu_host(v, floor))
        assert verdict.fits and verdict.kind == "exact", verdict.reasons
        assert verdict.limited == (not fit.driver_at_least(floor, cuda.min_driver))
    v = _gpu_variant(shipped, newest)
    verdict = fit.assess(shipped, v, _gpu_host(v, floor))
    assert any(
        "limited feature set" in r and newest.min_driver in r and fit.MINOR_VERSION_COMPAT_URL in r for r in verdict.reasons
    )
    # and the driver the newest release ships with runs it without the note
    full = fit.assess(shipped, v, _gpu_host(v, newest.min_driver))
    assert full.fits and not full.limited


def test_a_driver_below_the_major_minimum_runs_no_release_of_that_major(shipped):
    """A 570 driver (the CUDA 12.8 era) runs no CUDA 13.x variant: 580 is 13.x's minimum."""
    driver = _cudas(shipped, 12)[0].min_driver  # 570.26
    assert not fit.driver_at_least(driver, fit.MAJOR_MIN_DRIVER[13])
    for cuda in _cudas(shipped, 13):
        v = _gpu_variant(shipped, cuda)
        verdict = fit.assess(shipped, v, _gpu_host(v, driver))
        assert not verdict.fits and verdict.kind == "driver"
        assert f"older than {fit.MAJOR_MIN_DRIVER[13]}" in verdict.reasons[0]
    assert fit.newest_cuda(shipped, driver) == _cudas(shipped, 12)[-1].version


def test_the_cuda_floor_is_never_above_a_release_s_own_driver(shipped):
    for c in shipped.cudas.values():
        floor = fit.cuda_floor(c)
        assert fit.driver_at_least(c.min_driver, floor)
        assert floor == fit.MAJOR_MIN_DRIVER.get(c.major, c.min_driver)


def test_the_quickstart_driver_table_follows_minor_version_compatibility(shipped):
    text = (ROOT / "docs" / "QUICKSTART.md").read_text(encoding="utf-8")
    assert fit.MINOR_VERSION_COMPAT_URL in text
    for c in shipped.cudas.values():
        assert f"| ≥ {fit.cuda_floor(c)} | CUDA {c.version}" in text


def test_no_gpu_at_all(shipped):
    h = host("zen4", nvml=FakeNvml([], fail_init=True), run=smi(None))
    assert h.gpu_source == "none" and h.gpus == [] and h.driver is None
    assert any("nvidia-smi: not found" in n for n in h.notes)
    rec = choice.recommend(shipped, h)
    assert names(rec.recommended) == ["pytorch-python313-cpu-avx512bf16", "torchvision-python313-cpu-avx512bf16"]
    assert rec.driver_notes == []


def test_nvidia_smi_without_compute_cap(shipped):
    run = smi("0, Tesla P40, 470.57.02, 24451\n", fail_first=True)
    h = host("haswell", nvml=None, run=run)
    assert h.gpu_source == "nvidia-smi" and h.gpus[0].capability is None and len(run.calls) == 2
    rec = choice.recommend(shipped, h)
    assert rejected(rec, "pytorch-python313-cuda12_8-sm61-avx2").kind == "gpu-unknown"
    assert names(rec.recommended)[0] == "pytorch-python313-cpu-avx2"


def test_two_gpus_prefer_the_build_that_runs_on_both(shipped):
    nvml = FakeNvml([("NVIDIA GeForce RTX 3090", (8, 6)), ("NVIDIA GeForce RTX 4090", (8, 9))], driver="580.95.05")
    rec = choice.recommend(shipped, host("zen4", nvml=nvml))
    assert names(rec.recommended)[0] == "pytorch-python313-cuda13_0-sm86-avx512bf16"
    sm89 = alternative(rec, "pytorch-python313-cuda13_0-sm89-avx512bf16")
    assert sm89.gpus == [1] and any("GPU(s) 1 only" in r for r in sm89.reasons)


def test_grace_hopper(shipped):
    rec = choice.recommend(shipped, host("neoverse_v2", nvml=FakeNvml([("NVIDIA GH200 480GB", (9, 0))])))
    assert names(rec.recommended)[0] == "pytorch-python313-cuda13_0-sm90-armv9"
    assert rejected(rec, "pytorch-python313-cuda13_0-sm90-avx512").kind == "platform"


def test_parse_nvidia_smi_rows():
    rows = gpuprobe.parse_nvidia_smi(
        "0, NVIDIA H100 80GB HBM3, 9.0, 580.95.05, 81559\n1, NVIDIA H100 80GB HBM3, 9.0, 580.95.05, [N/A]\n"
    )
    assert rows[0] == GpuInfo(0, "NVIDIA H100 80GB HBM3", "9.0", "580.95.05", 81559)
    assert rows[1].memory_mib is None
    with pytest.raises(ValueError):
        gpuprobe.parse_nvidia_smi("garbage\n")


def test_driver_comparison():
    assert fit.driver_at_least("580.95.05", "580.65.06")
    assert not fit.driver_at_least("580.65.05", "580.65.06")
    assert fit.driver_at_least("590", "590.0.0") and not fit.driver_at_least(None, "1")
    assert fit.driver_at_least("575.51.03", "575.51.03")


# ---------------------------------------------------------- degraded modes


def test_without_archspec_reads_proc_cpuinfo(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx avx2 fma f16c\n\nprocessor\t: 1\n")
    monkeypatch.setitem(sys.modules, "archspec", None)
    monkeypatch.setitem(sys.modules, "archspec.cpu", None)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    h = detect.detect_host(run=smi(None), proc_cpuinfo=cpuinfo)
    assert h.cpu_source == "/proc/cpuinfo" and h.vendor == "GenuineIntel"
    assert {"avx2", "fma", "f16c"} <= h.features
    assert any("archspec is not installed" in n for n in h.notes)
    assert any("nvidia-ml-py is not installed" in n for n in h.notes)
    assert h.gpu_source == "none"


def test_without_archspec_or_cpuinfo_does_not_reject_on_isa(tmp_path, monkeypatch, shipped):
    monkeypatch.setitem(sys.modules, "archspec", None)
    monkeypatch.setitem(sys.modules, "archspec.cpu", None)
    h = detect.detect_host(nvml=None, run=None, proc_cpuinfo=tmp_path / "missing")
    assert h.cpu_source == "none" and "CPU features unknown" in h.notes[-1]
    rec = choice.recommend(shipped, h)
    lowest = min((i for i in shipped.isas.values() if i.platform == h.platform), key=lambda i: i.rank, default=None)
    if lowest is not None:  # this machine's platform has ISAs in the model
        assert rec.recommended[0].variant.isa.name == lowest.name
        assert any("most conservative" in w for w in rec.why)


def test_arm_proc_cpuinfo(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nFeatures\t: fp asimd sve sve2 asimdhp asimddp\nCPU implementer\t: 0x41\n")
    vendor, flags = cpuprobe.read_proc_cpuinfo(f)
    assert vendor == "ARM" and {"sve2", "asimddp"} <= flags


def test_unknown_cpu_name_is_an_error():
    with pytest.raises(BuildMatrixError, match="archspec knows no"):
        host("not_a_cpu")


# ----------------------------------------------------------------- output


def test_render_text_and_json(shipped):
    h = host("sapphirerapids", nvml=H100)
    rec = choice.recommend(shipped, h)
    text = detect.render_text(rec)
    assert "GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0" in text
    assert "Recommended for Python 3.13:\n  pytorch-python313-cuda13_0-sm90-avx512bf16" in text
    assert "* avx512bf16" in text
    assert "SASS incompatible" in text and "wrong platform" in text
    assert "cuda12_9-sm90-avx512bf16 (pytorch, torchvision)" in text
    data = json.loads(json.dumps(rec.as_dict(), default=str))
    assert data["recommended"][0]["name"] == "pytorch-python313-cuda13_0-sm90-avx512bf16"
    assert data["host"]["hardware"] == "NVIDIA H100 80GB HBM3 (9.0), sapphirerapids"
    assert data["isa"] == "avx512bf16" and data["driver_cuda"] == "13.1"
    assert "sass" in data["rejected_groups"]
    old = choice.recommend(shipped, host("sapphirerapids", nvml=FakeNvml([("NVIDIA H100 80GB HBM3", (9, 0))], driver="570.26")))
    assert "driver too old" in detect.render_text(old)
    assert "driver" in old.as_dict()["rejected_groups"]
    total = len(data["recommended"]) + len(data["alternatives"]) + len(data["rejected"])
    assert total == len(
        [v for v in shipped.variants if v.python.version == "3.13" and not v.line]
    )  # the default line (and pre-releases)


def test_main_json_with_a_pretend_cpu(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # whatever this machine has: no NVML
    monkeypatch.setattr(gpuprobe, "run_command", lambda argv: (_ for _ in ()).throw(FileNotFoundError(argv[0])))
    code = detectcli.main(["--json", "--cpu", "zen4", "--file", str(ROOT / "variants.toml")])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["host"]["cpu"] == "zen4" and data["isa"] == "avx512bf16"
    assert data["recommended"][0]["name"] == "pytorch-python313-cpu-avx512bf16"


def test_cmd_detect_text_and_bad_file(capsys, tmp_path):
    assert detectcli.cmd_detect(str(ROOT / "variants.toml"), False, cpu="neoverse_v1") == 0
    assert "Recommended for Python 3.13" in capsys.readouterr().out
    assert detectcli.cmd_detect(str(tmp_path / "missing.toml"), False) == 2


def test_the_module_runs_as_a_script():
    proc = subprocess.run(
        [sys.executable, "-m", "buildmatrix.detect", "--json", "--cpu", "cascadelake"],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "scripts"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["isa"] == "avx512vnni"


def test_the_isa_reason_is_about_this_cpu_not_its_archspec_name(shipped):
    """archspec can name a CPU by an older microarchitecture (icelake) than its flags show (AVX-512 BF16):
    the reasons say what this CPU has, never that icelake has avx512_bf16."""
    import dataclasses

    real = detect.detect_host(nvml=None, run=None, cpu="sapphirerapids")
    host = dataclasses.replace(real, cpu="icelake")  # the flags of a BF16 CPU archspec calls icelake
    rec = choice.recommend(shipped, host)
    text = detect.render_text(rec)
    assert "avx512bf16" in text and "this CPU has" in text, text
    assert "icelake has" not in text, text
