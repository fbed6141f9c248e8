"""Matrices the tests derive from the shipped variants.toml, so that properties are proven on more than one file.

Each derivation is an ordinary maintainer edit (``edit.add`` / ``edit.remove``, what
``invoke add`` / ``invoke remove`` run) applied to a copy of whatever variants.toml the
repository holds *now*. Nothing here names a count: the tests compare against the model
of the derived file. When the preferred edit no longer applies (the maintainer already
added sm70 on CUDA 12.9, say), the next valid combination the file does not hold is used.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from buildmatrix import edit, model
from buildmatrix.errors import BuildMatrixError
from buildmatrix.model import anchormap

ROOT = Path(__file__).resolve().parents[1]

# The three derived matrices the issue names, the shipped file itself, and one that declares
# torchaudio (not shipped yet) and builds it next to a GPU and a CPU pytorch variant.
KINDS = ("shipped", "block-added", "variants-removed", "python-block", "torchaudio-added")
# torchaudio 2.10.0 (issue-15 research note §2: VERIFIED, the same hash with or without submodules).
AUDIO_SOURCE = {
    "package": "torchaudio",
    "version": "2.10.0",
    "owner": "pytorch",
    "repo": "audio",
    "rev": "v2.10.0",
    "hash": "sha256-b1sjHVFXdNFDbdtXWSM2KisSRE/8IbzJI4rvzYQ4UMg=",
    "fetch_submodules": False,
    "fetcher": "fetchFromGitHub",
    "hash_source": "issue-15 research note §2 (PF:165-168, PF:182): VERIFIED",
}
# nixpkgs' torchaudio 2.9.1 / 2.10.0 expressions both apply it (research note §2).
AUDIO_PATCH = "0001-setup.py-propagate-cmakeFlags.patch"


def copy_anchor_data(dest: Path, root: Path = ROOT) -> None:
    """The anchor's names and the mapping exceptions (tests/data/), which docs/BUILD_MATRIX.md's anchor table reads."""
    for rel in (anchormap.NAMES_DIR, anchormap.EXCEPTIONS_FILE):
        if (root / rel).is_dir():
            shutil.copytree(root / rel, dest / rel, dirs_exist_ok=True)
        elif (root / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / rel, dest / rel)


def copy_inputs(dest: Path, root: Path = ROOT) -> Path:
    """variants.toml, patches/, README.md, docs/, ledger/ and the anchor data of ``root`` in ``dest`` (no recipes)."""
    dest.mkdir(parents=True, exist_ok=True)
    copy_anchor_data(dest, root)
    shutil.copy(root / "variants.toml", dest / "variants.toml")
    for d in ("patches", "docs", "ledger"):
        if (root / d).exists():
            shutil.copytree(root / d, dest / d, dirs_exist_ok=True, ignore=shutil.ignore_patterns("local.jsonl"))
    shutil.copy(root / "README.md", dest / "README.md")
    (dest / ".flox" / "pkgs").mkdir(parents=True, exist_ok=True)
    return dest


def _fits(path: Path, alias: str, **kw) -> bool:
    """Whether ``edit.add(alias, **kw)`` would succeed on ``path`` (tried on a throw-away copy)."""
    trial = path.with_name(path.name + ".trial")
    shutil.copy(path, trial)
    try:
        return bool(edit.add(trial, alias, **kw).added)
    except BuildMatrixError:
        return False
    finally:
        trial.unlink(missing_ok=True)


def _gpu_candidates(m: model.Matrix) -> Iterator[tuple[str, str]]:
    """(alias, cuda) pairs, sm70-avx2 on CUDA 12.9 first, then every GPU × ISA × CUDA the file defines."""
    yield "sm70-avx2", "12.9"
    # sm70's other combinations next (CUDA 12.x only, so few are refused), then the rest: each refusal costs a trial edit.
    for g in sorted(m.gpus.values(), key=lambda g: g.name != "sm70"):
        for i in m.isas.values():
            for c in m.cudas:
                yield f"{g.name}-{i.name}", c


def absent_gpu_addition(path: Path) -> tuple[str, str]:
    """A GPU alias and CUDA version that ``invoke add`` accepts on ``path`` (a new block)."""
    m = model.load(path)
    # What the default line builds already is refused as made: skip it without a trial edit.
    present = {
        (v.gpu.name, v.isa.name, v.cuda.version)
        for v in m.variants
        if v.gpu and v.cuda and not v.line and not v.suffix and v.python.version == m.defaults.python
    }
    for alias, cuda in _gpu_candidates(m):
        if tuple(alias.split("-", 1)) + (cuda,) in present:
            continue
        if _fits(path, alias, cuda=cuda):
            return alias, cuda
    raise AssertionError(f"{path}: no GPU alias can be added (every combination is present or invalid)")


def absent_python_addition(path: Path) -> tuple[str, str]:
    """A CPU alias and a Python version the matrix's default torch line does not build yet (3.12 first)."""
    m = model.load(path)
    used = {v.python.version for v in m.variants if not v.line}
    pythons = sorted((p for p in m.pythons if p not in used), key=lambda p: (p != "3.12", p))
    for py in pythons:
        for isa in m.isas.values():
            if _fits(path, f"cpu-{isa.name}", python=py):
                return f"cpu-{isa.name}", py
    raise AssertionError(f"{path}: the default torch line builds every Python version of [python] already; nothing to add")


