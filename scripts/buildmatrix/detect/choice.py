"""Which variant(s) to pick for a host (:func:`recommend`), the compatible alternatives and the rejections.

Among the variants of the default packages and Python that fit (:func:`buildmatrix.detect.fit.assess`), on
the default torch line unless another is asked for (names without a line token: the default line
and pre-release builds, which their suffix names),
the best is an exact SASS match over a compatible one over a CPU build on a GPU host, then
the build that runs on the most GPUs, the closest SASS, the default CUDA, the newest
CUDA, the highest ISA (the lowest when CPU features are unknown) and no suffix. The
other default packages follow the winner's hardware. Every choice carries its reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .fit import (
    MINOR_VERSION_COMPAT_URL,
    Verdict,
    assess,
    best_isa,
    cuda_floor,
    driver_at_least,
    missing_features,
    newest_cuda,
    version_tuple,
)
from .host import Host


@dataclass
class Choice:
    """A variant with its verdict."""

    variant: Any
    verdict: Verdict

    @property
    def alias(self) -> str:
        v = self.variant
        return v.cuda_alias

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
    torch: str | None = None  # the torch line asked for (--torch); None: the default line

    def as_dict(self) -> dict[str, Any]:
        groups: dict[str, dict[str, list[str]]] = {}
        for c in self.rejected:
            groups.setdefault(c.verdict.kind, {}).setdefault(c.verdict.reasons[0], []).append(c.variant.name)
        return {
            "host": self.host.as_dict(),
            "python": self.python,
            "torch": self.torch,
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
        version_tuple(v.gpu.capability) if v.gpu else (),  # among SASS-compatible builds, the closest
        not c.verdict.limited,  # the driver meets the CUDA release's own min_driver (no minor-version compatibility)
        bool(v.cuda and v.cuda.version == default_cuda),
        version_tuple(v.cuda.version) if v.cuda else (),
        isa_rank,
        not v.suffix,
    )


def recommend(
    matrix: Any, host: Host, packages: Iterable[str] | None = None, python: str | None = None, torch: str | None = None
) -> Recommendation:
    """Best variant(s) for the defaults' packages and Python, compatible alternatives and rejections, with reasons.

    ``torch`` ("2.9") picks among that torch line's variants (an unknown line raises UsageError
    listing the lines); without it, among the names without a line token."""
    packages = tuple(packages or matrix.defaults.packages)
    python = python or matrix.defaults.python
    on_line = set(map(id, matrix.on_line(torch))) if torch else None
    pool = [
        v
        for v in matrix.variants
        if v.package.name in packages and v.python.version == python and (id(v) in on_line if torch else not v.line)
    ]
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
                text += "; " + ", ".join(f"CUDA {c.version} needs ≥ {cuda_floor(c)}" for c in newer)
            limited = sorted(
                (
                    c
                    for c in matrix.cudas.values()
                    if driver_at_least(host.driver, cuda_floor(c)) and not driver_at_least(host.driver, c.min_driver)
                ),
                key=lambda c: c.v,
            )
            if limited:
                text += (
                    "; "
                    + ", ".join(f"CUDA {c.version}" for c in limited)
                    + (
                        f" through minor-version compatibility (every feature of it needs ≥ "
                        f"{', '.join(c.min_driver for c in limited)}; {MINOR_VERSION_COMPAT_URL})"
                    )
                )
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
        host, python, packages, isa, isa_table, driver_cuda, driver_notes, recommended, alternatives, rejected, why, torch
    )


def _hw_key(v: Any) -> tuple:
    return (v.target, v.cuda.version if v.cuda else None, v.gpu.name if v.gpu else None, v.isa.name if v.isa else None, v.suffix)


def _why(matrix: Any, host: Host, best: Choice, isa: Any, driver_cuda: str | None) -> list[str]:
    v = best.variant
    out = []
    if v.gpu is not None:
        out.append(best.verdict.reasons[0])
        if v.cuda.version == matrix.defaults.cuda:
            out.append(f"CUDA {v.cuda.version}: the model's default, and driver {host.driver} runs it")
        else:
            out.append(f"CUDA {v.cuda.version}: the newest fitting CUDA (default {matrix.defaults.cuda} does not fit)")
    elif v.target_info.chosen:
        out.append(v.target_info.chosen)
    elif host.gpus:
        out.append("no CUDA variant fits this GPU/driver (see the rejected list), so a CPU-only build")
    else:
        out.append(f"no NVIDIA GPU detected ({host.gpu_source}): CPU-only build")
    if v.isa is not None and host.cpu_source == "none":
        out.append(f"ISA {v.isa.name}: CPU features unknown, so the most conservative ISA (install archspec)")
    elif v.isa is not None and isa is not None:
        out.append(f"ISA {isa.name}: the highest-ranked ISA whose features ({', '.join(isa.features)}) this CPU has")
    return out
