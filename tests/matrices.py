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

ROOT = Path(__file__).resolve().parents[1]

# The three derived matrices the issue names, plus the shipped file itself.
KINDS = ("shipped", "block-added", "variants-removed", "python-block")


def copy_anchor_data(dest: Path, root: Path = ROOT) -> None:
    """The anchor's names and the mapping exceptions (tests/data/), which docs/BUILD_MATRIX.md's anchor table reads."""
    data = Path("tests") / "data"
    if (root / data / "anchor-names").is_dir():
        shutil.copytree(root / data / "anchor-names", dest / data / "anchor-names", dirs_exist_ok=True)
    if (root / data / "anchor-mapping-exceptions.toml").is_file():
        shutil.copy(root / data / "anchor-mapping-exceptions.toml", dest / data / "anchor-mapping-exceptions.toml")


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
    for g in m.gpus.values():
        for i in m.isas.values():
            for c in m.cudas:
                yield f"{g.name}-{i.name}", c


def absent_gpu_addition(path: Path) -> tuple[str, str]:
    """A GPU alias and CUDA version that ``invoke add`` accepts on ``path`` (a new block)."""
    m = model.load(path)
    for alias, cuda in _gpu_candidates(m):
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
    raise ValueError(kind)
