"""``invoke publish NAME --org ORG``: ``flox publish`` behind guards that say exactly what to do.

Guards, all checked before anything is uploaded (every failing one is reported):

1. ``flox`` is installed.
2. This host's platform is the variant's (``flox publish`` re-clones the repository
   and builds it again, so it can only publish what this host can build).
3. The directory is a git work tree.
4. No tracked file differs from HEAD (``flox publish`` refuses a dirty tree too).
5. HEAD is on a branch that has an upstream (``git push -u`` sets it) …
6. … and HEAD is contained in that upstream (``git merge-base --is-ancestor HEAD @{u}``;
   flox re-clones from the remote, so an unpushed commit cannot be published).
7. The ledger has an ``ok`` ``build`` record for each variant made at this source:
   see :func:`rev_matches` for how a record's rev is matched with HEAD.
8. Unless ``--no-smoke-required``: an ``ok`` ``smoke`` record for each variant at this
   source (``skipped`` does not count: smoke records are only ok on matching hardware),
   whose result is the store path the build record of guard 7 made (``extra.store_path``):
   a smoke record with no result, or one that ran something else (another build, a plain
   interpreter), proves nothing about this build, and neither does a build record
   without a store path (:func:`_same_output`).

Then ``flox publish -o ORG [--stability S] <variant>`` runs once per variant (flox
publishes one package per call; pytorch before torchvision), streamed to the
terminal and ``logs/publish-<variant>.log``, and a ``publish`` record is appended.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import ledger, model
from ..builds import flox as floxrun
from ..builds import trust
from ..builds.flox import git as _git
from ..detect import host as hostinfo
from ..errors import FailedError


@dataclass
class Guard:
    """One precondition: what was checked, whether it holds, and what to do when it does not."""

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""

    def render(self) -> str:
        text = f"  {'ok  ' if self.ok else 'FAIL'}  {self.name}" + (f": {self.detail}" if self.detail else "")
        if not self.ok and self.fix:
            text += "\n" + "\n".join(
                f"          fix: {line}" if i == 0 else f"               {line}" for i, line in enumerate(self.fix.splitlines())
            )
        return text


class _RevMatcher:
    """Whether a record's git rev describes the source at HEAD (memoised; git calls are not free)."""

    def __init__(self, root: Path, head: str):
        self.root, self.head, self._cache = root, head, {}

    def __call__(self, rev: str) -> tuple[bool, str]:
        if rev not in self._cache:
            self._cache[rev] = rev_matches(self.root, rev, self.head)
        return self._cache[rev]


def rev_matches(root: Path, rev: str, head: str) -> tuple[bool, str]:
    """Does a record made at ``rev`` describe what HEAD builds?

    * ``…-dirty`` (uncommitted build-relevant changes when the record was made) or
      ``unknown``: never.
    * ``rev == HEAD``: yes.
    * ``rev`` an ancestor of HEAD and ``git diff rev HEAD`` empty outside ``ledger/`` and
      ``*.md``: yes. This is what lets you build, commit the ledger (and regenerated
      docs), push, and publish without rebuilding.
    * anything else: no.
    """
    if not rev or rev == "unknown" or rev.endswith("-dirty"):
        return False, f"made at {rev or 'an unknown rev'} (uncommitted changes or no git)"
    if rev == head:
        return True, "at HEAD"
    if _git(root, "merge-base", "--is-ancestor", rev, head).returncode != 0:
        return False, f"made at {rev[:12]}, which is not an ancestor of HEAD"
    changed = _git(root, "diff", "--name-only", rev, head, "--", ".", *ledger.NON_SOURCE_PATHSPECS).stdout.split()
    if changed:
        more = f" (+{len(changed) - 1} more)" if len(changed) > 1 else ""
        return False, f"made at {rev[:12]}; since then {changed[0]}{more} changed"
    return True, f"at {rev[:12]} (only ledger/ or *.md changed since)"


