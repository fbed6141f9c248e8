"""Every generated recipe, evaluated by Nix against the stand-in nixpkgs (scripts/buildmatrix/nixeval/standin).

Three groups: the shipped recipes (zero mismatches, the two figures); hand-broken recipes the
stand-in must catch; and the stand-in's own nixpkgs semantics (override, overrideAttrs, config,
overlays, python package sets, aliases), so that a green run means something.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import matrices
import pytest
from buildmatrix import ledger, model, recipes
from buildmatrix.cli import nixeval as nixevalcli
from buildmatrix.model import hashes
from buildmatrix.nixeval import check as nixcheck
from buildmatrix.nixeval import evaluate as nixeval
from conftest import ROOT, require_tool

pytestmark = pytest.mark.nix

PKGS = Path(".flox") / "pkgs"
STANDIN = ROOT / "scripts" / "buildmatrix" / "nixeval" / "standin"
REV_0182 = "0182a361324364ae3f436a63005877674cf45efb"
REV_6A03 = "6a030d535719c5190187c4cec156f335e95e3211"
REV_2017 = "2017d6d515f8a7b289fe06d3a880a7ec588c3900"

PT_130 = "pytorch-python313-cuda13_0-sm120-avx512"
TV_130 = "torchvision-python313-cuda13_0-sm120-avx512"
PT_131 = "pytorch-python313-cuda13_1-sm120-avx512"
PT_128 = "pytorch-python313-cuda12_8-sm90-avx512"
TV_128 = "torchvision-python313-cuda12_8-sm90-avx512"


@pytest.fixture(scope="module")
def full_report():
    require_tool("nix-instantiate")
    return nixeval.evaluate(model.load(ROOT / "variants.toml"), ROOT)


def _copy(tmp: Path, *names: str) -> Path:
    """A root in ``tmp`` with the patches and copies of the named shipped recipes."""
    (tmp / PKGS).mkdir(parents=True, exist_ok=True)
    if not (tmp / "patches").exists():
        shutil.copytree(ROOT / "patches", tmp / "patches")
    for name in names:
        shutil.copy(ROOT / PKGS / f"{name}.nix", tmp / PKGS / f"{name}.nix")
    shutil.copy(ROOT / recipes.LIB_FILE, tmp / recipes.LIB_FILE)  # every recipe imports it
    return tmp


def _edit(root: Path, name: str, old: str, new: str, count: int = 1) -> None:
    """Replace ``count`` occurrences (-1: all) of ``old`` in the copied recipe ``name``."""
    path = root / PKGS / f"{name}.nix"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _checks(report: nixcheck.Report, variant: str) -> dict[str, nixcheck.Mismatch]:
    return {m.check: m for m in report.for_variant(variant)}


MAGMA_OVERLAY_START = "      # magma-cuda13-clockrate:"
MAGMA_OVERLAY_END = "        });\n      })\n"


def _magma_overlay(text: str) -> str:
    start = text.index(MAGMA_OVERLAY_START)
    end = text.index(MAGMA_OVERLAY_END, start) + len(MAGMA_OVERLAY_END)
    return text[start:end]


# ------------------------------------------------------------------ shipped recipes


def test_every_shipped_recipe_evaluates_and_matches_the_model(full_report):
    # The counts come from the model: this holds for any valid variants.toml (see also
    # tests/test_matrix_properties.py, which runs the same properties on derived matrices).
    report, n = full_report, len(model.load(ROOT / "variants.toml").variants)
    assert len(report.variants) == n
    assert report.evaluated == n, [m.line() for m in report.mismatches if m.check == "eval"][:5]
    assert report.mismatches == [], "\n".join(m.line() for m in report.mismatches[:20])
    assert report.checks > 10 * n


def test_torch_is_shared_and_torchvision_builds_for_one_sm(full_report):
    m = model.load(ROOT / "variants.toml")
    assert full_report.torch_configurations == len({m.torch_variant(v).name for v in m.variants})
    assert f"{full_report.torch_ratio:.2f}" == "1.00"
    assert len(full_report.arch_entries) == sum(1 for v in m.variants if v.requires and v.gpu)
    assert set(full_report.arch_entries.values()) == {1}
    companions = {}
    for v in m.variants:
        if v.requires:
            companions[v.package.name] = companions.get(v.package.name, 0) + 1
    assert full_report.sharing == {pkg: [n, n] for pkg, n in companions.items()}


def test_instantiation_writes_real_drv_files(full_report):
    if full_report.instantiated is None:
        pytest.skip("the Nix store is not writable here: evaluation only")
    assert full_report.instantiated == len(model.load(ROOT / "variants.toml").variants)
    some = next(iter(full_report.facts.values()))["drvPath"]
    assert some.endswith(".drv") and Path(some).is_file()


def test_facts_are_the_variant_s(full_report):
    f = full_report.facts[PT_130]
    assert f["name"] == f"python3.13-{PT_130}-2.10.0"
    assert f["src"]["hash"] == "sha256-RKiZLHBCneMtZKRgTEuW1K7+Jpi+tx11BMXuS1jC1xQ="
    assert f["magma"]["patches"] == ["drop-cmp0037-old.patch", "cuda-13.0-clockrate-fix.patch"]
    assert full_report.facts[PT_131]["magma"]["patches"] == ["drop-cmp0037-old.patch", "fix-cuda13-compat.patch"]
    assert f["brokenConditions"] == ["Unsupported CUDA version"] and f["allowBroken"] is True
    assert full_report.facts[PT_128]["brokenConditions"] == [] and full_report.facts[PT_128]["allowBroken"] is False
    tv = full_report.facts[TV_130]
    assert tv["torchDrvPaths"] == [f["drvPath"]] and tv["archList"] == "12.0"
    nightly = full_report.facts["pytorch-python313-cuda13_0-sm121-armv9-nightly"]
    assert nightly["src"]["hash"] == hashes.FAKE_HASH  # hash "" in variants.toml: the first build prints it


def test_cli_prints_the_figures_and_records_only_on_request(tmp_path, capsys):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_128, TV_128)
    shutil.copy(ROOT / "variants.toml", root / "variants.toml")
    assert nixevalcli.main(["--root", str(root), TV_128]) == 0
    out = capsys.readouterr().out
    assert "recipes evaluated: 2 of 2" in out
    assert "= 1.00" in out and "entries per GPU variant: 1.00" in out and "wall time" in out
    assert not (root / ledger.LEDGER).exists()
    assert nixevalcli.main(["--root", str(root), "--json", "--record", TV_128]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["figures"]["torch_ratio"] == 1.0 and data["mismatches"] == []
    records = ledger.read(root)
    assert {r.variant for r in records} == {PT_128, TV_128}
    assert {(r.action, r.status, r.hardware) for r in records} == {("eval", "ok", nixeval.HARDWARE)}


# ------------------------------------------------------------------- torchaudio


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """(root, matrix, torchaudio names): the shipped file with torchaudio added (tests/matrices.py), recipes written."""
    root = tmp_path_factory.mktemp("audio")
    f, how = matrices.derive("torchaudio-added", root)
    m = model.load(f)
    names = how.split()[2:]
    recipes.generate(m, root, names)
    return root, m, names


def test_torchaudio_uses_the_very_torch_of_its_pytorch_variant_and_one_sm(audio):
    require_tool("nix-instantiate")
    root, m, names = audio
    report = nixeval.evaluate(m, root, names)
    assert report.mismatches == [], "\n".join(x.line() for x in report.mismatches[:10])
    assert f"{report.torch_ratio:.2f}" == "1.00" and report.torch_configurations == len(
        {m.torch_variant(m.by_name[n]).name for n in names}
    )
    for name in names:
        v, f = m.by_name[name], report.facts[name]
        assert f["torchDrvPaths"] == [report.facts[v.requires]["drvPath"]]  # shared drvPath
        assert f["version"] == v.torchaudio_version and f["src"]["rev"] == v.companion_source.rev
        assert f["patches"] and all(p.endswith(matrices.AUDIO_PATCH) for p in f["patches"])
        if v.gpu:
            assert report.arch_entries[name] == 1
            assert nixcheck.last_export(f["preConfigure"], "TORCH_CUDA_ARCH_LIST") == v.gpu.capability
            assert f["archList"] == v.gpu.capability  # nixpkgs' own value, from torch's passthru.cudaCapabilities
        else:
            assert name not in report.arch_entries and not f["archList"]


@pytest.mark.parametrize("key, wrong", [("torchaudio", "2.8.0"), ("torchaudio_patches", [])])
def test_a_wrong_torchaudio_pin_fact_fails_evaluation_naming_its_key(audio, tmp_path, key, wrong):
    """A source-built torchaudio decides its patches by the pin's names (asserted), never reads the
    pin's torchaudio version (not asserted: a wrong one does not stop it)."""
    require_tool("nix-instantiate")
    import tomlkit

    root, m, names = audio
    shutil.copytree(root, tmp_path / "r")
    f = tmp_path / "r" / "variants.toml"
    v = m.by_name[names[0]]
    doc = tomlkit.parse(f.read_text(encoding="utf-8"))
    doc["pin"][v.pin.name][key] = wrong
    f.write_text(tomlkit.dumps(doc), encoding="utf-8")
    m2 = model.load(f)
    recipes.generate(m2, tmp_path / "r", [v.name])
    report = nixeval.evaluate(m2, tmp_path / "r", [v.name], instantiate=False)
    errors = {x.variant: x.actual for x in report.mismatches if x.check == "eval"}
    if v.companion_source and key == "torchaudio":
        assert errors == {}, errors
        return
    err = errors[v.name]
    assert f"variants.toml [pin.{v.pin.name}] {key} says {json.dumps(wrong)}" in err.replace("\\", ""), err
    assert f"correct [pin.{v.pin.name}] {key} in variants.toml" in err, err


