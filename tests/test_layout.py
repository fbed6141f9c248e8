"""The package stays a house a newcomer reads in minutes: limits that fail when a room outgrows them.

Limits (issue "One redesign step for the package layout"): no module over 600 lines, no class
over 200, ``tasks.py`` / ``noxfile.py`` thin, ``scripts/smoke_check.py`` one stdlib-only file,
no import cycle between the package's modules, exit statuses defined once, target decisions
read from the one registry in ``targets.py``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scripts" / "buildmatrix"
MODULE_LIMIT = 600
CLASS_LIMIT = 200
THIN_LIMIT = 300  # tasks.py and noxfile.py: one line per task/session into the package


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_package_has_modules():
    assert len(_modules()) > 10, "the walk found the package"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_size(path: Path):
    n = _lines(path)
    assert n <= MODULE_LIMIT, f"{path.relative_to(ROOT)} has {n} lines (limit {MODULE_LIMIT}): split it by concern"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_class_size(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    big = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > CLASS_LIMIT
    ]
    assert not big, f"{path.relative_to(ROOT)}: classes over {CLASS_LIMIT} lines: {', '.join(big)}"


@pytest.mark.parametrize("name", ["tasks.py", "noxfile.py"])
def test_entry_points_stay_thin(name: str):
    n = _lines(ROOT / name)
    assert n <= THIN_LIMIT, f"{name} has {n} lines (limit {THIN_LIMIT}): move logic into scripts/buildmatrix"


def test_smoke_check_is_one_stdlib_only_file():
    path = ROOT / "scripts" / "smoke_check.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed = set(sys.stdlib_module_names) | {"__future__", "torch", "torchvision", "torchaudio"}
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            pytest.fail(f"smoke_check.py line {node.lineno}: relative import; it runs as one file")
    assert not imported - allowed, f"smoke_check.py imports non-stdlib modules: {sorted(imported - allowed)}"


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (annotations only: never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    """Package modules ``path`` imports when it runs, wherever the import statement stands.

    ``from . import x`` is an edge to module ``x`` (not to the package), ``from .x import y`` to
    ``x`` (or to ``x.y`` where that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    here = _name(path).split(".")
    pkg = here if path.name == "__init__.py" else here[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("buildmatrix"):
                continue
            subs = {f"{mod}.{a.name}" for a in node.names} & known
            out |= subs if subs and len(subs) == len(node.names) else subs | {mod}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("buildmatrix")}
    return out


def _graph() -> dict[str, set[str]]:
    known = {_name(p): p for p in _modules()}
    return {name: {m for m in _imports(path, set(known)) if m in known and m != name} for name, path in known.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycles():
    """Counting imports inside functions too: a lazy import that hides a cycle is still a cycle.
    (Imports under ``if TYPE_CHECKING:`` never run and are left out.)"""
    found = _cycle(_graph())
    assert found is None, "import cycle: " + " -> ".join(found)


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


EXIT_DECL = re.compile(r"^\s*EXIT_[A-Z_]+\s*(?:,\s*EXIT_[A-Z_]+\s*)*=", re.M)


def test_exit_statuses_are_defined_once():
    where = [str(p.relative_to(ROOT)) for p in _modules() if EXIT_DECL.search(p.read_text(encoding="utf-8"))]
    assert where == ["scripts/buildmatrix/errors.py"], f"EXIT_* declared in {where}; declare them in errors.py only"
    code = [line.split("#")[0] for line in (ROOT / "noxfile.py").read_text(encoding="utf-8").splitlines()]
    bare = [n for n, line in enumerate(code, 1) if re.search(r"(==|!=|return|exit\()\s*77\b", line)]
    assert not bare, f"noxfile.py lines {bare}: compare with errors.EXIT_SKIPPED, not a bare 77"


TARGET_TEST = re.compile(
    r"""\btarget\s*(?:==|!=|in)\s*[(\[{]?\s*["'](?:cuda|cpu|mps)["']|["'](?:cuda|cpu|mps)["']\s*(?:==|!=)\s*[\w.]*target\b"""
)


def test_target_decisions_go_through_the_registry():
    """``v.target == "cuda"`` outside targets.py spreads knowledge a fourth target would have to find."""
    hits = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in _modules()
        if p.name != "targets.py"
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if TARGET_TEST.search(line)
    ]
    assert not hits, "compare targets through buildmatrix.targets: " + ", ".join(hits)


def test_import_graph_sees_package_and_lazy_edges():
    """The graph the cycle test walks has the edges it should: a package face to its modules,
    a module to a sibling through ``from . import x``, and imports inside functions."""
    graph = _graph()
    assert "buildmatrix.model.load" in graph["buildmatrix.model"]
    assert "buildmatrix.pinfacts" in graph["buildmatrix.model.tables"]
    lazy = [
        (name, node.module)
        for name, path in ((_name(p), p) for p in _modules())
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(fn, ast.FunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.ImportFrom) and node.level
    ]
    assert lazy, "the package has imports inside functions (cli's commands): the walk must see them"
    name, _ = lazy[0]
    assert graph[name], f"{name}: its function-level imports are edges"
