"""The MAGMA CUDA 13 patch and the unified-diff checker in buildmatrix.patching."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

try:
    import buildmatrix  # noqa: F401
except ImportError:  # no conftest put scripts/ on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from buildmatrix.magma.patching import (
    HunkMismatch,
    Patch,
    PatchError,
    Status,
    apply_to_text,
    check_tree,
    load_patch,
    parse_patch,
    postimage_from_hunks,
    preimage_from_hunks,
    strip_path,
    unapply_text,
)
from buildmatrix.magma.source import check_source

ROOT = Path(__file__).resolve().parents[1]
PATCH_FILE = ROOT / "patches" / "cuda-13.0-clockrate-fix.patch"
TARGET = "interface_cuda/interface.cpp"


@pytest.fixture(scope="module")
def patch() -> Patch:
    return load_patch(PATCH_FILE)


@pytest.fixture(scope="module")
def pre(patch: Patch) -> str:
    return preimage_from_hunks(patch)[TARGET]


@pytest.fixture(scope="module")
def post(patch: Patch) -> str:
    return postimage_from_hunks(patch)[TARGET]


def make_tree(base: Path, text: str, name: str = "tree") -> Path:
    """A source tree holding only interface_cuda/interface.cpp with ``text``."""
    root = base / name
    (root / "interface_cuda").mkdir(parents=True)
    (root / TARGET).write_text(text)
    return root


def make_tarball(path: Path, members: dict[str, str], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# --------------------------------------------------------------------------- the shipped patch


def test_shipped_patch_is_a_unified_diff_with_a_header(patch: Patch) -> None:
    assert len(patch.files) == 1
    (fp,) = patch.files
    assert len(fp.hunks) == 1
    hunk = fp.hunks[0]
    assert len(hunk.old_lines) == hunk.old_count and len(hunk.new_lines) == hunk.new_count
    # the header explains itself and names the upstream fix; patch(1) skips it
    for needed in ("clockRate", "CUDA 13", "#61", "235aefb7b064954fce09d035c69907ba8a87cbcd", "2.10.0", "nixpkgs"):
        assert needed in patch.header, needed
    assert not any(line.startswith(("--- ", "+++ ", "@@", "diff ")) for line in patch.header.splitlines())


def test_shipped_patch_touches_only_interface_cpp(patch: Patch) -> None:
    assert patch.paths(strip=1) == [TARGET]
    (fp,) = patch.files
    assert (fp.old_path, fp.new_path) == (f"a/{TARGET}", f"b/{TARGET}")


def test_applies_to_own_preimage_and_yields_postimage(patch: Patch, pre: str, post: str, tmp_path: Path) -> None:
    assert "prop.clockRate / 1000.," in pre
    assert apply_to_text(patch.files[0].hunks, pre) == post
    assert unapply_text(patch.files[0].hunks, post) == pre
    tree = make_tree(tmp_path, pre)
    before = (tree / TARGET).read_bytes()
    result = check_tree(patch, tree)
    assert result.status is Status.APPLIES and result.ok
    assert [(p.file, p.hunk, p.line) for p in result.placements] == [(TARGET, 1, 1)]
    assert (tree / TARGET).read_bytes() == before  # a dry run never writes


def test_second_run_on_patched_tree_is_already_applied(patch: Patch, post: str, tmp_path: Path) -> None:
    result = check_tree(patch, make_tree(tmp_path, post))
    assert result.status is Status.ALREADY_APPLIED
    assert str(result) == "already-applied"


def test_hunk_found_at_an_offset(patch: Patch, pre: str, post: str, tmp_path: Path) -> None:
    head = "".join(f"// filler {i}\n" for i in range(40))
    tail = "// end\n"
    tree = make_tree(tmp_path, head + pre + tail)
    result = check_tree(patch, tree)
    assert result.status is Status.APPLIES
    (place,) = result.placements
    assert place.line == 41 and place.offset == 41 - patch.files[0].hunks[0].old_start
    assert apply_to_text(patch.files[0].hunks, head + pre + tail) == head + post + tail


def test_context_that_differs_fails_naming_the_hunk(patch: Patch, pre: str, tmp_path: Path) -> None:
    changed = pre.replace("        #ifdef MAGMA_HAVE_CUDA\n", "        #if defined(MAGMA_HAVE_CUDA)\n")
    assert changed != pre
    result = check_tree(patch, make_tree(tmp_path, changed))
    assert result.status is Status.FAILS and not result.ok
    assert (result.file, result.hunk) == (TARGET, 1)
    assert "#ifdef MAGMA_HAVE_CUDA" in result.reason and "#if defined(MAGMA_HAVE_CUDA)" in result.reason
    assert f"{TARGET}: hunk #1:" in str(result)
    with pytest.raises(HunkMismatch) as err:
        apply_to_text(patch.files[0].hunks, changed)
    assert err.value.index == 1


def test_missing_file_fails(patch: Patch, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = check_tree(patch, tmp_path / "empty")
    assert result.status is Status.FAILS and result.file == TARGET and "not found" in result.reason


def test_added_lines_use_the_attribute_behind_a_cuda13_guard(patch: Patch, post: str) -> None:
    (fp,) = patch.files
    added = "\n".join(fp.added)
    assert "cudaDevAttrClockRate" in added and "cudaDeviceGetAttribute" in added
    assert re.search(r"^\s*#\s*if\s+(CUDA_VERSION|CUDART_VERSION)\s*>=\s*13000\b", added, re.M)
    assert [line.strip() for line in fp.removed] == ["prop.clockRate / 1000.,"]
    # every remaining prop.clockRate in the patched code sits in the #else (CUDA < 13) branch of that guard
    stack: list[list[str]] = []  # per open #if: [condition, branch]
    seen = 0
    for line in post.splitlines():
        directive = line.strip()
        if directive.startswith("#if"):
            stack.append([directive, "if"])
        elif directive.startswith("#else"):
            stack[-1][1] = "else"
        elif directive.startswith("#endif"):
            stack.pop()
        elif "prop.clockRate" in line:
            seen += 1
            assert any(re.search(r"VERSION\s*>=\s*13000", cond) and branch == "else" for cond, branch in stack), line
    assert seen == 1


# --------------------------------------------------------------------------- tarballs


@pytest.mark.parametrize(
    "suffix, mode", [(".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar.xz", "w:xz"), (".tar.bz2", "w:bz2"), (".tar", "w")]
)
def test_tarball_input(patch: Patch, pre: str, tmp_path: Path, suffix: str, mode: str) -> None:
    ball = make_tarball(tmp_path / f"magma-2.9.0{suffix}", {"magma-2.9.0/README": "MAGMA\n", f"magma-2.9.0/{TARGET}": pre}, mode)
    result = check_source(patch, ball)
    assert result.status is Status.APPLIES
    assert result.root == "magma-2.9.0"


def test_tarball_already_patched(patch: Patch, post: str, tmp_path: Path) -> None:
    ball = make_tarball(tmp_path / "magma.tar.gz", {f"magma-2.9.0/{TARGET}": post})
    assert check_source(patch, ball).status is Status.ALREADY_APPLIED


def test_tarball_without_wrapper_directory(patch: Patch, pre: str, tmp_path: Path) -> None:
    ball = make_tarball(tmp_path / "flat.tar.gz", {TARGET: pre})
    result = check_source(patch, ball)
    assert result.status is Status.APPLIES and result.root == "."


@pytest.mark.parametrize("evil", ["../evil", "magma-2.9.0/../../evil", "/tmp/evil-absolute"])
def test_tarball_with_escaping_member_is_rejected(patch: Patch, pre: str, tmp_path: Path, evil: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ball = make_tarball(work / "evil.tar.gz", {f"magma-2.9.0/{TARGET}": pre, evil: "pwned\n"})
    with pytest.raises(PatchError, match="unsafe member"):
        check_source(patch, ball)
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil-absolute").exists()


def test_tarball_with_escaping_symlink_is_rejected(patch: Patch, tmp_path: Path) -> None:
    ball = tmp_path / "link.tar.gz"
    with tarfile.open(ball, "w:gz") as tar:
        info = tarfile.TarInfo("magma-2.9.0/interface_cuda")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../outside"
        tar.addfile(info)
    with pytest.raises(PatchError, match="points outside"):
        check_source(patch, ball)


def test_check_source_accepts_a_directory_and_refuses_other_files(patch: Patch, pre: str, tmp_path: Path) -> None:
    assert check_source(patch, make_tree(tmp_path, pre)).status is Status.APPLIES
    other = tmp_path / "notes.txt"
    other.write_text("not an archive\n")
    with pytest.raises(PatchError, match="not a directory or a tarball"):
        check_source(patch, other)


# --------------------------------------------------------------------------- the parser and applier


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no '---'/'\\+\\+\\+' file header"),
        ("just some notes\nno diff here\n", "no '---'/'\\+\\+\\+' file header"),
        ("--- a/x.c\n@@ -1 +1 @@\n-a\n+b\n", "not followed by a '\\+\\+\\+' line"),
        ("@@ -1 +1 @@\n-a\n+b\n", "hunk without a '---'/'\\+\\+\\+' file header"),
        ("--- a/x.c\n+++ b/x.c\n@@ -1 +1 @\n-a\n+b\n", "malformed hunk header"),
        ("--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n", "truncated"),
        ("--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @@\n a\n*b\n+c\n", "unexpected line"),
        ("--- a/x.c\n+++ b/x.c\nnot a hunk\n", "has no hunks"),
        ("--- a/x.c\n+++ b/x.c\n@@ -5,2 +5,2 @@\n a\n-b\n+c\n@@ -1,1 +1,1 @@\n-d\n+e\n", "overlaps or precedes"),
        ("--- a/../x.c\n+++ b/../x.c\n@@ -1 +1 @@\n-a\n+b\n", None),
    ],
)
def test_malformed_patch_raises(text: str, message: str | None) -> None:
    with pytest.raises(PatchError) as err:
        parsed = parse_patch(text)
        parsed.paths(strip=1)  # path checks happen when a path is used
    if message:
        assert re.search(message, str(err.value)), str(err.value)


def test_strip_path_like_patch_p() -> None:
    assert strip_path("a/interface_cuda/interface.cpp", 1) == "interface_cuda/interface.cpp"
    assert strip_path("interface.cpp", 0) == "interface.cpp"
    with pytest.raises(PatchError):
        strip_path("interface.cpp", 1)
    with pytest.raises(PatchError):
        strip_path("/etc/passwd", 0)


SIGNATURE = "-- \n2.43.0\n"  # what git format-patch puts after the last hunk
TWO_FILES = """Some description.

