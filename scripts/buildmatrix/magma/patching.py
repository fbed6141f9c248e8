"""Read unified diffs and check, without touching anything, whether they apply to a source tree.

Used for the source patches under ``patches/`` (e.g. the MAGMA CUDA 13 fix): parse the patch,
then ask whether it ``applies``, is ``already-applied`` (its reverse applies cleanly) or ``fails``
on a source directory (:mod:`buildmatrix.magma.source` extends the check to release tarballs). Matching is exact, like ``patch -p1 --fuzz=0``: a hunk
may sit at another line than its header says (an offset), but its context and removed lines must
match byte for byte. Nothing here writes to the tree that is checked.

Standard library only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildMatrixError

DEV_NULL = "/dev/null"
NO_NEWLINE = "\\ No newline at end of file"

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


class PatchError(BuildMatrixError):
    """The patch text is malformed, or a tree/tarball cannot be checked safely."""


class HunkMismatch(PatchError):
    """A hunk's context or removed lines are not in the text (exact match, offsets allowed)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"hunk #{index}: {reason}")
        self.index = index
        self.reason = reason


class Status(enum.StrEnum):
    """Outcome of a dry run."""

    APPLIES = "applies"
    ALREADY_APPLIED = "already-applied"
    FAILS = "fails"


@dataclass(frozen=True)
class Hunk:
    """One ``@@ -a,b +c,d @@`` block. ``lines`` keep their ``' '``/``'-'``/``'+'`` prefix."""

    index: int  # 1-based, within its file
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[str, ...]
    section: str = ""  # text after the closing "@@" (often the enclosing function)
    old_no_newline: bool = False  # the old side's last line has no newline at end of file
    new_no_newline: bool = False

    @property
    def old_lines(self) -> list[str]:
        """Context and removed lines: what must be in the file before."""
        return [line[1:] for line in self.lines if line[0] in " -"]

    @property
    def new_lines(self) -> list[str]:
        """Context and added lines: what is in the file after."""
        return [line[1:] for line in self.lines if line[0] in " +"]

    @property
    def added(self) -> list[str]:
        return [line[1:] for line in self.lines if line[0] == "+"]

    @property
    def removed(self) -> list[str]:
        return [line[1:] for line in self.lines if line[0] == "-"]

    def reversed(self) -> Hunk:
        """The hunk that undoes this one."""
        swap = {"+": "-", "-": "+", " ": " "}
        return Hunk(
            index=self.index,
            old_start=self.new_start,
            old_count=self.new_count,
            new_start=self.old_start,
            new_count=self.old_count,
            lines=tuple(swap[line[0]] + line[1:] for line in self.lines),
            section=self.section,
            old_no_newline=self.new_no_newline,
            new_no_newline=self.old_no_newline,
        )


@dataclass(frozen=True)
class FilePatch:
    """The hunks for one file, with the paths from its ``---``/``+++`` lines."""

    old_path: str
    new_path: str
    hunks: tuple[Hunk, ...]

    @property
    def is_creation(self) -> bool:
        return self.old_path == DEV_NULL

    @property
    def is_deletion(self) -> bool:
        return self.new_path == DEV_NULL

    def path(self, strip: int = 1) -> str:
        """The file's path relative to the source root, as ``patch -p<strip>`` would use it."""
        return strip_path(self.old_path if self.is_deletion else self.new_path, strip)

    @property
    def added(self) -> list[str]:
        return [line for hunk in self.hunks for line in hunk.added]

    @property
    def removed(self) -> list[str]:
        return [line for hunk in self.hunks for line in hunk.removed]


@dataclass(frozen=True)
class Patch:
    """A parsed unified diff: the free text before the first file, then the files."""

    header: str
    files: tuple[FilePatch, ...]

    def paths(self, strip: int = 1) -> list[str]:
        return [f.path(strip) for f in self.files]


