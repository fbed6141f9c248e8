"""Torch release lines in names: `[defaults] torch`, the `-torch<M>_<m>` token, aliases and `--torch M.m`.

Expectations come from MINI (tests/mini.py) edited per test and from the shipped model,
never from shipped counts: a variant's line is read from its torch version.
"""

from __future__ import annotations

import json

import pytest
from buildmatrix import model
from buildmatrix.builds import sessions as builds
from buildmatrix.cli import detect as detectcli
from buildmatrix.cli import matrix
from buildmatrix.detect import choice
from buildmatrix.detect import probe as detect
from buildmatrix.errors import UsageError
from buildmatrix.model.variant import is_prerelease, line_token, release_line
from conftest import ROOT
from mini import MINI, load_text, problems
from textedit import mutate

DEFAULTS = 'cuda = "13.0"\npackages = ["pytorch", "torchvision"]\n'
CPU_BLOCK = 'name = "cpu"\ntarget = "cpu"\npackages = ["pytorch"]\n'


def with_default(text: str, line: str) -> str:
    return mutate(text, DEFAULTS, DEFAULTS + f'torch = "{line}"\n')


def both_packages_on_cpu(text: str) -> str:
    """MINI's cpu block (pin p12, its own torch 2.9.1) with torchvision too."""
    text = mutate(text, CPU_BLOCK, 'name = "cpu"\ntarget = "cpu"\npackages = ["pytorch", "torchvision"]\n')
    return mutate(text, 'cuda = ["12.8"]\ntorch = "2.9.1"\n', 'cuda = ["12.8"]\ntorch = "2.9.1"\ntorchvision = "0.24.1"\n')


def test_release_line_and_token():
    assert release_line("2.9.1") == "2.9" and release_line("2.10.0") == "2.10" and release_line("2.11.0a0+gitf3b7280") == "2.11"
    assert line_token("2.9.1", "2.10") == "torch2_9"
    assert line_token("2.10.0", "2.10") == ""
    assert line_token("2.11.0a0+gitf3b7280", "2.10") == ""  # a pre-release: its block suffix names it
    assert line_token("2.9.1", None) == ""  # no default line: no token


def test_without_a_default_line_no_name_carries_a_token(tmp_path):
    m = load_text(tmp_path, MINI)
    assert all(v.line == "" for v in m.variants)
    assert {v.torch_line for v in m.variants} == {"2.9", "2.10"}  # MINI has two lines, in different configurations


def test_only_the_other_line_carries_the_token(tmp_path):
    plain = load_text(tmp_path, MINI)
    m = load_text(tmp_path, with_default(MINI, "2.10"))
    for before, v in zip(plain.variants, m.variants, strict=True):
        if v.torch_line == "2.10":
            assert (v.name, v.short, v.line) == (before.name, before.short, "")
        else:
            token = "torch" + v.torch_line.replace(".", "_")
            assert v.line == token and v.name == f"{before.name}-{token}" and v.short == f"{before.short}-{token}"
    assert m.variant("pytorch-python313-cpu-avx2-torch2_9").torch_version == "2.9.1"
    assert m.variant("pytorch-python313-cpu-avx2-torch2_9").as_dict()["torch_line"] == "2.9"


def test_token_comes_before_the_suffix(tmp_path):
    text = mutate(with_default(MINI, "2.10"), CPU_BLOCK, CPU_BLOCK + 'suffix = "x"\n')
    m = load_text(tmp_path, text)
    v = m.variant("pytorch-python313-cpu-avx2-torch2_9-x")
    assert (v.short, v.line, v.suffix) == ("cpu-avx2-torch2_9-x", "torch2_9", "x")


