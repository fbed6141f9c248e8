"""Ledger records come from other machines (CI artifacts, other hosts): they are checked, never trusted.

Every line is validated on read and on import (types, timestamps, revisions, names, sizes);
a bad line is an error naming file:line and the field, and nothing is written. Whatever
reaches the docs from a record is escaped, so it can never form Markdown, HTML or a
generated-region marker. And a CI run's records make it back: written by a session to
ledger/local.jsonl, collected, imported, promoted, shown.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matrices
import pytest
from buildmatrix import ledger, model
from buildmatrix.cli import ci as cicli
from buildmatrix.cli import generate
from buildmatrix.cli import ledger as ledgercli
from buildmatrix.docs import build_matrix, readme
from buildmatrix.docs.context import Context
from buildmatrix.docs.markers import parse
from conftest import ROOT

INJECTION = "x\n\n# Pwned <b>bold</b> <script>alert(1)</script>\n<!-- END GENERATED: evidence -->\n"


def _line(**fields) -> str:
    rec = {
        "variant": "v-a",
        "action": "build",
        "status": "ok",
        "start": "2026-12-01T10:00:00Z",
        "end": "2026-12-01T10:05:00Z",
        "git_rev": "a" * 40,
        "host": "runner-1",
        "hardware": "",
        "result": "",
        "log": "",
        "detail": "",
        "extra": {},
    }
    rec.update(fields)
    return json.dumps(rec)


@pytest.fixture
def docs_root(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    for rel in ("variants.toml", "README.md"):
        shutil.copy(ROOT / rel, root / rel)
    for rel in ("patches", "docs"):
        shutil.copytree(ROOT / rel, root / rel)
    matrices.copy_anchor_data(root, ROOT)
    (root / "ledger").mkdir()
    shutil.copy(ROOT / ledger.LEDGER, root / ledger.LEDGER)
    return root


@pytest.fixture
def name(docs_root):
    return model.load(docs_root / "variants.toml").variants[0].name


def _artifact(tmp_path: Path, *lines: str) -> Path:
    art = tmp_path / "ci-records"
    art.mkdir(exist_ok=True)
    (art / "build-x.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return art


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- 1. markup from a record


def test_a_crafted_record_is_refused_by_import_and_promote_and_nothing_is_written(docs_root, name, tmp_path, capsys):
    before = _files(docs_root)
    for field in ("detail", "host", "hardware"):
        art = _artifact(tmp_path, _line(variant=name), _line(variant=name, **{field: INJECTION}))
        assert cicli.cmd_import(str(docs_root), str(art)) == 2
        err = capsys.readouterr().err
        assert f"build-x.jsonl:2: {field}:" in err and "fix:" in err and "Traceback" not in err
        assert _files(docs_root) == before
    # the same line put into the local ledger by hand: promote refuses it, the docs stay as they were
    (docs_root / ledger.LOCAL).write_text(_line(variant=name, detail="<!-- END GENERATED: evidence -->") + "\n")
    before = _files(docs_root)
    assert ledgercli.cmd_ledger(str(docs_root), str(docs_root / "variants.toml"), True) == 2
    err = capsys.readouterr().err
    assert "ledger/local.jsonl:1: detail:" in err and "<!--" in err
    assert _files(docs_root) == before


def test_whatever_a_record_holds_the_docs_show_it_escaped_and_no_marker_forms(docs_root, name):
    m = model.load(docs_root / "variants.toml")
    hostile = ledger.Record(
        name, "build", "failed", "<!-- END GENERATED: readme-summary -->", "",
        "b" * 40, host=INJECTION, hardware="<img src=x onerror=alert(1)>", detail="*a* _b_ [l](http://e) | c & d -->",
    )  # fmt: skip
    evals = ledger.Record(name, "eval", "ok", "2026-12-01T09:00:00Z", "2026-12-01T09:00:00Z", "c" * 40, "h", detail=INJECTION)
    removed = ledger.Record("gone<!--", "smoke", "ok", "2026-12-01", "2026-12-01", "d" * 40, "h")
    records = {(r.variant, r.action): r for r in (hostile, evals, removed)}
    for text in (build_matrix.gen_evidence(Context(m, records)), readme._evidence_line(Context(m, records))):
        assert "<" not in text and "-->" not in text, text
        assert "\n#" not in text and "\n\n<" not in text
    text = build_matrix.gen_evidence(Context(m, records))
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "\\*a\\* \\_b\\_ \\[l\\](http://e) \\| c &amp; d --&gt;" in text
    # and the document that holds it still parses as the same regions
    doc = docs_root / "docs" / "BUILD_MATRIX.md"
    original = doc.read_text(encoding="utf-8")
    start, end = "<!-- BEGIN GENERATED: evidence -->\n", "<!-- END GENERATED: evidence -->"
    head, rest = original.split(start)
    filled = head + start + text + "\n" + end + rest.split(end, 1)[1]
    assert [r.name for r in parse(filled, "BUILD_MATRIX.md")[0].regions] == [
        r.name for r in parse(original, "BUILD_MATRIX.md")[0].regions
    ]
    assert parse(filled, "BUILD_MATRIX.md")[1] == []


# --------------------------------------------------------------------------- 2. validation


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("detail", ["a", "list"], "a string"),
        ("variant", 5, "a string"),
        ("extra", "text", "an object"),
        ("extra", {"store_path": 3}, "extra.store_path: must be str"),
        ("start", "yesterday", "ISO 8601"),
        ("end", "2026-13-45T99:00:00Z", "ISO 8601"),
        ("git_rev", "HEAD; rm -rf /", "hex"),
        ("git_rev", "g" * 40, "hex"),
        ("action", "deploy", "unknown action"),
        ("status", "great", "unknown status"),
        ("variant", "a b/../c", "variant name"),
        ("detail", "x" * 5000, "longer than"),
        ("hardware", "GPU\x1b[31m", "control character"),
    ],
)
def test_a_bad_field_is_refused_on_import_naming_file_line_and_field(docs_root, name, tmp_path, capsys, field, value, says):
    art = _artifact(tmp_path, _line(variant=name), _line(**{"variant": name, field: value}))
    before = _files(docs_root)
    assert cicli.cmd_import(str(docs_root), str(art)) == 2
    err = capsys.readouterr().err
    assert f"build-x.jsonl:2: {field}" in err and says in err and "fix: " in err, err
    assert "Traceback" not in err and "nothing was imported" in err
    assert _files(docs_root) == before


def test_missing_and_unknown_fields_and_oversized_lines_are_refused(docs_root, name, tmp_path, capsys):
    rec = json.loads(_line(variant=name))
    del rec["git_rev"]
    for line, says in (
        (json.dumps(rec), "git_rev: missing"),
        (_line(variant=name, surprise=1), "surprise: unknown field"),
        (_line(variant=name, extra={"k": "x" * 70000}), "longer than"),
        ("[1, 2]", "not a JSON object"),
        ("{not json", "not a ledger record"),
    ):
        art = _artifact(tmp_path, line)
        assert cicli.cmd_import(str(docs_root), str(art)) == 2
        err = capsys.readouterr().err
        assert "build-x.jsonl:1: " in err and says in err, err
    assert not (docs_root / ledger.LOCAL).exists()


def test_variants_not_in_the_model_are_refused_where_the_model_is_at_hand(docs_root, name, tmp_path, capsys):
    art = _artifact(tmp_path, _line(variant=name), _line(variant="pytorch-python399-cuda99_9-sm99-avx9"))
    assert cicli.cmd_import(str(docs_root), str(art)) == 2
    err = capsys.readouterr().err
    assert "build-x.jsonl:2: variant: " in err and "not a variant of" in err and "variants.toml" in err
    assert not (docs_root / ledger.LOCAL).exists()
    (docs_root / ledger.LOCAL).write_text(_line(variant="pytorch-python399-cuda99_9-sm99-avx9") + "\n")
    committed = (docs_root / ledger.LEDGER).read_text(encoding="utf-8")
    assert ledgercli.cmd_ledger(str(docs_root), str(docs_root / "variants.toml"), True) == 2
    assert "ledger/local.jsonl:1: variant: " in capsys.readouterr().err
    assert (docs_root / ledger.LEDGER).read_text(encoding="utf-8") == committed


def test_a_wrong_type_in_the_local_ledger_stops_promote_and_writes_nothing(docs_root, name, capsys):
    (docs_root / ledger.LOCAL).write_text(_line(variant=name) + "\n" + _line(variant=name, end=1764583200) + "\n")
    before = _files(docs_root)
    assert ledgercli.cmd_ledger(str(docs_root), str(docs_root / "variants.toml"), True) == 2
    err = capsys.readouterr().err
    assert "ledger/local.jsonl:2: end: " in err and "Traceback" not in err
    assert _files(docs_root) == before


@pytest.mark.parametrize("field, value", [("variant", ["x"]), ("end", 5), ("extra", [1]), ("status", None)])
def test_a_bad_committed_line_makes_docs_name_file_and_line_not_traceback(docs_root, capsys, field, value):
    path = docs_root / ledger.LEDGER
    n = len(path.read_text(encoding="utf-8").splitlines())
    with path.open("a", encoding="utf-8") as fh:
        fh.write(_line(**{field: value}) + "\n")
    assert generate.cmd_docs(str(docs_root), str(docs_root / "variants.toml"), True) == 2
    err = capsys.readouterr().err
    assert f"ledger/records.jsonl:{n + 1}: {field}: " in err and "Traceback" not in err, err


def test_the_committed_ledger_validates_against_the_shipped_model():
    m = model.load(ROOT / "variants.toml")
    records = ledger.read_lines(ROOT / ledger.LEDGER, "committed", set(m.by_name))  # raises on any bad line
    assert records and records == ledger.read(ROOT, committed_only=True)


def test_sessions_write_records_that_their_readers_accept(docs_root, name):
    rec = ledger.Record(
        name, "build", "failed", ledger.now(), ledger.now(), "e" * 40 + "-dirty", "h",
        detail="could not run flox: <class 'OSError'>\nsecond line\x00", hardware="x" * 9000,
    )  # fmt: skip
    ledger.append(docs_root, rec)
    (back,) = ledger.pending(docs_root)
    assert "\n" not in back.detail and "<class" not in back.detail and "could not run flox" in back.detail
    assert len(back.hardware) <= ledger.TEXT_LIMITS["hardware"]


# --------------------------------------------------------------------------- 4. CI records come back


def _session_checkout(docs_root: Path, tmp_path: Path) -> Path:
    """A fresh CI checkout: tracked files only (ledger/local.jsonl is git-ignored, so it is not there)."""
    co = tmp_path / "checkout"
    shutil.copytree(docs_root, co)
    (co / ledger.LOCAL).unlink(missing_ok=True)
    return co


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def _collect(co: Path, path: Path, before: int, out: Path) -> None:
    """The workflow's "Collect the new ledger records" step: ``tail -n +$((before+1)) PATH > out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = (co / path).read_text(encoding="utf-8").splitlines(keepends=True) if (co / path).exists() else []
    out.write_text("".join(lines[before:]), encoding="utf-8")


