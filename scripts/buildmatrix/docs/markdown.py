"""Markdown building blocks for generated regions: table cells, literal text, code spans, tables, anchors."""

from __future__ import annotations

import re


def cell(text: object) -> str:
    """A table cell: pipes escaped (GitHub needs that even inside code spans), no line breaks."""
    return str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|").strip()


def plain(text: str) -> str:
    """Free text from outside the model (ledger records) shown literally: no HTML, links or emphasis."""
    text = re.sub(r"([\\`*_\[\]<>#~])", r"\\\1", text.replace("\r", " ").replace("\n", " "))
    return text.strip() or "—"


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