def test_torchvision_pairs_with_the_pytorch_of_its_own_line(tmp_path):
    m = load_text(tmp_path, with_default(both_packages_on_cpu(MINI), "2.10"))
    tv = m.variant("torchvision-python313-cpu-avx2-torch2_9")
    assert tv.requires == "pytorch-python313-cpu-avx2-torch2_9"
    assert m.torch_variant(tv).torch_line == tv.torch_line == "2.9"
    # The other way round: the 2.10 source builds are the other line now.
    m = load_text(tmp_path, with_default(MINI, "2.9"))
    for v in m.variants:
        if v.requires:
            assert v.requires.endswith("-torch2_10") and m.torch_variant(v).line == v.line == "torch2_10"


def test_a_pre_release_torch_keeps_no_token(tmp_path):
    nightly = (
        '[source.nightly]\nversion = "2.11.0a0+gitf3b7280"\nowner = "pytorch"\nrepo = "pytorch"\n'
        'rev = "f3b72801a6bc917d98d6b392c6d223f91348989f"\nhash = ""\nfetch_submodules = true\n'
        'fetcher = "fetchFromGitHub+submodules"\nunverified = "not known"\n\n'
    )
    text = mutate(with_default(MINI, "2.10"), "[nixpkgs_patch.", nightly + "[nixpkgs_patch.")
    text = mutate(text, CPU_BLOCK, CPU_BLOCK + 'suffix = "nightly"\n')
    text = mutate(text, 'isa = ["avx2"]\npin = "p12"', 'isa = ["avx2"]\npin = "p12"\ntorch = "nightly"')
    m = load_text(tmp_path, text)
    v = m.variant("pytorch-python313-cpu-avx2-nightly")
    assert v.line == "" and v.torch_line == "2.11"
    with pytest.raises(UsageError, match="pre-release.*cpu-avx2-nightly"):
        m.resolve("cpu-avx2", "2.11")


def test_a_top_level_override_that_changes_the_line_renames(tmp_path):
    text = with_default(MINI, "2.10")
    assert load_text(tmp_path, text).variant("pytorch-python313-cpu-avx2-torch2_9")
    m = load_text(tmp_path, text + '\n[[override]]\nmatch = { target = "cpu" }\ntorch = "v2.10.0"\n')
    v = m.variant("pytorch-python313-cpu-avx2")  # the 2.10 source: the default line, the plain name
    assert v.line == "" and v.torch_version == "2.10.0"


def test_two_lines_of_one_configuration_need_the_default_line(tmp_path):
    second = (
        '\n[[matrix]]\nname = "gpu-2-9"\ntarget = "cuda"\npackages = ["pytorch"]\npython = ["3.13"]\n'
        'cuda = ["13.0"]\ngpu = ["sm90"]\nisa = ["avx2"]\npin = "p13"\n'
    )
    msg = problems(tmp_path, MINI + second)
    assert "produced twice" in msg and "[defaults] torch" in msg
    m = load_text(tmp_path, with_default(MINI, "2.10") + second)
    assert m.variant("pytorch-python313-cuda13_0-sm90-avx2-torch2_9").torch_version == "2.9.1"
    assert m.variant("pytorch-python313-cuda13_0-sm90-avx2").torch_version == "2.10.0"


def test_default_line_without_variants_warns(tmp_path):
    m = load_text(tmp_path, with_default(MINI, "2.7"))
    assert any("[defaults] torch = '2.7'" in w for w in m.warnings)
    assert all(v.line for v in m.variants)


def test_malformed_default_line_is_refused(tmp_path):
    assert "defaults.torch" in problems(tmp_path, with_default(MINI, "2.10.0"))


# ------------------------------------------------------------------ resolving a line


def test_line_alias_and_resolve_agree(tmp_path):
    m = load_text(tmp_path, with_default(MINI, "2.10"))
    for v in m.variants:
        if v.line:
            assert m.line_alias(v.short.removesuffix("-" + v.line), v.torch_line) == v.short
            assert [x.name for x in m.resolve(v.name.removesuffix("-" + v.line), v.torch_line)] == [v.name]
    # The default line adds nothing.
    default = next(v for v in m.variants if v.torch_line == m.defaults.torch)
    assert m.line_alias(default.short, m.defaults.torch) == default.short


