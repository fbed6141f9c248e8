"""A small variants.toml (MINI) that loads, and helpers to load edited copies of it in a test's tmp_path.

Edit MINI with :func:`textedit.mutate`, so an edit whose target text drifted fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from buildmatrix import model
from buildmatrix.errors import ModelError

MINI = """\
schema_version = 1

[defaults]
python = "3.13"
cuda = "13.0"
packages = ["pytorch", "torchvision"]

[package.pytorch]
attr = "torch"
title = "PyTorch"

[package.torchvision]
attr = "torchvision"
title = "TorchVision"
requires = "pytorch"

[python."3.13"]

[cuda."12.8"]
min_driver = "570.26"
default_capabilities = ["7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0"]

[cuda."13.0"]
min_driver = "580.65.06"
default_capabilities = ["7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "10.3", "12.0", "12.1"]

[gpu.sm61]
capability = "6.1"
family = "Pascal"
gpus = ["GTX 1080"]
min_cuda = "8.0"
max_cuda = "12.9"
platforms = ["x86_64-linux"]
isas = ["avx2"]
cudnn = false
min_driver = "390"

[gpu.sm90]
capability = "9.0"
family = "Hopper"
gpus = ["H100"]
min_cuda = "11.8"
platforms = ["x86_64-linux", "aarch64-linux"]
min_driver = "525"

[gpu.sm110]
capability = "11.0"
family = "Thor"
gpus = ["Jetson AGX Thor"]
min_cuda = "13.0"
platforms = ["aarch64-linux"]
min_driver = "580"

[isa.avx2]
title = "AVX2"
platform = "x86_64-linux"
flags = ["-mavx2", "-mfma", "-mf16c"]
features = ["avx2", "fma", "f16c"]
archspec = ["haswell"]
hardware = "Haswell+"
rank = 20

[isa.avx512]
title = "AVX-512"
platform = "x86_64-linux"
flags = ["-mavx512f"]
features = ["avx512f"]
archspec = ["skylake_avx512"]
hardware = "Skylake-SP+"
rank = 30

[isa.armv9]
title = "ARMv9"
platform = "aarch64-linux"
flags = ["-march=armv9-a+sve+sve2"]
features = ["sve2"]
archspec = ["neoverse_v2"]
hardware = "Grace"
rank = 20

[pin.p12]
rev = "0182a361324364ae3f436a63005877674cf45efb"
sha256 = ""
fetcher = "builtins.fetchTarball"
unverified = "not prefetched"
cuda = ["12.8"]
torch = "2.9.1"
torch_patches = ["fix-cmake-cuda-toolkit.patch"]
torch_cuda13_broken = true

[pin.p13]
rev = "6a030d535719c5190187c4cec156f335e95e3211"
sha256 = ""
fetcher = "builtins.fetchTarball"
unverified = "not prefetched"
cuda = ["13.0"]
torch = "2.9.1"
torch_patches = ["fix-cmake-cuda-toolkit.patch"]
torchvision_patches = []
torch_cuda13_broken = true

[source."v2.10.0"]
version = "2.10.0"
owner = "pytorch"
repo = "pytorch"
rev = "v2.10.0"
hash = "sha256-RKiZLHBCneMtZKRgTEuW1K7+Jpi+tx11BMXuS1jC1xQ="
fetch_submodules = true
fetcher = "fetchFromGitHub+submodules"
hash_source = "a recipe"

[nixpkgs_patch."fix-cmake-cuda-toolkit.patch"]
package = "torch"
when = "cuda"
keep_on = []
reason = "r"
source = "s"

[patch.magma]
file = "patches/fix.patch"
package = "magma-cuda-static"
min_cuda = "13.0"
upstream = "u"
summary = "s"

[[matrix]]
name = "gpu"
target = "cuda"
packages = ["pytorch", "torchvision"]
python = ["3.13"]
cuda = ["13.0"]
gpu = ["sm90"]
isa = ["avx2", "avx512"]
pin = "p13"
torch = "v2.10.0"

[[matrix]]
name = "cpu"
target = "cpu"
packages = ["pytorch"]
python = ["3.13"]
isa = ["avx2"]
pin = "p12"
"""


AUDIO_PACKAGE = '[package.torchaudio]\nattr = "torchaudio"\ntitle = "TorchAudio"\nrequires = "pytorch"\n\n'
AUDIO_PATCH = "0001-setup.py-propagate-cmakeFlags.patch"
AUDIO_SOURCE = f"""
[source.ta]
package = "torchaudio"
version = "2.10.0"
owner = "pytorch"
repo = "audio"
rev = "v2.10.0"
hash = "sha256-b1sjHVFXdNFDbdtXWSM2KisSRE/8IbzJI4rvzYQ4UMg="
fetch_submodules = false
fetcher = "fetchFromGitHub"
hash_source = "issue-15 research note 2 (VERIFIED)"

[nixpkgs_patch."{AUDIO_PATCH}"]
package = "torchaudio"
when = "always"
keep_on = ["x86_64-linux", "aarch64-linux", "aarch64-darwin"]
reason = "r"
source = "s"
"""


def with_audio(text: str, version: str = "2.10.0") -> str:
    """MINI with [package.torchaudio], a torchaudio source of ``version`` and the gpu block building torchaudio."""
    from textedit import mutate

    text = mutate(text, '[python."3.13"]', AUDIO_PACKAGE + '[python."3.13"]')
    source = mutate(AUDIO_SOURCE, 'version = "2.10.0"', f'version = "{version}"')
    text = mutate(text, "[patch.magma]", source + "\n[patch.magma]")
    text = mutate(text, "torchvision_patches = []\n", f'torchvision_patches = []\ntorchaudio_patches = ["{AUDIO_PATCH}"]\n')
    text = mutate(
        text,
        'packages = ["pytorch", "torchvision"]\npython = ["3.13"]\ncuda',
        'packages = ["pytorch", "torchvision", "torchaudio"]\npython = ["3.13"]\ncuda',
    )
    return mutate(text, 'pin = "p13"\ntorch = "v2.10.0"\n', 'pin = "p13"\ntorch = "v2.10.0"\ntorchaudio = "ta"\n')


def load_text(tmp_path: Path, text: str) -> model.Matrix:
    (tmp_path / "patches").mkdir(exist_ok=True)
    (tmp_path / "patches" / "fix.patch").write_text("")
    f = tmp_path / "variants.toml"
    f.write_text(text)
    return model.load(f)


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ModelError) as info:
        load_text(tmp_path, text)
    return str(info.value)


def line_of(text: str, needle: str, nth: int = 0) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth]
