"""variants.toml: the shipped matrix, and one test per validation rule (the hardware rules: test_rules.py)."""

from __future__ import annotations

import re

import pytest
from buildmatrix.errors import UsageError
from mini import MINI, line_of, load_text, problems
from packaging.version import Version
from textedit import mutate

# ------------------------------------------------------------------ shipped


def test_every_torchvision_shares_an_existing_pytorch(shipped):
    for v in shipped.variants:
        if v.package.name == "torchvision":
            base = shipped.torch_variant(v)
            assert base.package.name == "pytorch" and base.torch_key == v.torch_key


def test_magma_patch_rule_and_allow_broken(shipped):
    """The MAGMA patch goes exactly where CUDA >= its min_cuda and the pin does not carry it already;
    allowBroken exactly where the pin's torch marks that CUDA broken (facts read from the file)."""
    for v in shipped.variants:
        for patch in shipped.patches.values():
            wanted = v.cuda is not None and v.cuda.v >= Version(patch.min_cuda) and patch.name not in v.pin.carries
            assert (patch in v.patches) == wanted, (v.name, patch.name)
        assert v.allow_broken == (v.cuda is not None and v.cuda.major >= 13 and v.pin.torch_cuda13_broken), v.name


def test_names_are_attribute_safe(shipped):
    for v in shipped.variants:
        assert re.match(r"^[a-z0-9][a-z0-9_-]*$", v.name)
        assert "." not in v.name


def test_aliases_resolve_through_defaults(shipped):
    names = [v.name for v in shipped.resolve("sm120-avx")]
    assert names == ["pytorch-python313-cuda13_0-sm120-avx", "torchvision-python313-cuda13_0-sm120-avx"]
    assert [v.name for v in shipped.resolve("cuda12_9-sm103-avx2")][0] == "pytorch-python313-cuda12_9-sm103-avx2"
    assert len(shipped.resolve("cpu-avx2")) == 2
    assert len(shipped.resolve("darwin-mps")) == 2
    with pytest.raises(UsageError, match="closest"):
        shipped.resolve("sm120-avx3")
    with pytest.raises(UsageError, match="it does as: cuda12_8-sm61-avx, cuda12_9-sm61-avx"):
        shipped.resolve("sm61-avx")


def test_the_alias_rule_is_one_rule(shipped):
    """Matrix.aliases_of decides which alias names which variant: resolve, alias_groups and the build sessions agree."""
    from buildmatrix.builds import sessions as builds

    d = shipped.defaults
    named = {v.name for vs in shipped.alias_groups.values() for v in vs}
    for v in shipped.variants:
        aliases = shipped.aliases_of(v)
        assert bool(aliases) == (v.python.version == d.python and v.package.name in d.packages) == (v.name in named), v.name
        for a in aliases:
            assert v in shipped.resolve(a), (a, v.name)
    for alias, vs in shipped.alias_groups.items():
        assert list(vs) == shipped.resolve(alias), alias
        assert all(shipped.aliases_of(v)[0] == alias for v in vs)
    sessions = {s.name: s.variants for s in builds.sessions(shipped)}
    assert all(sessions[f"build-{a}"] == vs for a, vs in shipped.alias_groups.items())


def test_gen_names_each_unverified_variant_once(shipped):
    """No load warning; one line for the commands that build (scoped to what they build); the full report names every
    affected variant exactly once."""
    from collections import Counter

    from buildmatrix.model import hashes

    affected = hashes.unverified(shipped)
    assert not [w for w in shipped.warnings if "unverified" in w]  # queries print none: no load warning
    one_line = hashes.unverified_line(shipped)
    report = "\n".join(hashes.unverified_report(shipped, limit=None))
    short = hashes.unverified_report(shipped)  # what `invoke gen` prints: at most 3 names a group
    for line, (_why, names) in zip(short[1:], hashes.unverified_groups(shipped), strict=True):
        assert f"({len(names)}, fill with" in line and names[0] in line
        assert (f"and {len(names) - 3} more" in line) == (len(names) > 3)
    if not affected:
        assert one_line == "" and report == ""
        return
    things = {w for ws in affected.values() for w in ws}
    assert one_line.startswith(f"{len(affected)} variant(s) fetch") and " / ".join(f"`{c}`" for c in hashes.first_contact_commands(things)) in one_line
    assert "docs/BUILD_MATRIX.md#unverified-fetches" in one_line and "\n" not in one_line and len(one_line) < 250
    one = next(iter(affected))  # scoped to what a command builds: its count and its fill command
    scoped = hashes.unverified_line(shipped, [one, *[v.name for v in shipped.variants if v.name not in affected][:3]])
    assert scoped.startswith("1 variant(s) fetch")
    assert " / ".join(f"`{c}`" for c in hashes.first_contact_commands(affected[one])) in scoped
    assert hashes.unverified_line(shipped, [v.name for v in shipped.variants if v.name not in affected]) == ""
    named = re.findall(r"[a-z0-9][a-z0-9_-]*-python3[0-9]+-[a-z0-9_-]+", report.split(":", 1)[1])
    assert Counter(named) == Counter(list(affected)), "each affected variant once, no other"
    for why in {w for ws in affected.values() for w in ws}:
        assert hashes.fill_command(why) in report
    unverified_names = {n for n, p in shipped.pins.items() if not p.sha256} | {
        n for n, s in shipped.sources.items() if not s.hash
    }
    used = {w.split(" ", 1)[1] for ws in affected.values() for w in ws}
    assert used <= unverified_names


