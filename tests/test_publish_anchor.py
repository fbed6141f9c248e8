"""anchorpublish.py: ``invoke publish NAME --as-anchor``, a non-default torch line's variant under its anchor name.

Real git throughout: a repository with a bare ``origin``, the fake ``flox`` of tests/test_builds.py
on PATH (it records argv and cwd). The cases come from the shipped model and the anchor data
(scripts/buildmatrix/model/anchor-names): a variant off ``[defaults] torch`` on this host's platform whose anchor
name maps to it alone. The wrapper is proved with real ``nix-instantiate`` against the stand-in
nixpkgs: it has the recipe's function arguments (what callPackage passes) and its drvPath.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from buildmatrix import ledger, model
from buildmatrix.cli import publish as publishcli
from buildmatrix.errors import UsageError
from buildmatrix.model import anchormap
from buildmatrix.nixeval import run as nixrun
from buildmatrix.publish import anchor as anchorpublish
from buildmatrix.recipes import LIB_FILE, MARKER
from conftest import ROOT, require_tool
from matrices import copy_anchor_data
from test_builds import HOST, add_record, commit_ledger, fake_env, flox_calls, git

PKGS = Path(".flox") / "pkgs"
GIT_ID = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}


def importers(file_name: str) -> list[str]:
    """Shipped recipes whose text imports ./<file_name>."""
    return sorted(
        p.name for p in (ROOT / PKGS).glob("*.nix") if f"import ./{file_name}" in p.read_text(encoding="utf-8", errors="replace")
    )


def anchor_cases(m: model.Matrix) -> list[tuple[model.Variant, str]]:
    """(variant, anchor name) for every variant of this host's platform that --as-anchor accepts."""
    names = anchorpublish.anchor_names(m, ROOT)
    out = []
    for v in m.variants:
        if v.line and v.platform == HOST:
            try:
                out.append((v, anchorpublish.pick_anchor(m, v, names)))
            except UsageError:
                pass
    return out


@pytest.fixture(scope="module")
def case():
    """A PyTorch variant whose anchor name is a default-line recipe here; one that is imported by another, if any."""
    m = model.load(ROOT / "variants.toml")
    torch_cases = [(v, a) for v, a in anchor_cases(m) if not v.requires and a in m.by_name]
    if not torch_cases:
        pytest.skip(f"no variant of a non-default torch line for {HOST} has an anchor name that is also a default-line name")
    imported = [(v, a) for v, a in torch_cases if importers(f"{a}.nix")]
    v, anchor = (imported or torch_cases)[0]
    return m, v, anchor


@pytest.fixture
def repo(tmp_path, case, monkeypatch):
    """A pushed clone (origin = a bare repo) with the case's recipes, the anchor data and ok build + smoke records."""
    m, v, anchor = case
    for k, val in GIT_ID.items():
        monkeypatch.setenv(k, val)
    env = fake_env(tmp_path)
    for k in ("PATH", "FAKE_FLOX_LOG", "FAKE_FLOX_MODE", "FAKE_STORE"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.delenv("NIX_CONFIG", raising=False)
    r = tmp_path / "repo"
    (r / PKGS).mkdir(parents=True)
    for f in ("variants.toml", ".gitignore"):
        shutil.copy(ROOT / f, r / f)
    shutil.copytree(ROOT / "patches", r / "patches")
    copy_anchor_data(r)
    for name in {f"{v.name}.nix", f"{anchor}.nix", *importers(f"{anchor}.nix")}:
        shutil.copy(ROOT / PKGS / name, r / PKGS / name)
    (r / LIB_FILE).parent.mkdir(parents=True, exist_ok=True)  # every recipe imports it
    shutil.copy(ROOT / LIB_FILE, r / LIB_FILE)
    (r / "README.md").write_text("# test repo\n")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(r, "init", "-q", "-b", "main")
    git(r, "add", "-A")
    git(r, "commit", "-qm", "init")
    git(r, "remote", "add", "origin", str(remote))
    git(r, "push", "-q", "-u", "origin", "main")
    store = f"/nix/store/{'0' * 32}-{v.name}"  # the smoke test ran what the build made (the publish guard checks)
    add_record(r, v.name, "build", store=store)  # into ledger/local.jsonl (git-ignored): records at HEAD, the tree stays clean
    add_record(r, v.name, "smoke", result=store)
    return r


def run(repo: Path, name: str, capsys, **kw) -> tuple[int, str]:
    rc = publishcli.cmd_publish(repo, repo / "variants.toml", name, kw.pop("org", "myorg"), as_anchor=True, **kw)
    out = capsys.readouterr()
    return rc, out.out + out.err


def state(repo: Path, remote: Path) -> dict:
    """Everything a dry run must leave as it is: refs of both repositories, HEAD, index, status, objects."""
    return {
        "refs": git(repo, "for-each-ref"),
        "remote_refs": git(remote, "for-each-ref"),
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "symbolic-ref", "--short", "HEAD"),
        "index": git(repo, "ls-files", "-s"),
        "status": git(repo, "status", "--porcelain", "--ignored"),
        "objects": git(repo, "count-objects", "-v"),
    }


