"""The build ledger: recorded evidence of what was evaluated, built and smoke-tested, where and when.

Two files of one JSON object per line, only ever appended to:

- ``ledger/local.jsonl`` (git-ignored): where every session on this machine appends
  (``nox -s build-…``, ``nox -s smoke``, ``nox -s eval -- --record``, ``invoke publish``,
  ``invoke push``). A build therefore changes no tracked file: ``pytest`` and
  ``invoke docs --check`` stay green after it, and smoke records made next are stamped
  with a clean source revision.
- ``ledger/records.jsonl`` (committed): the evidence the docs show. ``invoke ledger
  --promote`` (:func:`promote`) moves the local records there and regenerates the docs,
  for the maintainer to commit; that is also how records made on one host reach another.

Readers that decide (``invoke publish``, ``invoke plan``) take both files; the docs take
the committed one only. A reader takes the latest record per (variant, action). Nothing
here decides success: callers record what actually happened, and an interrupted or
failing run is recorded as such.

Records also come from other machines (a CI run's artifact, another host's promoted
records), so none is trusted: every line is checked when read (:func:`check_line`): a
JSON object of exactly the record's fields, each of its type, ISO 8601 timestamps, a hex
git revision, a known action and status, a plausible variant name (one of the model's,
where the caller has it), text of one line without control characters, HTML tags or
comment markers, and bounded sizes. A bad line is a :class:`LedgerError` naming
file:line, the field and the fix; whoever reads it writes nothing. :func:`append` cleans
the text of the records this machine makes so that they always pass.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
from collections.abc import Container, Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from .errors import UsageError

LEDGER = Path("ledger") / "records.jsonl"  # committed: the evidence the docs show
LOCAL = Path("ledger") / "local.jsonl"  # git-ignored: this machine's records until promoted
ACTIONS = ("eval", "build", "push", "smoke", "publish")
STATUSES = ("ok", "failed", "interrupted", "skipped")


def now() -> str:
    """UTC timestamp, second precision, ISO 8601 (``2026-11-21T08:00:00Z``)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# Paths whose changes cannot change a build: the ledger itself (every build appends to
# it) and Markdown (docs regenerated from the ledger). A record made at rev R still
# describes HEAD when R..HEAD and the work tree differ only there.
NON_SOURCE_PATHSPECS = (":(exclude)ledger", ":(exclude,glob)**/*.md")


def git_rev(root: Path) -> str:
    """HEAD's commit, with ``-dirty`` when tracked files that can change a build differ from it.

    Uncommitted ledger records and docs do not count (NON_SOURCE_PATHSPECS); ``unknown``
    outside git.
    """
    try:
        head = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=root, capture_output=True, text=True)
        if head.returncode:
            return "unknown"
        diff = ["git", "diff", "--quiet", "HEAD", "--", ".", *NON_SOURCE_PATHSPECS]
        dirty = subprocess.run(diff, cwd=root, capture_output=True).returncode != 0
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except OSError:
        return "unknown"


def host_name() -> str:
    return socket.gethostname() or platform.node() or "unknown"


@dataclass
class Record:
    variant: str
    action: str  # one of ACTIONS
    status: str  # one of STATUSES
    start: str
    end: str
    git_rev: str
    host: str
    hardware: str = ""  # e.g. "NVIDIA H100 80GB HBM3 (9.0), sapphirerapids"
    result: str = ""  # result link or store path, for builds
    log: str = ""  # log file, relative to the repository root
    detail: str = ""  # one line: exit code, reason for a skip, failing check
    extra: dict = field(default_factory=dict)

    @property
    def stand_in(self) -> bool:
        """A smoke run with overridden expectations or a stand-in interpreter: it tests the host, not this build."""
        return self.action == "smoke" and bool(self.extra.get("overridden") or self.extra.get("stand_in"))

    @property
    def proves(self) -> bool:
        """Whether the record is evidence that this variant passed this step."""
        return self.status == "ok" and not self.stand_in

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown ledger action {self.action!r}")
        if self.status not in STATUSES:
            raise ValueError(f"unknown ledger status {self.status!r}")


# ---------------------------------------------------------------- checking a line

