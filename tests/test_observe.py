"""`invoke observe`: first contact with a pin, offline, against a tarball mirror.

The mirror holds a nixpkgs-shaped tree (the stand-in, with ONE fact of one pin changed) packed with a
top-level directory, as GitHub's archives are. observe must find the change, name the key, record it
with `--write` (and the tarball's hash), and the regenerated recipes must then evaluate through their
own builtins.fetchTarball of the GitHub URL with the recorded hash, offline; a wrong or missing hash
fails closed. The pin and fact are chosen from the model, never from the shipped file's figures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest
from buildmatrix import model
from buildmatrix.cli import observe as observecli
from buildmatrix.model import hashes
from buildmatrix.nixeval import run as nixrun
from buildmatrix.recipes import nix
from conftest import ROOT, require_tool

pytestmark = pytest.mark.nix

STANDIN = ROOT / "scripts" / "buildmatrix" / "nixeval" / "standin"
RECORDED = "pins-recorded.nix"
NO_RETRY = ["--option", "download-attempts", "1", "--option", "connect-timeout", "2"]


def _subject(m: model.Matrix):
    """A pin whose own torch some recipe builds (so its torch version is asserted), and that recipe."""
    v = next((x for x in m.variants if x.pin.torch and not x.source and not x.requires), None)
    if v is None:
        pytest.skip("no recipe builds a pin's own torch")
    return v.pin, v


def _wrong(version: str) -> str:
    return version.rsplit(".", 1)[0] + ".99"


def _torch_is(version: str) -> str:
    return f"pin: pin // {{ torch = pin.torch // {{ version = {nix.string(version)}; }}; }}"


def _mirror(tmp: Path, rev: str, torch: str | None = None, flip: str = "") -> Path:
    """DIR/<rev>.tar.gz: the stand-in for ``rev`` (its torch version set to ``torch``, or the Nix
    function ``flip`` applied to its facts), under nixpkgs-<rev>/ as GitHub's archives are."""
    top = tmp / "build" / f"nixpkgs-{rev}"
    shutil.copytree(STANDIN, top / "standin")
    flip = _torch_is(torch) if torch else flip
    if flip:
        (top / "standin" / "pins.nix").rename(top / "standin" / RECORDED)
        r = nix.string(rev)
        (top / "standin" / "pins.nix").write_text(f"let\n  pins = import ./{RECORDED};\nin\npins // {{ {r} = ({flip}) pins.{r}; }}\n")
    (top / "default.nix").write_text(f"import ./standin {{ rev = {nix.string(rev)}; }}\n")
    mirror = tmp / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / f"{rev}.tar.gz", "w:gz") as tar:
        tar.add(top, arcname=top.name)
    return mirror


def _observe(scratch: Path, names: str, capsys, write=False, mirror="") -> tuple[int, str, str]:
    status = observecli.cmd_observe(str(scratch / "variants.toml"), str(scratch), names, write, True, mirror)
    out = capsys.readouterr()
    return status, out.out, out.err


def _rows(report: dict, key: str) -> list[dict]:
    return [f for f in report["facts"] if f["key"] == key]


def _eval_name(recipe: Path) -> subprocess.CompletedProcess:
    exe = require_tool("nix-instantiate")
    argv = [exe, "--eval", *NO_RETRY, "-E", f"(import {recipe} {{ }}).name"]
    return subprocess.run(argv, capture_output=True, text=True, env=nixrun.nix_env(), timeout=120)


