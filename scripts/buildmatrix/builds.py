"""Per-variant ``flox build`` runs behind the nox ``build-*`` sessions (noxfile.py stays thin).

What lives here
    * the session table: :func:`sessions` turns the model into nox session names,
      the variants each one builds and its tags (``build-<short>`` aliases first,
      then ``build-<cuda token>-<short>`` for non-default CUDA, then one
      ``build-<variant name>`` per variant);
    * name resolution for ``nox -s build -- NAME`` with candidates for unknown
      or ambiguous names (:func:`resolve_target`);
    * the ``flox build`` command line (:func:`flox_build_argv`);
    * the memory-based parallelism rule (:func:`plan_parallelism`, below);
    * the run itself (:func:`build`): preflight checks, output streamed to the
      terminal and to ``logs/<variant>.log``, one ledger record per variant,
      written in a ``finally`` so a failing, crashing or interrupted build is
      recorded as such and never as a success.

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

import argparse
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from . import builders, hostinfo, ledger, model
from .errors import BuildMatrixError, UsageError

FLOX_INSTALL_URL = "https://flox.dev/docs/install-flox/"
LOG_DIR = Path("logs")
PKGS_DIR = Path(".flox") / "pkgs"
CUDA_GIB_PER_JOB = 8
CPU_GIB_PER_JOB = 4
RESERVED_GIB = 4

# flox's general options go before the subcommand (`flox -v build …`).
FLOX_GENERAL_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "-q", "--quiet"})

STATUS_OK, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_REFUSED = "ok", "failed", "interrupted", "refused"
# Signals that mean "someone stopped it" rather than "it broke".
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


# ------------------------------------------------------------------ the session table


class BuildSession(NamedTuple):
    """One nox build session: its name, the variants one ``flox build`` call builds, its tags."""

    name: str
    variants: tuple[model.Variant, ...]
    tags: tuple[str, ...]

    @property
    def is_alias(self) -> bool:
        return not (len(self.variants) == 1 and self.name == f"build-{self.variants[0].name}")

    @property
    def description(self) -> str:
        """The one line `nox -l` shows after the name."""
        v = self.variants[0]
        hw = {"cuda": lambda: v.gpu.gpus[0], "cpu": lambda: "CPU only", "mps": lambda: "Apple Silicon"}[v.target]()
        if not self.is_alias:
            return f"{hw}, {v.platform}"
        pkgs = "+".join(x.package.name for x in self.variants)
        cuda = f"CUDA {v.cuda.version}, " if v.cuda else ""
        return f"{pkgs}, {cuda}{hw}, {v.platform}"


def variant_tags(v: model.Variant) -> tuple[str, ...]:
    """Tags for ``nox -t``: package, target, CUDA token, GPU, ISA (and the suffix, e.g. nightly)."""
    tags = [v.package.name, v.target]
    if v.cuda:
        tags.append(v.cuda.token)
    if v.gpu:
        tags.append(v.gpu.name)
    if v.isa:
        tags.append(v.isa.name)
    if v.suffix:
        tags.append(v.suffix)
    return tuple(tags)


def alias_groups(m: model.Matrix) -> dict[str, list[model.Variant]]:
    """Every alias (``sm120-avx``, ``cuda12_9-sm103-avx2``) and the variants it names, in file order.

    Same rule as :meth:`model.Matrix.resolve`: default Python and packages; the plain
    short name for the default CUDA (and for CPU/MPS builds), ``<cuda token>-<short>``
    for any other CUDA. Aliases naming two variants of one package (cannot happen
    with names derived from the model, checked anyway) are left out: ambiguous.
    """
    groups: dict[str, list[model.Variant]] = {}
    for v in m.variants:
        if v.python.version != m.defaults.python or v.package.name not in m.defaults.packages:
            continue
        default_cuda = v.target != "cuda" or v.cuda.version == m.defaults.cuda
        key = v.short if default_cuda else f"{v.cuda.token}-{v.short}"
        groups.setdefault(key, []).append(v)
    return {k: vs for k, vs in groups.items() if len({v.package.name for v in vs}) == len(vs)}


def sessions(m: model.Matrix) -> list[BuildSession]:
    """All build sessions: default-CUDA aliases, other-CUDA aliases, then one per variant."""
    groups = alias_groups(m)
    first = [k for k, vs in groups.items() if vs[0].target != "cuda" or vs[0].cuda.version == m.defaults.cuda]
    other = [k for k in groups if k not in first]
    out = [BuildSession(f"build-{k}", tuple(groups[k]), ()) for k in first + other]
    out += [BuildSession(f"build-{v.name}", (v,), variant_tags(v)) for v in m.variants]
    names = [s.name for s in out]
    if len(names) != len(set(names)):  # an alias spelled like a variant name
        dup = sorted({n for n in names if names.count(n) > 1})
        raise BuildMatrixError(f"build session names clash: {', '.join(dup)}")
    return out


def _candidates(m: model.Matrix, name: str) -> list[str]:
    """Names worth suggesting for ``name``: prefix/substring matches, then close spellings."""
    aliases = list(alias_groups(m))
    everything = aliases + [v.name for v in m.variants]
    out = [a for a in aliases if a.startswith(name) or a.endswith("-" + name)]
    if len(out) < 12:
        out += [n for n in everything if name in n and n not in out][: 12 - len(out)]
    out += [c for c in difflib.get_close_matches(name, everything, n=6, cutoff=0.6) if c not in out]
    return out[:20]


def resolve_target(m: model.Matrix, name: str) -> list[model.Variant]:
    """Variants one ``nox -s build -- NAME`` argument builds.

    Accepts a variant name, an alias (``sm120-avx``, ``cuda12_9-sm103-avx2``), either
    with a leading ``build-`` (the session name). Unknown or ambiguous names raise
    :class:`UsageError` listing candidates.
    """
    key = name.removeprefix("build-")
    try:
        found = m.resolve(key)
    except UsageError:
        found = []
    if found:
        by_pkg: dict[str, list[str]] = {}
        for v in found:
            by_pkg.setdefault(v.package.name, []).append(v.name)
        clash = {p: ns for p, ns in by_pkg.items() if len(ns) > 1}
        if clash:
            listed = "\n".join(f"  {n}" for ns in clash.values() for n in ns)
            raise UsageError(f"{name!r} is ambiguous: it names several variants of one package; name one:\n{listed}")
        return found
    cands = _candidates(m, key)
    starting = [c for c in cands if c.startswith(key)]
    if len(starting) > 1:
        lines = [f"{name!r} is ambiguous: {len(starting)} aliases start with it; name one"]
    else:
        lines = [f"no build target named {name!r}"]
    same_short = sorted({f"build-{v.cuda.token}-{v.short}" for v in m.variants if v.target == "cuda" and v.short == key})
    if same_short:
        lines.append(
            f"{key!r} has no build for the default CUDA {m.defaults.cuda} (Python {m.defaults.python}); "
            f"it exists as: {', '.join(same_short)}"
        )
    if cands:
        lines.append("candidates:\n" + "\n".join(f"  build-{c}" for c in cands))
    lines.append("`nox -l` lists every session, `invoke list` every variant")
    raise UsageError("\n".join(lines))


# ------------------------------------------------------------------------ parallelism


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
    per_job = CUDA_GIB_PER_JOB if any(v.target == "cuda" for v in variants) else CPU_GIB_PER_JOB
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
    lines = [f"{k} = {v}" for k, v in (("cores", par.cores), ("max-jobs", par.max_jobs)) if k not in already]
    given = set(re.findall(r"^\s*([\w-]+)\s*=", existing, re.MULTILINE))
    kept = sorted(already | {ln.split("=")[0].strip() for ln in extra if ln.split("=")[0].strip() in given})
    lines += [ln for ln in extra if ln.split("=")[0].strip() not in given]
    note = f"NIX_CONFIG already sets {', '.join(kept)}: kept" if kept else ""
    if lines:
        env["NIX_CONFIG"] = (existing.rstrip("\n") + "\n" if existing.strip() else "") + "\n".join(lines)
    return env, note


# ------------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would sys.exit(2) inside nox
        raise UsageError(f"{message}\n{self.format_usage()}")


@dataclass
class BuildOptions:
    """What follows ``--`` on a build session's command line."""

    names: list[str] = field(default_factory=list)
    stability: str | None = None
    force: bool = False
    cores: int | None = None
    max_jobs: int = 1
    dry_run: bool = False
    help: bool = False
    flox_args: list[str] = field(default_factory=list)


