"""How the anchor's recipe names map to variants here: the documented scheme, its exceptions, per branch.

The anchor (barstoolbluz/build-pytorch, build-torchvision) keeps one torch line per branch, so
its names carry no line. Here every line is in one file, so a name of a branch whose torch line
is not ``[defaults] torch`` gains that line's token (docs/variants.md, "Names"):

    <anchor name>  ->  <anchor name>[-torch<M>_<m>]      (the token of the branch's torch version)

:func:`variant_name` is that rule. The data it applies to lives in ``scripts/buildmatrix/model/anchor-names/``
(``branches.toml`` and one names file per branch; see its README) and the listed exceptions, each
with its reason, in ``scripts/buildmatrix/model/anchor-exceptions.toml``. :func:`map_branch` maps one
branch; :func:`branch_rows` summarises every branch (docs/BUILD_MATRIX.md, "Anchor branches").
Nothing here writes to disk.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import Matrix, Variant
from .variant import line_token

DATA_DIR = Path("scripts") / "buildmatrix" / "model"  # relative to the repository root
NAMES_DIR = DATA_DIR / "anchor-names"
EXCEPTIONS_FILE = DATA_DIR / "anchor-exceptions.toml"


@dataclass(frozen=True, kw_only=True)
class Listed:
    """Anchor names that need not map (``names = ["*"]``: the whole branch), and why."""

    repo: str
    branch: str
    names: tuple[str, ...]
    kind: str  # superseded: skipped; missing: must NOT map yet (a stale exception fails the test)
    reason: str

    def covers(self, name: str) -> bool:
        return "*" in self.names or name in self.names


@dataclass(kw_only=True)
class BranchMap:
    """One anchor branch, its facts (branches.toml) and where each of its names went."""

    facts: dict
    mapped: dict[str, Variant] = field(default_factory=dict)  # anchor name -> variant
    excepted: dict[str, Listed] = field(default_factory=dict)  # anchor name -> its exception
    unmapped: list[str] = field(default_factory=list)  # neither mapped nor excepted

    @property
    def key(self) -> str:
        return f"{self.facts['repo']}/{self.facts['branch']}"


def variant_name(m: Matrix, anchor_name: str, torch_version: str) -> str:
    """The name here of an anchor name from a branch building ``torch_version``."""
    token = line_token(torch_version, m.defaults.torch)
    return f"{anchor_name}-{token}" if token else anchor_name


def branches(root: Path) -> list[dict]:
    return tomllib.loads((root / NAMES_DIR / "branches.toml").read_text(encoding="utf-8"))["branch"]


def names(root: Path, repo: str, branch: str) -> list[str]:
    text = (root / NAMES_DIR / repo / f"{branch}.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def exceptions(root: Path) -> list[Listed]:
    raw = tomllib.loads((root / EXCEPTIONS_FILE).read_text(encoding="utf-8")).get("exception", [])
    return [Listed(repo=e["repo"], branch=e["branch"], names=tuple(e["names"]), kind=e["kind"], reason=e["reason"]) for e in raw]


def map_branch(m: Matrix, root: Path, facts: dict, excs: list[Listed]) -> BranchMap:
    """Where each name of one branch goes: a variant, an exception, or nowhere."""
    out = BranchMap(facts=facts)
    mine = [e for e in excs if (e.repo, e.branch) == (facts["repo"], facts["branch"])]
    for n in names(root, facts["repo"], facts["branch"]):
        exc = next((e for e in mine if e.covers(n)), None)
        v = m.by_name.get(variant_name(m, n, facts["torch"])) if facts["torch"] else None
        if exc is not None and (exc.kind == "superseded" or v is None):
            out.excepted[n] = exc
        elif v is not None:
            out.mapped[n] = v
        else:
            out.unmapped.append(n)
    return out


def map_all(m: Matrix, root: Path) -> list[BranchMap]:
    excs = exceptions(root)
    return [map_branch(m, root, b, excs) for b in branches(root)]


def branch_rows(m: Matrix, root: Path) -> list[list[str]]:
    """Per branch: repo/branch, torch, names, mapped, the line here, its blocks and pins, exceptions."""
    rows = []
    for bm in map_all(m, root):
        vs = list(bm.mapped.values())
        lines = sorted({v.torch_line for v in vs if v.torch_line}, key=lambda x: tuple(map(int, x.split("."))))
        blocks = sorted({v.origin[0].split(" (", 1)[-1].rstrip(")") for v in vs})
        pins = sorted({v.pin.short for v in vs})
        token = line_token(bm.facts["torch"], m.defaults.torch) if bm.facts["torch"] else ""
        reasons = sorted({f"{e.reason} ({sum(1 for x in bm.excepted.values() if x is e)})" for e in bm.excepted.values()})
        rows.append(
            [
                f"{bm.facts['repo']} `{bm.facts['branch']}`",
                bm.facts["torch"] or "—",
                str(len(bm.mapped) + len(bm.excepted) + len(bm.unmapped)),
                str(len(bm.mapped)),
                ", ".join(lines) + (f" (`-{token}`)" if token else "") if lines else "—",
                ", ".join(f"`{b}`" for b in blocks) or "—",
                ", ".join(pins) or "—",
                "; ".join(reasons) + (f"; {len(bm.unmapped)} unmapped" if bm.unmapped else "") or "—",
            ]
        )
    return rows
