"""The package stays a house a newcomer reads in minutes: limits that fail when a room outgrows them.

Limits: no module over 600 lines, no class over 200, at most 12 modules at the package root (the
rest live in one subpackage per concern), ``tasks.py`` / ``noxfile.py`` thin,
``scripts/smoke_check.py`` one stdlib-only file, no import cycle between the package's modules
(imports under ``if TYPE_CHECKING:`` count too), nothing in the package imports the command layer
``buildmatrix.cli``, runtime code names no path under ``tests/``, exit statuses defined once (and never returned bare),
target decisions read from the one registry in ``targets.py``, no line of a generated Nix file
(recipes, jobset, the recipes' helper file) over 100 columns.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
from buildmatrix import recipes
from buildmatrix.recipes import jobset

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scripts" / "buildmatrix"
MODULE_LIMIT = 600
ROOT_MODULE_LIMIT = 12  # modules directly in scripts/buildmatrix/ (besides __init__.py)
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


def test_the_package_root_stays_small():
    """A concern gets a subpackage; the root keeps the few modules every concern shares."""
    root = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(root) <= ROOT_MODULE_LIMIT, (
        f"scripts/buildmatrix/ has {len(root)} modules (limit {ROOT_MODULE_LIMIT}): {', '.join(root)}; "
        "move a module into the subpackage of its concern"
    )


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (annotations only: never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _imports(path: Path, known: set[str], runtime_only: bool = False) -> set[str]:
    """Package modules ``path`` imports when it runs, wherever the import statement stands.

    ``from . import x`` is an edge to module ``x`` (not to the package), ``from .x import y`` to
    ``x`` (or to ``x.y`` where that is a module). Imports under ``if TYPE_CHECKING:`` are edges
    too unless ``runtime_only``: a circle of annotations is still a circle a reader walks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree) if runtime_only else set()
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
    """Counting imports inside functions and under ``if TYPE_CHECKING:`` too: a lazy import or an
    annotation-only import that hides a cycle is still a cycle."""
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
    assert "buildmatrix.model.hashes" in graph["buildmatrix.model.tables"]
    typed = [p for p in _modules() if _type_checking_only(ast.parse(p.read_text(encoding="utf-8")))]
    assert typed, "the package has imports under TYPE_CHECKING: the walk must see them"
    name = _name(typed[0])
    known = {_name(p) for p in _modules()}
    assert _imports(typed[0], known) - _imports(typed[0], known, runtime_only=True), f"{name}: its TYPE_CHECKING imports are edges"
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


def _code_strings(tree: ast.AST) -> list[ast.Constant]:
    """String constants that are code, not docstrings."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


TESTS_PATH = re.compile(r"(?:^|[\s'\"(=])tests/")


def test_runtime_code_reads_nothing_under_tests():
    """Data the commands use (the stand-in nixpkgs, the anchor's names) lives in the package; tests/ is the tests'."""
    hits = [
        f"{p.relative_to(ROOT)}:{n.lineno}: {n.value[:60]!r}"
        for p in _modules()
        for n in _code_strings(ast.parse(p.read_text(encoding="utf-8")))
        if n.value == "tests" or TESTS_PATH.search(n.value)
    ]
    assert not hits, "runtime code names a path under tests/: " + "; ".join(hits)


def test_the_tests_path_finder_finds_one():
    tree = ast.parse('"""docstring tests/x"""\nA = Path("tests") / "data"\nB = "see tests/data/x.toml"\n')
    found = [n.value for n in _code_strings(tree) if n.value == "tests" or TESTS_PATH.search(n.value)]
    assert sorted(found) == ["see tests/data/x.toml", "tests"]


def test_nothing_in_the_package_imports_the_command_layer():
    """``buildmatrix.cli`` sits on top: tasks.py, noxfile.py and the tests call it; no module below does.
    A package's ``__main__`` may call its command line (``python -m buildmatrix.detect|smoke|nixeval|ci|docs``)."""
    graph = {n: d for n, d in _graph().items() if n.split(".")[-1] != "__main__"}
    up = sorted(f"{name} -> {m}" for name, deps in graph.items()
                if not (name == "buildmatrix.cli" or name.startswith("buildmatrix.cli."))
                for m in deps if m == "buildmatrix.cli" or m.startswith("buildmatrix.cli."))  # fmt: skip
    assert not up, "imports of the command layer from below it: " + ", ".join(up)


BARE_RETURN = re.compile(r"\breturn\s+\d")


def _bare_returns(text: str) -> list[int]:
    """Lines of ``text`` that return a bare number."""
    return [n for n, line in enumerate(text.splitlines(), 1) if BARE_RETURN.search(line.split("#")[0])]


def test_no_bare_exit_statuses():
    """A command returns ``errors.EXIT_*`` (or raises an error that carries one), never ``return 1``."""
    bare = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _modules()
        for n in _bare_returns(p.read_text(encoding="utf-8"))
    ]
    assert not bare, "bare status codes (use errors.EXIT_* or raise FailedError/UsageError/SkippedError): " + ", ".join(bare)


def test_the_bare_return_finder_finds_one():
    text = "def cmd_x():\n    if a:\n        return 2\n    return EXIT_OK if ok else EXIT_FAILED\n\n\ndef cmd_y():\n    return 0 if ok else 1\n"
    assert _bare_returns(text) == [3, 8]


# ------------------------------------------------------------ generated Nix: a nixpkgs reviewer's width

NIX_WIDTH = 100


def _generated_nix_files() -> list[Path]:
    files = sorted((ROOT / recipes.PKGS_DIR).glob("*.nix")) + [ROOT / jobset.JOBS_FILE, ROOT / recipes.LIB_FILE]
    return [p for p in files if recipes.is_generated(p)]


def long_lines(path: Path) -> list[str]:
    """``file:line (N columns)`` for each line of ``path`` wider than NIX_WIDTH."""
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    text = path.read_text(encoding="utf-8")
    return [f"{rel}:{i} ({len(ln)} columns)" for i, ln in enumerate(text.split("\n"), 1) if len(ln) > NIX_WIDTH]


def test_the_width_checker_names_file_and_line(tmp_path):
    f = tmp_path / "x.nix"
    f.write_text("{\n  a = " + '"' + "x" * 100 + '"' + ";\n}\n", encoding="utf-8")
    assert long_lines(f) == [f"{f}:2 (109 columns)"]


def test_no_generated_nix_line_passes_100_columns():
    files = _generated_nix_files()
    assert ROOT / jobset.JOBS_FILE in files and ROOT / recipes.LIB_FILE in files
    bad = [x for p in files for x in long_lines(p)]
    assert not bad, f"{len(bad)} line(s) over {NIX_WIDTH} columns (recipes/layout.py decides breaks):\n" + "\n".join(bad[:20])
