"""Property: whatever string a maintainer writes into any string field, bad input never reaches a recipe.

Driven by the spec, not by a hand list: the fields are every string-valued key (and
every table-entry name, and every name of a string table) that ``spec.SPECS``
declares, found in (or added to) a valid variants.toml, the shipped one. Each example
writes one arbitrary Unicode string into one field and loads. Exactly one of two
outcomes is allowed:

- a ModelError that names the file, and a key (with its line) for each problem; or
- gen succeeds, every emitted file name matches ``^[a-z0-9][a-z0-9_-]*\\.nix$``, every
  recipe passes ``nix-instantiate --parse``, and a free-text value evaluates back
  unchanged in ``meta`` (Nix evaluates a recipe that shows it, on the stand-in nixpkgs).

Any other exception (a traceback, or render's second line of defence firing) fails.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import tomlkit
from buildmatrix import model, recipes
from buildmatrix.errors import EXIT_BAD_INPUT, EXIT_OK, ModelError
from buildmatrix.nixeval import run as nixrun
from buildmatrix.spec import keys as speckey
from buildmatrix.spec import reach
from buildmatrix.spec import shape as spec
from conftest import ROOT, require_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.nix")
FREE_TEXT = (reach.STRING, reach.INDENTED)


def _fields() -> list[tuple[str, str, str, tuple]]:
    """(spec table, key, how, path) for every string field of the shipped file, present or addable.

    ``how`` is ``value`` (set the string at path), ``name`` (rename the table entry or
    string-table name at path). Optional keys a table lacks are added to its first instance.
    """
    raw = tomlkit.parse((ROOT / "variants.toml").read_text(encoding="utf-8")).unwrap()
    out: list[tuple[str, str, str, tuple]] = []
    seen: set[str] = set()

    def walk(data: dict, table: str, path: tuple) -> None:
        first = table not in seen  # optional keys are added to the first instance of each table
        seen.add(table)
        for key, k in spec.SPECS[table].keys.items():
            p = (*path, key)
            present = key in data
            if k.kind == "table" and present:
                walk(data[key], k.table, p)
            elif k.kind == "tablemap":
                for name, entry in data.get(key, {}).items():
                    out.append((k.table, "<name>", "name", (*p, name)))
                    walk(entry, k.table, (*p, name))
            elif k.kind == "tablelist":
                for i, entry in enumerate(data.get(key, [])):
                    walk(entry, k.table, (*p, i))
            elif k.kind in ("str", "strOrList"):
                if present or first:
                    out.append((table, key, "value", p))
            elif k.kind == "strlist":
                if present and data[key]:
                    out.extend((table, key, "value", (*p, i)) for i in range(len(data[key])))
                elif present or first:  # an empty list gets a first element
                    out.append((table, key, "value", (*p, 0)))
            elif k.kind == "strmap":
                for name in data.get(key, {}) if present else ["NEW_NAME"] if first else []:
                    out.append((table, key, "value", (*p, name)))
                    if present:
                        out.append((table, key + ".<name>", "name", (*p, name)))

    walk(raw, "root", ())
    return out


FIELDS = _fields()
RAW = tomlkit.parse((ROOT / "variants.toml").read_text(encoding="utf-8")).unwrap()
# Sample a declared field first, then one of its places: every field gets the same chance.
BY_FIELD: dict[tuple[str, str], list] = {}
for _f in FIELDS:
    BY_FIELD.setdefault((_f[0], _f[1]), []).append(_f)


def _container(doc, path: tuple):
    node = doc
    for part in path[:-1]:
        if isinstance(part, int) or part in node:
            node = node[part]
        else:
            node[part] = tomlkit.table() if not isinstance(path[-1], int) else tomlkit.array()
            node = node[part]
    return node


def _write(doc, how: str, path: tuple, text: str):
    holder = _container(doc, path)
    last = path[-1]
    if how == "name":
        value = holder[last]
        del holder[last]
        holder[text] = value
    elif isinstance(last, int):
        if last < len(holder):
            holder[last] = text
        else:
            holder.append(text)
    else:
        holder[last] = text


def _original(how: str, path: tuple) -> str:
    if how == "name":
        return str(path[-1])
    node = RAW
    try:
        for part in path:
            node = node[part]
    except (KeyError, IndexError, TypeError):
        return ""
    return node if isinstance(node, str) else ""


NASTY = st.sampled_from(["\n", "\r", "${x}", "''", "'", '"', "\\", "#", " ", "\t", "\x00", "é", "\u202e", "$", ";", "`", "\x1b"])


@st.composite
def _case(draw):
    field = draw(st.sampled_from(sorted(BY_FIELD)))
    table, key, how, path = draw(st.sampled_from(BY_FIELD[field]))
    original = _original(how, path)
    text = draw(
        st.one_of(
            st.text(max_size=30),  # arbitrary Unicode
            st.builds(lambda a, b: a + b, st.just(original), st.one_of(NASTY, st.text(max_size=3))),
            st.builds(lambda a, b, c: a + b + c, st.text(max_size=5), NASTY, st.text(max_size=5)),
        )
    )
    return table, key, how, path, text


@pytest.fixture(scope="module")
def workdir():
    """A scratch root whose .flox/pkgs holds the shipped recipes: each example's gen rewrites only what changed."""
    d = Path(tempfile.mkdtemp(prefix="buildmatrix-property-"))
    shutil.copytree(ROOT / "patches", d / "patches")
    shutil.copytree(ROOT / recipes.PKGS_DIR, d / recipes.PKGS_DIR)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _eval_meta(tool: str, recipe: Path, standin_dir: Path) -> dict:
    expr = f"(import {nixrun.nix_path(recipe)} {{ buildmatrixNixpkgs = {nixrun.nix_path(standin_dir)}; }}).meta"
    expr = f"let m = {expr}; in {{ inherit (m) description longDescription; }}"
    proc = subprocess.run([tool, "--eval", "--strict", "--json", "--expr", expr], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _check(workdir: Path, table: str, key: str, how: str, path: tuple, text: str) -> str:
    tool = require_tool("nix-instantiate")
    doc = tomlkit.parse((ROOT / "variants.toml").read_text(encoding="utf-8"))
    _write(doc, how, path, text)
    f = workdir / "variants.toml"
    f.write_text(tomlkit.dumps(doc), encoding="utf-8")
    out = workdir / recipes.PKGS_DIR
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    try:
        m = model.load(f)  # [ci] too: the model checks it
    except ModelError as exc:
        rendered = str(exc)
        assert rendered.startswith(f"{f}: ") and exc.problems, rendered
        for p in exc.problems:
            assert p.path, f"a problem names no key: {p.render(f)}"
            assert p.render(f).startswith(f"{f}:"), p.render(f)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written
        return "refused"
    report = recipes.generate(m, workdir, prune=True)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(recipes.file_name(v) for v in m.variants)
    assert all(FILE_NAME.fullmatch(n) for n in names), names
    # The recipes gen did not rewrite are byte for byte ones that parsed before (the shipped ones
    # at the start: test_every_recipe_parses_with_nix); the rewritten ones are parsed here.
    files = [str(workdir / rel) for rel in report.created + report.updated]
    if files:
        proc = subprocess.run([tool, "--parse", *files], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    k = spec.SPECS[table].keys.get(key)
    if how == "value" and k is not None and any(c in k.reaches for c in FREE_TEXT) and text.strip():
        shown = [v for v in m.variants if text in v.description or text in recipes.long_description(v, m)]
        known_revs = (ROOT / nixrun.STANDIN / "pins.nix").read_text()
        shown = [v for v in shown if v.pin.rev in known_revs]
        if shown:
            v = shown[0]
            with tempfile.TemporaryDirectory() as tmp:
                dirs = nixrun.write_standins([v], ROOT / nixrun.STANDIN, Path(tmp))
                meta = _eval_meta(tool, out / recipes.file_name(v), dirs[(v.pin.rev, v.platform)])
            assert meta["description"] == v.description
            assert meta["longDescription"] in (recipes.long_description(v, m), recipes.long_description(v, m) + "\n")
            assert text in meta["description"] or text in meta["longDescription"]
            return "evaluated"
    return "generated"


@pytest.mark.slow  # fast tier: pytest -m "not slow" (docs/TESTING.md)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_case())
def test_any_string_in_any_field_is_refused_or_reaches_nix_intact(workdir, case):
    _check(workdir, *case)


def test_the_fields_cover_every_string_key_of_the_spec():
    """Every string key the spec declares is exercised (or its table does not occur in the shipped file)."""
    covered = set(BY_FIELD)
    occurring = {t for t, *_ in FIELDS}
    for name, table in spec.SPECS.items():
        if name not in occurring:
            continue
        for key, k in table.keys.items():
            if k.kind in speckey.STRING_KINDS:
                assert (name, key) in covered, (name, key)
        if table.key_pattern:
            assert (name, "<name>") in covered, name


@pytest.mark.parametrize("field", sorted(BY_FIELD), ids=lambda f: f"{f[0]}.{f[1]}")
def test_a_trailing_newline_is_refused_in_every_field(workdir, field):
    """The `$` class: the original value plus "\\n" is refused in every field, at that field's key."""
    table, key, how, path = BY_FIELD[field][0]
    original = _original(how, path) or "x"
    doc = tomlkit.parse((ROOT / "variants.toml").read_text(encoding="utf-8"))
    _write(doc, how, path, original + "\n")
    f = workdir / "variants.toml"
    f.write_text(tomlkit.dumps(doc), encoding="utf-8")
    with pytest.raises(ModelError) as info:
        model.load(f)  # [ci] too: the model checks it
    where = path[:-1] + ((original + "\n",) if how == "name" else (path[-1],))
    # At the key itself (or inside it), or at the table holding it (an exclude that now matches nothing).
    named = [
        p.path
        for p in info.value.problems
        if p.path[: len(where)] == where or (len(p.path) > 2 and where[: len(p.path)] == p.path)
    ]
    assert named, (where, str(info.value))


ADD_OPTIONS = ("alias", "suffix", "cuda", "python", "pin", "torch", "block")


@functools.lru_cache(maxsize=1)
def _shipped() -> model.Matrix:
    return model.load(ROOT / "variants.toml")


@st.composite
def _add_call(draw):
    m = _shipped()
    v = draw(st.sampled_from(m.variants))
    kwargs = {"alias": v.short.removesuffix(f"-{v.suffix}") if v.suffix else v.short}
    option = draw(st.sampled_from(ADD_OPTIONS))
    base = {"alias": kwargs["alias"], "suffix": "x", "cuda": v.cuda.version if v.cuda else "", "python": v.python.version,
            "pin": v.pin.name, "torch": v.source.name if v.source else "", "block": ""}[option]  # fmt: skip
    kwargs[option] = draw(
        st.one_of(st.text(max_size=20), st.builds(lambda a, b: a + b, st.just(base), st.one_of(NASTY, st.text(max_size=3))))
    )
    return kwargs


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kwargs=_add_call())
def test_invoke_add_with_any_option_value_is_refused_or_writes_a_valid_file(workdir, kwargs):
    """`invoke add` with an arbitrary option value: a clear refusal and the file unchanged, or a file that loads."""
    from buildmatrix.cli import edits

    f = workdir / "variants.toml"
    original = (ROOT / "variants.toml").read_bytes()
    f.write_bytes(original)
    status = edits.cmd_add(
        str(f), kwargs["alias"], kwargs.get("block", ""), kwargs.get("cuda", ""), kwargs.get("python", ""), "",
        kwargs.get("pin", ""), kwargs.get("torch", ""), kwargs.get("suffix", ""),
    )  # fmt: skip
    if status == EXIT_OK:
        after = model.load(f)
        assert len(after.variants) > len(_shipped().variants)
        for v in after.variants:
            assert FILE_NAME.fullmatch(recipes.file_name(v))
    else:
        assert status == EXIT_BAD_INPUT
        assert f.read_bytes() == original
