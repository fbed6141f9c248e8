"""The maintainer's loop, end to end, in one temporary clone, through the real `invoke`, `nox` and `pytest`:

README's own `invoke add` example (as printed) → invoke gen → invoke docs → the fast tier of the suite
→ every documented edit, check and view on the edited tree (tests/test_doc_commands.py's check) →
the QUICKSTART build path (a dry run names the untracked recipes; git add; nox -s build-ALIAS, fake flox)
→ the tests that read what a build leaves → invoke remove ALIAS → invoke gen → invoke docs, green at every
step, and afterwards nothing generated or temporary left: the tracked tree is the clone's first commit
again (which the outer run of the suite tests), and `invoke gen --check` / `invoke docs --check` pass with
the git-ignored leftovers (local ledger, result links) present.

The inner pytest run is the fast tier (`-m "not slow"`: every test of the edit loop, the properties of
the file under test and its Nix evaluation; docs/TESTING.md) and not the whole suite: the slow tier
holds the clone tests themselves (they would recurse), derived matrices of their own and property
searches, which the outer run covers. When the file already holds README's example (a maintainer ran
it), the first GPU combination it lacks is added instead (tests/matrices.py), so the loop holds for any
valid variants.toml.
"""

from __future__ import annotations

import json
import os
import platform
import re

import clone as clonemod
import doccommands
import matrices
import pytest
import test_doc_commands as doctest
from buildmatrix import model
from conftest import ROOT

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get(clonemod.INNER)), reason="inside a clone run: no recursion"),
    pytest.mark.slow,  # runs the fast tier in a clone
]


# What reads the files a build leaves (ledger/local.jsonl, result-* links): the docs' evidence
# regions, the local ledger and the documented figures. The rest of the suite saw the same tracked tree
# in the run before the build.
AFTER_BUILD = ("tests/test_docs.py", "tests/test_local_ledger.py", "tests/test_doc_figures.py", "tests/test_smoke.py")


def _ok(c: clonemod.Clone, command: str, timeout: float = 600) -> str:
    result = c.run(command, timeout=timeout)
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{result.tail(60)}"
    return result.output


def readme_add() -> tuple[str, str]:
    """README's `invoke add ALIAS --cuda X` example, which QUICKSTART must print too: (alias, cuda)."""
    printed = doccommands.extract(ROOT)
    adds = [c.text for c in printed if c.file == "README.md" and c.text.startswith("invoke add ")]
    assert adds, "README.md prints no `invoke add` any more: which example should this test run?"
    quickstart = [c.text.removeprefix(".venv/bin/") for c in printed if c.file == "docs/QUICKSTART.md"]
    assert adds[0] in quickstart, f"README.md's `{adds[0]}` is not QUICKSTART's example any more"
    found = re.fullmatch(r"invoke add (\S+) --cuda (\S+)", adds[0])
    assert found, f"README's example `{adds[0]}` is not of the form `invoke add ALIAS --cuda X`: update this test"
    return found.group(1), found.group(2)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="sm70 builds are x86_64-linux: the build step needs that host")
def test_readme_add_gen_docs_tests_doc_commands_build_remove_keeps_everything_green_and_the_tree_clean(tmp_path, capsys):
    c = clonemod.Clone(tmp_path)
    first_commit = c.run("git rev-parse HEAD").output.strip()
    alias, cuda = readme_add()
    if doctest._refused_as_made(c.root / "variants.toml", alias, {"cuda": cuda}):
        alias, cuda = matrices.absent_gpu_addition(c.root / "variants.toml")
    first = (c.root / "variants.toml").read_text(encoding="utf-8")

    out = _ok(c, f". .venv/bin/activate && invoke add {alias} --cuda {cuda} && invoke gen && invoke docs")
    added = [line.split()[1] for line in out.splitlines() if line.startswith("added ")]
    assert added, out
    _ok(c, '.venv/bin/python -m pytest -q -x -p no:cacheprovider -m "not slow"')

    # The documented edits, checks and views on the edited tree: README's own example is now refused as
    # made, so it runs for the next alias (the report says "edit was made"); reset() goes back to this commit.
    clonemod._git(c.root, "add", "-A")
    clonemod._git(c.root, "commit", "-qm", f"invoke add {alias} --cuda {cuda}")
    failures, report = doctest.check(c.root, c, select=doctest.is_edit_or_check)
    with capsys.disabled():
        if os.environ.get("BUILDMATRIX_SHOW_DOC_COMMANDS"):
            print("\n" + "\n".join(report))
    assert not failures, "\n\n".join(failures)
    ran = [r for r in report if r.startswith("RUN") and "invoke add " in r]
    assert any("edit was made" in r for r in ran), "no documented edit met the matrix it had made:\n" + "\n".join(report)
    c.reset()
    assert c.status() == "", "the clone is not clean after a reset"

    # QUICKSTART's build path: flox builds only git-tracked recipes, so a build first names the untracked ones.
    clonemod._git(c.root, "reset", "-q", "--soft", first_commit)  # the edit uncommitted again, as a maintainer has it
    clonemod._git(c.root, "reset", "-q", "--", ".flox/pkgs")
    untracked = c.run(f". .venv/bin/activate && nox -s build -- {added[0]} -- --dry-run")
    assert "untracked" in untracked.output, f"the dry run before `git add` names no untracked recipe:\n{untracked.tail()}"
    _ok(c, "git add .flox/pkgs")  # flox builds only what git tracks (docs/BUILDING.md, Before you build)
    out = _ok(c, f".venv/bin/nox -s build-{alias}")
    assert all((c.root / f"result-{n}").is_symlink() for n in added), out
    local = [json.loads(line) for line in (c.root / "ledger" / "local.jsonl").read_text().splitlines()]
    assert {(r["variant"], r["action"], r["status"]) for r in local} == {(n, "build", "ok") for n in added}
    assert c.run("git status --porcelain --untracked-files=all -- ledger").output == ""  # the build touched no tracked file
    # The build changed only git-ignored files (the local ledger, result links); the tests that read them:
    _ok(c, f".venv/bin/python -m pytest -q -x -p no:cacheprovider {' '.join(AFTER_BUILD)}")
    _ok(c, ".venv/bin/invoke docs --check")

    out = _ok(c, f".venv/bin/invoke remove {alias}")
    assert sorted(line.split()[1] for line in out.splitlines() if line.startswith("removed ")) == sorted(added)
    out = _ok(c, ".venv/bin/invoke gen")
    assert all(f"deleted   {n}.nix" in out for n in added), out
    _ok(c, ".venv/bin/invoke docs")

    _ok(c, "git add -A")  # the deletions and the edit's undoing, staged: only what differs from the first commit stays
    assert c.status() == "", "left behind after the loop:\n" + c.status()
    assert (c.root / "variants.toml").read_text(encoding="utf-8") == first
    # The tracked tree is the clone's first commit again, which the outer run of the suite tests;
    # what differs is git-ignored (the local ledger, result links): the checks that read those.
    _ok(c, ".venv/bin/invoke gen --check")
    _ok(c, ".venv/bin/invoke docs --check")
    m = model.load(c.root / "variants.toml")
    assert not set(added) & set(m.by_name)