diff --git a/src/one.c b/src/one.c
index 0000000..1111111 100644
--- a/src/one.c\t2025-01-01 00:00:00
+++ b/src/one.c\t2025-01-02 00:00:00
@@ -2,3 +2,3 @@ int main(void)
 two
-three
+THREE
 four
@@ -8,2 +8,3 @@
 eight
 nine
+ten
diff --git a/src/two.c b/src/two.c
--- a/src/two.c
+++ b/src/two.c
@@ -1,2 +1,2 @@
 alpha
-beta
\\ No newline at end of file
+beta
"""
TWO_FILES += SIGNATURE
ONE = "".join(f"{w}\n" for w in "one two three four five six seven eight nine".split())


def test_multi_file_patch_with_no_newline_marker(tmp_path: Path) -> None:
    patch = parse_patch(TWO_FILES)
    assert patch.header == "Some description.\n\n"
    assert patch.paths() == ["src/one.c", "src/two.c"]
    one, two = patch.files
    assert [h.section for h in one.hunks] == ["int main(void)", ""]
    assert two.hunks[0].old_no_newline and not two.hunks[0].new_no_newline
    assert apply_to_text(one.hunks, ONE) == ONE.replace("three", "THREE") + "ten\n"
    assert apply_to_text(two.hunks, "alpha\nbeta") == "alpha\nbeta\n"
    assert unapply_text(two.hunks, "alpha\nbeta\n") == "alpha\nbeta"
    with pytest.raises(HunkMismatch):  # the old side says the file has no final newline
        apply_to_text(two.hunks, "alpha\nbeta\n")
    assert preimage_from_hunks(patch)["src/two.c"] == "alpha\nbeta"
    assert postimage_from_hunks(patch)["src/one.c"] == "two\nTHREE\nfour\neight\nnine\nten\n"

    (tmp_path / "src").mkdir()
    (tmp_path / "src/one.c").write_text(ONE)
    (tmp_path / "src/two.c").write_text("alpha\nbeta")
    assert check_tree(patch, tmp_path).status is Status.APPLIES
    (tmp_path / "src/one.c").write_text(ONE.replace("three", "THREE") + "ten\n")
    (tmp_path / "src/two.c").write_text("alpha\nbeta\n")
    assert check_tree(patch, tmp_path).status is Status.ALREADY_APPLIED
    (tmp_path / "src/two.c").write_text("alpha\ngamma\n")  # first file patched, second neither
    result = check_tree(patch, tmp_path)
    assert result.status is Status.FAILS and result.file == "src/one.c" and result.hunk == 1


def test_hunks_do_not_match_before_the_previous_hunk() -> None:
    patch = parse_patch("--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-x\n+y\n@@ -3,1 +3,1 @@\n-x\n+z\n")
    assert apply_to_text(patch.files[0].hunks, "x\nm\nx\n") == "y\nm\nz\n"
    with pytest.raises(HunkMismatch) as err:  # only one "x": the second hunk may not reuse it
        apply_to_text(patch.files[0].hunks, "x\nm\nn\n")
    assert err.value.index == 2


def test_no_fuzz_whitespace_matters(patch: Patch, pre: str) -> None:
    with pytest.raises(HunkMismatch):
        apply_to_text(patch.files[0].hunks, pre.replace("        check_error( err );\n", "\tcheck_error( err );\n"))


# --------------------------------------------------------------------------- agreement with GNU patch


def gnu_patch_status(tree: Path) -> tuple[Status, str]:
    run = subprocess.run(
        ["patch", "-p1", "--dry-run", "--forward", "--fuzz=0", "--batch", "-d", str(tree), "-i", str(PATCH_FILE)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    out = run.stdout + run.stderr
    if run.returncode == 0:
        return Status.APPLIES, out
    if "Reversed (or previously applied) patch detected" in out:
        return Status.ALREADY_APPLIED, out
    return Status.FAILS, out


@pytest.mark.skipif(shutil.which("patch") is None, reason="GNU patch is not on PATH")
def test_check_tree_agrees_with_gnu_patch(patch: Patch, pre: str, post: str, tmp_path: Path) -> None:
    filler = "".join(f"// line {i}\n" for i in range(7))
    trees = {
        "pre": pre,
        "pre-offset": filler + pre,
        "post": post,
        "broken": pre.replace("prop.clockRate / 1000.,", "prop.clockRate * 1e-3,"),
    }
    expected = {"pre": Status.APPLIES, "pre-offset": Status.APPLIES, "post": Status.ALREADY_APPLIED, "broken": Status.FAILS}
    for name, text in trees.items():
        tree = make_tree(tmp_path, text, name)
        ours = check_tree(patch, tree)
        theirs, out = gnu_patch_status(tree)
        assert ours.status is theirs is expected[name], (name, str(ours), out)
        if theirs is Status.APPLIES:
            at = re.search(r"Hunk #1 succeeded at (\d+)", out)
            assert at and int(at[1]) == ours.placements[0].line, (name, out)
        assert (tree / TARGET).read_text() == text  # neither tool wrote anything
