"""First contact with the real pins: fetch each as the recipes do, read its facts from the tree, compare.

:func:`observe` prefetches every chosen pin (and tarball source) with ``nix-prefetch-url --unpack``
(:mod:`.fetch`, from GitHub or a local mirror), evaluates the unpacked tree itself with no overlays
and reads every fact the recipes rest on (:mod:`.facts`); :func:`buildmatrix.observe.record.write`
records what was observed in variants.toml. Nothing here prints.
"""

from __future__ import annotations

import datetime
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from . import facts as factmod
from . import fetch


@dataclass
class Report:
    date: str
    fetched: list[fetch.Fetched] = field(default_factory=list)
    facts: list[factmod.Fact] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # targets not fetched, each with why

    @property
    def disagreements(self) -> list[factmod.Fact]:
        return [f for f in self.facts if not f.agrees]

    @property
    def hash_changes(self) -> list[fetch.Fetched]:
        return [x for x in self.fetched if x.changed]

    @property
    def ok(self) -> bool:
        return not self.disagreements and not self.hash_changes

    def rows(self) -> list[dict]:
        """The table: one row per key, belief and tree value (variants summed), the hashes first."""
        out = [
            {
                "key": f"{x.target.table} {x.target.hash_key}",
                "says": x.target.recorded or "(none: unverified)",
                "tree": x.sha256,
                "variants": None,
                "agrees": not x.changed,
                "read": True,
            }
            for x in self.fetched
        ]
        merged: dict[tuple, dict] = {}
        for f in self.facts:
            short = f.error if len(f.error) <= 60 else f.error[:59] + "…"
            tree = f.tree if f.read else f"(unreadable: {short})"
            ident = (f.key, repr(f.value), repr(tree))
            row = {"key": f.key, "says": f.value, "tree": tree, "variants": 0, "agrees": f.agrees, "read": f.read}
            row = merged.setdefault(ident, row)
            row["variants"] += len(f.variants)
        return out + list(merged.values())

    def as_dict(self) -> dict:
        return {
            "date": self.date,
            "ok": self.ok,
            "fetched": [
                {
                    "table": x.target.table,
                    "url": x.target.url,
                    "recorded": x.target.recorded,
                    "observed": x.sha256,
                    "store_path": x.store_path,
                    "command": x.command,
                    "mirror_file": x.mirror_file or None,
                }
                for x in self.fetched
            ],
            "facts": [f.as_dict() for f in self.facts],
            "skipped": self.skipped,
        }


def choose(m, names: list[str] | None) -> list[fetch.Target]:
    """The targets named (pins and sources; every one when None), refusing unknown names."""
    every = fetch.targets(m)
    if not names:
        return every
    by_name = {t.name: t for t in every}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UsageError(
            f"invoke observe {unknown[0]}: no [pin.{unknown[0]}] or [source.{unknown[0]}]; "
            f"pins: {', '.join(m.pins)}; sources: {', '.join(m.sources) or 'none'}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]


def observe(m, names: list[str] | None = None, mirror: str = "", today: str = "") -> Report:
    """Fetch, read and compare; raises UsageError (nothing fetched) for an unknown name or a mirror
    file that is missing, before anything is fetched."""
    from ..nixeval import run as nixrun

    chosen = choose(m, names)
    directory = fetch.mirror_dir(mirror) if mirror else None
    exe = shutil.which("nix-instantiate")
    if not exe:
        raise UsageError("`nix-instantiate` is not installed: `invoke observe` needs Nix (apt-get install nix-bin)")
    report = Report(today or datetime.datetime.now(datetime.UTC).date().isoformat())
    todo = []
    for t in chosen:
        if not t.tarball:
            why = "fetches submodules (a git checkout, no tarball): `invoke pin --source NAME` hashes it with nix-prefetch-git"
            report.skipped.append(f"{t.table}: {why}")
        elif directory and not (directory / Path(t.url).name).is_file() and names is None:
            report.skipped.append(f"{t.table}: not in the mirror (no {Path(t.url).name})")
        else:
            todo.append(t)
    if directory:  # a named target must be there: checked before any fetch
        for t in todo:
            fetch.mirror_file(directory, t)
    pins = [t.name for t in todo if t.kind == "pin"]
    found = factmod.collect(m, pins)
    env = nixrun.nix_env()
    for t in todo:
        got = fetch.prefetch(t, directory)
        report.fetched.append(got)
        if t.kind == "pin":
            mine = [f for f in found if f.pin == t.name]
            factmod.read(Path(got.store_path), mine, exe, env)
            report.facts += mine
    return report