MAX_LINE = 32 * 1024  # bytes of one record line
MAX_EXTRA = 16 * 1024  # bytes of the ``extra`` object as JSON
MAX_DEPTH = 4  # nesting of ``extra``
TEXT_LIMITS = {"variant": 200, "host": 255, "hardware": 300, "result": 1024, "log": 1024, "detail": 2000}
TIME_LIMIT = 40
VARIANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
REV_RE = re.compile(r"[0-9a-f]{7,64}(-dirty)?|unknown")
ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MARKUP_RE = re.compile(r"<[A-Za-z/!?]|-->")  # an HTML tag, comment or marker: never in a record's text
# ``extra`` keys readers act on, and the types they must have
EXTRA_TYPES: dict[str, tuple[type, ...]] = {
    "store_path": (str,),
    "stand_in": (bool,),
    "overridden": (dict, bool),
    "exit_code": (int, type(None)),
}
FIELD_TYPES = {f.name: (dict if f.name == "extra" else str) for f in fields(Record)}
REQUIRED = tuple(f.name for f in fields(Record) if f.default is MISSING and f.default_factory is MISSING)


class LedgerError(UsageError, ValueError):
    """A ledger line that is not a valid record (exit 2): file:line, the field, the fix."""


def _bad(where: str, name: str, message: str, fix: str) -> LedgerError:
    return LedgerError(f"{where}: {name}: {message}\n    fix: {fix}")


def _fix_line(source: str) -> str:
    if source == "local":
        return f"correct or delete that line of {LOCAL} (this machine's records, not evidence yet)"
    if source == "committed":
        return f"correct that line of {LEDGER} (git log -p {LEDGER} shows where it came from), then run `invoke docs`"
    return "that artifact was not written by buildmatrix: regenerate it from the CI run, or drop that file"


def _check_text(where: str, name: str, value: str, limit: int, fix: str) -> None:
    if len(value) > limit:
        raise _bad(where, name, f"longer than {limit} characters ({len(value)})", fix)
    if m := CONTROL_RE.search(value):
        raise _bad(where, name, f"holds a control character ({m.group()!r}): a record's text is one plain line", fix)
    if m := MARKUP_RE.search(value):
        raise _bad(where, name, f"holds markup ({m.group()!r}…): HTML tags and `<!--`/`-->` are refused", fix)


def _check_time(where: str, name: str, value: str, fix: str) -> None:
    ok = len(value) <= TIME_LIMIT and ISO_RE.fullmatch(value) is not None
    if ok:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            ok = False
    if not ok:
        raise _bad(where, name, f"{value[:TIME_LIMIT]!r} is not an ISO 8601 UTC timestamp (2026-11-21T08:00:00Z)", fix)