# --------------------------------------------------------- recipes the stand-in catches


@pytest.fixture
def shipped_model():
    return model.load(ROOT / "variants.toml")


def test_sm_style_gpu_target_is_caught(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_130, TV_130)
    _edit(root, PT_130, "gpuTargets = [ capability ];", 'gpuTargets = [ "sm_120" ];')
    report = nixeval.evaluate(shipped_model, root, [TV_130])
    bad = _checks(report, PT_130)["TORCH_CUDA_ARCH_LIST (gpuTargets)"]
    assert (bad.expected, bad.actual) == ("12.0", "sm_120")
    assert not report.for_variant(TV_130)  # torchvision follows passthru.cudaCapabilities, not gpuTargets
    assert nixevalcli.main(["--root", str(root), "--file", str(ROOT / "variants.toml"), "--no-instantiate", TV_130]) == 1


def test_forgotten_cuda_capabilities_makes_torchvision_build_every_default_arch(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_128, TV_128)
    _edit(root, PT_128, "      cudaCapabilities = [ capability ];\n", "")
    report = nixeval.evaluate(shipped_model, root, [TV_128])
    tv = _checks(report, TV_128)["torchvision TORCH_CUDA_ARCH_LIST"]
    # nixpkgs' torch 2.9.1: CUDA 12.8's defaults in the order of torch's list (which has 10.0 twice).
    assert tv.actual == "7.5;8.0;8.6;8.9;9.0;10.0;10.0;12.0"
    assert report.arch_entries[TV_128] == 8
    assert "passthru.cudaCapabilities" in _checks(report, PT_128)


