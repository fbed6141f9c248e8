"""One ``flox`` call, mechanically: refusals before it starts, its output streamed and logged, its exit read.

* :func:`preflight`: every reason not to start ``flox build`` (no flox, a platform this
  host cannot build and no builder serves, a missing or git-untracked recipe), each with
  what to do;
* :func:`run_streamed`: runs a command with stdout+stderr copied to the terminal and to a
  log as it comes; Ctrl-C, SIGTERM and SIGHUP (:class:`Interrupted`) give the child 30 s
  to stop, then terminate and kill it, and propagate;
* :func:`describe_exit`: a return code as ``ok`` / ``failed`` / ``interrupted`` with the
  detail a record stores (a signal, a likely OOM kill);
* ``result-<name>`` link identity (:func:`link_state`, :func:`fresh_result`), so only a
  link this run wrote counts as built, and :func:`share_log` for the variants of one call.

:func:`buildmatrix.builds.sessions.build` and ``invoke publish`` compose these; nothing here writes
a ledger record.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .. import ledger, model
from ..detect import host as hostinfo
from . import builders

FLOX_INSTALL_URL = "https://flox.dev/docs/install-flox/"
LOG_DIR = Path("logs")
PKGS_DIR = Path(".flox") / "pkgs"
LIB_FILE = Path(".flox") / "recipe-lib.nix"  # recipes.LIB_FILE (this module imports no recipes code)

STATUS_OK, STATUS_FAILED, STATUS_INTERRUPTED, STATUS_REFUSED = "ok", "failed", "interrupted", "refused"
# Signals that mean "someone stopped it" rather than "it broke".
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


# ---------------------------------------------------------------------------- git


def git(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``root``, output captured as text, never raising on a non-zero exit."""
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def untracked_paths(root: Path, paths: Sequence[str]) -> list[str] | None:
    """Which of ``paths`` git does not track; None when this is not a git work tree (or no git)."""
    try:
        inside = git(root, "rev-parse", "--is-inside-work-tree")
    except OSError:
        return None
    if inside.returncode or inside.stdout.strip() != "true":
        return None
    tracked = set(git(root, "ls-files", "--", *paths).stdout.split())
    return [p for p in paths if p not in tracked]


# ------------------------------------------------------------------------- running


class Interrupted(KeyboardInterrupt):
    """SIGTERM/SIGHUP while a flox command runs (CI cancel, closed terminal)."""


def _raise_interrupted(signum, _frame) -> None:
    raise Interrupted(f"received {signal.Signals(signum).name}")


def flox_missing_message(what: str) -> str:
    """The refusal when ``flox`` is not on PATH: what cannot run and where to install Flox."""
    return (
        f"`flox` is not installed (not on PATH), so {what} cannot run.\n"
        f"Install Flox: {FLOX_INSTALL_URL} (then open a new shell and check `flox --version`)"
    )


def describe_exit(rc: int | None) -> tuple[str, str]:
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
        problems.append(flox_missing_message("flox build"))
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
        if (root / LIB_FILE).exists():  # the helpers every generated recipe imports
            rels.append(str(LIB_FILE))
        untracked = untracked_paths(root, rels)
        if untracked is None:
            problems.append(f"{root} is not a git work tree: flox builds Nix expressions only from a git repository")
        elif untracked:
            problems.append(
                f"flox builds only git-tracked expressions; untracked: {', '.join(untracked)}.\n"
                f"Run `git add {' '.join(untracked)} patches/` (committing is not needed to build)"
            )
    return problems


def link_state(root: Path, name: str) -> tuple | None:
    """Identity of ``result-<name>`` (inode, mtime, target), None when absent."""
    link = root / f"result-{name}"
    try:
        st = link.lstat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, os.readlink(link) if link.is_symlink() else "")


def fresh_result(root: Path, name: str, before: tuple | None) -> tuple[bool, str]:
    """(``result-<name>`` was (re)written since ``before`` was taken and resolves, its target).

    Compared by identity, not by clock: Nix replaces the link (new inode) on every
    successful build, and file timestamps can lag the wall clock.
    """
    after = link_state(root, name)
    link = root / f"result-{name}"
    if after is None or after == before or not link.exists():
        return False, ""
    return True, after[2] or str(link.resolve())


def share_log(src: Path, dst: Path) -> None:
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