def test_mini_model_loads(tmp_path):
    m = load_text(tmp_path, MINI)
    assert [v.name for v in m.variants] == [
        "pytorch-python313-cuda13_0-sm90-avx2",
        "pytorch-python313-cuda13_0-sm90-avx512",
        "torchvision-python313-cuda13_0-sm90-avx2",
        "torchvision-python313-cuda13_0-sm90-avx512",
        "pytorch-python313-cpu-avx2",
    ]


# ------------------------------------------------------------ one test per rule


def test_broken_toml_names_the_line(tmp_path):
    text = mutate(MINI, 'title = "AVX2"', 'title = "AVX2')
    msg = problems(tmp_path, text)
    assert "not valid TOML" in msg
    n = line_of(text, 'title = "AVX2')
    assert f"variants.toml:{n}:" in msg


def test_unknown_key_suggests_the_right_one(tmp_path):
    text = mutate(MINI, 'min_driver = "525"', 'min_drivr = "525"')
    msg = problems(tmp_path, text)
    assert "gpu.sm90.min_drivr: unknown key" in msg and "did you mean `min_driver`" in msg
    assert f"variants.toml:{line_of(text, 'min_drivr')}:" in msg


def test_wrong_type_is_reported(tmp_path):
    msg = problems(tmp_path, mutate(MINI, "rank = 30", 'rank = "30"'))
    assert "isa.avx512.rank: must be an integer" in msg


def test_duplicate_variant_names(tmp_path):
    text = (
        MINI
        + '\n[[matrix]]\nname = "again"\ntarget = "cpu"\npackages = ["pytorch"]\npython = ["3.13"]\nisa = ["avx2"]\npin = "p12"\n'
    )
    msg = problems(tmp_path, text)
    assert "'pytorch-python313-cpu-avx2' is produced twice (matrix[1] (cpu) and matrix[2] (again))" in msg


def test_names_with_dots_are_rejected(tmp_path):
    msg = problems(tmp_path, mutate(MINI, 'name = "cpu"', 'name = "cpu"\nsuffix = "v1.2"'))
    assert "matrix[1].suffix: 'v1.2' is malformed" in msg


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('rev = "0182a361324364ae3f436a63005877674cf45efb"', 'rev = "0182a36"', "pin.p12.rev: '0182a36' is malformed"),
        (
            'sha256 = ""\nfetcher = "builtins.fetchTarball"\nunverified = "not prefetched"\ncuda = ["12.8"]',
            'sha256 = "abc"\nfetcher = "builtins.fetchTarball"\nhash_source = "x"\ncuda = ["12.8"]',
            "pin.p12.sha256: 'abc' is not a sha256",
        ),
        ('hash = "sha256-RKiZLHBCneMtZKRgTEuW1K7+Jpi+tx11BMXuS1jC1xQ="', 'hash = "sha256-xyz"', "is not an SRI sha256 hash"),
    ],
)
def test_malformed_revs_and_hashes(tmp_path, old, new, expected):
    msg = problems(tmp_path, mutate(MINI, old, new))
    assert expected in msg


def test_missing_references(tmp_path):
    text = mutate(mutate(MINI, 'pin = "p12"', 'pin = "p122"'), 'torch = "v2.10.0"', 'torch = "v2.10"')
    text = mutate(
        text, "torch_cuda13_broken = true\n\n[pin.p13]", 'torch_cuda13_broken = true\ncarries = ["magmaa"]\n\n[pin.p13]'
    )
    msg = problems(tmp_path, text)
    assert "unknown pin 'p122'" in msg and "did you mean `p12`" in msg
    assert "unknown torch source 'v2.10'" in msg
    assert "unknown patch 'magmaa'" in msg


def test_missing_patch_file(tmp_path):
    msg = problems(tmp_path, mutate(MINI, 'file = "patches/fix.patch"', 'file = "patches/nope.patch"'))
    assert "patch file patches/nope.patch does not exist" in msg


def test_empty_matrix(tmp_path):
    text = "matrix = []\n" + MINI[: MINI.index("[[matrix]]")]
    msg = problems(tmp_path, text)
    assert "the matrix is empty" in msg


def test_stale_exclude_and_unused_override(tmp_path):
    text = mutate(MINI, 'torch = "v2.10.0"\n', 'torch = "v2.10.0"\nexclude = [{ isa = "armv9" }]\n', 1)
    assert "matrix[0].exclude[0]: this exclude matches no combination" in problems(tmp_path, text)
    text = MINI + '\n[[override]]\nmatch = { gpu = "sm110" }\ndescription = "x"\n'
    assert "override[0]: this override matches no variant" in problems(tmp_path, text)


