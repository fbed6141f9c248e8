"""The per-line pages of `invoke docs` (docs/matrix/torch<M>_<m>.md), for any valid variants.toml.

The set of pages is the set of torch lines of the model: a new line gets a page, a removed
line's page is stale (`--check` names it, `invoke docs` deletes it), and a file in docs/matrix/
without the generated first line is hand-written: never deleted, never overwritten. Every
expectation is computed from the model of the file under test: the shipped one, the derived
ones of tests/matrices.py (KINDS, plus a line added and a line removed) and MINI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matrices
import pytest
import test_docs
from buildmatrix import docs, edit, generated, model
from buildmatrix.cli import generate
from buildmatrix.docs import DocsError
from buildmatrix.model import hashes
from buildmatrix.model.variant import is_prerelease
from mini import MINI, load_text
from textedit import mutate

PAGE_KINDS = (*matrices.KINDS, "line-added", "line-removed")
ROW_NAME = re.compile(r"^\| `([^`]+)` \|", re.M)


def _pages_on_disk(root: Path) -> dict[str, str]:
    return {rel: (root / rel).read_text(encoding="utf-8") for rel in test_docs.page_files(root)}


def _expected_pages(m: model.Matrix) -> set[str]:
    return {str(docs.line_page(line)) for line in m.torch_lines}


def _line_pages(paths) -> list[str]:
    """The line pages among written page paths (the anchor pages, docs/anchor/, are another page set)."""
    return sorted(p for p in map(str, paths) if p.startswith(str(docs.LINE_PAGES_DIR) + "/"))


def _listed(page: str) -> list[str]:
    """The variant names of a page's variant list (the rows after its ``## Variants`` heading)."""
    return ROW_NAME.findall(page.split("\n## Variants\n", 1)[1])


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    files = [root / "README.md", *(root / "docs").glob("*.md"), *(root / docs.LINE_PAGES_DIR).glob("*")]
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(files) if p.is_file()}


def assert_pages_are_the_lines(root: Path, m: model.Matrix) -> None:
    """One page per torch line, each wholly generated and listing exactly its line's variants; the index,
    README's picker and QUICKSTART's decision tree link to them, and every link resolves."""
    pages = _pages_on_disk(root)
    assert set(pages) == _expected_pages(m)
    unverified = []
    for line, vs in m.torch_lines.items():
        rel = str(docs.line_page(line))
        text = pages[rel]
        assert text.split("\n", 1)[0] == docs.PAGE_HEADER, rel
        assert f"# torch {line}" in text
        assert sorted(_listed(text)) == sorted(v.name for v in vs), rel
        unverified += re.findall(r"`([^`]+)`", "".join(re.findall(r"^\*\*(?:pin|source) .*$", text, re.M)))
    # Every variant that fetches something unverified is named once, on its line's page; the index counts them.
    assert sorted(unverified) == sorted(hashes.unverified(m))
    counts = test_docs._regions((root / "docs" / "BUILD_MATRIX.md").read_text(encoding="utf-8"))["unverified-fetches"]
    rows = test_docs._tables(counts)[0][1:] if unverified else []
    assert sum(int(r[3]) for r in rows) == len(unverified)
    index = test_docs._regions((root / "docs" / "BUILD_MATRIX.md").read_text(encoding="utf-8"))["torch-lines"]
    rows = [r for r in test_docs._tables(index)[0][1:]]
    assert [r[0].split()[0] for r in rows] == list(m.torch_lines)
    for row, line in zip(rows, m.torch_lines):
        assert f"({docs.line_page(line).relative_to('docs')})" in row[1]
        assert row[4].startswith(f"{len(m.torch_lines[line])} (")
    readme = test_docs._regions((root / "README.md").read_text(encoding="utf-8"))
    quick = test_docs._regions((root / "docs" / "QUICKSTART.md").read_text(encoding="utf-8"))
    released = [line for line, vs in m.torch_lines.items() if not all(is_prerelease(v.torch_version) for v in vs)]
    for line in released:
        assert f"]({docs.line_page(line)}#" in readme["gpu-picker"], line
        assert f"]({docs.line_page(line).relative_to('docs')}#" in quick["decision-tree"], line
    for line in m.torch_lines:
        assert f"[{line}]({docs.line_page(line)})" in readme["summary"], line
    test_docs.assert_links_resolve(root)


