"""The pins' and sources' hashes as the model validates them: provenance, decided nixpkgs patches, unverified fetches.

variants.toml states beliefs about each pinned nixpkgs tree. This module holds what loading
checks about them (:func:`check`: every hash has a stated provenance or is declared unverified,
every nixpkgs patch a pin lists is decided) and which variants fetch something unverified. What a
recipe decides from those beliefs, and the assertions it makes about its pin at evaluation, are
in :mod:`buildmatrix.recipes.pinfacts`.

Nothing here writes to disk; ``model`` calls :func:`check` while loading (the per-variant pin
rules, such as ``pin-torch-patches``, are in :mod:`buildmatrix.model.rules`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..spec import shape as spec

if TYPE_CHECKING:  # pragma: no cover
    from .entries import Pin, Source
    from .matrix import Matrix

# The fake hash nixpkgs' fetchers use for an empty one (lib.fakeHash): the fetch fails and prints the real hash.
FAKE_HASH = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


Problem = Callable[..., None]


def _check_provenance(where: tuple, hash_key: str, value: str, table: dict, fix: str, problem: Problem) -> None:
    if value:
        if not table.get("hash_source"):
            problem(
                (*where, "hash_source"),
                f"`{hash_key}` is set but nothing says where it comes from",
                'add `hash_source = "..."` naming the public source or the `invoke pin` run that computed it',
            )
        if table.get("unverified"):
            problem(
                (*where, "unverified"),
                f"`{hash_key}` is recorded, so it cannot also be declared unverified",
                "remove `unverified` (or empty the hash if it is not trustworthy)",
            )
    else:
        if not table.get("unverified"):
            problem(
                (*where, hash_key),
                f"`{hash_key}` is empty and the entry is not declared unverified",
                f'fill it ({fix}) or add `unverified = "<why no trustworthy hash exists>"`',
            )
        if table.get("hash_source"):
            problem(
                (*where, "hash_source"), f"`hash_source` names a source for an empty `{hash_key}`", "remove it or fill the hash"
            )


def check(raw: dict, pins: dict, sources: dict, patches: dict, nixpkgs_patches: dict, problem: Problem) -> None:
    """Provenance of every hash; every nixpkgs patch a pin lists is decided; carried fixes are nameable."""
    for n, e in raw["pin"].items():
        _check_provenance(("pin", n), "sha256", e["sha256"], e, f"`invoke pin {n}`", problem)
        for package in spec.SOURCE_PACKAGES:
            key = f"{package}_patches"
            for i, name in enumerate(e.get(key, [])):
                decided = nixpkgs_patches.get(name)
                if decided is None:
                    problem(
                        ("pin", n, key, i),
                        f"nixpkgs patch {name!r} is listed for this pin but not decided",
                        f'add [nixpkgs_patch."{name}"] with package = "{package}", when, keep_on, reason and source',
                    )
                elif decided.package != package:
                    problem(
                        ("pin", n, key, i),
                        f'[nixpkgs_patch."{name}"] is a {decided.package} patch, listed here as a {package} one',
                        "fix its `package` or move the name to the other list",
                    )
        for i, carried in enumerate(e.get("carries", [])):
            if carried in patches and not patches[carried].nixpkgs_name:
                problem(
                    ("pin", n, "carries", i),
                    f"patch {carried!r} has no `nixpkgs_name`, so the recipes cannot check that this pin carries it",
                    f'add `nixpkgs_name = "<file name>"` to [patch.{carried}] (the name of the fix among nixpkgs\' own patches)',
                )
    for n, e in raw.get("source", {}).items():
        _check_provenance(("source", n), "hash", e["hash"], e, f"`invoke pin --source {n}`", problem)
        wants = "fetchFromGitHub+submodules" if e["fetch_submodules"] else "fetchFromGitHub"
        if e["fetcher"] != wants:
            problem(
                ("source", n, "fetcher"),
                f"fetcher = {e['fetcher']!r} disagrees with fetch_submodules = {str(e['fetch_submodules']).lower()}",
                f'a hash is valid for one fetch only: use fetcher = "{wants}" or change fetch_submodules (and re-pin the hash)',
            )


def unverified(m: Matrix) -> dict[str, list[str]]:
    """Variant name -> the unverified pins / sources its build fetches (with its torch's), in file order."""
    out: dict[str, list[str]] = {}
    for v in m.variants:
        t = m.torch_variant(v) if v.requires else v
        why = []
        if not v.pin.sha256:
            why.append(f"pin {v.pin.name}")
        if t.source and not t.source.hash:
            why.append(f"source {t.source.name}")
        if v.companion_source and not v.companion_source.hash:
            why.append(f"source {v.companion_source.name}")
        if why:
            out[v.name] = why
    return out


def fill_command(what: str) -> str:
    kind, name = what.split(" ", 1)
    return f"invoke pin {name}" if kind == "pin" else f"invoke pin --source {name}"


def unverified_groups(m: Matrix) -> list[tuple[tuple[str, ...], list[str]]]:
    """(unverified things, variants) groups: every affected variant in exactly one group."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, why in unverified(m).items():
        groups.setdefault(tuple(why), []).append(name)
    return sorted(groups.items())


UNVERIFIED_DOCS = "docs/BUILD_MATRIX.md#unverified-fetches"


def unverified_line(m: Matrix, names: Iterable[str] | None = None) -> str:
    """The one line a command that builds or publishes ``names`` (None: every variant) prints, or "" if none
    fetches anything unverified: how many do, what, and the command that records the hash.

    Queries print nothing; `invoke gen --json` lists every affected variant (:func:`unverified`)."""
    affected = unverified(m)
    if names is not None:
        wanted = set(names)
        affected = {n: why for n, why in affected.items() if n in wanted}
    if not affected:
        return ""
    things = sorted({w for why in affected.values() for w in why})
    what = "unverified " + " and ".join(things) if len(things) <= 2 else f"an unverified pin or source ({len(things)} in all)"
    return (
        f"{len(affected)} variant(s) fetch {what}: record the hash first with "
        f"{' / '.join(f'`{c}`' for c in first_contact_commands(things))} "
        f"(else the first build stops at that fetch; see {UNVERIFIED_DOCS})"
    )


def first_contact_commands(things: Iterable[str]) -> list[str]:
    """The commands that record the hashes of ``things`` ("pin NAME", "source NAME"): `invoke observe` fetches
    pins as the recipes do and checks their facts; a source (a checkout with submodules) is `invoke pin --source`."""
    things = sorted(set(things))
    pins = [w.split(" ", 1)[1] for w in things if w.startswith("pin ")]
    if len(pins) == len(things):
        return ["invoke observe --write" if len(pins) > 2 else f"invoke observe {' '.join(pins)} --write"]
    if len(things) == 1:
        return [fill_command(things[0])]
    return ["invoke observe --write", "invoke pin --source NAME"]


def unverified_report(m: Matrix, limit: int | None = 3) -> list[str]:
    """What `invoke gen` prints: each group of variants by what it fetches unverified, with its fill command.

    A group names its first ``limit`` variants and counts the rest (``None``: every affected
    variant, each once); `invoke gen --json` carries the full lists (:func:`unverified`).
    """
    groups = unverified_groups(m)
    if not groups:
        return []
    total = sum(len(names) for _, names in groups)
    lines = [
        f"unverified: {total} variant(s) fetch a pin or source without a trustworthy hash; their recipes carry a fake "
        "hash, so the first real build stops at that fetch and prints the real one (record it with the command, "
        "adding `--hash <printed hash>`):"
    ]
    for why, names in groups:
        cmds = "; ".join(f"`{fill_command(w)}`" for w in why)
        shown = names if limit is None else names[:limit]
        more = f", … and {len(names) - len(shown)} more" if len(shown) < len(names) else ""
        lines.append(f"  {' + '.join(why)} ({len(names)}, fill with {cmds}): {', '.join(shown)}{more}")
    return lines


def fetch_hash(value: str) -> str:
    """What a recipe writes for a hash: the recorded one, else the fake one (the first fetch prints the real)."""
    return value or FAKE_HASH


def source_is_unverified(s: Source | None) -> bool:
    return bool(s) and not s.hash


def pin_is_unverified(p: Pin) -> bool:
    return not p.sha256
