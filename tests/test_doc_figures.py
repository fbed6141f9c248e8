"""Hand-written prose carries no figure that editing variants.toml changes: such figures live in generated regions.

Outside the BEGIN/END GENERATED regions, README.md and docs/*.md must not state the matrix's
counts (variants, packages, sessions, torch configurations, per-CUDA/GPU/ISA counts). A
figure there drifts the first time a maintainer adds a block ("713 sessions" once did). A figure
with a date next to it (a measurement recorded on that day) is history and allowed.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from buildmatrix import docs, model
from buildmatrix.builds import sessions as builds

DATED = re.compile(r"\b20\d\d-\d\d-\d\d\b")
SMALL = 20  # below this a number is more likely "8 GiB" or "2 cores" than a count of the matrix


def _model_figures(m: model.Matrix) -> dict[int, str]:
    figures: dict[int, str] = {}
    figures[len(m.variants)] = "variants"
    for pkg, n in Counter(v.package.name for v in m.variants).items():
        figures.setdefault(n, f"{pkg} variants")
    figures.setdefault(len({m.torch_variant(v).name for v in m.variants}), "torch configurations")
    figures.setdefault(len(builds.sessions(m)), "build sessions")
    for label, key in (("CUDA", lambda v: v.cuda and v.cuda.version), ("GPU", lambda v: v.gpu and v.gpu.name)):
        for value, n in Counter(key(v) for v in m.variants if key(v)).items():
            figures.setdefault(n, f"{label} {value} variants")
    return {n: what for n, what in figures.items() if n >= SMALL}


def _prose(root: Path, rel: str) -> str:
    text = (root / rel).read_text(encoding="utf-8")
    parsed, problems = docs.parse(text, rel)
    assert not problems
    for r in parsed.regions:
        text = text.replace(docs.region_text(parsed, r), "")
    return text


def test_no_hand_written_matrix_figure(root):
    m = model.load(root / "variants.toml")
    figures = _model_figures(m)
    found = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        rel = str(path.relative_to(root))
        lines = _prose(root, rel).splitlines()
        for i, line in enumerate(lines):
            if any(DATED.search(x) for x in lines[max(0, i - 6) : i + 3]):
                continue  # a dated record ("on 2026-11-21 … printed"): history, not a claim about the current file
            for n in map(int, re.findall(r"(?<![\w.#/-])(\d{2,5})(?![\w.%/-])", line)):
                if n in figures:
                    found.append(f"{rel}: {n} ({figures[n]}?): {line.strip()[:120]}")
    assert not found, "figures that drift with variants.toml, written by hand (generate them or drop them):\n" + "\n".join(found)
