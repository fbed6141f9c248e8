"""``invoke push [NAMES] --to URI``: built results copied to a binary cache (:mod:`buildmatrix.publish.push`)."""

from __future__ import annotations

from pathlib import Path

from . import common as cli


@cli.guarded
def cmd_push(root: str | Path, file: str | Path, names: str, to: str, dry_run: bool = False) -> int:
    """``invoke push``: exit 0 pushed, 1 ``nix copy`` failed, 2 bad input (message on stderr)."""
    from ..publish import push

    return push.push(Path(root), cli.load(file), cli.split_names(names) or [], to, dry_run=dry_run)
