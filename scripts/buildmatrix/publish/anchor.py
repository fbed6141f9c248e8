"""``invoke publish NAME --org ORG --as-anchor``: a variant of another torch line, published under its anchor name.

The anchor repositories publish each torch line from its own git branch, so one recipe name
(``pytorch-python313-cuda12_8-sm90-avx512``) is torch 2.9.1 on one branch and 2.10.0 on
another. Here every line is in one tree and a name off ``[defaults] torch`` carries the
line token (``…-avx512-torch2_9``). ``flox publish`` names the catalog package after the
build: for a Nix expression build, the ``.flox/pkgs/<name>.nix`` file name (flox-publish(1),
"After publishing"; floxdocs "Nix expression builds", "Defining builds"); it has no option to
publish under another name. So the catalog name users already install needs a file of that
name, and this module makes one on a branch of its own:

1. NAME (a variant or an alias; ``--torch M.m`` appends the line token, so the anchor name
   itself works) resolves to variants of one torch line that is not the default. Each maps
   back to exactly one anchor name (:mod:`anchormap`, ``scripts/buildmatrix/model/anchor-names/``), and on
   that line that anchor name maps to this variant only; anything else is refused (exit 2).
2. The publish guards (:func:`publish.check_guards`) hold in this checkout.
3. A commit is made with a temporary index (``git read-tree``, ``update-index``,
   ``write-tree``, ``commit-tree``): no work-tree file, no index and no local branch of this
   checkout changes. Its tree is HEAD's, plus per anchor name ``.flox/pkgs/<anchor>.nix``, a
   generated wrapper whose code is one line, ``import ./<variant>.nix`` (Flox calls it with
   callPackage; the imported function is the recipe's own, so callPackage sees the same
   arguments and Nix the same derivation). A default-line recipe of that name is replaced;
   a hand-written file there is refused. Recipes that import a replaced (or removed) file
   are removed from that tree, so nothing on the branch silently builds on the other torch.
   Its parents: the branch's previous tip, if any, then HEAD; so the push fast-forwards and
   every revision published before stays on the branch. An identical tree reuses the tip.
4. The commit is pushed to ``publish/<line token>`` (``publish/torch2_9``) on the remote of
   HEAD's upstream, without force.
5. That branch is cloned from the remote into ``build/publish/<token>-<commit>/`` (git-ignored;
   ``--reference-if-able`` this checkout, ``--dissociate``), and there
   ``flox publish -o ORG [--stability S] <anchor name>`` runs once per package. Logs and
   ``publish`` records (with the anchor name, branch and commit) go to this checkout.

``--dry-run`` prints the plan (guards, branch, files with their text, commands) and changes
nothing: no object is written, nothing is fetched or pushed. ``--json`` prints the same plan as
JSON. Without ``--as-anchor`` the plain ``invoke publish`` runs (:mod:`.plain`); the command line of both
is :func:`buildmatrix.cli.publish.cmd_publish`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import model
from ..builds.flox import PKGS_DIR
from ..builds.flox import git as _git
from ..errors import FailedError, UsageError
from ..model import anchormap
from ..recipes import LIB_IMPORT, MARKER, layout
from . import plain as publish

BRANCH_PREFIX = "publish/"
WORK_DIR = Path("build") / "publish"
UNKNOWN_COMMIT = "<commit>"


class GitStepFailed(FailedError):
    """A git step of the anchor publish failed (exit 1)."""


def _run(root: Path, *args: str, env: dict | None = None, stdin: str | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=root, env=env, input=stdin, capture_output=True, text=True)
    if proc.returncode:
        raise GitStepFailed(f"`git {' '.join(args)}` failed in {root}:\n{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout.strip()


# ------------------------------------------------------------------ the anchor name


def anchor_names(m: model.Matrix, root: Path) -> dict[str, dict[str, list[str]]]:
    """Variant name -> anchor name -> the anchor branches (``repo/branch``) whose name maps to it."""
    out: dict[str, dict[str, list[str]]] = {}
    for bm in anchormap.map_all(m, root):
        for name, v in bm.mapped.items():
            out.setdefault(v.name, {}).setdefault(name, []).append(bm.key)
    return out


def pick_anchor(m: model.Matrix, v: model.Variant, names: dict[str, dict[str, list[str]]]) -> str:
    """The one anchor name ``v`` is published under; UsageError when there is not exactly one."""
    if not v.line:
        raise UsageError(
            f"{v.name} is on the default torch line ({m.defaults.torch}): its name is already the anchor's; "
            "publish it without --as-anchor"
        )
    mine = names.get(v.name, {})
    where = f"{anchormap.NAMES_DIR}/ (mapping: scripts/buildmatrix/model/anchormap.py)"
    if not mine:
        raise UsageError(
            f"no anchor branch has a recipe name that maps to {v.name} ({where}); users install no older name of it, "
            f"so publish it under its own name: drop --as-anchor"
        )
    if len(mine) > 1:
        listed = "; ".join(f"{a} ({', '.join(bs)})" for a, bs in sorted(mine.items()))
        raise UsageError(f"{v.name} maps from several anchor names: {listed}; publish it under its own name or fix {where}")
    (anchor,) = mine
    rivals = sorted(n for n, by in names.items() if n != v.name and anchor in by and m.by_name[n].line == v.line)
    if rivals:
        raise UsageError(
            f"anchor name {anchor} maps to more than one variant of the {v.line} line: {v.name}, {', '.join(rivals)}"
        )
    return anchor


def wrapper_text(anchor: str, v: model.Variant, branch: str) -> str:
    """``.flox/pkgs/<anchor>.nix`` on the publish branch: generated (first line), one line of code."""
    about = (
        f"Publish wrapper of `invoke publish --as-anchor` (branch {branch}). {anchor} is the anchor's name "
        f"for {v.name} (torch {v.torch_version}): the same recipe, the same derivation (which imports "
        f"{LIB_IMPORT} as every recipe does: the publish branch carries HEAD's tree)."
    )
    return f"{MARKER}\n{layout.comment(about, '')}\nimport ./{v.name}.nix\n"


# ------------------------------------------------------------------------ the plan


@dataclass
class Wrapper:
    anchor: str
    variant: str
    path: str
    replaces: str  # "" (a new file) or what HEAD has at that path ("the torch 2.10.0 recipe of that name")
    text: str


@dataclass
class Plan:
    org: str
    stability: str
    line: str
    branch: str
    source_branch: str
    head: str
    remote: str
    url: str
    previous: str  # the publish branch's tip as this checkout last saw it ("" if none)
    wrappers: list[Wrapper] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)  # path -> why
    commit: str = UNKNOWN_COMMIT

    @property
    def workdir(self) -> Path:
        return WORK_DIR / f"{self.branch.removeprefix(BRANCH_PREFIX)}-{self.commit[:12]}"

    def commands(self) -> list[dict]:
        remote, url = self.remote or "<remote>", self.url or "<url>"
        cmds = [
            {"cwd": ".", "argv": ["git", "push", remote, f"{self.commit}:refs/heads/{self.branch}"]},
            {
                "cwd": ".",
                "argv": ["git", "clone", "--quiet", "--reference-if-able", ".", "--dissociate"]
                + ["--branch", self.branch, url, str(self.workdir)],
            },
        ]
        for w in self.wrappers:
            cmds.append({"cwd": str(self.workdir), "argv": publish.publish_argv(w.anchor, self.org, self.stability or None)})
        return cmds

    def as_json(self, guards: list[publish.Guard]) -> dict:
        data = asdict(self)
        data["removed"] = [{"path": p, "why": why} for p, why in self.removed.items()]
        data["workdir"] = str(self.workdir)
        data["commands"] = self.commands()
        data["guards"] = [asdict(g) for g in guards]
        data["guards_ok"] = all(g.ok for g in guards)
        return data

    def render(self) -> str:
        prev = (
            f"tip {self.previous[:12]} (first parent of the new commit; reused if the tree is the same)"
            if self.previous
            else "new branch"
        )
        lines = [
            f"  source:   {self.source_branch or 'detached HEAD'} at {self.head[:12]}"
            + (f" (upstream remote {self.remote} = {self.url})" if self.remote else " (no upstream remote)"),
            f"  branch:   {self.branch} on {self.remote or '<remote>'}: {prev}",
            "  commit:   HEAD's tree, and",
        ]
        for w in self.wrappers:
            what = f"replaces {w.replaces}" if w.replaces else "new file"
            lines.append(f"    write  {w.path} ({what}): import ./{w.variant}.nix")
        for path, why in self.removed.items():
            lines.append(f"    remove {path} ({why})")
        lines.append("  commands:")
        for c in self.commands():
            where = "" if c["cwd"] == "." else f"(in {c['cwd']}) "
            lines.append(f"    {where}{' '.join(c['argv'])}")
        return "\n".join(lines)


def _upstream(root: Path) -> tuple[str, str, str]:
    """(branch, remote name, remote URL) of HEAD; "" for what is not there."""
    branch = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    remote = _git(root, "config", f"branch.{branch}.remote").stdout.strip() if branch else ""
    url = _git(root, "remote", "get-url", remote).stdout.strip() if remote and remote != "." else ""
    return branch, (remote if url else ""), url


def _imports_of(root: Path, file_name: str) -> list[str]:
    """Paths under .flox/pkgs/ in HEAD whose text imports ``./<file_name>``."""
    found = _git(root, "grep", "-l", "-F", "-e", f"import ./{file_name}", "HEAD", "--", str(PKGS_DIR))
    return sorted(line.split(":", 1)[1] for line in found.stdout.splitlines() if ":" in line)


def make_plan(
    root: Path, m: model.Matrix, variants: list[model.Variant], org: str, stability: str, *, previous: str = ""
) -> Plan:
    """What ``--as-anchor`` would do; reads git (HEAD's tree, this checkout's refs) and writes nothing."""
    lines = sorted({v.line for v in variants})
    if len(lines) > 1:
        raise UsageError(f"{', '.join(v.name for v in variants)} are of different torch lines; publish one line per call")
    names = anchor_names(m, root)
    anchors = [(pick_anchor(m, v, names), v) for v in variants]
    head = _git(root, "rev-parse", "--verify", "HEAD").stdout.strip()
    if not head:
        raise UsageError(f"{root} has no commit (HEAD): --as-anchor commits on top of HEAD")
    token = lines[0]
    branch_name = BRANCH_PREFIX + token
    source, remote, url = _upstream(root)
    if not previous and remote:
        previous = _git(root, "rev-parse", "--verify", "-q", f"refs/remotes/{remote}/{branch_name}^{{commit}}").stdout.strip()
    in_head = set(_git(root, "ls-tree", "--name-only", "HEAD", f"{PKGS_DIR}/").stdout.split())
    plan = Plan(org, stability, variants[0].torch_line or "", branch_name, source, head, remote, url, previous)
    for anchor, v in anchors:
        recipe = f"{PKGS_DIR}/{v.name}.nix"
        if recipe not in in_head:
            raise UsageError(f"HEAD has no {recipe}: run `invoke gen`, commit and push, then publish")
        path = f"{PKGS_DIR}/{anchor}.nix"
        replaces = ""
        if path in in_head:
            first = _git(root, "cat-file", "-p", f"HEAD:{path}").stdout.split("\n", 1)[0]
            if not first.startswith(MARKER):
                raise UsageError(f"{path} in HEAD is not generated (its first line is not {MARKER!r}); it is never replaced")
            other = m.by_name.get(anchor)
            replaces = f"the torch {other.torch_version} recipe of that name" if other else "a generated recipe"
        plan.wrappers.append(Wrapper(anchor, v.name, path, replaces, wrapper_text(anchor, v, branch_name)))
    written = {w.path for w in plan.wrappers}
    todo = [(Path(w.path).name, "replaces with a wrapper") for w in plan.wrappers if w.replaces]
    while todo:  # the files that import a replaced file, then those that import these, ...
        gone, how = todo.pop(0)
        for path in _imports_of(root, gone):
            if path not in written and path not in plan.removed:
                plan.removed[path] = f"imports ./{gone}, which this branch {how}"
                todo.append((Path(path).name, "removes"))
    clash = sorted({f"{PKGS_DIR}/{w.variant}.nix" for w in plan.wrappers} & set(plan.removed))
    if clash:
        raise UsageError(f"{', '.join(clash)} would import a file this branch replaces: the wrapper would not be that variant")
    return plan


# ---------------------------------------------------------------------- executing it


def remote_tip(root: Path, plan: Plan) -> str:
    """The publish branch's tip on the remote now (fetched when this checkout lacks it); "" if none."""
    out = _run(root, "ls-remote", "--heads", plan.remote, f"refs/heads/{plan.branch}")
    tip = out.split()[0] if out else ""
    if tip and _git(root, "cat-file", "-e", f"{tip}^{{commit}}").returncode:
        _run(root, "fetch", "--quiet", "--no-tags", plan.remote, f"refs/heads/{plan.branch}")
    return tip


