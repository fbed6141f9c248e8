"""builds.py and publish.py: session table, names, flox argv, parallelism, build runs and records, publish guards.

Flox is never really run: a fake ``flox`` executable (FAKE_FLOX below) records its
argv and environment, writes ``result-<name>`` links like flox does, and can fail,
crash (SIGKILL itself), build only the first package, or send its parent SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from buildmatrix import ledger, model
from buildmatrix.builds import flox as floxrun
from buildmatrix.builds import parallelism
from buildmatrix.builds import sessions as builds
from buildmatrix.cli import publish as publishcli
from buildmatrix.detect import host as hostinfo
from buildmatrix.errors import UsageError
from buildmatrix.publish import plain as publish

ROOT = Path(__file__).resolve().parents[1]

FAKE_FLOX = r'''#!{python}
"""Fake flox: FAKE_FLOX_LOG gets one JSON line per call; FAKE_FLOX_MODE picks the behaviour."""
import json, os, signal, sys, time
from pathlib import Path

args = sys.argv[1:]
if os.environ.get("FAKE_FLOX_LOG"):
    with open(os.environ["FAKE_FLOX_LOG"], "a") as f:
        f.write(json.dumps({{"argv": args, "cwd": os.getcwd(), "nix_config": os.environ.get("NIX_CONFIG", "")}}) + "\n")
mode = os.environ.get("FAKE_FLOX_MODE", "ok")
names = [a for a in args if a.startswith(("pytorch-", "torchvision-"))]
for i, n in enumerate(names):
    print(f"Building {{n}} in Nix expression mode", flush=True)
    if mode == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "interrupt":
        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(0.5)
        sys.exit(130)
    if mode == "term":
        os.kill(os.getppid(), signal.SIGTERM)
        time.sleep(0.5)
        sys.exit(143)
    if mode == "fail" or (mode == "partial" and i > 0):
        print(f"error: builder for '{{n}}' failed with exit code 2", file=sys.stderr, flush=True)
        sys.exit(1)
    if args[0] == "build" or "build" in args[:3]:
        store = Path(os.environ.get("FAKE_STORE", "/tmp/fake-nix-store"))
        (store / f"0000-{{n}}").mkdir(parents=True, exist_ok=True)
        link = Path(f"result-{{n}}")
        if link.is_symlink():
            link.unlink()
        link.symlink_to(store / f"0000-{{n}}")
        print(f"Completed build of {{n}} in Nix expression mode", flush=True)
    else:
        print(f"published {{n}}", flush=True)
sys.exit(0)
'''


def write_fake_flox(bindir: Path) -> Path:
    bindir.mkdir(parents=True, exist_ok=True)
    path = bindir / "flox"
    path.write_text(FAKE_FLOX.format(python=sys.executable))
    path.chmod(0o755)
    return path


def path_without_flox() -> str:
    """The current PATH minus directories holding a real flox (so 'no flox' tests hold everywhere)."""
    dirs = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(d for d in dirs if d and not (Path(d) / "flox").exists())


def fake_env(tmp_path: Path, mode: str = "ok", with_flox: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    bindir = tmp_path / "fakebin"
    if with_flox:
        write_fake_flox(bindir)
    env["PATH"] = (str(bindir) + os.pathsep if with_flox else "") + path_without_flox()
    env["FAKE_FLOX_LOG"] = str(tmp_path / "flox-calls.jsonl")
    env["FAKE_FLOX_MODE"] = mode
    env["FAKE_STORE"] = str(tmp_path / "store")
    env.pop("NIX_CONFIG", None)
    return env


def flox_calls(tmp_path: Path) -> list[dict]:
    f = tmp_path / "flox-calls.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@example.org"
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


HOST = hostinfo.host_platform()
HOST_ISA = {"x86_64-linux": "avx2", "aarch64-linux": "armv9"}.get(HOST)
needs_linux_host = pytest.mark.skipif(HOST_ISA is None, reason=f"no CPU variant for {HOST}")


def host_cpu_alias() -> str:
    return f"cpu-{HOST_ISA}"


def make_repo(tmp_path: Path, m: model.Matrix, names: list[str]) -> Path:
    """A git repo with variants.toml and (stub) recipes for ``names``, committed."""
    repo = tmp_path / "repo"
    (repo / floxrun.PKGS_DIR).mkdir(parents=True)
    shutil.copy(ROOT / "variants.toml", repo / "variants.toml")
    shutil.copytree(ROOT / "patches", repo / "patches")
    for n in names:
        (repo / floxrun.PKGS_DIR / f"{n}.nix").write_text(f"# stub recipe for {n}\n{{ }}: {{ }}\n")
    (repo / "README.md").write_text("# test repo\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


@pytest.fixture
def m(shipped) -> model.Matrix:
    return shipped


# ------------------------------------------------------------------------ session table


def test_session_table_covers_every_variant_once_aliases_first(m):
    table = builds.sessions(m)
    names = [s.name for s in table]
    assert len(names) == len(set(names))
    per_variant = [s for s in table if not s.is_alias]
    assert [s.variants[0].name for s in per_variant] == [v.name for v in m.variants]
    assert all(s.name == f"build-{s.variants[0].name}" for s in per_variant)
    first_variant = names.index(per_variant[0].name)
    assert all(s.is_alias for s in table[:first_variant]) and not any(s.is_alias for s in table[first_variant:])
    # default-CUDA aliases come before the other-CUDA ones
    kinds = ["other" if s.name.startswith("build-cuda") else "default" for s in table[:first_variant]]
    assert kinds == sorted(kinds, key=lambda k: k == "other")


def test_alias_sessions_resolve_exactly_like_the_model(m):
    for s in builds.sessions(m):
        if s.is_alias:
            assert list(s.variants) == m.resolve(s.name.removeprefix("build-")), s.name
            assert s.tags == ()


def test_build_sm120_avx_is_pytorch_and_torchvision_at_the_defaults(m):
    table = {s.name: s for s in builds.sessions(m)}
    alias = table["build-sm120-avx"]
    assert [v.name for v in alias.variants] == [
        "pytorch-python313-cuda13_0-sm120-avx",
        "torchvision-python313-cuda13_0-sm120-avx",
    ]
    assert alias.variants[1].requires == alias.variants[0].name
    assert alias.description == "pytorch+torchvision, CUDA 13.0, RTX 5090, x86_64-linux"
    one = table["build-pytorch-python313-cuda13_0-sm120-avx"]
    assert one.tags == ("pytorch", "cuda", "cuda13_0", "sm120", "avx")
    assert one.description == "RTX 5090, x86_64-linux"
    assert table["build-torchvision-python313-cpu-avx2"].tags == ("torchvision", "cpu", "avx2")
    assert table["build-pytorch-python313-cuda13_0-sm121-armv9-nightly"].tags[-1] == "nightly"


def test_other_cuda_aliases_and_model_gaps(m):
    names = {s.name for s in builds.sessions(m)}
    assert "build-cuda12_9-sm103-avx2" in names and "build-cuda13_1-sm120-avx" in names
    assert not any(n.startswith(f"build-{m.cudas[m.defaults.cuda].token}-") for n in names)  # default CUDA: plain alias
    assert "build-sm61-avx" not in names  # CUDA 13.0 dropped sm61
    assert {"build-cuda12_8-sm61-avx", "build-cuda12_9-sm61-avx"} <= names
    assert {"build-cpu-avx2", "build-darwin-mps"} <= names
    nightly = next(s for s in builds.sessions(m) if s.name == "build-sm121-armv9-nightly")
    assert [v.package.name for v in nightly.variants] == ["pytorch"]


def test_resolve_target_names_aliases_and_errors(m):
    assert [v.name for v in builds.resolve_target(m, "build-sm120-avx")] == [v.name for v in m.resolve("sm120-avx")]
    assert [v.name for v in builds.resolve_target(m, "cuda13_0-sm120-avx")] == [v.name for v in m.resolve("sm120-avx")]
    full = "torchvision-python313-cuda12_9-sm103-avx2"
    assert [v.name for v in builds.resolve_target(m, full)] == [full]
    with pytest.raises(UsageError) as typo:
        builds.resolve_target(m, "sm120-avx3")
    assert "no build target named 'sm120-avx3'" in str(typo.value) and "  build-sm120-avx\n" in str(typo.value)
    with pytest.raises(UsageError) as amb:
        builds.resolve_target(m, "sm120")
    assert "ambiguous" in str(amb.value) and "build-sm120-avx512" in str(amb.value)
    with pytest.raises(UsageError) as gap:
        builds.resolve_target(m, "sm61-avx")
    assert "no build for the default CUDA 13.0" in str(gap.value) and "build-cuda12_9-sm61-avx" in str(gap.value)


# ---------------------------------------------------------------------- argv and options


def test_flox_build_argv_is_one_call_with_variant_names(m):
    vs = m.resolve("sm120-avx")
    assert builds.flox_build_argv(vs) == [
        "flox",
        "build",
        "pytorch-python313-cuda13_0-sm120-avx",
        "torchvision-python313-cuda13_0-sm120-avx",
    ]
    assert builds.flox_build_argv(vs[:1], "unstable", ["-v", "--some-flag"]) == [
        "flox",
        "-v",
        "build",
        "--stability",
        "unstable",
        "--some-flag",
        "pytorch-python313-cuda13_0-sm120-avx",
    ]


def test_parse_build_args():
    o = builds.parse_build_args(
        ["--stability", "unstable", "--force", "--cores", "6", "-v", "--", "--weird", "x"], allow_names=False
    )
    assert (o.stability, o.force, o.cores, o.max_jobs, o.flox_args) == ("unstable", True, 6, 1, ["-v", "--weird", "x"])
    o = builds.parse_build_args(["sm120-avx", "cpu-avx2", "--dry-run"], allow_names=True)
    assert o.names == ["sm120-avx", "cpu-avx2"] and o.dry_run
    with pytest.raises(UsageError, match="--cores must be at least 1"):
        builds.parse_build_args(["--cores", "0"], allow_names=False)
    with pytest.raises(UsageError, match="invalid int value"):
        builds.parse_build_args(["--cores", "many"], allow_names=False)
    assert builds.parse_build_args(["--help"], allow_names=False).help


# ------------------------------------------------------------------------- parallelism


@pytest.mark.parametrize(
    "target,mem_gib,cpus,expected",
    [
        ("cuda", 64, 32, 7),  # (64 - 4) // 8
        ("cuda", 64, 4, 4),  # CPU-bound
        ("cuda", 16, 32, 1),  # (16 - 4) // 8
        ("cuda", 4, 32, 1),  # never below 1
        ("cuda", 512, 128, 63),
        ("cpu", 64, 32, 15),  # (64 - 4) // 4
        ("mps", 32, 12, 7),
    ],
)
def test_parallelism_rule(m, target, mem_gib, cpus, expected):
    v = next(v for v in m.variants if v.target == target)
    p = parallelism.plan_parallelism([v], mem_bytes=mem_gib * hostinfo.GIB, cpus=cpus)
    assert p.cores == expected and p.max_jobs == 1
    assert p.per_job_gib == (8 if target == "cuda" else 4)


def test_parallelism_uses_the_cuda_figure_when_any_variant_is_cuda_and_cores_overrides(m):
    cpu, cuda = m.variant("pytorch-python313-cpu-avx2"), m.variant("pytorch-python313-cuda13_0-sm120-avx")
    assert parallelism.plan_parallelism([cpu, cuda], mem_bytes=36 * hostinfo.GIB, cpus=64).cores == 4
    forced = parallelism.plan_parallelism([cuda], mem_bytes=8 * hostinfo.GIB, cpus=2, cores=12)
    assert forced.cores == 12 and "--cores 12" in forced.reason
    unknown = parallelism.plan_parallelism([cuda], mem_bytes=None, cpus=16)
    assert unknown.cores >= 1


def test_meminfo_and_nix_config():
    info = hostinfo.parse_meminfo("MemTotal:       65536000 kB\nMemAvailable:   32768000 kB\nHugePages_Total:       0\n")
    assert info["MemAvailable"] == 32768000 * 1024 and info["HugePages_Total"] == 0
    par = parallelism.Parallelism(6, 1, 8, "test")
    env, note = parallelism.nix_config_env({"PATH": "/bin"}, par)
    assert env["NIX_CONFIG"] == "cores = 6\nmax-jobs = 1" and not note
    env, note = parallelism.nix_config_env({"NIX_CONFIG": "substituters = https://x\ncores = 2"}, par)
    assert env["NIX_CONFIG"] == "substituters = https://x\ncores = 2\nmax-jobs = 1" and "cores" in note
    env, _ = parallelism.nix_config_env({"NIX_CONFIG": "cores = 2"}, par, forced=True)
    assert env["NIX_CONFIG"].endswith("cores = 6\nmax-jobs = 1")  # later lines win in Nix


@pytest.mark.parametrize(
    "machine,system,expected",
    [
        ("x86_64", "Linux", "x86_64-linux"),
        ("AMD64", "Linux", "x86_64-linux"),
        ("aarch64", "Linux", "aarch64-linux"),
        ("arm64", "Darwin", "aarch64-darwin"),
    ],
)
def test_host_platform(monkeypatch, machine, system, expected):
    monkeypatch.setattr(hostinfo.platform, "machine", lambda: machine)
    monkeypatch.setattr(hostinfo.platform, "system", lambda: system)
    assert hostinfo.host_platform() == expected


# ------------------------------------------------------------------------- build runs


@pytest.fixture
def host_repo(tmp_path, m):
    """A git repo holding (stub) recipes for this host's CPU alias (pytorch + torchvision)."""
    if HOST_ISA is None:
        pytest.skip(f"no CPU variant for {HOST}")
    names = [v.name for v in m.resolve(host_cpu_alias())]
    return make_repo(tmp_path, m, names)