@dataclass(frozen=True)
class Placement:
    """Where a hunk matched: 1-based line in the checked file and its distance from the header's line."""

    file: str
    hunk: int
    line: int
    offset: int


@dataclass(frozen=True)
class Result:
    """What a dry run found. For ``fails``: the first file and hunk that did not match, and why."""

    status: Status
    file: str | None = None
    hunk: int | None = None
    reason: str = ""
    root: str = ""  # the directory checked (for a tarball: its top-level directory's name)
    placements: tuple[Placement, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the tree either takes the patch or already has it."""
        return self.status is not Status.FAILS

    def __str__(self) -> str:
        if self.status is Status.FAILS:
            where = f"{self.file}: hunk #{self.hunk}: " if self.hunk else (f"{self.file}: " if self.file else "")
            return f"fails: {where}{self.reason}"
        return str(self.status.value)


# --------------------------------------------------------------------------- parsing


def strip_path(path: str, strip: int) -> str:
    """Drop the first ``strip`` slash-separated components, like ``patch -p``; refuse paths that leave the root."""
    if strip < 0:
        raise PatchError(f"strip must be >= 0, got {strip}")
    rest = path
    for _ in range(strip):
        cut = re.match(r"[^/]*/+", rest)
        if not cut:
            raise PatchError(f"cannot strip {strip} component(s) from {path!r}")
        rest = rest[cut.end() :]
    if not rest:
        raise PatchError(f"nothing left of {path!r} after stripping {strip} component(s)")
    if rest.startswith("/"):
        raise PatchError(f"absolute path {path!r} in patch")
    if ".." in rest.split("/"):
        raise PatchError(f"path {path!r} climbs out of the source root")
    return rest


def _header_path(line: str, marker: str) -> str:
    rest = line[len(marker) :]
    path = rest.split("\t", 1)[0].rstrip()
    if not path:
        raise PatchError(f"empty path in {line!r}")
    return path


def parse_patch(text: str) -> Patch:
    """Parse a unified diff. Text before the first ``diff``/``---`` line is kept as the header.

    Lines between files (``diff --git``, ``index``, a ``format-patch`` signature) are ignored,
    as ``patch`` does. Raises :class:`PatchError` naming the line for anything malformed.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    files: list[FilePatch] = []
    header: list[str] = []
    in_header = True  # free text runs until the first "diff ..." or "---" line
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if not (line.startswith("--- ") and i + 1 < n and lines[i + 1].startswith("+++ ")):
            if line.startswith("--- "):
                raise PatchError(f"line {i + 1}: '---' header is not followed by a '+++' line")
            if line.startswith("@@"):
                raise PatchError(f"line {i + 1}: hunk without a '---'/'+++' file header")
            if line.startswith("diff "):
                in_header = False
            if in_header:
                header.append(line)
            i += 1
            continue
        in_header = False
        old_path = _header_path(line, "--- ")
        new_path = _header_path(lines[i + 1], "+++ ")
        i += 2
        hunks: list[Hunk] = []
        while i < n and lines[i].startswith("@@"):
            hunk, i = _parse_hunk(lines, i, len(hunks) + 1, new_path)
            if hunks and hunk.old_start < hunks[-1].old_start + hunks[-1].old_count:
                raise PatchError(f"{new_path}: hunk #{hunk.index} overlaps or precedes hunk #{hunks[-1].index}")
            hunks.append(hunk)
        if not hunks:
            raise PatchError(f"line {i + 1}: file {new_path} has no hunks")
        files.append(FilePatch(old_path, new_path, tuple(hunks)))
    if not files:
        raise PatchError("not a unified diff: no '---'/'+++' file header found")
    return Patch(header="\n".join(header) + ("\n" if header else ""), files=tuple(files))


def _parse_hunk(lines: list[str], i: int, index: int, path: str) -> tuple[Hunk, int]:
    match = _HUNK_HEADER.match(lines[i])
    if not match:
        raise PatchError(f"line {i + 1}: malformed hunk header {lines[i]!r}")
    old_start, new_start = int(match[1]), int(match[3])
    old_count = 1 if match[2] is None else int(match[2])
    new_count = 1 if match[4] is None else int(match[4])
    body: list[str] = []
    old_left, new_left = old_count, new_count
    old_no_nl = new_no_nl = False
    i += 1
    while old_left or new_left:
        if i >= len(lines):
            raise PatchError(f"{path}: hunk #{index} is truncated: {old_left} old and {new_left} new line(s) missing")
        line = lines[i] or " "  # an empty line is a blank context line whose space was trimmed
        kind = line[0]
        if kind == " " and old_left and new_left:
            old_left, new_left = old_left - 1, new_left - 1
        elif kind == "-" and old_left:
            old_left -= 1
        elif kind == "+" and new_left:
            new_left -= 1
        elif kind == "\\" and body:
            old_no_nl, new_no_nl = _no_newline(body[-1], old_no_nl, new_no_nl)
            i += 1
            continue
        else:
            raise PatchError(
                f"line {i + 1}: {path}: hunk #{index}: unexpected line {lines[i]!r} (counts do not match the header)"
            )
        body.append(line)
        i += 1
    if i < len(lines) and lines[i].startswith("\\"):  # marker after the hunk's last line
        old_no_nl, new_no_nl = _no_newline(body[-1], old_no_nl, new_no_nl)
        i += 1
    hunk = Hunk(index, old_start, old_count, new_start, new_count, tuple(body), match[5].strip(), old_no_nl, new_no_nl)
    return hunk, i


def _no_newline(last: str, old: bool, new: bool) -> tuple[bool, bool]:
    """Apply a ``\\ No newline at end of file`` marker to the side(s) of the line before it."""
    return old or last[0] in " -", new or last[0] in " +"


def load_patch(path: Path) -> Patch:
    """Read and parse a patch file."""
    return parse_patch(_read(Path(path)))


def _read(path: Path) -> str:
    """File text exactly as stored (no newline translation, undecodable bytes kept)."""
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


# --------------------------------------------------------------------------- applying to text


def _split(text: str) -> tuple[list[str], bool]:
    """Lines without terminators, and whether the text ends with a newline."""
    if text == "":
        return [], True
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
        return lines, True
    return lines, False


def _join(lines: list[str], trailing_newline: bool) -> str:
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if trailing_newline else "")


