"""Where a value of variants.toml can end up, and the rule each of those places imposes.

Every string-valued key of the spec (``speckey.Key`` in ``spec.py``) and every table-entry name
(``speckey.Table.name_reaches``) declares the contexts it reaches. The loader applies
the rules of all of them, so a value that is fine for a Nix string but would break
a file name, a comment or a version comparison is refused when the file is loaded,
with the key, line and a fix, instead of breaking a recipe later.

Every grammar is applied with :func:`full` (``re.fullmatch``): ``$`` would accept a
trailing newline.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from packaging.version import InvalidVersion, Version

# The contexts. A key lists the ones its value reaches.
FILE = "file"  # part of a generated file name (.flox/pkgs/<variant>.nix), hence of a Flox attribute
ATTR = "attr"  # a Nix attribute name or attribute-path segment (rendered through nix.attr_name)
CODE = "code"  # Nix code, emitted as it is (an attribute path, a path literal)
STRING = "string"  # a double-quoted Nix string (rendered through nix.string)
INDENTED = "indented"  # a Nix indented string ('' … ''): meta.longDescription, build scripts
COMMENT = "comment"  # a `#` comment in a recipe
SHELL = "shell"  # a word in a build script (checked again by nix.shell_word)
VERSION = "version"  # compared as a version (packaging.version.Version)
DOCS = "docs"  # the generated Markdown (docs.cell escapes pipes and line breaks)
REF = "ref"  # only compared with the names of another table: it must equal one of them
YAML = "yaml"  # a scalar of the generated GitHub Actions workflow (JSON-quoted; reaches shell only through env:)
# Not of variants.toml: the builders file's values (builds/builders.py) reach nix.conf (NIX_CONFIG) as words.
NIXCONF = "nixconf"  # one word of a nix.conf setting: whitespace separates words and lines, '#' starts a comment

# Longest string any key accepts, longest version, longest part of a file name.
MAX_STRING = 1000
MAX_VERSION = 64
MAX_FILE_PART = 64

# Nix keywords are identifiers by shape but cannot be used as bare attribute names.
NIX_KEYWORDS = frozenset({"if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"})
# A Nix identifier as this project emits it bare (nixpkgs attribute names).
NIX_IDENT_RE = r"[A-Za-z_][A-Za-z0-9_'-]*"
# Characters inert in a shell word and in a Nix indented string (nix.shell_word uses the same).
SHELL_WORD_RE = r"[A-Za-z0-9_.,:+=/@%-]*"
# A release-style version: digits first, no whitespace, no epoch (it would need shell quoting).
VERSION_TEXT_RE = r"[0-9][0-9A-Za-z.+-]*"
# Characters of Nix code this project emits bare: attribute paths and relative path literals.
CODE_CHARS_RE = r"[A-Za-z0-9_./+'-]+"
# A file-name part before the derived tokens drop their dots.
FILE_PART_RE = r"[a-z0-9][a-z0-9._-]*"
# A word of a nix.conf value (the key's own grammar is full-matched after this one).
NIXCONF_WORD_RE = r"[^\s#;'\"`$\\]+"
# An attribute name nix.attr_name can emit bare or quote.
ATTR_PART_RE = r"[A-Za-z0-9_][A-Za-z0-9_'-]*"


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def full(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern`` as a whole (never a prefix, never "up to a final newline")."""
    return _compiled(pattern).fullmatch(text) is not None


# Unicode categories refused in free text: controls (line breaks, escapes), format
# characters (bidirectional overrides, zero-width), surrogates, line and paragraph separators.
_REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character", "Cs": "a surrogate",
                       "Zl": "a line separator", "Zp": "a paragraph separator"}  # fmt: skip


def text_problem(text: str) -> tuple[str, str] | None:
    """(message, fix) if ``text`` cannot be one line of free text, else None."""
    for ch in text:
        what = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if what:
            return (
                f"contains {what} (U+{ord(ch):04X})",
                "write it on one line, without control or invisible characters",
            )
    return None


def version_problem(text: str) -> tuple[str, str] | None:
    """(message, fix) if ``text`` is not a version packaging can parse, else None."""
    if len(text) > MAX_VERSION or not full(VERSION_TEXT_RE, text):
        return (f"{_show(text)} is not a version", 'write a release version such as "2.10.0" (digits first, no spaces)')
    try:
        Version(text)
    except (InvalidVersion, ValueError):
        return (
            f"{_show(text)} is not a valid version (PEP 440)",
            'write a release version such as "2.10.0" or "2.11.0.dev20251201"',
        )
    return None


@dataclass(frozen=True)
class Context:
    name: str
    doc: str
    grammar: str | None = None  # full-match pattern every value reaching it must meet
    grammar_doc: str = ""
    needs_own_grammar: bool = False  # the key must also declare its own pattern or enum
    no_keywords: bool = False
    free_text: bool = False  # the value is escaped there; it must still be one line of printable text
    version: bool = False


CONTEXTS: dict[str, Context] = {
    c.name: c
    for c in (
        Context(FILE, "part of a generated file name", FILE_PART_RE, "lower-case letters, digits, '.', '_' and '-'",
                needs_own_grammar=True),
        Context(ATTR, "a Nix attribute name", ATTR_PART_RE, "letters, digits, '_', \"'\" and '-'",
                needs_own_grammar=True),
        Context(CODE, "Nix code (emitted as it is)", CODE_CHARS_RE, "letters, digits and _ . / + ' -",
                needs_own_grammar=True, no_keywords=True),
        Context(STRING, "a Nix string (escaped)", free_text=True),
        Context(INDENTED, "a Nix indented string (escaped)", free_text=True),
        Context(COMMENT, "a comment in a recipe", free_text=True),
        Context(SHELL, "a word in a build script", SHELL_WORD_RE, "letters, digits and _ . , : + = / @ % -",
                needs_own_grammar=True),
        Context(VERSION, "a version comparison", version=True, needs_own_grammar=False),
        Context(DOCS, "the generated docs (escaped)", free_text=True),
        Context(REF, "a reference to another table's entry"),
        Context(YAML, "the generated GitHub Actions workflow", needs_own_grammar=True, free_text=True),
        Context(NIXCONF, "a nix.conf setting (NIX_CONFIG)", NIXCONF_WORD_RE,
                "characters other than whitespace, '#', ';', quotes, '`', '$' and '\\'", needs_own_grammar=True, free_text=True),
    )
}  # fmt: skip


def show(text: str) -> str:
    """``text`` quoted for a message, cut to 60 characters."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


_show = show


def problem(text: str, reaches: tuple[str, ...]) -> tuple[str, str] | None:
    """(message, fix) for the first rule of ``reaches`` that ``text`` breaks, else None."""
    if len(text) > MAX_STRING:
        return (f"is {len(text)} characters long (at most {MAX_STRING})", "shorten it")
    if "\x00" in text:
        return ("contains a NUL character", "remove it")
    if FILE in reaches and len(text) > MAX_FILE_PART:
        return (f"is {len(text)} characters long; part of a file name, it may have {MAX_FILE_PART}", "shorten it")
    for name in reaches:
        c = CONTEXTS[name]
        if c.grammar and not full(c.grammar, text):
            return (f"{_show(text)} cannot be used in {c.doc}", f"use only {c.grammar_doc}")
        if c.no_keywords and text in NIX_KEYWORDS:
            return (f"{text!r} is a Nix keyword", "use the package's attribute name")
        if c.version:
            found = version_problem(text)
            if found:
                return found
    if any(CONTEXTS[name].free_text for name in reaches):
        return text_problem(text)
    return None
