"""`kill -9` during `invoke gen` and `invoke docs`: no torn file, no debris in `git status`, the next run sweeps.

Each run starts from a scratch copy of the repository (a git repository of its own)
whose recipes and generated doc regions are all out of date, so the command rewrites
every one of them; it is killed with SIGKILL at a random moment of its run.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from buildmatrix import atomic, model, recipes
from buildmatrix.docs import BEGIN_RE

ROOT = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"
KILLS = 8
REGION = re.compile(r"(<!-- BEGIN GENERATED: ([a-z0-9-]+) -->\n)(.*?)(<!-- END GENERATED: \2 -->)", re.S)


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid"}
    env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t.invalid")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if not INVOKE.exists() or not shutil.which("git"):
        pytest.skip("needs invoke in the test environment and git")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\n")
    dest = tmp_path / "repo"
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "scratch")
    return dest


def _outdate(repo: Path) -> dict[str, str]:
    """Make every recipe and every generated doc region stale; return the recipes' stale text."""
    stale = {}
    for p in (repo / recipes.PKGS_DIR).glob("*.nix"):
        text = recipes.MARKER + " stale\n"
        p.write_text(text)
        stale[p.name] = text
    for p in [repo / "README.md", *(repo / "docs").glob("*.md")]:
        text = p.read_text()
        if BEGIN_RE.search(text):
            p.write_text(REGION.sub(lambda m: m.group(1) + "STALE-REGION\n" + m.group(4), text))
    return stale


def _run_and_kill(repo: Path, command: str, after_s: float) -> bool:
    """Start `invoke COMMAND`, SIGKILL it after ``after_s``; True if it was still running."""
    proc = subprocess.Popen([str(INVOKE), command], cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after_s)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return alive


def _outputs(repo: Path, command: str) -> list[Path]:
    if command == "gen":
        return sorted((repo / recipes.PKGS_DIR).glob("*.nix"))
    return [p for p in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))] if BEGIN_RE.search(p.read_text())]


def _write_window(repo: Path, command: str) -> tuple[float, float]:
    """When, after the start, a complete run from stale files writes its first and its last file."""
    _outdate(repo)
    start = time.time()
    subprocess.run([str(INVOKE), command], cwd=repo, check=True, capture_output=True)
    mtimes = [p.stat().st_mtime - start for p in _outputs(repo, command)]
    return max(0.0, min(mtimes)), max(mtimes)


def _debris(repo: Path) -> list[Path]:
    return [p for p in repo.rglob("*.tmp") if ".git" not in p.parts]


def _porcelain_tmp(repo: Path) -> list[str]:
    return [line for line in _git(repo, "status", "--porcelain", "--untracked-files=all").splitlines() if ".tmp" in line]


@pytest.mark.parametrize("command", ["gen", "docs"])
def test_kill_9_leaves_no_torn_file_and_no_debris(repo, command):
    m = model.load(repo / "variants.toml")
    expected = recipes.render_all(m)
    first, last = _write_window(repo, command)
    rng = random.Random(f"kill-{command}")
    killed_mid_run = 0
    for _ in range(KILLS):
        stale = _outdate(repo)
        before = {p: p.read_text() for p in _outputs(repo, command)}
        killed_mid_run += _run_and_kill(repo, command, rng.uniform(first, last + 0.05))
        # No file is torn: each recipe is the stale text or exactly the new one.
        for name, old in stale.items():
            text = (repo / recipes.PKGS_DIR / name).read_text()
            assert text in (old, expected[name]), name
        for p, old in before.items():
            text = p.read_text()
            assert text == old or text.count("STALE-REGION\n") == 0, p
            assert text.count("<!-- END GENERATED") == text.count("<!-- BEGIN GENERATED"), p
        # Whatever the kill left behind, git does not show it.
        assert _porcelain_tmp(repo) == []
    assert killed_mid_run, "no run was killed while it was running; the test proved nothing"
    # The next complete run removes whatever temp files the killed ones left.
    dead = subprocess.Popen(["true"])
    dead.wait()
    swept = repo / (recipes.PKGS_DIR if command == "gen" else "docs")
    planted = [
        swept / f"{atomic.PREFIX}{dead.pid}.{'0' * 16}{atomic.SUFFIX}",
        swept / (".pytorch-python313-cpu-avx2.nix.abcd1234.tmp" if command == "gen" else ".variants.md.abcd1234.tmp"),
    ]
    for p in planted:  # what a killed run leaves (the second name: what earlier versions left)
        p.write_text("debris")
    _outdate(repo)
    subprocess.run([str(INVOKE), command], cwd=repo, check=True, capture_output=True)
    assert _debris(repo) == []
    assert _porcelain_tmp(repo) == []
    if command == "gen":
        assert all((repo / recipes.PKGS_DIR / n).read_text() == t for n, t in expected.items())


def test_a_live_writers_temp_file_is_left_alone(tmp_path):
    live = tmp_path / f"{atomic.PREFIX}{os.getppid()}.{'2' * 16}{atomic.SUFFIX}"
    dead_proc = subprocess.Popen(["true"])
    dead_proc.wait()
    dead = tmp_path / f"{atomic.PREFIX}{dead_proc.pid}.{'3' * 16}{atomic.SUFFIX}"
    other = tmp_path / "notes.tmp"
    for p in (live, dead, other):
        p.write_text("x")
    assert atomic.sweep(tmp_path) == [dead.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