def _parser(allow_names: bool) -> _Parser:
    p = _Parser(
        prog="nox -s build --" if allow_names else "nox -s build-<name> --",
        add_help=False,
        allow_abbrev=False,
        description="Build variants with `flox build`. Unknown options, and everything after a second `--`, go to flox.",
    )
    if allow_names:
        p.add_argument("names", nargs="*", help="variant names or aliases (sm120-avx, cuda12_9-sm103-avx2, pytorch-…)")
    p.add_argument(
        "--stability", help="flox --stability (stable, unstable, staging, lts): the catalog nixpkgs flox evaluates with"
    )
    p.add_argument("--force", action="store_true", help="build even if this host's platform differs from the variant's")
    p.add_argument("--cores", type=int, help="compiler jobs (Nix `cores`); default: from memory, see docs/BUILDING.md")
    p.add_argument("--max-jobs", type=int, default=1, help="derivations built at once (Nix `max-jobs`; default 1)")
    p.add_argument("--dry-run", action="store_true", help="print the flox command and settings, build nothing")
    p.add_argument("-h", "--help", action="store_true", help="show this help")
    return p


def build_usage(allow_names: bool) -> str:
    return _parser(allow_names).format_help()


def parse_build_args(args: Sequence[str], *, allow_names: bool) -> BuildOptions:
    """Parse a session's posargs. Raises UsageError (with usage) on bad input."""
    args = list(args)
    passthrough: list[str] = []
    if "--" in args:
        i = args.index("--")
        args, passthrough = args[:i], args[i + 1 :]
    ns, unknown = _parser(allow_names).parse_known_args(args)
    if ns.cores is not None and ns.cores < 1:
        raise UsageError("--cores must be at least 1")
    if ns.max_jobs < 1:
        raise UsageError("--max-jobs must be at least 1")
    names = list(getattr(ns, "names", []) or [])
    return BuildOptions(
        names=names,
        stability=ns.stability,
        force=ns.force,
        cores=ns.cores,
        max_jobs=ns.max_jobs,
        dry_run=ns.dry_run,
        help=ns.help,
        flox_args=unknown + passthrough,
    )