def test_unknown_override_argument_fails_like_nixpkgs(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_128)
    _edit(root, PT_128, "  gpuTargets = [ capability ];\n", "  gpuTargets = [ capability ];\n  cudaArch = capability;\n")
    report = nixeval.evaluate(shipped_model, root, [PT_128])
    assert report.evaluated == 0
    assert "unexpected argument 'cudaArch'" in _checks(report, PT_128)["eval"].actual


def test_missing_allow_broken_on_a_cuda13_pin_fails(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_130)
    _edit(root, PT_130, "    allowBroken = true;\n", "")
    report = nixeval.evaluate(shipped_model, root, [PT_130])
    assert "is marked as broken" in _checks(report, PT_130)["eval"].actual


def test_magma_patch_twice_on_the_13_1_pin_fails(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_130, PT_131)
    overlay = _magma_overlay((root / PKGS / f"{PT_130}.nix").read_text())
    anchor = "      (final: prev: { cudaPackages = final.cudaPackages_13_1; })\n"
    _edit(root, PT_131, anchor, anchor + overlay)
    report = nixeval.evaluate(shipped_model, root, [PT_131])
    assert "Reversed (or previously applied) patch detected" in _checks(report, PT_131)["eval"].actual


def test_missing_magma_patch_on_the_13_0_pin_is_caught(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_130)
    text = (root / PKGS / f"{PT_130}.nix").read_text()
    _edit(root, PT_130, _magma_overlay(text), "")
    report = nixeval.evaluate(shipped_model, root, [PT_130])
    checks = _checks(report, PT_130)
    assert checks["magma meta.broken"].actual == ["CUDA >= 13 needs the clockRate fix (interface_cuda/interface.cpp)"]
    assert checks["magma clockRate fixes"].actual == 0
    assert checks["repository MAGMA patch in magma's patches"].actual is False