@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_every_derived_matrix_gets_one_page_per_line(kind, tmp_path):
    f, how = matrices.derive(kind, tmp_path)
    m = model.load(f)
    report = docs.sync(tmp_path, m)
    assert _line_pages(report.pages) == sorted(_expected_pages(m)), how
    assert_pages_are_the_lines(tmp_path, m)
    assert generate.cmd_docs(str(tmp_path), str(f), True) == 0, how


def test_shipped_pages_are_the_lines(root, shipped):
    assert_pages_are_the_lines(root, shipped)


def test_a_new_line_gets_its_page_and_the_others_stay(tmp_path, capsys, monkeypatch):
    f, _ = matrices.derive("shipped", tmp_path)
    docs.sync(tmp_path, model.load(f))
    before = _pages_on_disk(tmp_path)
    line, added = matrices.add_torch_line(f)
    m = model.load(f)
    page = str(docs.line_page(line))
    assert page not in before
    snapshot = _snapshot(tmp_path)
    assert generate.cmd_docs(str(tmp_path), str(f), True) == 1
    assert f"out of date  {page}  (new page)" in capsys.readouterr().out
    assert _snapshot(tmp_path) == snapshot  # --check writes nothing
    written = []
    real = generated.write_atomic
    monkeypatch.setattr(generated, "write_atomic", lambda path, text: (written.append(path), real(path, text)))
    report = docs.sync(tmp_path, m)
    assert page in report.updated and report.drift[page] == ["new page"] and not report.stale
    assert tmp_path / page in written  # through the atomic writer, like every document
    after = _pages_on_disk(tmp_path)
    assert set(after) == set(before) | {page}
    assert sorted(_listed(after[page])) == sorted(added)
    # The other pages change only where they link to the lines (their navigation line).
    for rel, text in before.items():
        old = [x for x in text.splitlines() if "Other lines:" not in x]
        assert [x for x in after[rel].splitlines() if "Other lines:" not in x] == old, rel
        assert f"[{line}]({docs.line_page(line).name})" in after[rel], rel
    assert_pages_are_the_lines(tmp_path, m)
    assert generate.cmd_docs(str(tmp_path), str(f), True) == 0


def test_a_removed_line_leaves_a_stale_page_that_check_names_and_docs_deletes(tmp_path, capsys):
    f, _ = matrices.derive("shipped", tmp_path)
    docs.sync(tmp_path, model.load(f))
    notes = tmp_path / docs.LINE_PAGES_DIR / "NOTES.md"
    notes.write_text("# Notes on the line pages\n\nWritten by hand.\n", encoding="utf-8")
    line, _ = matrices.remove_torch_line(f)
    m = model.load(f)
    page = str(docs.line_page(line))
    snapshot = _snapshot(tmp_path)
    assert generate.cmd_docs(str(tmp_path), str(f), True) == 1
    out = capsys.readouterr().out
    assert re.search(rf"^stale +{re.escape(page)} ", out, re.M), out
    assert "NOTES.md" not in out
    assert _snapshot(tmp_path) == snapshot
    assert generate.cmd_docs(str(tmp_path), str(f), True, as_json=True) == 1
    assert json.loads(capsys.readouterr().out)["stale"] == [page]
    assert generate.cmd_docs(str(tmp_path), str(f), False) == 0
    assert f"deleted   {page}" in capsys.readouterr().out
    assert not (tmp_path / page).exists()
    assert notes.read_text(encoding="utf-8") == "# Notes on the line pages\n\nWritten by hand.\n"
    assert_pages_are_the_lines(tmp_path, m)
    assert generate.cmd_docs(str(tmp_path), str(f), True) == 0


def test_a_hand_edited_page_is_drift_and_the_next_run_restores_it(tmp_path, capsys):
    f, _ = matrices.derive("shipped", tmp_path)
    m = model.load(f)
    docs.sync(tmp_path, m)
    rel = str(docs.line_page(next(iter(m.torch_lines))))
    good = (tmp_path / rel).read_text(encoding="utf-8")
    (tmp_path / rel).write_text(good.replace("## Variants", "## Variants, edited by hand", 1), encoding="utf-8")
    assert generate.cmd_docs(str(tmp_path), str(f), True) == 1
    assert f"out of date  {rel}  (page)" in capsys.readouterr().out
    assert docs.sync(tmp_path, m).updated == [rel]
    assert (tmp_path / rel).read_text(encoding="utf-8") == good


