"""noxfile.py end to end: `nox -l` (shape, tags, speed) and sessions run against fakes.

Listing runs in the real repository (read-only). Everything that runs a session works
in a copy of the repository in tmp_path (its own git repo, ledger/ and logs/), with a
fake `flox` (see test_builds.FAKE_FLOX) and, for eval/smoke/checks, fake modules or
executables that record how they were called.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from buildmatrix import ledger, model
from buildmatrix.builds import flox as floxrun
from buildmatrix.builds import sessions as builds
from buildmatrix.model import hashes
from test_builds import HOST, HOST_ISA, fake_env, flox_calls, git

ROOT = Path(__file__).resolve().parents[1]
NOX = [sys.executable, "-m", "nox"]


def nox(cwd: Path, *args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*NOX, "-f", str(cwd / "noxfile.py"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def listing(cwd: Path, *args: str) -> list[tuple[str, str, str]]:
    """(marker, name, rest) for every session line of `nox -l`."""
    proc = nox(cwd, "-l", *args)
    assert proc.returncode == 0, proc.stderr
    return [(m[1], m[2], m[3]) for m in re.finditer(r"^([*-]) (\S+)(.*)$", proc.stdout, re.MULTILINE)]


@pytest.fixture(scope="module")
def table():
    return builds.sessions(model.load(ROOT / "variants.toml"))


# ------------------------------------------------------------------------------ listing


def test_nox_list_shape_comes_from_the_model(table):
    lines = listing(ROOT)
    names = [n for _, n, _ in lines]
    assert names[:7] == ["lint", "tests", "gen-check", "docs-check", "eval", "smoke", "build"]
    assert names[7:] == [s.name for s in table]
    selected = {n for marker, n, _ in lines if marker == "*"}
    assert selected == {"lint", "tests", "gen-check", "docs-check"}  # plain `nox` never builds
    rest = dict((n, r) for _, n, r in lines)
    assert rest["build-sm120-avx"] == " -> pytorch+torchvision, CUDA 13.0, RTX 5090, x86_64-linux"
    assert rest["build-pytorch-python313-cuda13_0-sm120-avx"] == " [pytorch,cuda,cuda13_0,sm120,avx] -> RTX 5090, x86_64-linux"


def test_tags_and_keywords_select_per_variant_builds(table):
    """`nox -t` / `-k` select exactly the per-variant sessions the model tags (any variants.toml)."""
    gpu_sessions = [s for s in table if not s.is_alias and s.variants[0].gpu is not None]
    if not gpu_sessions:
        pytest.skip("no GPU variant in this variants.toml")
    v = gpu_sessions[len(gpu_sessions) // 2].variants[0]
    cuda, gpu, isa = v.cuda.token, v.gpu.name, v.isa.name
    selected = {n for marker, n, _ in listing(ROOT, "-t", cuda) if marker == "*"}
    assert selected == {s.name for s in table if cuda in s.tags}
    assert all(not s.is_alias for s in table if s.name in selected) and f"build-{v.name}" in selected
    # -k is nox's substring expression over session names; -t the tags: both at once
    selected = {n for marker, n, _ in listing(ROOT, "-t", gpu, "-k", f"{cuda} and {isa}") if marker == "*"}
    assert selected == {s.name for s in table if gpu in s.tags and cuda in s.name and isa in s.name}
    assert f"build-{v.name}" in selected


# ----------------------------------------------------------------------- running builds


@pytest.fixture
def tree(tmp_path):
    """A copy of the repository (git repo, one commit) to run sessions in."""
    dst = tmp_path / "tree"
    dst.mkdir()
    for name in ("variants.toml", "noxfile.py", "tasks.py", "pyproject.toml"):
        shutil.copy(ROOT / name, dst / name)
    for name in ("patches", "scripts", ".flox/pkgs"):
        shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    git(dst, "init", "-q", "-b", "main")
    git(dst, "add", "-A")
    git(dst, "commit", "-qm", "copy")
    return dst


def test_build_alias_calls_flox_once_with_both_packages(tree, tmp_path):
    if HOST != "x86_64-linux":
        pytest.skip("build-sm120-avx is an x86_64-linux variant")
    real_ledger = ROOT / ledger.LEDGER
    before = real_ledger.read_bytes() if real_ledger.exists() else None
    proc = nox(tree, "-s", "build-sm120-avx", "--", "--stability", "unstable", env=fake_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = ["pytorch-python313-cuda13_0-sm120-avx", "torchvision-python313-cuda13_0-sm120-avx"]
    (call,) = flox_calls(tmp_path)
    assert call["argv"] == ["build", "--stability", "unstable", *names]
    assert re.fullmatch(r"cores = \d+\nmax-jobs = 1", call["nix_config"])
    assert f"Completed build of {names[1]}" in proc.stdout  # flox output streamed
    # one line about what it fetches unverified, pointing to the command that records the hash
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if "unverified" in line]
    m = model.load(tree / "variants.toml")
    if any(n in hashes.unverified(m) for n in names):
        assert len(said) == 1 and "invoke observe" in said[0] and "#unverified-fetches" in said[0], said
    else:
        assert said == []
    assert [(r.variant, r.action, r.status) for r in ledger.read(tree)] == [(n, "build", "ok") for n in names]
    for n in names:
        assert "Completed build of" in (tree / "logs" / f"{n}.log").read_text()
        assert (tree / f"result-{n}").is_symlink()
    assert (real_ledger.read_bytes() if real_ledger.exists() else None) == before  # only the copy's ledger was written


@pytest.mark.parametrize("mode,status", [("fail", "failed"), ("crash", "failed"), ("interrupt", "interrupted")])
def test_failing_crashing_or_interrupted_flox_fails_the_session(tree, tmp_path, mode, status):
    if HOST_ISA is None:
        pytest.skip(f"no CPU variant for {HOST}")
    session = f"build-cpu-{HOST_ISA}"
    proc = nox(tree, "-s", session, env=fake_env(tmp_path, mode))
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert [r.status for r in ledger.read(tree)] == [status, status]
    assert "was successful" not in proc.stderr


def test_platform_refusal_and_force(tree, tmp_path, table):
    foreign = next(s for s in table if not s.is_alias and s.variants[0].platform != HOST)
    proc = nox(tree, "-s", foreign.name, env=fake_env(tmp_path))
    assert proc.returncode != 0 and f"this host is {HOST}" in proc.stderr and "--force" in proc.stderr
    assert flox_calls(tmp_path) == [] and ledger.read(tree) == []
    proc = nox(tree, "-s", foreign.name, "--", "--force", "--cores", "2", env=fake_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (call,) = flox_calls(tmp_path)
    assert call["argv"] == ["build", foreign.variants[0].name] and call["nix_config"] == "cores = 2\nmax-jobs = 1"


def test_unknown_alias_lists_candidates_in_both_spellings(tree, tmp_path):
    env = fake_env(tmp_path)
    for args in (["-s", "build-sm120-avx3"], ["-s", "build", "--", "sm120-avx3"]):
        proc = nox(tree, *args, env=env)
        assert proc.returncode != 0
        assert "no build target named" in proc.stderr and "build-sm120-avx\n" in proc.stderr, proc.stderr
    proc = nox(tree, "-s", "build", "--", "sm120", env=env)
    assert proc.returncode != 0 and "ambiguous" in proc.stderr
    assert flox_calls(tmp_path) == []


def test_build_session_takes_names_and_default_cuda_spelled_out(tree, tmp_path):
    if HOST != "x86_64-linux":
        pytest.skip("x86_64-linux variants")
    env = fake_env(tmp_path)
    proc = nox(tree, "-s", "build", "--", "sm120-avx", "cpu-avx2", "-v", env=env)
    assert proc.returncode == 0, proc.stderr
    proc = nox(tree, "-s", "build-cuda13_0-sm120-avx", env=env)  # not listed, still resolved
    assert proc.returncode == 0, proc.stderr
    first, second = (c["argv"] for c in flox_calls(tmp_path))
    assert first == [
        "-v",
        "build",
        "pytorch-python313-cuda13_0-sm120-avx",
        "torchvision-python313-cuda13_0-sm120-avx",
        "pytorch-python313-cpu-avx2",
        "torchvision-python313-cpu-avx2",
    ]
    assert second == ["build", "pytorch-python313-cuda13_0-sm120-avx", "torchvision-python313-cuda13_0-sm120-avx"]


def test_missing_flox_fails_with_install_pointer(tree, tmp_path):
    proc = nox(tree, "-s", "build-pytorch-python313-cpu-avx2", env=fake_env(tmp_path, with_flox=False))
    assert proc.returncode != 0 and "`flox` is not installed" in proc.stderr and floxrun.FLOX_INSTALL_URL in proc.stderr


# ---------------------------------------------------------------- eval, smoke and checks

FAKE_MODULE = """import json, os, sys
with open(os.environ["FAKE_MODULE_LOG"], "a") as f:
    f.write(json.dumps({"module": __spec__.name.removesuffix(".__main__"), "argv": sys.argv[1:]}) + "\\n")