def flox_build_argv(variants: Sequence[model.Variant], stability: str | None = None, extra: Iterable[str] = ()) -> list[str]:
    """``flox [general flags] build [--stability S] [extra…] <variant>…``; attribute = variant name.

    One call for all of them: a torchvision recipe imports its pytorch recipe, so
    the torch derivation is shared and compiled once even when both are listed.
    """
    extra = list(extra)
    general = [a for a in extra if a in FLOX_GENERAL_FLAGS]
    rest = [a for a in extra if a not in FLOX_GENERAL_FLAGS]
    argv = ["flox", *general, "build"]
    if stability:
        argv += ["--stability", stability]
    return argv + rest + [v.name for v in variants]


# ---------------------------------------------------------------------------- git


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def _untracked(root: Path, paths: Sequence[str]) -> list[str] | None:
    """Which of ``paths`` git does not track; None when this is not a git work tree (or no git)."""
    try:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
    except OSError:
        return None
    if inside.returncode or inside.stdout.strip() != "true":
        return None
    tracked = set(_git(root, "ls-files", "--", *paths).stdout.split())
    return [p for p in paths if p not in tracked]


# ------------------------------------------------------------------------- running


class Interrupted(KeyboardInterrupt):
    """SIGTERM/SIGHUP while a flox command runs (CI cancel, closed terminal)."""


