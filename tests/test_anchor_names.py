"""The anchor's recipe names per branch (scripts/buildmatrix/model/anchor-names/) agree with the facts recorded for them.

These tests check the DATA only: the names files read with ``git ls-tree`` from
barstoolbluz/build-pytorch and barstoolbluz/build-torchvision, against branches.toml (the facts
sheet's values per branch). They never read the shipped variants.toml, which is expected to change;
the test that maps every anchor name to a variant here builds on these files (issue 15).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
NAMES = DATA.parent.parent / "scripts" / "buildmatrix" / "model" / "anchor-names"
BRANCHES = NAMES / "branches.toml"

ISAS = ("avx", "avx2", "avx512", "avx512bf16", "avx512vnni", "armv8_2", "armv9")
PACKAGES = ("pytorch", "torchvision", "torchaudio")
NAME = re.compile(
    rf"^(?P<pkg>{'|'.join(PACKAGES)})-(?P<py>python3\d\d)-"
    r"(?:cuda(?P<cmaj>\d+)_(?P<cmin>\d+)-sm(?P<sm>\d+)-(?P<gisa>[a-z0-9_]+)"
    r"|cpu-(?P<cisa>[a-z0-9_]+)"
    r"|(?P<darwin>darwin-mps))$"
)
HEADER = re.compile(r"^# (repo|branch|head): (\S+)")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


def _branches() -> list[dict]:
    return tomllib.loads(BRANCHES.read_text(encoding="utf-8"))["branch"]


def _read(repo: str, branch: str) -> tuple[dict[str, str], list[str]]:
    """(header fields, names) of one names file."""
    header: dict[str, str] = {}
    names: list[str] = []
    for line in (NAMES / repo / f"{branch}.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            m = HEADER.match(line)
            if m:
                header[m[1]] = m[2].removeprefix("barstoolbluz/")
        elif line.strip():
            names.append(line)
    return header, names


BRANCH_IDS = [f"{b['repo']}/{b['branch']}" for b in _branches()]


@pytest.fixture(params=_branches(), ids=BRANCH_IDS)
def branch(request) -> dict:
    return request.param


def test_every_names_file_has_its_facts_and_back():
    files = {f"{p.parent.name}/{p.stem}" for p in NAMES.glob("*/*.txt")}
    listed = set(BRANCH_IDS)
    assert len(listed) == len(BRANCH_IDS), f"{BRANCHES}: a repo/branch is listed twice"
    assert files == listed, (
        f"names files without a [[branch]] in {BRANCHES}: {sorted(files - listed)}; "
        f"[[branch]] entries without a names file: {sorted(listed - files)}"
    )


def test_facts_are_well_formed(branch):
    where = f"{BRANCHES} [[branch]] {branch['repo']}/{branch['branch']}"
    assert HEX40.match(branch["head"]), f"{where}: head must be the full 40-hex commit"
    assert all(HEX40.match(p) for p in branch["pins"]), f"{where}: pins must be full 40-hex revisions"
    assert branch["torch_source"] in ("pin", "override", "flox-catalog"), where
    assert set(branch["packages"]) <= set(PACKAGES), where
    assert sum(branch["packages"].values()) == branch["count"], f"{where}: packages do not add up to count"
    assert branch["python_token"] == "python" + branch["python"].replace(".", ""), where
    assert branch["python_attr"] in ("python3Packages", f"{branch['python_token']}Packages"), where
    assert branch["superseded"] == bool(branch["superseded_reason"]), (
        f"{where}: a superseded branch needs superseded_reason, and only a superseded one has it"
    )
    assert branch["facts"] and all("docs/pins.md#" in f for f in branch["facts"]), (
        f"{where}: every entry needs the facts-sheet line(s) it comes from"
    )


def test_header_names_the_branch_head(branch):
    header, _ = _read(branch["repo"], branch["branch"])
    assert header == {"repo": branch["repo"], "branch": branch["branch"], "head": branch["head"]}, (
        f"{NAMES / branch['repo'] / (branch['branch'] + '.txt')}: header {header} disagrees with {BRANCHES}"
    )


def test_names_are_sorted_unique_and_counted(branch):
    _, names = _read(branch["repo"], branch["branch"])
    assert names == sorted(set(names)), f"{branch['repo']}/{branch['branch']}: names must be sorted and unique"
    assert len(names) == branch["count"]
    per_pkg = Counter(n.split("-", 1)[0] for n in names)
    assert dict(per_pkg) == branch["packages"]


def test_every_name_follows_the_anchor_pattern(branch):
    _, names = _read(branch["repo"], branch["branch"])
    bad = [n for n in names if not NAME.match(n)]
    assert not bad, f"{branch['repo']}/{branch['branch']}: names outside the anchor pattern: {bad[:5]}"
    isas = {m["gisa"] or m["cisa"] for m in map(NAME.match, names) if not m["darwin"]}
    assert isas <= set(ISAS), f"unknown ISA token(s) {sorted(isas - set(ISAS))}"


def test_python_cuda_cpu_and_darwin_tokens_match_the_facts(branch):
    _, names = _read(branch["repo"], branch["branch"])
    ms = [NAME.match(n) for n in names]
    assert {m["py"] for m in ms} == {branch["python_token"]}
    cuda = {f"{m['cmaj']}.{m['cmin']}" for m in ms if m["cmaj"]}
    assert cuda == set(branch["cuda"]), f"{branch['repo']}/{branch['branch']}: CUDA in names {sorted(cuda)}"
    assert any(m["cisa"] for m in ms) == branch["cpu"]
    assert any(m["darwin"] for m in ms) == branch["darwin"]


def test_no_anchor_name_pairs_cuda13_with_an_sm_below_75():
    """CUDA 13 dropped SM < 7.5: sm61/sm70 appear only with CUDA 12.x on every branch."""
    bad = []
    for b in _branches():
        for n in _read(b["repo"], b["branch"])[1]:
            m = NAME.match(n)
            if m and m["cmaj"] and int(m["cmaj"]) >= 13 and int(m["sm"]) < 75:
                bad.append(f"{b['repo']}/{b['branch']}: {n}")
    assert not bad, bad


def _py_neutral(names: list[str]) -> set[str]:
    return {re.sub(r"-python3\d\d-", "-python3XY-", n, count=1) for n in names}


@pytest.mark.parametrize(
    ("repo", "part", "whole", "equal"),
    [
        # docs/pins.md#anchor-branches: the 2.8 branches are python copies of main
        ("build-pytorch", "pytorch-2.8-python311", "main", True),
        ("build-pytorch", "pytorch-2.8-python312", "main", True),
        # docs/pins.md#anchor-branches: vllm-0.14.0 = 2.9-python311 with Python 3.12
        ("build-pytorch", "pytorch-2.9-vllm-0.14.0", "pytorch-2.9-python311", True),
        # docs/pins.md#anchor-branches: vllm-0.15.1 is 2.9-python313 minus cuda13_0
        ("build-pytorch", "pytorch-2.9-vllm-0.15.1", "pytorch-2.9-python313", False),
        # docs/pins.md#anchor-branches: main-staging adds no name that main lacks
        ("build-pytorch", "main-staging", "main", False),
        ("build-torchvision", "main-staging", "main", False),
    ],
)
def test_branch_relations_the_facts_sheet_records(repo, part, whole, equal):
    a = _py_neutral(_read(repo, part)[1])
    b = _py_neutral(_read(repo, whole)[1])
    assert (a == b) if equal else (a < b), f"{repo}: {part} vs {whole}: {sorted(a ^ b)[:6]}"


def test_the_2_10_lists_equal_the_shipped_facts_list():
    """tests/data/anchor-2.10-names.txt (used by test_shipped_facts.py) and the 2.10 files here agree."""
    legacy = [
        line
        for line in (DATA / "anchor-2.10-names.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    here = _read("build-pytorch", "pytorch-2.10-python313")[1] + _read("build-torchvision", "pytorch-2.10")[1]
    assert sorted(legacy) == sorted(here)
