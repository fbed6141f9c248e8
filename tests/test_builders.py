"""builders.py: the builders file (where it is looked for, what is valid), the NIX_CONFIG it makes,
and how build sessions use it: foreign platforms routed to builders, refusals, max-jobs = 0.

Flox is the fake of test_builds.py: it records the NIX_CONFIG it was started with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from buildmatrix import ledger
from buildmatrix.builds import builders
from buildmatrix.builds import sessions as builds
from buildmatrix.errors import ModelError
from test_builds import HOST, HOST_ISA, fake_env, flox_calls, host_cpu_alias, make_repo
from test_noxfile import nox, tree  # noqa: F401  (tree: a fixture, a copy of the repository to run nox in)

CNO_KEY = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
TEAM_KEY = "team-cache-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

FULL = f"""\
[local]
max-jobs = 0

[[builder]]
uri = "ssh://nix@big-x86.example.org"
systems = ["x86_64-linux"]
ssh-key = "/etc/nix/builder_ed25519"
max-jobs = 2
speed-factor = 4
supported-features = ["big-parallel", "cuda"]

[[builder]]
uri = "ssh-ng://nix@arm.example.org"
systems = ["aarch64-linux"]
mandatory-features = ["big-parallel"]
public-host-key = "c3NoLWVkMjU1MTkgQUFBQQ=="

[[substituter]]
url = "https://cache.nixos.org"
public-keys = ["{CNO_KEY}"]

[[substituter]]
url = "s3://team-cache?region=eu-west-1"
public-keys = ["{TEAM_KEY}"]

[push]
to = "s3://team-cache?region=eu-west-1"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_full_file_gives_machines_lines_substituters_and_keys(tmp_path):
    cfg = builders.parse(FULL, tmp_path / "b.toml")
    assert cfg.nix_config_lines() == [
        "builders = ssh://nix@big-x86.example.org x86_64-linux /etc/nix/builder_ed25519 2 4 big-parallel,cuda - - ; "
        "ssh-ng://nix@arm.example.org aarch64-linux - 1 1 - big-parallel c3NoLWVkMjU1MTkgQUFBQQ==",
        "builders-use-substitutes = true",
        "substituters = https://cache.nixos.org s3://team-cache?region=eu-west-1",
        f"trusted-public-keys = {CNO_KEY} {TEAM_KEY}",
    ]
    assert cfg.systems == {"x86_64-linux", "aarch64-linux"}
    assert cfg.max_jobs(1) == 0 and not cfg.local_allowed
    assert cfg.push_to == "s3://team-cache?region=eu-west-1"
    assert "2 builder(s) for aarch64-linux, x86_64-linux, 2 substituter(s), local building off" in cfg.describe()


def test_empty_file_and_no_file_change_nothing(tmp_path):
    assert builders.parse("", tmp_path / "b.toml").nix_config_lines() == []
    cfg = builders.load(tmp_path, {"HOME": str(tmp_path / "home")})
    assert cfg.source is None and cfg.nix_config_lines() == [] and cfg.max_jobs(1) == 1 and cfg.local_allowed


def test_ssh_key_tilde_is_expanded(tmp_path):
    cfg = builders.parse('[[builder]]\nuri = "ssh://b"\nsystems = ["x86_64-linux"]\nssh-key = "~/.ssh/id"\n', "b.toml")
    assert cfg.builders[0].ssh_key == str(Path("~/.ssh/id").expanduser())
    relative = builders.parse(
        '[[builder]]\nuri = "ssh://b"\nsystems = ["x86_64-linux"]\nssh-key = "keys/id"\n', tmp_path / "b.toml"
    )
    assert relative.builders[0].ssh_key == str(tmp_path / "keys" / "id")


def test_lookup_order_env_then_repository_then_user(tmp_path):
    repo, home = tmp_path / "repo", tmp_path / "home"
    repo.mkdir()
    env = {"HOME": str(home)}
    user = write(home / ".config" / "buildmatrix" / "builders.toml", "[local]\nmax-jobs = 3\n")
    assert builders.locate(repo, env) == user
    xdg = write(tmp_path / "xdg" / "buildmatrix" / "builders.toml", "[local]\nmax-jobs = 5\n")
    assert builders.locate(repo, {**env, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}) == xdg
    local = write(repo / builders.REPO_FILE, "[local]\nmax-jobs = 2\n")
    assert builders.load(repo, env).source == local and builders.load(repo, env).max_jobs(1) == 2
    named = write(tmp_path / "elsewhere.toml", "[local]\nmax-jobs = 4\n")
    assert builders.load(repo, {**env, builders.ENV_VAR: str(named)}).max_jobs(1) == 4
    assert builders.load(repo, {**env, builders.ENV_VAR: "/dev/null"}).nix_config_lines() == []
    with pytest.raises(ModelError) as missing:
        builders.load(repo, {**env, builders.ENV_VAR: str(tmp_path / "nope.toml")})
    assert "nope.toml" in str(missing.value) and builders.ENV_VAR in str(missing.value)


