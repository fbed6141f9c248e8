"""Pin facts: every belief a recipe rests on fires its assertion when wrong, the stand-in cites
every per-pin fact, every fetch has a hash (or is declared unverified), and the documented first
build of an unverified variant (failed fetch -> `invoke pin --hash` -> build again) works.

Expectations come from the model and the stand-in's facts, never from counts of the shipped file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import tomlkit
from buildmatrix import edit, model, recipes
from buildmatrix.model import hashes
from buildmatrix.nixeval import check as nixcheck
from buildmatrix.nixeval import evaluate as nixeval
from buildmatrix.nixeval import fetchwalk
from buildmatrix.nixeval import run as nixrun
from buildmatrix.recipes import pinfacts
from conftest import ROOT, require_tool

pytestmark = pytest.mark.nix

PKGS = Path(".flox") / "pkgs"
STANDIN = ROOT / "scripts" / "buildmatrix" / "nixeval" / "standin"


@pytest.fixture(scope="module")
def shipped_model():
    return model.load(ROOT / "variants.toml")


def _scratch(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "variants.toml", tmp_path / "variants.toml")
    shutil.copytree(ROOT / "patches", tmp_path / "patches")
    (tmp_path / PKGS).mkdir(parents=True)
    return tmp_path


def _edit_toml(root: Path, change) -> None:
    path = root / "variants.toml"
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")


def _eval_error(root: Path, name: str) -> str:
    m = model.load(root / "variants.toml")
    recipes.generate(m, root, [name])
    report = nixeval.evaluate(m, root, [name], instantiate=False)
    errors = {x.variant: x.actual for x in report.mismatches if x.check == "eval"}
    assert name in errors, f"{name} evaluated although a pin fact is wrong: {[x.line() for x in report.mismatches]}"
    return errors[name]


def _family(key: str) -> str:
    """An assertion's kind: its key without the pin / Python name (``torch``, ``carries``, ``python``)."""
    if key.startswith("[python."):
        return "python"
    return key.split("] ", 1)[1].split(" ", 1)[0]


def _assertions(m: model.Matrix, v: model.Variant) -> list[pinfacts.Assertion]:
    ctx = recipes.render.context(v, m)
    return ctx["assertions"]


def _first(m, family: str, pred=lambda v: True):
    for v in m.variants:
        for a in _assertions(m, v):
            if _family(a.key) == family and pred(v):
                return v, a
    return None, None


def _json(value) -> str:
    """As Nix's builtins.toJSON writes it."""
    return json.dumps(value, separators=(",", ":"))


def _pin(doc, v):
    return doc["pin"][v.pin.name]