def test_unknown_line_lists_the_lines(tmp_path):
    m = load_text(tmp_path, with_default(MINI, "2.10"))
    with pytest.raises(UsageError) as info:
        m.resolve("cpu-avx2", "2.7")
    text = str(info.value)
    assert "no torch line '2.7'" in text
    for line in m.torch_lines:
        assert line in text
    assert "2.10 (default)" in text


def test_on_line_selects_by_torch_version(shipped):
    for line, vs in shipped.torch_lines.items():
        assert shipped.on_line(line) == vs
        assert all(v.torch_line == line for v in vs)
    assert sum(len(vs) for vs in shipped.torch_lines.values()) == len(shipped.variants)


def test_shipped_names_carry_their_line_unless_default_or_pre_release(shipped):
    assert shipped.defaults.torch in shipped.torch_lines
    for v in shipped.variants:
        plain = v.torch_line == shipped.defaults.torch or is_prerelease(v.torch_version)
        assert (v.line == "") == plain, v.name
        if v.line:
            assert v.line == "torch" + v.torch_line.replace(".", "_")
            assert v.name.endswith(f"-{v.line}" + (f"-{v.suffix}" if v.suffix else "")), v.name


# ------------------------------------------------------------------ --torch on the commands


@pytest.fixture
def two_lines(tmp_path):
    """MINI with the default line 2.10 and torchvision on the 2.9 (cpu) block: two lines, both packages."""
    f = tmp_path / "variants.toml"
    load_text(tmp_path, with_default(both_packages_on_cpu(MINI), "2.10"))
    return f


def _line_variants(m):
    """(alias without its token, line, variant) for every variant whose name carries a line token.

    The alias is spelled with its CUDA (``cuda12_9-sm120-avx``), as a line without the default CUDA needs."""
    for v in m.variants:
        if v.line:
            alias = v.short.replace(f"-{v.line}", "", 1)
            yield (f"{v.cuda.token}-{alias}" if v.cuda else alias), v.torch_line, v


def test_build_option_torch_parses_and_only_with_names():
    opts = builds.parse_build_args(["sm120-avx", "--torch", "2.9", "--dry-run"], allow_names=True)
    assert (opts.names, opts.torch, opts.dry_run, opts.flox_args) == (["sm120-avx"], "2.9", True, [])
    assert builds.parse_build_args(["sm120-avx"], allow_names=True).torch is None
    with pytest.raises(UsageError, match="build-<alias> session builds its own line"):
        builds.parse_build_args(["--torch", "2.9"], allow_names=False)
    assert "--torch M.m" in builds.build_usage(True)


@pytest.mark.parametrize("which", ["mini", "shipped"])
def test_build_torch_option_is_the_token(which, two_lines, shipped):
    m = model.load(two_lines) if which == "mini" else shipped
    seen = 0
    for alias, line, v in _line_variants(m):
        if v.python.version != m.defaults.python or v.package.name not in m.defaults.packages:
            continue
        by_option = builds.resolve_target(m, alias, line)
        token = f"{v.cuda.token}-{v.short}" if v.cuda else v.short
        assert by_option == builds.resolve_target(m, token) and v in by_option
        assert all(x.torch_line == line for x in by_option)
        seen += 1
    assert seen or all(not v.line for v in m.variants)
    # The default line's own spelling adds nothing.
    if m.defaults.torch in m.torch_lines:
        v = next(v for v in m.variants if v.torch_line == m.defaults.torch and not v.suffix)
        assert builds.resolve_target(m, v.name, m.defaults.torch) == [v]


def test_build_unknown_line_lists_the_lines(two_lines):
    m = model.load(two_lines)
    with pytest.raises(UsageError) as info:
        builds.resolve_target(m, "cpu-avx2", "2.7")
    assert "no torch line '2.7'" in str(info.value) and "2.9" in str(info.value) and "2.10 (default)" in str(info.value)
    # A line that exists but lacks the alias: the usual candidates, naming the option.
    with pytest.raises(UsageError, match=r"no build target named 'sm90-avx2' with --torch 2.9 \('sm90-avx2-torch2_9'\)"):
        builds.resolve_target(m, "sm90-avx2", "2.9")