def test_a_hand_written_file_in_a_page_s_place_is_refused_and_nothing_is_written(tmp_path, capsys):
    f, _ = matrices.derive("shipped", tmp_path)
    m = model.load(f)
    docs.sync(tmp_path, m)
    alias, cuda = matrices.absent_gpu_addition(f)
    edit.add(f, alias, cuda=cuda)  # every document is stale now: a run would rewrite them
    line = next(iter(m.torch_lines))
    mine = tmp_path / docs.line_page(line)
    mine.write_text(f"# torch {line}, my notes\n", encoding="utf-8")  # no generated first line
    snapshot = _snapshot(tmp_path)
    for check in (False, True):
        assert generate.cmd_docs(str(tmp_path), str(f), check) == 2
        err = capsys.readouterr().err
        assert f"{docs.line_page(line)}: a hand-written file" in err and "never overwritten" in err, err
        assert "nothing was written" in err
        assert _snapshot(tmp_path) == snapshot
    with pytest.raises(DocsError, match="rename or move it"):
        docs.sync(tmp_path, model.load(f))


def test_a_hand_written_file_named_like_a_gone_line_is_left_alone(tmp_path):
    m = load_text(tmp_path, MINI)
    gone = tmp_path / docs.LINE_PAGES_DIR / f"torch{matrices.absent_line(m).replace('.', '_')}.md"
    gone.parent.mkdir(parents=True)
    gone.write_text("kept\n", encoding="utf-8")
    report = docs.sync(tmp_path, m, required={})
    assert not report.stale and gone.read_text(encoding="utf-8") == "kept\n"
    assert docs.sync(tmp_path, m, check=True, required={}).clean


# ----------------------------------------------------------------- MINI: a file of two lines, no default line


def test_mini_without_a_default_line_gets_a_page_per_line(tmp_path):
    m = load_text(tmp_path, MINI)
    assert not m.defaults.torch and len(m.torch_lines) > 1
    report = docs.sync(tmp_path, m, required={})
    pages = _pages_on_disk(tmp_path)
    assert set(_line_pages(pages)) == _expected_pages(m) == set(_line_pages(report.pages))
    for line, vs in m.torch_lines.items():
        text = pages[str(docs.line_page(line))]
        assert sorted(_listed(text)) == sorted(v.name for v in vs)
        assert "Names: no line token\n" in text  # no [defaults] torch: no line is "the default"
    assert docs.sync(tmp_path, m, check=True, required={}).clean


def test_mini_a_pre_release_line_gets_a_page_and_goes_again(tmp_path):
    nightly = (
        '[source.nightly]\nversion = "2.11.0a0+gitf3b7280"\nowner = "pytorch"\nrepo = "pytorch"\n'
        'rev = "f3b72801a6bc917d98d6b392c6d223f91348989f"\nhash = ""\nfetch_submodules = true\n'
        'fetcher = "fetchFromGitHub+submodules"\nunverified = "not known"\n\n'
    )
    block = (
        '\n[[matrix]]\nname = "nightly"\ntarget = "cpu"\npackages = ["pytorch"]\npython = ["3.13"]\n'
        'isa = ["avx512"]\npin = "p12"\ntorch = "nightly"\nsuffix = "nightly"\n'
    )
    base = mutate(
        MINI,
        'packages = ["pytorch", "torchvision"]\n\n[package',
        'packages = ["pytorch", "torchvision"]\ntorch = "2.10"\n\n[package',
    )
    m = load_text(tmp_path, mutate(base, "[nixpkgs_patch.", nightly + "[nixpkgs_patch.") + block)
    docs.sync(tmp_path, m, required={})
    page = tmp_path / docs.line_page("2.11")
    text = page.read_text(encoding="utf-8")
    assert "# torch 2.11 (pre-release: nightly)" in text and "`-nightly`" in text
    assert _listed(text) == ["pytorch-python313-cpu-avx512-nightly"]
    m = load_text(tmp_path, base)
    report = docs.sync(tmp_path, m, check=True, required={})
    assert report.stale == [str(docs.line_page("2.11"))] and not report.clean and page.exists()
    docs.sync(tmp_path, m, required={})
    assert not page.exists() and set(_pages_on_disk(tmp_path)) == _expected_pages(m)


def test_a_file_where_the_pages_directory_goes_is_an_error(tmp_path):
    m = load_text(tmp_path, MINI)
    (tmp_path / "docs").mkdir()
    (tmp_path / docs.LINE_PAGES_DIR).write_text("not a directory\n", encoding="utf-8")
    with pytest.raises(DocsError, match="docs/matrix: not a directory"):
        docs.sync(tmp_path, m, required={})
