"""The check's memo (buildmatrix.gencache): a full `gen --check` on unchanged inputs renders nothing,
and still finds every drift a rendering check finds: a hand-edited, deleted or stale recipe, a
hand-edited jobset, a hand-written file in a recipe's place, a changed variants.toml, changed code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from buildmatrix import gencache, generated, recipes
from buildmatrix.cli import generate
from mini import MINI
from textedit import mutate

PKGS = Path(".flox") / "pkgs"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "variants.toml").write_text(MINI, encoding="utf-8")
    (tmp_path / "patches").mkdir()
    (tmp_path / "patches" / "fix.patch").write_text("")
    assert _gen(tmp_path, check=False) == 0  # writes the tree and the memo
    assert (tmp_path / gencache.CACHE_FILE).is_file()
    return tmp_path


def _gen(root: Path, check: bool = True, as_json: bool = False) -> int:
    return generate.cmd_gen(str(root / "variants.toml"), str(root), None, check, True, {}, as_json, True)


@pytest.fixture
def no_render(monkeypatch):
    """Fail the test if the check renders (it should use the memo)."""

    def refuse(*args, **kwargs):
        raise AssertionError("rendered although the memo's key matched")

    monkeypatch.setattr(generate, "_full_outputs", refuse)


def _drift(root: Path, capsys) -> dict:
    capsys.readouterr()
    assert _gen(root, as_json=True) == 1
    return json.loads(capsys.readouterr().out)


def _a_recipe(root: Path) -> Path:
    return sorted((root / PKGS).glob("*.nix"))[0]


def test_an_unchanged_tree_is_checked_from_the_memo(tree, no_render):
    assert _gen(tree) == 0


def test_the_memo_finds_a_hand_edited_recipe(tree, no_render, capsys):
    victim = _a_recipe(tree)
    victim.write_text(victim.read_text() + "# hand edit\n")
    assert _drift(tree, capsys)["different"] == [victim.name]


def test_the_memo_finds_a_deleted_recipe(tree, no_render, capsys):
    victim = _a_recipe(tree)
    victim.unlink()
    assert _drift(tree, capsys)["missing"] == [victim.name]


def test_the_memo_finds_a_stale_recipe(tree, no_render, capsys):
    (tree / PKGS / "pytorch-gone.nix").write_text(recipes.MARKER + "\n{ }: { }\n")
    assert _drift(tree, capsys)["stale"] == ["pytorch-gone.nix"]


def test_the_memo_finds_a_hand_edited_jobset(tree, no_render, capsys):
    jobs = tree / ".flox" / "jobs.nix"
    jobs.write_text(jobs.read_text() + "\n")
    assert _drift(tree, capsys)["jobset"] == generated.DIFFERENT


def test_the_memo_still_refuses_a_hand_written_file_in_a_recipes_place(tree, no_render):
    victim = _a_recipe(tree)
    victim.write_text("{ }: { }\n")  # no marker: hand-written
    assert _gen(tree) == 2


def test_a_changed_variants_toml_is_rendered_and_found(tree, capsys):
    before = gencache.load(tree, _key(tree))
    f = tree / "variants.toml"
    f.write_text(mutate(MINI, 'title = "PyTorch"', 'title = "PyTorch (edited)"'), encoding="utf-8")
    assert gencache.load(tree, _key(tree)) is None  # another key: the memo does not apply
    drift = _drift(tree, capsys)
    assert drift["different"], "every recipe names its package's title"
    assert before is not None


def test_changed_generator_code_is_another_key(tree, monkeypatch, tmp_path_factory):
    copy = tmp_path_factory.mktemp("pkg") / "buildmatrix"
    shutil.copytree(gencache.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(gencache, "PACKAGE", copy)
    same = gencache.key(b"x")
    template = next((copy / "recipes" / "templates").glob("*.j2"))
    template.write_text(template.read_text() + "\n")
    assert gencache.key(b"x") != same
    assert gencache.key(b"x") != gencache.key(b"y") and gencache.key(b"x", ["a"]) != gencache.key(b"x")


def test_a_corrupt_memo_is_ignored(tree, capsys):
    (tree / gencache.CACHE_FILE).write_text("{ not json")
    assert _gen(tree) == 0
    victim = _a_recipe(tree)
    victim.unlink()
    assert _drift(tree, capsys)["missing"] == [victim.name]


def test_a_digest_only_output_is_never_written(tree):
    outputs = gencache.load(tree, _key(tree))
    _a_recipe(tree).unlink()
    with pytest.raises(ValueError):
        generated.write(generated.plan(tree, outputs))


def _key(root: Path) -> str:
    return generate.memo_key(root, str(root / "variants.toml"))


def test_gen_names_the_workflow_where_its_generator_writes_it():
    from buildmatrix.ci import workflow

    assert str(generate.WORKFLOW_FILE) == str(workflow.WORKFLOW_FILE)