def _locate(hunk: Hunk, lines: list[str], eol: bool, expected: int, floor: int) -> int:
    """Index where ``hunk.old_lines`` match exactly, nearest to ``expected`` and not before ``floor``."""
    old = hunk.old_lines
    last = len(lines) - len(old)
    if not old:  # pure insertion without context: only the stated place makes sense
        if floor <= expected <= len(lines):
            return expected
        raise HunkMismatch(hunk.index, f"insertion point line {expected + 1} is outside the file ({len(lines)} lines)")

    def fits(pos: int) -> bool:
        if lines[pos : pos + len(old)] != old:
            return False
        if hunk.old_no_newline:  # must end the file, and the file must lack the final newline
            return pos + len(old) == len(lines) and not eol
        return True

    for distance in range(0, max(expected - floor, last - expected) + 1):
        for pos in (expected - distance, expected + distance) if distance else (expected,):
            if floor <= pos <= last and fits(pos):
                return pos
    raise HunkMismatch(hunk.index, _why(old, lines, min(max(expected, floor), max(last, floor))))


def _why(old: list[str], lines: list[str], pos: int) -> str:
    for k, want in enumerate(old):
        at = pos + k
        if at >= len(lines):
            return f"the file ends at line {len(lines)}, before the hunk's line {want!r}"
        if lines[at] != want:
            return f"no exact match anywhere; at line {at + 1} expected {want!r}, found {lines[at]!r}"
    return "no exact match anywhere (end-of-file newline differs)"


