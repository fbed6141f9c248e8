"""invoke as the docs print it: positional words (buildmatrix.invokeargs), SIGPIPE, --json/--quiet, warnings once.

The command-line tests run the real `invoke` executable of this virtualenv in the repository
(read-only commands) or in a scratch copy (edits).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from buildmatrix import model, recipes, targets
from buildmatrix.cli import invokeargs
from conftest import ROOT

INVOKE = str(Path(sys.executable).parent / "invoke")
TASKS = ["gen", "list", "show", "add", "remove", "docs", "detect"]
REST = {"gen": "names", "remove": "names", "add": "alias"}
VALUED = {"gen": ["--gpu", "-g", "--cuda", "-c"], "add": ["--cuda", "-c", "--python", "-p", "--block", "-b"]}


@pytest.mark.parametrize(
    "argv, want",
    [
        (["gen", "sm120-avx", "cpu-avx2"], ["gen", "--names=sm120-avx,cpu-avx2"]),
        (["gen", "sm120-avx", "--check", "cpu-avx2"], ["gen", "--names=sm120-avx,cpu-avx2", "--check"]),
        (["gen", "--check"], ["gen", "--check"]),
        (["gen", "--gpu", "sm120", "--check"], ["gen", "--gpu", "sm120", "--check"]),  # a flag's value is not a name
        (["add", "sm70-avx2", "--cuda", "12.9"], ["add", "--alias=sm70-avx2", "--cuda", "12.9"]),
        (["add", "-c", "12.9", "sm70-avx2"], ["add", "--alias=sm70-avx2", "-c", "12.9"]),
        (["remove", "A", "B", "docs", "--check"], ["remove", "--names=A,B", "docs", "--check"]),  # next task starts at its name
        (["list", "--gpu", "sm120"], ["list", "--gpu", "sm120"]),  # tasks without an entry are left alone
        (["gen", "a", "--", "b"], ["gen", "--names=a", "--", "b"]),
    ],
)
def test_fold(argv, want):
    assert invokeargs.fold(argv, REST, VALUED, TASKS) == want


def test_install_outside_invoke_changes_nothing():
    assert invokeargs.install(REST, {}) is False


def run(*args: str, cwd: Path = ROOT, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([INVOKE, *args], cwd=cwd, capture_output=True, text=True, **kw)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """What the edit and gen tasks need: tasks.py, scripts/, variants.toml, patches/, the recipes."""
    for rel in ("tasks.py", "variants.toml"):
        shutil.copy(ROOT / rel, tmp_path / rel)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "patches", tmp_path / "patches")
    shutil.copytree(ROOT / ".flox" / "pkgs", tmp_path / ".flox" / "pkgs")
    shutil.copy(ROOT / recipes.LIB_FILE, tmp_path / recipes.LIB_FILE)  # every recipe imports it
    return tmp_path


def test_positional_words_through_the_real_invoke(repo):
    m = model.load(repo / "variants.toml")
    two = [v.short for v in m.variants if v.target == "cuda" and v.cuda.version == m.defaults.cuda and not v.suffix][:1]
    two += [v.short for v in m.variants if v.target == "cpu" and not v.suffix][:1]
    proc = run("gen", *two, "--check", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n = len({v.name for a in two for v in m.resolve(a)})
    assert f"gen --check: {n} recipe(s) match variants.toml" in proc.stdout
    import matrices

    alias, cuda = matrices.absent_gpu_addition(repo / "variants.toml")
    proc = run("add", alias, "--cuda", cuda, cwd=repo)
    assert proc.returncode == 0 and proc.stdout.count("added ") >= 1, proc.stdout + proc.stderr
    added = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("added ")]
    cpu = two[1]
    proc = run("remove", alias, cpu, cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    removed = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("removed ")}
    assert removed == set(added) | {v.name for v in m.resolve(cpu)}
    proc = run("gen", "--quiet", cwd=repo)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr
    assert not any((repo / ".flox" / "pkgs" / f"{n}.nix").exists() for n in removed)  # a full gen deletes them
    assert run("gen", "--check", "--quiet", cwd=repo).returncode == 0


def test_list_into_head_ends_quietly():
    proc = subprocess.run(f"'{INVOKE}' list | head -n 2", shell=True, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "args, key",
    [
        (["list", "--json"], None),
        (["show", "--json", "sm120-avx"], None),
        (["gen", "--check", "--json"], "clean"),
        (["docs", "--check", "--json"], "clean"),
        (["patch-magma", "--json"], "patches"),
        (["detect", "--json"], None),
    ],
)
def test_json_is_json_and_alone_on_stdout(args, key):
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert key is None or key in data
    assert "warning:" not in proc.stderr  # JSON modes are for scripts: no warnings either


def test_each_warning_once_per_command():
    proc = run("docs", "--check")
    lines = [x for x in proc.stderr.splitlines() if x.startswith("warning:")]
    assert len(lines) == len(set(lines)), proc.stderr


@pytest.mark.parametrize("task", ["gen", "list", "remove"])
def test_help_shows_every_option_help(task):
    """invokeargs reads each task's options; `invoke --help TASK` must still show their help text."""
    out = subprocess.run([INVOKE, "--help", task], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    options = [line for line in out.splitlines() if line.strip().startswith("-")]
    assert options, out
    bare = [line for line in options if len(line.strip().split("  ")) < 2]
    assert not bare, f"options without help text:\n{out}"


# Every filter option: a value the model lacks is bad input (2) naming the valid values, where the
# model keeps them, and the closest one; a value the model has but no variant matches is no error.
BAD_FILTERS = [
    ("--isa", "avx3", "CPU ISA", "avx2", lambda m: list(m.isas)),
    ("--cuda", "13", "CUDA version", "13.0", lambda m: list(m.cudas)),
    ("--target", "gpu", "target", "cpu", lambda m: sorted({v.target for v in m.variants}, key=targets.order)),
    ("--python", "3.10", "Python version", "3.11", lambda m: list(m.pythons)),
    ("--gpu", "sm999", "GPU architecture", None, lambda m: list(m.gpus)),
    ("--package", "torchvison", "package", "torchvision", lambda m: list(m.packages)),
    ("--torch", "2.7", "torch line", "2.8", lambda m: list(m.torch_lines)),
]


@pytest.mark.parametrize("task", ["list", "gen"])
@pytest.mark.parametrize("flag, value, what, closest, valid", BAD_FILTERS, ids=[f[0] for f in BAD_FILTERS])
def test_a_filter_value_the_model_lacks_is_bad_input_listing_the_valid_ones(shipped, task, flag, value, what, closest, valid):
    if task == "gen" and flag == "--torch":
        pytest.skip("gen has no --torch")
    proc = run(task, flag, value)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no variant matches" not in proc.stdout
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and error[0].startswith(f"error: {flag} {value}: no such {what}"), proc.stderr
    listed = error[0].split("; valid: ", 1)[1]
    assert [x.split(" (")[0] for x in listed.split(", ")] == valid(shipped)
    assert (f"(did you mean {closest}" in error[0]) == (closest is not None), error[0]


def test_a_known_value_no_variant_has_is_no_error(shipped):
    # both values are known; no variant has both (a CPU target has no CUDA)
    proc = run("list", "--target", "cpu", "--cuda", shipped.defaults.cuda)
    assert proc.returncode == 0 and "no variant matches" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "args", [["list"], ["show", "sm120-avx"], ["plan", "sm120-avx"], ["ci-plan"], ["detect", "--cpu", "zen4"]], ids=" ".join
)
def test_queries_say_nothing_about_unverified_fetches(args):
    proc = run(*args)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "unverified" not in proc.stderr and "warning:" not in proc.stderr, proc.stderr


