"""The one driver for every file this tool generates: outputs → plan → check | write (and prune) → report.

Contract, for every caller (recipes, the jobset, the CI workflow, the JSON schema, the docs'
documents and pages):

- An :class:`Output` is a repository-relative path, the exact text the file must hold, and how
  a file this tool owns is told from a hand-written one: ``marker`` (its first line starts with
  it), or ``None`` when the caller vouches for the path (the schema's fixed path; a document whose
  BEGIN/END regions the caller has parsed: the text is the document with its regions filled).
  An output may carry only the SHA-256 ``digest`` of its text (``text`` None; the check's memo,
  ``buildmatrix.gencache``): it is planned and checked like any other, but never written.
- An :class:`Owned` directory lets the plan find *stale* files: files directly in it, with its
  suffix and its marker on their first line, that no output produces any more.
- :func:`plan` reads, writes nothing, and gives each output its state (``unchanged``,
  ``missing``, ``different``), the stale files, and the *problems*: a hand-written file (or a
  directory) where an output goes. Files are compared byte for byte with the UTF-8 text.
- :func:`check` and :func:`write` raise :class:`Refused` if the plan has any problem, **before
  anything is written**. ``check`` never writes. ``write`` writes only the outputs that are
  missing or different, each through :func:`buildmatrix.files.write_atomic` (a reader sees the
  old file or the new one; a killed run leaves no debris the next run does not sweep), in the
  order given, then deletes the stale files when ``prune`` (else it reports them as stale).
  Files that are neither outputs nor stale (hand-written ones) are never touched.
- Both return one :class:`Report` (created, updated, unchanged, deleted, stale; in check mode
  created/updated are what a write would create/update: missing/different), with a text
  rendering (:meth:`Report.lines`, :meth:`Report.summary`) and :meth:`Report.as_dict` for --json.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import BuildMatrixError
from .files import sweep, write_atomic

UNCHANGED, MISSING, DIFFERENT = "unchanged", "missing", "different"


@dataclass(frozen=True, kw_only=True)
class Output:
    """One file this tool generates: where (relative to the root), what it holds, how it is owned.

    ``what`` names it in the refusal when a hand-written file holds its place ("the jobset").
    ``digest`` (with ``text`` None): the SHA-256 hex digest of the UTF-8 text, for a check only.
    """

    path: PurePosixPath
    text: str | None
    marker: str | None
    what: str = "a generated file"
    digest: str | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.digest is None):
            raise ValueError(f"{self.path}: an output has its text or its digest, exactly one")

    def sha256(self) -> str:
        """The SHA-256 hex digest of the file this output must be."""
        return self.digest if self.text is None else hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` (a file's bytes) is exactly this output's text."""
        if self.text is not None:
            return data == self.text.encode("utf-8")
        return hashlib.sha256(data).hexdigest() == self.digest


@dataclass(frozen=True, kw_only=True)
class Owned:
    """A directory whose generated files (``suffix``, ``marker`` on line 1) belong to this tool."""

    directory: PurePosixPath
    suffix: str
    marker: str


@dataclass(frozen=True, kw_only=True)
class Planned:
    """An output and its state on disk: :data:`UNCHANGED`, :data:`MISSING` or :data:`DIFFERENT`."""

    output: Output
    state: str


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What a write would do under ``root``; nothing has been written. ``problems`` stop everything."""

    root: Path
    entries: tuple[Planned, ...]
    stale: tuple[PurePosixPath, ...]
    problems: tuple[str, ...]
    owned: tuple[Owned, ...] = ()

    def state(self, path: PurePosixPath | str) -> str:
        """The state of the output at ``path`` (KeyError when no output has it)."""
        want = PurePosixPath(path)
        for entry in self.entries:
            if entry.output.path == want:
                return entry.state
        raise KeyError(str(path))


class Refused(BuildMatrixError):
    """A hand-written file (or a directory) is where a generated file goes; nothing was written."""

    def __init__(self, problems: Iterable[str]):
        self.problems = tuple(problems)
        super().__init__(*self.problems)

    def __str__(self) -> str:
        return "\n".join([*self.problems, "nothing was written"])


def starts_with(path: Path, marker: str) -> bool:
    """Whether the first line of the file at ``path`` starts with ``marker`` (False if unreadable)."""
    try:
        with Path(path).open("r", encoding="utf-8", errors="replace") as fh:
            return fh.readline().startswith(marker)
    except OSError:
        return False


def refusal(output: Output) -> str:
    """The message for a hand-written file in ``output``'s place."""
    return (
        f"{output.path}: a hand-written file (its first line is not `{output.marker} …`) has the name of "
        f"{output.what}; it is never overwritten: rename or move it"
    )


def _first_line(data: bytes) -> str:
    return data.split(b"\n", 1)[0].decode("utf-8", errors="replace")