def run_build(repo, m, tmp_path, mode="ok", names=None, options=None):
    variants = m.resolve(names or host_cpu_alias())
    return builds.build(repo, variants, options or builds.BuildOptions(), env=fake_env(tmp_path, mode), say=lambda *_: None)


def test_successful_build_calls_flox_once_streams_logs_and_records(host_repo, m, tmp_path, capfd):
    out = run_build(host_repo, m, tmp_path, options=builds.BuildOptions(stability="unstable", cores=3))
    assert out.ok, out.message
    names = [v.name for v in m.resolve(host_cpu_alias())]
    (call,) = flox_calls(tmp_path)
    assert call["argv"] == ["build", "--stability", "unstable", *names]
    assert call["cwd"] == str(host_repo)
    assert call["nix_config"] == "cores = 3\nmax-jobs = 1"
    assert f"Completed build of {names[1]}" in capfd.readouterr().out  # streamed to the terminal
    records = ledger.read(host_repo)
    assert [(r.variant, r.action, r.status) for r in records] == [(n, "build", "ok") for n in names]
    head = git(host_repo, "rev-parse", "HEAD")
    for r, n in zip(records, names):
        assert r.git_rev == head and r.host == ledger.host_name() and r.start <= r.end
        assert r.result == f"result-{n}" and r.extra["store_path"].endswith(f"0000-{n}")
        assert r.log == f"logs/{n}.log" and r.extra["exit_code"] == 0 and r.extra["cores"] == 3
        log = (host_repo / r.log).read_text()
        assert log.startswith("== flox build --stability unstable") and f"Completed build of {names[0]}" in log
        assert "== exit status 0" in log


