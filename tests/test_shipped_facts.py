"""Facts the *shipped* matrix must keep, as data files of names (tests/data/), never as counts.

Everything else in the suite holds for any valid variants.toml (tests/test_matrix_properties.py
proves the properties on derived matrices too). These tests fail only when an edit drops a
variant the project promised: a seed, or a recipe of the anchor 2.10 line
(barstoolbluz/build-pytorch branch pytorch-2.10-python313 and barstoolbluz/build-torchvision
branch pytorch-2.10, listed with ``git ls-tree``). Adding variants never breaks them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

DATA = Path(__file__).resolve().parent / "data"


def names(file: str) -> dict[str, list[str]]:
    """Names per ``# <repo> <branch>`` section (one section for files without headers)."""
    out: dict[str, list[str]] = {}
    section = file
    for line in (DATA / file).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("# build-"):
            section = line[2:]
        elif line and not line.startswith("#"):
            out.setdefault(section, []).append(line)
    return out


@pytest.mark.parametrize("section", sorted(names("anchor-2.10-names.txt")))
def test_every_anchor_recipe_of_the_2_10_line_is_a_variant(shipped, section):
    wanted = names("anchor-2.10-names.txt")[section]
    missing = [n for n in wanted if n not in shipped.by_name]
    assert not missing, (
        f"{ROOT / 'variants.toml'} no longer produces {len(missing)} recipe(s) of the anchor's {section}: "
        f"{', '.join(missing[:8])}{' …' if len(missing) > 8 else ''} (listed in tests/data/anchor-2.10-names.txt)"
    )


def test_the_anchor_names_are_the_files_names():
    every = [n for ns in names("anchor-2.10-names.txt").values() for n in ns]
    assert every and len(every) == len(set(every))
    assert all(n.startswith(("pytorch-python313-", "torchvision-python313-")) and "." not in n for n in every)


def test_seed_variants_exist(shipped):
    seeds = names("seed-names.txt")["seed-names.txt"]
    missing = [n for n in seeds if n not in shipped.by_name]
    assert seeds and not missing, f"variants.toml no longer produces the seed variant(s) {missing} (tests/data/seed-names.txt)"