def plan(root: Path, outputs: Iterable[Output], *, owned: Iterable[Owned] = ()) -> Plan:
    """Compare every output with the disk and find the stale files of the ``owned`` directories."""
    root = Path(root)
    outputs = tuple(outputs)
    paths = [o.path for o in outputs]
    if len(set(paths)) != len(paths):
        twice = sorted({str(p) for p in paths if paths.count(p) > 1})
        raise ValueError(f"outputs named twice: {', '.join(twice)}")
    entries, problems = [], []
    for out in outputs:
        where = root / out.path
        if not where.exists():
            entries.append(Planned(output=out, state=MISSING))
            continue
        if not where.is_file():
            problems.append(f"{out.path}: not a file, where {out.what} goes; move it away")
            entries.append(Planned(output=out, state=DIFFERENT))
            continue
        data = where.read_bytes()
        if out.marker is not None and not _first_line(data).startswith(out.marker):
            problems.append(refusal(out))
        entries.append(Planned(output=out, state=UNCHANGED if out.matches(data) else DIFFERENT))
    owned = tuple(owned)
    produced = set(paths)
    stale = []
    for own in owned:
        directory = root / own.directory
        if not directory.is_dir():
            continue
        for p in directory.iterdir():
            rel = own.directory / p.name
            if p.suffix == own.suffix and rel not in produced and p.is_file() and starts_with(p, own.marker):
                stale.append(rel)
    return Plan(root=root, entries=tuple(entries), stale=tuple(sorted(stale)), problems=tuple(problems), owned=owned)


@dataclass(frozen=True, kw_only=True)
class Report:
    """What a write did, or (``checked``) what it would do: every field lists repository-relative paths.

    In check mode ``created`` / ``updated`` are the missing / different files and ``deleted`` is
    empty; ``stale`` lists stale files kept (check mode, or a write without prune).
    """

    checked: bool = False
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether a file was (check mode: would be) created, updated or deleted."""
        return bool(self.created or self.updated or self.deleted)

    @property
    def clean(self) -> bool:
        """Whether every output already held its text and no stale file was found."""
        return not (self.created or self.updated or self.deleted or self.stale)

    def words(self) -> dict[str, str]:
        """Field → the word its lines begin with ("missing" for ``created`` in check mode)."""
        if self.checked:
            return {"created": MISSING, "updated": DIFFERENT, "stale": "stale"}
        return {"created": "created", "updated": "updated", "deleted": "deleted", "stale": "stale"}

    def lines(
        self, label: Callable[[str], str] = str, note: Callable[[str, str], str] = lambda field, path: ""
    ) -> list[str]:
        """``"created   PATH"``, one line per changed or stale file (not the unchanged ones).

        ``label`` shows a path ("the file name"); ``note(field, path)`` is appended to its line."""
        return [
            f"{word:<9} {label(path)}{note(field, path)}"
            for field, word in self.words().items()
            for path in getattr(self, field)
        ]

    def summary(self) -> str:
        """``"2 created, 1 updated, 5 unchanged, 0 deleted, 1 stale"``."""
        return ", ".join(f"{len(getattr(self, k))} {k}" for k in ("created", "updated", "unchanged", "deleted", "stale"))

    def as_dict(self) -> dict:
        """For --json: every field, and ``clean``."""
        fields = ("created", "updated", "unchanged", "deleted", "stale")
        return {"check": self.checked, "clean": self.clean, **{k: list(getattr(self, k)) for k in fields}}


def _refuse(planned: Plan) -> None:
    if planned.problems:
        raise Refused(planned.problems)


def _by_state(planned: Plan, state: str) -> tuple[str, ...]:
    return tuple(str(e.output.path) for e in planned.entries if e.state == state)


def check(planned: Plan) -> Report:
    """The drift, writing nothing: raises :class:`Refused` on any problem."""
    _refuse(planned)
    return Report(
        checked=True,
        created=_by_state(planned, MISSING),
        updated=_by_state(planned, DIFFERENT),
        unchanged=_by_state(planned, UNCHANGED),
        stale=tuple(map(str, planned.stale)),
    )


def write(planned: Plan, *, prune: bool = True) -> Report:
    """Write what is missing or different (atomically), then delete the stale files when ``prune``.

    Raises :class:`Refused`, writing nothing, on any problem of the plan."""
    _refuse(planned)
    unwritable = [str(e.output.path) for e in planned.entries if e.state != UNCHANGED and e.output.text is None]
    if unwritable:
        raise ValueError(f"outputs known only by their digest cannot be written: {', '.join(unwritable[:5])}")
    root = planned.root
    directories = {(root / e.output.path).parent for e in planned.entries} | {root / o.directory for o in planned.owned}
    for directory in sorted(directories):
        sweep(directory)  # temp files of a run that was killed
    for entry in planned.entries:
        if entry.state != UNCHANGED:
            write_atomic(root / entry.output.path, entry.output.text)
    stale = tuple(map(str, planned.stale))
    if prune:
        for rel in planned.stale:
            (root / rel).unlink(missing_ok=True)
    return Report(
        created=_by_state(planned, MISSING),
        updated=_by_state(planned, DIFFERENT),
        unchanged=_by_state(planned, UNCHANGED),
        deleted=stale if prune else (),
        stale=() if prune else stale,
    )