@pytest.mark.parametrize(
    "mode,statuses,detail",
    [
        ("fail", ("failed", "failed"), "exit 1"),
        ("crash", ("failed", "failed"), "killed by SIGKILL"),
        ("partial", ("ok", "failed"), "exit 1"),
    ],
)
def test_failing_or_crashing_flox_is_a_failed_build(host_repo, m, tmp_path, mode, statuses, detail):
    out = run_build(host_repo, m, tmp_path, mode=mode)
    assert not out.ok and out.status == "failed" and detail in out.message
    records = ledger.read(host_repo)
    assert tuple(r.status for r in records) == statuses
    assert all(detail in r.detail for r in records)
    assert all(r.result == "" for r in records if r.status == "failed")


def test_stale_result_link_does_not_make_a_failed_build_ok(host_repo, m, tmp_path):
    assert run_build(host_repo, m, tmp_path).ok  # leaves result-* links behind
    out = run_build(host_repo, m, tmp_path, mode="fail")
    assert not out.ok
    assert [r.status for r in ledger.read(host_repo)[-2:]] == ["failed", "failed"]


def test_interrupt_records_interrupted_and_propagates(host_repo, m, tmp_path, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(floxrun, "run_streamed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_build(host_repo, m, tmp_path)
    assert [r.status for r in ledger.read(host_repo)] == ["interrupted", "interrupted"]


def test_sigterm_during_a_build_is_recorded_as_interrupted(host_repo, m, tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):  # floxrun.Interrupted
        run_build(host_repo, m, tmp_path, mode="term")
    assert signal.getsignal(signal.SIGTERM) == before  # handler restored
    assert [r.status for r in ledger.read(host_repo)] == ["interrupted", "interrupted"]


def test_exit_status_mapping():
    assert floxrun.describe_exit(0) == ("ok", "exit 0")
    assert floxrun.describe_exit(2)[0] == "failed"
    assert floxrun.describe_exit(-signal.SIGKILL)[0] == "failed"
    assert floxrun.describe_exit(-signal.SIGINT)[0] == "interrupted"
    assert floxrun.describe_exit(130)[0] == "interrupted"
    assert floxrun.describe_exit(None)[0] == "interrupted"


def test_refusals_build_and_record_nothing(tmp_path, m):
    foreign = next(v for v in m.variants if v.platform != HOST)
    repo = make_repo(tmp_path, m, [foreign.name])
    out = builds.build(repo, [foreign], builds.BuildOptions(), env=fake_env(tmp_path), say=lambda *_: None)
    assert out.status == "refused" and f"this host is {HOST}" in out.message and "--force" in out.message
    assert flox_calls(tmp_path) == [] and ledger.read(repo) == []
    # --force builds it anyway, and says so in the record
    out = builds.build(repo, [foreign], builds.BuildOptions(force=True), env=fake_env(tmp_path), say=lambda *_: None)
    assert out.ok and len(flox_calls(tmp_path)) == 1 and ledger.read(repo)[0].extra["forced"] is True


def test_missing_flox_says_how_to_install(host_repo, m, tmp_path):
    out = builds.build(
        host_repo,
        m.resolve(host_cpu_alias()),
        builds.BuildOptions(),
        env=fake_env(tmp_path, with_flox=False),
        say=lambda *_: None,
    )
    assert out.status == "refused" and "`flox` is not installed" in out.message and floxrun.FLOX_INSTALL_URL in out.message
    assert ledger.read(host_repo) == []


def test_missing_or_untracked_recipes_are_refused(tmp_path, m):
    if HOST_ISA is None:
        pytest.skip(f"no CPU variant for {HOST}")
    vs = m.resolve(host_cpu_alias())
    repo = make_repo(tmp_path, m, [vs[0].name])
    out = builds.build(repo, vs, builds.BuildOptions(), env=fake_env(tmp_path), say=lambda *_: None)
    assert out.status == "refused" and "invoke gen" in out.message
    (repo / floxrun.PKGS_DIR / f"{vs[1].name}.nix").write_text("{ }: { }\n")
    out = builds.build(repo, vs, builds.BuildOptions(), env=fake_env(tmp_path), say=lambda *_: None)
    assert out.status == "refused" and "git add" in out.message and vs[1].name in out.message
    assert flox_calls(tmp_path) == []


def test_dry_run_prints_and_builds_nothing(host_repo, m, tmp_path):
    said = []
    out = builds.build(
        host_repo, m.resolve(host_cpu_alias()), builds.BuildOptions(dry_run=True), env=fake_env(tmp_path), say=said.append
    )
    assert out.ok and flox_calls(tmp_path) == [] and ledger.read(host_repo) == []
    text = "\n".join(said)
    names = [v.name for v in m.resolve(host_cpu_alias())]
    assert f"command:     flox build {' '.join(names)}" in text and "cores=" in text and "NIX_CONFIG:  'cores = " in text
    for n in names:
        assert f"recipe:      .flox/pkgs/{n}.nix" in text and f"logs/{n}.log" in text
    assert "not known from a dry run: " in text and "flox is not installed" not in text


def test_dry_run_needs_no_flox_and_says_what_it_cannot_know(host_repo, m, tmp_path):
    env = dict(fake_env(tmp_path), PATH=os.defpath)  # no fake flox, no real one
    said = []
    out = builds.build(host_repo, m.resolve(host_cpu_alias()), builds.BuildOptions(dry_run=True), env=env, say=said.append)
    assert out.ok, out.message
    assert "flox is not installed here" in "\n".join(said) and ledger.read(host_repo) == []
    foreign = next(v for v in m.variants if v.platform != hostinfo.host_platform() and v.target == "cpu")
    out = builds.build(host_repo, [foreign], builds.BuildOptions(dry_run=True), env=env, say=lambda *_: None)
    assert out.status == "refused" and "a real build would refuse" in out.message


def test_source_rev_ignores_the_ledger_and_markdown(host_repo):
    head = git(host_repo, "rev-parse", "HEAD")
    assert ledger.git_rev(host_repo) == head
    ledger.append(host_repo, ledger.Record("x", "build", "ok", "a", "b", head, "h"))
    git(host_repo, "add", "ledger")
    git(host_repo, "commit", "-qm", "ledger")
    head = git(host_repo, "rev-parse", "HEAD")
    ledger.append(host_repo, ledger.Record("x", "build", "ok", "a", "b", head, "h"))  # uncommitted ledger change
    (host_repo / "README.md").write_text("# changed\n")
    assert ledger.git_rev(host_repo) == head
    (host_repo / "variants.toml").write_text((host_repo / "variants.toml").read_text() + "\n# edit\n")
    assert ledger.git_rev(host_repo) == head + "-dirty"


# ----------------------------------------------------------------------------- publish


@pytest.fixture
def pub(tmp_path, m):
    """A pushed clone (origin = a bare repo) with recipes for this host's CPU alias."""
    if HOST_ISA is None:
        pytest.skip(f"no CPU variant for {HOST}")
    names = [v.name for v in m.resolve(host_cpu_alias())]
    repo = make_repo(tmp_path, m, names)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


def add_record(
    repo: Path, variant: str, action: str, status: str = "ok", rev: str | None = None, result: str = "", store: str = ""
) -> None:
    rev = rev or git(repo, "rev-parse", "HEAD")
    extra = {"store_path": store} if store else {}
    ledger.append(
        repo, ledger.Record(variant, action, status, ledger.now(), ledger.now(), rev, "host", result=result, extra=extra)
    )


def commit_ledger(repo: Path, message: str = "ledger", push: bool = True) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    if push:
        git(repo, "push", "-q")


def run_publish(repo, tmp_path, monkeypatch, capsys, mode="ok", with_flox=True, **kw):
    env = fake_env(tmp_path, mode, with_flox)
    for k in ("PATH", "FAKE_FLOX_LOG", "FAKE_FLOX_MODE", "FAKE_STORE"):
        monkeypatch.setenv(k, env[k])
    args = dict(stability="", no_smoke_required=False)
    args.update(kw)
    rc = publishcli.cmd_publish(repo, repo / "variants.toml", host_cpu_alias(), "myorg", **args)
    out = capsys.readouterr()
    return rc, out.out + out.err


def build_and_smoke(repo: Path, m: model.Matrix, smoke: bool = True) -> list[str]:
    names = [v.name for v in m.resolve(host_cpu_alias())]
    for n in names:
        store = f"/nix/store/{'0' * 32}-{n}"
        add_record(repo, n, "build", result=f"result-{n}", store=store)
        if smoke:
            add_record(repo, n, "smoke", result=store)
    commit_ledger(repo)
    return names


def test_publish_happy_path_calls_flox_publish_per_variant_and_records(pub, m, tmp_path, monkeypatch, capsys):
    names = build_and_smoke(pub, m)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys, stability="unstable")
    assert rc == 0, out
    assert [c["argv"] for c in flox_calls(tmp_path)] == [["publish", "-o", "myorg", "--stability", "unstable", n] for n in names]
    assert [(r.variant, r.action, r.status) for r in ledger.read(pub)[-2:]] == [(n, "publish", "ok") for n in names]
    assert "only ledger/ or *.md changed since" in out  # records made one commit before the ledger commit


def test_publish_refuses_without_build_records(pub, m, tmp_path, monkeypatch, capsys):
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "no build record" in out and f"nox -s build-{host_cpu_alias()}" in out
    assert "nothing was published" in out and flox_calls(tmp_path) == []


def test_publish_requires_smoke_unless_told_not_to(pub, m, tmp_path, monkeypatch, capsys):
    build_and_smoke(pub, m, smoke=False)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "FAIL  smoke" in out and "no smoke record" in out and "--no-smoke-required" in out
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys, no_smoke_required=True)
    assert rc == 0, out


