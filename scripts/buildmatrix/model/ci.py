"""The [ci] table: the runners, cache and Flox step of the generated GitHub Actions workflow.

spec.py has already checked every [ci] value's type and form (patterns that keep it inert in
YAML, GitHub expressions and shell); :func:`read` builds the :class:`CiConfig` record and
reports into the load's collector what needs the rest of the model: a build runner for every
platform a variant has, smoke runners' GPU and ISA names, secret names GitHub or the push step
reserve. A file without [ci] loads (``Matrix.ci`` then refuses: only the workflow needs it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .collect import Collector
from .entries import Gpu, Tables
from .variant import Variant

DEFAULT_PLAN_RUNNER = ("ubuntu-24.04",)
DEFAULT_BUILD_TIMEOUT = 2880
# The GitHub environment of the push job, the one job that gets the signing key and the cache's
# credentials (docs/BUILDING.md, "Building at scale": its required reviewers and branch rule).
DEFAULT_ENVIRONMENT = "binary-cache"
# Variables the push step sets itself: a [ci.cache] secret of that name would clash.
RESERVED_ENV = frozenset({"CACHE_PUSH", "SIGNING_KEY", "DEST", "SESSION", "ALIAS", "VARIANT", "PATH", "NIX_CONFIG", "RUNNER_TEMP", "RUNNER_NAME"})
NO_CI_FIX = 'add one (docs/BUILDING.md, "Building at scale")'


@dataclass(frozen=True, kw_only=True)
class SmokeRunner:
    """One [[ci.smoke_runner]]: its ``runs-on`` labels and the hardware it has."""

    labels: tuple[str, ...]
    platform: str
    gpu: Gpu | None
    isas: tuple[str, ...]

    def runs(self, v: Variant) -> bool:
        """Whether this runner has the hardware to smoke-test ``v``."""
        if v.platform != self.platform:
            return False
        if v.isa is not None and v.isa.name not in self.isas:
            return False
        return v.gpu is None or (self.gpu is not None and v.gpu.runs_on(self.gpu.capability))


@dataclass(frozen=True, kw_only=True)
class CiConfig:
    """[ci], defaults filled in: ``runners`` by platform, ``cache`` and ``flox_with`` as written."""

    runners: dict[str, tuple[str, ...]]
    smoke_runners: tuple[SmokeRunner, ...]
    plan_runner: tuple[str, ...]
    max_parallel: int
    build_timeout: int
    cache: dict
    environment: str
    flox_uses: str | None  # None: the release ci/workflow.py pins
    flox_with: dict[str, str]


def read(raw: dict | None, t: Tables, variants: Iterable[Variant], c: Collector) -> CiConfig | None:
    """The record of ``raw`` (a spec-checked [ci] table; None: the file has none); problems go to ``c``."""
    if raw is None:
        return None

    def problem(path: tuple, message: str, fix: str) -> None:
        c.problem(("ci", *path), message, fix)

    runners = {p: tuple(labels) for p, labels in raw["runners"].items()}
    for platform in sorted({v.platform for v in variants}):
        if not runners.get(platform):
            problem(("runners", platform), f"no build runner for {platform}, which variants need",
                    f'add `{platform} = ["self-hosted", ...]` to [ci.runners]')  # fmt: skip
    smoke = tuple(_smoke_runner(i, r, t, problem) for i, r in enumerate(raw.get("smoke_runner", [])))
    cache = raw["cache"]
    seen: set[str] = set()
    for i, name in enumerate(cache.get("secrets", [])):
        where = ("cache", "secrets", i)
        if name.upper().startswith("GITHUB_"):
            problem(where, f"secret name {name!r} starts with GITHUB_, which GitHub reserves", "rename the secret")
        if name in RESERVED_ENV or name == cache["signing_key_secret"] or name in seen:
            problem(where, f"{name!r} is listed twice or is a variable the push step sets itself",
                    f"list each secret once, not the signing key, and none of {', '.join(sorted(RESERVED_ENV))}")  # fmt: skip
        seen.add(name)
    if cache["signing_key_secret"].upper().startswith("GITHUB_"):
        problem(("cache", "signing_key_secret"), "GitHub reserves secret names starting with GITHUB_", "rename the secret")
    flox = raw.get("flox", {})
    for name in flox.get("with", {}):
        if not name.replace("-", "").replace("_", "").isalnum():
            problem(("flox", "with", name), f"{name!r} is not an action input name", "use letters, digits, - and _")
    # max_parallel and build_timeout_minutes: their range is the spec's (minimum 1), checked before this.
    return CiConfig(
        runners=runners,
        smoke_runners=smoke,
        plan_runner=tuple(raw.get("plan_runner", DEFAULT_PLAN_RUNNER)),
        max_parallel=raw["max_parallel"],
        build_timeout=raw.get("build_timeout_minutes", DEFAULT_BUILD_TIMEOUT),
        cache=dict(cache),
        environment=cache.get("environment", DEFAULT_ENVIRONMENT),
        flox_uses=flox.get("uses"),
        flox_with=dict(flox.get("with", {})),
    )


def _smoke_runner(i: int, r: dict, t: Tables, problem) -> SmokeRunner:
    gpu = None
    if "gpu" in r:
        gpu = t.gpus.get(r["gpu"])
        if gpu is None:
            problem(("smoke_runner", i, "gpu"), f"unknown GPU architecture {r['gpu']!r}", f"use one of: {', '.join(t.gpus)}")
    for j, isa in enumerate(r.get("isas", [])):
        if isa not in t.isas:
            problem(("smoke_runner", i, "isas", j), f"unknown CPU ISA {isa!r}", f"use one of: {', '.join(t.isas)}")
        elif t.isas[isa].platform != r["platform"]:
            problem(("smoke_runner", i, "isas", j), f"{isa} is an {t.isas[isa].platform} ISA, not {r['platform']}",
                    "list the ISAs of the runner's own platform")  # fmt: skip
    if not r["labels"]:
        problem(("smoke_runner", i, "labels"), "no labels", "list the runner's `runs-on` labels")
    return SmokeRunner(labels=tuple(r["labels"]), platform=r["platform"], gpu=gpu, isas=tuple(r.get("isas", [])))
