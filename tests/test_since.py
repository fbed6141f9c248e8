"""plan/since.py and plan/cache.py: what an edit rebuilds (``invoke plan --since REV``), and what a cache has.

Each test commits the fixture matrix (tests/fixtures/plan-variants.toml, its recipes from
``recipes.generate``) in a scratch git repository, edits the working tree as a maintainer would,
and compares ``plan --since HEAD`` with what the model says that edit reaches: nothing for a
description, the torchvision variants of a source for that source's hash, exactly the new
variants' derivations for an added GPU. Evaluated for real with nix-instantiate (stand-in).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from buildmatrix import model, recipes
from buildmatrix.ci import delta as cidelta
from buildmatrix.ci import workflow
from buildmatrix.cli import ci as cicli
from buildmatrix.cli import plan as plancli
from buildmatrix.errors import UsageError
from buildmatrix.plan import cache, predict, since
from buildmatrix.plan import cost as plancost
from buildmatrix.publish import push
from conftest import require_tool

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "plan-variants.toml"
FLEETS = [(1, 1), (2, 4)]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def _repo(dest: Path, text: str | None = None) -> Path:
    """A git repository holding ``text`` (default: the fixture) as variants.toml and its recipes, committed."""
    require_tool("nix-instantiate")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "variants.toml").write_text(text if text is not None else FIXTURE.read_text())
    shutil.copytree(ROOT / "patches", dest / "patches")
    shutil.copy(ROOT / predict.COSTS_FILE, dest / predict.COSTS_FILE)
    recipes.generate(model.load(dest / "variants.toml"), dest)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "fixture")
    return dest


def _edit(root: Path, pattern: str, replacement: str) -> model.Matrix:
    path = root / "variants.toml"
    text, n = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.M | re.S)
    assert n == 1, pattern
    path.write_text(text)
    return model.load(path)


def _since(root: Path, names=None, caches=()) -> dict:
    return since.make_since_plan(root, model.load(root / "variants.toml"), "HEAD", names, FLEETS, env={}, caches=caches)


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    """The committed fixture and the full plan of it: (root, its plan)."""
    root = _repo(tmp_path_factory.mktemp("since") / "repo")
    m = model.load(root / "variants.toml")
    return root, predict.make_plan(root, m, None, FLEETS, env={})


@pytest.fixture
def repo(committed, tmp_path):
    """A fresh copy of the committed repository to edit."""
    dest = tmp_path / "repo"
    shutil.copytree(committed[0], dest, symlinks=True)
    return dest


def test_an_untouched_tree_builds_nothing_and_rev_is_never_checked_out(committed, repo):
    m = model.load(repo / "variants.toml")
    _edit(repo, r"^(# Fixture for tests/test_plan.py)", r"\1 (a comment: no recipe reads it)")
    status = _git(repo, "status", "--porcelain")
    d = _since(repo)
    assert (d["to_build"], d["changed"], d["removed"], d["core_hours"]) == (0, 0, 0, 0)
    assert d["variants"] == {"changed": [], "added": [], "removed": [], "to_build": [], "unchanged": len(m.variants)}
    assert d["since"]["commit"] == _git(repo, "rev-parse", "HEAD").strip()
    assert _git(repo, "status", "--porcelain") == status  # the edit is still there; nothing checked out
    assert all(t["changed"] == 0 for t in d["platforms"].values()) and set(d["platforms"]) == {v.platform for v in m.variants}


def test_a_description_reaches_the_recipes_but_no_derivation(repo):
    before = recipes.render_all(model.load(repo / "variants.toml"))
    m = _edit(repo, r'(\[package\.torchvision\]\nattr = "torchvision"\ntitle = )"TorchVision"', r'\1"TorchVision, edited"')
    after = recipes.render_all(m)
    assert any(before[f] != after[f] for f in after)  # the recipes' text changes (meta.description)
    d = _since(repo)
    assert d["to_build"] == 0 and d["changed"] == 0 and d["variants"]["changed"] == []


def test_a_companion_source_hash_rebuilds_only_its_companions(repo):
    m = _edit(repo, r'(\[source\."vision-v0\.25\.0"\].*?hash = )"sha256-[^"]*"', r'\1"sha256-' + "Q" * 42 + 'A="')
    users = sorted(v.name for v in m.variants if v.companion_source and v.companion_source.name == "vision-v0.25.0")
    d = _since(repo)
    assert users and d["variants"]["changed"] == users and d["variants"]["added"] == d["variants"]["removed"] == []
    c = d["classes"]
    assert c["torch"]["changed"] == c["magma"]["changed"] == c["nccl"]["changed"] == c["cuda-redist"]["changed"] == 0
    assert c["torchvision"]["changed"] == c["torchvision"]["to_build"] == len(users)
    fetches = [b for b in d["derivations"]["build"] if b["class"] == "rest"]
    assert fetches and all("vision" in b["name"] or "source" in b["name"] for b in fetches)  # the new source's fetch
    assert d["to_build"] == len(users) + len(fetches) and d["removed"] == d["changed"]
    table = plancost.load_costs(repo / predict.COSTS_FILE)
    assert d["core_hours"] == pytest.approx(sum(table.of("torchvision", "cuda" if m.by_name[n].cuda else "cpu").core_hours
                                                 for n in users) + sum(b["core_hours"] for b in fetches))  # fmt: skip
    # NAMES (an alias here) narrow it to one configuration: its companion only
    (one,) = [v.name for v in m.resolve("sm90-avx512") if v.name in users]
    narrowed = _since(repo, names=["sm90-avx512"])
    assert narrowed["variants"]["changed"] == [one] and narrowed["classes"]["torchvision"]["to_build"] == 1


def test_adding_a_gpu_adds_exactly_the_derivations_of_the_new_variants(tmp_path):
    """REV's block lacks sm120, the working tree has it: the new variants, and nothing of the old ones, build."""
    text = FIXTURE.read_text()
    reduced, n = re.subn(r'gpu = \["sm90", "sm120"\]', 'gpu = ["sm90"]', text)
    assert n == 1
    root = _repo(tmp_path / "repo", reduced)
    old = model.load(root / "variants.toml")
    (root / "variants.toml").write_text(text)
    new = model.load(root / "variants.toml")
    added = sorted(set(new.by_name) - set(old.by_name))
    d = _since(root)
    assert added and d["variants"]["added"] == added and d["variants"]["changed"] == [] and d["removed"] == 0
    assert d["variants"]["unchanged"] == len(old.variants)
    # the changed derivations are the closure of the new variants less what REV's graph has
    old_drvs, _ = predict.instantiate(old, root, old.variants)
    recipes.generate(new, root)
    drvs, _ = predict.instantiate(new, root, new.variants)
    graph = predict.load_graph(drvs.values())
    old_graph = predict.load_graph(old_drvs.values())
    closure = predict.to_build(graph, [drvs[n] for n in added], set())
    assert d["changed"] == len(closure - set(old_graph)) == d["to_build"]
    assert {b["drv"] for b in d["derivations"]["build"]} == closure - set(old_graph)
    assert d["classes"]["torch"]["to_build"] == sum(1 for n in added if not new.by_name[n].requires)
    assert sum(p["to_build"] for p in d["platforms"].values()) == d["to_build"]


