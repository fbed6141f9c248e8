"""The record types variants.toml's shape is declared in: ``Key`` (one key) and ``Table``.

``spec.py`` declares every table with them; ``speccheck.py`` checks a file against that
declaration and ``schema.py`` emits it as JSON schema. Declaring is checked at import:
a key that holds strings must say, in ``reaches``, every context its value ends up in
(reach.CONTEXTS), and a context that needs a grammar must get a ``pattern`` or ``enum``;
a declaration that breaks this raises TypeError naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import reach

# Integers are 64-bit signed at most (TOML's own range, and what JSON tools keep exact).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

STRING_KINDS = ("str", "strlist", "strmap", "strOrList")


@dataclass(frozen=True)
class Key:
    """One key of a table.

    A key holding strings must say, in ``reaches``, every context its value can end
    up in (reach.CONTEXTS); the checker applies each context's rule on top of
    ``pattern`` and ``enum``. Declaring a string key without ``reaches`` fails at import.
    """

    kind: str  # str, int, bool, strlist, strmap, table, tablemap, tablelist, strOrList
    doc: str
    required: bool = False
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    table: str | None = None  # for table / tablemap / tablelist: the name of the nested spec
    reaches: tuple[str, ...] = ()
    key_pattern: str | None = None  # strmap: the grammar of its names
    key_reaches: tuple[str, ...] = ()  # strmap: where its names end up
    key_doc: str = "name"  # strmap: what its names are, for messages
    minimum: int = INT_MIN  # int
    maximum: int = INT_MAX  # int

    def __post_init__(self) -> None:
        _check_declaration(self.doc, self.kind in STRING_KINDS, self.reaches, self.pattern or self.enum)
        if self.kind == "strmap":
            _check_declaration(self.doc + " (names)", True, self.key_reaches, self.key_pattern)


@dataclass(frozen=True)
class Table:
    doc: str
    keys: dict[str, Key] = field(default_factory=dict)
    key_pattern: str | None = None  # for tablemap entries: pattern of the entry names
    name_reaches: tuple[str, ...] = ()  # for tablemap entries: where the entry names end up

    def __post_init__(self) -> None:
        _check_declaration(self.doc + " (entry names)", self.key_pattern is not None, self.name_reaches, self.key_pattern)


def _check_declaration(what: str, holds_strings: bool, reaches: tuple, grammar) -> None:
    """A string must say where it goes; a context that needs a grammar must get one."""
    if not holds_strings:
        return
    if not reaches:
        raise TypeError(f"spec: {what!r} holds strings but does not declare reaches=(...)")
    for name in reaches:
        context = reach.CONTEXTS.get(name)
        if context is None:
            raise TypeError(f"spec: {what!r} reaches unknown context {name!r}")
        if context.needs_own_grammar and not grammar:
            raise TypeError(f"spec: {what!r} reaches {name} and must declare a pattern or enum")
