"""invoke docs: generated regions in sync with the model, markers respected, prose untouched, evidence only from the ledger."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path, PurePosixPath

import matrices
import pytest
from buildmatrix import docs, edit, ledger, model
from buildmatrix.cli import generate
from buildmatrix.detect import choice, fit
from buildmatrix.docs import DocsError
from buildmatrix.spec import shape as spec
from hypothesis import given, settings
from hypothesis import strategies as st
from textedit import mutate

DOC_FILES = ["README.md", "docs/BUILDING.md", "docs/BUILD_MATRIX.md", "docs/QUICKSTART.md", "docs/variants.md"]


def page_files(root: Path) -> list[str]:
    """The generated per-line pages under ``root`` (docs/matrix/*.md whose first line is the marker)."""
    return sorted(str(p.relative_to(root)) for p in (root / docs.LINE_PAGES_DIR).glob("*.md") if docs.is_generated_page(p))


def page_of(v: model.Variant) -> str:
    """The page that lists ``v``: its torch line's."""
    return str(docs.line_page(v.torch_line))


@pytest.fixture
def docs_root(tmp_path: Path, root: Path) -> Path:
    """A copy of what `invoke docs` reads and writes: variants.toml, patches/, the ledger, README.md, docs/."""
    shutil.copy(root / "variants.toml", tmp_path / "variants.toml")
    shutil.copytree(root / "patches", tmp_path / "patches")
    if (root / "ledger").exists():
        shutil.copytree(root / "ledger", tmp_path / "ledger", ignore=shutil.ignore_patterns("local.jsonl"))  # committed only
    shutil.copy(root / "README.md", tmp_path / "README.md")
    shutil.copytree(root / "docs", tmp_path / "docs")
    matrices.copy_anchor_data(tmp_path, root)
    return tmp_path


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for p in sorted([root / "README.md", *(root / "docs").glob("*.md"), *(root / docs.LINE_PAGES_DIR).glob("*")]):
        out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def _regions(text: str) -> dict[str, str]:
    parsed, problems = docs.parse(text, "x")
    assert not problems
    return {r.name: docs.region_text(parsed, r) for r in parsed.regions}


def _all_regions(root: Path) -> dict[str, str]:
    """Every region of the documents as ``file:region``, and every page whole as ``file:page``."""
    out = {}
    for rel in DOC_FILES:
        for name, body in _regions((root / rel).read_text(encoding="utf-8")).items():
            out[f"{rel}:{name}"] = body
    for rel in page_files(root):
        out[f"{rel}:page"] = (root / rel).read_text(encoding="utf-8")
    return out


def _tables(markdown: str) -> list[list[list[str]]]:
    """Markdown tables as lists of rows of cells (header first, separator dropped)."""
    tables, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= {"-", ":"} and c for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _ctx(m: model.Matrix, records=None, file: str = "docs/BUILD_MATRIX.md", line: str | None = None) -> docs.Context:
    return docs.Context(m, records or {}, PurePosixPath(file), line)


# -------------------------------------------------------------- in sync with the model


def test_shipped_docs_are_in_sync_with_the_model(root):
    assert generate.cmd_docs(str(root), str(root / "variants.toml"), True) == 0


def test_every_shipped_document_has_its_regions(root):
    for rel, names in docs.REQUIRED.items():
        found = _regions((root / rel).read_text(encoding="utf-8"))
        assert set(names) <= set(found), rel
        for name in names:
            assert found[name].strip(), f"{rel}: region {name} is empty"


def test_counts_equal_the_model(shipped, root):
    m = shipped
    text = docs.GENERATORS["counts"](_ctx(m))
    tables = _tables(text)
    assert len(tables) == 4
    pkgs = list(m.packages)
    facts = {
        "cuda": lambda v: v.cuda.version if v.cuda else v.target,
        "gpu": lambda v: v.gpu.name if v.gpu else None,
        "isa": lambda v: v.isa.name if v.isa else None,
        "python": lambda v: v.python.version,
    }
    expected = {
        **{f"CUDA {c}": ("cuda", c) for c in m.cudas},
        "CPU only": ("cuda", "cpu"),
        "Apple Silicon (MPS)": ("cuda", "mps"),
        **{f"{g.name} ({g.family})": ("gpu", g.name) for g in m.gpus.values()},
        **{f"{i.name} ({i.platform})": ("isa", i.name) for i in m.isas.values()},
        **{f"Python {p}": ("python", p) for p in m.pythons},
    }
    seen = set()
    for t in tables:
        assert t[0][1:] == [m.packages[p].title for p in pkgs] + ["Total"]
        for row in t[1:]:
            label, *nums = row
            if label == "**Total**":
                want = [sum(1 for v in m.variants if v.package.name == p) for p in pkgs]
                assert nums == [f"**{n}**" for n in want] + [f"**{len(m.variants)}**"]
                continue
            if label in expected:
                axis, value = expected[label]
                want = [sum(1 for v in m.variants if v.package.name == p and facts[axis](v) == value) for p in pkgs]
                assert nums == [str(n) for n in want] + [str(sum(want))], label
                seen.add(label)
    assert seen == set(expected)
    # The same numbers reach the committed files.
    summary = _regions((root / "README.md").read_text(encoding="utf-8"))["summary"]
    assert f"**{len(m.variants)} variants**" in summary
    by_cuda = Counter(v.cuda.version for v in m.variants if v.cuda)
    for c, n in by_cuda.items():
        assert f"CUDA {c}: {n}" in summary


def test_variant_matrix_lists_every_variant_once_in_findable_order(shipped):
    """Each line's page lists exactly that line's variants in order; together the pages list every variant once."""
    listed = []
    for line in shipped.torch_lines:
        text = docs.GENERATORS["variant-matrix"](_ctx(shipped, file=str(docs.line_page(line)), line=line))
        names = re.findall(r"^\| `([^`]+)` \|", text, flags=re.M)
        on_line = [v for v in shipped.variants if v.torch_line == line]
        assert names == [v.name for v in sorted(on_line, key=lambda v: docs.variant_key(shipped, v))], line
        listed += names
        _check_variant_rows(shipped, text)
    assert sorted(listed) == sorted(v.name for v in shipped.variants)


def _check_variant_rows(shipped: model.Matrix, text: str) -> None:
    for t in _tables(text):
        assert t[0] == ["Package name", "GPU", "SM", "CPU ISA", "CUDA", "Python", "torch", "Platform", "Status"]
        for row in t[1:]:
            v = shipped.by_name[row[0].strip("`")]
            assert row[2] == (v.gpu.name if v.gpu else "—")
            assert row[3] == (v.isa.name if v.isa else "—")
            assert row[4] == (v.cuda.version if v.cuda else "—")
            assert row[5:8] == [v.python.version, v.torch_version, v.platform]


def test_grids_mark_exactly_the_variants_of_the_model(shipped):
    """Each line's page has one grid per CUDA version the line builds, marking exactly that line's variants."""
    m = shipped
    isas = [i.name for i in docs.sorted_isas(m)]
    for line, on_line in m.torch_lines.items():
        text = docs.GENERATORS["sm-isa-grids"](_ctx(m, file=str(docs.line_page(line)), line=line))
        sections = re.split(r"^#### ", text, flags=re.M)[1:]
        cudas = {v.cuda.version for v in on_line if v.cuda}
        assert {s.split()[1] for s in sections if s.startswith("CUDA ")} == cudas, line
        for c in cudas:
            sec = next(s for s in sections if s.startswith(f"CUDA {c} "))
            rows = _tables(sec)[0]
            assert rows[0] == ["SM", *isas]
            for row in rows[1:]:
                gpu = row[0].split()[0]
                for isa, mark in zip(isas, row[1:]):
                    present = [v for v in on_line if v.cuda and v.cuda.version == c and v.gpu.name == gpu and v.isa.name == isa]
                    assert mark.startswith("✓") == any(not v.suffix for v in present), (line, c, gpu, isa, mark)


def test_the_model_facts_the_old_docs_got_wrong(shipped):
    m = shipped
    quick = docs.GENERATORS["cpu-isa-guide"](_ctx(m)) + docs.GENERATORS["decision-tree"](_ctx(m))
    facts = docs.isa_facts(m)
    assert "cascadelake" in facts["avx512vnni"].runs_on and "skylake_avx512" not in facts["avx512vnni"].runs_on
    assert ("skylake_avx512", ["avx512_vnni"]) in facts["avx512vnni"].near_misses
    assert {"sapphirerapids", "zen4"} <= set(facts["avx512bf16"].runs_on)
    assert ("icelake", ["avx512_bf16"]) in facts["avx512bf16"].near_misses
    assert "neoverse_v2" in facts["armv9"].runs_on and ("neoverse_v1", ["sve2"]) in facts["armv9"].near_misses
    assert "icelake (no avx512_bf16)" in quick and "neoverse_v1 (no sve2)" in quick
    ref = docs.GENERATORS["gpu-reference"](_ctx(m))
    sm103 = next(r for r in _tables(ref)[0] if r[0] == "sm103")
    assert "B200" not in sm103[3].replace("GB200", "")
    # The example sentence names a built GPU; its devices are exactly the ones the model's rule gives.
    said = re.search(r"an (sm\d+) build runs on ([0-9., ]+) devices(?:, not on ([0-9.]+))?\.", ref)
    assert said, ref[:400]
    gpu, caps = m.gpus[said.group(1)], [g.capability for g in docs.sorted_gpus(m)]
    assert said.group(2).split(", ") == [c for c in caps if gpu.runs_on(c)]
    assert said.group(3) is None or (not gpu.runs_on(said.group(3)) and int(said.group(3).split(".")[0]) > gpu.major)
    # No example names a variant that cannot exist (sm121 is aarch64-only).
    for rel in DOC_FILES + page_files(Path(__file__).resolve().parents[1]):
        text = (Path(__file__).resolve().parents[1] / rel).read_text(encoding="utf-8")
        assert not re.search(r"sm121-avx", text), rel
        assert "armv8.2-" not in text.replace("-march=armv8.2-a", ""), rel


def test_version_matrix_links_pins_and_says_unverified(shipped):
    text = docs.GENERATORS["version-matrix"](_ctx(shipped))
    for p in shipped.pins.values():
        assert f"https://github.com/NixOS/nixpkgs/tree/{p.rev}" in text
    assert ("**unverified**" in text) == any(not p.sha256 for p in shipped.pins.values())
    rows = _tables(text)[0][1:]
    assert sum(int(r[-1]) for r in rows) == len(shipped.variants)
    by_cuda = {r[3]: r for r in rows if "source `v2.10.0`" in r[1]}
    assert by_cuda["CUDA 13.0"][7].startswith("yes")
    assert by_cuda["CUDA 13.1"][7].startswith("no: the pin already carries")
    assert by_cuda["CUDA 12.9"][7] == "no (not needed)"
    assert by_cuda["CUDA 12.9"][2].startswith("0.25.0 (source `vision-v0.25.0`")


def test_examples_name_only_variants_that_exist(shipped):
    text = docs.GENERATORS["examples"](_ctx(shipped))
    targets = re.findall(r"nox -s build-(\S+)", text)
    assert len(targets) >= 4
    for t in targets:
        assert shipped.resolve(t), t
    for name in re.findall(r"--variant (\S+)", text) + re.findall(r"invoke publish (\S+)", text):
        assert name in shipped.by_name


def test_key_reference_covers_every_key_of_the_spec():
    text = docs.GENERATORS["key-reference"](_ctx(model.load(Path(__file__).resolve().parents[1] / "variants.toml")))
    for name, t in spec.SPECS.items():
        heading = "### " + docs.spec_heading(name)
        assert heading in text
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        for key in t.keys:
            assert f"| `{key}` |" in section, (name, key)


def test_toml_examples_in_variants_md_parse_and_the_minimal_file_loads(root):
    text = (root / "docs" / "variants.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    for b in blocks:
        tomllib.loads(b)
    minimal = text.split("## A complete minimal file", 1)[1]
    body = re.search(r"```toml\n(.*?)```", minimal, flags=re.S).group(1)
    m = model.loads(body, root / "variants.toml")
    assert [v.name for v in m.variants] == ["pytorch-python313-cpu-avx2"]


def test_links_between_the_docs_resolve(root):
    assert_links_resolve(root)


def assert_links_resolve(root: Path) -> None:
    """Every relative link of README.md, docs/*.md and the line pages names a file that exists and a heading in it."""

    def anchors(path: Path) -> set[str]:
        return {docs.slug(h) for h in re.findall(r"^#{1,6} (.+)$", path.read_text(encoding="utf-8"), flags=re.M)}

    for rel in DOC_FILES + page_files(root):
        path = root / rel
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if file.endswith("BUILDING.md") and not dest.exists():
                continue  # written by the build sessions' authors; only its anchors are not checked here
            assert dest.exists(), f"{rel}: broken link {target}"
            if anchor:
                assert anchor in anchors(dest), f"{rel}: no heading for #{anchor} in {dest.name}"


# ----------------------------------------------------------------------- markers

GOOD = "intro\n<!-- BEGIN GENERATED: counts -->\nold\n<!-- END GENERATED: counts -->\noutro\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- BEGIN GENERATED: counts -->\nx\n", "has no matching"),
        ("x\n<!-- END GENERATED: counts -->\n", "without a BEGIN"),
        ("<!-- BEGIN GENERATED: nope -->\n<!-- END GENERATED: nope -->\n", "unknown generator 'nope'"),
        (GOOD + GOOD, "appears twice"),
        (
            "<!-- BEGIN GENERATED: counts -->\n<!-- BEGIN GENERATED: summary -->\n"
            "<!-- END GENERATED: summary -->\n<!-- END GENERATED: counts -->\n",
            "cannot nest",
        ),
        ("<!-- BEGIN GENERATED: counts -->\n<!-- END GENERATED: summary -->\n", "closes region 'counts'"),
        ("<!-- BEGIN GENERATED counts -->\n", "malformed marker"),
        ("<!--BEGIN GENERATED: counts-->\n<!-- END GENERATED: counts -->\n", "malformed marker"),
        ("  <!-- BEGIN GENERATED: counts -->\n  <!-- END GENERATED: counts -->\n", "malformed marker"),
    ],
)
def test_bad_markers_are_errors_naming_file_and_line(text, message):
    _, problems = docs.parse(text, "docs/X.md")
    assert problems and any(message in p for p in problems), problems
    assert all(re.match(r"docs/X\.md:\d+: ", p) for p in problems)


def test_markers_mentioned_inline_are_prose():
    text = "Regions look like `<!-- BEGIN GENERATED: counts -->` … in the source.\n"
    parsed, problems = docs.parse(text, "x")
    assert not problems and not parsed.regions


@pytest.mark.parametrize(
    "breakage",
    [
        lambda t: t.replace("<!-- END GENERATED: counts -->", "", 1),
        lambda t: t.replace("<!-- BEGIN GENERATED: counts -->", "<!-- BEGIN GENERATED: countz -->", 1),
        lambda t: t + "\n<!-- BEGIN GENERATED: counts -->\n<!-- END GENERATED: counts -->\n",
        lambda t: t.replace("<!-- BEGIN GENERATED: counts -->\n", "", 1),
    ],
)
def test_a_marker_error_anywhere_writes_nothing_anywhere(docs_root, breakage, capsys):
    f = docs_root / "variants.toml"
    alias, cuda = matrices.absent_gpu_addition(f)
    edit.add(f, alias, cuda=cuda)  # every document is now stale: a run would rewrite them all
    target = docs_root / "docs" / "BUILD_MATRIX.md"
    target.write_text(breakage(target.read_text(encoding="utf-8")), encoding="utf-8")
    before = _snapshot(docs_root)
    assert generate.cmd_docs(str(docs_root), str(f), False) == 2
    assert _snapshot(docs_root) == before
    err = capsys.readouterr().err
    assert "docs/BUILD_MATRIX.md" in err and "nothing was written" in err
    assert generate.cmd_docs(str(docs_root), str(f), True) == 2


def test_missing_required_region_or_file_is_an_error(docs_root):
    m = model.load(docs_root / "variants.toml")
    readme = docs_root / "README.md"
    text = readme.read_text(encoding="utf-8")
    start = text.index("<!-- BEGIN GENERATED: gpu-picker -->")
    end = text.index("<!-- END GENERATED: gpu-picker -->") + len("<!-- END GENERATED: gpu-picker -->\n")
    readme.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(DocsError, match="README.md: region 'gpu-picker' is missing"):
        docs.sync(docs_root, m)
    (docs_root / "docs" / "variants.md").unlink()
    with pytest.raises(DocsError, match="docs/variants.md: missing"):
        docs.sync(docs_root, m)


# -------------------------------------------------------- prose is kept byte for byte

PROSE_LINE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
    max_size=30,
).filter(
    lambda s: not docs.LOOSE_RE.match(s) and not docs.BEGIN_RE.fullmatch(s.rstrip()) and not docs.END_RE.fullmatch(s.rstrip())
)
PROSE = st.lists(PROSE_LINE, max_size=5).map(lambda lines: "".join(line + "\n" for line in lines))
NAMES = st.lists(st.sampled_from(["counts", "summary", "gpu-picker", "matrix-blocks"]), unique=True, max_size=4)


@pytest.mark.slow  # a property search (150 examples); the fast tier keeps the example-based region tests
@settings(max_examples=150, deadline=None)
@given(NAMES, st.data(), st.booleans(), st.booleans())
def test_prose_outside_markers_is_untouched(shipped_matrix, names, data, crlf, no_final_newline):
    prose = [data.draw(PROSE) for _ in range(len(names) + 1)]
    old = [data.draw(PROSE) for _ in names]
    nl = "\r\n" if crlf else "\n"
    parts = [prose[0]]
    for name, inside, after in zip(names, old, prose[1:]):
        parts += [f"<!-- BEGIN GENERATED: {name} -->{nl}", inside, f"<!-- END GENERATED: {name} -->{nl}", after]
    text = "".join(parts)
    if no_final_newline and text.endswith(nl):
        text = text[: -len(nl)]
    parsed, problems = docs.parse(text, "x.md")
    assert not problems
    ctx = docs.Context(shipped_matrix, {}, PurePosixPath("x.md"))
    new = docs.fill(parsed, {n: docs.GENERATORS[n](ctx) for n in names})
    after, problems = docs.parse(new, "x.md")
    assert not problems and [r.name for r in after.regions] == names
    # Everything outside the regions, markers included, is byte-identical, in order.
    outside_old = _outside(parsed)
    outside_new = _outside(after)
    assert outside_new == outside_old
    for r in after.regions:
        body = docs.region_text(after, r)
        assert body.replace(nl, "\n") == "\n" + docs.GENERATORS[r.name](ctx).strip("\n") + "\n\n"
        if crlf:
            assert "\n" not in body.replace("\r\n", "")
    # Idempotent.
    assert docs.fill(after, {n: docs.GENERATORS[n](ctx) for n in names}) == new


def _outside(parsed: docs.Parsed) -> list[str]:
    out, pos = [], 0
    for r in parsed.regions:
        out.append("".join(parsed.lines[pos : r.begin + 1]))
        pos = r.end
    out.append("".join(parsed.lines[pos:]))
    return out


@pytest.fixture(scope="module")
def shipped_matrix():
    return model.load(Path(__file__).resolve().parents[1] / "variants.toml")


def test_sync_keeps_prose_of_real_files_and_is_idempotent(docs_root):
    m = model.load(docs_root / "variants.toml")
    readme = docs_root / "README.md"
    # Hand edits outside the markers (odd characters, CRLF line, no final newline) and junk inside one.
    text = readme.read_text(encoding="utf-8")
    text = text.replace("## Everyday commands\n", "## Everyday commands\r\nform feed \x0c, LS \u2028, tab\t end\n", 1)
    text = text.replace("<!-- END GENERATED: summary -->", "stale junk\n<!-- END GENERATED: summary -->", 1)
    readme.write_bytes((text.rstrip("\n")).encode("utf-8"))
    before = _outside(docs.parse(readme.read_bytes().decode(), "README.md")[0])
    report = docs.sync(docs_root, m)
    assert report.updated == ["README.md"] and report.drift["README.md"] == ["summary"]
    after_text = readme.read_bytes().decode()
    assert _outside(docs.parse(after_text, "README.md")[0]) == before
    assert "stale junk" not in after_text and not after_text.endswith("\n")
    stamps = _snapshot(docs_root)
    again = docs.sync(docs_root, m)
    assert not again.updated and _snapshot(docs_root) == stamps
    assert docs.sync(docs_root, m, check=True).clean


def test_check_reports_drift_and_writes_nothing(docs_root, capsys):
    f = docs_root / "variants.toml"
    text = mutate(f.read_text(encoding="utf-8"), 'min_driver = "590.44.01"', 'min_driver = "590.48.01"')
    f.write_text(text, encoding="utf-8")
    before = _snapshot(docs_root)
    assert generate.cmd_docs(str(docs_root), str(f), True) == 1
    assert _snapshot(docs_root) == before
    out = capsys.readouterr().out
    assert "docs/BUILD_MATRIX.md" in out and "version-matrix" in out and "invoke docs" in out
    assert generate.cmd_docs(str(docs_root), str(f), False) == 0
    assert generate.cmd_docs(str(docs_root), str(f), True) == 0
    assert "590.48.01" in (docs_root / "docs" / "QUICKSTART.md").read_text(encoding="utf-8")


def test_output_does_not_depend_on_hash_seed_or_clock(root, tmp_path):
    code = (
        "import hashlib,sys; sys.path.insert(0,'scripts');"
        "from pathlib import PurePosixPath; from buildmatrix import docs, model;"
        "m=model.load('variants.toml');"
        "out=''.join(docs.GENERATORS[n](docs.Context(m, {}, PurePosixPath('docs/X.md'))) for n in sorted(docs.GENERATORS));"
        "print(hashlib.sha256(out.encode()).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": "Pacific/Kiritimati" if seed == "1" else "UTC"}
        digests.add(
            subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True).stdout
        )
    assert len(digests) == 1


# ------------------------------------------------------------- invoke add → every table


def _row_of(m: model.Matrix, name: str) -> str:
    v = m.variant(name)
    return (
        f"| `{name}` | {v.gpu.family} | {v.gpu.name} | {v.isa.name} | {v.cuda.version} | {v.python.version} | "
        f"{v.torch_version} | {v.platform} | not built |"
    )


def test_an_added_variant_appears_in_every_table(docs_root):
    # sm70 on CUDA 12.9 (the QUICKSTART example), or the first valid combination the file lacks.
    f = docs_root / "variants.toml"
    docs.sync(docs_root, model.load(f))
    before = _all_regions(docs_root)
    alias, cuda = matrices.absent_gpu_addition(f)
    old = model.load(f)
    added = edit.add(f, alias, cuda=cuda).added
    m = model.load(f)
    assert added and {m.variant(n).short for n in added} == {alias}
    v = m.variant(added[0])
    g, isa = v.gpu, v.isa
    report = docs.sync(docs_root, m)
    # Every document, and of the pages only that of the line the variant went onto.
    assert sorted(report.updated) == sorted(DOC_FILES + [page_of(v)])
    after = _all_regions(docs_root)
    assert after.keys() == before.keys()
    unchanged = {k for k in after if after[k] == before[k] and not k.endswith(":page")}
    # Only regions that do not depend on the variant list stay as they were. The decision tree and the
    # GPU picker list GPU × CUDA × ISA, which another torch line may have built already.
    same_hw = any(
        x.gpu is not None and (x.gpu.name, x.cuda.version, x.isa.name) == (g.name, cuda, isa.name) for x in old.variants
    )
    # The anchor table changes only when an anchor name maps differently.
    allowed = {"evidence", "key-reference", "hardware-rules", "examples", "anchor-branches"} | (
        {"decision-tree", "gpu-picker"} if same_hw else set()
    )
    assert {k.split(":")[1] for k in unchanged} <= allowed

    def cells(**kw) -> str:
        """The count cells of a counts row: one per package of the file, then the total."""
        chosen = m.select(**kw)
        per = [sum(x.package.name == p for x in chosen) for p in m.packages]
        return " | ".join(str(n) for n in (*per, len(chosen)))

    page = after[f"{page_of(v)}:page"]
    for name in added:
        assert _row_of(m, name) in page
    n_gpu = len([x for x in m.select(gpu=g.name) if x.torch_line == v.torch_line])
    assert f"[{g.name}](#{g.name}-{g.family.lower()}) ({n_gpu})" in page
    grid = page.split(f"#### CUDA {cuda}", 1)[1].split("####", 1)[0]
    isas = [i.name for i in docs.sorted_isas(m)]
    row = next(r for r in _tables(grid)[0] if r[0].split()[0] == g.name)
    assert row[1 + isas.index(isa.name)].startswith("✓")
    counts = after["docs/BUILD_MATRIX.md:counts"]
    assert f"| {g.name} ({g.family}) | {cells(gpu=g.name)} |" in counts and f"**{len(m.variants)}**" in counts
    assert f"| CUDA {cuda} | {cells(cuda=cuda)} |" in counts
    vm_rows = [r for r in _tables(after["docs/BUILD_MATRIX.md:version-matrix"])[0][1:] if r[3] == f"CUDA {cuda}"]
    assert sum(int(r[-1]) for r in vm_rows) == len(m.select(cuda=cuda))
    assert f"**{len(m.variants)} variants**" in after["README.md:summary"]
    products = ", ".join(g.gpus[:3]) + (", …" if len(g.gpus) > 3 else "")
    pick = re.compile(
        rf"^\| {re.escape(products)} \| {re.escape(g.capability)} \| `{g.name}` \| [^|]*{re.escape(cuda)}[^|]*\| [^|]*{isa.name}",
        re.M,
    )
    assert pick.search(after["README.md:gpu-picker"]), after["README.md:gpu-picker"]
    assert pick.search(after["docs/QUICKSTART.md:decision-tree"])
    ref = after["docs/QUICKSTART.md:gpu-reference"]
    assert re.search(rf"^\| {g.name} \| {re.escape(g.capability)} \| {g.family} \| .*{re.escape(cuda)}", ref, flags=re.M)
    on_isa = [x for x in m.variants if x.isa is isa or (x.isa and x.isa.name == isa.name)]
    n_gpu_isa, n_cpu_isa = sum(1 for x in on_isa if x.gpu), sum(1 for x in on_isa if x.target == "cpu")
    assert (
        f"- Platform: {isa.platform}; {n_gpu_isa} GPU and {n_cpu_isa} CPU-only variants"
        in after["docs/QUICKSTART.md:cpu-isa-guide"]
    )
    magma_region = after["docs/QUICKSTART.md:magma-patch"]
    magma_rows = [r for r in _tables(magma_region)[0][1:] if r[0] == f"CUDA {cuda}"]  # one row per pin
    assert sum(int(r[-1]) for r in magma_rows) == len(m.select(cuda=cuda))
    block = v.origin[0].split("(", 1)[1].rstrip(")")
    assert f"`{block}`" in after["docs/variants.md:matrix-blocks"]
    assert generate.cmd_docs(str(docs_root), str(f), True) == 0


def test_a_new_python_version_shows_up_too(docs_root):
    f = docs_root / "variants.toml"
    alias, py = matrices.absent_python_addition(f)
    added = edit.add(f, alias, python=py).added
    m = model.load(f)
    docs.sync(docs_root, m)
    regions = _all_regions(docs_root)
    on_py = [v for v in m.variants if v.python.version == py]
    per = [sum(v.package.name == p for v in on_py) for p in m.packages]
    assert f"| Python {py} | {' | '.join(map(str, (*per, len(on_py))))} |" in regions["docs/BUILD_MATRIX.md:counts"]
    for name in added:
        assert f"`{name}`" in regions[f"{page_of(m.variant(name))}:page"]
    versions = ", ".join(sorted({v.python.version for v in m.variants}, key=lambda s: tuple(map(int, s.split(".")))))
    assert f"(Python {versions})" in regions["README.md:summary"]


# ------------------------------------------------------------------------ evidence


def _record(variant: str, action: str, status: str, end: str, **kw) -> ledger.Record:
    return ledger.Record(variant, action, status, start=end, end=end, git_rev=kw.pop("rev", "a" * 40), host="builder1", **kw)


def test_without_a_ledger_nothing_claims_success(shipped):
    ctx = _ctx(shipped, {})
    bm = docs.GENERATORS["variant-matrix"](ctx)
    statuses = {row[-1] for t in _tables(bm) for row in t[1:]}
    assert statuses == {"not built"}
    assert "No evidence is recorded yet" in docs.GENERATORS["evidence"](ctx)
    assert "none yet" in docs.GENERATORS["summary"](ctx)
    for text in (bm, docs.GENERATORS["evidence"](ctx), docs.GENERATORS["summary"](ctx)):
        assert "✅" not in text and "Complete" not in text and "passed" not in text.lower()


def test_status_comes_from_records_only():
    v = "pytorch-python313-cpu-avx2"
    assert docs.status({}, v) == "not built"
    assert docs.status({(v, "eval"): _record(v, "eval", "ok", "2026-11-20T10:00:00Z")}, v) == "evaluated, not built"
    failed = {(v, "build"): _record(v, "build", "failed", "2026-11-20T10:00:00Z")}
    assert docs.status(failed, v) == "not built; build failed"
    recs = {
        (v, "eval"): _record(v, "eval", "ok", "2026-11-20T10:00:00Z"),
        (v, "build"): _record(v, "build", "ok", "2026-11-20T11:00:00Z"),
        (v, "smoke"): _record(v, "smoke", "skipped", "2026-11-20T12:00:00Z"),
    }
    assert docs.status(recs, v) == "built; smoke test skipped"
    recs[(v, "smoke")] = _record(v, "smoke", "ok", "2026-11-21T12:00:00Z")
    assert docs.status(recs, v) == "smoke-tested"
    recs[(v, "publish")] = _record(v, "publish", "interrupted", "2026-11-22T12:00:00Z")
    assert docs.status(recs, v) == "smoke-tested; publish interrupted"


def test_a_stand_in_smoke_run_is_not_shown_as_smoke_tested():
    name = "pytorch-python313-cuda13_0-sm90-avx512"
    built = _record(name, "build", "ok", "2026-11-20T10:00:00Z")
    stand_in = _record(name, "smoke", "ok", "2026-11-21T10:00:00Z", extra={"stand_in": True, "overridden": {"torch": "2.11.0"}})
    records = {(name, "build"): built, (name, "smoke"): stand_in}
    assert docs.status(records, name) == "built; smoke test with a stand-in interpreter"
    real = _record(name, "smoke", "ok", "2026-11-21T11:00:00Z")
    assert docs.status({(name, "build"): built, (name, "smoke"): real}, name) == "smoke-tested"


def test_ledger_evidence_shows_up_in_the_docs(docs_root):
    f = docs_root / "variants.toml"
    m = model.load(f)
    shutil.rmtree(docs_root / "ledger", ignore_errors=True)  # start from no evidence
    docs.sync(docs_root, m)
    built = "pytorch-python313-cuda13_0-sm90-avx512"
    flaky = "torchvision-python313-cuda13_0-sm90-avx512"
    for name in m.by_name:
        ledger.append(docs_root, _record(name, "eval", "ok", "2026-11-19T09:00:00Z", detail="stand-in nixpkgs"))
    ledger.append(docs_root, _record(built, "build", "failed", "2026-11-19T10:00:00Z", detail="exit 1"))
    ledger.append(docs_root, _record(built, "build", "ok", "2026-11-20T10:00:00Z"))
    ledger.append(
        docs_root,
        _record(built, "smoke", "ok", "2026-11-21T08:00:00Z", hardware="NVIDIA H100 80GB HBM3 (9.0), sapphirerapids"),
    )
    ledger.append(docs_root, _record(flaky, "build", "ok", "2026-11-20T11:00:00Z", rev="b" * 40 + "-dirty"))
    ledger.append(docs_root, _record(flaky, "smoke", "failed", "2026-11-21T09:00:00Z", hardware="NVIDIA H100 | <b>x</b>"))
    ledger.append(docs_root, _record("pytorch-python313-cuda12_8-sm999-avx", "build", "ok", "2026-11-21T09:00:00Z"))

    # Sessions record locally: the committed docs stay current until the records are promoted.
    assert generate.cmd_docs(str(docs_root), str(f), True) == 0
    assert len(ledger.promote(docs_root)) == len(m.by_name) + 6 and ledger.pending(docs_root) == []
    assert generate.cmd_docs(str(docs_root), str(f), True) == 1  # promoted evidence makes the docs stale
    report = docs.sync(docs_root, m)
    assert "docs/BUILD_MATRIX.md" in report.updated
    regions = _all_regions(docs_root)
    bm = regions[f"{page_of(m.variant(built))}:page"]
    assert f"| `{built}` | Hopper | sm90 | avx512 | 13.0 | 3.13 | 2.10.0 | x86_64-linux | smoke-tested |" in bm
    assert f"| `{flaky}` | Hopper | sm90 | avx512 | 13.0 | 3.13 | 2.10.0 | x86_64-linux | built; smoke test failed |" in bm
    other = "pytorch-python313-cuda13_0-sm90-avx2"
    assert f"| `{other}` | Hopper | sm90 | avx2 | 13.0 | 3.13 | 2.10.0 | x86_64-linux | evaluated, not built |" in bm
    ev = regions["docs/BUILD_MATRIX.md:evidence"]
    assert f"- {len(m.variants)} variants evaluated ok on 2026-11-19 at commit `aaaaaaa`: stand-in nixpkgs" in ev
    assert f"| `{built}` | build | ok | — | builder1 | 2026-11-20 | `aaaaaaa` | — |" in ev
    assert f"| `{built}` | smoke test | ok | NVIDIA H100 80GB HBM3 (9.0), sapphirerapids | builder1 | 2026-11-21 |" in ev
    assert f"| `{flaky}` | build | ok | — | builder1 | 2026-11-20 | `bbbbbbb + uncommitted changes` |" in ev
    # free text cannot break the table or inject HTML: a session's record is cleaned when written, shown escaped
    assert "NVIDIA H100 \\| ‹b&gt;x‹/b&gt;" in ev and "<b>" not in ev
    removed = "**Removed variants** (1: in the ledger, no longer in variants.toml; no recipe, not current): "
    assert removed + "`pytorch-python313-cuda12_8-sm999-avx` (build ok)." in ev
    assert "| `pytorch-python313-cuda12_8-sm999-avx`" not in ev
    assert not any("sm999" in regions[f"{p}:page"] for p in page_files(docs_root))
    summary = regions["README.md:summary"]
    assert f"{len(m.variants)} evaluated, 2 built, 1 smoke-tested (latest record 2026-11-21;" in summary
    # Stable: the same ledger gives the same docs, whenever it runs.
    assert generate.cmd_docs(str(docs_root), str(f), True) == 0


def test_a_broken_ledger_is_an_error_not_silence(docs_root):
    path = docs_root / ledger.LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json\n", encoding="utf-8")
    before = _snapshot(docs_root)
    with pytest.raises(DocsError, match="not a ledger record"):
        docs.sync(docs_root, model.load(docs_root / "variants.toml"))
    assert _snapshot(docs_root) == before


# ------------------------------------------------------- consistent with invoke detect


def _host_for(capability: str | None, driver: str, cpu: str):
    detect = pytest.importorskip("buildmatrix.detect.probe")

    def smi(argv):
        if capability is None:
            raise FileNotFoundError("nvidia-smi")
        return f"0, Test GPU, {capability}, {driver}, 81559\n"

    return detect, detect.detect_host(nvml=None, run=smi, cpu=cpu)


def test_decision_tree_agrees_with_invoke_detect(shipped):
    m = shipped
    for g in docs.sorted_gpus(m):
        want = docs.best_build(m, g.capability)
        cpu = "neoverse_v2" if "x86_64-linux" not in g.platforms else "sapphirerapids"
        _, host = _host_for(g.capability, "999.99", cpu)
        # detect recommends on the default torch line and Python; a GPU only another line builds
        # (sm70: torch 2.9, Python 3.11/3.12) is recommended for that line and Python.
        builds = [v for v in m.variants if want is not None and v.gpu is want]
        default = [v for v in builds if not v.line and v.python.version == m.defaults.python]
        line = python = None
        if builds and not default:
            line = max((v.torch_line for v in builds), key=lambda x: tuple(map(int, x.split("."))))
            python = max((v.python.version for v in builds if v.torch_line == line), key=lambda x: tuple(map(int, x.split("."))))
        rec = choice.recommend(m, host, python=python, torch=line)
        got = {c.variant.gpu.name for c in rec.recommended if c.variant.gpu}
        assert got == ({want.name} if want else set()), (g.name, got)
        if want:
            cudas = docs.cudas_of(m, want)
            expect_cuda = m.defaults.cuda if m.defaults.cuda in cudas else cudas[-1]
            assert {c.variant.cuda.version for c in rec.recommended} == {expect_cuda}
    facts = docs.isa_facts(m)
    best = {t: isa for isa, f in facts.items() for t in f.best_for}
    for target, isa in sorted(best.items()):
        _, host = _host_for(None, "", target)
        assert fit.best_isa(m, host).name == isa, target


def test_driver_table_agrees_with_detect(shipped):
    text = docs.GENERATORS["decision-tree"](_ctx(shipped))
    table = next(t for t in _tables(text) if t[0][0] == "Driver")
    for row in table[1:]:
        driver = row[0].removeprefix("≥ ")
        cuda = shipped.cudas[row[1].split()[1]]
        # the row's driver runs that CUDA (minor-version compatibility counted) and the newest release of its major
        assert driver == fit.cuda_floor(cuda)
        same_major = [c for c in shipped.cudas.values() if c.major == cuda.major]
        assert fit.newest_cuda(shipped, driver) == max(same_major, key=lambda c: c.v).version
        assert row[3] == f"≥ {cuda.min_driver}"  # every feature needs the release's own driver


def test_example_commands_are_real_nox_sessions(shipped):
    builds = pytest.importorskip("buildmatrix.builds.sessions")
    names = {s.name for s in builds.sessions(shipped)}
    text = docs.GENERATORS["examples"](_ctx(shipped))
    for session in re.findall(r"nox -s (build-\S+)", text):
        assert session in names, session
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for session in re.findall(r"nox -s (build-[a-z0-9_-]+)", readme):
        assert session in names, session


def test_every_markdown_table_is_well_formed(root):
    """GitHub renders a table only when each row has the header's cell count and a separator row follows the header."""
    for rel in DOC_FILES + page_files(root):
        lines = (root / rel).read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
                assert i == 0 or lines[i - 1] == "", f"{rel}:{i + 1}: a table needs a blank line before it"
                assert re.fullmatch(r"\|(---\|)+", lines[i + 1]), f"{rel}:{i + 2}: no separator row"
        for t in _tables((root / rel).read_text(encoding="utf-8")):
            for row in t[1:]:
                assert len(row) == len(t[0]), f"{rel}: {row}"