def test_skipped_smoke_does_not_count(pub, m, tmp_path, monkeypatch, capsys):
    for n in build_and_smoke(pub, m, smoke=False):
        add_record(pub, n, "smoke", status="skipped")
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "the newest smoke at this source is skipped" in out


def test_smoke_with_overridden_expectations_does_not_count(pub, m, tmp_path, monkeypatch, capsys):
    for n in build_and_smoke(pub, m, smoke=False):
        head = git(pub, "rev-parse", "HEAD")
        ledger.append(
            pub, ledger.Record(n, "smoke", "ok", ledger.now(), ledger.now(), head, "h", extra={"overridden": {"torch": {}}})
        )
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "overridden expectations" in out


def test_publish_refuses_a_dirty_tree(pub, m, tmp_path, monkeypatch, capsys):
    build_and_smoke(pub, m)
    (pub / "variants.toml").write_text((pub / "variants.toml").read_text() + "\n# local edit\n")
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "FAIL  tracked files clean: modified: variants.toml" in out and "git stash" in out
    assert flox_calls(tmp_path) == []


def test_publish_refuses_unpushed_head_and_missing_upstream(pub, m, tmp_path, monkeypatch, capsys):
    build_and_smoke(pub, m)
    (pub / "notes.txt").write_text("x\n")
    commit_ledger(pub, "local only", push=False)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "FAIL  HEAD pushed" in out and "`git push`" in out
    git(pub, "switch", "-q", "-c", "topic")
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "topic has no upstream" in out and "git push -u origin topic" in out
    git(pub, "switch", "-q", "--detach")
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "detached HEAD" in out


