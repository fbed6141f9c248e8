"""Where the MAGMA CUDA-13 clockRate patch goes, and why; dry runs against MAGMA trees.

The decision is the model's (`Patch.wanted_by` + the pin's `carries`): this module
explains it per variant, checks that the generated recipes follow it, and checks a
real MAGMA source tree so a pin's `carries` fact can be verified instead of assumed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import EXIT_FAILED, EXIT_OK
from ..model import Matrix, Patch, Variant
from ..recipes import PKGS_DIR, file_name
from . import patching
from . import source as patchsource


@dataclass(frozen=True)
class Decision:
    patch: Patch
    variant: Variant
    applied: bool
    reason: str


def decisions(matrix: Matrix, patch: Patch) -> list[Decision]:
    out = []
    for v in matrix.variants:
        if v.cuda is None:
            out.append(Decision(patch, v, False, f"{v.target} build: no CUDA, no MAGMA"))
        elif not patch.wanted_by(v.cuda):
            out.append(Decision(patch, v, False, f"CUDA {v.cuda.version} < {patch.min_cuda}: clockRate still exists"))
        elif patch.name in v.pin.carries:
            out.append(Decision(patch, v, False, f"pin {v.pin.name} already carries the fix; applying it twice fails"))
        else:
            out.append(Decision(patch, v, True, f"CUDA {v.cuda.version} >= {patch.min_cuda} and pin {v.pin.name} lacks the fix"))
    return out


def recipe_drift(matrix: Matrix, root: Path, patch: Patch) -> list[str]:
    """Recipes whose text disagrees with the decision (a stale or hand-edited file)."""
    problems = []
    needle = "../../" + patch.file
    for d in decisions(matrix, patch):
        path = root / PKGS_DIR / file_name(d.variant)
        if not path.exists():
            problems.append(f"{path.name}: missing (run `invoke gen`)")
            continue
        text = path.read_text(encoding="utf-8")
        torch_text = text
        if d.variant.requires:  # a torchvision recipe gets MAGMA through the torch recipe it imports
            torch_path = root / PKGS_DIR / file_name(matrix.torch_variant(d.variant))
            torch_text = torch_path.read_text(encoding="utf-8") if torch_path.exists() else ""
        if (needle in torch_text) != d.applied:
            problems.append(
                f"{path.name}: {'lacks' if d.applied else 'carries'} {patch.file}, the model says {'apply' if d.applied else 'do not'}"
            )
    return problems


def report(matrix: Matrix, root: Path) -> tuple[str, int]:
    """Human report and exit status (1 if any recipe disagrees with the model)."""
    lines, status = [], EXIT_OK
    for patch in matrix.patches.values():
        ds = decisions(matrix, patch)
        applied = [d for d in ds if d.applied]
        lines.append(f"{patch.name}: {patch.file} -> {patch.package}")
        lines.append(f"  fixes:    {patch.summary}")
        lines.append(f"  upstream: {patch.upstream}")
        lines.append(f"  applied to {len(applied)} of {len(ds)} variants:")
        for (pin, cuda), n in sorted(Counter((d.variant.pin.name, d.variant.cuda.version) for d in applied).items()):
            lines.append(f"    {n:4d}  CUDA {cuda} on {pin}")
        reasons = Counter(d.reason for d in ds if not d.applied)
        lines.append("  not applied:")
        for reason, n in sorted(reasons.items()):
            lines.append(f"    {n:4d}  {reason}")
        drift = recipe_drift(matrix, root, patch)
        if drift:
            status = EXIT_FAILED
            lines.append(f"  {len(drift)} recipe(s) disagree with the model:")
            lines.extend(f"    {p}" for p in drift)
        else:
            lines.append("  generated recipes: all agree with the model")
    return "\n".join(lines), status


def report_data(matrix: Matrix, root: Path) -> list[dict]:
    """The report's facts for ``--json``: per patch, the variants it is applied to, the others with why, drift."""
    out = []
    for patch in matrix.patches.values():
        ds = decisions(matrix, patch)
        out.append(
            {
                "name": patch.name,
                "file": patch.file,
                "package": patch.package,
                "applied": [d.variant.name for d in ds if d.applied],
                "not_applied": {d.variant.name: d.reason for d in ds if not d.applied},
                "recipes_disagreeing": recipe_drift(matrix, root, patch),
            }
        )
    return out


def _has_equivalent_fix(root: Path, patch: patching.Patch) -> bool:
    """Whether every file the patch touches already reads the clock through cudaDevAttrClockRate."""
    files = [root / f for f in patch.paths()]
    return bool(files) and all(
        f.is_file() and "cudaDevAttrClockRate" in f.read_text(encoding="utf-8", errors="replace") for f in files
    )


def check_against_source(matrix: Matrix, patch: Patch, source: Path, pin: str | None) -> tuple[str, int]:
    """Dry-run the patch against a MAGMA tree or tarball; with ``pin``, cross-check that pin's `carries`."""
    diff = patching.load_patch(matrix.path.parent / patch.file)
    with patchsource.source_tree(diff, source) as (root, shown):
        result = patching.check_tree(diff, root)
        equivalent = result.status == patching.Status.FAILS and _has_equivalent_fix(root, diff)
    lines = [f"{patch.file} against {source} ({shown}): {result.status}"]
    if not result.ok and result.reason:
        lines.append(f"  {result}")
    if equivalent:
        # Upstream's own fix (MAGMA 2.10.0, nixpkgs' fix-cuda13-compat.patch) is worded differently from ours.
        lines.append("  the tree already reads the clock through cudaDevAttrClockRate: it carries an equivalent fix")
        result = patching.Result(patching.Status.ALREADY_APPLIED, result.file, result.hunk, result.reason, shown)
    status = EXIT_OK if result.ok else EXIT_FAILED
    if pin:
        if pin not in matrix.pins:
            return f"no pin named {pin!r} (pins: {', '.join(matrix.pins)})", 2
        carries = patch.name in matrix.pins[pin].carries
        if result.status == patching.Status.ALREADY_APPLIED and not carries:
            lines.append(
                f"  refusing: this tree already has the fix, but pin {pin} does not list it in `carries`, so the "
                f'recipes would apply it twice. Add "{patch.name}" to [pin.{pin}] carries.'
            )
            status = EXIT_FAILED
        elif result.status == patching.Status.APPLIES and carries:
            lines.append(f"  pin {pin} claims to carry {patch.name}, but this tree lacks the fix: remove it from `carries`.")
            status = EXIT_FAILED
        elif result.status == patching.Status.FAILS and not carries:
            lines.append(f"  the patch does not apply to this tree: variants on pin {pin} would fail to build MAGMA.")
        else:
            lines.append(f"  consistent with pin {pin} ({'carries' if carries else 'lacks'} the fix).")
    elif result.status == patching.Status.ALREADY_APPLIED:
        lines.append("  this tree has the fix already: a pin with this MAGMA must list the patch in `carries`.")
    return "\n".join(lines), status
