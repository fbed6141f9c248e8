"""Bad input never reaches a recipe: one test per class of hostile or careless input.

Every case edits a copy of the shipped variants.toml through tomlkit (so the tests
hold for any valid matrix), then asserts a ModelError that names the file, the key
path and a line, says how to fix it, and that nothing was written.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest
import tomlkit
from buildmatrix import edit, model
from buildmatrix.cli import generate
from buildmatrix.errors import EXIT_BAD_INPUT, SHOWN_PROBLEMS, BuildMatrixError, ModelError, UsageError, format_keypath
from buildmatrix.recipes import PKGS_DIR, nix
from buildmatrix.spec import check as speccheck
from buildmatrix.spec import keys as speckey
from buildmatrix.spec import reach
from buildmatrix.spec import shape as spec


def _edit(scratch: Path, change) -> Path:
    f = scratch / "variants.toml"
    doc = tomlkit.parse(f.read_text(encoding="utf-8"))
    change(doc)
    f.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return f


def _refused(scratch: Path, keypath: str, *words: str) -> str:
    """Load must fail naming the file, ``keypath`` with a line, and a fix; gen must write nothing."""
    f = scratch / "variants.toml"
    with pytest.raises(ModelError) as info:
        model.load(f)
    text = str(info.value)
    assert text.splitlines()[0].startswith(f"{f}: ") and "nothing was written" in text
    hit = next((line for line in text.splitlines() if f": {keypath}: " in line), None)
    assert hit is not None, text
    assert hit.startswith(f"{f}:") and hit.split(":")[1].isdigit(), hit  # file:line: key: message
    assert "\n    fix: " in text
    for w in words:
        assert w in text, text
    assert generate.cmd_gen(str(f), str(scratch), None, False, False, {}) == EXIT_BAD_INPUT
    assert not any((scratch / PKGS_DIR).iterdir())
    return text


def _first(table) -> str:
    return next(iter(table))


# ------------------------------------------------------- full matches, not `$`


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("matrix[0].suffix", lambda d: d["matrix"][0].__setitem__("suffix", "nightly\n")),
        ("matrix[0].name", lambda d: d["matrix"][0].__setitem__("name", d["matrix"][0]["name"] + "\n")),
        ("isa.{isa}.flags[0]", lambda d: d["isa"][_first(d["isa"])]["flags"].__setitem__(0, "-mavx2\n")),
        ("pin.{pin}.rev", lambda d: d["pin"][_first(d["pin"])].__setitem__("rev", "0" * 40 + "\n")),
        ("pin.{pin}.torch", lambda d: d["pin"][_first(d["pin"])].__setitem__("torch", "2.10.0\n")),
        ("pin.{pin}.torchvision", lambda d: d["pin"][_first(d["pin"])].__setitem__("torchvision", "0.25.0\n")),
        ("gpu.{gpu}.min_driver", lambda d: d["gpu"][_first(d["gpu"])].__setitem__("min_driver", "580\n")),
        ("patch.x.file", lambda d: d.setdefault("patch", tomlkit.table()).__setitem__("x", _patch("patches/x.patch\n"))),
    ],
)
def test_a_trailing_newline_is_refused_everywhere(scratch, where, change):
    f = _edit(scratch, change)
    doc = tomlkit.parse(f.read_text())
    keypath = where.format(isa=_first(doc["isa"]), pin=format_keypath((_first(doc["pin"]),)), gpu=_first(doc["gpu"]))
    _refused(scratch, keypath)


def _patch(file: str) -> dict:
    return {"file": file, "package": "magma", "min_cuda": "13.0", "upstream": "u", "summary": "s"}


def test_a_source_version_with_a_newline_or_that_does_not_parse_is_refused(scratch):
    for bad, words in [("2.10.0\n", ["is not a version"]), ("2.x.y", ["is not a valid version (PEP 440)"])]:
        source = {"version": bad, "owner": "pytorch", "repo": "pytorch", "rev": "v2", "hash": "", "fetch_submodules": True}
        _edit(scratch, lambda d, s=source: d.setdefault("source", tomlkit.table()).__setitem__("bad", s))
        _refused(scratch, "source.bad.version", *words)
        (scratch / "variants.toml").write_text((Path(__file__).parents[1] / "variants.toml").read_text())


def test_pin_versions_must_parse(scratch):
    _edit(scratch, lambda d: d["pin"][_first(d["pin"])].__setitem__("torch", "banana split"))
    _refused(
        scratch,
        "pin." + format_keypath((_first(tomlkit.parse((scratch / "variants.toml").read_text())["pin"]),)) + ".torch",
        "is not a version",
    )


def test_every_version_field_of_the_spec_parses_at_load():
    """Each key the spec says reaches a version comparison refuses what packaging cannot parse."""
    version_keys = [(t, k) for t, table in spec.SPECS.items() for k, key in table.keys.items() if reach.VERSION in key.reaches]
    assert {("pin", "torch"), ("pin", "torchvision"), ("source", "version"), ("gpu", "min_cuda"), ("cuda", "min_driver")} <= set(
        version_keys
    )
    for table, key in version_keys:
        k = spec.SPECS[table].keys[key]
        for bad in ("banana split", "2.x.y", "1" * 70, " 2.0", "v2.0", "2.0\n"):
            assert speccheck.check_string(bad, k.pattern, k.enum, k.reaches) is not None, (table, key, bad)


# ---------------------------------------------- values that reach Nix as code


def test_a_package_attr_is_a_nix_identifier(scratch):
    _edit(scratch, lambda d: d["package"][_first(d["package"])].__setitem__("attr", '${builtins.abort "x"}'))
    _refused(scratch, f"package.{_first(tomlkit.parse((scratch / 'variants.toml').read_text())['package'])}.attr")


def test_a_package_attr_cannot_be_a_nix_keyword(scratch):
    _edit(scratch, lambda d: d["package"][_first(d["package"])].__setitem__("attr", "assert"))
    _refused(scratch, f"package.{_first(tomlkit.parse((scratch / 'variants.toml').read_text())['package'])}.attr", "Nix keyword")
    assert nix.attr_name("assert") == '"assert"' and nix.attr_name("torch") == "torch"


def test_shell_words_and_identifiers_are_full_matches():
    for bad in ["ok\n", "-mavx2\n", "\n"]:
        with pytest.raises(BuildMatrixError):
            nix.shell_word(bad)
    assert nix.attr_name("torch\n") == '"torch\\n"'


def test_free_text_is_one_line_of_printable_text(scratch):
    for bad in ["two\nlines", "a\rb", "bell\x07", "rtl\u202eoverride", "zero\u200bwidth", "para\u2029graph"]:
        _edit(scratch, lambda d, b=bad: d["gpu"][_first(d["gpu"])].__setitem__("family", b))
        _refused(scratch, f"gpu.{_first(tomlkit.parse((scratch / 'variants.toml').read_text())['gpu'])}.family")


# ------------------------------------------------------- never a traceback


def test_undecodable_bytes_name_the_file_and_line(scratch):
    f = scratch / "variants.toml"
    text = f.read_bytes()
    f.write_bytes(text + b"\n# caf\xff\n")
    with pytest.raises(ModelError) as info:
        model.load(f)
    msg = str(info.value)
    line = text.count(b"\n") + 2
    assert f"{f}:{line}: <root>: byte 0xFF at column 6 is not UTF-8" in msg and "fix: save the file as UTF-8" in msg


@pytest.mark.parametrize(
    "body",
    [
        "x = " + "[" * 3000 + "]" * 3000,
        "x = " + "{ a = " * 3000 + "1" + " }" * 3000,
        "[" + "a." * 3000 + "a]",
        "a" + ".a" * 3000 + " = 1",
        "x = [\n" + "[\n" * 3000 + "]\n" * 3000 + "]",
    ],
)
def test_deep_nesting_is_an_error_not_a_recursion_error(scratch, body):
    f = scratch / "variants.toml"
    f.write_text(f.read_text() + "\n" + body + "\n")
    start = time.monotonic()
    with pytest.raises(ModelError) as info:
        model.load(f)
    assert time.monotonic() - start < 5
    msg = str(info.value)
    assert msg.startswith(f"{f}: 1 problem(s)") and ("nested more than" in msg or "has more than" in msg)
    assert f"{f}:" in msg.splitlines()[1] and msg.splitlines()[1].split(":")[1].isdigit()


@pytest.mark.parametrize("number", ["99999999999999999999999", "9223372036854775808", "-9223372036854775809", "9" * 5000])
def test_integers_beyond_64_bits_are_refused(scratch, number):
    f = scratch / "variants.toml"
    lines = f.read_text().splitlines()
    rank = next(i for i, line in enumerate(lines) if line.startswith("rank = "))  # every [isa.*] has one
    lines[rank] = f"rank = {number}"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError) as info:
        model.load(f)
    msg = str(info.value)
    assert f"{f}:{rank + 1}: " in msg
    assert "out of range" in msg or "more than 30 digits" in msg


def test_a_huge_file_answers_at_once(scratch):
    f = scratch / "variants.toml"
    with f.open("w") as fh:
        for i in range(330_000):  # ~10 MB of unknown keys
            fh.write(f'unknown_key_{i} = "value {i}"\n')
    start = time.monotonic()
    with pytest.raises(ModelError) as info:
        model.load(f)
    assert time.monotonic() - start < 2
    assert "the file is larger than 2 MiB" in str(info.value)


def test_a_flood_of_unknown_keys_is_capped_and_fast(scratch):
    f = scratch / "variants.toml"
    with f.open("w") as fh:
        i = 0
        while fh.tell() < 1_900_000:  # just under the size limit
            fh.write(f'unknown_key_{i} = "value {i}"\n')
            i += 1
    start = time.monotonic()
    with pytest.raises(ModelError) as info:
        model.load(f)
    elapsed = time.monotonic() - start
    msg = str(info.value)
    assert elapsed < 10, elapsed
    assert info.value.total >= i
    assert len(msg.splitlines()) <= 2 * SHOWN_PROBLEMS + 2
    assert f"... and {info.value.total - SHOWN_PROBLEMS} more problem(s)" in msg
    assert msg.splitlines()[0] == f"{f}: {info.value.total} problem(s); nothing was written"


# ------------------------------------------------------------------- cycles


def test_a_requires_cycle_names_the_packages(scratch):
    doc = tomlkit.parse((scratch / "variants.toml").read_text())
    base = next(n for n, p in doc["package"].items() if "requires" not in p)
    user = next(n for n, p in doc["package"].items() if p.get("requires") == base)
    _edit(scratch, lambda d: d["package"][base].__setitem__("requires", user))
    msg = _refused(scratch, f"package.{base}.requires", f"`requires` forms a cycle: {base} → {user} → {base}")
    assert f"remove `requires` from [package.{base}]" in msg
    assert "matrix" not in msg.split("cycle", 1)[1]  # not blamed on a block


def test_a_package_requiring_itself_is_a_cycle(scratch):
    doc = tomlkit.parse((scratch / "variants.toml").read_text())
    base = next(n for n, p in doc["package"].items() if "requires" not in p)
    _edit(scratch, lambda d: d["package"][base].__setitem__("requires", base))
    _refused(scratch, f"package.{base}.requires", f"cycle: {base} → {base}")


# ------------------------------------------------------------ invoke add etc.


def test_add_refuses_a_suffix_with_a_newline_and_writes_nothing(scratch):
    f = scratch / "variants.toml"
    before = f.read_bytes()
    m = model.load(f)
    v = next(v for v in m.variants if v.target == "cuda" and v.python.version == m.defaults.python)
    for option, kwargs in [
        ("suffix", {"suffix": "x\n"}),
        ("suffix", {"suffix": "a b"}),
        ("alias", {}),
        ("pin", {"pin": "p\n"}),
        ("torch", {"torch": "t" * 2000}),
    ]:
        alias = v.short + ("\n" if option == "alias" else "")
        with pytest.raises(UsageError, match=f"--{option}"):
            edit.add(f, alias, **kwargs)
        assert f.read_bytes() == before
    with pytest.raises(UsageError, match="--rev"):
        if m.sources:
            edit.pin_source(f, next(iter(m.sources)), rev="v1\n")
        else:
            raise UsageError("--rev (no source in this matrix)")
    with pytest.raises(UsageError, match="--rev"):
        edit.pin(f, next(iter(m.pins)), rev="0" * 40 + "\n")
    assert f.read_bytes() == before


# --------------------------------------------------------- the spec itself


def test_every_string_key_says_where_it_goes():
    for name, table in spec.SPECS.items():
        for key, k in table.keys.items():
            if k.kind in speckey.STRING_KINDS:
                assert k.reaches and set(k.reaches) <= set(reach.CONTEXTS), (name, key)
        if table.key_pattern:
            assert table.name_reaches, name


def test_a_key_without_reaches_cannot_be_declared():
    with pytest.raises(TypeError, match="does not declare reaches"):
        speckey.Key("str", "a new field")
    with pytest.raises(TypeError, match="must declare a pattern"):
        speckey.Key("str", "a new file-name field", reaches=(reach.FILE,))
    speckey.Key("int", "numbers need no reaches")


def test_names_too_long_for_a_file_are_refused(scratch):
    """A part of a file name is 64 characters at most, and a variant name 200: never ENAMETOOLONG in gen."""
    f = scratch / "variants.toml"
    _edit(scratch, lambda d: d["matrix"][0].__setitem__("suffix", "a" * 300))
    _refused(scratch, "matrix[0].suffix", "part of a file name")
    # Parts of 64 characters each, a name over 200: rename the first package and ISA everywhere.
    text = (Path(__file__).parents[1] / "variants.toml").read_text()
    raw = tomllib.loads(text)
    for table in ("package", "isa"):
        old, new = next(iter(raw[table])), table[0] * 64
        assert f"[{table}.{old}]" in text and f'"{old}"' in text, f"{table}.{old} is not where the rename expects it"
        lines = [line.replace(f"[{table}.{old}]", f"[{table}.{new}]") for line in text.splitlines()]
        text = "\n".join(line if line.startswith("features") else line.replace(f'"{old}"', f'"{new}"') for line in lines)
    f.write_text(text + "\n")
    _edit(scratch, lambda d: [b.__setitem__("suffix", "s" * 64) for b in d["matrix"]])
    text = _refused(scratch, "matrix[0]", "characters long (at most 200: it is a file name)")


@pytest.mark.parametrize("content", [b"[local]\nmax-jobs = 1\n# caf\xff\n", b"x = " + b"[" * 3000 + b"]" * 3000 + b"\n"])
def test_the_other_toml_inputs_are_guarded_too(tmp_path, content):
    """The builders file and the build-cost table go through the same guard: a ModelError naming the file."""
    from buildmatrix.builds import builders
    from buildmatrix.plan import cost as plancost

    f = tmp_path / "x.toml"
    f.write_bytes(content)
    for load in (lambda: builders.load(tmp_path, {builders.ENV_VAR: str(f)}), lambda: plancost.load_costs(f)):
        with pytest.raises(ModelError) as info:
            load()
        assert str(info.value).startswith(f"{f}: 1 problem(s)")
        assert f"{f}:" in str(info.value).splitlines()[1]


def test_a_byte_order_mark_is_accepted_by_load_and_by_add(scratch):
    """Editors on Windows write one; tomllib and tomlkit both choke on it (tomlkit with a traceback)."""
    f = scratch / "variants.toml"
    f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    m = model.load(f)
    v = next(v for v in m.variants if v.target == "cuda" and v.cuda.version == m.defaults.cuda and not v.suffix)
    result = edit.add(f, v.short, suffix="bom")
    assert result.added and not f.read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(model.load(f).variants) == len(m.variants) + len(result.added)
