"""Generated Nix keeps nixpkgs' layout: a comment is indented like the code it describes.

nixfmt is not installable from the registries this project reaches, so this checks the
layout rules a template edit most easily breaks: a `#` comment line starts at the
indentation of the next code line (or of the closing line it precedes); no line of a
generated recipe, the jobset or the helper file passes 100 columns; the helpers live once,
in a git-tracked file outside .flox/pkgs that every recipe imports.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from buildmatrix import model, recipes
from buildmatrix.builds import flox as floxrun
from buildmatrix.recipes import layout, render_all
from conftest import require_tool

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


# ------------------------------------------------------------ line width and the helper file

WIDTH = 100  # tests/test_layout.py holds every generated Nix file on disk to it


def test_rendered_recipes_fit_too(rendered):
    """The renderer itself, not only the files on disk (a stale checkout would hide a regression)."""
    bad = [f"{n}:{i}" for n, t in rendered.items() for i, ln in enumerate(t.split("\n"), 1) if len(ln) > WIDTH]
    assert not bad, bad[:20]


def test_the_helper_file_is_tracked_outside_flox_pkgs_and_imported_by_every_recipe(rendered):
    lib = recipes.LIB_FILE
    assert recipes.PKGS_DIR not in lib.parents, "every .nix in .flox/pkgs is a Flox package"
    assert floxrun.LIB_FILE == lib  # what flox preflight wants tracked
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(lib)], cwd=ROOT, capture_output=True, text=True)
    assert tracked.returncode == 0, f"{lib} is not tracked by git: Flox builds only from the git tree"
    assert recipes.is_generated(ROOT / lib)
    # the relative import resolves from .flox/pkgs to the file
    assert (ROOT / recipes.PKGS_DIR / recipes.LIB_IMPORT).resolve() == (ROOT / lib).resolve()
    line = f"import {recipes.LIB_IMPORT};"
    missing = [n for n, t in rendered.items() if line not in t]
    assert not missing, f"{len(missing)} recipe(s) do not import {recipes.LIB_IMPORT}: {missing[:5]}"
    on_disk = [p.name for p in (ROOT / recipes.PKGS_DIR).glob("*.nix") if recipes.is_generated(p) and line not in p.read_text()]
    assert not on_disk, on_disk[:5]
    # the helpers are defined there once, not copied into recipes
    assert not [n for n, t in rendered.items() if "patchName =" in t or "assertMsg" in t]


def test_the_helper_file_evaluates():
    require_tool("nix-instantiate")
    expr = (
        f"let l = import {ROOT / recipes.LIB_FILE}; in [ (l.patchName /x/nvtx3-hpp-path-fix.patch) "
        '(l.patchName { name = "00000000000000000000000000000000-a.patch"; }) ]'
    )
    proc = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '["nvtx3-hpp-path-fix.patch","a.patch"]'


def test_comments_wrap_evenly_and_keep_commands_whole():
    text = "no public flake.lock or prefetch records this rev's narHash (docs/pins.md#x: NOT FOUND)"
    lines = layout.wrap(text, 80)
    assert len(lines) == 2 and min(len(ln) for ln in lines) > 20  # no one-word last line
    cmd = "record it with `invoke pin nixpkgs-6a030d5 --hash <printed hash>`, then build again."
    assert any("`invoke pin nixpkgs-6a030d5 --hash <printed hash>`" in ln for ln in layout.wrap(cmd, 40))
    s = "x" * 150
    lines = layout.binding("url", s, "  ").split("\n")
    assert lines[0] == "  url =" and all(len(ln) <= WIDTH for ln in lines)
    assert "".join(ln.strip().lstrip("+ ").strip('";') for ln in lines[1:]) == s
