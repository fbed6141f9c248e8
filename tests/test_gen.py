"""invoke gen: determinism, idempotence, atomicity, no-touch, prune, check, subsets, escaping."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from buildmatrix import files as atomic
from buildmatrix import model, recipes
from buildmatrix.cli import generate
from buildmatrix.errors import BuildMatrixError
from buildmatrix.model import hashes
from buildmatrix.recipes import nix, pinfacts
from conftest import require_tool
from hypothesis import given, settings
from hypothesis import strategies as st
from textedit import mutate

PKGS = Path(".flox") / "pkgs"


def test_every_recipe_starts_with_the_marker_and_is_deterministic(shipped):
    first = recipes.render_all(shipped)
    second = recipes.render_all(model.load(shipped.path))
    assert first == second
    assert len(first) == len(shipped.variants)
    for name, text in first.items():
        assert text.startswith(recipes.MARKER), name
        assert text.endswith(")\n")
        assert "\t" not in text and "\r" not in text


def test_generate_is_idempotent_and_leaves_unchanged_files_alone(scratch):
    m = model.load(scratch / "variants.toml")
    first = recipes.generate(m, scratch)  # every recipe, and the helper file they import
    assert len(first.created) == len(m.variants) + 1 and str(recipes.LIB_FILE) in first.created and not first.updated
    stamp = {p.name: p.stat().st_mtime_ns for p in (scratch / PKGS).iterdir()}
    second = recipes.generate(m, scratch)
    assert not second.changed and len(second.unchanged) == len(m.variants) + 1
    assert {p.name: p.stat().st_mtime_ns for p in (scratch / PKGS).iterdir()} == stamp
    assert recipes.check(m, scratch).clean


@pytest.mark.slow  # a full gen of the shipped matrix; the fast tier has the same rules on small outputs (test_generated.py, test_gencache.py)
def test_check_lists_missing_different_and_stale(scratch):
    m = model.load(scratch / "variants.toml")
    recipes.generate(m, scratch)
    out = scratch / PKGS
    (out / "pytorch-python313-cpu-avx2.nix").unlink()
    victim = out / "pytorch-python313-cpu-avx512.nix"
    victim.write_text(victim.read_text() + "# hand edit\n")
    stale = out / "pytorch-python313-cpu-gone.nix"
    stale.write_text(recipes.MARKER + "\n{ }: { }\n")
    drift = recipes.check(m, scratch)  # check mode: created = missing, updated = different
    assert drift.checked and drift.created == (str(PKGS / "pytorch-python313-cpu-avx2.nix"),)
    assert drift.updated == (str(PKGS / "pytorch-python313-cpu-avx512.nix"),)
    assert drift.stale == (str(PKGS / "pytorch-python313-cpu-gone.nix"),)
    assert generate.cmd_gen(str(scratch / "variants.toml"), str(scratch), None, True, False, {}) == 1


@pytest.mark.slow  # a full gen of the shipped matrix; the fast tier has the same rules on small outputs (test_generated.py, test_gencache.py)
def test_stale_files_are_removed_only_with_prune(scratch):
    m = model.load(scratch / "variants.toml")
    recipes.generate(m, scratch)
    stale = scratch / PKGS / "torchvision-python313-cpu-old.nix"
    stale.write_text(recipes.MARKER + "\n{ }: { }\n")
    report = recipes.generate(m, scratch)
    assert report.stale == (str(PKGS / stale.name),) and stale.exists()
    report = recipes.generate(m, scratch, prune=True)
    assert report.deleted == (str(PKGS / stale.name),) and not stale.exists()


@pytest.mark.slow  # a full gen of the shipped matrix; the fast tier has the same rules on small outputs (test_generated.py, test_gencache.py)
def test_hand_written_files_are_never_touched(scratch):
    m = model.load(scratch / "variants.toml")
    mine = scratch / PKGS / "my-tool.nix"
    mine.write_text("{ hello }: hello\n")
    recipes.generate(m, scratch, prune=True)
    assert mine.read_text() == "{ hello }: hello\n"
    assert recipes.check(m, scratch).clean  # not stale: it is not generated
    clash = scratch / PKGS / "pytorch-python313-cpu-avx2.nix"
    clash.write_text("# my own recipe\n{ }: { }\n")
    with pytest.raises(BuildMatrixError, match="hand-written file"):
        recipes.generate(m, scratch)
    assert clash.read_text() == "# my own recipe\n{ }: { }\n"


def test_subset_renders_the_torch_it_needs(scratch):
    m = model.load(scratch / "variants.toml")
    report = recipes.generate(m, scratch, names=["torchvision-python313-cuda13_0-sm120-avx"])
    assert sorted(report.created) == sorted([
        str(recipes.LIB_FILE),  # every run writes the helper file the recipes import
        str(PKGS / "pytorch-python313-cuda13_0-sm120-avx.nix"),
        str(PKGS / "torchvision-python313-cuda13_0-sm120-avx.nix"),
    ])
    chosen = generate._filtered(m, None, {"gpu": "sm121", "cuda": "13.1"})
    assert chosen == [
        "pytorch-python313-cuda13_1-sm121-armv8_2",
        "pytorch-python313-cuda13_1-sm121-armv9",
        "torchvision-python313-cuda13_1-sm121-armv8_2",
        "torchvision-python313-cuda13_1-sm121-armv9",
    ]


def test_invalid_model_writes_nothing(scratch):
    f = scratch / "variants.toml"
    f.write_text(mutate(f.read_text(), 'capability = "12.0"', 'capability = "sm_120"'))
    assert generate.cmd_gen(str(f), str(scratch), None, False, False, {}) == 2
    assert list((scratch / PKGS).iterdir()) == []


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.nix"
    target.write_text("old\n")

    def boom(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.nix"]  # no temp file left behind


def test_recipe_contents_follow_the_kind(shipped):
    files = recipes.render_all(shipped)
    cu13 = files["pytorch-python313-cuda13_0-sm120-avx512.nix"]
    assert "cudaPackages = final.cudaPackages_13;" in cu13
    assert "magma-cuda-static = prev.magma-cuda-static.overrideAttrs" in cu13
    assert "../../patches/cuda-13.0-clockrate-fix.patch" in cu13
    assert "allowBroken = true;" in cu13 and "cccl-compat" in cu13 and "FindCUDAToolkit.cmake" in cu13
    assert 'capability = "12.0";' in cu13 and "gpuTargets = [ capability ];" in cu13
    assert "sm_120" not in cu13 and ".pytorch" not in cu13
    cu131 = files["pytorch-python313-cuda13_1-sm120-avx512.nix"]
    assert "magma" not in cu131.split("  pinned = nixpkgs")[0].replace("MAGMA", "")
    assert "cudaPackages = final.cudaPackages_13_1;" in cu131
    cu12 = files["pytorch-python313-cuda12_8-sm61-avx.nix"]
    assert "cccl-compat" not in cu12 and "allowBroken" not in cu12
    assert "export USE_CUDNN=0" in cu12 and "export USE_FBGEMM=0" in cu12 and "-DUSE_NNPACK=OFF" in cu12
    cpu = files["pytorch-python313-cpu-avx2.nix"]
    assert "cudaSupport = false;" in cpu and 'platforms = [ "x86_64-linux" ];' in cpu
    assert 'platforms = [ "aarch64-darwin" ];' in files["pytorch-python313-darwin-mps.nix"]
    tv = files["torchvision-python313-cuda13_0-sm120-avx.nix"]
    assert "import ./pytorch-python313-cuda13_0-sm120-avx.nix" in tv and "torch.out" in tv
    assert "fetchTarball" not in tv  # one place for the pin: the torch recipe
    nightly = files["pytorch-python313-cuda13_0-sm121-armv9-nightly.nix"]
    assert 'rev = "f3b72801a6bc917d98d6b392c6d223f91348989f";' in nightly
    # unverified: a fake hash, so the first fetch fails and prints the real one
    assert f'hash = "{hashes.FAKE_HASH}";' in nightly and 'hash = "";' not in nightly


def test_cuda13_recipes_shim_cccl_only_for_a_torch_source_override(shipped):
    """The CCCL shim is for a source override's bundled CUTLASS; a pin's own torch builds as nixpkgs builds it."""
    cuda13 = [v for v in shipped.variants if v.cuda and v.cuda.major >= 13 and not v.requires]
    own = [v for v in cuda13 if not v.source]
    if not own or len(own) == len(cuda13):
        pytest.skip("this matrix lacks CUDA 13 torch recipes of one of the two kinds")
    files = recipes.render_all(shipped, [own[0].name, next(v for v in cuda13 if v.source).name])
    for v in (own[0], next(v for v in cuda13 if v.source)):
        text = files[recipes.file_name(v)]
        assert ("cccl-compat" in text) == bool(v.source) == pinfacts.needs_cccl_shim(v), v.name
        assert ("FindCUDAToolkit.cmake" in text) == pinfacts.needs_find_cuda_toolkit_stub(shipped, v), v.name
    text = files[recipes.file_name(own[0])]
    # nixpkgs' own patches (written for the pin's torch) are left alone; no source is fetched
    assert "patches =" not in text.split("(pkgs.", 1)[1] and "fetchFromGitHub" not in text
    assert f"cudaPackages = final.{own[0].pin.cuda_attr(own[0].cuda)};" in text
    assert ("allowBroken = true;" in text) == own[0].pin.torch_cuda13_broken


def test_every_recipe_parses_with_nix(scratch):
    tool = require_tool("nix-instantiate")
    m = model.load(scratch / "variants.toml")
    recipes.generate(m, scratch)
    files = sorted(str(p) for p in (scratch / PKGS).glob("*.nix"))
    assert len(files) == len(m.variants)
    proc = subprocess.run([tool, "--parse", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == len(files)


# ------------------------------------------------------------------ escaping

UNICODE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
NASTY = st.lists(st.sampled_from(list("$'{}\\\"\n\r\t ab") + ["${", "''", "''${", "\\${", "$${"]), max_size=30).map("".join)


def _nix_eval_strings(tool: str, literals: list[str]) -> list[str]:
    import json

    expr = "[ " + " ".join(literals) + " ]"
    proc = subprocess.run([tool, "--eval", "--strict", "--json", "--expr", expr], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + "\n" + expr
    return json.loads(proc.stdout)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(UNICODE_TEXT, NASTY), min_size=1, max_size=20))
def test_nix_string_escaping_round_trips_through_nix(texts):
    tool = require_tool("nix-instantiate")
    assert _nix_eval_strings(tool, [nix.string(t) for t in texts]) == texts


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(UNICODE_TEXT, NASTY), min_size=1, max_size=20))
def test_multiline_literals_round_trip_through_nix(texts):
    tool = require_tool("nix-instantiate")
    literals = [nix.multiline(t, "  ") for t in texts]
    values = _nix_eval_strings(tool, literals)
    for text, lit, value in zip(texts, literals, values):
        assert value == (text + "\n" if lit.startswith("''") else text)


def test_descriptions_with_nix_syntax_reach_meta_verbatim(scratch):
    tool = require_tool("nix-instantiate")
    nasty = '${builtins.abort "pwned"} \'\' \\ " # ok'
    f = scratch / "variants.toml"
    import tomlkit

    doc = tomlkit.parse(f.read_text())
    override = tomlkit.table()
    override["match"] = {"name": "pytorch-python313-cpu-avx2"}
    override["description"] = nasty
    doc.append("override", tomlkit.aot())
    doc["override"].append(override)
    f.write_text(tomlkit.dumps(doc))
    m = model.load(f)
    text = recipes.render.render(m.variant("pytorch-python313-cpu-avx2"), m)
    line = next(x for x in text.splitlines() if x.strip().startswith("description ="))
    literal = line.split("=", 1)[1].strip().rstrip(";")
    assert _nix_eval_strings(tool, [literal]) == [nasty]


def test_shell_words_are_checked_again_at_render_time():
    assert nix.shell_word("-march=armv8.2-a+fp16+dotprod") == "-march=armv8.2-a+fp16+dotprod"
    for bad in ["$(id)", "a b", "`x`", "x;y", "a'b", 'a"b', "${x}"]:
        with pytest.raises(BuildMatrixError):
            nix.shell_word(bad)