def test_repository_file_is_git_ignored(root):
    assert builders.REPO_FILE in (root / ".gitignore").read_text().split()


BAD = """\
[local]
max-jobs = -1

[[builder]]
uri = "big-x86.example.org"
systems = ["x86_64"]
speed-factr = 2

[[builder]]
systems = []
supported-features = ["big parallel"]

[[substituter]]
url = "cache.nixos.org"
public-keys = ["not a key"]
"""


def test_malformed_file_lists_every_problem_with_file_line_and_key(tmp_path):
    with pytest.raises(ModelError) as exc:
        builders.parse(BAD, tmp_path / "builders.toml")
    text = str(exc.value)
    f = tmp_path / "builders.toml"
    expected = [
        f"{f}:2: local.max-jobs: must be an integer >= 0, not -1",
        f"{f}:5: builder[0].uri: 'big-x86.example.org' is not a remote builder URI",
        f"{f}:6: builder[0].systems[0]: 'x86_64' is not a Nix system such as x86_64-linux",
        f"{f}:7: builder[0].speed-factr: unknown key\n    fix: did you mean 'speed-factor'?",
        f"{f}:9: builder[1]: uri is missing",
        f"{f}:10: builder[1].systems: must be a non-empty list of a Nix system",
        f"{f}:11: builder[1].supported-features[0]: 'big parallel' is not a feature name",
        f"{f}:14: substituter[0].url: 'cache.nixos.org' is not a store URL",
        f"{f}:15: substituter[0].public-keys[0]: 'not a key' is not a public key",
    ]
    for line in expected:
        assert line in text, (line, text)
    assert [text.index(line) for line in expected] == sorted(text.index(line) for line in expected)  # file order
    assert f"{len(expected)} problem(s)" in text


def test_toml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(ModelError) as exc:
        builders.parse('[local]\nmax-jobs = 1\n[[builder]\nuri = "x"\n', tmp_path / "b.toml")
    assert f"{tmp_path / 'b.toml'}:3: <root>: not valid TOML" in str(exc.value)


def test_wrong_types_are_problems_not_tracebacks(tmp_path):
    with pytest.raises(ModelError) as exc:
        builders.parse('local = 3\nbuilder = "x"\nbuilders-use-substitutes = "yes"\n[push]\nto = 1\n', tmp_path / "b.toml")
    text = str(exc.value)
    assert "local: must be a table" in text and "builder: must be an array of tables" in text
    assert "builders-use-substitutes: must be true or false" in text and "push.to: must be a string" in text


# ---------------------------------------------------------------------- in build sessions


def _foreign(m):
    """A pytorch variant for another platform than this host (a CPU one when there is one)."""
    others = sorted((v for v in m.variants if v.platform != HOST and not v.requires), key=lambda v: v.target != "cpu")
    if not others:
        pytest.skip(f"every variant of this variants.toml is for {HOST}")
    return others[0]


def _env_with(tmp_path: Path, text: str) -> dict[str, str]:
    env = fake_env(tmp_path)
    env[builders.ENV_VAR] = str(write(tmp_path / "builders.toml", text))
    return env


def test_foreign_platform_builds_without_force_when_a_builder_serves_it(tmp_path, shipped):
    v = _foreign(shipped)
    repo = make_repo(tmp_path, shipped, [v.name])
    said: list[str] = []
    text = f'[[builder]]\nuri = "ssh://nix@remote"\nsystems = ["{v.platform}"]\nsupported-features = ["big-parallel"]\n'
    out = builds.build(repo, [v], builds.BuildOptions(cores=8), env=_env_with(tmp_path, text), say=said.append)
    assert out.ok, out.message
    (call,) = flox_calls(tmp_path)
    assert call["nix_config"] == (
        f"cores = 8\nmax-jobs = 1\nbuilders = ssh://nix@remote {v.platform} - 1 1 big-parallel - -\nbuilders-use-substitutes = true"
    )
    (rec,) = ledger.read(repo)
    assert rec.extra["forced"] is False and rec.extra["builders"] == ["ssh://nix@remote"]
    assert any("build: builders: " in s and "1 builder(s) for " + v.platform in s for s in said)


def test_foreign_platform_without_a_builder_for_it_is_refused_and_names_the_file(tmp_path, shipped):
    v = _foreign(shipped)
    repo = make_repo(tmp_path, shipped, [v.name])
    other = "riscv64-linux"
    env = _env_with(tmp_path, f'[[builder]]\nuri = "ssh://nix@remote"\nsystems = ["{other}"]\n')
    out = builds.build(repo, [v], builds.BuildOptions(), env=env, say=lambda *_: None)
    assert out.status == "refused" and f"this host is {HOST}" in out.message
    assert f"add a [[builder]] for {v.platform} to {tmp_path / 'builders.toml'}" in out.message
    assert flox_calls(tmp_path) == [] and ledger.read(repo) == []


