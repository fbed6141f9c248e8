"""``invoke plan --since REV``: what an edit rebuilds, before it is pushed. A prediction only.

1. **Both sides.** REV (any commit git names: ``main``, ``HEAD~1``, a hash; it must pass
   ``git rev-parse --verify REV^{commit}``) is read from git with ``git archive`` into a
   temporary directory: its variants.toml, its committed recipes (``.flox``) and patches.
   Nothing is checked out over the working tree. The working tree's side is its variants.toml
   rendered as ``invoke gen`` would write the recipes (so an edit counts before ``invoke gen``
   runs), into another temporary directory.
2. **One evaluator.** Both sides are instantiated with ``nix-instantiate`` against the same
   package set: the pinned nixpkgs when every pin either side uses is in the local store, else
   this checkout's stand-in for both (:func:`buildmatrix.plan.predict.instantiate`).
3. **The delta.** A derivation of the working tree's graph whose drvPath REV's graph lacks is
   *changed* (it must build, unless its outputs are somewhere already); one only REV has is
   *removed*. An edit that reaches no derivation (a description, the docs) changes none.
   Whatever depends on a changed derivation is changed too (its inputs are part of its
   drvPath), so the changed set is closed upwards and everything unchanged counts as built.
4. **Really to build.** The changed derivations' outputs are looked up in the local store,
   the ``--cache`` URLs and (pinned evaluations) the builders file's substituters
   (:mod:`buildmatrix.plan.cache`); a fixed-output fetch whose output REV already had (same
   hash, another URL) is not fetched again. Core-hours and the makespan are
   :func:`buildmatrix.plan.predict.compute`'s, over what remains.
5. **A pin bump under the stand-in.** The stand-in models nixpkgs' interfaces, not its
   contents: a new rev or hash of a pin reaches no stand-in derivation, while a real nixpkgs
   bump rebuilds nearly everything (stdenv changes). So when the stand-in evaluates and a
   variant's pin (rev or sha256) differs from REV's, every derivation the variant's closure
   builds (fixed-output fetches aside) counts as changed, and the report says it was assumed
   (``pins``). The pinned evaluation needs no assumption: its drvPaths differ by themselves.

Counted per derivation class (:func:`~buildmatrix.plan.predict.classify`) and per platform (the
derivation's ``system``). Nothing here writes outside its temporary directories (and the Nix
store's ``.drv`` files, as ``invoke plan`` does).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import ledger, model
from ..errors import BuildMatrixError, UsageError
from ..nixeval import run as nixrun
from ..recipes import PKGS_DIR, file_name, outputs
from . import cache, predict
from .cost import CLASSES, COSTS_FILE, load_costs, measured_costs

REV_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/~^@{}+-]{0,199}")  # no leading '-': never an option to git
COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
TREE_PATHS = ("variants.toml", ".flox", "patches")  # what REV's side needs from its tree
SHOWN = 20  # variant names printed per list in the text report (JSON has them all)


def _git(root: Path, *args: str, data: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=not data, env=env)


def resolve(root: Path, rev: str, option: str = "--since") -> str:
    """The commit ``rev`` names in ``root``'s repository (full hash), else UsageError naming ``option``."""
    fix = f"give a commit, branch or tag of this repository, e.g. {option} main or {option} HEAD~1"
    if not REV_RE.fullmatch(rev or "") or ".." in rev:
        raise UsageError(f"{option} {rev[:60]!r} is not a revision; {fix}")
    proc = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    commit = proc.stdout.strip() if proc.returncode == 0 else ""
    if not COMMIT_RE.fullmatch(commit):
        where = "no git repository here" if _git(root, "rev-parse", "--git-dir").returncode else "not a commit here"
        raise UsageError(f"{option} {rev!r}: {where}; {fix}")
    return commit


