"""How many compiler jobs a ``flox build`` gets: the memory-based rule and the ``NIX_CONFIG`` that carries it.

Parallelism rule (why and how)
    nixpkgs' torch ``preBuild`` does ``export MAX_JOBS=$NIX_BUILD_CORES``, and
    ``NIX_BUILD_CORES`` is Nix's ``cores`` setting; MAGMA and every other
    make/ninja derivation use the same variable. So ``cores`` is the one lever
    that limits compiler parallelism without changing any derivation (a
    different ``MAX_JOBS`` inside a recipe would change its hash). It is passed
    as ``NIX_CONFIG="cores = N\\nmax-jobs = 1"`` in the environment of ``flox
    build``: flox runs ``make``/``nix build`` with the inherited environment,
    and the Nix daemon applies a client's ``cores`` and ``max-jobs`` for trusted
    and untrusted users alike (``ClientSettings::apply`` in the daemon).
    ``max-jobs = 1`` keeps two heavy derivations (torch and MAGMA, or two
    torches) from compiling at the same time, each with N jobs.

    N = max(1, min(CPUs, floor((available memory - 4 GiB) / per-job memory)))

    with per-job memory 8 GiB when any variant in the call is a CUDA build and
    4 GiB otherwise. Available memory is ``MemAvailable`` from /proc/meminfo
    (lowered to the cgroup v2 ``memory.max - memory.current`` when that is
    smaller), ``hw.memsize`` on macOS. 8 GiB per CUDA job: nvcc's ``cicc`` on
    PyTorch's flash-attention and other template-heavy kernels is what gets
    OOM-killed (``cicc … signal 9``, NixOS/nixpkgs#419179); conda-forge's
    pytorch feedstock runs ``MAX_JOBS=8`` on 64 GB runners "to avoid getting
    OOM-killed", i.e. 8 GB per job, and that is for several architectures per
    build (ours compile one, so 8 GiB is a safe upper bound, not a tight one).
    4 GiB per C++-only job covers gcc on PyTorch's largest generated
    translation units. The 4 GiB held back is for the Nix evaluator, the daemon
    and the final link of ``libtorch_cuda.so``. A slower build beats one killed
    after hours; ``--cores N`` overrides the rule, and a ``cores``/``max-jobs``
    already set in the caller's ``NIX_CONFIG`` is respected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import model
from ..detect import host as hostinfo
from . import trust

CUDA_GIB_PER_JOB = 8
CPU_GIB_PER_JOB = 4
RESERVED_GIB = 4


@dataclass(frozen=True)
class Parallelism:
    """How many compiler jobs a build gets, and why."""

    cores: int
    max_jobs: int
    per_job_gib: int
    reason: str


def plan_parallelism(
    variants: Sequence[model.Variant],
    *,
    mem_bytes: int | None = None,
    mem_source: str = "given",
    cpus: int | None = None,
    cores: int | None = None,
    max_jobs: int = 1,
) -> Parallelism:
    """Apply the rule in the module docstring. Pass ``mem_bytes``/``cpus`` to compute for another host."""
    per_job = CUDA_GIB_PER_JOB if any(v.cuda is not None for v in variants) else CPU_GIB_PER_JOB
    if cores is not None:
        return Parallelism(cores, max_jobs, per_job, f"--cores {cores} given")
    if mem_bytes is None:
        mem_bytes, mem_source = hostinfo.memory_available()
    cpus = cpus or hostinfo.cpu_count()
    if mem_bytes is None:
        n = max(1, min(cpus, 4))
        return Parallelism(n, max_jobs, per_job, f"memory unknown: {n} job(s) (min(CPUs {cpus}, 4)); pass --cores N to choose")
    usable = mem_bytes - RESERVED_GIB * hostinfo.GIB
    by_mem = max(1, usable // (per_job * hostinfo.GIB))
    n = int(max(1, min(cpus, by_mem)))
    return Parallelism(
        n,
        max_jobs,
        per_job,
        f"{mem_bytes / hostinfo.GIB:.1f} GiB available ({mem_source}) - {RESERVED_GIB} GiB reserve, "
        f"{per_job} GiB per {'CUDA' if per_job == CUDA_GIB_PER_JOB else 'C++'} job -> {by_mem}; {cpus} CPU(s) -> {n}",
    )


_NIX_KEY = re.compile(r"^\s*(cores|max-jobs)\s*=", re.MULTILINE)


def nix_config_env(
    base: Mapping[str, str], par: Parallelism, *, forced: bool = False, extra: Sequence[str] = ()
) -> tuple[dict[str, str], str]:
    """``base`` plus ``NIX_CONFIG`` carrying ``cores``/``max-jobs`` (then ``extra``: builders, caches); returns (env, note).

    Settings the caller already put in ``NIX_CONFIG`` win unless ``forced`` (``--cores``
    given): later lines override earlier ones in Nix, so ours are only appended for keys
    the caller did not set.
    """
    env = dict(base)
    existing = env.get("NIX_CONFIG", "")
    already = set() if forced else set(_NIX_KEY.findall(existing))
    lines = [trust.setting(k, v) for k, v in (("cores", par.cores), ("max-jobs", par.max_jobs)) if k not in already]
    extra = [trust.check_setting(ln) for ln in extra]  # one setting each, as trust.setting forms them; else ValueError
    given = set(re.findall(r"^\s*([\w-]+)\s*=", existing, re.MULTILINE))
    kept = sorted(already | {ln.split("=")[0].strip() for ln in extra if ln.split("=")[0].strip() in given})
    lines += [ln for ln in extra if ln.split("=")[0].strip() not in given]
    note = f"NIX_CONFIG already sets {', '.join(kept)}: kept" if kept else ""
    if lines:
        env["NIX_CONFIG"] = (existing.rstrip("\n") + "\n" if existing.strip() else "") + "\n".join(lines)
    return env, note
