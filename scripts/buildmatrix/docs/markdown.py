"""Markdown building blocks for generated regions: table cells, literal text, code spans, tables, anchors."""

from __future__ import annotations

import re


def cell(text: object) -> str:
    """A table cell: pipes escaped (GitHub needs that even inside code spans), no line breaks."""
    return str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|").strip()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MARKDOWN = re.compile(r"([\\`*_\[\]#~!])")
_SAFE_CODE = re.compile(r"[\w.+:/@ -]+")


def plain(text: object) -> str:
    """Free text from outside the model (ledger records) shown literally: no HTML, links, emphasis or headings.

    ``& < >`` become entities (so no tag, comment or region marker can form in the file, not even a
    backslash-escaped one), Markdown punctuation is backslash-escaped, line breaks and other control
    characters become spaces (nothing can start a line of its own)."""
    text = _CONTROL.sub(" ", str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text).strip() or "—"


def literal(text: object) -> str:
    """A name from outside the model (a ledger record's variant or revision): a code span when it is made of
    name characters only, else :func:`plain` text (a code span shows ``&lt;`` as it is, so it cannot hold one)."""
    text = str(text)
    return code(text) if _SAFE_CODE.fullmatch(text) else plain(text)


def code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (rendered text: lower case, punctuation dropped, spaces → hyphens)."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")