def _apply(hunks: Sequence[Hunk], text: str) -> tuple[str, list[tuple[int, int, int]]]:
    """Apply hunks in order. Returns the new text and (hunk index, 1-based line, offset) per hunk."""
    lines, eol = _split(text)
    out: list[str] = []
    cursor = 0  # first line of ``lines`` not yet copied to ``out``
    drift = 0  # how far the previous hunk sat from where its header put it
    where: list[tuple[int, int, int]] = []
    for hunk in hunks:
        stated = hunk.old_start if hunk.old_count == 0 else hunk.old_start - 1
        pos = _locate(hunk, lines, eol, max(stated + drift, cursor), cursor)
        drift = pos - stated
        where.append((hunk.index, pos + 1, drift))
        out.extend(lines[cursor:pos])
        out.extend(hunk.new_lines)
        cursor = pos + len(hunk.old_lines)
        if cursor == len(lines) and (hunk.old_no_newline or hunk.new_no_newline):
            eol = not hunk.new_no_newline
    out.extend(lines[cursor:])
    return _join(out, eol or not out), where


def apply_to_text(hunks: Sequence[Hunk], text: str) -> str:
    """The text with the hunks applied. Raises :class:`HunkMismatch` for the first hunk that does not match."""
    return _apply(hunks, text)[0]


def unapply_text(hunks: Sequence[Hunk], text: str) -> str:
    """The reverse of :func:`apply_to_text`: take the hunks back out of patched text."""
    return _apply([h.reversed() for h in hunks], text)[0]


def preimage_from_hunks(patch: Patch, strip: int = 1) -> dict[str, str]:
    """The smallest old text of each file that the hunks imply: their context and removed lines, in order."""
    return {f.path(strip): _image(f.hunks, old=True) for f in patch.files if not f.is_creation}


def postimage_from_hunks(patch: Patch, strip: int = 1) -> dict[str, str]:
    """The smallest new text of each file that the hunks imply: their context and added lines, in order."""
    return {f.path(strip): _image(f.hunks, old=False) for f in patch.files if not f.is_deletion}


def _image(hunks: Sequence[Hunk], old: bool) -> str:
    lines = [line for h in hunks for line in (h.old_lines if old else h.new_lines)]
    last = hunks[-1]
    return _join(lines, not (last.old_no_newline if old else last.new_no_newline))


# --------------------------------------------------------------------------- checking trees


def _dry_run(patch: Patch, root: Path, strip: int, reverse: bool) -> Result:
    placements: list[Placement] = []
    for fp in patch.files:
        rel = fp.path(strip)
        target = root / rel
        creates = fp.is_deletion if reverse else fp.is_creation
        if not target.is_file():
            if creates:
                continue
            return Result(Status.FAILS, rel, None, f"file not found under {root}")
        if creates:
            return Result(Status.FAILS, rel, None, "file to be created already exists")
        text = _read(target)
        hunks = [h.reversed() for h in fp.hunks] if reverse else list(fp.hunks)
        try:
            _, where = _apply(hunks, text)
        except HunkMismatch as err:
            return Result(Status.FAILS, rel, err.index, err.reason)
        placements.extend(Placement(rel, i, line, off) for i, line, off in where)
    status = Status.ALREADY_APPLIED if reverse else Status.APPLIES
    return Result(status, root=str(root), placements=tuple(placements))


def check_tree(patch: Patch, root: Path, strip: int = 1) -> Result:
    """Dry-run ``patch`` against the directory ``root``; never modifies it.

    ``applies`` if every hunk matches; otherwise ``already-applied`` if the reverse patch matches
    (the post-image is present); otherwise ``fails`` with the first file/hunk that did not match.
    """
    root = Path(root)
    if not root.is_dir():
        raise PatchError(f"{root} is not a directory")
    forward = _dry_run(patch, root, strip, reverse=False)
    if forward.ok:
        return forward
    backward = _dry_run(patch, root, strip, reverse=True)
    if backward.ok:
        return backward
    return Result(Status.FAILS, forward.file, forward.hunk, forward.reason, str(root))