def nix_eval(expr: str, tmp: Path) -> dict:
    f = tmp / "eval.nix"
    f.write_text(expr, encoding="utf-8")
    proc = nixrun.run_nix(["--eval", "--strict", "--json", "--readonly-mode"], f)
    assert proc.returncode == 0, nixrun.error_text(proc.stderr)
    return json.loads(proc.stdout)


def same_derivation(wrapper: Path, recipe: Path, v: model.Variant, tmp: Path) -> dict:
    """Evaluate wrapper and recipe the way callPackage calls a .flox/pkgs file (autoArgs ∩ functionArgs)."""
    standins = tmp / "standins"
    standins.mkdir(exist_ok=True)
    standin = nixrun.write_standins([v], nixrun.standin_dir(ROOT), standins)[(v.pin.rev, v.platform)]
    scope = f"{{ buildmatrixNixpkgs = {nixrun.nix_path(standin)}; }}"
    return nix_eval(
        f"let\n  call = f: f (builtins.intersectAttrs (builtins.functionArgs f) {scope});\n"
        f"  w = import {nixrun.nix_path(wrapper)};\n  r = import {nixrun.nix_path(recipe)};\n"
        "in { wrapper = (call w).drvPath; recipe = (call r).drvPath;\n"
        "     wrapperArgs = builtins.functionArgs w; recipeArgs = builtins.functionArgs r; }\n",
        tmp,
    )


# ------------------------------------------------------------------------ the whole path


def test_as_anchor_publishes_from_a_publish_branch_and_leaves_the_users_branch_alone(repo, case, tmp_path, capsys):
    m, v, anchor = case
    remote = tmp_path / "remote.git"
    before = state(repo, remote)
    rc, out = run(repo, v.name, capsys)
    assert rc == 0, out
    branch = f"publish/{v.line}"
    tip = git(remote, "rev-parse", f"refs/heads/{branch}")
    work = repo / "build" / "publish" / f"{v.line}-{tip[:12]}"

    # flox ran once, in the clone of the publish branch, under the anchor name: the exact argv
    assert flox_calls(tmp_path) == [{"argv": ["publish", "-o", "myorg", anchor], "cwd": str(work), "nix_config": ""}]

    # the user's checkout: same HEAD, branch, index and refs (but the remote-tracking ref of the pushed branch)
    after = state(repo, remote)
    for k in ("head", "branch", "index"):
        assert after[k] == before[k], k
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "branch", "--format=%(refname:short)") == "main"
    assert git(remote, "rev-parse", "refs/heads/main") == before["head"]

    # the publish commit: HEAD's tree, the wrapper, and the recipes that imported the replaced file removed
    head = before["head"]
    assert git(remote, "log", "-1", "--format=%P", tip) == head
    changes = dict(line.split("\t", 1)[::-1] for line in git(remote, "diff", "--name-status", head, tip).splitlines())
    wrapper_path = f"{PKGS}/{anchor}.nix"
    removed = {f"{PKGS}/{n}" for n in importers(f"{anchor}.nix")}
    assert changes == {wrapper_path: "M", **{p: "D" for p in removed}}
    text = git(remote, "show", f"{tip}:{wrapper_path}") + "\n"
    assert text == anchorpublish.wrapper_text(anchor, v, branch)
    assert text.startswith(MARKER) and [ln for ln in text.splitlines() if not ln.startswith("#")] == [f"import ./{v.name}.nix"]
    # nothing left on the branch imports the replaced name but the wrapper itself
    for p in git(remote, "ls-tree", "--name-only", tip, f"{PKGS}/").split():
        if p != wrapper_path:
            assert f"import ./{anchor}.nix" not in git(remote, "show", f"{tip}:{p}"), p

    # the clone flox ran in: that commit, clean, on the branch, with an upstream containing HEAD (flox's own checks)
    assert git(work, "rev-parse", "HEAD") == tip
    assert git(work, "symbolic-ref", "--short", "HEAD") == branch
    assert git(work, "rev-parse", "--abbrev-ref", "@{u}") == f"origin/{branch}"
    assert git(work, "status", "--porcelain", "--untracked-files=no") == ""
    rec = ledger.read(repo)[-1]
    assert (rec.variant, rec.action, rec.status) == (v.name, "publish", "ok")
    assert rec.extra["anchor_name"] == anchor and rec.extra["publish_rev"] == tip and rec.extra["publish_branch"] == branch
    assert rec.git_rev == head

    # again at the same source: the same tree, so the tip is reused (no new commit, nothing pushed)
    rc, out = run(repo, v.name, capsys)
    assert rc == 0 and "already has this tree" in out, out
    assert git(remote, "rev-parse", f"refs/heads/{branch}") == tip

    # a new source commit (docs only, so the records still count): a new publish commit, parents the old tip and HEAD
    (repo / "README.md").write_text("# test repo, changed\n")
    commit_ledger(repo, "readme")
    new_head = git(repo, "rev-parse", "HEAD")
    rc, out = run(repo, v.name, capsys)
    assert rc == 0, out
    new_tip = git(remote, "rev-parse", f"refs/heads/{branch}")
    assert git(remote, "log", "-1", "--format=%P", new_tip).split() == [tip, new_head]
    assert flox_calls(tmp_path)[-1]["cwd"] == str(repo / "build" / "publish" / f"{v.line}-{new_tip[:12]}")
    assert git(repo, "branch", "--format=%(refname:short)") == "main"