def test_records_from_a_dirty_tree_or_older_source_do_not_count(pub, m, tmp_path, monkeypatch, capsys):
    names = [v.name for v in m.resolve(host_cpu_alias())]
    head = git(pub, "rev-parse", "HEAD")
    for n in names:
        add_record(pub, n, "build", rev=head + "-dirty")
        add_record(pub, n, "smoke", rev=head + "-dirty")
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "uncommitted changes" in out
    # ok records at HEAD, then a recipe changes: they no longer describe HEAD
    build_and_smoke(pub, m)
    recipe = pub / floxrun.PKGS_DIR / f"{names[0]}.nix"
    recipe.write_text(recipe.read_text() + "# changed\n")
    commit_ledger(pub, "recipe change")
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and f"{floxrun.PKGS_DIR}/{names[0]}.nix changed" in out


def test_newest_record_at_this_source_must_be_ok(pub, m, tmp_path, monkeypatch, capsys):
    names = build_and_smoke(pub, m)
    add_record(pub, names[0], "build", status="failed")
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "the newest build at this source is failed" in out


def _built_in_store(repo: Path, names: list[str]) -> list[str]:
    """An ok build record at HEAD for each name, whose output is /nix/store/aaa-<name>; the names."""
    head = git(repo, "rev-parse", "HEAD")
    for n in names:
        ledger.append(
            repo,
            ledger.Record(n, "build", "ok", ledger.now(), ledger.now(), head, "h", extra={"store_path": f"/nix/store/aaa-{n}"}),
        )
    return names


