"""A temporary clone of this working tree, with a fake ``flox`` and this interpreter's virtualenv, for tests
that run the maintainer's commands exactly as the docs print them (test_doc_commands, test_maintainer_loop).

The clone is the working tree as it is now (tracked and untracked-but-not-ignored files),
committed once, so ``git status`` in it starts clean and a build finds its recipes
tracked. ``.venv`` in the clone links to the virtualenv running the tests. The fake flox
(tests/test_builds.py) writes ``result-<name>`` links into a fake store outside the clone;
there is no GPU and no network. ``reset()`` puts the clone back to that first commit and
deletes everything else, ignored files included (logs, results, the local ledger).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from test_builds import path_without_flox, write_fake_flox

ROOT = Path(__file__).resolve().parents[1]
INNER = "BUILDMATRIX_INNER_RUN"  # set for a pytest run inside a clone: the clone tests do not recurse
GIT_ID = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t"}
GIT_ID["GIT_COMMITTER_EMAIL"] = "t@example.invalid"


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ID}, capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


@dataclass
class Result:
    command: str
    returncode: int
    output: str

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


class Clone:
    def __init__(self, base: Path):
        self.root = base / "clone"
        self.aux = base / "aux"  # fake store, flox call log: outside the clone
        files = [f for f in _git(ROOT, "ls-files", "-co", "--exclude-standard", "-z").split("\0") if f]
        for rel in files:
            src = ROOT / rel
            if src.is_file() or src.is_symlink():
                dest = self.root / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest, follow_symlinks=False)
        (self.root / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        _git(self.root, "init", "-q", "-b", "main")
        (self.root / ".git" / "info" / "exclude").write_text(".venv\n", encoding="utf-8")  # a link, not the dir .gitignore names
        _git(self.root, "add", "-A")
        _git(self.root, "commit", "-qm", "clone of the working tree")
        self.bindir = self.aux / "bin"
        write_fake_flox(self.bindir)
        self.env = {k: v for k, v in os.environ.items() if k not in ("NOXSESSION", "NIX_CONFIG", "PYTHONPATH", "VIRTUAL_ENV")}
        venv_bin = str(Path(sys.executable).parent)
        self.env.update(GIT_ID)
        self.env.update(
            PATH=os.pathsep.join([str(self.bindir), venv_bin, path_without_flox()]),
            PYTHONPATH=str(self.root / "scripts"),  # `python -m buildmatrix.…` runs the clone's code
            FAKE_STORE=str(self.aux / "store"),
            FAKE_FLOX_LOG=str(self.aux / "flox-calls.jsonl"),
            FAKE_FLOX_MODE="ok",
            **{INNER: "1"},
        )

    def run(self, command: str, timeout: float = 300) -> Result:
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return Result(command, proc.returncode, proc.stdout)

    def reset(self) -> None:
        _git(self.root, "reset", "-q", "--hard")
        _git(self.root, "clean", "-qfdx", "-e", ".venv")

    def status(self) -> str:
        return _git(self.root, "status", "--porcelain")