def extract(root: Path, commit: str, dest: Path) -> Path:
    """REV's variants.toml, recipes and patches under ``dest`` (``git archive``; nothing checked out)."""
    present = [p for p in TREE_PATHS if _git(root, "cat-file", "-e", f"{commit}:{p}").returncode == 0]
    if "variants.toml" not in present:
        raise UsageError(f"--since {commit[:12]}: that commit has no variants.toml; give a commit of this matrix")
    proc = _git(root, "archive", "--format=tar", commit, "--", *present, data=True)
    if proc.returncode:
        raise UsageError(f"--since {commit[:12]}: git archive failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")  # no absolute paths, no links out of dest
    return dest


def render_tree(m: model.Matrix, root: Path, names: Sequence[str] | None, dest: Path) -> Path:
    """The working tree's recipes as ``invoke gen`` writes them, with its patches (recipes name them), under ``dest``."""
    if (root / "patches").is_dir():
        shutil.copytree(root / "patches", dest / "patches", symlinks=False)
    for out in outputs(m, list(names) if names else None):
        path = dest / out.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out.text, encoding="utf-8")
    return dest


@dataclass(frozen=True)
class Side:
    roots: dict[str, str]  # variant name -> drvPath
    graph: dict[str, predict.Drv]


def _evaluate(m: model.Matrix, root: Path, variants, tree: Path, standin: Path, pinned: bool) -> tuple[Side, str]:
    if not variants:
        return Side({}, {}), ""
    roots, source = predict.instantiate(m, root, variants, recipes=tree, standin=standin, pinned=pinned)
    return Side(roots, predict.load_graph(roots.values())), source


def _rev_selection(old: model.Matrix, names: Sequence[str] | None, new_names: set[str], tree: Path) -> tuple[list, int]:
    """REV's variants to compare (those of the selection, by name or by the same NAMES there) with a recipe
    there, and how many lack one."""
    chosen = set(new_names)
    if names:
        for n in names:
            try:
                chosen.update(v.name for v in old.with_dependencies([n]))
            except BuildMatrixError:
                pass  # a name only the working tree knows
    picked = [v for v in old.variants if not names or v.name in chosen]
    with_recipe = [v for v in picked if (tree / PKGS_DIR / file_name(v)).is_file()]
    return with_recipe, len(picked) - len(with_recipe)


def _tally(keys: Sequence[str]) -> dict[str, dict]:
    return {k: {"changed": 0, "to_build": 0, "removed": 0, "core_hours": 0.0} for k in keys}


def pin_changes(new: Sequence[model.Variant], old: Sequence[model.Variant]) -> dict[str, list[str]]:
    """Pin name -> the variants (of both sides, by name) whose pin has another rev or sha256 at REV."""
    before = {v.name: v.pin for v in old}
    out: dict[str, list[str]] = {}
    for v in new:
        was = before.get(v.name)
        if was is not None and (was.rev, was.sha256) != (v.pin.rev, v.pin.sha256):
            out.setdefault(v.pin.name, []).append(v.name)
    return out


def forced(graph: Mapping[str, predict.Drv], roots: Sequence[str]) -> set[str]:
    """What the roots' closure builds, fixed-output fetches aside: what a new nixpkgs rebuilds for them."""
    return {p for p in predict.to_build(graph, roots, set()) if not graph[p].fixed_output}