@pytest.mark.nix
def test_the_wrapper_on_the_branch_is_the_variants_derivation(repo, case, tmp_path, capsys):
    require_tool("nix-instantiate")
    m, v, anchor = case
    rc, out = run(repo, v.name, capsys)
    assert rc == 0, out
    work = next((repo / "build" / "publish").iterdir())
    got = same_derivation(work / PKGS / f"{anchor}.nix", work / PKGS / f"{v.name}.nix", v, tmp_path)
    assert got["wrapper"] == got["recipe"] and got["wrapper"].endswith(".drv")
    assert got["wrapperArgs"] == got["recipeArgs"] == {"buildmatrixNixpkgs": True}


@pytest.mark.nix
def test_a_companion_wrapper_is_the_companions_derivation(tmp_path):
    """A TorchVision variant imports its PyTorch recipe: its wrapper must still be that derivation."""
    require_tool("nix-instantiate")
    m = model.load(ROOT / "variants.toml")
    found = [(v, a) for v, a in anchor_cases(m) if v.requires]
    if not found:
        pytest.skip("no companion variant of a non-default torch line has an anchor name on this platform")
    v, anchor = found[0]
    d = tmp_path / PKGS
    d.mkdir(parents=True)
    shutil.copytree(ROOT / "patches", tmp_path / "patches")
    for name in [v.name, *(re.findall(r"import \./(\S+)\.nix", (ROOT / PKGS / f"{v.name}.nix").read_text()))]:
        shutil.copy(ROOT / PKGS / f"{name}.nix", d / f"{name}.nix")
    (tmp_path / LIB_FILE).parent.mkdir(parents=True, exist_ok=True)  # every recipe imports it
    shutil.copy(ROOT / LIB_FILE, tmp_path / LIB_FILE)
    (d / f"{anchor}.nix").write_text(anchorpublish.wrapper_text(anchor, v, f"publish/{v.line}"))
    got = same_derivation(d / f"{anchor}.nix", d / f"{v.name}.nix", v, tmp_path)
    assert got["wrapper"] == got["recipe"] and got["wrapperArgs"] == got["recipeArgs"]


# ------------------------------------------------------------------------ the plan, changing nothing


def test_dry_run_and_json_print_the_plan_and_change_nothing(repo, case, tmp_path, capsys):
    m, v, anchor = case
    remote = tmp_path / "remote.git"
    before = state(repo, remote)
    rc, out = run(repo, v.name, capsys, dry_run=True, stability="unstable")
    assert rc == 0, out
    assert f"write  {PKGS}/{anchor}.nix (replaces the torch {m.by_name[anchor].torch_version} recipe of that name)" in out
    assert "dry run: nothing was committed, pushed, cloned or published; all guards hold" in out
    rc, out = run(repo, v.name, capsys, as_json=True, stability="unstable")
    assert rc == 0, out
    plan = json.loads(out)
    branch = f"publish/{v.line}"
    assert (plan["branch"], plan["head"], plan["remote"], plan["guards_ok"]) == (branch, before["head"], "origin", True)
    assert [(w["anchor"], w["variant"], w["text"]) for w in plan["wrappers"]] == [
        (anchor, v.name, anchorpublish.wrapper_text(anchor, v, branch))
    ]
    assert {r["path"] for r in plan["removed"]} == {f"{PKGS}/{n}" for n in importers(f"{anchor}.nix")}
    workdir = f"build/publish/{v.line}-<commit>"
    assert plan["commands"] == [
        {"cwd": ".", "argv": ["git", "push", "origin", f"<commit>:refs/heads/{branch}"]},
        {
            "cwd": ".",
            "argv": ["git", "clone", "--quiet", "--reference-if-able", ".", "--dissociate", "--branch", branch]
            + [str(remote), workdir],
        },
        {"cwd": workdir, "argv": ["flox", "publish", "-o", "myorg", "--stability", "unstable", anchor]},
    ]
    assert state(repo, remote) == before
    assert flox_calls(tmp_path) == [] and not (repo / "build").exists()