def _one_unverified_line(proc) -> str:
    lines = [x for x in proc.stderr.splitlines() if "unverified" in x]
    assert len(lines) == 1 and lines[0].startswith("warning: "), proc.stdout + proc.stderr
    assert ("invoke observe" in lines[0] or "invoke pin --source" in lines[0]) and "docs/BUILD_MATRIX.md#unverified-fetches" in lines[0] and len(lines[0]) < 250
    assert "unverified" not in proc.stdout, proc.stdout
    return lines[0]


def test_gen_publish_and_push_say_one_line_about_unverified_fetches(repo, shipped):
    from buildmatrix.model import hashes

    affected = hashes.unverified(shipped)
    if not affected:
        pytest.skip("nothing fetches unverified")
    alias = next(a for a, vs in shipped.alias_groups.items() if all(v.name in affected for v in vs))
    line = _one_unverified_line(run("gen", alias, cwd=repo))
    assert line.startswith(f"warning: {len(shipped.alias_groups[alias])} variant(s)")
    _one_unverified_line(run("publish", alias, "--org", "test-org", "--check", cwd=repo))  # a usage error comes first
    _one_unverified_line(run("push", alias, "--dry-run", cwd=repo))
    proc = run("gen", alias, "--json", cwd=repo)  # --json keeps the full list, and no warning
    assert proc.returncode == 0 and "warning:" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["unverified"] == affected


