"""The repository itself: generated files current, schema current, lint clean, CLI exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from buildmatrix import model
from buildmatrix.cli import generate, matrix
from buildmatrix.spec import schema
from buildmatrix.spec import shape as spec


def test_committed_recipes_match_variants_toml(root):
    assert generate.cmd_gen(str(root / "variants.toml"), str(root), None, True, False, {}) == 0


def test_json_schema_is_current_and_valid_json(root):
    assert generate.cmd_schema(str(root), check=True) == 0
    shipped = json.loads((root / generate.SCHEMA_FILE).read_text())
    assert shipped["$defs"]["gpu"]["properties"]["capability"]["pattern"] == schema.schema_pattern(spec.CAPABILITY_RE)
    assert set(shipped["required"]) >= {"schema_version", "matrix", "gpu", "isa", "pin"}
    assert (root / "variants.toml").read_text().startswith("#:schema ./docs/variants.schema.json")


def test_ruff_is_clean(root):
    # ruff is in the [test] extra: next to this interpreter in .venv/bin, whether or not the venv is activated.
    beside = Path(sys.executable).parent / "ruff"
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    if not ruff:
        if os.environ.get("BUILDMATRIX_REQUIRE_NIX") == "1":
            pytest.fail("ruff is required in CI: pip install -e '.[test]'")
        pytest.skip("ruff not installed (pip install -e '.[test]')")
    proc = subprocess.run([ruff, "check", "."], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_invoke_list_and_show_run_from_the_command_line(root):
    invoke = shutil.which("invoke") or str(Path(sys.executable).parent / "invoke")
    out = subprocess.run(
        [invoke, "list", "--gpu", "sm121", "--cuda", "13.0"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    m = model.load(root / "variants.toml")
    chosen = m.select(gpu="sm121", cuda="13.0")
    pt, tv = (sum(v.package.name == p for v in chosen) for p in ("pytorch", "torchvision"))
    assert all(v.name in out for v in chosen) and f"{len(chosen)} variant(s): pytorch {pt}, torchvision {tv}" in out
    data = json.loads(
        subprocess.run(
            [invoke, "list", "--json", "--isa", "avx", "--target", "cpu"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
    )
    assert [d["name"] for d in data] == [v.name for v in m.select(isa="avx", target="cpu")] != []
    bad = subprocess.run([invoke, "show", "sm120-avx3"], cwd=root, capture_output=True, text=True)
    assert bad.returncode == 2 and "no variant named 'sm120-avx3'" in bad.stderr and "sm120-avx" in bad.stderr


def test_bad_model_exits_2_with_file_key_and_fix(tmp_path, capsys):
    f = tmp_path / "variants.toml"
    f.write_text("schema_version = 1\n[defaults]\npython = 3\n")
    assert matrix.cmd_list(str(f), {}, False) == 2
    err = capsys.readouterr().err
    assert f"{f}:3: defaults.python: must be a string" in err and "nothing was written" in err