def _raise_interrupted(signum, _frame) -> None:
    raise Interrupted(f"received {signal.Signals(signum).name}")


def _exec_flox_missing_message(what: str) -> str:
    return (
        f"`flox` is not installed (not on PATH), so {what} cannot run.\n"
        f"Install Flox: {FLOX_INSTALL_URL} (then open a new shell and check `flox --version`)"
    )


def _describe_exit(rc: int | None) -> tuple[str, str]:
    """(status, detail) for a child's return code (negative = killed by that signal)."""
    if rc is None:
        return STATUS_INTERRUPTED, "interrupted before flox finished"
    if rc == 0:
        return STATUS_OK, "exit 0"
    if rc < 0:
        sig = signal.Signals(-rc)
        hint = " (out of memory? see `dmesg`; try --cores lower)" if sig == signal.SIGKILL else ""
        status = STATUS_INTERRUPTED if sig in _STOP_SIGNALS else STATUS_FAILED
        return status, f"flox was killed by {sig.name}{hint}"
    if rc in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        return STATUS_INTERRUPTED, f"exit {rc} (flox stopped by {signal.Signals(rc - 128).name})"
    return STATUS_FAILED, f"exit {rc}"


def run_streamed(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    header: str = "",
    out: BinaryIO | None = None,
) -> int:
    """Run ``argv``; copy its stdout+stderr to ``out`` (the terminal) and ``log_path`` as it comes.

    Returns the exit status (negative: killed by that signal). On KeyboardInterrupt (or
    SIGTERM/SIGHUP, turned into :class:`Interrupted`) the child is given 30 s to stop,
    then terminated/killed, and the exception propagates.
    """
    out = out if out is not None else sys.stdout.buffer
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists() or log_path.is_symlink():
        log_path.unlink()  # never write through a hard link made for another variant
    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, _raise_interrupted)
        except (ValueError, OSError):  # not the main thread
            pass
    proc = None
    try:
        with open(log_path, "wb") as log:
            if header:
                log.write(header.encode())
                log.flush()
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert proc.stdout is not None
            terminal = True
            while chunk := proc.stdout.read1(65536):
                log.write(chunk)
                if terminal:
                    try:
                        out.write(chunk)
                        out.flush()
                    except OSError:  # terminal or pipe gone: keep the build and the log going
                        terminal = False
            rc = proc.wait()
            log.write(f"\n== exit status {rc}\n".encode())
            return rc
    except BaseException:
        if proc is not None and proc.poll() is None:
            _stop(proc)
        raise
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _stop(proc: subprocess.Popen) -> None:
    """Let the child finish after an interrupt (Ctrl-C already reached it), else stop it."""
    for action, wait in ((None, 30), (proc.terminate, 10), (proc.kill, 10)):
        try:
            if action:
                action()
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting politely
            continue


@dataclass
class Outcome:
    """What a build or publish did: status ok/failed/interrupted/refused, a message, the records written."""

    status: str
    message: str
    exit_code: int | None = None
    records: list[ledger.Record] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def recipe_path(root: Path, name: str) -> Path | None:
    for rel in (PKGS_DIR / f"{name}.nix", PKGS_DIR / name / "default.nix"):
        if (root / rel).exists():
            return rel
    return None