def removable(m: model.Matrix) -> list[str]:
    """Two aliases whose removal leaves a valid matrix: a GPU alias and a CPU-only one (when the file has them)."""
    out = []
    gpu = next((v for v in m.variants if v.gpu and not v.suffix and v.package.name == "pytorch"), None)
    cpu = next((v for v in m.variants if v.target == "cpu" and not v.suffix and v.package.name == "pytorch"), None)
    for v in (gpu, cpu):
        if v is not None:
            out.append(v.name)
            out += [t.name for t in m.variants if t.requires and m.torch_variant(t) is v]
    return out


def audio_bases(m: model.Matrix) -> list[model.Variant]:
    """The pytorch variants a torchaudio 2.10 is added next to: the first GPU one and the first CPU one of torch 2.10."""
    out = []
    for target in ("cuda", "cpu"):
        v = next(
            (
                v
                for v in m.variants
                if v.package.name == "pytorch" and v.target == target and not v.suffix and v.torch_version.startswith("2.10.")
            ),
            None,
        )
        if v is not None:
            out.append(v)
    return out


def add_torchaudio(path: Path) -> list[str]:
    """Declare [package.torchaudio] in ``path`` and build it next to :func:`audio_bases` (one block each); its names."""
    import tomlkit

    m = model.load(path)
    bases = audio_bases(m)
    if not bases:
        raise AssertionError(f"{path}: no torch 2.10 pytorch variant to add a torchaudio 2.10 to")
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    doc["package"]["torchaudio"] = {"attr": "torchaudio", "title": "TorchAudio", "requires": "pytorch"}
    doc["source"]["audio-v2.10.0"] = AUDIO_SOURCE
    doc.setdefault("nixpkgs_patch", tomlkit.table())[AUDIO_PATCH] = {
        "package": "torchaudio",
        "when": "always",
        "keep_on": ["x86_64-linux", "aarch64-linux", "aarch64-darwin"],
        "reason": "nixpkgs applies it to torchaudio 2.9.1 and 2.10.0 alike",
        "source": "issue-15 research note §2 (stored nixpkgs torchaudio/default.nix 2.9.1 and 2.10.0)",
    }
    for i, v in enumerate(bases):
        pin = doc["pin"][v.pin.name]
        pin["torchaudio"] = "2.9.1"  # the stand-in's torchaudio at the 2.10 line's pins
        pin["torchaudio_patches"] = [AUDIO_PATCH]
        block = {"name": f"audio-{i}", "target": v.target, "packages": ["torchaudio"], "python": [v.python.version]}
        block.update(
            {
                axis: [value]
                for axis, value in (
                    ("cuda", v.cuda and v.cuda.version),
                    ("gpu", v.gpu and v.gpu.name),
                    ("isa", v.isa and v.isa.name),
                )
                if value
            }
        )
        block.update({"pin": v.pin.name, "torchaudio": "audio-v2.10.0"})
        if v.source:
            block["torch"] = v.source.name
        if v.env:
            block["env"] = dict(v.env)
        if v.cmake_flags:
            block["cmake_flags"] = list(v.cmake_flags)
        doc["matrix"].append(block)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return [f"torchaudio-{v.name.split('-', 1)[1]}" for v in bases]


