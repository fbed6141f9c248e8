"""Properties every valid variants.toml must have, proven on the shipped file and on four derived ones.

The derived matrices are maintainer edits of whatever variants.toml holds now
(tests/matrices.py): a block added (sm70 on CUDA 12.9), variants removed, a block for
another Python version, torchaudio declared and built next to a GPU and a CPU torch. Every expectation is computed from the model of the file under
test, so a maintainer who edits variants.toml keeps a green suite; facts the shipped
file must keep are in tests/test_shipped_facts.py.
"""

from __future__ import annotations

import re
import shutil

import matrices
import pytest
import test_docs
import test_magma
from buildmatrix import docs, generated, model, recipes
from buildmatrix.cli import generate
from buildmatrix.nixeval import evaluate as nixeval
from conftest import ROOT, require_tool


# The fast tier (pytest -m "not slow") proves the properties on the shipped file; the full suite on every derived one too.
@pytest.fixture(scope="module", params=[k if k == "shipped" else pytest.param(k, marks=pytest.mark.slow) for k in matrices.KINDS])
def derived(request, tmp_path_factory):
    """(root, matrix, how it was made): inputs derived, recipes written by a full `invoke gen`, docs synced.

    The shipped recipes are copied in first, so a removal must delete the stale ones itself.
    """
    root = tmp_path_factory.mktemp(request.param)
    f, how = matrices.derive(request.param, root)
    for p in (ROOT / recipes.PKGS_DIR).glob("*.nix"):
        shutil.copy(p, root / recipes.PKGS_DIR / p.name)
    assert generate.cmd_gen(str(f), str(root), None, False, quiet=True) == 0, how
    m = model.load(f)
    docs.sync(root, m)
    return root, m, how


def test_the_derived_matrix_is_what_its_edit_says(derived):
    root, m, how = derived
    shipped = model.load(ROOT / "variants.toml")
    old, new = set(shipped.by_name), set(m.by_name)
    if how.startswith("invoke add"):
        assert new > old, how
    elif how.startswith("invoke remove"):
        assert new < old and all(n not in new for n in how.split()[2:]), how
    elif how.startswith("torchaudio added:"):
        assert new - old == set(how.split()[2:]) and old <= new, how
    else:
        assert new == old


def test_names_unique_attribute_safe_and_torch_shared(derived):
    _, m, how = derived
    names = [v.name for v in m.variants]
    assert len(names) == len(set(names)), how
    for v in m.variants:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", v.name), v.name
        base = m.torch_variant(v)
        assert base.package.name == "pytorch" and base.torch_key == v.torch_key, (how, v.name)


def test_a_full_gen_leaves_exactly_the_variants_recipes(derived):
    root, m, how = derived
    on_disk = {p.name for p in (root / recipes.PKGS_DIR).glob("*.nix") if recipes.is_generated(p)}
    assert on_disk == {recipes.file_name(v) for v in m.variants}, how  # removed variants' recipes are gone
    assert recipes.check(m, root).clean
    assert recipes.generate(m, root).changed is False  # idempotent


def test_every_recipe_evaluates_shares_torch_and_builds_one_sm(derived):
    require_tool("nix-instantiate")
    root, m, how = derived
    report = nixeval.evaluate(m, root)
    assert report.evaluated == len(m.variants) == len(report.variants), how
    assert report.mismatches == [], "\n".join(x.line() for x in report.mismatches[:20])
    assert report.torch_configurations == len({m.torch_variant(v).name for v in m.variants})
    assert f"{report.torch_ratio:.2f}" == "1.00"
    assert len(report.arch_entries) == sum(1 for v in m.variants if v.requires and v.gpu)
    assert set(report.arch_entries.values()) <= {1}
    assert all(shared == total for shared, total in report.sharing.values()), report.sharing
    assert sum(total for _, total in report.sharing.values()) == sum(1 for v in m.variants if v.requires)


def test_docs_are_in_sync_and_their_counts_are_the_model_s(derived):
    root, m, how = derived
    assert generate.cmd_docs(str(root), str(root / "variants.toml"), True) == 0, how
    test_docs.test_counts_equal_the_model(m, root)
    test_docs.test_variant_matrix_lists_every_variant_once_in_findable_order(m)
    test_docs.test_grids_mark_exactly_the_variants_of_the_model(m)


def test_magma_report_counts_are_the_model_s(derived):
    root, m, _ = derived
    test_magma.test_report_counts_and_recipe_agreement(m, root, None)


def test_the_jobset_lists_every_variant_and_shares_every_torch(derived):
    require_tool("nix-instantiate")
    from buildmatrix.recipes import jobset

    root, m, how = derived
    assert generated.check(generated.plan(root, [jobset.output(m)])).clean, how  # the full gen wrote it
    report = jobset.evaluate(m, root)
    assert report.problems == [], (how, report.problems[:5])
    platforms = {v.platform for v in m.variants}
    assert report.jobs == {p: sum(1 for v in m.variants if v.platform == p) for p in sorted(platforms)}
    assert report.sharing == report.companion_jobs == sum(1 for v in m.variants if v.requires)


def test_the_workflow_has_a_build_job_per_torch_configuration(derived):
    import yaml
    from buildmatrix.builds import sessions as builds
    from buildmatrix.ci import workflow

    root, m, how = derived
    config = m.ci
    assert yaml.safe_load(workflow.render(m, config))["jobs"]["plan"]
    result = workflow.plan(m, config)
    assert len(result["builds"]) == len({m.torch_variant(v).name for v in m.variants}), how
    assert sorted(n for j in result["builds"] for n in j.variants) == sorted(v.name for v in m.variants)
    assert sorted([s.variant for s in result["smoke"]] + result["untested"]) == sorted(v.name for v in m.variants)
    sessions = {s.name: {v.name for v in s.variants} for s in builds.sessions(m)}
    for j in result["builds"]:  # every job's command builds exactly its configuration
        words = j.session.split()
        assert set(words[2:]) == set(j.variants) if words[0] == "build" else sessions[words[0]] == set(j.variants)