def _record_guard(
    records: Sequence[ledger.Record], v: model.Variant, action: str, match: _RevMatcher, fix: str
) -> tuple[Guard, ledger.Record | None]:
    """The newest ``action`` record of ``v`` at this source must be ok."""
    mine = [r for r in records if r.variant == v.name and r.action == action]
    label = f"{action} {v.name}"
    reasons = []
    for r in reversed(mine):  # newest first (the file is append-only)
        ok, why = match(r.git_rev)
        if ok and r.stand_in:
            ok, why = False, "with overridden expectations or a stand-in interpreter (does not prove this build)"
        if ok:
            if r.status == "ok":
                return Guard(label, True, f"ok {r.end} on {r.host} {why}"), r
            return Guard(label, False, f"the newest {action} at this source is {r.status} ({r.detail}; {r.end})", fix), None
        reasons.append(f"{r.status} {why}")
    if not mine:
        return Guard(label, False, f"no {action} record in {ledger.LEDGER} or {ledger.LOCAL}", fix), None
    return Guard(label, False, f"none at this source; newest: {reasons[0]}", fix), None


def _same_output(guard: Guard, smoke: ledger.Record, build: ledger.Record | None, fix: str) -> Guard:
    """An ok smoke guard holds only when the smoke test ran what the build made: the build record's store path."""
    if build is None:
        return Guard(guard.name, False, "no ok build record at this source to match the smoke test with", fix)
    store = build.extra.get("store_path") or ""
    if not store.startswith("/nix/store/"):
        why = f"the build record names no store path ({build.end} on {build.host}): no smoke test can be matched to it"
        return Guard(guard.name, False, why, f"rebuild at this commit (`nox -s build-{build.variant}`), then smoke-test it")
    if not smoke.result:
        why = f"the smoke record names no store path ({smoke.end} on {smoke.host}): it proves nothing about {store}"
        return Guard(guard.name, False, why, fix)
    if smoke.result != store:
        return Guard(guard.name, False, f"the smoke test ran {smoke.result}, the build made {store}", fix)
    return Guard(guard.name, True, f"{guard.detail}; ran {store}, the build's output")


def _alias_hint(m: model.Matrix, v: model.Variant) -> str:
    for alias, vs in m.alias_groups.items():
        if v in vs:
            return f"build-{alias}"
    return f"build-{v.name}"