def test_sm61_gets_a_narrowed_package_set(tmp_path):
    text = mutate(
        mutate(MINI, 'cuda = ["13.0"]\ngpu = ["sm90"]', 'cuda = ["12.8"]\ngpu = ["sm61", "sm90"]'),
        'isa = ["avx2", "avx512"]\npin = "p13"',
        'isa = ["avx2"]\npin = "p12"',
    )
    m = load_text(tmp_path, text)
    assert m.variant("pytorch-python313-cuda12_8-sm61-avx2").narrow_capabilities
    assert not m.variant("pytorch-python313-cuda12_8-sm90-avx2").narrow_capabilities
    assert not m.variant("pytorch-python313-cpu-avx2").narrow_capabilities


def test_capability_must_match_name(tmp_path):
    msg = problems(tmp_path, mutate(MINI, 'capability = "9.0"', 'capability = "9.1"'))
    assert "capability 9.1 does not match the name sm90" in msg


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('flags = ["-mavx512f"]', 'flags = ["-mavx512f; rm -rf /"]', "isa.avx512.flags[0]: '-mavx512f; rm -rf /' is malformed"),
        ("rank = 30", 'rank = 30\nenv = { "use-x" = "1" }', "'use-x' is not a valid environment variable name"),
        ("rank = 30", 'rank = 30\nenv = { USE_X = "$(reboot)" }', "isa.avx512.env.USE_X: '$(reboot)' is malformed"),
        ("rank = 30", 'rank = 30\ncmake_flags = ["-DX=1 -DY=2"]', "isa.avx512.cmake_flags[0]: '-DX=1 -DY=2' is malformed"),
    ],
)
def test_strings_reaching_a_shell_are_rejected(tmp_path, old, new, expected):
    assert expected in problems(tmp_path, mutate(MINI, old, new))


def test_archspec_cross_check(tmp_path):
    msg = problems(tmp_path, mutate(MINI, 'archspec = ["neoverse_v2"]', 'archspec = ["neoverse_v1"]'))
    assert "neoverse_v1 lacks features sve2 that armv9 requires" in msg
    msg = problems(tmp_path, mutate(MINI, 'archspec = ["haswell"]', 'archspec = ["haswel"]'))
    assert "archspec knows no microarchitecture 'haswel'" in msg and "did you mean `haswell`" in msg


def test_free_text_descriptions_are_accepted(tmp_path):
    text = (
        MINI
        + '\n[[override]]\nmatch = { isa = "avx2", target = "cpu" }\ndescription = "${builtins.abort \\"x\\"} \'\'quotes\'\' \\\\ #hash"\n'
    )
    m = load_text(tmp_path, text)
    assert m.variant("pytorch-python313-cpu-avx2").description.startswith("${builtins.abort")
    # meta.description is one line: a line break (or any control character) is refused, not escaped.
    msg = problems(tmp_path, mutate(text, "#hash", "two\\nlines"))
    assert "override[0].description: contains a control character (U+000A)" in msg


def test_unknown_defaults(tmp_path):
    msg = problems(tmp_path, mutate(MINI, 'cuda = "13.0"\npackages', 'cuda = "13.2"\npackages'))
    assert "defaults.cuda: unknown CUDA version '13.2'" in msg


def test_every_problem_is_reported_at_once(tmp_path):
    text = mutate(mutate(MINI, 'min_driver = "525"', 'min_drivr = "525"'), "rank = 30", 'rank = "x"')
    msg = problems(tmp_path, text)
    assert msg.splitlines()[0].endswith("3 problem(s); nothing was written")  # unknown key, missing key, type


def test_error_lines_point_into_array_tables(tmp_path):
    text = mutate(MINI, 'name = "cpu"\ntarget = "cpu"', 'name = "cpu"\ntarget = "gpu"')
    msg = problems(tmp_path, text)
    n = line_of(text, 'target = "gpu"')
    assert f"variants.toml:{n}: matrix[1].target: 'gpu' is not one of cuda, cpu, mps" in msg


def test_overrides_apply_in_order_and_are_recorded(tmp_path):
    text = mutate(
        MINI,
        'torch = "v2.10.0"\n',
        'torch = "v2.10.0"\n\n[[matrix.override]]\nmatch = { isa = "avx512" }\ndescription = "block"\n',
        1,
    )
    text += '\n[[override]]\nmatch = { name = "pytorch-python313-cuda13_0-sm90-avx512" }\ndescription = "global"\n'
    m = load_text(tmp_path, text)
    v = m.variant("pytorch-python313-cuda13_0-sm90-avx512")
    assert v.description == "global"
    assert v.origin == ("matrix[0] (gpu)", "matrix[0].override[0]", "override[0]")
    assert m.variant("torchvision-python313-cuda13_0-sm90-avx512").description == "block"
