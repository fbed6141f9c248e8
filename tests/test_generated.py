"""The one generated-file driver (buildmatrix.generated) on small outputs in a scratch directory."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from buildmatrix import generated
from buildmatrix.errors import EXIT_BAD_INPUT

MARK = "# made by the test driver"
OWNED = generated.Owned(directory=PurePosixPath("out"), suffix=".txt", marker=MARK)


def _out(name: str, body: str = "body\n", marker: str | None = MARK) -> generated.Output:
    text = (MARK + "\n" if marker else "") + body
    return generated.Output(path=PurePosixPath("out") / name, text=text, marker=marker, what=f"the output {name}")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """out/ holding: a.txt current, b.txt edited, old.txt generated but no output's, notes.txt hand-written."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text(MARK + "\nbody\n", encoding="utf-8")
    (tmp_path / "out" / "b.txt").write_text(MARK + "\nedited by hand\n", encoding="utf-8")
    (tmp_path / "out" / "old.txt").write_text(MARK + "\ngone\n", encoding="utf-8")
    (tmp_path / "out" / "notes.txt").write_text("mine\n", encoding="utf-8")
    (tmp_path / "out" / "skip.md").write_text(MARK + "\nanother suffix\n", encoding="utf-8")
    return tmp_path


OUTPUTS = [_out("a.txt"), _out("b.txt"), _out("c.txt")]


def test_plan_gives_each_output_its_state_and_finds_the_stale_files(root):
    before = _tree(root)
    planned = generated.plan(root, OUTPUTS, owned=[OWNED])
    assert [(str(e.output.path), e.state) for e in planned.entries] == [
        ("out/a.txt", "unchanged"),
        ("out/b.txt", "different"),
        ("out/c.txt", "missing"),
    ]
    assert planned.state("out/c.txt") == generated.MISSING
    # Only the marked file of the owned suffix: not the hand-written notes, not the .md with the marker.
    assert planned.stale == (PurePosixPath("out/old.txt"),)
    assert planned.problems == ()
    assert _tree(root) == before  # planning writes nothing


def test_no_owned_directory_means_no_stale_files(root):
    assert generated.plan(root, OUTPUTS).stale == ()


def test_check_writes_nothing_and_reports_the_drift(root):
    before = _tree(root)
    report = generated.check(generated.plan(root, OUTPUTS, owned=[OWNED]))
    assert _tree(root) == before
    assert report.checked and not report.clean and report.changed
    assert report.created == ("out/c.txt",) and report.updated == ("out/b.txt",)
    assert report.unchanged == ("out/a.txt",) and report.stale == ("out/old.txt",) and report.deleted == ()
    assert report.lines() == ["missing   out/c.txt", "different out/b.txt", "stale     out/old.txt"]


def test_write_writes_what_differs_prunes_the_stale_and_leaves_the_rest(root):
    stamp = (root / "out" / "a.txt").stat().st_mtime_ns
    report = generated.write(generated.plan(root, OUTPUTS, owned=[OWNED]), prune=True)
    assert (report.created, report.updated, report.unchanged) == (("out/c.txt",), ("out/b.txt",), ("out/a.txt",))
    assert report.deleted == ("out/old.txt",) and report.stale == () and not report.checked
    for name in ("a.txt", "b.txt", "c.txt"):
        assert (root / "out" / name).read_text(encoding="utf-8") == MARK + "\nbody\n"
    assert (root / "out" / "a.txt").stat().st_mtime_ns == stamp  # unchanged: not rewritten
    assert not (root / "out" / "old.txt").exists()
    assert (root / "out" / "notes.txt").read_text(encoding="utf-8") == "mine\n"  # hand-written: untouched
    assert (root / "out" / "skip.md").exists()
    again = generated.check(generated.plan(root, OUTPUTS, owned=[OWNED]))
    assert again.clean and not again.changed and again.unchanged == ("out/a.txt", "out/b.txt", "out/c.txt")


def test_write_without_prune_keeps_the_stale_files_and_says_so(root):
    report = generated.write(generated.plan(root, OUTPUTS, owned=[OWNED]), prune=False)
    assert report.stale == ("out/old.txt",) and report.deleted == ()
    assert (root / "out" / "old.txt").exists()
    assert "stale     out/old.txt" in report.lines()


def test_a_hand_written_file_in_an_output_s_place_stops_everything(root):
    (root / "out" / "c.txt").write_text("my own c\n", encoding="utf-8")
    before = _tree(root)
    planned = generated.plan(root, OUTPUTS, owned=[OWNED])
    assert len(planned.problems) == 1
    assert planned.problems[0].startswith("out/c.txt: a hand-written file") and "the output c.txt" in planned.problems[0]
    for run in (generated.check, lambda p: generated.write(p, prune=True)):
        with pytest.raises(generated.Refused) as caught:
            run(planned)
        assert caught.value.exit_status == EXIT_BAD_INPUT
        assert "never overwritten" in str(caught.value) and str(caught.value).endswith("nothing was written")
        # b.txt differs and old.txt is stale, yet nothing was written or deleted.
        assert _tree(root) == before


def test_a_directory_in_an_output_s_place_is_a_problem(root):
    (root / "out" / "c.txt").mkdir()
    planned = generated.plan(root, OUTPUTS)
    assert planned.problems and "not a file" in planned.problems[0]
    with pytest.raises(generated.Refused):
        generated.write(planned)


def test_an_output_without_a_marker_is_owned_by_its_path(tmp_path):
    """A file whose format has no comment line (the JSON schema): whatever is there is replaced."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "s.json").write_text("{}\n", encoding="utf-8")
    out = _out("s.json", body='{"a": 1}\n', marker=None)
    planned = generated.plan(tmp_path, [out])
    assert planned.problems == () and planned.state(out.path) == generated.DIFFERENT
    assert generated.write(planned).updated == ("out/s.json",)
    assert (tmp_path / "out" / "s.json").read_text(encoding="utf-8") == '{"a": 1}\n'


def test_bytes_decide_not_newline_translation(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_bytes((MARK + "\r\nbody\r\n").encode())
    assert generated.plan(tmp_path, [_out("a.txt")]).state("out/a.txt") == generated.DIFFERENT


def test_missing_directories_are_created(tmp_path):
    deep = generated.Output(path=PurePosixPath("x/y/z.txt"), text="z\n", marker=None)
    report = generated.write(generated.plan(tmp_path, [deep], owned=[OWNED]))
    assert report.created == ("x/y/z.txt",) and (tmp_path / "x" / "y" / "z.txt").read_text() == "z\n"


def test_an_output_named_twice_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="out/a.txt"):
        generated.plan(tmp_path, [_out("a.txt"), _out("a.txt", body="other\n")])


def test_the_report_shape_and_its_renderings(root):
    report = generated.write(generated.plan(root, OUTPUTS, owned=[OWNED]), prune=True)
    assert report.summary() == "1 created, 1 updated, 1 unchanged, 1 deleted, 0 stale"
    assert report.as_dict() == {
        "check": False,
        "clean": False,
        "created": ["out/c.txt"],
        "updated": ["out/b.txt"],
        "unchanged": ["out/a.txt"],
        "deleted": ["out/old.txt"],
        "stale": [],
    }
    lines = report.lines(lambda p: PurePosixPath(p).name, lambda field, path: " (gone)" if field == "deleted" else "")
    assert lines == ["created   c.txt", "updated   b.txt", "deleted   old.txt (gone)"]
    with pytest.raises(AttributeError):
        report.created = ()  # frozen
