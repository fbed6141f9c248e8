"""Every anchor recipe name maps, by the documented scheme, to a variant here with the same facts.

The names are scripts/buildmatrix/model/anchor-names/<repo>/<branch>.txt, each branch's torch version is its
entry in branches.toml; the scheme is buildmatrix.anchormap.variant_name (docs/variants.md,
"Names": the branch's torch line token is appended unless it is the default line). A mapped
variant must have the name's package, Python, CUDA, GPU and ISA (read from the anchor name itself)
and the branch's torch version. Listed exceptions (scripts/buildmatrix/model/anchor-exceptions.toml) carry
their reason; a "missing" one that maps after all is stale and fails.
"""

from __future__ import annotations

import re

import pytest
from buildmatrix.model import anchormap
from conftest import ROOT

NAME = re.compile(
    r"^(?P<pkg>[a-z]+)-python(?P<py>3)(?P<pymin>\d+)-"
    r"(?:cuda(?P<cmaj>\d+)_(?P<cmin>\d+)-(?P<sm>sm\d+)-(?P<gisa>[a-z0-9_]+)|cpu-(?P<cisa>[a-z0-9_]+)|(?P<darwin>darwin-mps))$"
)
BRANCHES = anchormap.branches(ROOT)
EXCEPTIONS = anchormap.exceptions(ROOT)


def _facts_of(anchor_name: str) -> dict:
    """package, python, cuda, gpu, isa as the anchor's name spells them."""
    m = NAME.match(anchor_name)
    assert m, f"anchor name {anchor_name!r} does not follow the anchor's naming"
    return {
        "package": m["pkg"],
        "python": f"{m['py']}.{m['pymin']}",
        "cuda": f"{m['cmaj']}.{m['cmin']}" if m["cmaj"] else None,
        "gpu": m["sm"],
        "isa": m["gisa"] or m["cisa"],
    }


@pytest.fixture(scope="module")
def mapping(request):
    from buildmatrix import model

    m = model.load(ROOT / "variants.toml")
    return m, {bm.key: bm for bm in anchormap.map_all(m, ROOT)}


@pytest.mark.parametrize("facts", BRANCHES, ids=[f"{b['repo']}/{b['branch']}" for b in BRANCHES])
def test_every_name_maps_to_a_variant_with_the_same_facts(facts, mapping):
    m, maps = mapping
    bm = maps[f"{facts['repo']}/{facts['branch']}"]
    assert not bm.unmapped, (
        f"{len(bm.unmapped)} anchor name(s) of {bm.key} map to no variant (first: {bm.unmapped[:3]}); "
        "add the variants to variants.toml, or list the names with their reason in scripts/buildmatrix/model/anchor-exceptions.toml"
    )
    for anchor_name, v in bm.mapped.items():
        assert v.name == anchormap.variant_name(m, anchor_name, facts["torch"])
        want = _facts_of(anchor_name)
        got = {
            "package": v.package.name,
            "python": v.python.version,
            "cuda": v.cuda.version if v.cuda else None,
            "gpu": v.gpu.name if v.gpu else None,
            "isa": v.isa.name if v.isa else None,
        }
        assert got == want, (bm.key, anchor_name, v.name)
        assert v.torch_version == facts["torch"], (bm.key, anchor_name, v.name, v.torch_version)


def test_every_exception_has_a_reason_and_names_a_branch():
    keys = {(b["repo"], b["branch"]) for b in BRANCHES}
    for e in EXCEPTIONS:
        assert (e.repo, e.branch) in keys, e
        assert e.kind in ("superseded", "missing") and e.reason.strip(), e
        if e.kind == "superseded":
            assert next(b for b in BRANCHES if (b["repo"], b["branch"]) == (e.repo, e.branch))["superseded"], e
        else:
            branch_names = set(anchormap.names(ROOT, e.repo, e.branch))
            assert set(e.names) <= branch_names, sorted(set(e.names) - branch_names)


def test_missing_exceptions_are_still_needed(mapping):
    """A listed "missing" name that maps now is a stale exception: remove it."""
    m, maps = mapping
    for e in EXCEPTIONS:
        if e.kind != "missing":
            continue
        torch = next(b for b in BRANCHES if (b["repo"], b["branch"]) == (e.repo, e.branch))["torch"]
        mapped = [n for n in e.names if anchormap.variant_name(m, n, torch) in m.by_name]
        assert not mapped, f"{e.repo}/{e.branch}: {mapped[:3]} map to variants now; drop them from the exception"


def test_scheme_keeps_default_line_names_and_tokens_the_rest(mapping):
    m, _ = mapping
    for b in BRANCHES:
        if not b["torch"]:
            continue
        n = anchormap.variant_name(m, "pytorch-python313-cpu-avx2", b["torch"])
        line = ".".join(b["torch"].split(".")[:2])
        assert (n == "pytorch-python313-cpu-avx2") == (line == m.defaults.torch)
        assert n.startswith("pytorch-python313-cpu-avx2")


def test_no_two_anchor_configurations_share_a_name_here(mapping):
    """Names repeat across the anchor's branches (one line per branch); here each line's are distinct."""
    m, maps = mapping
    seen: dict[str, tuple] = {}
    for bm in maps.values():
        for anchor_name, v in bm.mapped.items():
            key = (anchor_name, bm.facts["torch"])
            assert seen.setdefault(v.name, key) == key, (v.name, seen[v.name], key)


def test_the_anchor_pages_name_every_anchor_name_once_with_its_variant_or_reason(shipped):
    """docs/anchor/<repo>.md (generated): one row per anchor name of each branch, giving the variant the
    scheme maps it to, or the listed exception's reason; the page set is one page per repository."""
    from buildmatrix.docs import Context
    from buildmatrix.docs.anchor import ANCHOR_PAGES, render_anchor_page

    pages = ANCHOR_PAGES.pages(shipped)
    assert set(pages.values()) == {b["repo"] for b in BRANCHES}
    row = re.compile(r"^\| `([^`]+)` \| (.*) \|$", re.M)
    for file, repo in pages.items():
        text = render_anchor_page(Context(shipped, {}, ANCHOR_PAGES.directory / file, repo))
        sections = re.split(r"^## `([^`]+)` .*$", text, flags=re.M)[1:]
        by_branch = dict(zip(sections[::2], sections[1::2], strict=True))
        for bm in anchormap.map_all(shipped, ROOT):
            if bm.facts["repo"] != repo:
                continue
            rows = row.findall(by_branch[bm.facts["branch"]])
            assert [n for n, _ in rows] == anchormap.names(ROOT, repo, bm.facts["branch"])
            for name, here in rows:
                if name in bm.mapped:
                    assert here.startswith(f"`{bm.mapped[name].name}`"), (name, here)
                else:
                    assert here.startswith("— "), (name, here)
                    assert name not in bm.excepted or bm.excepted[name].reason in here