# family -> (how to pick the variant, the change, the new value in JSON, the pinned value in JSON)
def _mutations(m: model.Matrix):
    out = {}
    v, a = _first(m, "torch")
    if v:
        wrong = v.pin.torch.rsplit(".", 1)[0] + ".99"  # the same release line: the names stay as they are
        out["torch"] = (
            v,
            lambda d, v=v, wrong=wrong: _pin(d, v).__setitem__("torch", wrong),
            json.dumps(wrong),
            json.dumps(v.pin.torch),
        )
    v, a = _first(m, "torchvision")
    if v:
        wrong = v.pin.torchvision.rsplit(".", 1)[0] + ".99"  # the same series: it still pairs with the torch
        out["torchvision"] = (
            v,
            lambda d, v=v, wrong=wrong: _pin(d, v).__setitem__("torchvision", wrong),
            json.dumps(wrong),
            json.dumps(v.pin.torchvision),
        )
    v, a = _first(m, "torchaudio")
    if v:
        wrong = v.pin.torchaudio.rsplit(".", 1)[0] + ".99"  # the same series: it still pairs with the torch
        out["torchaudio"] = (
            v,
            lambda d, v=v, wrong=wrong: _pin(d, v).__setitem__("torchaudio", wrong),
            json.dumps(wrong),
            json.dumps(v.pin.torchaudio),
        )
    v, a = _first(m, "cuda_attrs", lambda v: v.cuda.major >= 13)
    if v:

        def change(d, v=v):
            attrs = _pin(d, v).get("cuda_attrs") or tomlkit.inline_table()
            attrs[v.cuda.version] = "cudaPackages_12_9"
            _pin(d, v)["cuda_attrs"] = attrs

        out["cuda_attrs"] = (v, change, json.dumps(v.cuda.version), '"12.9"')
    v, a = _first(m, "cuda", lambda v: v.cuda.major == 12 and v.cuda.version != "12.9")
    if v:

        def change(d, v=v):
            t = tomlkit.inline_table()
            t[v.cuda.version] = "cudaPackages_12_9"
            _pin(d, v)["cuda_attrs"] = t

        # the key to correct becomes cuda_attrs once it is there
        out["cuda"] = (v, change, json.dumps(v.cuda.version), '"12.9"', "cuda_attrs")
    v, a = _first(m, "python", lambda v: v.python.version == "3.13" and not v.requires)
    if v:
        out["python"] = (
            v,
            lambda d: d["python"]["3.13"].__setitem__("attr", "python312Packages"),
            '"3.13"',
            '"3.12"',
        )
    v, a = _first(m, "carries", lambda v: not any(p.name in v.pin.carries for p in m.patches.values()))
    if v:
        name = next(p.name for p in m.patches.values() if p.nixpkgs_name and p.wanted_by(v.cuda))
        out["carries"] = (v, lambda d, v=v, n=name: _pin(d, v).__setitem__("carries", [n]), "true", "false")
    v, a = _first(m, "torch_cuda13_broken")
    if v:
        out["torch_cuda13_broken"] = (
            v,
            lambda d, v=v: _pin(d, v).__setitem__("torch_cuda13_broken", not v.pin.torch_cuda13_broken),
            json.dumps(not v.pin.torch_cuda13_broken),
            json.dumps(v.pin.torch_cuda13_broken),
        )
    v, a = _first(m, "torch_patches", lambda v: v.target == "cuda")
    if v:
        drop = next(p.name for p, _ in pinfacts.torch_patch_decisions(m, v) if p.when == "cuda")
        names = sorted(p.name for p, _ in pinfacts.torch_patch_decisions(m, v))

        def change(d, v=v, drop=drop):
            _pin(d, v)["torch_patches"] = [n for n in v.pin.torch_patches if n != drop]

        out["torch_patches"] = (v, change, _json([n for n in names if n != drop]), _json(names))
    for attr in ("torchvision", "torchaudio"):
        v, a = _first(m, f"{attr}_patches")
        if v:

            def change(d, v=v, attr=attr):
                _pin(d, v)[f"{attr}_patches"] = ["extra-fix.patch"]
                d.setdefault("nixpkgs_patch", tomlkit.table())
                d["nixpkgs_patch"]["extra-fix.patch"] = {
                    "package": attr,
                    "when": "always",
                    "keep_on": [],
                    "reason": "a patch the pin does not have",
                    "source": "this test",
                }

            out[f"{attr}_patches"] = (v, change, '["extra-fix.patch"]', "[]")
    v, a = _first(m, "apple_sdk")
    if v:
        out["apple_sdk"] = (v, lambda d, v=v: _pin(d, v).__setitem__("apple_sdk", "apple-sdk_99"), "true", "false")
    v, a = _first(m, "apple_sdk_version")
    if v:
        out["apple_sdk_version"] = (
            v,
            lambda d, v=v: _pin(d, v).__setitem__("apple_sdk_version", "99"),
            '"99"',
            json.dumps(v.pin.apple_sdk_version),
        )
    return out


FAMILIES = (
    "torch",
    "torchvision",
    "cuda",
    "cuda_attrs",
    "python",
    "carries",
    "torch_cuda13_broken",
    "torch_patches",
    "torchvision_patches",
    "torchaudio",
    "torchaudio_patches",
    "apple_sdk",
    "apple_sdk_version",
)