sys.exit(int(os.environ.get("FAKE_MODULE_RC", "0")))
"""


@pytest.mark.parametrize("rc,outcome", [(0, "was successful"), (77, "skipped"), (1, "aborted")])
def test_smoke_and_eval_run_their_modules(tree, tmp_path, rc, outcome):
    for mod in ("smoke", "nixeval"):  # packages since the subpackage split: their __main__ is what -m runs
        (tree / "scripts" / "buildmatrix" / mod / "__main__.py").write_text(FAKE_MODULE)
    env = {**os.environ, "FAKE_MODULE_LOG": str(tmp_path / "modules.jsonl"), "FAKE_MODULE_RC": str(rc)}
    proc = nox(tree, "-s", "smoke", "--", "--variant", "pytorch-python313-cpu-avx2", "--python", "/usr/bin/python3", env=env)
    assert (proc.returncode == 0) == (rc != 1) and f"Session smoke {outcome}" in proc.stderr, proc.stderr
    proc = nox(tree, "-s", "eval", env=env)
    assert f"Session eval {outcome}" in proc.stderr
    proc = nox(tree, "-s", "smoke", "--", "--no-record", env=env)
    calls = [json.loads(line) for line in (tmp_path / "modules.jsonl").read_text().splitlines()]
    assert calls[2:] == [{"module": "buildmatrix.smoke", "argv": []}]
    assert calls[:2] == [
        {
            "module": "buildmatrix.smoke",
            "argv": ["--variant", "pytorch-python313-cpu-avx2", "--python", "/usr/bin/python3", "--record"],
        },
        {"module": "buildmatrix.nixeval", "argv": []},
    ]


FAKE_TOOL = """#!{python}
import json, os, sys
with open(os.environ["FAKE_TOOL_LOG"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""


def test_check_sessions_run_the_right_commands(tree, tmp_path):
    bindir = tmp_path / "tools"
    bindir.mkdir()
    for tool in ("invoke", "ruff", "python"):
        (bindir / tool).write_text(FAKE_TOOL.format(python=sys.executable))
        (bindir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "FAKE_TOOL_LOG": str(tmp_path / "tools.jsonl")}
    proc = nox(tree, "--no-venv", env=env)  # the default sessions, without virtualenvs
    assert proc.returncode == 0, proc.stderr
    calls = [json.loads(line) for line in (tmp_path / "tools.jsonl").read_text().splitlines()]
    assert calls == [
        ["ruff", "check", "."],
        ["python", "-m", "pytest"],
        ["invoke", "gen", "--check"],
        ["invoke", "docs", "--check"],
    ]
