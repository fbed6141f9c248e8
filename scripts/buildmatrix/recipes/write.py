"""Write (or check) the generated recipes in .flox/pkgs, through the one driver (``buildmatrix.generated``).

Rules (the driver's): everything is rendered in memory before the first write; each file is
written atomically and only when its content changed; a hand-written file (no ``MARKER`` on its
first line) with a recipe's name stops the run before anything is written, and other hand-written
files are never touched; generated recipes no variant produces any more are stale (a full run
only: a subset cannot tell) and deleted only on request. The helper file every recipe imports
(``LIB_FILE``, outside .flox/pkgs, where a file would be a package) is one more output of every
run, whatever ``names`` selects.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from .. import generated
from ..model import Matrix
from .render import LIB_FILE, MARKER, PKGS_DIR, render_all, render_lib

# Where the generated recipes live: a .nix file there with the marker and no variant is stale.
OWNED = generated.Owned(directory=PurePosixPath(PKGS_DIR), suffix=".nix", marker=MARKER)


def is_generated(path: Path) -> bool:
    """Whether ``path``'s first line is the recipes' generated marker."""
    return generated.starts_with(path, MARKER)


def outputs(matrix: Matrix, names: list[str] | None = None) -> list[generated.Output]:
    """One output per recipe (``names``: those and the torch variants they need; None: all), and the helper file."""
    recipes = [
        generated.Output(path=OWNED.directory / name, text=text, marker=MARKER, what="a generated recipe")
        for name, text in render_all(matrix, names).items()
    ]
    lib = generated.Output(path=PurePosixPath(LIB_FILE), text=render_lib(), marker=MARKER, what="the recipes' helper file")
    return [lib, *recipes]


def plan(matrix: Matrix, root: Path, names: list[str] | None = None) -> generated.Plan:
    """The recipes' plan; stale recipes are looked for only when ``names`` is None (every variant)."""
    return generated.plan(root, outputs(matrix, names), owned=(OWNED,) if names is None else ())


def generate(matrix: Matrix, root: Path, names: list[str] | None = None, prune: bool = False) -> generated.Report:
    """Write the recipes that are missing or different; delete stale ones when ``prune``."""
    return generated.write(plan(matrix, root, names), prune=prune)


def check(matrix: Matrix, root: Path, names: list[str] | None = None) -> generated.Report:
    """The recipes' drift (missing = ``created``, different = ``updated``, ``stale``); writes nothing."""
    return generated.check(plan(matrix, root, names))