def test_the_anchor_name_with_torch_names_the_same_variant(repo, case, capsys):
    m, v, anchor = case
    rc, out = run(repo, anchor, capsys, torch=v.torch_line, as_json=True)
    assert rc == 0, out
    assert [w["variant"] for w in json.loads(out)["wrappers"]] == [v.name]


# ------------------------------------------------------------------------ refusals


def test_failing_guards_publish_nothing_and_push_nothing(repo, case, tmp_path, capsys):
    m, v, anchor = case
    (repo / "README.md").write_text("# dirty\n")
    rc, out = run(repo, v.name, capsys)
    assert rc == 1 and "FAIL  tracked files clean" in out and "nothing was published" in out
    assert git(tmp_path / "remote.git", "for-each-ref", "--format=%(refname)") == "refs/heads/main"
    assert flox_calls(tmp_path) == []


def test_refuses_the_default_line_a_hand_written_file_and_missing_org(repo, case, capsys):
    m, v, anchor = case
    rc, out = run(repo, anchor, capsys)  # the anchor name itself is the default line's variant here
    assert rc == 2 and "is on the default torch line" in out and "without --as-anchor" in out
    (repo / PKGS / f"{anchor}.nix").write_text("# my own file\n{ }: { }\n")
    commit_ledger(repo, "hand-written")
    rc, out = run(repo, v.name, capsys)
    assert rc == 2 and "is not generated" in out and "never replaced" in out
    rc, out = run(repo, v.name, capsys, org="")
    assert rc == 2 and "--org ORG is required" in out
    rc = publishcli.cmd_publish(repo, repo / "variants.toml", v.name, "myorg", as_json=True)
    assert rc == 2 and "--json goes with --as-anchor" in capsys.readouterr().err


def test_pick_anchor_wants_exactly_one_name_and_one_variant_per_line(case):
    m, v, anchor = case
    with pytest.raises(UsageError, match="no anchor branch has a recipe name that maps to"):
        anchorpublish.pick_anchor(m, v, {})
    with pytest.raises(UsageError, match="maps from several anchor names"):
        anchorpublish.pick_anchor(m, v, {v.name: {anchor: ["r/a"], anchor + "-x": ["r/b"]}})
    rival = next(x for x in m.variants if x.line == v.line and x.name != v.name)
    with pytest.raises(UsageError, match="maps to more than one variant"):
        anchorpublish.pick_anchor(m, v, {v.name: {anchor: ["r/a"]}, rival.name: {anchor: ["r/b"]}})
    assert anchorpublish.pick_anchor(m, v, {v.name: {anchor: ["r/a", "r/b"]}}) == anchor


def test_one_line_per_call(repo, case):
    m, v, anchor = case
    other = next((x for x in m.variants if x.line and x.line != v.line), None)
    if other is None:
        pytest.skip("the shipped matrix has one non-default torch line")
    with pytest.raises(UsageError, match="different torch lines"):
        anchorpublish.make_plan(repo, m, [v, other], "myorg", "")


def test_every_accepted_variant_maps_back_to_an_anchor_name_that_maps_to_it(root):
    """The reverse map agrees with anchormap: the anchor name on the variant's line is the variant."""
    m = model.load(root / "variants.toml")
    names = anchorpublish.anchor_names(m, root)
    cases = anchor_cases(m)
    for v, anchor in cases:
        assert v.name == anchormap.variant_name(m, anchor, v.torch_version) == f"{anchor}-{v.line}", (v.name, anchor)
        assert anchor in names[v.name]
    # the publish checkouts live under a git-ignored directory: they never dirty the user's tree
    assert subprocess.run(["git", "check-ignore", "-q", str(anchorpublish.WORK_DIR)], cwd=root).returncode == 0


def test_a_failing_flox_publish_is_recorded_and_stops(repo, case, tmp_path, monkeypatch, capsys):
    m, v, anchor = case
    monkeypatch.setenv("FAKE_FLOX_MODE", "fail")
    rc, out = run(repo, v.name, capsys)
    assert rc == 1 and f"error: flox publish {anchor} failed" in out, out
    rec = ledger.read(repo)[-1]
    assert (rec.variant, rec.action, rec.status, rec.extra["anchor_name"]) == (v.name, "publish", "failed", anchor)
    assert git(repo, "status", "--porcelain") == "" and git(repo, "branch", "--format=%(refname:short)") == "main"
