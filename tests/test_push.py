"""push.py with a fake ``nix``: which store paths are pushed, the exact argv, the records, the refusals.

The real ``nix copy`` (and a substitution back from the cache) is in test_remote_builder.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from buildmatrix import ledger
from buildmatrix.builds import builders
from buildmatrix.cli import push as pushcli
from buildmatrix.errors import UsageError
from buildmatrix.publish import push

FAKE_NIX = r"""#!{python}
import json, os, sys
with open(os.environ["FAKE_NIX_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
sys.exit(int(os.environ.get("FAKE_NIX_EXIT", "0")))
"""


@pytest.fixture
def setup(tmp_path, shipped):
    """A root with result links for one alias (both packages) into a fake store, and a fake nix."""
    root, store, bindir = tmp_path / "root", tmp_path / "store", tmp_path / "bin"
    for d in (root, store, bindir):
        d.mkdir()
    (bindir / "nix").write_text(FAKE_NIX.format(python=sys.executable))
    (bindir / "nix").chmod(0o755)
    pairs = [a for a, vs in shipped.alias_groups.items() if len(vs) == 2]
    if not pairs:
        pytest.skip("no alias of this variants.toml names two variants")
    alias = pairs[0]
    variants = shipped.resolve(alias)
    for v in variants:
        (store / f"abc-{v.name}").mkdir()
        (root / f"result-{v.name}").symlink_to(store / f"abc-{v.name}")
    env = {
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "NIX_STORE_DIR": str(store),
        "FAKE_NIX_LOG": str(tmp_path / "nix.jsonl"),
        "HOME": str(tmp_path / "home"),
    }
    return root, store, env, alias, [v.name for v in variants]


def calls(env) -> list[list[str]]:
    p = Path(env["FAKE_NIX_LOG"])
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def test_push_alias_is_one_nix_copy_and_one_record_per_variant(setup, shipped):
    root, store, env, alias, names = setup
    assert push.push(root, shipped, [alias], "file:///srv/cache", env=env, say=lambda *_: None) == 0
    assert calls(env) == [
        [
            "--extra-experimental-features",
            "nix-command",
            "copy",
            "--to",
            "file:///srv/cache",
            *(str(store / f"abc-{n}") for n in names),
        ]
    ]
    recs = ledger.read(root)
    assert [(r.variant, r.action, r.status) for r in recs] == [(n, "push", "ok") for n in names]
    assert recs[0].extra["to"] == "file:///srv/cache" and recs[0].extra["store_path"] == str(store / f"abc-{names[0]}")
    assert recs[0].result == f"result-{names[0]}" and recs[0].detail == "nix copy --to file:///srv/cache: exit 0"


def test_push_without_names_pushes_every_result_link_and_to_comes_from_the_builders_file(setup, shipped, tmp_path):
    root, store, env, _alias, names = setup
    (root / builders.REPO_FILE).write_text('[push]\nto = "s3://team-cache?region=eu-west-1"\n')
    assert push.push(root, shipped, [], "", env=env, say=lambda *_: None) == 0
    ((*_, to, p1, p2),) = calls(env)
    assert to == "s3://team-cache?region=eu-west-1" and [p1, p2] == [str(store / f"abc-{n}") for n in names]


def test_failed_nix_copy_is_recorded_failed(setup, shipped):
    root, _store, env, alias, names = setup
    assert push.push(root, shipped, [alias], "file:///srv/cache", env={**env, "FAKE_NIX_EXIT": "1"}, say=lambda *_: None) == 1
    assert [(r.status, r.detail) for r in ledger.read(root)] == [("failed", "nix copy --to file:///srv/cache: exit 1")] * 2


def test_dry_run_prints_the_command_and_records_nothing(setup, shipped):
    root, store, env, alias, names = setup
    said: list[str] = []
    assert push.push(root, shipped, [alias], "file:///srv/cache", dry_run=True, env=env, say=said.append) == 0
    assert said[0] == "push: nix --extra-experimental-features nix-command copy --to file:///srv/cache " + " ".join(
        str(store / f"abc-{n}") for n in names
    )
    assert calls(env) == [] and ledger.read(root) == []


def test_refusals_copy_and_record_nothing(setup, shipped, tmp_path):
    root, store, env, alias, names = setup
    quiet = {"say": lambda *_: None, "env": env}
    with pytest.raises(UsageError, match="name the cache: --to URI"):
        push.push(root, shipped, [alias], "", **quiet)
    with pytest.raises(UsageError, match="is not a Nix store URL"):
        push.push(root, shipped, [alias], "/srv/cache", **quiet)
    (root / f"result-{names[1]}").unlink()
    (root / f"result-{names[1]}").symlink_to(tmp_path)  # not in the store
    with pytest.raises(UsageError) as bad:
        push.push(root, shipped, [alias], "file:///c", **quiet)
    assert f"result-{names[1]} points at {tmp_path}, not at an existing path in {store}/" in str(bad.value)
    (root / f"result-{names[1]}").unlink()
    with pytest.raises(UsageError) as missing:
        push.push(root, shipped, [alias], "file:///c", **quiet)
    assert f"result-{names[1]} does not exist: build it first (nox -s build-{names[1]})" in str(missing.value)
    with pytest.raises(UsageError, match="no build target|no variant|sm120-avx3"):
        push.push(root, shipped, ["sm120-avx3"], "file:///c", **quiet)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no result-<variant> link"):
        push.push(empty, shipped, [], "file:///c", **quiet)
    assert calls(env) == [] and ledger.read(root) == []


def test_cmd_push_turns_bad_input_into_exit_2(tmp_path, root, capsys):
    status = pushcli.cmd_push(tmp_path, root / "variants.toml", "", "file:///c")
    assert status == 2 and "no result-<variant> link" in capsys.readouterr().err
