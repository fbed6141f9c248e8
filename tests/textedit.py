"""Checked text edits for tests: an edit whose target text has drifted fails instead of testing nothing."""

from __future__ import annotations


def mutate(text: str, old: str, new: str, count: int | None = 1) -> str:
    """``text`` with ``old`` replaced by ``new``; ``old`` must occur exactly ``count`` times (None: at least once)."""
    found = text.count(old)
    if count is None:
        assert found, f"{old!r} does not occur in the text"
    else:
        assert found == count, f"{old!r} occurs {found} time(s) in the text, expected {count}"
    return text.replace(old, new)
