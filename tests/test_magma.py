"""invoke patch-magma: which variants get the clockRate patch, and dry runs against MAGMA trees."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from buildmatrix import model, recipes
from buildmatrix.cli import magma as magmacli
from buildmatrix.magma import patching
from buildmatrix.magma import report as magma

PATCH = "magma-cuda13-clockrate"


def tree(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    root = tmp_path / name
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def diff(root):
    return patching.load_patch(root / "patches" / "cuda-13.0-clockrate-fix.patch")


def test_decisions_follow_cuda_and_the_pins_carries(shipped):
    ds = magma.decisions(shipped, shipped.patches[PATCH])
    applied = {d.variant.name for d in ds if d.applied}
    p = shipped.patches[PATCH]
    assert applied == {v.name for v in shipped.variants if v.cuda and p.wanted_by(v.cuda) and PATCH not in v.pin.carries}
    assert applied
    assert "pytorch-python313-cuda13_0-sm121-armv9-nightly" in applied  # the nightly source gets it by the same rule
    reasons = {d.variant.name: d.reason for d in ds if not d.applied}
    assert "already carries the fix" in reasons["pytorch-python313-cuda13_1-sm90-avx512"]
    assert "CUDA 12.9 < 13.0" in reasons["pytorch-python313-cuda12_9-sm90-avx512"]
    assert "no CUDA" in reasons["pytorch-python313-cpu-avx2"]


def _expected_counts(m: model.Matrix) -> tuple[int, int, dict[tuple[str, str], int], dict[str, int]]:
    """What the report must say, computed from the model's own rule (any valid variants.toml)."""
    p = m.patches[PATCH]
    applied = [v for v in m.variants if v.cuda and p.wanted_by(v.cuda) and PATCH not in v.pin.carries]
    per_pin: dict[tuple[str, str], int] = {}
    for v in applied:
        per_pin[(v.cuda.version, v.pin.name)] = per_pin.get((v.cuda.version, v.pin.name), 0) + 1
    carried: dict[str, int] = {}
    for v in m.variants:
        if v.cuda and p.wanted_by(v.cuda) and PATCH in v.pin.carries:
            carried[v.pin.name] = carried.get(v.pin.name, 0) + 1
    return len(applied), len(m.variants), per_pin, carried


def test_report_counts_and_recipe_agreement(shipped, root, capsys):
    text, status = magma.report(shipped, root)
    assert status == 0
    applied, total, per_pin, carried = _expected_counts(shipped)
    assert f"applied to {applied} of {total} variants:" in text
    for (cuda, pin), n in per_pin.items():
        assert f"{n:4d}  CUDA {cuda} on {pin}" in text
    for pin, n in carried.items():
        assert f"{n:4d}  pin {pin} already carries the fix" in text
    assert "generated recipes: all agree with the model" in text


def test_report_catches_a_hand_edited_recipe(scratch):
    m = model.load(scratch / "variants.toml")
    recipes.generate(m, scratch)
    victim = scratch / ".flox" / "pkgs" / "pytorch-python313-cuda13_1-sm90-avx512.nix"
    text = victim.read_text().replace("overlays = [\n", "overlays = [\n      # ../../patches/cuda-13.0-clockrate-fix.patch\n", 1)
    victim.write_text(text)
    report, status = magma.report(m, scratch)
    assert status == 1
    assert "pytorch-python313-cuda13_1-sm90-avx512.nix: carries patches/cuda-13.0-clockrate-fix.patch" in report
    assert "torchvision-python313-cuda13_1-sm90-avx512.nix: carries" in report  # it imports that torch


def test_source_dry_runs(shipped, diff, tmp_path):
    pre = tree(tmp_path, "magma-2.9.0", patching.preimage_from_hunks(diff))
    post = tree(tmp_path, "patched", patching.postimage_from_hunks(diff))
    patch = shipped.patches[PATCH]
    text, status = magma.check_against_source(shipped, patch, pre, None)
    assert status == 0 and ": applies" in text
    text, status = magma.check_against_source(shipped, patch, post, None)
    assert status == 0 and "already-applied" in text and "must list the patch in `carries`" in text
    broken = tree(tmp_path, "other", {"interface_cuda/interface.cpp": "int main() { return 0; }\n"})
    text, status = magma.check_against_source(shipped, patch, broken, None)
    assert status == 1 and "fails" in text


def test_source_cross_checks_the_pin(shipped, diff, tmp_path):
    patch = shipped.patches[PATCH]
    pre = tree(tmp_path, "pre", patching.preimage_from_hunks(diff))
    post = tree(tmp_path, "post", patching.postimage_from_hunks(diff))
    text, status = magma.check_against_source(shipped, patch, post, "nixpkgs-6a030d5")
    assert status == 1 and "would apply it twice" in text
    text, status = magma.check_against_source(shipped, patch, pre, "nixpkgs-2017d6d")
    assert status == 1 and "claims to carry" in text
    assert magma.check_against_source(shipped, patch, pre, "nixpkgs-6a030d5")[1] == 0
    assert magma.check_against_source(shipped, patch, post, "nixpkgs-2017d6d")[1] == 0


def test_upstream_worded_fix_counts_as_already_applied(shipped, diff, tmp_path):
    files = patching.preimage_from_hunks(diff)
    ((path, text),) = files.items()
    upstream = text.replace("prop.clockRate / 1000.,", "clock / 1000.,").replace(
        "#ifdef MAGMA_HAVE_CUDA\n",
        "#ifdef MAGMA_HAVE_CUDA\n        int clock = 0; cudaDeviceGetAttribute(&clock, cudaDevAttrClockRate, dev);\n",
    )
    assert upstream != text
    root = tree(tmp_path, "magma-2.10.0", {path: upstream})
    archive = tmp_path / "magma-2.10.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="magma-2.10.0")
    text, status = magma.check_against_source(shipped, shipped.patches[PATCH], archive, "nixpkgs-2017d6d")
    assert status == 0 and "equivalent fix" in text and "consistent with pin nixpkgs-2017d6d" in text


def test_task_entry_point(root, capsys, diff, tmp_path):
    assert magmacli.cmd_patch_magma(str(root / "variants.toml"), str(root), "", "", PATCH) == 0
    applied, total, _, _ = _expected_counts(model.load(root / "variants.toml"))
    assert f"applied to {applied} of {total} variants" in capsys.readouterr().out
    pre = tree(tmp_path, "pre", patching.preimage_from_hunks(diff))
    assert magmacli.cmd_patch_magma(str(root / "variants.toml"), str(root), str(pre), "nixpkgs-6a030d5", PATCH) == 0
    assert magmacli.cmd_patch_magma(str(root / "variants.toml"), str(root), str(pre), "", "nope") == 2
