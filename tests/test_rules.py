"""The hardware and pairing rules (buildmatrix.model.rules): one refused edit of MINI per rule id.

TRIGGERS is keyed by rule id and checked against the registry both ways, so a rule added
without a test here (or a test left for a rule that is gone) fails; every refusal must
carry its id, and every id must be listed in docs/variants.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from buildmatrix import model, targets
from buildmatrix.docs import parse, region_text
from buildmatrix.errors import ModelError
from buildmatrix.model import rules
from buildmatrix.spec import shape as spec
from mini import MINI, load_text, problems, with_audio
from textedit import mutate

ROOT = Path(__file__).resolve().parents[1]
VISION = (
    '\n[source.tv24]\npackage = "torchvision"\nversion = "0.24.1"\nowner = "pytorch"\nrepo = "vision"\nrev = "v0.24.1"\n'
    'hash = ""\nfetch_submodules = false\nfetcher = "fetchFromGitHub"\nunverified = "u"\n'
)
MAC = '\n[[matrix]]\nname = "mac"\ntarget = "mps"\npackages = ["pytorch"]\npython = ["3.13"]\npin = "p12"\n'


def _with_vision(text: str, version: str = "0.24.1") -> str:
    """MINI with a torchvision source of ``version`` used by the cuda block."""
    text = mutate(text, "[patch.magma]", mutate(VISION, 'version = "0.24.1"', f'version = "{version}"') + "\n[patch.magma]")
    return mutate(text, 'torch = "v2.10.0"\n', 'torch = "v2.10.0"\ntorchvision = "tv24"\n')


def _gpu_range(t: str) -> str:
    t = mutate(t, 'gpu = ["sm90"]', 'gpu = ["sm90", "sm61"]')
    return mutate(t, 'isa = ["avx2", "avx512"]\npin = "p13"', 'isa = ["avx2"]\npin = "p13"')


def _cuda_too_old(t: str) -> str:
    t = mutate(t, 'cuda = ["13.0"]\ngpu = ["sm90"]', 'cuda = ["12.8"]\ngpu = ["sm110"]')
    return mutate(t, 'isa = ["avx2", "avx512"]\npin = "p13"', 'isa = ["armv9"]\npin = "p12"')


def _gpu_isas(t: str) -> str:
    return mutate(mutate(t, 'cuda = ["13.0"]\ngpu = ["sm90"]', 'cuda = ["12.8"]\ngpu = ["sm61"]'), 'pin = "p13"', 'pin = "p12"')


def _isa_platform(t: str) -> str:
    t = mutate(t, 'platform = "aarch64-linux"', 'platform = "aarch64-darwin"')
    return mutate(t, 'isa = ["avx2"]\npin = "p12"', 'isa = ["armv9"]\npin = "p12"')


# rule id -> (an edit of MINI that breaks it, a part of the message it must report)
TRIGGERS: dict[str, tuple[Callable[[str], str], str]] = {
    "target-axes": (
        lambda t: mutate(t, 'isa = ["avx2"]\npin = "p12"', 'isa = ["avx2"]\ngpu = ["sm90"]\npin = "p12"'),
        "a cpu block cannot have `gpu`",
    ),
    "cuda-gpu-range": (_gpu_range, "sm61 × CUDA 13.0: CUDA 13.0 dropped sm61 (last supported: 12.9)"),
    "gpu-platform": (
        lambda t: mutate(t, 'gpu = ["sm90"]', 'gpu = ["sm90", "sm110"]'),
        "sm110 × avx2: sm110 exists only on aarch64-linux but avx2 is x86_64-linux",
    ),
    "gpu-isas": (_gpu_isas, "sm61 × avx512: sm61 is built only with avx2"),
    "pin-cuda": (lambda t: mutate(t, 'pin = "p13"', 'pin = "p12"'), "pin p12 has no CUDA 13.0 package set"),
    "pin-torchvision-patches": (
        lambda t: mutate(_with_vision(t, "0.25.0"), "torchvision_patches = []\n", ""),
        "pin p13 does not list `torchvision_patches`",
    ),
    "pin-torch-patches": (
        lambda t: mutate(t, 'torch_patches = ["fix-cmake-cuda-toolkit.patch"]\ntorchvision_patches = []\n', ""),
        "pin p13 does not list `torch_patches`",
    ),
    "pin-apple-sdk": (lambda t: t + MAC, "pytorch-python313-darwin-mps: pin p12 records no `apple_sdk`"),
    "torch-version-known": (
        lambda t: mutate(t, 'cuda = ["12.8"]\ntorch = "2.9.1"\n', 'cuda = ["12.8"]\n'),
        "pytorch-python313-cpu-avx2: the torch version of pin p12 is unknown",
    ),
    "target-isa-platform": (_isa_platform, "armv9 is a aarch64-darwin ISA; cpu variants are Linux builds"),
    "shared-torch-built": (
        lambda t: mutate(
            t,
            'packages = ["pytorch"]\npython = ["3.13"]\nisa = ["avx2"]',
            'packages = ["torchvision"]\npython = ["3.13"]\nisa = ["avx2"]',
        ),
        "torchvision-python313-cpu-avx2 shares the torch of pytorch-python313-cpu-avx2, which the matrix does not build",
    ),
    "torchvision-pairs-torch": (_with_vision, "torchvision 0.24.1 does not pair with torch 2.10.0 (it needs 0.25.x)"),
    "pin-torchaudio-patches": (
        lambda t: mutate(with_audio(t), 'torchaudio_patches = ["0001-setup.py-propagate-cmakeFlags.patch"]\n', ""),
        "torchaudio-python313-cuda13_0-sm90-avx2: pin p13 does not list `torchaudio_patches`",
    ),
    "torchaudio-pairs-torch": (
        lambda t: with_audio(t, "2.9.1"),
        "torchaudio 2.9.1 does not pair with torch 2.10.0 (it needs 2.10.x)",
    ),
    "shared-torch-same": (
        lambda t: t + '\n[[override]]\nmatch = { package = "torchvision", isa = "avx2" }\nenv = { USE_NCCL = "0" }\n',
        "would need a torch different from pytorch-python313-cuda13_0-sm90-avx2",
    ),
}


def _refusals(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ModelError) as info:
        load_text(tmp_path, text)
    return [p.message for p in info.value.problems]


def test_every_rule_has_a_trigger_here():
    assert set(TRIGGERS) == set(model.RULES)


@pytest.mark.parametrize("rule_id", list(model.RULES))
def test_each_rule_refuses_and_names_itself(tmp_path, rule_id):
    edit, expected = TRIGGERS[rule_id]
    messages = _refusals(tmp_path, edit(MINI))
    hits = [m for m in messages if expected in m]
    assert hits, f"{rule_id}: no message contains {expected!r}: {messages}"
    assert all(m.endswith(f" [rule: {rule_id}]") for m in hits), hits


def test_rule_ids_are_unique_stable_words():
    ids = [r.id for r in model.RULES.values()]
    assert len(ids) == len(set(ids))
    for r in model.RULES.values():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.id), r.id
        assert r.summary and "\n" not in r.summary, r.id
        assert r.scope in rules.SCOPES
    with pytest.raises(ValueError, match="registered twice"):
        rules.rule(ids[0], scope="variant", keys=())(lambda v, report: None)


def test_rule_keys_are_keys_of_the_file():
    for r in model.RULES.values():
        assert r.keys, r.id
        for key in r.keys:
            table, _, name = key.partition(".")
            assert name in spec.SPECS[table].keys, f"{r.id}: {key} is not a key of variants.toml"


def test_every_rule_is_listed_in_the_docs():
    text = (ROOT / "docs" / "variants.md").read_text(encoding="utf-8")
    parsed, errors = parse(text, "docs/variants.md")
    assert not errors
    region = next(region_text(parsed, r) for r in parsed.regions if r.name == "hardware-rules")
    for r in model.RULES.values():
        assert f"| `{r.id}` |" in region, r.id
        assert r.summary in region, r.id


def test_cuda_too_old_for_the_gpu(tmp_path):
    msg = problems(tmp_path, _cuda_too_old(MINI))
    assert "CUDA 12.8 is too old for sm110 (needs ≥ 13.0) [rule: cuda-gpu-range]" in msg


def test_cuda_range_fix_names_the_exclude(tmp_path):
    assert 'exclude { gpu = "sm61", cuda = "13.0" }' in problems(tmp_path, _gpu_range(MINI))


def test_mps_block_cannot_name_isas(tmp_path):
    text = MINI + mutate(MAC, 'pin = "p12"', 'isa = ["avx2"]\npin = "p12"')
    assert "a mps block cannot have `isa` [rule: target-axes]" in problems(tmp_path, text)


def test_torchvision_pairing_and_source_kind(tmp_path):
    assert model.paired_torchvision("2.10.0") == "0.25" and model.paired_torchvision("2.9.1") == "0.24"
    text = _with_vision(MINI, "0.25.0")
    assert load_text(tmp_path, text).variant("torchvision-python313-cuda13_0-sm90-avx2").torchvision_version == "0.25.0"
    wrong = mutate(text, 'torchvision = "tv24"', 'torchvision = "v2.10.0"')
    assert "source 'v2.10.0' is a torch source, not a torchvision one" in problems(tmp_path, wrong)


def test_torchaudio_pairing_source_and_shared_torch(tmp_path):
    assert model.paired_torchaudio("2.10.0") == "2.10" and model.paired_torchaudio("2.8.0") == "2.8"
    assert model.paired_release("torchvision", "2.8.0") == "0.23" and model.paired_release("nothing", "2.8.0") is None
    m = load_text(tmp_path, with_audio(MINI))
    ta = m.variant("torchaudio-python313-cuda13_0-sm90-avx2")
    assert ta.torchaudio_version == ta.companion_version == "2.10.0" and ta.torchvision_version is None
    assert ta.companion_source.name == "ta" and ta.requires == "pytorch-python313-cuda13_0-sm90-avx2"
    assert m.torch_variant(ta).torch_key == m.variant("torchvision-python313-cuda13_0-sm90-avx2").torch_key
    assert ta.as_dict()["torchaudio_source"] == "ta" and ta.as_dict()["torchvision_source"] is None
    tv = m.variant("torchvision-python313-cuda13_0-sm90-avx2")
    assert tv.companion_source is None and tv.torchaudio_version is None  # the block's torchaudio source is not its own
    ta2 = "\n[source.ta2]" + with_audio(MINI).split("[source.ta]", 1)[1].split("[nixpkgs_patch", 1)[0]
    ta2 = mutate(ta2, 'version = "2.10.0"', 'version = "2.10.1"')
    over = with_audio(MINI) + ta2 + '\n[[override]]\nmatch = { package = "torchaudio" }\ntorchaudio = "ta2"\n'
    moved = load_text(tmp_path, over).variant("torchaudio-python313-cuda13_0-sm90-avx2")
    assert moved.companion_source.name == "ta2" and moved.torchaudio_version == "2.10.1"
    wrong = mutate(with_audio(MINI), 'torchaudio = "ta"', 'torchaudio = "v2.10.0"')
    assert "source 'v2.10.0' is a torch source, not a torchaudio one" in problems(tmp_path, wrong)


# ---------------------------------------------------------------------- targets


def test_targets_are_the_values_spec_accepts():
    assert targets.NAMES == spec.TARGETS


def test_target_records_are_consistent(shipped):
    for t in targets.TARGETS.values():
        assert set(t.axes) <= set(targets.AXES), t.name
        assert t.platform is None or t.platform.endswith("-" + t.os), t.name
    for v in shipped.variants:
        assert set(targets.AXES) - set(v.target_info.axes) == {a for a in targets.AXES if getattr(v, a) is None}, v.name


def test_every_alias_parses_back_to_its_target(shipped):
    for v in shipped.variants:
        if v.suffix:
            continue
        found = targets.parse_alias(v.short.removesuffix(f"-{v.line}") if v.line else v.short)  # the target's part of it
        assert found is not None, v.short
        target, fields = found
        assert target.name == v.target
        assert fields == {a: getattr(v, a).name for a in ("gpu", "isa") if a in target.axes}, v.short
    assert targets.parse_alias("sm90") is None and targets.parse_alias("cpu-") is None
