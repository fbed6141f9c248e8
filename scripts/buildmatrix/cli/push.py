"""``invoke push [NAMES] --to URI``: built results copied to a binary cache (:mod:`buildmatrix.publish.push`)."""

from __future__ import annotations

from pathlib import Path

from . import common as cli


@cli.guarded
def cmd_push(root: str | Path, file: str | Path, names: str, to: str, dry_run: bool = False) -> int:
    """``invoke push``: exit 0 pushed, 1 ``nix copy`` failed, 2 bad input (message on stderr)."""
    from ..publish import push

    m, root = cli.load(file), Path(root)
    chosen = cli.split_names(names) or []
    picked = [v.name for n in chosen for v in m.resolve(n)] or [v.name for v in m.variants if (root / f"result-{v.name}").is_symlink()]
    cli.say_unverified(m, picked)  # the one line about unverified fetches of what is pushed
    return push.push(root, m, chosen, to, dry_run=dry_run)
