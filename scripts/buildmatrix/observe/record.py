"""``invoke observe --write``: what was observed, recorded in variants.toml (tomlkit: comments kept).

Each hash is recorded as ``invoke pin`` records one (``hash_source`` says how, when, which
command). Each pin key whose facts were all read from the tree is listed in the pin's
``observed`` table with the date (its status is then *observed*); a key the tree contradicts gets
the tree's value, with a comment saying so, where the value can be written from what was read:
versions, ``torch_cuda13_broken``, ``carries``, ``apple_sdk_version`` and the patch lists. The
others (which ``cudaPackages_*`` attribute is which CUDA, a missing Apple SDK, a Python set) need
a choice only a person can make: they are returned, not written. The file is validated before it
is written, atomically (:func:`buildmatrix.edit.save`), so a rejected edit changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import tomlkit

from .. import edit, model
from . import Report
from .facts import Fact

WRITABLE = ("torch", "torchvision", "torchaudio", "torch_cuda13_broken", "carries", "apple_sdk_version")
PATCH_LISTS = ("torch_patches", "torchvision_patches", "torchaudio_patches")


def write(path: Path, report: Report) -> tuple[list[str], list[str]]:
    """Record the report; return (what was written, what needs a person), one line each."""
    m = model.load(path)
    doc = edit.document(path)
    done, manual = [], []
    for got in report.fetched:
        t = got.target
        entry = doc[t.kind][t.name]
        if got.changed:
            how = f"`invoke observe`: {got.command}"
            if got.mirror_file:
                how += f" (a mirror file standing in for {t.url})"
            edit.record_provenance(entry, t.hash_key, got.sha256, how)
            done.append(f"{t.table} {t.hash_key} = {got.sha256}")
    by_pin: dict[str, list[Fact]] = {}
    for f in report.facts:
        by_pin.setdefault(f.pin, []).append(f)
    for pin, found in by_pin.items():
        entry = doc["pin"][pin]
        observed: dict[str, bool] = {}
        for f in found:
            if f.field is None:  # a [python.*] fact: which attribute is the Python set
                if not f.agrees:
                    manual.append(f"{f.key}: the tree says {_show(f)}; name the set of Python {f.value} there by hand")
                continue
            if not f.read:
                if f.variants:
                    manual.append(f"{f.key}: could not be read from the tree ({f.error})")
                observed[f.field] = False
                continue
            ok = f.agrees or _fix(entry, f, m, report.date)
            if not f.agrees:
                (done if ok else manual).append(_line(f, ok))
            observed[f.field] = observed.get(f.field, True) and bool(ok)
        marks = {k: report.date for k, ok in sorted(observed.items()) if ok}
        if marks:
            table = tomlkit.inline_table()
            table.update({**dict(entry.get("observed", {})), **marks})
            entry["observed"] = table
    if done or any(f.read for f in report.facts):
        edit.save(path, doc, m)
    return list(dict.fromkeys(done)), list(dict.fromkeys(manual))


def _show(f: Fact) -> str:
    return repr(f.tree) if f.read else f"(error: {f.error})"


def _line(f: Fact, written: bool) -> str:
    if written:
        return f"{f.key} = {f.tree!r} (was {f.value!r})"
    return f"{f.key}: variants.toml says {f.value!r}, the tree says {f.tree!r}; correct it by hand"


def _comment(date: str) -> str:
    return f"observed {date} by `invoke observe` (the tree itself, no overlays)"


def _fix(entry, f: Fact, m, date: str) -> bool:
    """Write the tree's value for ``f`` into the pin's table; False where a person must choose."""
    key = f.field
    if key in ("torch", "torchvision", "torchaudio", "apple_sdk_version") and isinstance(f.tree, str):
        item = tomlkit.string(f.tree)
    elif key == "torch_cuda13_broken" and isinstance(f.tree, bool):
        item = tomlkit.item(f.tree)
    elif key == "carries" and isinstance(f.tree, bool) and f.patch:
        names = [n for n in entry.get("carries", []) if n != f.patch] + ([f.patch] if f.tree else [])
        item = tomlkit.array()
        item.extend(names)
    elif key in PATCH_LISTS and isinstance(f.tree, list) and all(isinstance(x, str) for x in f.tree):
        had = list(entry.get(key, []))
        gone = set(f.value) - set(f.tree)
        item = tomlkit.array()
        item.extend([n for n in had if n not in gone] + sorted(set(f.tree) - set(had)))
    else:
        return False
    item.comment(_comment(date))
    entry[key] = item
    return True
