"""Our seed recipes against the anchor's (barstoolbluz/build-pytorch, reported working by its maintainer).

tests/data/anchor-seeds.toml records the anchor recipes' facts (not their code). Everything
that reaches the build (source, patch list, config, overlays' effect, CPU flags, exports, CMake
flags, the CCCL shim, the FindCUDAToolkit stub, GPU targets) must be equal to ours, or be a
deviation listed there with its reason. Our side is what Nix evaluates from the generated recipe.
"""

from __future__ import annotations

import tomllib

import pytest
from buildmatrix import model
from buildmatrix.nixeval import check as nixcheck
from buildmatrix.nixeval import evaluate as nixeval
from buildmatrix.recipes import pinfacts
from conftest import ROOT, require_tool

pytestmark = pytest.mark.nix

DATA = tomllib.loads((ROOT / "tests" / "data" / "anchor-seeds.toml").read_text(encoding="utf-8"))
SEEDS = sorted(DATA["seed"])
DEVIATIONS = DATA["deviation"]


@pytest.fixture(scope="module")
def evaluated():
    require_tool("nix-instantiate")
    m = model.load(ROOT / "variants.toml")
    present = [s for s in SEEDS if s in m.by_name]
    report = nixeval.evaluate(m, ROOT, present)
    assert report.mismatches == [], [x.line() for x in report.mismatches]
    return m, report


def test_every_recorded_deviation_has_a_reason():
    assert DEVIATIONS and all(isinstance(r, str) and len(r) > 20 for r in DEVIATIONS.values())
    assert DATA["anchor"]["commit"] and len(DATA["anchor"]["commit"]) == 40


def compare(m, v, f: dict, recipe: str, a: dict) -> list[str]:
    """Every fact of anchor seed ``a`` that our evaluated recipe does not match, and no deviation explains."""
    out: list[str] = []

    def want(ok: bool, what: str) -> None:
        if not ok:
            out.append(what)

    # nixpkgs: the same rev, the same config, the same CUDA set
    want(v.pin.rev == a["pin_rev"] and f"/archive/{a['pin_rev']}.tar.gz" in recipe, "pin rev")
    want(bool(v.pin.sha256) == a["pin_sha256"] or "pin_sha256" in DEVIATIONS, "pin sha256")
    want({"allowBroken": f["allowBroken"], **f["config"]} == a["config"], "config")
    want(v.pin.cuda_attr(v.cuda) == a["cuda_attr"] and f"final.{a['cuda_attr']};" in recipe, "CUDA attribute")
    want(f["cudaVersion"] == a["cuda_version"] and f["magma"]["cudaVersion"] == a["cuda_version"], "CUDA version")
    # MAGMA: the same upstream fix, once (a file under patches/ rather than a fetchpatch: a deviation)
    patches = [p for p in v.patches if p.package == "magma-cuda-static"]
    want(bool(patches) and all(a["magma_patch_commit"] in p.upstream for p in patches), "MAGMA patch commit")
    want(f["magma"]["clockRateFixes"] == 1 and "magma_patch" in DEVIATIONS, "MAGMA fix applied once")
    if patches:
        text = (ROOT / patches[0].file).read_text(encoding="utf-8")
        want("cudaDevAttrClockRate" in text and "interface_cuda/interface.cpp" in text, "MAGMA patch content")
    # torch: the same source, version and nixpkgs patch list
    src = a["torch_src"]
    want(
        f["src"] == {k: src[k] for k in ("hash", "rev", "owner", "repo", "fetchSubmodules")},
        "torch src",
    )
    want(v.source.fetcher == ("fetchFromGitHub+submodules" if src["fetchSubmodules"] else "fetchFromGitHub"), "fetcher")
    want(f["version"] == a["torch_version"], "torch version")
    kept = [p.name for p, keep in pinfacts.torch_patch_decisions(m, v) if keep]
    want(kept == a["torch_patches"] and f["patches"] == a["torch_patches"], "torch patches")
    want(f["cudaSupport"] == a["cuda_support"], "cudaSupport")
    want(nixcheck.last_export(f["preConfigure"], "TORCH_CUDA_ARCH_LIST") == ";".join(a["gpu_targets"]), "gpuTargets")
    # the build script: CPU flags, exports, version file, CCCL shim, FindCUDAToolkit stub, CMake flags
    for var in ("CXXFLAGS", "CFLAGS"):
        flags = nixcheck.effective_flags(f["preConfigure"], var)
        want([t for t in flags if t.startswith("-m")] == a["cpu_flags"], f"{var} CPU flags")
    exports = dict(nixcheck.exports(f["preConfigure"]))
    for name, value in a["exports"].items():
        want(exports.get(name) == value or f"export:{name}" in DEVIATIONS, f"export {name}={value}")
    want(f"echo {a['version_txt']} > version.txt" in f["preConfigure"], "version.txt")
    want("for dir in " + " ".join(a["cccl_shim_dirs"]) + ";" in f["preConfigure"], "CCCL shim directories")
    want(("> cmake/Modules/FindCUDAToolkit.cmake" in f["postPatch"]) == a["find_cuda_toolkit_stub"], "FindCUDAToolkit stub")
    ours = [x for x in f["cmakeFlags"] if not x.startswith(nixcheck.BASE_CMAKE)]
    for x in a["cmake_flags"]:
        want(x in ours or f"cmake:{x}" in DEVIATIONS, f"cmake flag {x}")
    for x in ours:
        want(x in a["cmake_flags"], f"cmake flag {x} the anchor does not set")
    # naming and attribute paths: recorded deviations
    want(f["pname"] == a["pname"] or "pname" in DEVIATIONS, "pname")
    want(v.python.attr == a["python_attr"] or "python_attr" in DEVIATIONS, "Python attribute")
    want(not a.get("ninja_flags") or "ninja_flags" in DEVIATIONS, "ninjaFlags")
    return out


def _inputs(evaluated, seed):
    m, report = evaluated
    if seed not in m.by_name:
        pytest.skip(f"{seed} is not in this matrix")
    recipe = (ROOT / ".flox" / "pkgs" / f"{seed}.nix").read_text(encoding="utf-8")
    return m, m.by_name[seed], report.facts[seed], recipe


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_is_equivalent_to_the_anchor(evaluated, seed):
    m, v, f, recipe = _inputs(evaluated, seed)
    assert compare(m, v, f, recipe, DATA["seed"][seed]) == []


@pytest.mark.parametrize(
    ("fact", "value", "difference"),
    [
        ("torch_patches", ["fix-cmake-cuda-toolkit.patch"], "torch patches"),
        ("cpu_flags", ["-mavx2"], "CXXFLAGS CPU flags"),
        ("exports", {"USE_NNPACK": "1"}, "export USE_NNPACK=1"),
        ("cmake_flags", ["-DUSE_CUDA=OFF"], "cmake flag -DUSE_CUDA=OFF"),
        ("gpu_targets", ["12.0a"], "gpuTargets"),
    ],
)
def test_a_difference_from_the_anchor_is_caught(evaluated, fact, value, difference):
    """The comparison is not vacuous: an anchor fact that ours does not match is reported."""
    seed = next(s for s in SEEDS if s in evaluated[0].by_name)
    m, v, f, recipe = _inputs(evaluated, seed)
    drifted = {**DATA["seed"][seed], fact: value}
    assert any(d.startswith(difference) for d in compare(m, v, f, recipe, drifted))
