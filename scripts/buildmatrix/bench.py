"""Benchmarks that print figures (not timed tests): load, list, gen, gen --check, eval, at scale.

``invoke bench`` first times the real commands on the shipped matrix against the issue's
targets: ``invoke gen --check`` (< 1 s) and ``nox -s eval`` (< 30 s, with its figures:
torch derivations per configuration, companions sharing their pytorch recipe's torch,
arch-list entries), twice, saying how many new ``.drv`` files each run wrote (a first run on
a fresh store writes them all). Then it runs the library calls on the shipped matrix (into a
scratch copy, so the repository is not touched) and on synthetic matrices of about 2,500 /
5,000 / 10,000 / 20,000 variants (those larger than the shipped one) made by repeating the
shipped blocks with suffixes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
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

SIZES = (2_500, 5_000, 10_000, 20_000)  # those above the shipped matrix's size are measured


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


def _median_wall(argv: list[str], root: Path, repeat: int = 3) -> float:
    """Median wall time of running the command ``argv`` in ``root`` (process start included)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=root, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def invoke_list_wall(root: Path) -> float:
    """Wall time of the real command line `invoke list` (process start, imports, load, print)."""
    exe = _tool("invoke")
    return _median_wall([exe, "list"], root) if exe else float("nan")


def _tool(name: str) -> str | None:
    """The command from this interpreter's environment (the virtualenv), else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() else shutil.which(name)


def _drv_count() -> int:
    store = Path(os.environ.get("NIX_STORE_DIR", "/nix/store"))
    return sum(1 for _ in store.glob("*.drv")) if store.is_dir() else 0


def command_figures(root: Path) -> list[str]:
    """The real commands, timed as a maintainer runs them, against the issue's targets."""
    out = []
    invoke = _tool("invoke")
    if invoke:
        wall = _median_wall([invoke, "gen", "--check"], root)
        out.append(f"  `invoke gen --check` wall (median of 3)   {wall:.2f} s   (target < 1 s)")
    nox = _tool("nox")
    if nox:
        out.append(f"  `nox -l` wall (median of 3)               {_median_wall([nox, '-l'], root):.2f} s")
    if not (nox and shutil.which("nix-instantiate")):
        return out + ["  `nox -s eval`: skipped (needs nox and nix-instantiate)"]
    for run in ("first", "second"):
        before = _drv_count()
        start = time.perf_counter()
        proc = subprocess.run([nox, "-s", "eval", "--", "--json"], cwd=root, capture_output=True, text=True)
        wall = time.perf_counter() - start
        written = _drv_count() - before
        if proc.returncode:
            out.append(f"  `nox -s eval` ({run} run) FAILED, exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
            return out
        f = json.loads(proc.stdout)["figures"]
        out.append(f"  `nox -s eval` wall, {run} run ({written} new .drv files)  {wall:.1f} s   (target < 30 s)")
    shared = ", ".join(f"{pkg} {d['shared']}/{d['recipes']}" for pkg, d in f["torch_shared"].items())
    out += [
        f"    recipes evaluated {f['evaluated']} of {f['recipes']}, checks {f['checks']}, mismatches {f['mismatches']}",
        f"    distinct torch derivations / unique torch configurations  {f['torch_derivations']} / "
        f"{f['torch_configurations']} = {f['torch_ratio']:.2f}   (target 1.00)",
        f"    companions whose torch is their pytorch recipe's  {shared}   (target all)",
        f"    arch-list entries per GPU companion  mean {f['arch_entries_mean']:.2f}, max {f['arch_entries_max']}   (target 1)",
    ]
    return out


def run(root: Path) -> None:
    """Measure and print the figures (``invoke bench``, :func:`buildmatrix.cli.bench.cmd_bench`)."""
    text = (root / "variants.toml").read_text(encoding="utf-8")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, best of 3 unless noted\n")
    print("the shipped matrix through the real commands")
    print("\n".join(command_figures(root)) + "\n")
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
    for size in [s for s in SIZES if s > shipped["variants"]] or SIZES[-1:]:
        with contextlib.redirect_stderr(io.StringIO()):
            r = measure(root, synthetic(text, size))
        rows.append(r)
        per = r["gen_first"] / r["variants"] * 1e6
        print(f"  {r['variants']:>8}  {r['load']:>7.3f}  {r['gen_first']:>7.3f}  {r['check']:>7.3f}  {per:>14.0f}")
    small, big = rows[0], rows[-1]
    ratio = (big["gen_first"] / big["variants"]) / (small["gen_first"] / small["variants"])
    print(f"\n  per-variant gen cost at {big['variants']} vs {small['variants']} variants: x{ratio:.2f} (1.00 = linear)")