def test_json_text_and_bad_input_from_the_command(committed, tmp_path, capsys):
    root = committed[0]
    assert plancli.cmd_plan(root, root / "variants.toml", "", "1x4", True, "HEAD") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["to_build"] == 0 and set(data["classes"]) == set(predict.CLASSES) and "platforms" in data
    assert plancli.cmd_plan(root, root / "variants.toml", "sm90-avx512", "1x4", False, "HEAD") == 0
    out = capsys.readouterr().out
    assert "to build: 0 derivation(s), 0.0 core-hours" in out and "variants unchanged: 2" in out
    for bad, says in (("no-such-branch", "not a commit here"), ("--output=x", "is not a revision"), ("a..b", "is not a revision")):
        assert plancli.cmd_plan(root, root / "variants.toml", "", "1x4", False, bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: --since"), err
        assert says in err and "--since main" in err
    with pytest.raises(UsageError, match="no git repository here"):
        since.resolve(tmp_path, "HEAD")


def test_bad_cache_urls_name_the_option_and_the_fix(committed, tmp_path, capsys):
    root = committed[0]
    for bad, says in ((f"file://{tmp_path}/none", "no binary cache"), ("ftp://x", "not a Nix store URL"), ("file:///a b", "")):
        assert plancli.cmd_plan(root, root / "variants.toml", "", "1x4", False, "HEAD", bad) == 2
        err = capsys.readouterr().err.strip()
        assert "--cache" in err and says in err and err.count("\n") == 0, err
    assert not (tmp_path / "none").exists()  # nothing created where no cache was


def test_an_output_in_a_file_cache_filled_by_invoke_push_is_not_built(committed, tmp_path):
    """A real derivation (stand-in ones cannot build): built offline, pushed with `invoke push` into a
    file:// cache, deleted from the store; then the since report finds its drvPath changed but available."""
    require_tool("nix-build")
    root = committed[0]
    m = model.load(root / "variants.toml")
    nonce = f"{os.getpid()}-{os.urandom(4).hex()}"
    (tmp_path / "probe.nix").write_text(
        f'derivation {{ name = "since-probe-{nonce}"; system = builtins.currentSystem; builder = "/bin/sh";\n'
        f'  args = [ "-c" "echo {nonce} > $out" ]; }}\n'
    )
    variant = m.variants[0].name
    link = root / f"result-{variant}"
    built = subprocess.run(["nix-build", str(tmp_path / "probe.nix"), "-o", str(link)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    out_path, drv = os.path.realpath(link), subprocess.run(
        ["nix-instantiate", str(tmp_path / "probe.nix")], capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    url = f"file://{tmp_path / 'cache'}"
    try:
        assert push.push(root, m, [variant], url, env=dict(os.environ), say=lambda _line: None) == 0
        link.unlink()
        gone = subprocess.run(["nix-store", "--delete", out_path], capture_output=True, text=True)
        assert gone.returncode == 0 and not os.path.exists(out_path), gone.stderr
        new = since.Side({"probe": drv}, predict.load_graph([drv]))
        args = {"table": plancost.load_costs(root / predict.COSTS_FILE), "measured": {}, "fleets": FLEETS}
        where, note = cache.known(new.graph, root, {}, False, [cache.cache_url(url)])
        assert where == {out_path: url} and "1 --cache URL(s)" in note
        d = since.delta(new, since.Side({}, {}), where, args, "rev")
        assert (d["to_build"], d["changed"], d["available_in"]) == (0, 1, {url: 1})
        assert d["derivations"]["available"] == [{"drv": drv, "name": f"since-probe-{nonce}", "class": "rest",
                                                  "platform": new.graph[drv].system, "where": url}]  # fmt: skip
        empty = tmp_path / "empty-cache"
        shutil.copytree(tmp_path / "cache", empty, ignore=shutil.ignore_patterns("*.narinfo", "nar"))
        nowhere, _ = cache.known(new.graph, root, {}, False, [f"file://{empty}"])
        assert since.delta(new, since.Side({}, {}), nowhere, args, "rev")["to_build"] == 1
    finally:
        if link.is_symlink():
            link.unlink()
        subprocess.run(["nix-store", "--delete", out_path], capture_output=True)


def test_a_pin_bump_under_the_stand_in_counts_everything_its_variants_build(repo):
    """The stand-in cannot see a new nixpkgs: the report assumes what a real bump does (everything but fetches)."""
    m = _edit(repo, r'(\[pin\.nixpkgs-6a030d5\]\nrev = "[0-9a-f]{40}"\n)sha256 = ""\n(.*?)unverified = "[^"]*"\n',
              r'\1sha256 = "' + "0" * 52 + r'"\nhash_source = "test: a bumped hash"\n\2')  # fmt: skip
    on_pin = [v.name for v in m.variants if v.pin.name == "nixpkgs-6a030d5"]
    d = _since(repo)
    assert d["pins"]["assumed"] and d["pins"]["changed"] == {"nixpkgs-6a030d5": len(on_pin)}
    drvs, _ = predict.instantiate(m, repo, m.variants)  # the committed recipes: the same drvPaths under the stand-in
    graph = predict.load_graph(drvs.values())
    everything = since.forced(graph, [drvs[n] for n in on_pin])
    assert d["changed"] == d["to_build"] == len(everything) and d["assumed_changed"] == len(everything)
    assert d["variants"]["changed"] == sorted(on_pin) and d["variants"]["unchanged"] == len(m.variants) - len(on_pin)
    assert all(not graph[b["drv"]].fixed_output for b in d["derivations"]["build"])


CI_TABLE = """
[ci]
plan_runner = ["ubuntu-24.04"]
max_parallel = 2
build_timeout_minutes = 60

[ci.runners]
x86_64-linux = ["self-hosted", "linux", "x64"]

[ci.cache]
push = "s3://fixture-cache?region=eu-central-1"
substituter = "https://fixture-cache.example.org"
public_key = "fixture-cache-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
signing_key_secret = "NIX_SIGNING_KEY"
"""


def _fake_cache(directory: Path, outputs) -> str:
    """A file:// cache whose narinfo files claim ``outputs`` (what nix path-info reads; no NAR is fetched)."""
    directory.mkdir()
    (directory / "nix-cache-info").write_text("StoreDir: /nix/store\n")
    for o in outputs:
        name = Path(o).name
        (directory / f"{name.split('-')[0]}.narinfo").write_text(
            f"StorePath: {o}\nURL: nar/{name}.nar\nCompression: none\nNarHash: sha256:{'0' * 52}\nNarSize: 1\nReferences: \n"
        )
    return f"file://{directory}"


def _selected(out: Path) -> list[str]:
    pairs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    return sorted(e["alias"] for k, v in pairs.items() if k.startswith("build_") for e in json.loads(v)["include"])


def test_the_ci_plan_step_builds_the_delta_missing_from_the_cache(tmp_path, capsys):
    """REV lacks sm120; the working tree adds it and edits the torchvision hash: by default the plan step keeps
    the configurations with a new derivation the cache lacks, `--build all` everything, no base everything."""
    text = FIXTURE.read_text() + CI_TABLE
    reduced = text.replace('gpu = ["sm90", "sm120"]', 'gpu = ["sm90"]', 1)
    root = _repo(tmp_path / "repo", reduced)
    (root / "variants.toml").write_text(text)
    m = model.load(root / "variants.toml")
    jobs = workflow.build_jobs(m)
    new_job = next(j for j in jobs if any("sm120" in n for n in j.variants))
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    argv = ["plan", "--file", str(root / "variants.toml"), "--github-output", str(out), "--summary", str(summary)]
    assert cicli.main([*argv, "--build", "changed", "--base", "HEAD"]) == 0
    assert _selected(out) == [new_job.alias]  # only the added GPU's configuration
    said = summary.read_text()
    assert "**Rebuild since HEAD**" in said and "per platform: x86_64-linux" in said
    d = _since(root)
    assert f"{d['to_build']} derivation(s) to build" in said

    # the companion hash edited too: every configuration changed; one's torchvision is in the cache already
    text = re.sub(r'(\[source\."vision-v0\.25\.0"\].*?hash = )"sha256-[^"]*"', r'\1"sha256-' + "Q" * 42 + 'A="', text,
                  count=1, flags=re.S)  # fmt: skip
    (root / "variants.toml").write_text(text)
    d = _since(root)
    assert sorted(d["variants"]["to_build"]) == sorted(n for j in jobs for n in j.variants if m.by_name[n].requires or "sm120" in n)
    cached_job = next(j for j in jobs if j is not new_job)
    companion = next(n for n in cached_job.variants if m.by_name[n].requires)
    (drv,) = [b["drv"] for b in d["derivations"]["build"] if b["class"] == "torchvision" and companion in b["name"]]
    url = _fake_cache(tmp_path / "cache", predict.load_graph([drv])[drv].outputs)
    out.write_text("")
    assert cicli.main([*argv, "--base", "HEAD", "--build", "changed", "--cache", url]) == 0
    assert _selected(out) == sorted(j.alias for j in jobs if j is not cached_job)

    out.write_text("")
    assert cicli.main([*argv, "--build", "all"]) == 0 and _selected(out) == sorted(j.alias for j in jobs)
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps({"workflow_runs": []}))
    out.write_text("")
    summary.write_text("")
    assert cicli.main([*argv, "--build", "changed", "--runs-json", str(runs)]) == 0 and _selected(out) == sorted(j.alias for j in jobs)
    assert "no successful run of this workflow" in summary.read_text()
    head = _git(root, "rev-parse", "HEAD").strip()
    runs.write_text(json.dumps({"workflow_runs": [{"head_sha": head}]}))
    assert cidelta.last_success(runs) == head
    runs.write_text(json.dumps({"workflow_runs": [{"head_sha": "HEAD; rm -rf /"}]}))
    assert cidelta.last_success(runs) == ""  # only 40 hex digits are a base
    assert cicli.main([*argv, "--build", "changed", "--base", "no-such-rev"]) == 2
    assert "--base 'no-such-rev': not a commit here" in capsys.readouterr().err


def test_plain_plan_asks_a_cache_url_too(committed, tmp_path, capsys):
    """`invoke plan --cache URL` (no --since): the cache is asked even on the stand-in, and what it holds is not built."""
    root, full = committed
    torch = next(e for e in full.derivations if e["class"] == "torch")
    graph = predict.load_graph([torch["drv"]])
    url = _fake_cache(tmp_path / "cache", graph[torch["drv"]].outputs)
    assert plancli.cmd_plan(root, root / "variants.toml", "", "1x4", True, "", url) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["available_in"] == {url: 1} and "1 --cache URL(s)" in data["availability"]
    assert data["classes"]["torch"]["to_build"] == full.classes["torch"]["to_build"] - 1


def test_without_nix_the_ci_delta_builds_the_whole_selection(committed, monkeypatch):
    root = committed[0]
    monkeypatch.setattr(cidelta.shutil, "which", lambda _name: None)
    r = cidelta.rebuild(root, model.load(root / "variants.toml"), "changed", "HEAD", "", [])
    assert r.variants is None and "nix-instantiate is not on PATH" in r.why_all
    assert "Building the whole selection" in cidelta.summary_lines(r)[0]
    with pytest.raises(UsageError, match="--build 'some'"):
        cidelta.rebuild(root, model.load(root / "variants.toml"), "some", "", "", [])


def test_both_sides_are_evaluated_pinned_when_every_pin_is_in_the_store(tmp_path):
    """The pinned branch for real (a 'nixpkgs' tree forwarding to the stand-in, added to the store as its
    sha256 names): REV and the working tree both evaluate against it, and a companion edit still reaches
    only the companions."""
    require_tool("nix-store")
    rev = re.search(r'\[pin\.nixpkgs-6a030d5\]\nrev = "([0-9a-f]{40})"', FIXTURE.read_text()).group(1)
    tree = tmp_path / "source"
    tree.mkdir()
    standin = predict.nixrun.standin_dir(ROOT)
    (tree / "default.nix").write_text(f'import {standin} {{ rev = "{rev}"; system = "x86_64-linux"; }}\n')  # the fixture's one
    sha = subprocess.run(["nix-hash", "--type", "sha256", "--base32", str(tree)], capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    store_path = subprocess.run(["nix-store", "--add-fixed", "--recursive", "sha256", str(tree)], capture_output=True,
                                text=True, check=True).stdout.strip()  # fmt: skip
    text = re.sub(r"(?m)^unverified = .*\n", "", FIXTURE.read_text(), count=1)
    text = text.replace('sha256 = ""', f'sha256 = "{sha}"\nhash_source = "test: a tree forwarding to the stand-in"', 1)
    try:
        root = _repo(tmp_path / "repo", text)
        m = _edit(root, r'(\[source\."vision-v0\.25\.0"\].*?hash = )"sha256-[^"]*"', r'\1"sha256-' + "Q" * 42 + 'A="')
        d = _since(root)
        assert d["nixpkgs"] == "pinned" and d["evaluated_with"].startswith("the pinned nixpkgs") and not d["pins"]["assumed"]
        users = sorted(n for n in m.by_name if m.by_name[n].requires)
        assert d["variants"]["changed"] == users and d["classes"]["torch"]["changed"] == 0
        assert d["classes"]["torchvision"]["to_build"] == len(users)
    finally:
        subprocess.run(["nix-store", "--delete", store_path], capture_output=True)