def _task_names() -> list[str]:
    out = subprocess.run([INVOKE, "--list", "--list-format=json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [t["name"] for t in json.loads(out)["tasks"]]


def test_each_short_flag_has_one_meaning_across_every_task():
    """`invoke --help TASK` for every task: every option is spelled --long-name (no `--,`), and a short
    flag means the same option wherever it exists."""
    option = re.compile(r"^  (?:-([a-zA-Z])(?: STRING)?, )?--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?:=STRING)?(?:\s{2,}\S|$)")
    meaning: dict[str, set[str]] = {}
    names = _task_names()
    assert {"gen", "list", "add", "publish", "ci-plan", "detect", "pin", "push"} <= set(names)
    for task in names:
        out = subprocess.run([INVOKE, "--help", task], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        lines = [line for line in out.splitlines() if line.startswith("  -")]
        for line in lines:
            found = option.match(line)
            assert found, f"invoke --help {task}: unusable option line {line!r}"
            if found.group(1):
                meaning.setdefault(found.group(1), set()).add(found.group(2))
    assert meaning and all(len(longs) == 1 for longs in meaning.values()), meaning


def test_ci_plan_lists_the_smoke_jobs_it_counts():
    data = json.loads(run("ci-plan", "--json").stdout)
    proc = run("ci-plan")
    assert proc.returncode == 0, proc.stderr
    assert f"**{len(data['smoke'])} smoke job(s)**" in proc.stdout
    listed = re.findall(r"^- (\S+) \(build job (\S+); runs-on: (.+)\)$", proc.stdout, re.M)
    assert [(v, a, labels.split(", ")) for v, a, labels in listed] == [
        (s["variant"], s["alias"], s["runner"]) for s in data["smoke"]
    ]


def test_bench_help_names_the_sizes_bench_measures():
    from buildmatrix import bench

    out = run("--help", "bench").stdout
    sizes = [int(x.replace(",", "")) for x in re.findall(r"\b\d{1,3}(?:,\d{3})+\b", out)]
    assert sizes == list(bench.SIZES), out


def test_ledger_table_columns_line_up(tmp_path, capsys):
    from buildmatrix import ledger
    from buildmatrix.cli import ledger as ledgercli

    base = dict(start="2026-12-01T10:00:00Z", git_rev="0" * 40, host="h")
    for variant, action, status, detail in [
        ("pytorch-python313-cpu-avx2", "build", "ok", "flox exited 0"),
        ("torchvision-python313-cuda13_0-sm120-avx512bf16-torch2_9", "smoke", "interrupted", "SIGTERM"),
        ("x", "publish", "failed", ""),
    ]:
        ledger.append(tmp_path, ledger.Record(variant=variant, action=action, status=status, end="2026-12-01T10:05:00Z",
                                              detail=detail, **base))  # fmt: skip
    assert ledgercli.cmd_ledger(str(tmp_path), str(tmp_path / "variants.toml"), False) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("20", "END"))]
    assert len(lines) == 4
    for column in ("ACTION", "STATUS", "VARIANT", "DETAIL"):
        at = lines[0].index(column)
        assert all(line[at - 2 : at] == "  " and line[at] != " " for line in lines[1:] if len(line) > at), (column, lines)
