"""invoke add / remove / pin: tomlkit round-trips that keep comments and refuse invalid results."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path

import matrices
import pytest
from buildmatrix import edit, model
from buildmatrix.errors import BuildMatrixError, ModelError, UsageError
from conftest import require_tool
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version
from textedit import mutate


def fake_tool(bindir: Path, name: str, stdout: str, rc: int = 0) -> None:
    bindir.mkdir(exist_ok=True)
    script = bindir / name
    script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {bindir}/calls.log\ncat <<'EOF'\n{stdout}\nEOF\nexit {rc}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def toml(scratch: Path) -> Path:
    return scratch / "variants.toml"


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def test_add_an_existing_variant_is_refused(toml):
    before = toml.read_text()
    with pytest.raises(UsageError, match="is produced twice") as info:
        edit.add(toml, "sm89-avx512", cuda="12.9")
    assert "it exists already: `invoke show " in str(info.value)
    assert toml.read_text() == before


def test_add_to_block_extends_lists(toml):
    text = toml.read_text()
    # take sm90 out of the CUDA 12 block, then add it back through --block
    head = 'name = "cuda12"\ntarget = "cuda"\npackages = ["pytorch", "torchvision"]\npython = ["3.13"]\ncuda = ["12.8", "12.9"]\n'
    toml.write_text(
        mutate(text, head + 'gpu = ["sm61", "sm75", "sm80", "sm86", "sm89", "sm90", ', head + 'gpu = ["sm61", "sm75", "sm80", "sm86", "sm89", ')
    )
    assert not any(v.gpu and v.gpu.name == "sm90" and v.cuda.version == "12.8" and v.origin[0].endswith("(cuda12)") for v in model.load(toml).variants)
    before = toml.read_text()
    result = edit.add(toml, "sm90-avx", block="cuda12")
    block = next(b for b in tomllib.loads(toml.read_text())["matrix"] if b["name"] == "cuda12")
    # every package, CUDA version and ISA of the block
    assert len(result.added) == len(block["packages"]) * len(block["cuda"]) * len(block["isa"])
    assert "pytorch-python313-cuda12_8-sm90-avx512" in result.added and not result.removed
    after = toml.read_text()
    assert comments(after) == comments(before)
    assert '"sm103", "sm120", "sm90"]' in after


def _used(m: model.Matrix, cuda: str, what: str) -> set[str]:
    """The pin / torch source names the file's own variants of this CUDA version use (on the default torch line)."""
    out = set()
    for v in m.variants:
        if v.cuda and v.cuda.version == cuda and not v.suffix and not v.line and v.package.name == "pytorch":
            out.add(v.pin.name if what == "pin" else (v.source.name if v.source else ""))
    return out


def test_add_single_variant_block(toml):
    alias, cuda = matrices.absent_gpu_addition(toml)
    before = model.load(toml)
    result = edit.add(toml, alias, cuda=cuda, packages=["pytorch"])
    name = f"pytorch-python{before.defaults.python.replace('.', '')}-cuda{cuda.replace('.', '_')}-{alias}"
    assert result.added == [name]
    block = f"added-{alias}-{cuda.replace('.', '_')}"
    doc = toml.read_text()
    assert f'name = "{block}"' in doc
    v = model.load(toml).variant(name)
    # Without --pin/--torch the new block takes what the file already uses for this CUDA version.
    assert {v.pin.name} == _used(before, cuda, "pin") and {v.source.name if v.source else ""} == _used(before, cuda, "torch")
    assert v.cudnn == v.gpu.cudnn
    assert "torchvision =" not in doc.split(f'name = "{block}"')[1]  # pytorch only: no torchvision source
    alias2, cuda2 = matrices.absent_gpu_addition(toml)
    result = edit.add(toml, alias2, cuda=cuda2)
    tv_name = next(n for n in result.added if n.startswith("torchvision-"))
    m = model.load(toml)
    tv, pt = m.variant(tv_name), m.torch_variant(m.variant(tv_name))
    same = [x for x in before.variants if x.requires and x.cuda and x.cuda.version == cuda2 and not x.suffix and not x.line]
    if same:  # the torchvision source, too, is the one the file uses for that CUDA version
        assert (tv.companion_source and tv.companion_source.name) == (same[0].companion_source and same[0].companion_source.name)
    assert pt.package.name == "pytorch" and pt.torch_key == tv.torch_key