@pytest.mark.slow  # fast tier: pytest -m "not slow" (docs/TESTING.md)
def test_every_assertion_kind_of_the_matrix_has_a_firing_test(shipped_model):
    m = shipped_model
    kinds = {_family(a.key) for v in m.variants for a in _assertions(m, v)}
    assert kinds, "the recipes assert no pin fact"
    assert kinds <= set(FAMILIES), f"assertions without a firing test: {kinds - set(FAMILIES)}"
    assert kinds <= set(_mutations(m)), f"no variant to fire: {kinds - set(_mutations(m))}"


@pytest.mark.slow  # fast tier: pytest -m "not slow" (docs/TESTING.md)
@pytest.mark.parametrize("family", FAMILIES)
def test_a_wrong_pin_fact_fails_evaluation_naming_its_key_and_both_values(tmp_path, shipped_model, family):
    require_tool("nix-instantiate")
    mutations = _mutations(shipped_model)
    if family not in mutations:
        pytest.skip(f"no variant of this matrix rests on {family}")
    v, change, says, actual, *key = mutations[family]
    root = _scratch(tmp_path)
    _edit_toml(root, change)
    err = _eval_error(root, v.name)
    m = model.load(root / "variants.toml")
    wanted = [a for a in _assertions(m, m.by_name[v.name]) if _family(a.key) == (key[0] if key else family)]
    assert wanted, f"the mutated recipe no longer asserts {family}"
    assert f"variants.toml {wanted[0].key} says {says}" in err, err
    assert f"is {actual}; correct {wanted[0].key} in variants.toml" in err, err


@pytest.mark.slow  # fast tier: pytest -m "not slow" (docs/TESTING.md)
def test_the_shipped_beliefs_match_the_standin(shipped_model):
    """Zero assertion failures on the stand-in: variants.toml and pins.nix agree on every asserted fact."""
    require_tool("nix-instantiate")
    report = nixeval.evaluate(shipped_model, ROOT, instantiate=False)
    assert [x.line() for x in report.mismatches if x.check == "eval"] == []
    assert sum(len(_assertions(shipped_model, v)) for v in shipped_model.variants) >= len(shipped_model.variants)


# --------------------------------------------------------- stand-in provenance


