"""``invoke push [NAMES] --to URI``: copy built results to a binary cache with ``nix copy`` and record it.

What is pushed: the store path each ``result-<variant>`` link in the repository root points at
(``nox -s build-…`` leaves one per built variant), with its runtime closure, in ONE
``nix --extra-experimental-features nix-command copy --to URI PATH…`` call. NAMES are variant
names or aliases (``sm120-avx``: both packages); without NAMES every variant with a result
link here is pushed. ``--to`` defaults to ``[push] to`` of the builders file (builders.py).

URI is any Nix store URL: ``file:///srv/nix-cache``, ``s3://bucket?region=…``,
``ssh://host``, an attic or cachix endpoint Nix can write to. ``?secret-key=/path/key``
makes Nix sign what it uploads (``nix-store --generate-binary-cache-key`` makes a key pair;
consumers list the public half in ``public-keys`` of their builders file).

``--to`` (and ``[push] to``) must be a conservative store URL (:func:`trust.store_url`). What is
printed and recorded is redacted (:func:`trust.redact`: ``?secret-key=…``, ``user:password@``);
``nix copy`` gets the URL as given.

Records: one ``push`` ledger record per variant (ok when ``nix copy`` exited 0, failed or
interrupted otherwise), with the destination and the store path. Nothing is recorded when
the command refuses before running Nix (no such result link, no ``nix``, no destination).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import ledger, model
from ..builds import builders, trust
from ..errors import EXIT_FAILED, EXIT_OK, BuildMatrixError, UsageError

NIX_INSTALL_HINT = "install Nix (Debian/Ubuntu: apt-get install nix-bin; or https://nixos.org/download)"


@dataclass(frozen=True, kw_only=True)
class Item:
    variant: str
    link: str  # result-<variant>, relative to the root
    store_path: str


def store_dir(env: Mapping[str, str]) -> str:
    return env.get("NIX_STORE_DIR", "/nix/store").rstrip("/") + "/"


def items(root: Path, m: model.Matrix, names: Sequence[str], env: Mapping[str, str]) -> list[Item]:
    """What would be pushed: the result link of each named variant (every one present when no names)."""
    if names:
        chosen = list(dict.fromkeys(v.name for n in names for v in m.resolve(n)))
    else:
        chosen = [v.name for v in m.variants if (root / f"result-{v.name}").is_symlink()]
        if not chosen:
            raise UsageError(f"no result-<variant> link in {root}: build first (nox -s build-<alias>), then push")
    out, problems = [], []
    for name in chosen:
        link = root / f"result-{name}"
        target = os.path.realpath(link)
        if not link.is_symlink():
            problems.append(f"result-{name} does not exist: build it first (nox -s build-{name})")
        elif not os.path.exists(target) or not target.startswith(store_dir(env)):
            problems.append(f"result-{name} points at {target}, not at an existing path in {store_dir(env)}: build it again")
        else:
            out.append(Item(variant=name, link=f"result-{name}", store_path=target))
    if problems:
        raise UsageError("nothing pushed:\n" + "\n".join(f"  {p}" for p in problems))
    return out


def nix_copy_argv(destination: str, paths: Sequence[str]) -> list[str]:
    """``nix --extra-experimental-features nix-command copy --to URI PATH…`` (nix-command: Nix 2.4+ needs it named)."""
    return ["nix", "--extra-experimental-features", "nix-command", "copy", "--to", destination, *paths]


def destination(to: str, cfg: builders.Config) -> str:
    dest = to or cfg.push_to
    if not dest:
        where = cfg.source or builders.user_file(os.environ)
        raise UsageError(
            f"name the cache: --to URI (file:///srv/nix-cache, s3://bucket, ssh://host), or set [push] to in {where}"
        )
    if "://" not in dest and not trust.store_url_problem(f"file://{Path(dest).resolve()}"):
        raise UsageError(f"--to {dest!r} is not a Nix store URL: use e.g. file://{Path(dest).resolve()} or s3://bucket")
    # [push] to was checked when the builders file was read; --to is checked here, before anything runs
    return trust.store_url(dest, "--to" if to else f"[push] to of {cfg.source}")


def push(
    root: Path,
    m: model.Matrix,
    names: Sequence[str],
    to: str = "",
    *,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
    say=print,
) -> int:
    """Push, record, and return an exit status (EXIT_OK, EXIT_FAILED: nix copy failed); UsageError/ModelError on bad input."""
    root = Path(root)
    env = dict(os.environ if env is None else env)
    cfg = builders.load(root, env)
    dest = destination(to, cfg)
    chosen = items(root, m, names, env)
    argv = nix_copy_argv(dest, [i.store_path for i in chosen])
    shown = trust.redact(dest)  # what is printed and recorded: no ?secret-key=, no user:password@
    say(f"push: {shlex.join(trust.redact_argv(argv))}")
    if dry_run:
        say(f"push: dry run: nothing copied, nothing recorded ({len(chosen)} variant(s))")
        return EXIT_OK
    exe = shutil.which("nix", path=env.get("PATH", os.defpath))
    if exe is None:
        raise BuildMatrixError(f"`nix` is not on PATH, so nothing can be copied; {NIX_INSTALL_HINT}")
    rev, host, start, t0 = ledger.git_rev(root), ledger.host_name(), ledger.now(), time.time()
    rc: int | None = None
    try:
        rc = subprocess.run([exe, *argv[1:]], cwd=root, env=env).returncode
    except OSError as exc:
        say(f"push: could not run nix: {exc}")
    finally:
        status = "ok" if rc == 0 else ("interrupted" if rc is None and sys.exc_info()[0] is KeyboardInterrupt else "failed")
        detail = f"nix copy --to {shown}: " + ("exit 0" if rc == 0 else f"exit {rc}" if rc is not None else "did not finish")
        end = ledger.now()
        for i in chosen:
            ledger.append(
                root,
                ledger.Record(
                    variant=i.variant,
                    action="push",
                    status=status,
                    start=start,
                    end=end,
                    git_rev=rev,
                    host=host,
                    result=i.link,
                    detail=detail,
                    extra={
                        "to": shown,
                        "store_path": i.store_path,
                        "argv": trust.redact_argv(argv),
                        "exit_code": rc,
                        "duration_s": round(time.time() - t0, 1),
                    },
                ),
            )
    say(f"push: {len(chosen)} variant(s) {'copied to' if rc == 0 else 'NOT copied to'} {shown}; ledger: push={status}")
    return EXIT_OK if rc == 0 else EXIT_FAILED
