"""The loaded model: axis tables plus every expanded variant, and the queries commands ask of it.

:class:`Matrix` is what :func:`buildmatrix.model.load` returns. Its queries (``select``,
``resolve``, ``with_dependencies``, ``torch_variant``, the torch lines: ``torch_lines``,
``on_line``, ``line_alias``) read the variants, never the file; a name, alias or torch line
that names nothing raises UsageError with the closest spellings or the lines there are. The
alias rule is written once, :meth:`Matrix.aliases_of`; ``ci`` is the [ci] table's record.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .. import targets
from ..errors import ModelError, Problem, UsageError
from .ci import NO_CI_FIX, CiConfig
from .entries import Tables
from .variant import Variant, is_prerelease, line_token


@dataclass(frozen=True, kw_only=True)
class Matrix(Tables):
    """The loaded model: axis tables plus every expanded variant (in file order)."""

    path: Path
    variants: list[Variant]
    warnings: list[str] = field(default_factory=list)
    ci_config: CiConfig | None = None  # None: the file has no [ci] table

    @property
    def ci(self) -> CiConfig:
        """The [ci] table (checked at load); a file without one raises ModelError here: only the workflow needs it."""
        if self.ci_config is None:
            raise ModelError(self.path, [Problem(("ci",), "no [ci] table", NO_CI_FIX)])
        return self.ci_config

    @cached_property
    def by_name(self) -> dict[str, Variant]:
        return {v.name: v for v in self.variants}

    def variant(self, name: str) -> Variant:
        try:
            return self.by_name[name]
        except KeyError:
            raise UsageError(unknown_name_message(name, self.by_name)) from None

    def select(self, **filters: str | Iterable[str] | None) -> list[Variant]:
        """Variants whose fields match every non-empty filter (package, python, cuda, gpu, isa, target, name)."""
        out = self.variants
        for key, wanted in filters.items():
            if not wanted:
                continue
            values = {wanted} if isinstance(wanted, str) else set(wanted)
            out = [v for v in out if v.matches(key, values)]
        return out

    def filter_values(self, key: str) -> list[str]:
        """The values a filter on ``key`` can name, in file order: the entries of its axis table
        (package, python, cuda, gpu, isa), the targets, or the torch lines (``torch``)."""
        if key == "torch":
            return list(self.torch_lines)
        if key == "target":
            return list(targets.NAMES)
        return list(self.axis(key))

    def resolve(self, alias: str, torch: str | None = None) -> list[Variant]:
        """Variants an alias names: a full name, ``sm120-avx`` (defaults) or ``cuda13_1-sm120-avx``.

        ``torch`` ("2.9") names another torch line: its token is appended first (:meth:`line_alias`),
        so ``resolve("sm120-avx", "2.9")`` is ``resolve("sm120-avx-torch2_9")``. An alias the
        defaults lack but exactly one other CUDA version has (``sm70-avx2`` built only with
        CUDA 12.9) names that one; several raise, listing the spellings."""
        alias = self.line_alias(alias, torch)
        if alias in self.by_name:
            return [self.by_name[alias]]
        found = [v for v in self.variants if alias in self.aliases_of(v)]
        if not found:
            same = [v for v in self.variants if v.short == alias]
            usual = [v for v in same if v.python.version == self.defaults.python and v.package.name in self.defaults.packages]
            if same and not usual:  # only at other Pythons (sm70 on the 2.9 line: 3.11, 3.12): the full names
                names = sorted(v.name for v in same)
                raise UsageError(
                    f"{alias!r} is built only for Python {', '.join(sorted({v.python.version for v in same}))}, "
                    f"not the default {self.defaults.python}; name a variant: {', '.join(names[:8])}"
                    + (f" … (+{len(names) - 8})" if len(names) > 8 else "")
                )
            elsewhere = sorted({v.cuda_alias for v in usual if v.cuda})
            elsewhere += sorted({v.name for v in same if not v.cuda})
            if len(elsewhere) == 1 and elsewhere[0] != alias:  # one CUDA version only (sm70-avx2 on 12.9): that one
                return self.resolve(elsewhere[0])
            if elsewhere:
                raise UsageError(
                    f"{alias!r} does not exist at the defaults (Python {self.defaults.python}, CUDA {self.defaults.cuda}); "
                    f"it does as: {', '.join(elsewhere)}"
                )
            known = {v.short for v in self.variants} | set(self.by_name)
            raise UsageError(unknown_name_message(alias, known))
        return found

    def aliases_of(self, v: Variant) -> tuple[str, ...]:
        """The aliases that name ``v``, the one sessions and jobs are named by first: the alias rule.

        None for a variant off the defaults' Python and packages; ``sm120-avx`` (its short name)
        at the default CUDA and for CPU/MPS builds, where ``cuda13_0-sm120-avx`` names it too;
        ``<cuda token>-<short>`` (``cuda12_9-sm103-avx2``) at any other CUDA."""
        if v.python.version != self.defaults.python or v.package.name not in self.defaults.packages:
            return ()
        if v.cuda is None:
            return (v.short,)
        spelled = v.cuda_alias
        return (v.short, spelled) if v.cuda.version == self.defaults.cuda else (spelled,)

    @cached_property
    def alias_groups(self) -> dict[str, tuple[Variant, ...]]:
        """Every alias (the first of :meth:`aliases_of`) and the variants it names, in file order.

        An alias naming two variants of one package (cannot happen with names derived from
        the model, checked anyway) is left out: ambiguous."""
        groups: dict[str, list[Variant]] = {}
        for v in self.variants:
            names = self.aliases_of(v)
            if names:
                groups.setdefault(names[0], []).append(v)
        return {k: tuple(vs) for k, vs in groups.items() if len({v.package.name for v in vs}) == len(vs)}

    def with_dependencies(self, names: Iterable[str] | None) -> list[Variant]:
        """The variants ``names`` (names or aliases) resolve to plus the torch variants they import, in file order; all when None."""
        if names is None:
            return list(self.variants)
        wanted: set[str] = set()
        for n in names:
            for v in self.resolve(n):
                wanted.update({v.name, self.torch_variant(v).name})
        return [v for v in self.variants if v.name in wanted]

    @cached_property
    def torch_lines(self) -> dict[str, list[Variant]]:
        """Every torch release line the variants build ("2.9", "2.10", the nightly's "2.11"), oldest first."""
        lines: dict[str, list[Variant]] = {}
        for v in self.variants:
            if v.torch_line:
                lines.setdefault(v.torch_line, []).append(v)
        return dict(sorted(lines.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("."))))

    def describe_lines(self) -> str:
        """``2.8, 2.9, 2.10 (default), 2.11 (pre-release: nightly)``: the lines, as messages list them."""
        out = []
        for line, vs in self.torch_lines.items():
            notes = ["default"] if line == self.defaults.torch else []
            if all(is_prerelease(v.torch_version) for v in vs):
                notes.append("pre-release: " + ", ".join(sorted({v.suffix for v in vs if v.suffix}) or ["no suffix"]))
            out.append(line + (f" ({'; '.join(notes)})" if notes else ""))
        return ", ".join(out)

    def on_line(self, line: str, variants: Iterable[Variant] | None = None) -> list[Variant]:
        """The ``variants`` (default: all) whose torch is of release line ``line`` ("2.9"); an unknown line raises."""
        line = line.strip()
        if line not in self.torch_lines:
            raise UsageError(f"no torch line {line!r} in {self.path.name}; the lines are: {self.describe_lines()}")
        return [v for v in (self.variants if variants is None else variants) if v.torch_line == line]

    def line_alias(self, alias: str, line: str | None) -> str:
        """``alias`` spelled for torch line ``line``: ``sm120-avx`` + ``2.9`` -> ``sm120-avx-torch2_9``.

        The default line (and a file without one) adds nothing; so ``--torch 2.9`` and the
        token are two spellings of one alias. A line whose torch is a pre-release has no token
        (its block suffix names it): asking for it raises, naming its aliases."""
        if not line:
            return alias
        vs = self.on_line(line)
        if all(is_prerelease(v.torch_version) for v in vs):
            shorts = ", ".join(sorted({v.short for v in vs})[:6])
            raise UsageError(
                f"torch line {line} is a pre-release ({vs[0].torch_version}): its names carry their block's suffix, "
                f"not a line token; name one of: {shorts}"
            )
        token = line_token(f"{line}.0", self.defaults.torch)
        return f"{alias}-{token}" if token else alias

    def torch_variant(self, v: Variant) -> Variant:
        """The variant that provides ``v``'s torch (``v`` itself for pytorch)."""
        return self.by_name[v.requires] if v.requires else v


def unknown_name_message(name: str, known: Iterable[str]) -> str:
    """The message for a name the matrix lacks: "no variant named …; closest: …"."""
    close = difflib.get_close_matches(name, sorted(known), n=5, cutoff=0.5)
    hint = ("; closest: " + ", ".join(close)) if close else ""
    return f"no variant named {name!r}{hint} (see `invoke list`)"