def check_guards(
    root: Path,
    m: model.Matrix,
    variants: Sequence[model.Variant],
    *,
    no_smoke_required: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[Guard]:
    """Every guard in the module docstring, in order; git-dependent ones are skipped (failed) without git."""
    env = dict(os.environ if env is None else env)
    guards = []
    flox = shutil.which("flox", path=env.get("PATH", os.defpath))
    guards.append(
        Guard(
            "flox installed",
            bool(flox),
            flox or "not on PATH",
            f"install Flox: {floxrun.FLOX_INSTALL_URL}, then `flox auth login`",
        )
    )
    host = hostinfo.host_platform()
    foreign = [v for v in variants if v.platform != host]
    guards.append(
        Guard(
            "host can build it",
            not foreign,
            host if not foreign else f"this host is {host}; {', '.join(f'{v.name} is {v.platform}' for v in foreign)}",
            f"publish from a {foreign[0].platform} machine (flox publish rebuilds in a fresh clone)" if foreign else "",
        )
    )
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside.returncode or inside.stdout.strip() != "true":
        guards.append(Guard("git repository", False, f"{root} is not a git work tree", "publish from a clone of the repository"))
        return guards
    guards.append(Guard("git repository", True))

    dirty = [line[3:] for line in _git(root, "status", "--porcelain", "--untracked-files=no").stdout.splitlines() if line.strip()]
    shown = ", ".join(dirty[:8]) + (f" (+{len(dirty) - 8} more)" if len(dirty) > 8 else "")
    guards.append(
        Guard(
            "tracked files clean",
            not dirty,
            f"modified: {shown}" if dirty else "",
            "commit them (`git add -u && git commit`, the ledger included) or `git stash`, then push",
        )
    )
    branch = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    upstream = _git(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}") if branch else None
    if not branch:
        guards.append(Guard("HEAD on a branch", False, "detached HEAD", "`git switch <branch>` (a branch that is pushed)"))
    elif upstream.returncode:
        guards.append(
            Guard(
                "branch has an upstream",
                False,
                f"{branch} has no upstream",
                f"`git push -u origin {branch}` (or your remote's name)",
            )
        )
    else:
        up = upstream.stdout.strip()
        pushed = _git(root, "merge-base", "--is-ancestor", "HEAD", "@{u}").returncode == 0
        guards.append(
            Guard(
                "HEAD pushed",
                pushed,
                f"{branch} -> {up}" + ("" if pushed else f"; HEAD is not in {up}"),
                f"`git push` (if you did push: `git fetch` so {up} is current)",
            )
        )

    head = _git(root, "rev-parse", "--verify", "HEAD").stdout.strip()
    match = _RevMatcher(root, head)
    records = ledger.read(root)
    built: dict[str, ledger.Record] = {}
    for v in variants:
        fix = (
            f"on an {v.platform} host at this commit: `nox -s {_alias_hint(m, v)}` (or `nox -s build-{v.name}`),\n"
            f"then publish again (built on another host: `invoke ledger --promote` there, commit and push {ledger.LEDGER})"
        )
        guard, rec = _record_guard(records, v, "build", match, fix)
        guards.append(guard)
        if rec:
            built[v.name] = rec
    if no_smoke_required:
        guards.append(Guard("smoke tests", True, "not required (--no-smoke-required)"))
        return guards
    for v in variants:
        hw = v.target_info.host_of(cuda=v.cuda, gpu=v.gpu, isa=v.isa)
        fix = (
            f"on a host with {hw} ({v.platform}): `nox -s smoke` after building (or `invoke detect` to find the variant for a host),\n"
            f"then publish again (tested on another host: `invoke ledger --promote` there, commit and push {ledger.LEDGER}); or publish with --no-smoke-required"
        )
        guard, rec = _record_guard(records, v, "smoke", match, fix)
        if guard.ok and rec:
            guard = _same_output(guard, rec, built.get(v.name), fix)
        guards.append(guard)
    return guards


def publish_argv(name: str, org: str, stability: str | None = None) -> list[str]:
    """``flox publish -o ORG [--stability S] NAME`` (flags as in flox-publish(1))."""
    argv = ["flox", "publish", "-o", trust.org(org, "--org")]  # every publish argv, whoever forms it
    if stability:
        argv += ["--stability", stability]
    return argv + [name]


def run_one(
    root: Path,
    variant: str,
    argv: list[str],
    *,
    cwd: Path,
    org: str,
    stability: str,
    extra: Mapping | None = None,
    label: str = "",
) -> None:
    """Run one ``flox publish`` in ``cwd``, streamed to ``root/logs/publish-<variant>.log``; append its record to ``root``'s ledger.

    Raises FailedError when it did not publish (later packages are the caller's to skip: the error stops them).
    ``extra`` adds to the record's extra fields; ``label`` is what the messages call the package
    (default: the variant).
    """
    label = label or variant
    log = floxrun.LOG_DIR / f"publish-{variant}.log"
    print(f"publish: {' '.join(argv)} (log {log})")
    start, t0, rev = ledger.now(), time.time(), ledger.git_rev(root)
    rc, error = None, None
    try:
        rc = floxrun.run_streamed(argv, cwd=cwd, env=os.environ, log_path=root / log, header=f"== {' '.join(argv)}\n")
    except BaseException as exc:
        error = exc
        raise
    finally:
        status, detail = floxrun.describe_exit(rc)
        if rc is None and error is not None and not isinstance(error, KeyboardInterrupt):
            status, detail = floxrun.STATUS_FAILED, f"could not run flox: {error!r}"
        ledger.append(
            root,
            ledger.Record(
                variant=variant,
                action="publish",
                status=status,
                start=start,
                end=ledger.now(),
                git_rev=rev,
                host=ledger.host_name(),
                hardware=hostinfo.hardware_summary(),
                log=str(log),
                detail=detail,
                extra={
                    "org": org,
                    "stability": stability,
                    "argv": argv,
                    "duration_s": round(time.time() - t0, 1),
                    **dict(extra or {}),
                },
            ),
        )
    if status != floxrun.STATUS_OK:
        raise FailedError(f"flox publish {label} {status} ({detail}); see {log}. Later variants were not published.")


def publish_variants(root: Path, variants: Sequence[model.Variant], org: str, stability: str) -> None:
    """``flox publish`` each variant in this checkout, in order; FailedError at the first that fails (later ones not run)."""
    for v in variants:
        run_one(root, v.name, publish_argv(v.name, org, stability or None), cwd=root, org=org, stability=stability)