def _pins_json() -> dict:
    out = subprocess.run(
        [require_tool("nix-instantiate"), "--eval", "--strict", "--json", str(STANDIN / "pins.nix")],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def uncited(pin: dict) -> list[str]:
    """Fact paths of one pin without a citation (a `cite` entry for the path or one of its prefixes)."""
    cite = pin.get("cite", {})
    missing = []

    def walk(value, path):
        if isinstance(value, dict) and value:
            for k, sub in value.items():
                walk(sub, (*path, k))
            return
        dotted = ".".join(path)
        prefixes = {".".join(path[:i]) for i in range(1, len(path) + 1)}
        if not (prefixes & set(cite)) or not all(cite.get(p, "x").strip() for p in prefixes & set(cite)):
            missing.append(dotted)

    for key, value in pin.items():
        if key != "cite":
            walk(value, (key,))
    return missing


def test_every_standin_pin_fact_cites_its_source():
    pins = _pins_json()
    assert pins
    for rev, pin in pins.items():
        assert uncited(pin) == [], f"{rev}: facts without a citation in its `cite` table"
        assert all(isinstance(c, str) and len(c) > 10 for k, c in pin["cite"].items() if k != "short"), rev


def test_a_fact_without_citation_is_caught():
    rev, pin = next(iter(_pins_json().items()))
    pin = {**pin, "newFact": {"value": 1}}
    assert uncited(pin) == ["newFact.value"]
    cite = dict(pin["cite"])
    cite.pop("torch")
    pin = {**pin, "cite": cite}
    assert "torch.version" in uncited(pin)


# ------------------------------------------------------------------ fetch walk


@pytest.fixture(scope="module")
def shipped_walk(shipped_model):
    require_tool("nix-instantiate")
    return fetchwalk.walk(shipped_model, ROOT)


def test_every_fetch_of_every_recipe_has_a_hash_or_is_declared_unverified(shipped_walk, shipped_model):
    w, m = shipped_walk, shipped_model
    assert w.error == "" and w.findings == []
    pins = [f for f in w.fetches if f["fetcher"] == "builtins.fetchTarball"]
    # every recipe fetches its pin (a torchvision recipe through the torch recipe it imports)
    assert {f["id"] for f in pins} == {v.pin.url for v in m.variants}
    assert len(pins) >= len(m.variants)
    for f in pins:
        pin = next(p for p in m.pins.values() if p.url == f["id"])
        assert f["hash"] == (pin.sha256 or hashes.FAKE_HASH)
    sources = {f"{s.owner}/{s.repo}@{s.rev}": s for s in m.sources.values()}
    walked = {f["id"] for f in w.fetches if f["fetcher"] == "fetchFromGitHub"}
    used = {v.source.name for v in m.variants if v.source} | {v.companion_source.name for v in m.variants if v.companion_source}
    assert {n for n in used} == {s.name for i, s in sources.items() if i in walked}


def test_the_walk_finds_a_fetch_without_hash(tmp_path, shipped_model):
    require_tool("nix-instantiate")
    m = shipped_model
    v = next((x for x in m.variants if not x.requires and x.pin.sha256), None)
    if v is None:
        pytest.skip("no pin with a recorded sha256 in this matrix")
    root = _scratch(tmp_path)
    recipes.generate(m, root, [v.name])
    recipe = root / PKGS / f"{v.name}.nix"
    text = recipe.read_text(encoding="utf-8")
    recipe.write_text(text.replace(f'sha256 = "{v.pin.sha256}";', ""), encoding="utf-8")
    w = fetchwalk.walk(m, root, [v.name])
    assert any(v.pin.url in x and "no hash" in x for x in w.findings), w.findings
    # and a fake hash nobody declared unverified
    recipe.write_text(text.replace(v.pin.sha256, hashes.FAKE_HASH), encoding="utf-8")
    w = fetchwalk.walk(m, root, [v.name])
    assert any("declares nothing unverified" in x for x in w.findings), w.findings


def test_the_walk_finds_a_source_fetched_with_another_fetcher(shipped_model, tmp_path):
    require_tool("nix-instantiate")
    m = shipped_model
    v = next((x for x in m.variants if not x.requires and x.source and x.source.hash and x.source.fetch_submodules), None)
    if v is None:
        pytest.skip("no hashed source with submodules")
    root = _scratch(tmp_path)
    recipes.generate(m, root, [v.name])
    recipe = root / PKGS / f"{v.name}.nix"
    recipe.write_text(recipe.read_text().replace("fetchSubmodules = true;", "fetchSubmodules = false;"), encoding="utf-8")
    w = fetchwalk.walk(m, root, [v.name])
    assert any("but its hash is recorded for fetchFromGitHub+submodules" in x for x in w.findings), w.findings


# ------------------------------------------- the first build of an unverified pin


def test_first_build_of_an_unverified_pin_fetch_fails_printing_the_hash_then_invoke_pin_then_build(tmp_path, shipped_model):
    """The documented workflow, with Nix's real builtins.fetchTarball on a local tarball standing in for GitHub."""
    nix_instantiate = require_tool("nix-instantiate")
    m = shipped_model
    pin = next((p for p in m.pins.values() if not p.sha256), None)
    if pin is None:
        pytest.skip("every pin has a recorded sha256")
    v = next(x for x in m.variants if x.pin is pin and not x.requires)
    root = _scratch(tmp_path)
    recipes.generate(m, root, [v.name])
    recipe = (root / PKGS / f"{v.name}.nix").read_text(encoding="utf-8")
    assert f'sha256 = "{hashes.FAKE_HASH}";' in recipe and f"invoke pin {pin.name} --hash" in recipe
    # a tarball of the stand-in, served from a file:// URL in place of GitHub's archive
    tarball = tmp_path / "nixpkgs.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(STANDIN, arcname="nixpkgs-standin")
    local = recipe.replace(pin.url, f"file://{tarball}")

    def fetch(text: str) -> subprocess.CompletedProcess:
        expr = tmp_path / "fetch.nix"
        body = text.split("buildmatrixNixpkgs ? ", 1)[1].split("\n  },\n}:", 1)[0] + "\n  }"
        expr.write_text(body + "\n", encoding="utf-8")
        return subprocess.run([nix_instantiate, "--eval", str(expr)], capture_output=True, text=True, env=nixrun.nix_env())

    # 1. the first fetch fails and prints the real hash
    first = fetch(local)
    assert first.returncode != 0 and "hash mismatch" in first.stderr
    got = first.stderr.split("got:", 1)[1].split()[0]
    # 2. `invoke pin NAME --hash <got>` records it (no network), with its provenance
    result = edit.pin(root / "variants.toml", pin.name, hash=got)
    assert "sha256" in result.message
    m2 = model.load(root / "variants.toml")
    assert m2.pins[pin.name].sha256 and not m2.pins[pin.name].unverified
    assert "--hash" in m2.pins[pin.name].hash_source
    assert v.name not in hashes.unverified(m2)
    # 3. build again: the regenerated recipe carries the hash, and the fetch succeeds
    recipes.generate(m2, root, [v.name])
    again = (root / PKGS / f"{v.name}.nix").read_text(encoding="utf-8")
    assert hashes.FAKE_HASH not in again.split("}:", 1)[0]
    second = fetch(again.replace(pin.url, f"file://{tarball}"))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().strip('"').startswith("/nix/store/")


def test_invoke_pin_source_with_a_fake_prefetcher_fills_the_hash(tmp_path, shipped_model, monkeypatch):
    m = shipped_model
    src = next((s for s in m.sources.values() if not s.hash), None)
    if src is None:
        pytest.skip("every source has a hash")
    root = _scratch(tmp_path)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sri = "sha256-" + "B" * 43 + "="
    tool = bindir / "nix-prefetch-git"
    tool.write_text(f'#!/bin/sh\necho "$@" > {bindir}/args\necho \'{{"hash": "{sri}"}}\'\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    edit.pin_source(root / "variants.toml", src.name)
    args = (bindir / "args").read_text()
    assert f"{src.owner}/{src.repo}.git" in args and ("--fetch-submodules" in args) == src.fetch_submodules
    m2 = model.load(root / "variants.toml")
    s2 = m2.sources[src.name]
    assert s2.hash == sri and not s2.unverified and "invoke pin --source" in s2.hash_source
    users = [v for v in m2.variants if v.source is s2 or v.companion_source is s2]
    assert users and all(src.name not in " ".join(hashes.unverified(m2).get(v.name, [])) for v in users)
    recipes.generate(m2, root, [users[0].name])
    report = nixeval.evaluate(m2, root, [users[0].name], instantiate=False)
    assert report.facts[users[0].name]["src"]["hash"] == sri


# ----------------------------------------------------------------------- darwin


def test_darwin_mps_is_built_as_the_anchor_builds_it(shipped_model):
    require_tool("nix-instantiate")
    m = shipped_model
    torches = [v for v in m.variants if v.target == "mps" and not v.requires]
    if not torches:
        pytest.skip("no darwin variant")
    report = nixeval.evaluate(m, ROOT, [v.name for v in torches], instantiate=False)
    assert report.mismatches == []
    for v in torches:
        f = report.facts[v.name]
        assert f["system"] == "aarch64-darwin" and f["cudaSupport"] is False
        exports = dict(nixcheck.exports(f["preConfigure"]))
        assert exports["USE_MPS"] == "1" and exports["USE_METAL"] == "1" and exports["BLAS"] == "vecLib"
        assert v.pin.apple_sdk in f["buildInputNames"]
        if v.source:  # a source override keeps nixpkgs' clang19 patch on darwin, by name
            kept = [p.name for p, keep in pinfacts.torch_patch_decisions(m, v) if keep]
            assert "clang19-template-warning.patch" in kept and nixcheck._names(f["patches"]) == kept
        else:  # the pin's own torch keeps every patch of its own
            assert "clang19-template-warning.patch" in nixcheck._names(f["patches"])
        recipe = (ROOT / PKGS / f"{v.name}.nix").read_text(encoding="utf-8")
        assert all(fw in recipe for fw in ("Accelerate", "Metal", "MetalPerformanceShadersGraph", "CoreML"))


# ------------------------------------------------- a recipe asserts only what it uses

# A fact of the tree is flipped in a copy of the stand-in's pins.nix (the recipes then disagree with
# the tree, not variants.toml with the recipes). Each flip is a Nix function of one pin's entry,
# changing the fact behind one assertion family everywhere in that tree.
RECORDED = "pins-recorded.nix"


def _uses(m: model.Matrix, v: model.Variant) -> dict[str, str]:
    """Family -> the key it names, for each pin fact a decision of ``v``'s recipe rests on.

    Written from the recipe's decisions, not from pinfacts: a companion builds on its torch recipe
    (whose assertions stop it too) and decides its own package's version or patches; a torch
    decides its version (the pin's own only), patches (a source override), Python set, CUDA
    attribute, allowBroken and MAGMA patch (CUDA 13), Apple SDK (darwin). A belief variants.toml
    does not record is asserted by nothing.
    """
    t = m.by_name[v.requires] if v.requires else v
    pin, key = v.pin, f"[pin.{v.pin.name}]"
    uses = {"python": f'[python."{t.python.version}"] (attribute {t.python.attr})'}
    if t.source is None and pin.torch:
        uses["torch"] = f"{key} torch"
    if t.source is not None and pin.torch_patches is not None:
        uses["torch_patches"] = f"{key} torch_patches"
    if t.cuda is not None:
        named = "cuda_attrs" if t.cuda.version in dict(pin.cuda_attrs) else "cuda"
        uses[named] = f"{key} {named}"
        if t.cuda.major >= 13:
            uses["torch_cuda13_broken"] = f"{key} torch_cuda13_broken"
        for p in m.patches.values():
            if p.nixpkgs_name and p.wanted_by(t.cuda):
                uses["carries"] = f"{key} carries ({p.name})"
    if t.target_info.os == "darwin" and pin.apple_sdk:
        uses["apple_sdk"] = f"{key} apple_sdk"
        if pin.apple_sdk_version:
            uses["apple_sdk_version"] = f"{key} apple_sdk_version"
    if v.requires:
        attr = v.package.attr
        if v.companion_source is not None and pin.patches_of(attr) is not None:
            uses[f"{attr}_patches"] = f"{key} {attr}_patches"
        elif v.companion_source is None and pin.version_of(attr):
            uses[attr] = f"{key} {attr}"
    return uses


def _kind(m: model.Matrix, v: model.Variant) -> tuple:
    """What a recipe decides from: its package, own source or the pin's, its torch's template, source
    or pin, and which key names its CUDA attribute."""
    t = m.by_name[v.requires] if v.requires else v
    own = v.companion_source if v.requires else v.source
    cuda_key = ("cuda_attrs" if t.cuda.version in dict(t.pin.cuda_attrs) else "cuda") if t.cuda else None
    return (v.package.attr, own is not None, t.kind, t.source is not None, cuda_key)


def _representatives(m: model.Matrix) -> list[model.Variant]:
    reps: dict[tuple, model.Variant] = {}
    for v in m.variants:
        reps.setdefault(_kind(m, v), v)
    return list(reps.values())


def _other(value: str, choices) -> str:
    return next(c for c in sorted(choices) if c != value)


def _flip(family: str, m: model.Matrix, rev: str, tree: dict) -> str:
    """The Nix function of pin ``rev``'s entry that makes the tree disagree on ``family``."""
    mp = next((p for p in m.pins.values() if p.rev == rev), None)

    def wrong(version: str) -> str:  # the same series, so that nothing else stops at the pairing
        return nix_str(version.rsplit(".", 1)[0] + ".99")

    if family in ("torch", "torchvision", "torchaudio"):
        if family not in tree:
            return "pin: pin"
        return f"pin: pin // {{ {family} = pin.{family} // {{ version = {wrong(tree[family]['version'])}; }}; }}"
    if family == "torch_patches":
        extra = '{ name = "extra-fix.patch"; when = "always"; }'
        return f"pin: pin // {{ torch = pin.torch // {{ patches = pin.torch.patches ++ [ {extra} ]; }}; }}"
    if family in ("torchvision_patches", "torchaudio_patches"):
        attr = family.removesuffix("_patches")
        if attr not in tree:
            return "pin: pin"
        return f'pin: pin // {{ {attr} = pin.{attr} // {{ patches = pin.{attr}.patches ++ [ "extra-fix.patch" ]; }}; }}'
    if family == "python":
        versions = tree["python"]["versions"]
        rotated = " ".join(f'python{x.replace(".", "")} = "{versions[(i + 1) % len(versions)]}";' for i, x in enumerate(versions))
        return f"pin: pin // {{ python = pin.python // {{ versionOf = {{ {rotated} }}; }}; }}"
    if family in ("cuda", "cuda_attrs"):
        attrs = {}
        for c in mp.cuda if mp else ():
            named = dict(mp.cuda_attrs).get(c)
            if (named is not None) == (family == "cuda_attrs"):
                attrs[named or m.cudas[c].attr] = _other(c, tree["cuda"]["sets"])
        body = " ".join(f"{a} = {nix_str(r)};" for a, r in attrs.items())
        return f"pin: pin // {{ cuda = pin.cuda // {{ releaseOf = {{ {body} }}; }}; }}"
    if family == "carries":
        return (
            "pin: pin // { magma = pin.magma // { carriesCuda13ClockRateFix = pin.magma.carriesCuda13ClockRateFix != true; }; }"
        )
    if family == "torch_cuda13_broken":
        return (
            'pin: pin // { torch = pin.torch // { supportedCudaMajors = if builtins.elem "13" pin.torch.supportedCudaMajors '
            'then builtins.filter (x: x != "13") pin.torch.supportedCudaMajors else pin.torch.supportedCudaMajors ++ [ "13" ]; }; }'
        )
    if family in ("apple_sdk", "apple_sdk_version"):
        if not (mp and mp.apple_sdk):
            return "pin: pin"
        sdk = nix_str(mp.apple_sdk)
        sdks = (
            f"builtins.removeAttrs pin.darwin.appleSdks [ {sdk} ]"
            if family == "apple_sdk"
            else f'pin.darwin.appleSdks // {{ {sdk} = "99.0"; }}'
        )
        return f"pin: pin // {{ darwin = pin.darwin // {{ appleSdks = {sdks}; }}; }}"
    raise AssertionError(f"no flip for {family}")


def nix_str(s: str) -> str:
    return recipes.nix.string(s)


def _flipped_standin(tmp: Path, flips: dict[str, str]) -> Path:
    """A copy of the stand-in whose pins.nix is the recorded one with ``flips`` (rev -> function) applied."""
    standin = tmp / "standin"
    shutil.copytree(STANDIN, standin)
    (standin / "pins.nix").rename(standin / RECORDED)
    body = "\n".join(f"  {nix_str(rev)} = ({fn}) pins.{nix_str(rev)};" for rev, fn in flips.items())
    (standin / "pins.nix").write_text(f"let\n  pins = import ./{RECORDED};\nin\npins // {{\n{body}\n}}\n", encoding="utf-8")
    return standin


@pytest.fixture(scope="module")
def representatives(shipped_model, tmp_path_factory):
    """One variant per recipe kind of the model, generated (with the torch each companion imports)."""
    require_tool("nix-instantiate")
    reps = _representatives(shipped_model)
    root = _scratch(tmp_path_factory.mktemp("kinds"))
    recipes.generate(shipped_model, root, [v.name for v in reps])
    return root, reps


def test_the_representatives_cover_every_kind_and_every_used_fact(shipped_model, representatives):
    m, (_, reps) = shipped_model, representatives
    assert {_kind(m, v) for v in reps} == {_kind(m, v) for v in m.variants}
    assert {v.package.attr for v in reps} == {v.package.attr for v in m.variants}
    used = {f for v in reps for f in _uses(m, v)}
    assert used == {_family(a.key) for v in m.variants for a in _assertions(m, v)}
    assert used <= set(FAMILIES)
    for v in reps:  # what each recipe asserts (its own and its torch's) is exactly what it uses
        t = m.by_name[v.requires] if v.requires else v
        own = {_family(a.key): a.key for a in _assertions(m, v)} | {_family(a.key): a.key for a in _assertions(m, t)}
        assert own == _uses(m, v), v.name


@pytest.mark.slow  # fast tier: pytest -m "not slow" (docs/TESTING.md)
@pytest.mark.parametrize("family", FAMILIES)
def test_a_tree_fact_stops_exactly_the_recipes_that_use_it(tmp_path, shipped_model, representatives, family):
    """Flip one fact of every pinned tree: each kind's recipe that uses it stops naming its key and
    both values; every other stays green (no mismatch at all)."""
    m, (root, reps) = shipped_model, representatives
    tree = _pins_json()
    standin = _flipped_standin(tmp_path, {rev: _flip(family, m, rev, pin) for rev, pin in tree.items()})
    report = nixeval.evaluate(m, root, [v.name for v in reps], instantiate=False, standin=standin)
    errors = {x.variant: x.actual for x in report.mismatches if x.check == "eval"}
    for v in reps:
        key = _uses(m, v).get(family)
        if key is None:
            assert [x.line() for x in report.mismatches if x.variant == v.name] == [], f"{family} stopped {v.name}"
        else:
            assert v.name in errors, f"{v.name} uses {family}, but evaluated against a tree that disagrees"
            assert f"variants.toml {key} says " in errors[v.name] and f"correct {key} in variants.toml" in errors[v.name]


def test_both_recorded_torchvision_versions_of_6a030d5_stop_nothing_that_does_not_use_them(tmp_path, shipped_model):
    """[pin.nixpkgs-6a030d5] torchvision: 0.24.1 here, 0.24.0 by another source. With either in the
    tree, only a recipe that builds the pin's own torchvision there may stop, naming that key."""
    require_tool("nix-instantiate")
    m = shipped_model
    pin = m.pins.get("nixpkgs-6a030d5")
    if pin is None:
        pytest.skip("no pin nixpkgs-6a030d5 in this matrix")
    names = [v.name for v in m.variants if v.pin is pin]
    root = _scratch(tmp_path)
    recipes.generate(m, root, names)
    key = f"[pin.{pin.name}] torchvision"
    for value in ("0.24.0", "0.24.1"):
        flip = f"pin: pin // {{ torchvision = pin.torchvision // {{ version = {nix_str(value)}; }}; }}"
        standin = _flipped_standin(tmp_path / value, {pin.rev: flip})
        report = nixeval.evaluate(m, root, names, instantiate=False, standin=standin)
        assert report.evaluated + len({x.variant for x in report.mismatches if x.check == "eval"}) == len(names)
        errors = {x.variant: x.actual for x in report.mismatches if x.check == "eval"}
        users = {n for n in names if _uses(m, m.by_name[n]).get("torchvision") == key}
        assert set(errors) == (users if value != pin.torchvision else set()), value
        assert all(f"variants.toml {key} says" in errors[n] for n in errors)
        assert [x.line() for x in report.mismatches if x.variant not in users] == [], value


def test_cpu_torch_names_its_blas_as_the_anchor_does(shipped_model):
    """BLAS=OpenBLAS, exported (not left to PyTorch's search); darwin keeps vecLib, CUDA and companions set none."""
    require_tool("nix-instantiate")
    m = shipped_model
    cpu = [v.name for v in m.variants if v.target == "cpu" and not v.requires]
    if not cpu:
        pytest.skip("no CPU variant")
    report = nixeval.evaluate(m, ROOT, cpu, instantiate=False)
    assert report.mismatches == []
    for name in cpu:
        assert dict(nixcheck.exports(report.facts[name]["preConfigure"]))["BLAS"] == "OpenBLAS", name
    others = [v for v in m.variants if v.target != "cpu" or v.requires]
    assert all(dict(recipes.render.target_env(v)).get("BLAS") in (None, "vecLib") for v in others)
