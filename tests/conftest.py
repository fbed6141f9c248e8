"""Shared fixtures: the repository root, a scratch copy of it, and small model files."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))


@pytest.fixture(autouse=True)
def _no_user_builders(tmp_path_factory, monkeypatch):
    """Builds in tests never pick up the developer's ~/.config/buildmatrix/builders.toml."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.delenv("BUILDMATRIX_BUILDERS", raising=False)


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def shipped():
    from buildmatrix import model

    return model.load(ROOT / "variants.toml")


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the files `invoke gen` reads, to write into freely."""
    shutil.copy(ROOT / "variants.toml", tmp_path / "variants.toml")
    shutil.copytree(ROOT / "patches", tmp_path / "patches")
    (tmp_path / ".flox" / "pkgs").mkdir(parents=True)
    return tmp_path


def require_tool(name: str) -> str:
    """Path of ``name``; skip the test if missing, unless BUILDMATRIX_REQUIRE_NIX=1 (CI) makes it a failure."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("BUILDMATRIX_REQUIRE_NIX") == "1":
        pytest.fail(f"{name} is required (BUILDMATRIX_REQUIRE_NIX=1) but not on PATH; install nix-bin")
    pytest.skip(f"{name} not on PATH (apt-get install nix-bin)")


# The longest tests (each runs the suite or the documented commands in a clone) start first, so
# that under pytest-xdist (`-n auto`, pyproject.toml) the other workers fill the time beside them
# instead of waiting for them at the end. Order does not change what any test proves.
_FIRST = ("test_maintainer_loop.py", "test_doc_commands.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(_FIRST)))
