"""The nox ``build-*`` sessions, decided here so that noxfile.py only registers and calls.

What lives here
    * the session table: :func:`sessions` turns the model into nox session names,
      the variants each one builds and its tags (``build-<short>`` aliases first,
      then ``build-<cuda token>-<short>`` for non-default CUDA, then one
      ``build-<variant name>`` per variant; which alias names which variants is the
      model's rule, :meth:`~buildmatrix.model.Matrix.aliases_of`);
    * name resolution for ``nox -s build -- NAME [--torch M.m]`` with candidates for
      unknown or ambiguous names (:func:`resolve_target`); ``--torch 2.9`` appends that
      line's name token, so it is the same as ``NAME-torch2_9``;
    * the options after ``--`` (:func:`parse_build_args`, :func:`build_usage`) and the
      ``flox build`` command line (:func:`flox_build_argv`);
    * the run itself (:func:`build`): preflight checks and output streamed to the
      terminal and to ``logs/<variant>.log`` (:mod:`buildmatrix.builds.flox`), compiler
      parallelism from memory (:mod:`buildmatrix.builds.parallelism`, whose docstring gives the
      rule), one ledger record per variant, written in a ``finally`` so a failing,
      crashing or interrupted build is recorded as such and never as a success;
    * :func:`run_module` for the host-tool sessions (``eval``, ``smoke``).

Which session names a nox command line asks for, read before nox parses it, is
:mod:`buildmatrix.cli.noxargs`.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from .. import ledger, model
from ..detect import host as hostinfo
from ..errors import NOT_STARTED, BuildMatrixError, UsageError
from . import builders, dryrun, parallelism, trust
from . import flox as floxrun

# flox's general options go before the subcommand (`flox -v build …`).
FLOX_GENERAL_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "-q", "--quiet"})


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


def sessions(m: model.Matrix) -> list[BuildSession]:
    """All build sessions: default-CUDA aliases, other-CUDA aliases, then one per variant."""
    groups = m.alias_groups
    first = [k for k, vs in groups.items() if vs[0].cuda is None or vs[0].cuda.version == m.defaults.cuda]
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
    aliases = list(m.alias_groups)
    everything = aliases + [v.name for v in m.variants]
    out = [a for a in aliases if a.startswith(name) or a.endswith("-" + name)]
    if len(out) < 12:
        out += [n for n in everything if name in n and n not in out][: 12 - len(out)]
    out += [c for c in difflib.get_close_matches(name, everything, n=6, cutoff=0.6) if c not in out]
    return out[:20]


def resolve_target(m: model.Matrix, name: str, torch: str | None = None) -> list[model.Variant]:
    """Variants one ``nox -s build -- NAME`` argument builds.

    Accepts a variant name, an alias (``sm120-avx``, ``cuda12_9-sm103-avx2``), either
    with a leading ``build-`` (the session name). ``torch`` ("2.9", from ``--torch``) names
    a torch line: its token is appended (``sm120-avx-torch2_9``); an unknown line raises
    listing the lines. Unknown or ambiguous names raise :class:`UsageError` listing candidates.
    """
    key = m.line_alias(name.removeprefix("build-"), torch)
    shown = repr(name) if key == name.removeprefix("build-") else f"{name!r} with --torch {torch} ({key!r})"
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
            raise UsageError(f"{shown} is ambiguous: it names several variants of one package; name one:\n{listed}")
        return found
    cands = _candidates(m, key)
    starting = [c for c in cands if c.startswith(key)]
    if len(starting) > 1:
        lines = [f"{shown} is ambiguous: {len(starting)} aliases start with it; name one"]
    else:
        lines = [f"no build target named {shown}"]
    same_short = sorted({f"build-{v.cuda_alias}" for v in m.variants if v.cuda is not None and v.short == key})
    if same_short:
        lines.append(
            f"{key!r} has no build for the default CUDA {m.defaults.cuda} (Python {m.defaults.python}); "
            f"it exists as: {', '.join(same_short)}"
        )
    if cands:
        lines.append("candidates:\n" + "\n".join(f"  build-{c}" for c in cands))
    lines.append("`nox -l` lists every session, `invoke list` every variant")
    raise UsageError("\n".join(lines))


# ------------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would sys.exit(2) inside nox
        raise UsageError(f"{message}\n{self.format_usage()}")


@dataclass
class BuildOptions:
    """What follows ``--`` on a build session's command line."""

    names: list[str] = field(default_factory=list)
    stability: str | None = None
    torch: str | None = None
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
        "--torch",
        metavar="M.m",
        help="torch line of the names (2.9): appends its token, sm120-avx -> sm120-avx-torch2_9; default: the default line",
    )
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
    if ns.torch is not None and not allow_names:
        raise UsageError(
            "--torch selects the line of the names given to `nox -s build -- NAME… --torch M.m`; "
            "a build-<alias> session builds its own line already (build-sm120-avx-torch2_9 is the 2.9 one)"
        )
    return BuildOptions(
        names=names,
        stability=ns.stability,
        torch=ns.torch,
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


# --------------------------------------------------------------------------- build


def build(
    root: Path,
    variants: Sequence[model.Variant],
    options: BuildOptions,
    *,
    env: Mapping[str, str] | None = None,
    out: BinaryIO | None = None,
    say=print,
) -> floxrun.Outcome:
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
        argv = flox_build_argv(variants, options.stability, options.flox_args)
        return dryrun.dry_run(root, variants, options, argv, env, say)
    try:
        remote = builders.load(root, env)
    except BuildMatrixError as exc:
        return floxrun.Outcome(floxrun.STATUS_REFUSED, str(exc))
    problems = floxrun.preflight(root, variants, force=options.force, env=env, remote=remote)
    if problems:
        return floxrun.Outcome(floxrun.STATUS_REFUSED, "\n".join(problems))

    par = parallelism.plan_parallelism(variants, cores=options.cores, max_jobs=remote.max_jobs(options.max_jobs))
    run_env, note = parallelism.nix_config_env(env, par, forced=options.cores is not None, extra=remote.nix_config_lines())
    argv = flox_build_argv(variants, options.stability, options.flox_args)
    logs = [floxrun.LOG_DIR / f"{v.name}.log" for v in variants]
    nix_config = trust.show_nix_config(run_env.get("NIX_CONFIG", ""))  # redacted, as the dry run shows it
    shown_argv = " ".join(trust.redact_argv(argv))
    say(f"build: {shown_argv}")
    say(f"build: parallelism cores={par.cores} max-jobs={par.max_jobs} ({par.reason}){'; ' + note if note else ''}")
    say(f"build: builders: {remote.describe()}")
    for warning in remote.warnings({v.platform for v in variants}):
        say(f"build: warning: {warning}")
    say(f"build: NIX_CONFIG={nix_config!r}; log {logs[0]}" + (f" (also {', '.join(map(str, logs[1:]))})" if logs[1:] else ""))

    rev, host, hardware = ledger.git_rev(root), ledger.host_name(), hostinfo.hardware_summary()
    start, t0 = ledger.now(), time.time()
    before = {v.name: floxrun.link_state(root, v.name) for v in variants}
    header = (
        f"== {shown_argv}\n== cwd {root}\n== NIX_CONFIG {nix_config}\n== parallelism: {par.reason}\n"
        f"== git {rev}  host {host} ({hardware})  start {start}\n\n"
    )
    rc: int | None = None
    error: BaseException | None = None
    records: list[ledger.Record] = []
    try:
        rc = floxrun.run_streamed(argv, cwd=root, env=run_env, log_path=root / logs[0], header=header, out=out)
    except BaseException as exc:
        error = exc
        raise
    finally:
        for extra_log in logs[1:]:
            floxrun.share_log(root / logs[0], root / extra_log)
        status, detail = floxrun.describe_exit(rc)
        if rc is None and error is not None and not isinstance(error, KeyboardInterrupt):
            status, detail = floxrun.STATUS_FAILED, f"could not run flox: {error!r}"
        end = ledger.now()
        for v, log in zip(variants, logs):
            fresh, target = floxrun.fresh_result(root, v.name, before[v.name])
            v_status, v_detail = status, detail
            if status == floxrun.STATUS_OK and not fresh:
                v_status, v_detail = floxrun.STATUS_FAILED, f"flox exited 0 but did not write result-{v.name}"
            elif status != floxrun.STATUS_OK and fresh:
                v_status, v_detail = floxrun.STATUS_OK, f"result-{v.name} written; the call then ended: {detail}"
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
                    "argv": trust.redact_argv(argv),
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
    bad = [r for r in records if r.status != floxrun.STATUS_OK]
    if rc == 0 and not bad:
        return floxrun.Outcome(floxrun.STATUS_OK, f"built {', '.join(v.name for v in variants)}", rc, records)
    worst = floxrun.STATUS_INTERRUPTED if status == floxrun.STATUS_INTERRUPTED else floxrun.STATUS_FAILED
    return floxrun.Outcome(
        worst, f"flox build {status} ({detail}); full log: {logs[0]}; not built: {', '.join(r.variant for r in bad)}", rc, records
    )


def run_module(root: Path, module: str, args: Sequence[str], *, python: str | None = None) -> int:
    """``python -m <module> args`` with ``scripts/`` on PYTHONPATH, output straight to the terminal; its exit status
    (``errors.NOT_STARTED``, the shell's 127, when it could not be started)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(root) / "scripts"), env.get("PYTHONPATH", "")) if p)
    try:
        return subprocess.call([python or sys.executable, "-m", module, *args], cwd=root, env=env)
    except OSError as exc:
        print(f"cannot run {module}: {exc}", file=sys.stderr)
        return NOT_STARTED
