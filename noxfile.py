"""buildmatrix sessions, generated from variants.toml (guide: docs/BUILDING.md).

nox -s build-sm120-avx            pytorch + torchvision for sm120 / AVX at the defaults
nox -s build-cuda12_9-sm103-avx2  the same for another CUDA;   nox -s build-<variant name>: one variant
nox -s build -- NAME... [--torch M.m]   any variant names or aliases (of torch line M.m); unknown ones list candidates
nox -s build-... -- [--stability S] [--force] [--cores N] [--dry-run] [--help]   (other options go to flox)
nox -t cuda13_0 | nox -k "sm120 and avx512"     select per-variant builds by tag or keyword
nox                               lint, tests, gen-check, docs-check;   nox -s eval | smoke: host tools
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))

from buildmatrix.builds import sessions as builds  # noqa: E402
from buildmatrix.cli import common as cli  # noqa: E402
from buildmatrix.cli import noxargs  # noqa: E402
from buildmatrix.errors import EXIT_SKIPPED, BuildMatrixError  # noqa: E402
from buildmatrix.model import hashes  # noqa: E402

nox.options.error_on_external_run = False
# The check sessions' virtualenvs: the standard library's venv, always there (nox would
# otherwise look for uv first and print "uv binary not found" on every run).
nox.options.default_venv_backend = "venv"
# nox also probes for uv before every session, venv or not, and logs "uv binary not found."
# when there is none; no session here uses uv, so that line is noise.
logging.getLogger("nox").addFilter(lambda record: record.getMessage() != "uv binary not found.")
if noxargs.lists_sessions(sys.argv[1:]):  # `nox -l | head` ends quietly, like other tools
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

try:
    MATRIX = cli.load(ROOT / "variants.toml", quiet=True)
    LOAD_ERROR = ""
except BuildMatrixError as exc:  # keep lint/tests usable while variants.toml is broken
    MATRIX, LOAD_ERROR = None, str(exc)
if MATRIX is not None:  # nox prints the module docstring atop `nox -l`: show the real defaults
    __doc__ = __doc__.replace(
        "at the defaults", f"at the defaults (Python {MATRIX.defaults.python}, CUDA {MATRIX.defaults.cuda})"
    )


# ------------------------------------------------------------------ checks (virtualenv)
# tests/lint/gen-check/docs-check install the package into a reused virtualenv (.nox/<name>)
# from pyproject.toml, so they prove the declared dependencies suffice. `nox --no-venv …`
# runs them in the current environment instead (no install; e.g. inside `flox activate`).


def _install(session: nox.Session, *args: str) -> None:
    if session.venv_backend != "none":
        session.install(*args)


@nox.session(reuse_venv=True, tags=["check"])
def lint(session: nox.Session) -> None:
    """ruff check (settings in pyproject.toml)."""
    _install(session, "ruff>=0.5")
    session.run("ruff", "check", *(session.posargs or ["."]))


@nox.session(reuse_venv=True, tags=["check"])
def tests(session: nox.Session) -> None:
    """pytest; posargs go to pytest (nox -s tests -- -k builds)."""
    _install(session, "-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(name="gen-check", reuse_venv=True, tags=["check"])
def gen_check(session: nox.Session) -> None:
    """Fail if .flox/pkgs differs from variants.toml (invoke gen --check)."""
    _install(session, "-e", ".")
    session.run("invoke", "gen", "--check")


@nox.session(name="docs-check", reuse_venv=True, tags=["check"])
def docs_check(session: nox.Session) -> None:
    """Fail if the generated parts of the docs are stale (invoke docs --check)."""
    _install(session, "-e", ".")
    session.run("invoke", "docs", "--check")


# --------------------------------------------------------- host tools (no virtualenv)
# These run flox, nix or the smoke checks on this host: nothing to install, so
# python=False (no venv is created; a venv per build session would only cost time).


def _module(session: nox.Session, module: str, what: str, args: list[str]) -> None:
    """Run ``python -m module args`` (this interpreter, scripts/ on PYTHONPATH); EXIT_SKIPPED (77) means skipped."""
    session.log(f"{sys.executable} -m {module} {' '.join(args)}".rstrip())
    rc = builds.run_module(ROOT, module, args)
    if rc == EXIT_SKIPPED:
        session.skip(f"{what}: no result here matches this host (exit {EXIT_SKIPPED}; reasons above)")
    if rc:
        session.error(f"{what} failed (exit {rc})")


@nox.session(name="eval", python=False, tags=["nix"], default=False)
def eval_(session: nox.Session) -> None:
    """Nix evaluation proof of the recipes (python -m buildmatrix.nixeval; needs nix)."""
    _module(session, "buildmatrix.nixeval", "eval", session.posargs)


@nox.session(python=False, tags=["hardware"], default=False)
def smoke(session: nox.Session) -> None:
    """Smoke-test every result-<name> this host can run (-- --variant NAME --python PATH).

    Adds ``--record`` (a ``smoke`` ledger record per variant tested, which ``invoke
    publish`` requires) unless ``--no-record`` is given or only expectations are printed.
    """
    _module(session, "buildmatrix.smoke", "smoke", noxargs.smoke_args(session.posargs))


# -------------------------------------------------------------------------- builds


def _options(session: nox.Session, allow_names: bool) -> builds.BuildOptions:
    try:
        return builds.parse_build_args(session.posargs, allow_names=allow_names)
    except BuildMatrixError as exc:
        session.error(str(exc))


def _run_build(session: nox.Session, variants, opts: builds.BuildOptions, allow_names: bool = False) -> None:
    if opts.help:
        print(builds.build_usage(allow_names))
        return
    if MATRIX is None:
        session.error(f"variants.toml does not load, nothing to build:\n{LOAD_ERROR}")
    unverified = hashes.unverified_line(MATRIX, [v.name for v in variants])
    if unverified:  # the one line about unverified fetches a build prints
        session.warn(unverified)
    outcome = builds.build(ROOT, variants, opts, say=session.log)
    if not outcome.ok:
        session.error(outcome.message.rstrip("."))


def _resolve(session: nox.Session, names: list[str], torch: str | None = None) -> list:
    if MATRIX is None:
        session.error(f"variants.toml does not load:\n{LOAD_ERROR}")
    try:
        return [v for n in names for v in builds.resolve_target(MATRIX, n, torch)]
    except BuildMatrixError as exc:
        session.error(str(exc))


@nox.session(python=False, default=False)
def build(session: nox.Session) -> None:
    """Build the variants/aliases named after --: nox -s build -- sm120-avx cpu-avx2."""
    opts = _options(session, allow_names=True)
    if not opts.names and not opts.help:
        session.error("name what to build: nox -s build -- sm120-avx [more names] [--stability S] (see nox -l)")
    _run_build(session, _resolve(session, opts.names, opts.torch) if opts.names else [], opts, allow_names=True)


def _register(bs: builds.BuildSession) -> None:
    def run(session: nox.Session) -> None:
        _run_build(session, list(bs.variants), _options(session, allow_names=False))

    run.__doc__ = bs.description
    run.__name__ = run.__qualname__ = bs.name.replace("-", "_").replace(".", "_")
    nox.session(run, name=bs.name, python=False, tags=list(bs.tags), default=False)


def _register_requested(name: str) -> None:
    """A session for a requested ``build-…`` name no table entry has: build it if the model
    resolves it (``build-cuda13_0-sm120-avx``), otherwise fail listing candidates."""

    def run(session: nox.Session) -> None:
        _run_build(session, _resolve(session, [name]), _options(session, allow_names=False))

    run.__doc__ = f"(requested on the command line) {name}"
    run.__name__ = run.__qualname__ = "requested_" + name.replace("-", "_")
    nox.session(run, name=name, python=False, default=False)


_TABLE = builds.sessions(MATRIX) if MATRIX is not None else []
for _bs in _TABLE:
    _register(_bs)
for _name in noxargs.unknown_builds(sys.argv[1:], os.environ, [bs.name for bs in _TABLE] + ["build"]):
    _register_requested(_name)