def _line_key(line: str) -> tuple[int, ...]:
    return tuple(int(x) for x in line.split("."))


def absent_line(m: model.Matrix) -> str:
    """A release line the file does not build: the one below its oldest (2.7 below 2.8), else one above its newest."""
    lines = sorted(map(_line_key, m.torch_lines))
    major, minor = lines[0]
    if minor > 0:
        return f"{major}.{minor - 1}"
    major, minor = lines[-1]
    return f"{major}.{minor + 1}"


def add_torch_line(path: Path) -> tuple[str, list[str]]:
    """Build one pytorch variant of a torch line ``path`` lacks (:func:`absent_line`), from a torch source of that
    line next to the first plain pytorch variant's configuration; (the line, the new names)."""
    import tomlkit

    m = model.load(path)
    if not m.defaults.torch:
        raise AssertionError(f"{path}: no [defaults] torch, so a second line of one configuration cannot be named")
    line = absent_line(m)
    base = next((v for v in m.variants if v.package.name == "pytorch" and not v.requires and not v.suffix), None)
    if base is None:
        raise AssertionError(f"{path}: no plain pytorch variant to build another torch line next to")
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    doc.setdefault("source", tomlkit.table())[f"line-{line}"] = {
        "version": f"{line}.0",
        "owner": "pytorch",
        "repo": "pytorch",
        "rev": f"v{line}.0",
        "hash": "",
        "fetch_submodules": True,
        "fetcher": "fetchFromGitHub+submodules",
        "unverified": "a test line: no hash recorded",
    }
    block = {
        "name": f"line-{line.replace('.', '_')}",
        "target": base.target,
        "packages": ["pytorch"],
        "python": [base.python.version],
    }
    for axis, value in (
        ("cuda", base.cuda and base.cuda.version),
        ("gpu", base.gpu and base.gpu.name),
        ("isa", base.isa and base.isa.name),
    ):
        if value:
            block[axis] = [value]
    block.update({"pin": base.pin.name, "torch": f"line-{line}"})
    if base.env:
        block["env"] = dict(base.env)
    if base.cmake_flags:
        block["cmake_flags"] = list(base.cmake_flags)
    doc["matrix"].append(block)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    added = [v.name for v in model.load(path).variants if v.torch_line == line]
    assert added, f"{path}: the block for torch line {line} produced no variant"
    return line, added


def remove_torch_line(path: Path) -> tuple[str, list[str]]:
    """``invoke remove`` every variant of one torch line (not the default line; the one with the fewest variants);
    (the line, the removed names)."""
    m = model.load(path)
    lines = [line for line in m.torch_lines if line != m.defaults.torch]
    if not lines:
        raise AssertionError(f"{path}: builds only its default torch line; no other line to remove")
    line = min(lines, key=lambda x: (len(m.torch_lines[x]), _line_key(x)))
    names = [v.name for v in m.torch_lines[line]]
    edit.remove(path, names)
    return line, names


def derive(kind: str, dest: Path, root: Path = ROOT) -> tuple[Path, str]:
    """Write the ``kind`` matrix's inputs into ``dest``; return its variants.toml and what was edited."""
    copy_inputs(dest, root)
    f = dest / "variants.toml"
    if kind == "shipped":
        return f, "the shipped variants.toml"
    if kind == "block-added":
        alias, cuda = absent_gpu_addition(f)
        edit.add(f, alias, cuda=cuda)
        return f, f"invoke add {alias} --cuda {cuda}"
    if kind == "python-block":
        alias, py = absent_python_addition(f)
        edit.add(f, alias, python=py)
        return f, f"invoke add {alias} --python {py}"
    if kind == "variants-removed":
        names = removable(model.load(f))
        edit.remove(f, names)
        return f, "invoke remove " + " ".join(names)
    if kind == "torchaudio-added":
        return f, "torchaudio added: " + " ".join(add_torchaudio(f))
    if kind == "line-added":  # not in KINDS: the docs tests use it (tests/test_docs_pages.py)
        line, names = add_torch_line(f)
        return f, f"torch line {line} added: " + " ".join(names)
    if kind == "line-removed":
        line, names = remove_torch_line(f)
        return f, f"torch line {line} removed: invoke remove " + " ".join(names)
    raise ValueError(kind)
