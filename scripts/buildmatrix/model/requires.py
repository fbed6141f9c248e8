"""The `requires` relation between packages: who builds torch, who reuses it.

A package either builds torch itself (no ``requires``) or reuses the torch of one
package that does. So ``requires`` must name a package without ``requires`` of its
own; a cycle (pytorch requires torchvision, torchvision requires pytorch) is reported
as a cycle, naming every package in it, and the fix says which one to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class _Package(Protocol):
    name: str
    attr: str
    requires: str | None


def _cycle_from(start: str, packages: Mapping[str, _Package]) -> list[str] | None:
    seen: list[str] = []
    name: str | None = start
    while name is not None and name in packages:
        if name in seen:
            return seen[seen.index(name) :]
        seen.append(name)
        name = packages[name].requires
    return None


def problems(packages: Mapping[str, _Package]) -> list[tuple[tuple, str, str]]:
    """(key path, message, fix) for every cycle and every chain in ``requires``."""
    out: list[tuple[tuple, str, str]] = []
    reported: set[frozenset] = set()
    for name in packages:
        cycle = _cycle_from(name, packages)
        if cycle is None:
            continue
        members = frozenset(cycle)
        if members in reported:
            continue
        reported.add(members)
        # Rotate so the cycle starts at its first package in file order: a stable message.
        first = min(cycle, key=list(packages).index)
        i = cycle.index(first)
        cycle = cycle[i:] + cycle[:i]
        builder = next((p for p in cycle if packages[p].attr == "torch"), cycle[0])
        shown = " → ".join([*cycle, cycle[0]])
        out.append(
            (
                ("package", builder, "requires"),
                f"`requires` forms a cycle: {shown}",
                f"remove `requires` from [package.{builder}]: one package must build torch itself",
            )
        )
    in_cycle = set().union(*reported) if reported else set()
    for name, p in packages.items():
        if name in in_cycle or not p.requires or p.requires not in packages:
            continue
        base = packages[p.requires]
        if base.requires is not None:
            out.append(
                (
                    ("package", name, "requires"),
                    f"{name} requires {base.name}, which itself requires {base.requires}",
                    f'name the package that builds torch: requires = "{base.requires}"'
                    if packages.get(base.requires) is not None and packages[base.requires].requires is None
                    else "`requires` must name a package without `requires` of its own",
                )
            )
    return out