def test_add_refuses_an_invalid_variant_and_writes_nothing(toml):
    before = toml.read_text()
    with pytest.raises(UsageError, match="CUDA 13.0 dropped sm70"):
        edit.add(toml, "sm70-avx2")
    with pytest.raises(UsageError, match="sm110 exists only on aarch64-linux"):
        edit.add(toml, "sm110-avx512", cuda="13.1")
    with pytest.raises(UsageError, match="unknown GPU"):
        edit.add(toml, "sm99-avx2")
    assert toml.read_text() == before


def test_add_places_its_block_after_the_last_matrix_block(toml):
    """Not between the next section's comment and its header: after the last block's last key, a blank
    line and a comment naming the command before it."""
    alias, cuda = matrices.absent_gpu_addition(toml)
    before = toml.read_text()
    lines = before.splitlines()
    last_key = max(i for i, line in enumerate(lines) if line.startswith("[[matrix]]"))
    while not lines[last_key + 1].startswith(("#", "[")) and lines[last_key + 1].strip():
        last_key += 1
    tail = "\n".join(lines[last_key + 1 :])  # the blank line, the CI section's comment, [ci] ...
    edit.add(toml, alias, cuda=cuda)
    after = toml.read_text()
    head, added, rest = after.partition(f"\n\n# added by `invoke add {alias} --cuda {cuda}`\n[[matrix]]\n")
    assert added, after[-3000:]
    assert head == "\n".join(lines[: last_key + 1])
    assert rest.endswith("\n" + tail + "\n") and "\n".join(rest.split("\n")[:-1]).count("[[matrix]]") == 0
    block, _, after_block = rest.partition("\n\n")
    assert f'name = "added-{alias}-{cuda.replace(".", "_")}"' in block
    assert after_block.strip("\n") == tail.strip("\n")  # the blank line, then the next section as it was
    new_comment = f"# added by `invoke add {alias} --cuda {cuda}`"
    assert [c for c in comments(after) if c != new_comment] == comments(before)  # a matrix may hold earlier adds


def test_add_then_remove_gives_the_file_back_byte_for_byte(toml):
    """remove takes the block out with the comment add wrote above it, and leaves the next section's comment."""
    alias, cuda = matrices.absent_gpu_addition(toml)
    before = toml.read_text()
    added = edit.add(toml, alias, cuda=cuda).added
    assert set(edit.remove(toml, [f"cuda{cuda.replace('.', '_')}-{alias}"]).removed) == set(added)
    assert toml.read_text() == before


def test_add_refusal_names_the_command_and_the_nearest_edit_the_rules_allow(toml):
    m = model.load(toml)
    alias, cuda = matrices.absent_gpu_addition(toml)
    gpu = m.gpus[alias.split("-")[0]]
    newer = [c for c in m.cudas if gpu.max_cuda and m.cudas[c].v > Version(gpu.max_cuda)]
    if not newer:
        pytest.skip(f"no CUDA version newer than {gpu.name} supports")
    before = toml.read_text()
    with pytest.raises(UsageError) as info:
        edit.add(toml, alias, cuda=newer[0])
    text = str(info.value)
    assert text.startswith(f"invoke add {alias} --cuda {newer[0]}: {gpu.name} × CUDA {newer[0]}: "), text
    assert "variants.toml:" not in text and "matrix[" not in text  # no file line of a block never written
    fix = re.search(rf"fix: `invoke add {alias} --cuda ([0-9.]+)`", text)
    assert fix, text
    supported = [c for c in m.cudas if Version(gpu.min_cuda) <= m.cudas[c].v <= Version(gpu.max_cuda)]
    assert fix.group(1) in supported and fix.group(1) == max(supported, key=lambda c: m.cudas[c].v) or fix.group(1) == cuda
    assert toml.read_text() == before
    # the shipped sm61 case: every CUDA version the rules allow is built already: the fix says so
    if "sm61" in m.gpus and m.gpus["sm61"].max_cuda and newer:
        with pytest.raises(UsageError) as info:
            edit.add(toml, "sm61-avx", cuda=newer[0])
        assert "the rules allow --cuda " in str(info.value) and "invoke list --gpu sm61" in str(info.value)


def test_remove_whole_block_and_narrow_excludes(toml):
    before = comments(toml.read_text())
    result = edit.remove(toml, ["darwin-mps"])
    assert result.removed == ["pytorch-python313-darwin-mps", "torchvision-python313-darwin-mps"]
    assert 'name = "darwin"' not in toml.read_text()
    result = edit.remove(toml, ["sm120-avx"])
    assert result.removed == ["pytorch-python313-cuda13_0-sm120-avx", "torchvision-python313-cuda13_0-sm120-avx"]
    text = toml.read_text()
    assert '{ cuda = "13.0", gpu = "sm120", isa = "avx" }' in text
    assert comments(text) == before
    m = model.load(toml)
    assert "pytorch-python313-cuda13_1-sm120-avx" in m.by_name  # 13.1 untouched