def preflight(
    root: Path, variants: Sequence[model.Variant], *, force: bool, env: Mapping[str, str], remote: builders.Config | None = None
) -> list[str]:
    """Reasons not to start ``flox build`` (each with what to do); empty when it may start.

    A foreign platform is fine when a configured builder serves it (``remote``, see builders.py).
    """
    remote = remote or builders.Config()
    problems = []
    if not shutil.which("flox", path=env.get("PATH", os.defpath)):
        problems.append(_exec_flox_missing_message("flox build"))
    host = hostinfo.host_platform()
    foreign = [v for v in variants if v.platform != host and v.platform not in remote.systems]
    if foreign and not force:
        listed = ", ".join(f"{v.name} ({v.platform})" for v in foreign)
        problems.append(
            f"this host is {host} and cannot build {listed}.\n"
            f"Build on an {foreign[0].platform} machine, or pass `-- --force` if this Nix can build for it "
            "(remote builders, or extra-platforms with binfmt emulation: very slow),\n"
            f"or add a [[builder]] for {foreign[0].platform} to {remote.source or builders.user_file(env)} (docs/BUILDING.md#remote-builders)."
        )
    if not force:
        problems += remote.refusals({v.platform for v in variants}, host)
    missing = [v.name for v in variants if recipe_path(root, v.name) is None]
    if missing:
        problems.append(f"no recipe in {PKGS_DIR}/ for {', '.join(missing)}: run `invoke gen`")
    else:
        rels = [str(recipe_path(root, v.name)) for v in variants]
        untracked = _untracked(root, rels)
        if untracked is None:
            problems.append(f"{root} is not a git work tree: flox builds Nix expressions only from a git repository")
        elif untracked:
            problems.append(
                f"flox builds only git-tracked expressions; untracked: {', '.join(untracked)}.\n"
                f"Run `git add {' '.join(untracked)} patches/` (committing is not needed to build)"
            )
    return problems


def _link_state(root: Path, name: str) -> tuple | None:
    """Identity of ``result-<name>`` (inode, mtime, target), None when absent."""
    link = root / f"result-{name}"
    try:
        st = link.lstat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, os.readlink(link) if link.is_symlink() else "")


def _fresh_result(root: Path, name: str, before: tuple | None) -> tuple[bool, str]:
    """(``result-<name>`` was (re)written since ``before`` was taken and resolves, its target).

    Compared by identity, not by clock: Nix replaces the link (new inode) on every
    successful build, and file timestamps can lag the wall clock.
    """
    after = _link_state(root, name)
    link = root / f"result-{name}"
    if after is None or after == before or not link.exists():
        return False, ""
    return True, after[2] or str(link.resolve())