def delta(
    new: Side,
    old: Side,
    where: Mapping[str, str],
    plan_args: dict,
    rev_label: str,
    assume: set[str] = frozenset(),
) -> dict:
    """The since report (pure over the two graphs and what is available: the tests give their own).

    ``assume``: derivations of the working tree's graph counted as changed whatever their drvPath
    (:func:`forced`, for a pin bump the stand-in cannot see)."""
    changed = (set(new.graph) - set(old.graph)) | set(assume)
    removed = set(old.graph) - set(new.graph)
    avail = {o: f"unchanged since {rev_label}" for d in old.graph.values() for o in d.outputs}
    for p in assume:
        for o in new.graph[p].outputs:
            avail.pop(o, None)
    avail.update({o: where[o] for p in changed for o in new.graph[p].outputs if o in where})
    plan = predict.compute(new.graph, new.roots.values(), avail, **plan_args)
    entries = {e["drv"]: e for e in plan.derivations}
    systems = sorted({d.system for d in (*new.graph.values(), *old.graph.values())})
    classes, platforms = _tally(CLASSES), _tally(systems)
    for label, paths, graph in (("changed", changed, new.graph), ("removed", removed - set(assume), old.graph)):
        for p in paths:
            c = predict.classify(graph[p])
            classes[c][label] += 1
            platforms[graph[p].system][label] += 1
    build, available = [], []
    for p in sorted(changed, key=lambda p: (CLASSES.index(entries[p]["class"]), new.graph[p].name, p)):
        e = entries[p]
        row = {"drv": p, "name": e["name"], "class": e["class"], "platform": new.graph[p].system}
        if e["status"] == "build":
            build.append({**row, "core_hours": e["core_hours"]})
            for t in (classes[e["class"]], platforms[row["platform"]]):
                t["to_build"] += 1
                t["core_hours"] += e["core_hours"]
        else:
            available.append({**row, "where": e.get("where", "")})
    for t in (*classes.values(), *platforms.values()):
        t["core_hours"] = round(t["core_hours"], 2)
    for c in CLASSES:
        classes[c] = {"label": predict.LABELS[c], **classes[c]}
    both = set(new.roots) & set(old.roots)
    gone = [{"drv": p, "name": old.graph[p].name, "class": predict.classify(old.graph[p]), "platform": old.graph[p].system}
            for p in sorted(removed - set(assume), key=lambda p: (old.graph[p].name, p))]  # fmt: skip
    return {
        "to_build": len(build),
        "changed": len(changed),
        "assumed_changed": len(set(assume) & set(old.graph)),
        "removed": len(removed - set(assume)),
        "core_hours": round(sum(b["core_hours"] for b in build), 2),
        "variants": {
            "changed": sorted(n for n in both if new.roots[n] != old.roots[n] or new.roots[n] in assume),
            "added": sorted(set(new.roots) - both),
            "removed": sorted(set(old.roots) - both),
            "to_build": sorted(n for n, p in new.roots.items() if p in entries and entries[p]["status"] == "build"),
            "unchanged": sum(1 for n in both if new.roots[n] == old.roots[n] and new.roots[n] not in assume),
        },
        "classes": classes,
        "platforms": platforms,
        "makespan": plan.schedules,
        "available_in": {k: v for k, v in sorted(plan.where.items()) if not k.startswith("unchanged since")},
        "derivations": {"build": build, "available": available, "removed": gone},
    }


def make_since_plan(
    root: Path,
    m: model.Matrix,
    rev: str,
    names: Sequence[str] | None,
    fleets: Sequence[tuple[int, int]],
    env: Mapping[str, str] | None = None,
    caches: Sequence[str] = (),
    strict: bool = True,
    option: str = "--since",
) -> dict:
    """``invoke plan --since REV [NAMES]`` as a dict (what ``--json`` prints); ``strict``: see :func:`cache.known`."""
    root = Path(root)
    env = os.environ if env is None else env
    commit = resolve(root, rev, option)
    new_vs = m.with_dependencies(names or None)
    if not new_vs:
        raise UsageError("the names select no variant")
    standin = nixrun.standin_dir(root)
    with tempfile.TemporaryDirectory(prefix="buildmatrix-since-") as tmpdir:
        tmp = Path(tmpdir)
        old_tree = extract(root, commit, tmp / "rev")
        try:
            old_m = model.load(old_tree / "variants.toml")
        except BuildMatrixError as exc:
            first = str(exc).strip().splitlines()[0][:300]
            raise UsageError(f"--since {rev}: its variants.toml does not load with this checkout ({first}); "
                             "give a later commit") from None  # fmt: skip
        old_vs, no_recipe = _rev_selection(old_m, names, {v.name for v in new_vs}, old_tree)
        new_tree = render_tree(m, root, [v.name for v in new_vs] if names else None, tmp / "work")
        pinned = all(path for path, _ in predict.pinned_trees([*new_vs, *old_vs]).values())
        new, source = _evaluate(m, root, new_vs, new_tree, standin, pinned)
        old, _ = _evaluate(old_m, root, old_vs, old_tree, standin, pinned)
    bumped = {} if pinned else pin_changes(new_vs, old_vs)
    assume = forced(new.graph, [new.roots[n] for names_ in bumped.values() for n in names_])
    changed = {p: new.graph[p] for p in (set(new.graph) - set(old.graph)) | assume}
    where, note = cache.known(changed, root, env, pinned, caches, strict)
    plan_args = {
        "table": load_costs(root / COSTS_FILE),
        "measured": measured_costs(ledger.read(root), m),
        "fleets": fleets,
        "variants": [v.name for v in new_vs],
        "evaluated_with": source,
    }
    report = delta(new, old, where, plan_args, commit[:12], assume)
    head = {
        "since": {"rev": rev, "commit": commit},
        "selection": list(names or []),
        "evaluated_with": source,
        "nixpkgs": "pinned" if pinned else "stand-in",
        "availability": note,
        "rev_variants_without_recipe": no_recipe,
        "pins": {
            "changed": {n: len(vs) for n, vs in sorted(bumped.items())},
            "assumed": bool(bumped),
            "note": ("the stand-in cannot see a pin bump: everything these variants build (fetches aside) is counted"
                     if bumped else ""),
        },
    }
    return {**head, **report}


