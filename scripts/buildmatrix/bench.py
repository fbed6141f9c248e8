"""Benchmarks that print figures (not timed tests): load, list, gen, gen --check, at scale.

``invoke bench`` runs them on the shipped matrix (into a scratch copy, so the
repository is not touched) and on synthetic matrices of about 1,000 / 2,500 /
5,000 / 10,000 variants made by repeating the shipped blocks with suffixes.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomlkit

from . import model, recipes

SIZES = (1_000, 2_500, 5_000, 10_000)


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def synthetic(text: str, target: int) -> str:
    """The shipped file with its blocks repeated under suffixes s1, s2, ... until ~``target`` variants."""
    raw = tomllib.loads(text)
    per_copy = len(model.loads(text).variants)
    blocks = [b for b in raw["matrix"] if "suffix" not in b]
    for i in range(1, max(0, round(target / per_copy) - 1) + 1):
        raw["matrix"] += [{**b, "name": f"{b['name']}-s{i}", "suffix": f"s{i}"} for b in blocks]
    return tomlkit.dumps(raw)


def _scratch(root: Path, text: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="buildmatrix-bench-"))
    (tmp / "variants.toml").write_text(text)
    shutil.copytree(root / "patches", tmp / "patches")
    return tmp


def measure(root: Path, text: str) -> dict[str, float]:
    tmp = _scratch(root, text)
    try:
        f = tmp / "variants.toml"
        load = _best(lambda: model.load(f))
        m = model.load(f)
        start = time.perf_counter()
        recipes.generate(m, tmp)  # first run: every file created
        first = time.perf_counter() - start
        again = _best(lambda: recipes.generate(model.load(f), tmp))  # load + render, nothing changes
        check = _best(lambda: recipes.check(model.load(f), tmp))
        return {"variants": len(m.variants), "load": load, "gen_first": first, "gen_again": again, "check": check}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def invoke_list_wall(root: Path) -> float:
    """Wall time of the real command line `invoke list` (process start, imports, load, print)."""
    exe = shutil.which("invoke")
    if not exe:
        return float("nan")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([exe, "list"], cwd=root, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(root: Path) -> int:
    text = (root / "variants.toml").read_text(encoding="utf-8")
    print(f"python {sys.version.split()[0]}, best of 3 unless noted\n")
    shipped = measure(root, text)
    print("shipped variants.toml")
    print(f"  variants                      {shipped['variants']}")
    print(f"  load + validate + expand      {shipped['load']:.3f} s")
    print(f"  invoke gen (first, writes)    {shipped['gen_first']:.3f} s")
    print(f"  invoke gen (up to date)       {shipped['gen_again']:.3f} s")
    print(f"  invoke gen --check            {shipped['check']:.3f} s")
    print(f"  `invoke list` wall (median)   {invoke_list_wall(root):.3f} s")
    print("\nsynthetic matrices (shipped blocks repeated with suffixes)")
    print(f"  {'variants':>8}  {'load s':>7}  {'gen s':>7}  {'check s':>7}  {'gen µs/variant':>14}")
    rows = []
    for size in SIZES:
        with contextlib.redirect_stderr(io.StringIO()):
            r = measure(root, synthetic(text, size))
        rows.append(r)
        per = r["gen_first"] / r["variants"] * 1e6
        print(f"  {r['variants']:>8}  {r['load']:>7.3f}  {r['gen_first']:>7.3f}  {r['check']:>7.3f}  {per:>14.0f}")
    small, big = rows[0], rows[-1]
    ratio = (big["gen_first"] / big["variants"]) / (small["gen_first"] / small["variants"])
    print(f"\n  per-variant gen cost at {big['variants']} vs {small['variants']} variants: x{ratio:.2f} (1.00 = linear)")
    return 0
