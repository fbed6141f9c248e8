"""``invoke plan``: what building a selection costs, before anything runs. A prediction only.

1. **Derivations.** The selected recipes (and the torch recipes their torchvisions import)
   are instantiated with ``nix-instantiate``: against the pinned nixpkgs when every pin they
   use is in the local store already (a pin with a recorded sha256 whose unpacked tree is
   present: nothing is downloaded), otherwise against the stand-in (scripts/buildmatrix/nixeval/standin,
   as buildmatrix.nixeval does); the report says which. ``nix show-derivation -r`` gives the
   whole derivation graph. Each derivation falls in one class (:func:`classify`): torch,
   torchvision/torchaudio, magma, nccl, cudnn/CUDA redistributables (fetch-only: NVIDIA's
   tarballs, unpacked and patched) and the rest (fixed-output fetches counted apart).
2. **Already there.** Outputs valid in the local store (``nix-store --check-validity``) or
   in a substituter of the builders file (``nix path-info --store URL --json``; asked only
   for pinned evaluations: stand-in derivations are in no cache) are not built, and neither
   is anything only they need.
3. **Core-hours** per class from the cost table ``build-costs.toml`` (public figures, each
   with its source), replaced by the ledger's measured build durations where real builds are
   recorded (:func:`measured_costs`).
4. **Makespan** on N builders of C cores: every builder runs one derivation at a time with
   all C cores (``max-jobs = 1``, ``cores = C``: the build sessions' rule), a derivation of
   H core-hours takes H/C hours, and nothing starts before its inputs are built (magma and
   NCCL before torch, torch before torchvision). The figure is a list schedule, longest
   remaining path first, next to the lower bound max(total/N, critical path). Nix schedules
   the real build; nothing here runs one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import ledger, model
from ..errors import UsageError
from ..nixeval import run as nixrun
from ..recipes import PKGS_DIR, file_name
from . import cache
from .cache import availability  # noqa: F401  (plan.availability: its callers predate plan.cache)
from .cost import CLASSES, COSTS_FILE, Cost, CostTable, load_costs, measured_costs
from .schedule import critical_path, makespan, topological

LABELS = {
    "torch": "torch",
    "torchvision": "torchvision/torchaudio",
    "magma": "magma",
    "nccl": "nccl",
    "cuda-redist": "cudnn/CUDA redistributables (fetch-only)",
    "rest": "the rest",
}
REDIST_PREFIXES = ("cuda_", "cudnn", "libcu", "libnv", "libnpp", "cutensor", "cusparselt", "cudatoolkit", "nvidia-")
NIX_COMMAND = ["--extra-experimental-features", "nix-command"]


# ------------------------------------------------------------------ the graph


@dataclass(frozen=True, kw_only=True)
class Drv:
    path: str
    name: str
    pname: str
    fixed_output: bool
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    system: str = ""


def _strip(path: str) -> str:
    """``/nix/store/<hash>-python3.13-torch-2.10.0.drv`` -> ``python3.13-torch-2.10.0``."""
    return Path(path).name.split("-", 1)[-1].removesuffix(".drv")


def graph_from_show_derivation(data: Mapping[str, dict]) -> dict[str, Drv]:
    out = {}
    for path, d in data.items():
        env = d.get("env", {})
        outs = d.get("outputs", {})
        out[path] = Drv(
            path=path,
            name=env.get("name") or _strip(path),
            pname=env.get("pname", ""),
            fixed_output=any("hash" in o for o in outs.values()),
            inputs=tuple(sorted(d.get("inputDrvs", {}))),
            outputs=tuple(sorted(o["path"] for o in outs.values() if o.get("path"))),
            system=str(d.get("system", "")),
        )
    return out


def classify(d: Drv) -> str:
    """The class of one derivation, by its pname (name when there is none)."""
    p = (d.pname or d.name).lower()
    if p == "torch" or p.startswith("pytorch"):
        return "torch"
    if p.startswith(("torchvision", "torchaudio")):
        return "torchvision"
    if p.startswith("magma"):
        return "magma"
    if p.startswith("nccl"):
        return "nccl"
    if p.startswith(REDIST_PREFIXES):
        return "cuda-redist"
    return "rest"


def kinds(graph: Mapping[str, Drv], classes: Mapping[str, str]) -> dict[str, str]:
    """``cuda`` for NCCL, the redistributables and whatever needs one of them (directly or below), else ``cpu``."""
    deps = {p: {i for i in d.inputs if i in graph} for p, d in graph.items()}
    cuda: dict[str, bool] = {}
    for p in topological(graph, deps):  # inputs first
        cuda[p] = classes.get(p) in ("nccl", "cuda-redist") or any(cuda[i] for i in deps[p])
    return {p: ("cuda" if cuda[p] else "cpu") for p in graph}


def to_build(graph: Mapping[str, Drv], roots: Iterable[str], available: set[str]) -> set[str]:
    """Derivations Nix would build for ``roots``: those with an output not available, reached only through such."""
    todo, seen, out = list(roots), set(), set()
    while todo:
        p = todo.pop()
        if p in seen or p not in graph:
            continue
        seen.add(p)
        d = graph[p]
        if d.outputs and all(o in available for o in d.outputs):
            continue
        out.add(p)
        todo.extend(d.inputs)
    return out


# ---------------------------------------------------------------- evaluation


def pin_store_path(pin) -> tuple[str | None, str]:
    """(the unpacked pin's store path when it is present, why not otherwise)."""
    if not pin.sha256:
        return None, f"no sha256 recorded for {pin.name}"
    exe = shutil.which("nix-store")
    if exe is None:
        return None, "nix-store not on PATH"
    sha = pin.sha256
    proc = subprocess.run([exe, "--print-fixed-path", "--recursive", "sha256", sha, "source"], capture_output=True, text=True)
    path = proc.stdout.strip()
    if proc.returncode or not path:
        return None, f"cannot compute the store path of {pin.name}: {proc.stderr.strip()[:200]}"
    return (path, "") if os.path.isdir(path) else (None, f"{pin.name} is not in the local store ({path})")


def _run(argv: list[str], what: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env=nixrun.nix_env())
    if proc.returncode:
        raise UsageError(f"{what} failed:\n{nixrun.error_text(proc.stderr)}")
    return proc.stdout


def pinned_trees(variants: Iterable[model.Variant]) -> dict[str, tuple[str | None, str]]:
    """Pin name -> (its unpacked tree in the local store, why not): the pins ``variants`` use."""
    pins = {v.pin.name: v.pin for v in variants}
    return {n: pin_store_path(p) for n, p in sorted(pins.items())}


def instantiate(
    m: model.Matrix,
    root: Path,
    variants: Sequence[model.Variant],
    *,
    recipes: Path | None = None,
    standin: Path | None = None,
    pinned: bool | None = None,
) -> tuple[dict[str, str], str]:
    """(variant name -> .drv path, what it was evaluated against).

    ``recipes``: the tree whose ``.flox/pkgs`` holds the recipes (default ``root``); ``standin``: the
    stand-in package set (default ``root``'s); ``pinned``: False forces the stand-in even where every pin
    is in the store (``plan --since`` evaluates both sides with one evaluator)."""
    if shutil.which("nix-instantiate") is None:
        raise UsageError("nix-instantiate is not on PATH: `invoke plan` needs Nix (apt-get install nix-bin)")
    pins = {v.pin.name for v in variants}
    found = pinned_trees(variants)
    pinned = all(path for path, _ in found.values()) if pinned is None else pinned
    with tempfile.TemporaryDirectory(prefix="buildmatrix-plan-") as tmpdir:
        tmp = Path(tmpdir)
        if pinned:
            args = {v.name: f"{{ buildmatrixNixpkgs = {nixrun.nix_path(Path(found[v.pin.name][0]))}; }}" for v in variants}
            source = "the pinned nixpkgs (" + ", ".join(sorted(pins)) + ", from the local store)"
        else:
            standin = standin or nixrun.standin_dir(root)
            dirs = nixrun.write_standins(variants, standin, tmp)
            args = {v.name: f"{{ buildmatrixNixpkgs = {nixrun.nix_path(dirs[(v.pin.rev, v.platform)])}; }}" for v in variants}
            why = "; ".join(reason for _, reason in found.values() if reason) or "not asked for"
            source = f"the stand-in nixpkgs ({nixrun.STANDIN}: the pinned nixpkgs is not available: {why})"
        items = "\n".join(f"  (import {nixrun.nix_path((recipes or root) / PKGS_DIR / file_name(v))} {args[v.name]})" for v in variants)
        (tmp / "plan.nix").write_text(f"[\n{items}\n]\n", encoding="utf-8")
        paths = _run(["nix-instantiate", str(tmp / "plan.nix")], "nix-instantiate").split()
    if len(paths) != len(variants):
        raise UsageError(f"nix-instantiate gave {len(paths)} derivations for {len(variants)} recipes")
    return dict(zip((v.name for v in variants), paths)), source


def load_graph(drvs: Iterable[str]) -> dict[str, Drv]:
    out = _run(["nix", *NIX_COMMAND, "show-derivation", "-r", *sorted(set(drvs))], "nix show-derivation")
    return graph_from_show_derivation(json.loads(out))


# ---------------------------------------------------------------------- plan


@dataclass
class Plan:
    variants: list[str]
    evaluated_with: str
    classes: dict[str, dict] = field(default_factory=dict)
    schedules: list[dict] = field(default_factory=list)
    availability_note: str = ""
    fetches: int = 0
    derivations: list[dict] = field(default_factory=list)
    where: dict[str, int] = field(default_factory=dict)  # location -> derivations available there

    def as_dict(self) -> dict:
        return {
            "variants": self.variants,
            "evaluated_with": self.evaluated_with,
            "nixpkgs": "pinned" if self.evaluated_with.startswith("the pinned") else "stand-in",
            "availability": self.availability_note,
            "classes": self.classes,
            "fixed_output_fetches_in_rest": self.fetches,
            "total": {
                "derivations": sum(c["derivations"] for c in self.classes.values()),
                "to_build": sum(c["to_build"] for c in self.classes.values()),
                "available": sum(c["available"] for c in self.classes.values()),
                "core_hours": round(sum(c["core_hours"] for c in self.classes.values()), 2),
            },
            "makespan": self.schedules,
            "available_in": self.where,
            "derivations": self.derivations,
        }


def compute(
    graph: Mapping[str, Drv],
    roots: Iterable[str],
    available: Mapping[str, str] | set[str],
    table: CostTable,
    measured: Mapping[tuple[str, str], Cost],
    fleets: Sequence[tuple[int, int]],
    *,
    variants: Sequence[str] = (),
    evaluated_with: str = "",
    availability_note: str = "",
) -> Plan:
    """The plan from a derivation graph (pure: the tests give it graphs and availability of their own)."""
    roots = list(roots)
    where = dict(available) if isinstance(available, Mapping) else {o: "given" for o in available}
    reach = to_build(graph, roots, set())
    build = to_build(graph, roots, set(where))
    present = {p for p in reach if graph[p].outputs and all(o in where for o in graph[p].outputs)}
    cls = {p: classify(graph[p]) for p in reach}
    kind = kinds({p: graph[p] for p in reach}, cls)
    plan = Plan(variants=list(variants), evaluated_with=evaluated_with, availability_note=availability_note)
    hours: dict[str, float] = {}
    for c in CLASSES:
        members = [p for p in reach if cls[p] == c]
        todo = [p for p in members if p in build]
        sources = set()
        for p in todo:
            cost = measured.get((c, kind[p])) or table.of(c, kind[p])
            cost = Cost(
                core_hours=cost.core_hours,
                source=cost.source if cost.source.startswith("ledger") else f"{table.file.name} [{c}]: {cost.source}",
            )
            hours[p] = cost.core_hours
            sources.add(cost.source)
        plan.classes[c] = {
            "label": LABELS[c],
            "derivations": len(members),
            "to_build": len(todo),
            "available": sum(1 for p in members if p in present),
            "not_needed": sum(1 for p in members if p not in build and p not in present),
            "cuda": sum(1 for p in todo if kind[p] == "cuda"),
            "core_hours": round(sum(hours[p] for p in todo), 2),
            "sources": sorted(sources),
        }
    plan.fetches = sum(1 for p in build if cls[p] == "rest" and graph[p].fixed_output)
    for p in sorted(reach, key=lambda p: (CLASSES.index(cls[p]), graph[p].name, p)):
        status = "build" if p in build else ("available" if p in present else "not needed")
        entry = {"drv": p, "name": graph[p].name, "class": cls[p], "kind": kind[p], "status": status}
        if status == "build":
            entry["core_hours"] = hours[p]
        if status == "available":
            entry["where"] = where[graph[p].outputs[0]]
            plan.where[entry["where"]] = plan.where.get(entry["where"], 0) + 1
        plan.derivations.append(entry)
    deps = {p: [i for i in graph[p].inputs if i in build] for p in build}
    total = sum(hours.values())
    for n, cores in fleets:
        wall = {p: h / cores for p, h in hours.items()}
        plan.schedules.append(
            {
                "builders": n,
                "cores": cores,
                "makespan_h": round(makespan(wall, deps, n), 2),
                "lower_bound_h": round(max(total / cores / n, critical_path(wall, deps)), 2),
                "critical_path_h": round(critical_path(wall, deps), 2),
            }
        )
    return plan


def make_plan(
    root: Path,
    m: model.Matrix,
    names: Sequence[str] | None,
    fleets: Sequence[tuple[int, int]],
    env=None,
    caches: Sequence[str] = (),
) -> Plan:
    """The plan of ``names`` (all when empty); ``caches``: binary cache URLs asked besides the builders file's."""
    env = os.environ if env is None else env
    variants = m.with_dependencies(names or None)
    if not variants:
        raise UsageError("the names select no variant")
    drvs, source = instantiate(m, root, variants)
    graph = load_graph(drvs.values())
    where, note = cache.known(graph, root, env, source.startswith("the pinned"), caches)
    table = load_costs(Path(root) / COSTS_FILE)
    measured = measured_costs(ledger.read(Path(root)), m)
    return compute(
        graph,
        drvs.values(),
        where,
        table,
        measured,
        fleets,
        variants=[v.name for v in variants],
        evaluated_with=source,
        availability_note=note,
    )


def render(plan: Plan) -> str:
    d = plan.as_dict()
    lines = [
        f"plan for {len(plan.variants)} variant(s) (with the torch recipes they import)",
        f"evaluated with nix-instantiate against {plan.evaluated_with}",
        f"already available: looked up in the {plan.availability_note}",
        "",
    ]
    notes: list[str] = []

    def ref(sources: list[str]) -> str:
        for src in sources:
            if src not in notes:
                notes.append(src)
        return ", ".join(f"[{notes.index(src) + 1}]" for src in sources)

    rows = [
        [c["label"], str(c["derivations"]), str(c["to_build"]), str(c["available"]), f"{c['core_hours']:.1f}", ref(c["sources"])]
        for c in plan.classes.values()
    ]
    t = d["total"]
    rows.append(["total", str(t["derivations"]), str(t["to_build"]), str(t["available"]), f"{t['core_hours']:.1f}", ""])
    header = ["CLASS", "DERIVATIONS", "TO BUILD", "AVAILABLE", "CORE-HOURS", "COST"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        lines.append("  ".join(x.ljust(w) if i in (0, 5) else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths))).rstrip())
    lines.append(f"(the rest includes {plan.fetches} fixed-output fetch(es): sources, no compilation)")
    if plan.where:
        lines.append("available in: " + ", ".join(f"{loc} {n}" for loc, n in sorted(plan.where.items())))
    skipped = sum(c["not_needed"] for c in plan.classes.values())
    if skipped:
        lines.append(f"not needed: {skipped} derivation(s) only available ones depend on")
    lines += [f"[{i}] {src}" for i, src in enumerate(notes, 1)]
    lines += ["", "predicted makespan (a prediction: Nix schedules the real build)"]
    for s in plan.schedules:
        lines.append(
            f"  {s['builders']:>3} builder(s) x {s['cores']} cores: {s['makespan_h']:8.2f} h"
            f"   (lower bound {s['lower_bound_h']:.2f} h; critical path {s['critical_path_h']:.2f} h)"
        )
    return "\n".join(lines)
