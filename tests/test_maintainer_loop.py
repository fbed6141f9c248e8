"""The maintainer's loop, end to end, in a temporary clone, through the real `invoke`, `nox` and `pytest`:

invoke add sm70-avx2 --cuda 12.9 → invoke gen → invoke docs → pytest → nox -s build-sm70-avx2 (fake flox)
→ pytest (the tests that read what a build leaves) → invoke remove sm70-avx2 → invoke gen → invoke docs,
green at every pytest step, and afterwards nothing generated or temporary left for `git status` to show: the tracked tree is the
clone's first commit again (which the outer run of the suite tests), and `invoke gen --check` /
`invoke docs --check` pass with the git-ignored leftovers (local ledger, result links) present.

The first inner pytest run is the whole suite except the clone tests themselves (this module and
test_doc_commands, which would recurse: the environment variable clone.INNER skips them).
When the file already builds sm70-avx2 on CUDA 12.9, the first combination it lacks is used
(tests/matrices.py), so the loop holds for any valid variants.toml. Between `invoke gen` and
the build the new recipes are `git add`ed, as docs/BUILDING.md says flox needs; after the
removal `git add -A .flox/pkgs` stages the deletions, and the tree must then be exactly the
clone's first commit again.
"""

from __future__ import annotations

import json
import os
import platform

import clone as clonemod
import matrices
import pytest
from buildmatrix import model

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get(clonemod.INNER)), reason="inside a clone run: no recursion"),
    pytest.mark.slow,  # runs the suite in a clone
]


# What reads the files a build leaves (ledger/local.jsonl, result-* links): the docs' evidence
# regions, the local ledger and the documented figures. The rest of the suite saw the same tracked tree
# in the run before the build.
AFTER_BUILD = ("tests/test_docs.py", "tests/test_local_ledger.py", "tests/test_doc_figures.py", "tests/test_smoke.py")


def _ok(c: clonemod.Clone, command: str, timeout: float = 600) -> str:
    result = c.run(command, timeout=timeout)
    assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{result.tail(60)}"
    return result.output


@pytest.mark.skipif(platform.machine() != "x86_64", reason="sm70 builds are x86_64-linux: the build step needs that host")
def test_add_gen_docs_build_remove_keeps_the_suite_green_and_the_tree_clean(tmp_path):
    c = clonemod.Clone(tmp_path)
    alias, cuda = matrices.absent_gpu_addition(c.root / "variants.toml")
    pytest_cmd = ".venv/bin/python -m pytest -q -x -p no:cacheprovider"
    first = (c.root / "variants.toml").read_text(encoding="utf-8")

    out = _ok(c, f".venv/bin/invoke add {alias} --cuda {cuda}")
    added = [line.split()[1] for line in out.splitlines() if line.startswith("added ")]
    assert added, out
    _ok(c, ".venv/bin/invoke gen")
    _ok(c, ".venv/bin/invoke docs")
    _ok(c, pytest_cmd)

    _ok(c, "git add .flox/pkgs")  # flox builds only what git tracks (docs/BUILDING.md, Before you build)
    out = _ok(c, f".venv/bin/nox -s build-{alias}")
    assert all((c.root / f"result-{n}").is_symlink() for n in added), out
    local = [json.loads(line) for line in (c.root / "ledger" / "local.jsonl").read_text().splitlines()]
    assert {(r["variant"], r["action"], r["status"]) for r in local} == {(n, "build", "ok") for n in added}
    assert c.run("git status --porcelain --untracked-files=all -- ledger").output == ""  # the build touched no tracked file
    # The build changed only git-ignored files (the local ledger, result links); the tests that read them:
    _ok(c, f"{pytest_cmd} {' '.join(AFTER_BUILD)}")
    _ok(c, ".venv/bin/invoke docs --check")

    out = _ok(c, f".venv/bin/invoke remove {alias}")
    assert sorted(line.split()[1] for line in out.splitlines() if line.startswith("removed ")) == sorted(added)
    out = _ok(c, ".venv/bin/invoke gen")
    assert all(f"deleted   {n}.nix" in out for n in added), out
    _ok(c, ".venv/bin/invoke docs")

    _ok(c, "git add -A .flox/pkgs")
    assert c.status() == "", "left behind after the loop:\n" + c.status()
    assert (c.root / "variants.toml").read_text(encoding="utf-8") == first
    # The tracked tree is the clone's first commit again, which the outer run of the suite tests;
    # what differs is git-ignored (the local ledger, result links): the checks that read those.
    _ok(c, ".venv/bin/invoke gen --check")
    _ok(c, ".venv/bin/invoke docs --check")
    m = model.load(c.root / "variants.toml")
    assert not set(added) & set(m.by_name)
