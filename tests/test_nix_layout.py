"""Generated Nix keeps nixpkgs' layout: a comment is indented like the code it describes.

nixfmt is not installable from the registries this project reaches, so this checks
the one layout rule a template edit most easily breaks: a `#` comment line starts at
the indentation of the next code line (or of the closing line it precedes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from buildmatrix import model
from buildmatrix.recipes import render_all

ROOT = Path(__file__).resolve().parent.parent


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def misplaced_comments(text: str) -> list[str]:
    """Comment lines whose indentation differs from the next non-comment, non-blank line."""
    lines = text.split("\n")
    out = []
    in_string = False
    for i, line in enumerate(lines):
        # Inside an indented string (''...'') `#` is shell text, not a Nix comment.
        if line.count("''") % 2 == 1:
            in_string = not in_string
            continue
        stripped = line.strip()
        if in_string or not stripped.startswith("#") or i < 2:
            continue
        nxt = next((n for n in lines[i + 1 :] if n.strip() and not n.strip().startswith("#")), None)
        if nxt is None:
            continue
        want = _indent(nxt)
        if nxt.strip()[:1] in ")]}":
            want += 2
        if _indent(line) != want:
            out.append(f"line {i + 1}: {line!r} (next code line {nxt!r})")
    return out


def test_the_checker_finds_a_misplaced_comment():
    text = "# generated\n# header\n{\n  a = {\n      # too deep\n    b = 1;\n  };\n}\n"
    assert misplaced_comments(text) == ["line 5: '      # too deep' (next code line '    b = 1;')"]
    assert misplaced_comments(text.replace("      # too", "    # too")) == []


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all(model.load(ROOT / "variants.toml"))


def test_every_recipe_comment_is_indented_like_its_code(rendered):
    bad = {name: found for name, text in rendered.items() if (found := misplaced_comments(text))}
    assert not bad, "\n".join(f"{n}: {f[0]}" for n, f in sorted(bad.items())[:10])