def test_smoke_of_another_store_path_does_not_count(pub, m, tmp_path, monkeypatch, capsys):
    names = [v.name for v in m.resolve(host_cpu_alias())]
    for n in _built_in_store(pub, names):
        add_record(pub, n, "smoke", result=f"/nix/store/bbb-{n}")
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "the smoke test ran /nix/store/bbb-" in out


def test_a_smoke_record_without_the_builds_store_path_does_not_count(pub, m, tmp_path, monkeypatch, capsys):
    """A forged smoke record (no result path, or one the build did not make) proves nothing about the build."""
    names = [v.name for v in m.resolve(host_cpu_alias())]
    for n in _built_in_store(pub, names):
        add_record(pub, n, "smoke")  # no result at all
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "FAIL  smoke" in out and "names no store path" in out, out
    for n in names:
        add_record(pub, n, "smoke", result=f"/home/x/python-{n}")  # an interpreter, not the build's output
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and f"the smoke test ran /home/x/python-{names[0]}, the build made /nix/store/aaa-" in out, out
    # a build record with no store path cannot be matched by any smoke record
    for n in names:
        add_record(pub, n, "build")
        add_record(pub, n, "smoke", result=f"/nix/store/aaa-{n}")
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys)
    assert rc == 1 and "the build record names no store path" in out, out
    assert flox_calls(tmp_path) == []