def test_list_torch_selects_the_line(two_lines, capsys):
    m = model.load(two_lines)
    for line, vs in m.torch_lines.items():
        assert matrix.cmd_list(str(two_lines), {}, True, line) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [d["name"] for d in listed] == [v.name for v in vs]
        assert {d["torch_line"] for d in listed} == {line}
    assert matrix.cmd_list(str(two_lines), {"package": "torchvision"}, True, "2.9") == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == [
        v.name for v in m.on_line("2.9") if v.package.name == "torchvision"
    ]
    assert matrix.cmd_list(str(two_lines), {}, False, "2.7") == 2
    assert "--torch 2.7: no such torch line (did you mean 2.9?); valid: 2.9, 2.10 (default)" in capsys.readouterr().err


def test_detect_torch_recommends_that_line(two_lines, capsys):
    m = model.load(two_lines)
    haswell = detect.detect_host(nvml=None, run=None, cpu="haswell")
    default = choice.recommend(m, haswell)
    assert all(not c.variant.line for c in default.recommended + default.alternatives + default.rejected)
    for line in m.torch_lines:
        rec = choice.recommend(m, haswell, torch=line)
        pool = rec.recommended + rec.alternatives + rec.rejected
        assert pool and {c.variant.torch_line for c in pool} == {line} and rec.as_dict()["torch"] == line
    rec = choice.recommend(m, haswell, torch="2.9")
    assert [c.variant.name for c in rec.recommended] == [
        v.name for v in m.on_line("2.9") if v.target == "cpu" and v.isa.name == "avx2"
    ]
    assert detectcli.cmd_detect(str(two_lines), False, "haswell", "2.9") == 0
    out = capsys.readouterr().out
    assert "Recommended for Python 3.13, torch 2.9:" in out and rec.recommended[0].variant.name in out
    assert detectcli.cmd_detect(str(two_lines), False, "haswell", "2.7") == 2
    assert "--torch 2.7: no such torch line" in capsys.readouterr().err


def test_an_alias_only_other_pythons_build_names_the_variants(tmp_path):
    text = mutate(MINI, '[python."3.13"]\n', '[python."3.12"]\n[python."3.13"]\n')
    text += (
        '\n[[matrix]]\nname = "py312"\ntarget = "cpu"\npackages = ["pytorch"]\npython = ["3.12"]\nisa = ["avx512"]\npin = "p12"\n'
    )
    m = load_text(tmp_path, text)
    with pytest.raises(
        UsageError, match=r"built only for Python 3\.12, not the default 3\.13; name a variant: pytorch-python312-cpu-avx512"
    ):
        m.resolve("cpu-avx512")


def test_the_pairing_advisory_speaks_only_when_the_pin_s_companion_does_not_pair():
    """nixeval's advisory: a companion built from its pin's own release is named only when that
    release is not the one PyTorch pairs with the variant's torch (2.8 ↔ 0.23 is silent)."""
    from buildmatrix.model.rules import paired_release
    from buildmatrix.nixeval import check as nixcheck

    m = model.load(ROOT / "variants.toml")
    v = next(
        (
            x
            for x in m.variants
            if x.requires and not x.companion_source and paired_release(x.package.attr, x.torch_version)
        ),
        None,
    )
    if v is None:
        pytest.skip("no companion built from its pin's own release in this variants.toml")
    paired = paired_release(v.package.attr, v.torch_version)
    good = {v.name: {"name": f"python3-{v.name}-{paired}.1"}}
    assert nixcheck.advisories([v], good, {}) == []
    bad = {v.name: {"name": f"python3-{v.name}-9.99.0"}}
    (line,) = nixcheck.advisories([v], bad, {})
    assert f"{v.package.attr} 9.99.0 against torch {v.torch_version}" in line and f"{paired} source" in line