@pytest.mark.skipif(HOST_ISA is None, reason=f"no CPU variant for {HOST}")
def test_max_jobs_zero_sends_everything_remote_or_refuses(tmp_path, shipped):
    vs = shipped.resolve(host_cpu_alias())
    repo = make_repo(tmp_path, shipped, [v.name for v in vs])
    remote = f'[local]\nmax-jobs = 0\n[[builder]]\nuri = "ssh://nix@remote"\nsystems = ["{HOST}"]\nmax-jobs = 3\n'
    out = builds.build(repo, vs, builds.BuildOptions(cores=4), env=_env_with(tmp_path, remote), say=lambda *_: None)
    assert out.ok, out.message
    (call,) = flox_calls(tmp_path)
    assert call["nix_config"].splitlines()[:3] == ["cores = 4", "max-jobs = 0", f"builders = ssh://nix@remote {HOST} - 3 1 - - -"]
    assert [r.extra["max_jobs"] for r in ledger.read(repo)] == [0, 0]
    assert builders.parse(remote, "b.toml").warnings([HOST]) == [
        f"no [[builder]] for {HOST} in b.toml lists big-parallel in supported-features, and local building is off: "
        "Nix will not send torch (requiredSystemFeatures = big-parallel) anywhere"
    ]
    assert (
        builders.parse(remote.replace("max-jobs = 3", 'supported-features = ["big-parallel"]'), "b.toml").warnings([HOST]) == []
    )
    # local building off and nothing serves this host: refused before flox starts
    env = _env_with(tmp_path, '[local]\nmax-jobs = 0\n[[builder]]\nuri = "ssh://nix@remote"\nsystems = ["riscv64-linux"]\n')
    out = builds.build(repo, vs, builds.BuildOptions(), env=env, say=lambda *_: None)
    assert out.status == "refused" and "turns local building off" in out.message and f"serves {HOST}" in out.message
    assert len(flox_calls(tmp_path)) == 1


@pytest.mark.skipif(HOST_ISA is None, reason=f"no CPU variant for {HOST}")
def test_malformed_builders_file_refuses_the_build(tmp_path, shipped):
    vs = shipped.resolve(host_cpu_alias())
    repo = make_repo(tmp_path, shipped, [v.name for v in vs])
    out = builds.build(repo, vs, builds.BuildOptions(), env=_env_with(tmp_path, "[[builder]]\nuri = 1\n"), say=lambda *_: None)
    assert out.status == "refused" and f"{tmp_path / 'builders.toml'}:2: builder[0].uri: must be a string" in out.message
    assert flox_calls(tmp_path) == [] and ledger.read(repo) == []


@pytest.mark.skipif(HOST_ISA is None, reason=f"no CPU variant for {HOST}")
def test_callers_nix_config_keeps_its_own_builders_and_substituters(tmp_path, shipped):
    vs = shipped.resolve(host_cpu_alias())
    repo = make_repo(tmp_path, shipped, [v.name for v in vs])
    env = _env_with(tmp_path, FULL.replace("max-jobs = 0", "max-jobs = 1"))
    env["NIX_CONFIG"] = "builders = @/etc/nix/machines\nsubstituters = file:///srv/cache"
    said: list[str] = []
    assert builds.build(repo, vs, builds.BuildOptions(cores=2), env=env, say=said.append).ok
    lines = flox_calls(tmp_path)[0]["nix_config"].splitlines()
    assert lines[:2] == ["builders = @/etc/nix/machines", "substituters = file:///srv/cache"]
    assert not any(ln.startswith(("builders =", "substituters =")) for ln in lines[2:])
    assert "builders-use-substitutes = true" in lines and f"trusted-public-keys = {CNO_KEY} {TEAM_KEY}" in lines
    assert any("NIX_CONFIG already sets builders, substituters: kept" in s for s in said)


def test_the_documented_builders_file_is_valid(root):
    text = (root / "docs" / "BUILDING.md").read_text()
    block = text.split("### Remote builders", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = builders.parse(block, "docs/BUILDING.md")
    assert cfg.systems == {"x86_64-linux", "aarch64-linux"} and not cfg.local_allowed
    assert [s.url for s in cfg.substituters][0] == "https://cache.nixos.org" and cfg.push_to.startswith("s3://")


def test_nox_build_session_routes_a_foreign_variant_to_the_configured_builder(tree, tmp_path, shipped):  # noqa: F811
    """End to end through nox: the per-variant session of another platform, no --force."""
    v = _foreign(shipped)
    repo = tree
    env = _env_with(tmp_path, f'[[builder]]\nuri = "ssh://nix@remote"\nsystems = ["{v.platform}"]\n')
    proc = nox(repo, "-s", f"build-{v.name}", "--", "--cores", "2", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (call,) = flox_calls(tmp_path)
    assert (
        call["nix_config"]
        == f"cores = 2\nmax-jobs = 1\nbuilders = ssh://nix@remote {v.platform} - 1 1 - - -\nbuilders-use-substitutes = true"
    )
    assert f"build: builders: {tmp_path / 'builders.toml'}: 1 builder(s) for {v.platform}" in proc.stderr