def test_publish_without_flox_and_failing_publish(pub, m, tmp_path, monkeypatch, capsys):
    names = build_and_smoke(pub, m)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys, with_flox=False)
    assert rc == 1 and "FAIL  flox installed" in out and floxrun.FLOX_INSTALL_URL in out
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys, mode="fail")
    assert rc == 1 and "Later variants were not published" in out
    assert len(flox_calls(tmp_path)) == 1  # stopped after the first variant
    last = ledger.read(pub)[-1]
    assert (last.variant, last.action, last.status) == (names[0], "publish", "failed")


def test_publish_check_only_and_bad_input(pub, m, tmp_path, monkeypatch, capsys):
    build_and_smoke(pub, m)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys, check_only=True)
    assert rc == 0 and "nothing published" in out and flox_calls(tmp_path) == []
    assert publishcli.cmd_publish(pub, pub / "variants.toml", "sm120-avx3", "myorg") == 2
    assert publishcli.cmd_publish(pub, pub / "variants.toml", host_cpu_alias(), "") == 2


def test_plain_publish_dry_run_prints_guards_and_commands_and_publishes_nothing(pub, m, tmp_path, monkeypatch, capsys):
    """`--dry-run` means the same on the plain publish as with --as-anchor: the plan, exit 0, nothing changed."""
    names = build_and_smoke(pub, m)
    before = ledger.read(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys, dry_run=True)
    assert rc == 0 and flox_calls(tmp_path) == [] and ledger.read(pub) == before
    for n in names:
        assert f"would run: flox publish -o myorg {n}" in out
    assert "dry run: nothing was published; all guards hold" in out
    add_record(pub, names[0], "build", status="failed")
    commit_ledger(pub)
    rc, out = run_publish(pub, tmp_path, monkeypatch, capsys, dry_run=True)
    assert rc == 0 and "FAIL" in out and "guard(s) fail now: a real run would stop there" in out and flox_calls(tmp_path) == []
    assert publishcli.cmd_publish(pub, pub / "variants.toml", names[0], "myorg", check_only=True, dry_run=True) == 2


def test_publish_refuses_a_foreign_platform(pub, m, tmp_path, monkeypatch, capsys):
    foreign = next(v for v in m.variants if v.platform != HOST)
    monkeypatch.setenv("PATH", fake_env(tmp_path)["PATH"])
    rc = publishcli.cmd_publish(pub, pub / "variants.toml", foreign.name, "myorg", no_smoke_required=True)
    out = capsys.readouterr().out
    assert rc == 1 and f"FAIL  host can build it: this host is {HOST}" in out


def test_guards_outside_git(tmp_path, m):
    guards = publish.check_guards(tmp_path, m, m.resolve("cpu-avx2"), env={"PATH": ""})
    assert [g.name for g in guards][-1] == "git repository" and not guards[-1].ok