def render(d: dict) -> str:
    """The since report as text: totals, by class, by platform, the variants, the makespan."""
    v = d["variants"]
    lines = [
        f"plan since {d['since']['rev']} ({d['since']['commit'][:12]}): the working tree's variants.toml "
        f"(as `invoke gen` writes the recipes) against that commit's recipes",
        f"evaluated with nix-instantiate against {d['evaluated_with']} (both sides)",
        f"already available: looked up in the {d['availability']}",
        "",
        f"to build: {d['to_build']} derivation(s), {d['core_hours']:.1f} core-hours "
        f"({d['changed']} with a new drvPath, {d['removed']} no longer needed)",
        "",
    ]
    for title, table, label in (("CLASS", d["classes"], True), ("PLATFORM", d["platforms"], False)):
        rows = [[t["label"] if label else k, str(t["changed"]), str(t["to_build"]), str(t["removed"]), f"{t['core_hours']:.1f}"]
                for k, t in table.items()]  # fmt: skip
        header = [title, "CHANGED", "TO BUILD", "REMOVED", "CORE-HOURS"]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, ["-" * w for w in widths], *rows]:
            lines.append("  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths))).rstrip())
        lines.append("")
    if d["available_in"]:
        lines.append("changed but available in: " + ", ".join(f"{k} {n}" for k, n in d["available_in"].items()))
    if d["pins"]["assumed"]:
        pins = ", ".join(f"{n} ({k} variant(s))" for n, k in d["pins"]["changed"].items())
        lines.append(f"pins changed: {pins}; {d['pins']['note']} ({d['assumed_changed']} derivation(s) assumed changed)")
    for key in ("changed", "added", "removed"):
        names = v[key]
        more = f" ... and {len(names) - SHOWN} more (--json lists all)" if len(names) > SHOWN else ""
        lines.append(f"variants {key} ({len(names)}): " + (", ".join(names[:SHOWN]) + more if names else "none"))
    lines.append(f"variants unchanged: {v['unchanged']}")
    if d["rev_variants_without_recipe"]:
        lines.append(f"(skipped {d['rev_variants_without_recipe']} variant(s) of {d['since']['rev']} without a committed recipe)")
    lines += ["", "predicted makespan of what is to build (a prediction: Nix schedules the real build)"]
    for s in d["makespan"]:
        lines.append(
            f"  {s['builders']:>3} builder(s) x {s['cores']} cores: {s['makespan_h']:8.2f} h"
            f"   (lower bound {s['lower_bound_h']:.2f} h; critical path {s['critical_path_h']:.2f} h)"
        )
    return "\n".join(lines)