def test_observe_finds_the_changed_fact_names_its_key_and_write_records_it(scratch, tmp_path, capsys):
    require_tool("nix-prefetch-url")
    m = model.load(scratch / "variants.toml")
    pin, v = _subject(m)
    flipped = _wrong(pin.torch)
    mirror = _mirror(tmp_path, pin.rev, flipped)
    before = (scratch / "variants.toml").read_text(encoding="utf-8")

    status, out, err = _observe(scratch, pin.name, capsys, mirror=str(mirror))
    assert status == 1, err
    report = json.loads(out)
    key = f"[pin.{pin.name}] torch"
    torch_rows = _rows(report, key)
    assert torch_rows and all(r["tree"] == flipped and r["says"] == pin.torch and not r["agrees"] for r in torch_rows)
    assert sum(r["variants"] for r in torch_rows) == sum(1 for x in m.variants if x.pin is pin and not x.source and not x.requires)
    others = [r for r in report["facts"] if r["key"] != key]
    assert others and all(r["agrees"] for r in others), [r for r in others if not r["agrees"]]
    (fetched,) = report["fetched"]
    assert fetched["url"] == pin.url and fetched["store_path"].endswith("-source")
    assert (scratch / "variants.toml").read_text(encoding="utf-8") == before, "observe without --write wrote"

    # --write: the tree's value and the tarball's hash recorded, observed and dated; comments kept
    status, out, err = _observe(scratch, pin.name, capsys, write=True, mirror=str(mirror))
    assert status == 0, err
    m2 = model.load(scratch / "variants.toml")
    p2 = m2.pins[pin.name]
    assert p2.torch == flipped and p2.sha256 == fetched["observed"] and not p2.unverified
    assert "invoke observe" in p2.hash_source and str(mirror) in p2.hash_source
    text = (scratch / "variants.toml").read_text(encoding="utf-8")
    section = text.split(f"[pin.{pin.name}]", 1)[1].split("\n[", 1)[0]
    assert "observed = {" in section and f'torch = "{report["date"]}"' in section
    assert [ln for ln in before.splitlines() if ln.startswith("#")] == [ln for ln in text.splitlines() if ln.startswith("#")]

    # observing again: every belief agrees
    status, out, err = _observe(scratch, pin.name, capsys, mirror=str(mirror))
    assert status == 0 and json.loads(out)["ok"], out

    # the regenerated recipe evaluates through its own fetchTarball of the GitHub URL, offline
    recipe = scratch / ".flox" / "pkgs" / f"{v.name}.nix"
    body = recipe.read_text(encoding="utf-8")
    assert pin.url in body and p2.sha256 in body
    proc = _eval_name(recipe)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().strip('"').endswith(f"-{flipped}")

    # ... and fails closed with another hash, or the fake one of an unverified pin
    other = hashes.FAKE_HASH.replace("AAAA", "BBBB", 1)
    for wrong in (other, hashes.FAKE_HASH):
        recipe.write_text(body.replace(p2.sha256, wrong), encoding="utf-8")
        proc = _eval_name(recipe)
        assert proc.returncode != 0, f"evaluated with sha256 {wrong}"


def test_bad_input_is_one_line_exit_2_and_changes_nothing(scratch, tmp_path, capsys):
    require_tool("nix-prefetch-url")
    m = model.load(scratch / "variants.toml")
    pin, _ = _subject(m)
    before = (scratch / "variants.toml").read_text(encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / f"{pin.rev}.tar.gz").write_bytes(b"not a tarball\n")
    cases = [
        ("no-such-pin", "", "no-such-pin"),
        (pin.name, str(tmp_path / "absent"), "--mirror"),
        (pin.name, str(empty), f"{pin.rev}.tar.gz"),
        (pin.name, str(garbage), "not a readable tarball"),
    ]
    for names, mirror, said in cases:
        status, out, err = _observe(scratch, names, capsys, write=True, mirror=mirror)
        assert status == 2, (names, mirror, out, err)
        assert said in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert (scratch / "variants.toml").read_text(encoding="utf-8") == before
        assert not any((scratch / ".flox" / "pkgs").iterdir())


def test_the_table_names_every_key_with_both_values(scratch, tmp_path, capsys):
    require_tool("nix-prefetch-url")
    m = model.load(scratch / "variants.toml")
    pin, _ = _subject(m)
    flipped = _wrong(pin.torch)
    mirror = _mirror(tmp_path, pin.rev, flipped)
    status = observecli.cmd_observe(str(scratch / "variants.toml"), str(scratch), pin.name, False, False, str(mirror))
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert [c.strip() for c in lines[0].split(" | ")] == ["key", "variants.toml says", "the tree says", "variants affected"]
    differs = [ln for ln in lines if ln.endswith("| DIFFERS")]
    assert any(ln.startswith(f"[pin.{pin.name}] torch ") and f"| {pin.torch} " in ln and f"| {flipped} " in ln for ln in differs)
    assert any(ln.startswith(f"[pin.{pin.name}] sha256 ") for ln in lines)


# ----------------------------------------------- nox -s eval -- --pinned against the observed tree


