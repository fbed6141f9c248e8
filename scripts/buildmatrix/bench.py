"""Benchmarks that give figures (not timed tests): gen --check and eval as typed, then load and gen at scale.

``invoke bench`` (:mod:`buildmatrix.cli.bench` prints the lines :func:`run` yields) first runs the
real commands against the issue's targets, as a maintainer types them: ``invoke gen --check``
(< 0.5 s; median of 3: wall and CPU) and ``nox -s eval`` (< 20 s, peak RSS < 1 GB: wall, CPU,
the largest process and the whole process tree at once; :mod:`buildmatrix.procstats`), in this
repository and in a scratch tree (its tasks.py, noxfile.py, scripts/ and patches/) whose
variants.toml repeats the shipped blocks with suffixes to about ``COMMAND_SIZE`` (5,000)
variants: one row per size, with the cost per 1,000 variants, so growth shows. In the repository
``nox -s eval`` runs twice, saying how many new ``.drv`` files each run wrote (a first run on a
fresh store writes them all), with its figures (torch derivations per configuration, companions
sharing their pytorch recipe's torch, arch-list entries). Then it runs the library calls on the
shipped matrix (into a scratch copy; best of 3) and on synthetic matrices of about 5,000 / 10,000 /
20,000 variants (``SIZES``, whole copies of the shipped blocks; one run each).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import tomlkit

from . import model, procstats, recipes

SIZES = (5_000, 10_000, 20_000)  # the library's synthetic matrices: about this many variants (whole copies)
COMMAND_SIZE = SIZES[0]  # the real commands' synthetic tree: about this many variants


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


def measure(root: Path, text: str, repeat: int = 3) -> dict[str, float]:
    tmp = _scratch(root, text)
    try:
        f = tmp / "variants.toml"
        load = _best(lambda: model.load(f), repeat)
        m = model.load(f)
        start = time.perf_counter()
        recipes.generate(m, tmp)  # first run: every file created
        first = time.perf_counter() - start
        again = _best(lambda: recipes.generate(model.load(f), tmp), repeat)  # load + render, nothing changes
        check = _best(lambda: recipes.check(model.load(f), tmp), repeat)
        return {"variants": len(m.variants), "load": load, "gen_first": first, "gen_again": again, "check": check}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _median_wall(argv: list[str], root: Path, repeat: int = 3) -> float:
    """Median wall time of running the command ``argv`` in ``root`` (process start included)."""
    return statistics.median(procstats.measure(argv, root).wall_s for _ in range(repeat))


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


def command_tree(root: Path, text: str) -> Path:
    """A scratch tree the real commands run in: tasks.py, noxfile.py, scripts/, patches/ and ``text`` as variants.toml."""
    tmp = _scratch(root, text)
    for name in ("tasks.py", "noxfile.py", "pyproject.toml"):
        shutil.copy(root / name, tmp / name)
    shutil.copytree(root / "scripts", tmp / "scripts", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tmp


def _run_checked(argv: list[str], where: Path) -> procstats.Stats:
    stats = procstats.measure(argv, where)
    if stats.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed in {where} (exit {stats.returncode}): {stats.stderr.strip()[-300:]}")
    return stats


def command_row(where: Path, variants: int, eval_runs: int = 1) -> dict:
    """``invoke gen --check`` (median of 3) and ``nox -s eval -- --json`` (``eval_runs`` times) in ``where``."""
    invoke, nox = _tool("invoke"), _tool("nox")
    checks = [_run_checked([invoke, "gen", "--check"], where) for _ in range(3)]
    row = {"variants": variants, "check_wall": statistics.median(c.wall_s for c in checks)}
    row["check_cpu"] = statistics.median(c.cpu_s for c in checks)
    if not (nox and shutil.which("nix-instantiate")):
        return row
    row["evals"] = []
    for _ in range(eval_runs):
        before = _drv_count()
        stats = _run_checked([nox, "-s", "eval", "--", "--json"], where)
        row["evals"].append({"stats": stats, "written": _drv_count() - before, "figures": json.loads(stats.stdout)["figures"]})
    return row


def _row_lines(rows: list[dict]) -> Iterator[str]:
    yield (
        f"  {'variants':>8}  {'gen --check':>11} {'CPU':>6} {'ms/1k':>6}   {'nox -s eval':>11} {'CPU':>6} "
        f"{'s/1k':>5}  {'RSS largest':>11} {'RSS tree':>9}"
    )
    for r in rows:
        line = f"  {r['variants']:>8}  {r['check_wall']:>9.2f} s {r['check_cpu']:>5.2f}s {1e6 * r['check_wall'] / r['variants']:>6.0f}"
        if r.get("evals"):
            e = r["evals"][-1]["stats"]
            rss, tree = max(x["stats"].max_rss_mb for x in r["evals"]), max(x["stats"].tree_rss_mb for x in r["evals"])
            line += f"   {e.wall_s:>9.1f} s {e.cpu_s:>5.1f}s {1e3 * e.wall_s / r['variants']:>5.2f}  {rss:>8.0f} MB {tree:>6.0f} MB"
        yield line
    if len(rows) > 1 and rows[0].get("evals") and rows[-1].get("evals"):
        small, big = rows[0], rows[-1]

        def per(r: dict, key) -> float:
            return key(r) / r["variants"]

        wall = per(big, lambda r: r["check_wall"]) / per(small, lambda r: r["check_wall"])
        ev = per(big, lambda r: r["evals"][-1]["stats"].cpu_s) / per(small, lambda r: r["evals"][-1]["stats"].cpu_s)
        yield (
            f"  per-variant cost at {big['variants']} vs {small['variants']} variants: gen --check wall x{wall:.2f}, "
            f"eval CPU x{ev:.2f} (1.00 = linear)"
        )


def command_figures(root: Path, text: str) -> Iterator[str]:
    """The real commands, timed as a maintainer runs them, at the shipped size and at about COMMAND_SIZE."""
    if not _tool("invoke"):
        yield "  invoke: not found; skipped"
        return
    shipped = command_row(root, len(model.loads(text).variants), eval_runs=2)
    tree = command_tree(root, synthetic(text, COMMAND_SIZE))
    try:
        invoke = _tool("invoke")
        gen = _run_checked([invoke, "gen", "-q"], tree)  # writes the recipes, the jobset and the check's memo
        big = command_row(tree, len(model.load(tree / "variants.toml").variants))
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    yield "  targets: gen --check < 0.5 s; nox -s eval < 20 s, peak RSS < 1 GB (RSS largest: one process, as"
    yield "  /usr/bin/time -v says; RSS tree: all processes at once, sampled every 0.1 s); wall and CPU (user+sys)"
    yield from _row_lines([shipped, big])
    yield f"  (`invoke gen` writing the {big['variants']}-variant tree: {gen.wall_s:.1f} s wall, {gen.cpu_s:.1f} s CPU)"
    evals = shipped.get("evals")
    if not evals:
        yield "  `nox -s eval`: skipped (needs nox and nix-instantiate)"
        return
    for run, e in zip(("first", "second"), evals):
        yield f"  `nox -s eval` at {shipped['variants']}, {run} run: {e['stats'].wall_s:.1f} s wall ({e['written']} new .drv files)"
    f = evals[-1]["figures"]
    shared = ", ".join(f"{pkg} {d['shared']}/{d['recipes']}" for pkg, d in f["torch_shared"].items())
    yield f"    recipes evaluated {f['evaluated']} of {f['recipes']}, checks {f['checks']}, mismatches {f['mismatches']}"
    yield (
        f"    distinct torch derivations / unique torch configurations  {f['torch_derivations']} / "
        f"{f['torch_configurations']} = {f['torch_ratio']:.2f}   (target 1.00)"
    )
    yield f"    companions whose torch is their pytorch recipe's  {shared}   (target all)"
    yield f"    arch-list entries per GPU companion  mean {f['arch_entries_mean']:.2f}, max {f['arch_entries_max']}   (target 1)"


def run(root: Path) -> Iterator[str]:
    """The figures, line by line (``invoke bench``: :func:`buildmatrix.cli.bench.cmd_bench` prints them)."""
    text = (root / "variants.toml").read_text(encoding="utf-8")
    yield f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {_load()} at the start\n"
    yield "the real commands, as typed: this repository's matrix and a synthetic tree"
    yield from command_figures(root, text)
    yield ""
    shipped = measure(root, text)
    yield "shipped variants.toml, library calls (best of 3)"
    yield f"  variants                      {shipped['variants']}"
    yield f"  load + validate + expand      {shipped['load']:.3f} s"
    yield f"  invoke gen (first, writes)    {shipped['gen_first']:.3f} s"
    yield f"  invoke gen (up to date)       {shipped['gen_again']:.3f} s"
    yield f"  render + check (no memo)      {shipped['check']:.3f} s"
    yield f"  `invoke list` wall (median)   {invoke_list_wall(root):.3f} s"
    yield "\nsynthetic matrices (shipped blocks repeated with suffixes; one run each)"
    yield f"  {'variants':>8}  {'load s':>7}  {'gen s':>7}  {'check s':>7}  {'gen µs/variant':>14}"
    rows = [shipped]
    for size in SIZES:
        with contextlib.redirect_stderr(io.StringIO()):
            r = measure(root, synthetic(text, size), repeat=1)
        rows.append(r)
        per = r["gen_first"] / r["variants"] * 1e6
        yield f"  {r['variants']:>8}  {r['load']:>7.3f}  {r['gen_first']:>7.3f}  {r['check']:>7.3f}  {per:>14.0f}"
    small, big = rows[0], rows[-1]
    ratio = (big["gen_first"] / big["variants"]) / (small["gen_first"] / small["variants"])
    yield f"\n  per-variant gen cost at {big['variants']} vs {small['variants']} variants: x{ratio:.2f} (1.00 = linear)"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"
