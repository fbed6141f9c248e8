"""Write (or check) the generated recipes in .flox/pkgs, and the helper file they import.

Rules: everything is rendered in memory before the first write; each file is
written atomically (temp file + rename, see ``buildmatrix.files``) and only when its content changed;
files without the generated marker are never touched; generated files no
variant produces any more are reported as stale and deleted only on request. The helper file
(``LIB_FILE``, outside .flox/pkgs) follows the same rules and is written by every run, whatever
``names`` selects, since every recipe imports it; its state is ``Report.lib`` / ``Drift.lib``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuildMatrixError
from ..files import sweep, write_atomic
from ..model import Matrix
from .render import LIB_FILE, MARKER, PKGS_DIR, render_all, render_lib


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    lib: str = "unchanged"  # LIB_FILE: "created", "updated" or "unchanged"

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.pruned or self.lib != "unchanged")


@dataclass
class Drift:
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    lib: str = ""  # LIB_FILE: "" when current, else "missing" or "different"

    @property
    def clean(self) -> bool:
        return not (self.missing or self.different or self.stale or self.lib)

    def lines(self) -> list[str]:
        out = [f"{self.lib:<9} {LIB_FILE}"] if self.lib else []
        out += [f"missing   {n}" for n in self.missing]
        out += [f"different {n}" for n in self.different]
        out += [f"stale     {n}" for n in self.stale]
        return out


def is_generated(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return fh.readline().startswith(MARKER)
    except OSError:
        return False


def _existing(out_dir: Path) -> tuple[set[str], set[str]]:
    """(generated, hand-written) .nix file names directly in out_dir."""
    generated, handwritten = set(), set()
    if out_dir.is_dir():
        for p in out_dir.iterdir():
            if p.suffix == ".nix" and p.is_file():
                (generated if is_generated(p) else handwritten).add(p.name)
    return generated, handwritten


def _lib_path(root: Path) -> Path:
    path = root / LIB_FILE
    if path.exists() and not is_generated(path):
        raise BuildMatrixError(
            f"{path}: exists and is not generated (no marker on line 1); it is never overwritten: move it away"
        )
    return path


def _plan(matrix: Matrix, out_dir: Path, names: list[str] | None) -> dict[str, str]:
    files = render_all(matrix, names)
    _, handwritten = _existing(out_dir)
    clash = sorted(set(files) & handwritten)
    if clash:
        raise BuildMatrixError(
            f"{out_dir}: hand-written file(s) {', '.join(clash)} have the names of generated recipes; "
            "they are never overwritten: rename or delete them, or rename the variants"
        )
    return files


def generate(matrix: Matrix, root: Path, names: list[str] | None = None, prune: bool = False) -> Report:
    out_dir = root / PKGS_DIR
    files = _plan(matrix, out_dir, names)
    lib_path, lib_text = _lib_path(root), render_lib()
    sweep(out_dir)  # temp files of a run that was killed
    report = Report()
    if not lib_path.exists() or lib_path.read_text(encoding="utf-8") != lib_text:
        report.lib = "updated" if lib_path.exists() else "created"
        lib_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(lib_path, lib_text)
    for name, content in files.items():
        path = out_dir / name
        if path.exists():
            if path.read_text(encoding="utf-8") == content:
                report.unchanged.append(name)
                continue
            report.updated.append(name)
        else:
            report.created.append(name)
        write_atomic(path, content)
    if names is None:
        generated, _ = _existing(out_dir)
        report.stale = sorted(generated - set(files))
        if prune:
            for name in report.stale:
                (out_dir / name).unlink()
            report.pruned, report.stale = report.stale, []
    return report


def check(matrix: Matrix, root: Path, names: list[str] | None = None) -> Drift:
    out_dir = root / PKGS_DIR
    files = _plan(matrix, out_dir, names)
    drift = Drift()
    lib_path = _lib_path(root)
    if not lib_path.exists():
        drift.lib = "missing"
    elif lib_path.read_text(encoding="utf-8") != render_lib():
        drift.lib = "different"
    for name, content in files.items():
        path = out_dir / name
        if not path.exists():
            drift.missing.append(name)
        elif path.read_text(encoding="utf-8") != content:
            drift.different.append(name)
    if names is None:
        generated, _ = _existing(out_dir)
        drift.stale = sorted(generated - set(files))
    return drift
