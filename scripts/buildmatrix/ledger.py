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
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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


def append(root: Path, record: Record) -> Path:
    """Append one record to the local ledger (one line, a single O_APPEND write); return its path."""
    path = root / LOCAL
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(asdict(record), sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _read_file(path: Path) -> list[Record]:
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Record(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a ledger record ({exc})") from None
    return out


def read(root: Path, committed_only: bool = False) -> list[Record]:
    """Every record, oldest first: the committed ledger, then (unless ``committed_only``) the local one.

    Lines that are not valid records are reported, not skipped."""
    out = _read_file(root / LEDGER)
    return out if committed_only else out + _read_file(root / LOCAL)


def pending(root: Path) -> list[Record]:
    """The local records not promoted yet."""
    return _read_file(root / LOCAL)


def latest(root: Path, committed_only: bool = False) -> dict[tuple[str, str], Record]:
    """The newest record per (variant, action)."""
    out: dict[tuple[str, str], Record] = {}
    for r in read(root, committed_only):
        key = (r.variant, r.action)
        if key not in out or r.end >= out[key].end:
            out[key] = r
    return out


def promote(root: Path) -> list[Record]:
    """Move every local record to the end of the committed ledger; return them.

    The committed file is rewritten atomically (old content + the local lines), then the
    local file is removed: an interruption leaves either both files as they were or the
    records promoted (at worst a record is in both, which readers treat as one).
    """
    from .files import write_atomic

    local = root / LOCAL
    records = pending(root)  # validates every line first
    if not records:
        local.unlink(missing_ok=True)
        return []
    committed = root / LEDGER
    old = committed.read_text(encoding="utf-8") if committed.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    lines = "".join(json.dumps(asdict(r), sort_keys=True, ensure_ascii=False) + "\n" for r in records)
    write_atomic(committed, old + lines)
    local.unlink()
    return records