def test_torchvision_that_reimports_nixpkgs_builds_torch_twice(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_128, TV_128)
    _edit(
        root,
        TV_128,
        "  inherit (torch.buildmatrix) pkgs pinned;\n",
        """  inherit (torch.buildmatrix) pinned;
  pkgs = import buildmatrixNixpkgs {
    config = {
      allowUnfree = true;
      cudaSupport = true;
    };
    overlays = [ (final: prev: { cudaPackages = final.cudaPackages_12_8; }) ];
  };
  ownTorch =
    (pkgs.python313Packages.torch.override {
      cudaSupport = true;
      gpuTargets = [ "9.0" ];
    }).overrideAttrs
      (old: {
        passthru = old.passthru // {
          cudaCapabilities = [ "9.0" ];
        };
      });
""",
    )
    _edit(root, TV_128, "override { inherit torch; })", "override { torch = ownTorch; })")
    report = nixeval.evaluate(shipped_model, root, [TV_128])
    bad = _checks(report, TV_128)["torch inside torchvision (drvPath)"]
    assert len(bad.actual) == 2 and report.facts[PT_128]["drvPath"] in bad.actual
    assert report.torch_ratio == 2.0


def test_pytorch_alias_throws(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    root = _copy(tmp_path, PT_128)
    _edit(root, PT_128, "pkgs.python313Packages.torch.override", "pkgs.python313Packages.pytorch.override")
    report = nixeval.evaluate(shipped_model, root, [PT_128])
    assert "'pytorch' has been renamed to/replaced by 'torch'" in _checks(report, PT_128)["eval"].actual


def test_wrong_isa_flags_and_missing_switches_are_caught(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    name = "pytorch-python313-cuda12_8-sm61-avx"
    root = _copy(tmp_path, name)
    _edit(root, name, "-mavx -mno-fma", "-mavx -mfma", count=-1)
    _edit(root, name, "      export USE_CUDNN=0\n", "")
    report = nixeval.evaluate(shipped_model, root, [name])
    checks = _checks(report, name)
    assert checks["CFLAGS ISA flags"].actual[:2] == checks["CXXFLAGS ISA flags"].actual[:2] == ["-mavx", "-mfma"]
    assert checks["exported switches"].expected["USE_CUDNN"] == "0"


def test_sm61_without_narrowed_capabilities_leaves_magma_without_code(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    name = "pytorch-python313-cuda12_8-sm61-avx2"
    root = _copy(tmp_path, name)
    _edit(root, name, "    cudaCapabilities = [ capability ];\n    cudaForwardCompat = false;\n", "")
    checks = _checks(nixeval.evaluate(shipped_model, root, [name]), name)
    magma = checks["magma has code that runs on the GPU (SASS of its arch or PTX of a lower one)"]
    assert "=75;80;86;89;90;100;120" in magma.actual
    assert checks["config.cudaCapabilities (narrowed only below every default)"].expected == ["6.1"]


def test_cuda12_source_override_without_the_findcudatoolkit_stub_is_caught(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    name = "pytorch-python313-cuda12_9-sm90-avx512"
    root = _copy(tmp_path, name)
    text = (root / PKGS / f"{name}.nix").read_text()
    start = text.index("    postPatch = (old.postPatch")
    end = text.index("    '';\n", start) + len("    '';\n")
    _edit(root, name, text[start:end], "")
    checks = _checks(nixeval.evaluate(shipped_model, root, [name]), name)
    assert checks["FindCUDAToolkit.cmake rewritten after nixpkgs deletes it"].actual == "none"


def test_a_wrong_fact_in_variants_toml_is_caught(scratch):
    """The stand-in's pin facts are its own: variants.toml forgetting that 2017d6d carries the fix fails."""
    require_tool("nix-instantiate")
    import tomlkit

    toml = scratch / "variants.toml"
    doc = tomlkit.parse(toml.read_text())
    del doc["pin"][model.load(toml).by_name[PT_131].pin.name]["carries"]
    toml.write_text(tomlkit.dumps(doc))
    m = model.load(toml)
    recipes.generate(m, scratch, [PT_131])
    report = nixeval.evaluate(m, scratch, [PT_131])
    # The recipe's own assertion names the key to correct, before MAGMA would fail to patch.
    err = _checks(report, PT_131)["eval"].actual
    assert "variants.toml [pin.nixpkgs-2017d6d] carries (magma-cuda13-clockrate) says false" in err
    assert "fix-cuda13-compat.patch is true" in err


# ------------------------------------------------------------ the stand-in's semantics


def _nix(expr: str) -> object:
    """Evaluate ``expr`` (with ``standin`` and ``pkgsAt`` in scope) strictly, as JSON."""
    prelude = f"""
      let
        standin = import {STANDIN};
        pkgsAt = rev: system: args: standin {{ inherit rev system; }} args;
        cuda13 = pkgsAt "{REV_6A03}" "x86_64-linux" {{
          config = {{ allowUnfree = true; cudaSupport = true; allowBroken = true; }};
          overlays = [ (final: prev: {{ cudaPackages = final.cudaPackages_13; }}) ];
        }};
        cuda12 = pkgsAt "{REV_0182}" "x86_64-linux" {{
          config = {{ allowUnfree = true; cudaSupport = true; }};
          overlays = [ (final: prev: {{ cudaPackages = final.cudaPackages_12_8; }}) ];
        }};
        failsWith = x: !(builtins.tryEval (builtins.deepSeq x x)).success;
      in
    """
    proc = subprocess.run(
        [require_tool("nix-instantiate"), "--eval", "--strict", "--json", "--readonly-mode", "-E", prelude + expr],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr}
    return json.loads(proc.stdout)


def test_standin_override_keeps_overrideattrs_and_rejects_unknown_arguments():
    out = _nix("""
      let
        t = cuda12.python313Packages.torch.overrideAttrs (old: { pname = "mine"; });
        t2 = t.override { gpuTargets = [ "9.0" ]; };
      in { name = t2.name; arch = t2.preConfigure; }
    """)
    assert out["name"] == "python3.13-mine-2.9.1"
    assert 'export TORCH_CUDA_ARCH_LIST="9.0"' in out["arch"]
    err = _nix("(cuda12.python313Packages.torch.override { notAnArgument = 1; }).drvPath")
    assert "unexpected argument 'notAnArgument'" in err["error"]
    err = _nix("(cuda12.python313Packages.torchvision.override { pytorch = 1; }).drvPath")
    assert "unexpected argument 'pytorch'" in err["error"]
    err = _nix("(cuda12.magma.override { cudaCapabilities = [ ]; }).drvPath")
    assert "unexpected argument 'cudaCapabilities'" in err["error"]


def test_standin_overrideattrs_is_mkderivation_s():
    out = _nix("""
      let
        t = cuda12.python313Packages.torch;
        t2 = t.overrideAttrs (old: {
          version = "9.9.9";
          passthru = old.passthru // { extra = old.pname; };
        });
        t3 = t2.overrideAttrs (final: prev: { pname = "p"; seen = final.version; });
      in {
        inherit (t2) name extra PYTORCH_BUILD_VERSION;
        n3 = t3.name; seen = t3.seen;
        same = t.drvPath == (t.overrideAttrs (old: { })).drvPath;
        outs = t.cxxdev.drvPath == t.drvPath && t.out.outputName == "out";
      }
    """)
    assert out == {
        "name": "python3.13-torch-9.9.9",
        "extra": "torch",
        "PYTORCH_BUILD_VERSION": "2.9.1",  # computed from the original version, as in nixpkgs
        "n3": "python3.13-p-9.9.9",
        "seen": "9.9.9",
        "same": True,
        "outs": True,
    }


def test_standin_cuda_capabilities_come_from_config_not_gpu_targets():
    out = _nix(f"""
      let
        t = cuda12.python313Packages.torch.override {{ gpuTargets = [ "9.0" ]; }};
        one = (pkgsAt "{REV_0182}" "x86_64-linux" {{
          config = {{ allowUnfree = true; cudaSupport = true; cudaCapabilities = [ "8.6" ]; }};
        }});
      in {{
        caps = t.cudaCapabilities;
        tv = (cuda12.python313Packages.torchvision.override {{ torch = t; }}).TORCH_CUDA_ARCH_LIST;
        configured = one.python313Packages.torch.cudaCapabilities;
        magma = builtins.filter (f: builtins.substring 0 27 f == "-DCMAKE_CUDA_ARCHITECTURES=") one.magma-cuda-static.cmakeFlags;
        badCap = failsWith (pkgsAt "{REV_6A03}" "x86_64-linux" {{
          config = {{ allowUnfree = true; cudaSupport = true; cudaCapabilities = [ "6.1" ]; }};
          overlays = [ (final: prev: {{ cudaPackages = final.cudaPackages_13; }}) ];
        }}).cudaPackages.backendStdenv;
      }}
    """)
    assert "error" not in out, out
    assert out["caps"] == ["7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "10.0", "12.0"]
    assert out["tv"] == "7.5;8.0;8.6;8.9;9.0;10.0;10.0;12.0"
    assert out["configured"] == ["8.6"]
    assert out["magma"] == ["-DCMAKE_CUDA_ARCHITECTURES=86"]
    assert out["badCap"] is True  # 6.1 is unsupported by CUDA 13


def test_standin_broken_unfree_and_platform_checks():
    out = _nix(f"""
      {{
        cuda13Broken = cuda13.python313Packages.torch.meta.broken;
        conditions = builtins.attrNames cuda13.python313Packages.torch.brokenConditions;
        refused = failsWith (pkgsAt "{REV_6A03}" "x86_64-linux" {{
          config = {{ allowUnfree = true; cudaSupport = true; }};
          overlays = [ (final: prev: {{ cudaPackages = final.cudaPackages_13; }}) ];
        }}).python313Packages.torch.drvPath;
        unfree = failsWith (pkgsAt "{REV_0182}" "x86_64-linux" {{ config.cudaSupport = true; }}).python313Packages.torch.drvPath;
        wrongPlatform = failsWith ((pkgsAt "{REV_0182}" "aarch64-linux" {{ }}).python313Packages.torch.overrideAttrs (old: {{
          meta = old.meta // {{ platforms = [ "x86_64-linux" ]; }};
        }})).drvPath;
        cpuOk = (pkgsAt "{REV_0182}" "aarch64-darwin" {{ }}).python313Packages.torch.meta.available;
        magmaMismatch = builtins.attrNames (cuda12.python313Packages.torch.override {{
          effectiveMagma = cuda13.magma-cuda-static;
        }}).brokenConditions;
      }}
    """)
    assert out == {
        "cuda13Broken": True,
        "conditions": ["Unsupported CUDA version"],
        "refused": True,
        "unfree": True,
        "wrongPlatform": True,
        "cpuOk": True,
        "magmaMismatch": ["Magma cudaPackages does not match cudaPackages"],
    }


def test_standin_overlays_python_sets_and_aliases():
    out = _nix(f"""
      let
        p = pkgsAt "{REV_0182}" "x86_64-linux" {{
          overlays = [
            (final: prev: {{ order = [ "first" ]; }})
            (final: prev: {{ order = prev.order ++ [ "second" ]; late = final.order; }})
            (final: prev: {{
              pythonPackagesExtensions = prev.pythonPackagesExtensions ++ [
                (pyFinal: pyPrev: {{ torch = pyPrev.torch.overrideAttrs (old: {{ pname = "ext"; }}); }})
              ];
            }})
          ];
        }};
        overridden = p.python3Packages.override {{
          overrides = pyFinal: pyPrev: {{ torch = pyPrev.torch.overrideAttrs (old: {{ version = "0"; }}); }};
        }};
        viaPython = (p.python313.override {{
          packageOverrides = pyFinal: pyPrev: {{ torchvision = pyPrev.torchvision.override {{ torch = pyFinal.torch; }}; }};
        }}).pkgs;
        noAliases = pkgsAt "{REV_0182}" "x86_64-linux" {{ config.allowAliases = false; }};
      in {{
        inherit (p) late;
        both = [ p.python313Packages.torch.name p.python3Packages.torch.name p.python312Packages.torch.name ];
        overridden = overridden.torch.name;
        viaPython = viaPython.torchvision.name;
        alias = failsWith p.python3Packages.pytorch;
        noAlias = noAliases.python3Packages ? pytorch;
        unknownFact = failsWith (pkgsAt "{REV_2017}" "x86_64-linux" {{ }}).cudaPackages_13;
        noCuda131 = p ? cudaPackages_13_1;
      }}
    """)
    assert out == {
        "late": ["first", "second"],
        "both": ["python3.13-ext-2.9.1", "python3.13-ext-2.9.1", "python3.12-ext-2.9.1"],
        "overridden": "python3.13-ext-0",
        "viaPython": "python3.13-torchvision-0.24.1",
        "alias": True,
        "noAlias": False,
        "unknownFact": True,
        "noCuda131": False,
    }


def test_standin_magma_models_the_clockrate_fix():
    patch = ROOT / "patches" / "cuda-13.0-clockrate-fix.patch"
    out = _nix(f"""
      let
        at = rev: attr: (pkgsAt rev "x86_64-linux" {{
          config = {{ allowUnfree = true; cudaSupport = true; allowBroken = true; }};
          overlays = [ (final: prev: {{ cudaPackages = final.${{attr}}; }}) ];
        }}).magma-cuda-static;
        add = m: m.overrideAttrs (old: {{ patches = old.patches ++ [ {patch} ]; }});
        # A pin whose fact nobody settled (null) throws instead of guessing: 0182a36 with it unset.
        p = (import {STANDIN / "pins.nix"})."{REV_0182}";
        unset = import {STANDIN / "top-level.nix"} {{
          pin = p // {{ magma = p.magma // {{ carriesCuda13ClockRateFix = null; }}; }};
          defaultSystem = "x86_64-linux";
        }};
      in {{
        lacking = builtins.attrNames (at "{REV_6A03}" "cudaPackages_13").brokenConditions;
        fixed = (add (at "{REV_6A03}" "cudaPackages_13")).meta.broken;
        carried = (at "{REV_2017}" "cudaPackages_13_1").meta.broken;
        twice = failsWith (add (at "{REV_2017}" "cudaPackages_13_1")).drvPath;
        cuda12 = (at "{REV_6A03}" "cudaPackages_12_9").meta.broken;
        unknown = failsWith (unset {{
          config = {{ allowUnfree = true; cudaSupport = true; allowBroken = true; }};
          overlays = [ (final: prev: {{ cudaPackages = final.cudaPackages_13_0; }}) ];
        }}).magma-cuda-static.drvPath;
      }}
    """)
    assert out == {
        "lacking": ["CUDA >= 13 needs the clockRate fix (interface_cuda/interface.cpp)"],
        "fixed": False,
        "carried": False,
        "twice": True,
        "cuda12": False,
        "unknown": True,
    }
