"""Sessions record to the git-ignored local ledger; `invoke ledger --promote` makes the records committed evidence.

So a build, a failed build or a smoke test leaves every tracked file as it was (pytest and
`invoke docs --check` stay green), and the committed docs show exactly the promoted records.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import matrices
import pytest
from buildmatrix import ledger, model
from buildmatrix.cli import generate
from buildmatrix.cli import ledger as ledgercli
from buildmatrix.cli import smoke as smokecli
from buildmatrix.detect import probe as detect
from buildmatrix.errors import EXIT_SKIPPED
from conftest import ROOT


def _rec(name: str, action: str = "build", status: str = "ok", end: str = "2026-11-30T10:00:00Z") -> ledger.Record:
    return ledger.Record(name, action, status, start=end, end=end, git_rev="c" * 40, host="h")


@pytest.fixture
def docs_root(tmp_path):
    for rel in ("variants.toml", "README.md"):
        shutil.copy(ROOT / rel, tmp_path / rel)
    for rel in ("patches", "docs"):
        shutil.copytree(ROOT / rel, tmp_path / rel)
    matrices.copy_anchor_data(tmp_path, ROOT)
    (tmp_path / "ledger").mkdir()
    shutil.copy(ROOT / ledger.LEDGER, tmp_path / ledger.LEDGER)  # the committed ledger, not this machine's records
    return tmp_path


def test_the_local_ledger_is_git_ignored_and_the_committed_one_is_not():
    ignored = subprocess.run(["git", "check-ignore", "-q", str(ledger.LOCAL)], cwd=ROOT)
    assert ignored.returncode == 0, f"{ledger.LOCAL} must be in .gitignore"
    assert subprocess.run(["git", "check-ignore", "-q", str(ledger.LEDGER)], cwd=ROOT).returncode == 1


def test_append_goes_local_readers_see_both_docs_see_committed(docs_root):
    name = model.load(docs_root / "variants.toml").variants[0].name
    committed = ledger.read(docs_root, committed_only=True)
    path = ledger.append(docs_root, _rec(name))
    assert path == docs_root / ledger.LOCAL
    assert ledger.read(docs_root, committed_only=True) == committed
    assert ledger.read(docs_root)[-1].variant == name and ledger.latest(docs_root)[(name, "build")].status == "ok"
    assert (name, "build") not in ledger.latest(docs_root, committed_only=True)
    f = str(docs_root / "variants.toml")
    assert generate.cmd_docs(str(docs_root), f, True) == 0  # a new local record does not make the docs stale


def test_promote_moves_records_and_regenerates_the_docs(docs_root, capsys):
    m = model.load(docs_root / "variants.toml")
    name = m.variants[0].name
    before = (docs_root / ledger.LEDGER).read_text(encoding="utf-8")
    ledger.append(docs_root, _rec(name, "build", "failed", "2026-11-30T09:00:00Z"))
    ledger.append(docs_root, _rec(name))
    f = str(docs_root / "variants.toml")
    assert ledgercli.cmd_ledger(str(docs_root), f, False, True) == 0
    assert [r["status"] for r in json.loads(capsys.readouterr().out)["pending"]] == ["failed", "ok"]
    assert ledgercli.cmd_ledger(str(docs_root), f, True) == 0
    out = capsys.readouterr().out
    assert "promoted 2 record(s)" in out and "git add ledger/records.jsonl" in out
    after = (docs_root / ledger.LEDGER).read_text(encoding="utf-8")
    assert after.startswith(before) and len(after.splitlines()) == len(before.splitlines()) + 2
    assert not (docs_root / ledger.LOCAL).exists() and ledger.pending(docs_root) == []
    assert generate.cmd_docs(str(docs_root), f, True) == 0  # promote regenerated the docs
    bm = (docs_root / "docs" / "BUILD_MATRIX.md").read_text(encoding="utf-8")
    assert f"| `{name}` | build | ok |" in bm
    assert ledgercli.cmd_ledger(str(docs_root), f, True) == 0
    assert "nothing to promote" in capsys.readouterr().out


def test_a_broken_local_line_is_named_and_nothing_moves(docs_root, capsys):
    (docs_root / ledger.LOCAL).write_text("{oops\n", encoding="utf-8")
    before = (docs_root / ledger.LEDGER).read_text(encoding="utf-8")
    assert ledgercli.cmd_ledger(str(docs_root), str(docs_root / "variants.toml"), True) == 2
    assert "ledger/local.jsonl:1: not a ledger record" in capsys.readouterr().err
    assert (docs_root / ledger.LEDGER).read_text(encoding="utf-8") == before


def test_smoke_for_a_variant_without_a_result_records_nothing(tmp_path, capsys):
    host = detect.detect_host(nvml=None, run=None, cpu="sapphirerapids")  # no GPU: a CUDA variant is skipped
    m = model.load(ROOT / "variants.toml")
    gpu_variant = next(v for v in m.variants if v.gpu and v.platform == "x86_64-linux")
    code = smokecli.cmd_smoke(tmp_path, ROOT / "variants.toml", variant=gpu_variant.name, record=True, host=host, stream=False)
    assert code == EXIT_SKIPPED
    assert "not recorded: no result-" in capsys.readouterr().err
    assert ledger.read(tmp_path) == []
