"""Everything that talks to other machines treats its input as untrusted: the builders file, build-costs.toml,
the NIX_CONFIG a build gets, what is printed, logged and recorded (secrets redacted), and the options that
name other systems (--to, --org, --builders, --tags/--keyword)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from buildmatrix import ledger
from buildmatrix.builds import builders, parallelism, trust
from buildmatrix.builds import sessions as builds
from buildmatrix.cli import ci as cicli
from buildmatrix.cli import plan as plancli
from buildmatrix.cli import publish as publishcli
from buildmatrix.cli import push as pushcli
from buildmatrix.errors import ModelError
from buildmatrix.plan import cost
from buildmatrix.publish import push
from test_builds import HOST_ISA, fake_env, flox_calls, git, host_cpu_alias, make_repo
from test_push import calls, setup  # noqa: F401  (setup: a fixture)

ROOT = Path(__file__).resolve().parents[1]
BUILDER = 'uri = "ssh://nix@big"\nsystems = ["x86_64-linux"]\n'


def _problems(text: str, tmp_path: Path) -> str:
    with pytest.raises(ModelError) as exc:
        builders.parse(text, tmp_path / "b.toml")
    return str(exc.value)


# ------------------------------------------------------------------ 1. builders file, build-costs.toml


def test_the_include_injection_through_a_trailing_newline_is_refused(tmp_path):
    text = (
        "[[builder]]\n" + BUILDER + 'supported-features = ["big-parallel\\n"]\nmandatory-features = ["include"]\n'
        'public-host-key = "/path/evil.conf #"\n'
    )
    msg = _problems(text, tmp_path)
    assert f"{tmp_path / 'b.toml'}:4: builder[0].supported-features[0]:" in msg
    assert f"{tmp_path / 'b.toml'}:6: builder[0].public-host-key:" in msg
    assert "fix:" in msg


@pytest.mark.parametrize(
    "line, key",
    [
        ('uri = "ssh://a@b;ssh://evil"', "uri"),
        ('uri = "ssh://a@b #x"', "uri"),
        ('uri = "ssh://a@b\\n"', "uri"),
        ('ssh-key = "/k\\ninclude /evil"', "ssh-key"),
        ('ssh-key = "/k k"', "ssh-key"),
        ('public-host-key = "c3No\\n"', "public-host-key"),
        ('public-host-key = "c3No#"', "public-host-key"),
        ("max-jobs = 12345678901234567890123", "max-jobs"),
        ("speed-factor = 100000000", "speed-factor"),
        ('supported-features = ["a#b"]', "supported-features"),
        ('mandatory-features = ["x\\ny"]', "mandatory-features"),
    ],
)
def test_every_builder_value_is_full_matched_and_bounded(tmp_path, line, key):
    base = BUILDER if not line.startswith("uri") else 'systems = ["x86_64-linux"]\n'
    msg = _problems("[[builder]]\n" + base + line + "\n", tmp_path)
    assert f"builder[0].{key}" in msg and "fix:" in msg


@pytest.mark.parametrize(
    "text, key",
    [
        ('[[substituter]]\nurl = "https://c.example.org\\ninclude /evil"\n', "substituter[0].url"),
        ('[[substituter]]\nurl = "https://c.example.org #"\n', "substituter[0].url"),
        ('[[substituter]]\nurl = "https://c.example.org"\npublic-keys = ["k:AAAA\\n"]\n', "substituter[0].public-keys[0]"),
        ("[local]\nmax-jobs = 12345678901234567890123\n", "local.max-jobs"),
        ('[push]\nto = "file:///x; touch PWNED"\n', "push.to"),
    ],
)
def test_substituters_local_and_push_are_full_matched(tmp_path, text, key):
    msg = _problems(text, tmp_path)
    assert key in msg and "fix:" in msg


def test_valid_files_still_parse(tmp_path):
    text = "[[builder]]\n" + BUILDER + 'public-host-key = "c3NoLWVkMjU1MTkgQUFBQQ=="\nmax-jobs = 64\n'
    cfg = builders.parse(text + '[push]\nto = "s3://team-cache?region=eu-west-1"\n', tmp_path / "b.toml")
    assert cfg.nix_config_lines() == ["builders = ssh://nix@big x86_64-linux - 64 1 - - c3NoLWVkMjU1MTkgQUFBQQ==",
                                      "builders-use-substitutes = true"]  # fmt: skip


@pytest.mark.parametrize("value", ["inf", "nan", "1e300"])
def test_build_costs_numbers_are_finite_and_in_range(tmp_path, value):
    text = (ROOT / "build-costs.toml").read_text()
    first = next(c for c in cost.CLASSES if f"[{c}]" in text)
    head, rest = text.split(f"[{first}]\n", 1)
    path = tmp_path / "build-costs.toml"
    path.write_text(head + f"[{first}]\ncore-hours = {value}\n" + "\n".join(
        ln for ln in rest.splitlines() if not ln.startswith(("core-hours", "cuda", "cpu")) or "[" in ln) + "\n")  # fmt: skip
    with pytest.raises(ModelError) as exc:
        cost.load_costs(path)
    assert f"{first}." in str(exc.value) and "fix:" in str(exc.value)
    assert math.isfinite(cost.load_costs(ROOT / "build-costs.toml").of(first, "cpu").core_hours)


def test_build_costs_source_is_one_line(tmp_path):
    text = (ROOT / "build-costs.toml").read_text()
    path = tmp_path / "build-costs.toml"
    path.write_text(text.replace('source = "', 'source = "\\u001b[31m', 1))
    with pytest.raises(ModelError) as exc:
        cost.load_costs(path)
    assert ".source" in str(exc.value) and "control character" in str(exc.value)


# ------------------------------------------------------------------ 2. a tracked builders.local.toml


def test_a_git_tracked_builders_local_toml_is_refused(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / builders.REPO_FILE).write_text('[[substituter]]\nurl = "https://evil.example.org"\n')
    env = {"HOME": str(tmp_path / "home")}
    assert builders.load(repo, env).substituters[0].url == "https://evil.example.org"  # untracked: the user's own
    git(repo, "add", "-f", builders.REPO_FILE)
    with pytest.raises(ModelError) as exc:
        builders.load(repo, env)
    assert "tracked" in str(exc.value) and "git rm --cached builders.local.toml" in str(exc.value)


# ------------------------------------------------------------------ 3. NIX_CONFIG from parsed settings


def test_nix_config_lines_are_composed_from_validated_values_only():
    assert trust.setting("max-jobs", 3) == "max-jobs = 3"
    assert trust.setting("substituters", ["https://a", "file:///b"]) == "substituters = https://a file:///b"
    for key, value in [("max-jobs", "3\ninclude /evil"), ("builders", "a # b"), ("x\ny", "1"), ("cores", "1\r")]:
        with pytest.raises(ValueError):
            trust.setting(key, value)
    bad = builders.Builder(uri="ssh://a", systems=("x86_64-linux",), supported_features=("big\ninclude /e",))
    with pytest.raises(ValueError):
        builders.Config(builders=(bad,)).nix_config_lines()
    par = parallelism.Parallelism(2, 1, 4, "given")
    with pytest.raises(ValueError):
        parallelism.nix_config_env({}, par, extra=["builders = x\ninclude /evil"])


# ------------------------------------------------------------------ 4. secrets never reach logs or records

SECRET = "ghp_PLANTEDSECRET123"
KEYSECRET = "PLANTEDKEYPATH"
PASSWORD = "PLANTEDPASSWORD"


def test_redact():
    text = f"cores = 2\naccess-tokens = github.com={SECRET} gitlab.com=x\nsecret-key-files = /k/{KEYSECRET}"
    out = trust.redact(text)
    assert SECRET not in out and "cores = 2" in out and "access-tokens = <redacted>" in out
    url = f"s3://b?region=eu&secret-key=/keys/{KEYSECRET}&x=1"
    assert trust.redact(url) == "s3://b?region=eu&secret-key=<redacted>&x=1"
    assert trust.redact(f"ssh://user:{PASSWORD}@host/x") == "ssh://user:<redacted>@host/x"
    env = trust.redact_env({"GITHUB_TOKEN": SECRET, "AWS_SECRET_ACCESS_KEY": SECRET, "MY_PASSWORD": SECRET,
                            "SIGN_KEY": SECRET, "PATH": "/bin", "NIX_CONFIG": f"access-tokens = {SECRET}"})  # fmt: skip
    assert SECRET not in repr(env) and env["PATH"] == "/bin"
    assert trust.redact(f"env GITHUB_TOKEN={SECRET} AWS_SECRET_ACCESS_KEY={SECRET} make") == (
        "env GITHUB_TOKEN=<redacted> AWS_SECRET_ACCESS_KEY=<redacted> make"
    )
    assert trust.redact_argv(["nix", "copy", "--to", url]) == ["nix", "copy", "--to", trust.redact(url)]


def _everything(repo: Path, said: list[str], out: str = "") -> str:
    files = [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts]
    return "\n".join([*said, out, *(p.read_text(errors="replace") for p in files)])


@pytest.mark.skipif(HOST_ISA is None, reason="no CPU variant for this host")
def test_planted_secrets_reach_no_output_log_or_record_of_a_build(tmp_path, shipped, capfd):
    vs = shipped.resolve(host_cpu_alias())
    repo = make_repo(tmp_path, shipped, [v.name for v in vs])
    env = fake_env(tmp_path)
    env[builders.ENV_VAR] = "/dev/null"
    env["NIX_CONFIG"] = f"access-tokens = github.com={SECRET}\nextra-substituters = s3://c?secret-key=/k/{KEYSECRET}"
    dry: list[str] = []
    assert builds.build(repo, vs, builds.BuildOptions(cores=2, dry_run=True), env=env, say=dry.append).ok
    real: list[str] = []
    assert builds.build(repo, vs, builds.BuildOptions(cores=2), env=env, say=real.append).ok
    assert SECRET in flox_calls(tmp_path)[0]["nix_config"]  # flox itself gets the caller's NIX_CONFIG
    assert list((repo / "logs").glob("*.log")) and ledger.read(repo)  # the logs and records are among what is searched
    captured = capfd.readouterr()
    everything = _everything(repo, dry + real, captured.out + captured.err)
    assert SECRET not in everything and KEYSECRET not in everything
    assert "access-tokens = <redacted>" in everything
    # the dry run and the real build print NIX_CONFIG the same way
    shown = [s.split("NIX_CONFIG", 1)[1] for s in dry + real if "NIX_CONFIG" in s]
    full = repr(trust.show_nix_config(env["NIX_CONFIG"] + "\ncores = 2\nmax-jobs = 1"))
    assert len(shown) == 2 and all(full in s for s in shown), shown


def test_planted_secrets_reach_no_output_or_record_of_a_push(setup, shipped, capfd):  # noqa: F811
    root, store, env, alias, names = setup
    to = f"ssh://nix:{PASSWORD}@cache.example.org?secret-key=/k/{KEYSECRET}"
    said: list[str] = []
    assert push.push(root, shipped, [alias], to, dry_run=True, env=env, say=said.append) == 0
    assert push.push(root, shipped, [alias], to, env=env, say=said.append) == 0
    assert calls(env)[0][4] == to  # nix gets the real URL
    captured = capfd.readouterr()
    everything = _everything(root, said, captured.out + captured.err)
    assert ledger.read(root) and PASSWORD not in everything and KEYSECRET not in everything
    assert all(PASSWORD not in repr(r) and KEYSECRET not in repr(r) for r in ledger.read(root))


# ------------------------------------------------------------------ 5. options naming other systems


@pytest.mark.parametrize("to", ["file:///x; touch PWNED", "file:///x\n", "https://a b", "ftp://x", "ssh://a`id`"])
def test_push_to_must_be_a_store_url(tmp_path, root, capsys, to):
    assert pushcli.cmd_push(tmp_path, root / "variants.toml", "", to) == 2
    err = capsys.readouterr().err
    assert "--to" in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    for good in ("file:///srv/nix-cache", "s3://team-cache?region=eu-west-1", "ssh://nix@host", "ssh-ng://h",
                 "https://cache.example.org/x"):  # fmt: skip
        assert trust.store_url(good, "--to") == good


@pytest.mark.parametrize("org", ["x;touch PWNED", "x y", "-x", "a" * 60, "x\n"])
def test_publish_org_is_validated(root, capsys, org):
    rc = publishcli.cmd_publish(root, root / "variants.toml", "x", org, as_anchor=True, dry_run=True)
    err = capsys.readouterr().err
    assert rc == 2 and "--org" in err and "Traceback" not in err
    assert trust.org("my-org_1", "--org") == "my-org_1"


@pytest.mark.parametrize("spec", ["99999999999x4", "4x99999999999", "1x4," * 100, "1x4\n"])
def test_plan_builders_is_bounded(root, capsys, spec):
    assert plancli.cmd_plan(root, root / "variants.toml", "", spec, False) == 2
    assert "--builders" in capsys.readouterr().err


@pytest.mark.parametrize(
    "tags, keyword", [("", "a or " * 1_000_000 + "a"), ("", "a" * 1001), ("x;y", ""), (" ".join(["sm120"] * 200), "")]
)
def test_ci_plan_tags_and_keyword_are_bounded(capsys, tags, keyword):
    assert cicli.cmd_ci_plan(str(ROOT / "variants.toml"), tags, keyword, False) == 2
    err = capsys.readouterr().err
    assert ("--keyword" in err or "--tags" in err) and "Traceback" not in err
    assert len(err) < 2000