def _companion_version_key(m: model.Matrix, pin) -> str | None:
    """A companion version the pin records and some recipe of it asserts (torchvision, torchaudio)."""
    for attr in ("torchvision", "torchaudio"):
        if pin.version_of(attr) and any(
            v.pin is pin and v.package.attr == attr and v.requires and not v.companion_source for v in m.variants
        ):
            return attr
    return None


def test_pinned_eval_reports_every_failing_assertion_grouped_by_key(scratch, tmp_path, capsys):
    require_tool("nix-prefetch-url")
    from buildmatrix.cli import nixeval as nixevalcli

    m = model.load(scratch / "variants.toml")
    pin, _ = _subject(m)
    flipped = _wrong(pin.torch)
    mirror = _mirror(tmp_path, pin.rev, flipped)
    status, _, err = _observe(scratch, pin.name, capsys, write=True, mirror=str(mirror))
    assert status == 0, err

    # the tree observed and recorded: every recipe of the pin evaluates against it
    status = nixevalcli.cmd_eval_pinned(scratch, scratch / "variants.toml", [], True)
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and pin.name in report["pins"] and not report["failing"] and not report["failed"], report
    assert report["evaluated"] == sum(1 for v in m.variants if v.pin.name in report["pins"])

    # two beliefs made wrong again: both keys reported, each with every recipe it stops
    import tomlkit

    doc = tomlkit.parse((scratch / "variants.toml").read_text(encoding="utf-8"))
    doc["pin"][pin.name]["torch"] = pin.torch
    companion = _companion_version_key(m, pin)
    if companion:
        doc["pin"][pin.name][companion] = _wrong(pin.version_of(companion))
    (scratch / "variants.toml").write_text(tomlkit.dumps(doc), encoding="utf-8")
    m2 = model.load(scratch / "variants.toml")
    from buildmatrix import recipes

    recipes.generate(m2, scratch)
    status = nixevalcli.cmd_eval_pinned(scratch, scratch / "variants.toml", [], True)
    report = json.loads(capsys.readouterr().out)
    assert status == 1
    expected = {f"[pin.{pin.name}] torch"} | ({f"[pin.{pin.name}] {companion}"} if companion else set())
    assert set(report["failing"]) == expected
    torch_rows = report["failing"][f"[pin.{pin.name}] torch"]
    assert all(r["says"] == pin.torch and r["tree"] == flipped for r in torch_rows)
    own = {v.name for v in m2.variants if v.pin.name == pin.name and not v.source and not v.requires}
    assert {n for r in torch_rows for n in r["variants"]} == own
    assert own <= set(report["failed"]), "a recipe with a failing assertion evaluated"


def test_a_python_set_that_is_another_minor_is_reported_and_left_to_a_person(scratch, tmp_path, capsys):
    """Which attribute is the set of a Python minor needs a choice: --write records the hash, not a guess, and exits 1."""
    require_tool("nix-prefetch-url")
    m = model.load(scratch / "variants.toml")
    pin, v = _subject(m)
    attr = v.python.attr.removesuffix("Packages")
    others = sorted(p for p in m.pythons if p != v.python.version)
    if not others:
        pytest.skip("one Python minor only: no other minor to pretend")
    flip = f"pin: pin // {{ python = pin.python // {{ versionOf = {{ {attr} = {nix.string(others[0])}; }}; }}; }}"
    mirror = _mirror(tmp_path, pin.rev, flip=flip)
    status, out, err = _observe(scratch, pin.name, capsys, mirror=str(mirror))
    assert status == 1, err
    key = f'[python."{v.python.version}"] (attribute {v.python.attr})'
    rows = _rows(json.loads(out), key)
    assert rows and all(r["tree"] == others[0] and not r["agrees"] for r in rows)
    python_before = tomllib.loads((scratch / "variants.toml").read_text(encoding="utf-8")).get("python")
    status, out, err = _observe(scratch, pin.name, capsys, write=True, mirror=str(mirror))
    assert status == 1
    report = json.loads(out)
    assert any(line.startswith(key) for line in report["needs_a_person"]), report["needs_a_person"]
    after = tomllib.loads((scratch / "variants.toml").read_text(encoding="utf-8"))
    assert after.get("python") == python_before
    assert model.load(scratch / "variants.toml").pins[pin.name].sha256 == report["fetched"][0]["observed"]