def _depth(value: object) -> int:
    """How deep objects and arrays nest in ``value`` (no recursion: any depth is measured)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_line(line: str, where: str, source: str = "", variants: Container[str] | None = None) -> Record:
    """The record on ``line`` (``where`` is ``file:line``), or LedgerError naming the field and the fix.

    ``source`` (``local``, ``committed`` or anything else: an import) picks the fix;
    ``variants``, when given, are the names a record may be about."""
    fix = _fix_line(source)
    size = len(line.encode("utf-8"))
    if size > MAX_LINE:
        raise _bad(where, "line", f"longer than {MAX_LINE} bytes ({size})", fix)
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise LedgerError(f"{where}: not a ledger record (not JSON: {exc})\n    fix: {fix}") from None
    if not isinstance(data, dict):
        raise _bad(where, "line", f"not a JSON object but {type(data).__name__}: not a ledger record", fix)
    for name in data:
        if name not in FIELD_TYPES:
            shown = CONTROL_RE.sub("?", name[:60])
            raise _bad(where, shown, f"unknown field (a record has {', '.join(FIELD_TYPES)})", fix)
    for name in REQUIRED:
        if name not in data:
            raise _bad(where, name, "missing (every record has it)", fix)
    for name, want in FIELD_TYPES.items():
        if name in data and not isinstance(data[name], want):
            kind = "an object" if want is dict else "a string"
            raise _bad(where, name, f"must be {kind}, not {type(data[name]).__name__} ({json.dumps(data[name])[:40]})", fix)
    if data["action"] not in ACTIONS:
        raise _bad(where, "action", f"unknown action {data['action'][:40]!r} (one of {', '.join(ACTIONS)})", fix)
    if data["status"] not in STATUSES:
        raise _bad(where, "status", f"unknown status {data['status'][:40]!r} (one of {', '.join(STATUSES)})", fix)
    for name in ("start", "end"):
        _check_time(where, name, data[name], fix)
    if not REV_RE.fullmatch(data["git_rev"]):
        raise _bad(where, "git_rev", f"{data['git_rev'][:70]!r} is not a hex git revision (40 hex digits, or …-dirty)", fix)
    for name, limit in TEXT_LIMITS.items():
        _check_text(where, name, data.get(name, ""), limit, fix)
    if not VARIANT_RE.fullmatch(data["variant"]):
        raise _bad(where, "variant", f"{data['variant']!r} is not a variant name (letters, digits, _ . + -)", fix)
    if variants is not None and data["variant"] not in variants:
        raise _bad(where, "variant", f"{data['variant']!r} is not a variant of variants.toml", fix)
    extra = data.get("extra", {})
    if len(json.dumps(extra)) > MAX_EXTRA or _depth(extra) > MAX_DEPTH:
        raise _bad(where, "extra", f"longer than {MAX_EXTRA} bytes or nested deeper than {MAX_DEPTH}", fix)
    for key, types in EXTRA_TYPES.items():
        if key in extra and not isinstance(extra[key], types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise _bad(where, f"extra.{key}", f"must be {names}, not {type(extra[key]).__name__}", fix)
    if isinstance(extra.get("store_path"), str):
        _check_text(where, "extra.store_path", extra["store_path"], TEXT_LIMITS["result"], fix)
    return Record(**data)


def read_lines(path: Path, source: str = "", variants: Container[str] | None = None) -> list[Record]:
    """Every record in ``path`` (blank lines skipped), each checked by :func:`check_line`."""
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LedgerError(f"{path}: not UTF-8 ({exc})\n    fix: {_fix_line(source)}") from None
    return [
        check_line(line, f"{path}:{number}", source, variants) for number, line in enumerate(text.split("\n"), 1) if line.strip()
    ]


def clean(record: Record) -> Record:
    """``record`` with its text made to pass :func:`check_line`: one line, no control characters or markup, bounded."""
    changes = {}
    for name, limit in TEXT_LIMITS.items():
        value = getattr(record, name)
        text = CONTROL_RE.sub(" ", value)
        text = re.sub(r"<(?=[A-Za-z/!?])", "‹", text).replace("-->", "--›")
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        if text != value:
            changes[name] = text
    return Record(**{**asdict(record), **changes}) if changes else record


def _lines(records: Iterable[Record]) -> bytes:
    return "".join(json.dumps(asdict(r), sort_keys=True, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def append_all(root: Path, records: list[Record]) -> Path:
    """Append ``records`` to the local ledger in one O_APPEND write; on failure the file is cut back (all or nothing)."""
    path = root / LOCAL
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _lines(clean(r) for r in records)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
    return path


def append(root: Path, record: Record) -> Path:
    """Append one record to the local ledger (one line, a single O_APPEND write); return its path."""
    return append_all(root, [record])


def read(root: Path, committed_only: bool = False) -> list[Record]:
    """Every record, oldest first: the committed ledger, then (unless ``committed_only``) the local one.

    Lines that are not valid records are reported (LedgerError, file:line and field), not skipped."""
    out = read_lines(root / LEDGER, "committed")
    return out if committed_only else out + read_lines(root / LOCAL, "local")


def pending(root: Path, variants: Container[str] | None = None) -> list[Record]:
    """The local records not promoted yet (each about one of ``variants``, when given)."""
    return read_lines(root / LOCAL, "local", variants)


def latest(root: Path, committed_only: bool = False) -> dict[tuple[str, str], Record]:
    """The newest record per (variant, action)."""
    out: dict[tuple[str, str], Record] = {}
    for r in read(root, committed_only):
        key = (r.variant, r.action)
        if key not in out or r.end >= out[key].end:
            out[key] = r
    return out


def promote(root: Path, variants: Container[str] | None = None) -> list[Record]:
    """Move every local record to the end of the committed ledger; return them.

    Every line of both files is checked first (the local ones against ``variants``, when
    given): one bad line and nothing is written. The committed file is rewritten atomically
    (old content + the local lines), then the local file is removed: an interruption leaves
    either both files as they were or the records promoted (at worst a record is in both,
    which readers treat as one).
    """
    from .files import write_atomic

    local = root / LOCAL
    records = pending(root, variants)  # validates every line first
    if not records:
        local.unlink(missing_ok=True)
        return []
    committed = root / LEDGER
    read_lines(committed, "committed")
    old = committed.read_text(encoding="utf-8") if committed.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    write_atomic(committed, old + _lines(records).decode("utf-8"))
    local.unlink()
    return records
