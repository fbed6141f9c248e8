"""plan.py: derivation classes, what is already there, costs and the makespan prediction.

The known answers come from tests/fixtures/plan-variants.toml (2 CUDA 13.0 GPU variants on
x86_64-linux, 1 CPU variant, each with its torchvision), evaluated for real with nix-instantiate
against the stand-in, and from a cost table made for hand arithmetic (FIXTURE_COSTS). By hand:

- torch: 3 (sm90, sm120, cpu: each torchvision imports its pytorch variant's torch, so no more);
  torchvision: 3; magma: 1 and nccl: 1 (both GPU variants use CUDA 13.0 at one pin on one platform
  and neither GPU is below every default capability, so nixpkgs' package set is not narrowed);
  the CPU variant needs neither.
- core-hours: 2 x 10 (CUDA torch) + 4 (CPU torch) + 3 x 1 (torchvision) + 8 (magma) + 2 (nccl) = 37.
- 1 builder of 1 core: 37 h. 2 builders of 1 core: magma [0,8] and nccl [0,2]; CPU torch [2,6],
  its torchvision [6,7]; both CUDA torches [8,18] once magma is done; their torchvisions [18,19]: 19 h
  (= the critical path magma -> torch -> torchvision). 4 builders of 2 cores: every job takes half:
  9.5 h. 1 builder of 4 cores: 37 / 4 = 9.25 h.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import types
from pathlib import Path

import pytest
from buildmatrix import ledger, model, recipes
from buildmatrix.cli import plan as plancli
from buildmatrix.errors import ModelError, UsageError
from buildmatrix.plan import cost as plancost
from buildmatrix.plan import predict as plan
from buildmatrix.plan import schedule
from conftest import require_tool

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "plan-variants.toml"
FIXTURE_COSTS = """\
[torch]
cuda = 10
cpu = 4
source = "fixture"
[torchvision]
core-hours = 1
source = "fixture"
[magma]
core-hours = 8
source = "fixture"
[nccl]
core-hours = 2
source = "fixture"
[cuda-redist]
core-hours = 0
source = "fixture"
[rest]
core-hours = 0
source = "fixture"
"""
FLEETS = [(1, 1), (2, 1), (4, 2), (1, 4)]


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """The fixture matrix with its generated recipes, evaluated once: (root, matrix, drvs, graph)."""
    require_tool("nix-instantiate")
    root = tmp_path_factory.mktemp("plan")
    shutil.copy(FIXTURE, root / "variants.toml")
    shutil.copytree(ROOT / "patches", root / "patches")
    (root / plan.COSTS_FILE).write_text(FIXTURE_COSTS)
    m = model.load(root / "variants.toml")
    recipes.generate(m, root)
    drvs, source = plan.instantiate(m, root, m.variants)
    return root, m, drvs, plan.load_graph(drvs.values()), source


def _compute(fx, available=frozenset(), measured=None):
    root, m, drvs, graph, source = fx
    table = plancost.load_costs(root / plan.COSTS_FILE)
    return plan.compute(graph, drvs.values(), set(available), table, measured or {}, FLEETS, evaluated_with=source)


def test_fixture_counts_core_hours_and_makespans_match_the_hand_derivation(fx):
    p = _compute(fx)
    c = p.classes
    assert {k: c[k]["to_build"] for k in ("torch", "torchvision", "magma", "nccl")} == {
        "torch": 3,
        "torchvision": 3,
        "magma": 1,
        "nccl": 1,
    }
    assert c["torch"]["cuda"] == 2 and c["torchvision"]["cuda"] == 2
    assert c["cuda-redist"]["to_build"] > 0 and c["cuda-redist"]["core_hours"] == 0
    assert p.as_dict()["total"]["core_hours"] == 37
    assert [s["makespan_h"] for s in p.schedules] == [37, 19, 9.5, 9.25]
    assert [s["critical_path_h"] for s in p.schedules] == [19, 19, 9.5, 4.75]
    assert "stand-in" in p.evaluated_with and "no sha256 recorded for nixpkgs-6a030d5" in p.evaluated_with


def test_what_is_available_is_not_built_nor_what_only_it_needs(fx):
    _root, _m, drvs, graph, _source = fx
    magma = next(d for d in graph.values() if plan.classify(d) == "magma")
    p = _compute(fx, available=set(magma.outputs))
    assert p.classes["magma"] == {**p.classes["magma"], "to_build": 0, "available": 1, "core_hours": 0}
    assert p.where == {"given": 1} and [d["status"] for d in p.derivations if d["class"] == "magma"] == ["available"]
    assert sum(c["not_needed"] for c in p.classes.values()) > 0  # what only magma needed
    assert p.as_dict()["total"]["core_hours"] == 29
    # 2 builders, 1 core: nccl [0,2] + CPU torch [0,4]; CUDA torches [2,12] and [4,14]; torchvisions end at 15
    assert p.schedules[1]["makespan_h"] == 15
    # magma's own inputs are still built when torch needs them too, not when only magma did
    only_magma = set(magma.inputs) - {i for d in graph.values() if d.path != magma.path for i in d.inputs}
    assert only_magma and not (only_magma & plan.to_build(graph, drvs.values(), set(magma.outputs)))


def test_measured_build_durations_replace_the_table(fx):
    root, m, *_ = fx
    v = m.by_name["pytorch-python313-cuda13_0-sm90-avx512"]
    rec = ledger.Record(
        variant=v.name,
        action="build",
        status="ok",
        start="2026-12-01T00:00:00Z",
        end="2026-12-01T02:00:00Z",
        git_rev="x",
        host="h",
        extra={"argv": ["flox", "build", v.name], "duration_s": 7200, "cores": 3},
    )
    measured = plancost.measured_costs([rec], m)
    assert measured[("torch", "cuda")].core_hours == 6 and "median of 1" in measured[("torch", "cuda")].source
    p = _compute(fx, measured=measured)
    assert p.classes["torch"]["core_hours"] == 2 * 6 + 4
    assert any(s.startswith("ledger") for s in p.classes["torch"]["sources"])
    failed = ledger.Record(**{**rec.__dict__, "status": "failed"})
    assert plancost.measured_costs([failed], m) == {}


def test_json_and_table_from_the_command(fx, capsys):
    root, *_ = fx
    assert plancli.cmd_plan(root, root / "variants.toml", "sm90-avx512", "2x1", True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nixpkgs"] == "stand-in"
    assert data["variants"] == ["pytorch-python313-cuda13_0-sm90-avx512", "torchvision-python313-cuda13_0-sm90-avx512"]
    assert data["classes"]["torch"]["to_build"] == 1 and data["total"]["core_hours"] == 21
    torch = [d for d in data["derivations"] if d["class"] == "torch"]
    assert [(d["status"], d["kind"], d["core_hours"]) for d in torch] == [("build", "cuda", 10)]
    assert torch[0]["drv"].endswith("-python3.13-pytorch-python313-cuda13_0-sm90-avx512-2.10.0.drv")
    # magma [0,8] next to nccl [0,2], torch [8,18], torchvision [18,19]: the critical path, above 21 / 2
    assert data["makespan"] == [{"builders": 2, "cores": 1, "makespan_h": 19, "lower_bound_h": 19, "critical_path_h": 19}]
    assert plancli.cmd_plan(root, root / "variants.toml", "cpu-avx2", "1x4", False) == 0
    out = capsys.readouterr().out
    assert "torch  " in out and "1 builder(s) x 4 cores:     1.25 h" in out and "[1] build-costs.toml [torch]: fixture" in out
    assert plancli.cmd_plan(root, root / "variants.toml", "sm90-avx3", "1x4", False) == 2
    assert plancli.cmd_plan(root, root / "variants.toml", "", "4", False) == 2
    assert "N×CORES" in capsys.readouterr().err


def test_classify_by_pname():
    def d(pname, name=""):
        return plan.Drv(path="/nix/store/x-y.drv", name=name or pname, pname=pname, fixed_output=False, inputs=(), outputs=())

    assert [
        plan.classify(d(p))
        for p in (
            "torch",
            "pytorch-python313-cuda13_0-sm90-avx512",
            "pytorch210-for-torchvision-sm90-avx512",
            "torchvision",
            "torchaudio-python313-cpu-avx2",
            "magma",
            "nccl",
            "cuda_nvcc",
            "libcublas",
            "cudnn",
            "numpy",
        )
    ] == ["torch", "torch", "torch", "torchvision", "torchvision", "magma", "nccl", *["cuda-redist"] * 3, "rest"]
    assert plan.classify(d("", "magma-2.9.0")) == "magma"


def test_makespan_list_schedule_and_bounds():
    # a -> c, b -> c (c needs both); d alone
    dur = {"a": 3.0, "b": 1.0, "c": 2.0, "d": 4.0}
    deps = {"c": ["a", "b"]}
    assert schedule.makespan(dur, deps, 1) == 10
    # longest remaining path first: a (5) and d (4) at 0, b [3,4], c [4,6]. The optimum is 5
    # (a, b at 0; d [1,5]; c [3,5]): a list schedule is a prediction, not an optimum.
    assert schedule.makespan(dur, deps, 2) == 6
    assert schedule.critical_path(dur, deps) == 5
    assert schedule.makespan(dur, deps, 3) == 5
    assert schedule.makespan({}, {}, 4) == 0


def test_parse_builders():
    assert schedule.parse_builders("1x32,4x32, 16×32") == [(1, 32), (4, 32), (16, 32)]
    for bad in ("", "4", "0x32", "4x0", "4*32"):
        with pytest.raises(UsageError):
            schedule.parse_builders(bad)


def test_cost_table_errors_name_file_line_and_key(tmp_path):
    f = tmp_path / "costs.toml"
    f.write_text(
        FIXTURE_COSTS.replace('[rest]\ncore-hours = 0\nsource = "fixture"\n', "").replace("cpu = 4", "cpu = -1") + "[gpu]\n"
    )
    with pytest.raises(ModelError) as exc:
        plancost.load_costs(f)
    text = str(exc.value)
    assert f"{f}: rest: missing" in text and f"{f}:3: torch.cpu: needs a finite number from 0" in text and "gpu: unknown class" in text
    assert f"{f}:" in text


def test_shipped_cost_table_is_valid_and_sourced(root):
    table = plancost.load_costs(root / plan.COSTS_FILE)
    assert {c for c, _ in table.costs} == set(plan.CLASSES)
    assert all(cost.source for cost in table.costs.values())


def test_pin_without_sha256_or_not_in_the_store_means_the_stand_in():
    require_tool("nix-store")
    path, why = plan.pin_store_path(types.SimpleNamespace(name="nixpkgs-x", sha256=""))
    assert path is None and why == "no sha256 recorded for nixpkgs-x"
    path, why = plan.pin_store_path(types.SimpleNamespace(name="nixpkgs-x", sha256="0" * 52))
    assert path is None and "nixpkgs-x is not in the local store (/nix/store/" in why


def test_a_pin_in_the_store_is_evaluated_as_the_pinned_nixpkgs(fx, tmp_path):
    """The pinned branch for real: a 'nixpkgs' tree (here: one that forwards to the stand-in) added to the
    store as the fixed-output path its sha256 names, then the plan evaluates against it, offline."""
    require_tool("nix-store")
    root, m, drvs, graph, _source = fx
    v = m.variants[0]
    tree = tmp_path / "source"
    tree.mkdir()
    standin = plan.nixrun.standin_dir(ROOT)
    (tree / "default.nix").write_text(f'import {standin} {{ rev = "{v.pin.rev}"; system = "{v.platform}"; }}\n')
    sha = subprocess.run(
        ["nix-hash", "--type", "sha256", "--base32", str(tree)], capture_output=True, text=True, check=True
    ).stdout.strip()
    added = subprocess.run(
        ["nix-store", "--add-fixed", "--recursive", "sha256", str(tree)], capture_output=True, text=True, check=True
    )
    store_path = added.stdout.strip()
    pinned_root = tmp_path / "pinned"
    shutil.copytree(root, pinned_root)
    text = (pinned_root / "variants.toml").read_text()
    text = re.sub(r"(?m)^unverified = .*\n", "", text, count=1)
    text = text.replace(
        'sha256 = ""', f'sha256 = "{sha}"\nhash_source = "test: nix-hash of a tree forwarding to the stand-in"', 1
    )
    (pinned_root / "variants.toml").write_text(text)
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    (tmp_path / "builders.toml").write_text(f'[[substituter]]\nurl = "file://{cache}"\n')
    try:
        pm = model.load(pinned_root / "variants.toml")
        assert plan.pin_store_path(pm.variants[0].pin) == (store_path, "")
        pinned_drvs, source = plan.instantiate(pm, pinned_root, pm.variants)
        assert source == "the pinned nixpkgs (nixpkgs-6a030d5, from the local store)"
        assert pinned_drvs == drvs  # the same derivations: only where the expression came from differs
        p = plan.make_plan(pinned_root, pm, None, [(1, 1)], env={"BUILDMATRIX_BUILDERS": str(tmp_path / "builders.toml")})
        assert p.as_dict()["nixpkgs"] == "pinned"
        assert p.evaluated_with == source and f"1 substituter(s) of {tmp_path / 'builders.toml'}" in p.availability_note
        assert p.as_dict()["total"]["core_hours"] == 37 and p.where == {}
    finally:
        subprocess.run(["nix-store", "--delete", store_path], capture_output=True)
