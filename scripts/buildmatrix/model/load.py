"""The load pipeline: TOML -> spec check -> axis tables -> blocks -> overrides -> rules -> [ci] -> warnings.

``load(path)`` / ``loads(text)`` either return a :class:`~buildmatrix.model.matrix.Matrix`
or raise :class:`~buildmatrix.errors.ModelError` listing every problem (file, key path,
line, fix). Structural problems (spec.py) stop the load before anything is built from the
file; after that every stage reports into one collector and the load fails once, at the
end. Nothing here writes to disk.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from ..errors import ProblemList
from ..spec import check as speccheck
from ..spec import loadguard
from ..spec.tomlpos import LineIndex
from . import ci, expand, rules, tables
from .collect import Collector
from .entries import Tables
from .matrix import Matrix
from .variant import Variant

DEFAULT_FILE = "variants.toml"


def load(path: str | Path = DEFAULT_FILE) -> Matrix:
    """Parse, check and expand ``path``. Raises ModelError with every problem found."""
    path = Path(path)
    return loads(loadguard.read(path), path)


def loads(text: str, path: Path | str = DEFAULT_FILE) -> Matrix:
    """Like :func:`load`, for the text of a file (``path`` is where it is said to be: messages, patch files)."""
    path = Path(path)
    raw = loadguard.parse(text, path)
    c = Collector(path, LineIndex(text))
    structural = ProblemList()
    speccheck.check_table(raw, "root", (), structural)
    c.adopt(structural)
    c.fail_if_problems(structural.omitted)
    if raw["schema_version"] != 1:
        c.problem(
            ("schema_version",), f"unsupported schema_version {raw['schema_version']}", "this tool reads schema_version = 1"
        )

    t = tables.read(raw, path, c)
    variants: list[Variant] = []
    for i, block in enumerate(raw["matrix"]):
        variants.extend(expand.expand_block(i, block, t, c))
    if not raw["matrix"]:
        c.problem(("matrix",), "the matrix is empty", "add at least one [[matrix]] block")
    variants = expand.apply_overrides(raw.get("override", []), variants, t, c)
    if not c.problems:
        by_name = expand.check_names(variants, c)
        for v in variants:
            if v.requires:
                rules.check_pair(v, by_name.get(v.requires), expand.origin_path(v), c.problem)
    ci_config = ci.read(raw.get("ci"), t, variants, c)
    c.fail_if_problems()
    return _matrix(path, t, variants, ci_config)


def _matrix(path: Path, t: Tables, variants: list[Variant], ci_config: ci.CiConfig | None) -> Matrix:
    matrix = Matrix(path=path, variants=variants, ci_config=ci_config, **{f.name: getattr(t, f.name) for f in fields(Tables)})
    if t.defaults.torch and t.defaults.torch not in matrix.torch_lines:
        matrix.warnings.append(
            f"[defaults] torch = {t.defaults.torch!r}: no variant builds that line, so every name carries its line "
            f"(the lines are: {matrix.describe_lines()})"
        )
    unused = sorted(set(t.pins) - {v.pin.name for v in variants})
    if unused:
        matrix.warnings.append("pins no variant uses: " + ", ".join(unused))
    return matrix
