"""The variants.toml model: axis tables, matrix blocks, and the variants they expand to.

``load(path)`` parses, checks and expands the file in one go and either returns a
:class:`Matrix` or raises :class:`ModelError` listing every problem (file, key path,
line, fix). Nothing in this package writes to disk.

The pipeline, one module per stage: :mod:`.load` (TOML -> spec -> tables -> expand ->
rules -> warnings) drives :mod:`.tables` (raw axis tables -> :mod:`.entries`),
:mod:`.expand` (blocks -> :mod:`.variant` records) and :mod:`.rules` (the hardware and
pairing rules, each with a stable id) and :mod:`.ci` (the [ci] table), all reporting into
:mod:`.collect`; the result is a :mod:`.matrix` ``Matrix``. Importers use the names below, not the modules.
"""

from ..errors import ModelError
from .ci import CiConfig, SmokeRunner
from .entries import Cuda, Defaults, Gpu, Isa, Package, Patch, Pin, Python, Source
from .expand import MAX_NAME
from .load import DEFAULT_FILE, load, loads
from .matrix import Matrix
from .rules import RULES, paired_release, paired_torchaudio, paired_torchvision
from .variant import Variant

__all__ = [
    "DEFAULT_FILE",
    "MAX_NAME",
    "RULES",
    "CiConfig",
    "Cuda",
    "Defaults",
    "Gpu",
    "Isa",
    "Matrix",
    "ModelError",
    "Package",
    "Patch",
    "Pin",
    "Python",
    "SmokeRunner",
    "Source",
    "Variant",
    "load",
    "loads",
    "paired_release",
    "paired_torchaudio",
    "paired_torchvision",
]