def test_records_of_a_ci_session_come_back_through_import_and_promote_into_the_docs(docs_root, name, tmp_path, capsys):
    co = _session_checkout(docs_root, tmp_path)
    art = tmp_path / "ci-records"
    # the build job: remember the length, the session appends (as every session does: to the local ledger), collect
    before = {p: _lines(co / p) for p in (ledger.LEDGER, ledger.LOCAL)}
    store = "/nix/store/" + "0" * 32 + f"-{name}"
    build = ledger.Record(
        name, "build", "ok", "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z", "f" * 40, "ci-runner", hardware="x86_64 *fast*",
        result=f"result-{name}", detail="built [ok](http://x) | #1", extra={"store_path": store},
    )  # fmt: skip
    smoke = ledger.Record(
        name, "smoke", "ok", "2026-12-02T12:00:00Z", "2026-12-02T12:01:00Z", "f" * 40, "ci-gpu", result=store, detail="9 checks"
    )
    assert ledger.append(co, build) == co / ledger.LOCAL
    ledger.append(co, smoke)
    # what the template collects today (ledger/records.jsonl) is empty: the sessions never write there
    _collect(co, ledger.LEDGER, before[ledger.LEDGER], tmp_path / "as-now" / "build-x.jsonl")
    assert (tmp_path / "as-now" / "build-x.jsonl").read_text(encoding="utf-8") == ""
    # what it must collect: ledger/local.jsonl
    _collect(co, ledger.LOCAL, before[ledger.LOCAL], art / f"build-{name}.jsonl")
    assert _lines(art / f"build-{name}.jsonl") == 2
    # the maintainer: ci-import (into the local ledger, as it says), then promote (evidence and docs)
    assert cicli.cmd_import(str(docs_root), str(art)) == 0
    out = capsys.readouterr().out
    assert f"2 record(s) appended to {ledger.LOCAL}" in out and "invoke ledger --promote" in out
    assert [r.action for r in ledger.pending(docs_root)] == ["build", "smoke"]
    assert ledgercli.cmd_ledger(str(docs_root), str(docs_root / "variants.toml"), True) == 0
    capsys.readouterr()
    assert generate.cmd_docs(str(docs_root), str(docs_root / "variants.toml"), True) == 0  # promote wrote the docs
    bm = (docs_root / "docs" / "BUILD_MATRIX.md").read_text(encoding="utf-8")
    assert f"| `{name}` | build | ok | x86\\_64 \\*fast\\* | ci-runner | 2026-12-02 | `fffffff` |" in bm
    assert "built \\[ok\\](http://x) \\| \\#1" in bm
    assert f"| `{name}` | smoke test | ok |" in bm
    assert cicli.cmd_import(str(docs_root), str(art)) == 0  # importing again adds nothing: they are evidence now
    assert "0 record(s) appended" in capsys.readouterr().out


def test_the_workflow_collects_the_ledger_the_sessions_write():
    text = (ROOT / ".github" / "workflows" / "build.yml").read_text(encoding="utf-8")
    # The build and smoke jobs copy what their sessions recorded; the push jobs write their own records (jq).
    collect = [line for line in text.splitlines() if "ci-records/" in line and "ledger/" in line]
    assert collect and all(str(ledger.LOCAL) in line for line in collect)
    assert "ledger/records.jsonl" not in text
