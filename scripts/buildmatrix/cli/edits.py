"""``invoke add``, ``invoke remove`` and ``invoke pin``: edits of variants.toml (validated before saving).

The edits themselves are :mod:`buildmatrix.edit`'s (imported when a command runs: ``invoke``
starts without tomlkit); this module prints what they did.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EXIT_OK, UsageError
from . import common as cli


def _print_edit(result) -> int:
    for n in result.added:
        print(f"added     {n}")
    for n in result.removed:
        print(f"removed   {n}")
    if result.message:
        print(result.message)
    print(f"variants.toml: {len(result.added)} added, {len(result.removed)} removed; run `invoke gen` and `invoke docs`")
    return EXIT_OK


@cli.guarded
def cmd_add(file: str, alias: str, block: str, cuda: str, python: str, packages: str, pin: str, torch: str, suffix: str) -> int:
    """``invoke add ALIAS``: new variants (or a block's lists extended)."""
    from .. import edit

    pkgs = cli.split_names(packages)
    return _print_edit(
        edit.add(Path(file), alias, block=block, cuda=cuda, python=python, packages=pkgs, pin=pin, torch=torch, suffix=suffix)
    )


@cli.guarded
def cmd_remove(file: str, names: str) -> int:
    """``invoke remove NAMES``: drops emptied blocks, else adds excludes."""
    from .. import edit

    chosen = cli.split_names(names)
    if not chosen:
        raise UsageError("name the variants or aliases to remove")
    return _print_edit(edit.remove(Path(file), chosen))


@cli.guarded
def cmd_pin(file: str, name: str, rev: str, source: bool, hash: str = "") -> int:
    """``invoke pin NAME``: a pin's (or with ``source`` a torch source's) hash filled or bumped."""
    from .. import edit

    result = edit.pin_source(Path(file), name, rev, hash) if source else edit.pin(Path(file), name, rev, hash)
    return _print_edit(result)
