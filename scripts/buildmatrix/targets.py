"""The build targets (cuda, cpu, mps): one frozen record each, in display order.

Everything the code asks about a target lives here: which axes a [[matrix]] block lists
(and so which it must not), how the variant name and its alias are formed, the words the
docs and messages use for it, and where it builds. Code reads a variant's record with
:func:`of` instead of testing ``v.target == "..."``; adding a target is one more record.

The text fields are :meth:`str.format` templates over the variant's axis entries, named
``cuda``, ``gpu`` and ``isa`` (``{gpu.gpus[0]}`` is the GPU's first product name); a
template only names the axes its target has. Nothing here imports the rest of the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The hardware axes of a block, in name order (the python and packages lists are always there).
AXES = ("cuda", "gpu", "isa")


@dataclass(frozen=True, kw_only=True)
class Target:
    """One value of a block's ``target`` key."""

    name: str
    axes: tuple[str, ...]  # the AXES a block of this target lists; it may not list the others
    short: str  # the alias (and the name after python/cuda tokens): "{gpu.name}-{isa.name}"
    label: str  # a heading or table cell for its variants: "CPU only"
    hardware: str  # what a variant runs on, in its meta.description
    host: str  # the host a smoke test needs, in a sentence: "a CPU with {isa.title}"
    device: str  # the GPU column of a variant table when there is no GPU entry
    intro: str  # the docs' one-line introduction of a section of these variants (no GPU)
    os: str  # linux | darwin: the kind of system it builds for
    platform: str | None = None  # fixed Nix platform; None: the ISA's platform
    scope: str  # the recipe's longDescription: "<package> <torch> built from ... <scope>."
    gpu_line: str = ""  # the longDescription's GPU line when the target has no GPU axis
    gpu_arch: str | None = None  # passthru.gpuArch when there is no GPU entry to take it from
    torch_env: tuple[tuple[str, str], ...] = ()  # switches its torch recipe exports (name, value)
    chosen: str = ""  # why `invoke detect` chose it, when that does not depend on the host
    count_label: str = ""  # the README summary's count of these variants ("CPU-only: 12")
    picker: tuple[str, str] = ("", "")  # README gpu-picker row: (your hardware, use)
    picker_long: tuple[str, str] = ("", "")  # QUICKSTART decision-tree row: (your hardware, use)

    def short_of(self, **axes: Any) -> str:
        return self.short.format(**_axes(axes))

    def hardware_of(self, **axes: Any) -> str:
        return self.hardware.format(**_axes(axes))

    def host_of(self, **axes: Any) -> str:
        return self.host.format(**_axes(axes))

    def label_of(self, **axes: Any) -> str:
        return self.label.format(**_axes(axes))

    def alias_fields(self, alias: str) -> dict[str, str] | None:
        """The axis names an alias of this target spells (``{"gpu": "sm90", "isa": "avx2"}``), None if it is not one.

        Each ``{axis.name}`` placeholder reads one word; the last one reads the rest, so an
        unknown name is reported by the caller instead of silently not matching."""
        template = self.short
        fields: dict[str, str] = {}
        rest = alias
        while template:
            start = template.find("{")
            literal = template if start < 0 else template[:start]
            if not rest.startswith(literal):
                return None
            rest = rest[len(literal) :]
            if start < 0:
                return fields if not rest else None
            end = template.index("}", start)
            axis = template[start + 1 : end].split(".")[0]
            template = template[end + 1 :]
            stop = template.split("{")[0]
            if not template:
                value, rest = rest, ""
            elif not stop or stop not in rest:
                return None
            else:
                value, _, tail = rest.partition(stop)
                rest = stop + tail
            if not value:
                return None
            fields[axis] = value
        return fields if not rest else None


def _axes(given: dict[str, Any]) -> dict[str, Any]:
    return {axis: given.get(axis) for axis in AXES}


CUDA = Target(
    name="cuda",
    axes=("cuda", "gpu", "isa"),
    short="{gpu.name}-{isa.name}",
    label="CUDA {cuda.version}",
    hardware="NVIDIA {gpu.name} ({gpu.gpus[0]}) with CUDA {cuda.version} and {isa.title}",
    host="{gpu.gpus[0]}",
    device="—",
    intro="",
    os="linux",
    scope="for one GPU architecture and one CPU ISA",
)
CPU = Target(
    name="cpu",
    axes=("isa",),
    short="cpu-{isa.name}",
    label="CPU only",
    hardware="CPU only, {isa.title}",
    host="a CPU with {isa.title}",
    device="—",
    intro="No GPU support: for Linux machines without an NVIDIA GPU.",
    os="linux",
    scope="for one CPU ISA, without GPU support",
    gpu_line="No GPU support (CPU only).",
    # BLAS named, as the anchor's CPU recipes do, not left to PyTorch's CMake search: OpenBLAS
    # is nixpkgs' blas.provider at every pin (darwin's vecLib: recipes/darwin.py).
    torch_env=(("BLAS", "OpenBLAS"),),
    count_label="CPU-only",
    picker=("no NVIDIA GPU (Linux)", "`cpu-<isa>`"),
    picker_long=("none (Linux)", "a CPU-only variant, `cpu-<isa>`"),
)
MPS = Target(
    name="mps",
    axes=(),
    short="darwin-mps",
    label="Apple Silicon (MPS)",
    hardware="Apple Silicon (MPS)",
    host="Apple Silicon",
    device="Apple GPU (MPS)",
    intro="Metal Performance Shaders on Apple Silicon (macOS).",
    os="darwin",
    platform="aarch64-darwin",
    scope="for Apple Silicon",
    gpu_line="GPU: Apple Silicon through Metal Performance Shaders.",
    gpu_arch="mps",
    chosen="Apple Silicon: the MPS build",
    count_label="Apple Silicon (MPS)",
    picker=("Apple Silicon Mac", "`darwin-mps`"),
    picker_long=("Apple Silicon (M1 or later)", "`darwin-mps`"),
)

# Display order: docs tables list cuda variants first, then cpu, then mps.
TARGETS: dict[str, Target] = {t.name: t for t in (CUDA, CPU, MPS)}
NAMES = tuple(TARGETS)


def of(name: str) -> Target:
    """The record of target ``name`` (a name the model has validated)."""
    return TARGETS[name]


def order(name: str) -> int:
    """Position of ``name`` in display order."""
    return NAMES.index(name)


def without_gpu() -> list[Target]:
    """The targets without a GPU axis, in display order (their variants get a row or count of their own)."""
    return [t for t in TARGETS.values() if "gpu" not in t.axes]


def with_axis(axis: str) -> list[Target]:
    """The targets whose blocks list ``axis``."""
    return [t for t in TARGETS.values() if axis in t.axes]


def parse_alias(alias: str) -> tuple[Target, dict[str, str]] | None:
    """The target an alias (``sm89-avx512``, ``cpu-avx2``, ``darwin-mps``) belongs to and the names it spells.

    Targets whose alias has fewer placeholders are tried first, so ``cpu-avx2`` is a cpu
    alias, not a GPU named ``cpu``."""
    for t in sorted(TARGETS.values(), key=lambda t: (t.short.count("{"), order(t.name))):
        fields = t.alias_fields(alias)
        if fields is not None:
            return t, fields
    return None