def test_remove_only_torch_is_refused(toml):
    before = toml.read_text()
    with pytest.raises(ModelError, match="which the matrix does not build"):
        edit.remove(toml, ["pytorch-python313-cpu-avx2"])
    assert toml.read_text() == before


def test_pin_fills_sha256_with_nix_prefetch_url(toml, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    sha = "0" * 52
    fake_tool(bindir, "nix-prefetch-url", f"path is '/nix/store/x'\n{sha}")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    result = edit.pin(toml, "nixpkgs-6a030d5")
    assert "sha256 " + sha in result.message
    assert model.load(toml).pins["nixpkgs-6a030d5"].sha256 == sha
    call = (bindir / "calls.log").read_text()
    assert "--unpack" in call and "6a030d535719c5190187c4cec156f335e95e3211.tar.gz" in call
    newrev = "a" * 40
    result = edit.pin(toml, "nixpkgs-6a030d5", rev=newrev)
    assert model.load(toml).pins["nixpkgs-6a030d5"].rev == newrev and "revision changed" in result.message


def test_pin_rejects_bad_input_and_failures(toml, tmp_path, monkeypatch):
    before = toml.read_text()
    with pytest.raises(UsageError, match="no pin named"):
        edit.pin(toml, "nixpkgs-nope")
    with pytest.raises(UsageError, match="full 40-hex"):
        edit.pin(toml, "nixpkgs-6a030d5", rev="6a030d5")
    bindir = tmp_path / "bin"
    fake_tool(bindir, "nix-prefetch-url", "error: unable to download", rc=1)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(BuildMatrixError, match="failed"):
        edit.pin(toml, "nixpkgs-6a030d5")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BuildMatrixError, match="not installed"):
        edit.pin(toml, "nixpkgs-6a030d5")
    assert toml.read_text() == before


def test_pin_failure_keeps_the_end_of_the_error_whole(toml, tmp_path, monkeypatch):
    """Offline, nix-prefetch-url prints a long error; the message keeps its end, cut between lines or words."""
    words = " ".join(f"word{i:03d}" for i in range(120))  # one line of 959 characters
    bindir = tmp_path / "bin"
    fake_tool(bindir, "nix-prefetch-url", "", rc=1)
    script = bindir / "nix-prefetch-url"
    script.write_text(f"#!/bin/sh\necho 'error: first line' >&2\necho '{words}' >&2\n"
                      "echo \"error: unable to download 'https://github.com/x.tar.gz': Couldn't resolve host name (6)\" >&2\nexit 1\n")  # fmt: skip
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(BuildMatrixError) as info:
        edit.pin(toml, "nixpkgs-6a030d5")
    said = str(info.value).split("failed (1): ", 1)[1]
    # the last line fits whole; the 959-character line before it does not, so it is left out, said with "…"
    assert said == "…\nerror: unable to download 'https://github.com/x.tar.gz': Couldn't resolve host name (6)", said
    assert edit.tail("x " * 400).startswith("… x") and len(edit.tail("y" * 30 + " " + "z" * 600)) <= 500


def test_pin_source_with_nix_prefetch_git(toml, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    digest = hashlib.sha256(b"x").digest()
    fake_tool(bindir, "nix-prefetch-git", f'{{"url": "u", "rev": "r", "sha256": "{edit.bytes_to_nix32(digest)}"}}')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    result = edit.pin_source(toml, "nightly")
    sri = "sha256-" + base64.b64encode(digest).decode()
    assert model.load(toml).sources["nightly"].hash == sri and sri in result.message
    assert "--fetch-submodules" in (bindir / "calls.log").read_text()


@given(st.binary(min_size=32, max_size=32))
def test_nix32_round_trip(digest):
    assert edit.nix32_to_bytes(edit.bytes_to_nix32(digest)) == digest
    assert len(edit.bytes_to_nix32(digest)) == 52


def test_nix32_matches_nix_itself():
    tool = require_tool("nix-hash")
    hexdigest = hashlib.sha256(b"buildmatrix").hexdigest()
    out = subprocess.run(
        [tool, "--type", "sha256", "--to-base32", hexdigest], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert edit.bytes_to_nix32(bytes.fromhex(hexdigest)) == out
