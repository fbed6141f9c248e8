"""What every generator shares: :class:`Context`, the :func:`generator` registry, sort keys and ledger status.

Generators are pure functions of a Context: no clock, no host, sorted output.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath

from packaging.version import Version

from .. import ledger, targets
from ..model import Gpu, Isa, Matrix, Variant
from ..spec import shape as spec

DOCS_DIR = PurePosixPath("docs")
README = PurePosixPath("README.md")
TARGET_ORDER = {name: targets.order(name) for name in targets.NAMES}  # display order, from targets.py
ACTION_WORDS = {
    "eval": "evaluation",
    "build": "build",
    "push": "push to a binary cache",
    "smoke": "smoke test",
    "publish": "publish",
}
ACTION_DONE = {
    "eval": "evaluated",
    "build": "built",
    "push": "pushed to a binary cache",
    "smoke": "smoke-tested",
    "publish": "published",
}


@dataclass(frozen=True)
class Context:
    """What a generator may look at: the model, the ledger's latest records, where the output goes, and its scope.

    ``line`` scopes a page to one torch line ("2.9"): :attr:`variants` is then that line's variants
    only. Regions of README.md and docs/*.md have no line and see every variant.
    """

    matrix: Matrix
    records: dict[tuple[str, str], ledger.Record]
    file: PurePosixPath = README  # relative to the repository root
    line: str | None = None

    @cached_property
    def variants(self) -> list[Variant]:
        """The variants in scope: every variant, or those of torch line :attr:`line`."""
        return self.matrix.variants if self.line is None else self.matrix.on_line(self.line)

    def link(self, target: str) -> str:
        """Relative link from this document to ``target`` (a path from the repository root, maybe with #anchor)."""
        path, _, anchor = target.partition("#")
        if path == str(self.file):
            path = ""
        rel = posixpath.relpath(path, posixpath.dirname(str(self.file)) or ".") if path else ""
        return rel + (f"#{anchor}" if anchor else "")


Generator = Callable[[Context], str]
GENERATORS: dict[str, Generator] = {}


def generator(name: str) -> Callable[[Generator], Generator]:
    def register(fn: Generator) -> Generator:
        GENERATORS[name] = fn
        return fn

    return register


def ver(text: str) -> Version:
    return Version(text)


def cap_key(g: Gpu) -> tuple[int, ...]:
    return tuple(int(x) for x in g.capability.split("."))


def isa_key(i: Isa) -> tuple:
    order = spec.PLATFORMS.index(i.platform) if i.platform in spec.PLATFORMS else len(spec.PLATFORMS)
    return (order, i.rank, i.name)


def variant_key(m: Matrix, v: Variant) -> tuple:
    """Sort order of the variant tables: target, GPU, ISA, CUDA, Python, package, suffix."""
    pkgs = list(m.packages)
    return (
        TARGET_ORDER[v.target],
        cap_key(v.gpu) if v.gpu else (),
        isa_key(v.isa) if v.isa else (),
        ver(v.cuda.version) if v.cuda else ver("0"),
        ver(v.python.version),
        pkgs.index(v.package.name),
        v.suffix,
        v.name,
    )


def sorted_gpus(m: Matrix) -> list[Gpu]:
    return sorted(m.gpus.values(), key=cap_key)


def sorted_isas(m: Matrix) -> list[Isa]:
    return sorted(m.isas.values(), key=isa_key)


def sorted_cudas(m: Matrix) -> list[str]:
    return sorted(m.cudas, key=ver)


def built_gpus(m: Matrix) -> list[Gpu]:
    used = {v.gpu.name for v in m.variants if v.gpu}
    return [g for g in sorted_gpus(m) if g.name in used]


def driver_max(*versions: str) -> str:
    return max(versions, key=lambda d: tuple(int(x) for x in re.findall(r"\d+", d)))


def target_label(v: Variant) -> str:
    return v.target_info.label_of(cuda=v.cuda)


def products(g: Gpu, n: int | None = None) -> str:
    shown = g.gpus if n is None else g.gpus[:n]
    return ", ".join(shown) + (", …" if n is not None and len(g.gpus) > n else "")


# ---------------------------------------------------------------- evidence


def status(records: dict[tuple[str, str], ledger.Record], name: str) -> str:
    """Short status of a variant from its records only: "not built" without one; never success without an ok record."""
    recs = {a: records[(name, a)] for a in ledger.ACTIONS if (name, a) in records}
    ok = [a for a in ledger.ACTIONS if a in recs and recs[a].proves]
    top = ok[-1] if ok else None
    parts = [ACTION_DONE[top] if top else "not built"]
    if top == "eval":
        parts[0] = "evaluated, not built"
    after = ledger.ACTIONS.index(top) if top else -1
    for a in ledger.ACTIONS:
        r = recs.get(a)
        if r is not None and not r.proves and ledger.ACTIONS.index(a) > after:
            parts.append(f"{ACTION_WORDS[a]} " + ("with a stand-in interpreter" if r.stand_in and r.status == "ok" else r.status))
    return "; ".join(parts)


def record_rev(r: ledger.Record) -> str:
    rev = r.git_rev or "unknown"
    dirty = rev.endswith("-dirty")
    short = rev.removesuffix("-dirty")[:7] if rev != "unknown" else rev
    return short + (" + uncommitted changes" if dirty else "")


def record_date(r: ledger.Record) -> str:
    return (r.end or r.start or "")[:10] or "—"
