"""What a correct build of a variant looks like at run time: the expectations JSON ``scripts/smoke_check.py`` reads.

:func:`expectations` derives it from the model (Python, torch, torchvision and torchaudio versions,
CUDA, SM, ISA features, cuDNN, MAGMA and its patches); :func:`apply_overrides` replaces
single values with ``--expect-*`` flags and lists each replaced value under
``overridden`` (model value, value used, flag), so a report or ledger record of such a
run always says so.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError

SWITCHES = {"on": True, "off": False, "any": None}
OVERRIDE_FLAGS = {
    "python": "--expect-python",
    "torch": "--expect-torch",
    "torchvision": "--expect-torchvision",
    "torchaudio": "--expect-torchaudio",
    "cuda": "--expect-cuda",
    "cudnn": "--expect-cudnn",
    "magma": "--expect-magma",
}


def expectations(m: Any, v: Any) -> dict[str, Any]:
    """What a correct build of ``v`` looks like at run time, as the JSON smoke_check.py reads."""
    cap = v.gpu.capability if v.gpu else None
    return {
        "schema": 1,
        "variant": v.name,
        "package": v.package.name,
        "alias": v.short,
        "target": v.target,
        "platform": v.platform,
        "python": v.python.version,
        "torch": v.torch_version,
        # None when the model does not know it (the pin's own torchvision): the checker then
        # reports it and whether it is the release paired with torch.
        "torchvision": v.torchvision_version,
        "needs_torchvision": v.package.name == "torchvision",
        "torchaudio": v.torchaudio_version,
        "needs_torchaudio": v.requires is not None and v.package.attr == "torchaudio",
        "torch_variant": m.torch_variant(v).name,
        "cuda": v.cuda.version if v.cuda else None,
        "gpu": v.gpu.name if v.gpu else None,
        "capability": cap,
        "arch": f"sm_{cap.replace('.', '')}" if cap else None,
        "isa": v.isa.name if v.isa else None,
        "isa_title": v.isa.title if v.isa else None,
        "isa_features": list(v.isa.features) if v.isa else [],
        "cudnn": v.cudnn if v.cuda is not None else None,
        # Every CUDA torch from nixpkgs is built with MAGMA; `magma_patches` says which fixes it carries.
        "magma": True if v.cuda is not None else None,
        "magma_patches": [p.name for p in v.patches],
        "overridden": {},
    }


def apply_overrides(exp: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``exp`` with ``--expect-*`` values; each change is listed under ``overridden``."""
    out = dict(exp, overridden=dict(exp.get("overridden") or {}))
    for key, value in (overrides or {}).items():
        if value is None or key not in OVERRIDE_FLAGS:
            continue
        if key in ("cudnn", "magma") and isinstance(value, str):
            if value not in SWITCHES:
                raise UsageError(f"{OVERRIDE_FLAGS[key]} takes on, off or any (got {value!r})")
            value = SWITCHES[value]
        if out.get(key) != value:
            out["overridden"][key] = {"model": out.get(key), "value": value, "flag": OVERRIDE_FLAGS[key]}
            out[key] = value
    return out