def build(
    root: Path,
    variants: Sequence[model.Variant],
    options: BuildOptions,
    *,
    env: Mapping[str, str] | None = None,
    out: BinaryIO | None = None,
    say=print,
) -> Outcome:
    """Build ``variants`` with one ``flox build`` call and record one ledger entry per variant.

    Refusals (no flox, foreign platform, missing/untracked recipe) build nothing and
    record nothing. Once flox starts, every variant gets a record in a ``finally``: ok
    only if flox exited 0 and ``result-<name>`` was written by this run; a variant whose
    link this run wrote counts as built even when a later package in the same call
    failed (the session still fails). KeyboardInterrupt/SIGTERM propagate after the
    records (status ``interrupted``) are written.
    """
    root = Path(root)
    env = dict(os.environ if env is None else env)
    variants = list(dict.fromkeys(variants))
    if options.dry_run:  # works without flox: buildmatrix.dryrun
        from . import dryrun

        return dryrun.dry_run(root, variants, options, env, say)
    try:
        remote = builders.load(root, env)
    except BuildMatrixError as exc:
        return Outcome(STATUS_REFUSED, str(exc))
    problems = preflight(root, variants, force=options.force, env=env, remote=remote)
    if problems:
        return Outcome(STATUS_REFUSED, "\n".join(problems))

    par = plan_parallelism(variants, cores=options.cores, max_jobs=remote.max_jobs(options.max_jobs))
    run_env, note = nix_config_env(env, par, forced=options.cores is not None, extra=remote.nix_config_lines())
    argv = flox_build_argv(variants, options.stability, options.flox_args)
    logs = [LOG_DIR / f"{v.name}.log" for v in variants]
    nix_config = run_env.get("NIX_CONFIG", "").replace("\n", "; ")
    say(f"build: {' '.join(argv)}")
    say(f"build: parallelism cores={par.cores} max-jobs={par.max_jobs} ({par.reason}){'; ' + note if note else ''}")
    say(f"build: builders: {remote.describe()}")
    for warning in remote.warnings({v.platform for v in variants}):
        say(f"build: warning: {warning}")
    say(f"build: NIX_CONFIG={nix_config!r}; log {logs[0]}" + (f" (also {', '.join(map(str, logs[1:]))})" if logs[1:] else ""))

    rev, host, hardware = ledger.git_rev(root), ledger.host_name(), hostinfo.hardware_summary()
    start, t0 = ledger.now(), time.time()
    before = {v.name: _link_state(root, v.name) for v in variants}
    header = (
        f"== {' '.join(argv)}\n== cwd {root}\n== NIX_CONFIG {nix_config}\n== parallelism: {par.reason}\n"
        f"== git {rev}  host {host} ({hardware})  start {start}\n\n"
    )
    rc: int | None = None
    error: BaseException | None = None
    records: list[ledger.Record] = []
    try:
        rc = run_streamed(argv, cwd=root, env=run_env, log_path=root / logs[0], header=header, out=out)
    except BaseException as exc:
        error = exc
        raise
    finally:
        for extra_log in logs[1:]:
            _share_log(root / logs[0], root / extra_log)
        status, detail = _describe_exit(rc)
        if rc is None and error is not None and not isinstance(error, KeyboardInterrupt):
            status, detail = STATUS_FAILED, f"could not run flox: {error!r}"
        end = ledger.now()
        for v, log in zip(variants, logs):
            fresh, target = _fresh_result(root, v.name, before[v.name])
            v_status, v_detail = status, detail
            if status == STATUS_OK and not fresh:
                v_status, v_detail = STATUS_FAILED, f"flox exited 0 but did not write result-{v.name}"
            elif status != STATUS_OK and fresh:
                v_status, v_detail = STATUS_OK, f"result-{v.name} written; the call then ended: {detail}"
            rec = ledger.Record(
                variant=v.name,
                action="build",
                status=v_status,
                start=start,
                end=end,
                git_rev=rev,
                host=host,
                hardware=hardware,
                result=f"result-{v.name}" if fresh else "",
                log=str(log),
                detail=v_detail,
                extra={
                    "argv": argv,
                    "exit_code": rc,
                    "store_path": target if fresh else "",
                    "platform": hostinfo.host_platform(),
                    "forced": options.force and v.platform != hostinfo.host_platform() and v.platform not in remote.systems,
                    "builders": sorted(b.uri for b in remote.builders),
                    "stability": options.stability or "",
                    "cores": par.cores,
                    "max_jobs": par.max_jobs,
                    "duration_s": round(time.time() - t0, 1),
                },
            )
            ledger.append(root, rec)
            records.append(rec)
        say("build: ledger " + ", ".join(f"{r.variant}={r.status}" for r in records))
    bad = [r for r in records if r.status != STATUS_OK]
    if rc == 0 and not bad:
        return Outcome(STATUS_OK, f"built {', '.join(v.name for v in variants)}", rc, records)
    worst = STATUS_INTERRUPTED if status == STATUS_INTERRUPTED else STATUS_FAILED
    return Outcome(
        worst, f"flox build {status} ({detail}); full log: {logs[0]}; not built: {', '.join(r.variant for r in bad)}", rc, records
    )


def _share_log(src: Path, dst: Path) -> None:
    """One flox call, one log: give every variant of the call its ``logs/<variant>.log`` (a hard link)."""
    try:
        if dst.exists() or dst.is_symlink():
            dst.unlink()
        if src.exists():
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    except OSError:
        pass


def run_module(root: Path, module: str, args: Sequence[str], *, python: str | None = None) -> int:
    """``python -m <module> args`` with ``scripts/`` on PYTHONPATH, output straight to the terminal; its exit status."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(root) / "scripts"), env.get("PYTHONPATH", "")) if p)
    try:
        return subprocess.call([python or sys.executable, "-m", module, *args], cwd=root, env=env)
    except OSError as exc:
        print(f"cannot run {module}: {exc}", file=sys.stderr)
        return 127