def make_commit(root: Path, plan: Plan) -> tuple[str, bool]:
    """The publish commit (sha, whether it is the previous tip reused); this checkout's index and files untouched."""
    with tempfile.TemporaryDirectory(prefix="buildmatrix-publish-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _run(root, "read-tree", plan.head, env=env)
        for w in plan.wrappers:
            blob = _run(root, "hash-object", "-w", "--stdin", env=env, stdin=w.text)
            _run(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{w.path}", env=env)
        for path in plan.removed:
            _run(root, "update-index", "--force-remove", "--", path, env=env)
        tree = _run(root, "write-tree", env=env)
    if plan.previous and _run(root, "rev-parse", f"{plan.previous}^{{tree}}") == tree:
        return plan.previous, True
    lines = [f"publish: {', '.join(w.anchor for w in plan.wrappers)} as torch {plan.line} ({plan.branch})", ""]
    lines += [f"{w.path}: import ./{w.variant}.nix" for w in plan.wrappers]
    lines += [f"removed {p}: {why}" for p, why in plan.removed.items()]
    lines += ["", f"Source: {plan.head} ({plan.source_branch}). Generated by `invoke publish --as-anchor`; not for merging."]
    parents = ["-p", plan.previous, "-p", plan.head] if plan.previous else ["-p", plan.head]
    return _run(root, "commit-tree", tree, *parents, "-F", "-", stdin="\n".join(lines) + "\n"), False


def checkout(root: Path, plan: Plan) -> Path:
    """A clone of the publish branch from the remote, at the publish commit (reused when one is there)."""
    work = root / plan.workdir
    if work.exists():
        at = _git(work, "rev-parse", "HEAD").stdout.strip()
        dirty = _git(work, "status", "--porcelain", "--untracked-files=no").stdout.strip()
        if at != plan.commit or dirty:
            raise GitStepFailed(f"{work} exists but is not a clean checkout of {plan.commit[:12]}: remove it, then publish again")
        return work
    work.parent.mkdir(parents=True, exist_ok=True)
    _run(root, *plan.commands()[1]["argv"][1:])
    at = _run(work, "rev-parse", "HEAD")
    if at != plan.commit:
        raise GitStepFailed(
            f"{plan.remote}/{plan.branch} is at {at[:12]}, not {plan.commit[:12]}: someone pushed to it; publish again"
        )
    return work


def execute(root: Path, plan: Plan) -> None:
    """Commit, push, clone and publish (the plan, its guards already held); FailedError at the first step that fails."""
    plan.previous = remote_tip(root, plan)
    plan.commit, reused = make_commit(root, plan)
    if reused:
        print(f"publish: {plan.branch} on {plan.remote} already has this tree at {plan.commit[:12]}; not pushed again")
    else:
        print(f"publish: {' '.join(plan.commands()[0]['argv'])}")
        _run(root, "push", "--quiet", plan.remote, f"{plan.commit}:refs/heads/{plan.branch}")
    work = checkout(root, plan)
    print(f"publish: checkout {plan.workdir} at {plan.commit[:12]}")
    for w in plan.wrappers:
        argv = publish.publish_argv(w.anchor, plan.org, plan.stability or None)
        extra = {"anchor_name": w.anchor, "publish_branch": plan.branch, "publish_rev": plan.commit, "workdir": str(plan.workdir)}
        publish.run_one(root, w.variant, argv, cwd=work, org=plan.org, stability=plan.stability, extra=extra, label=w.anchor)
    done = ", ".join(f"{w.variant} as {plan.org}/{w.anchor}" for w in plan.wrappers)
    print(f"published {done} (from {plan.branch} at {plan.commit[:12]}); `invoke ledger --promote` and a commit keep the record")
