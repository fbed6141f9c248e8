"""Every shell command README.md and docs/*.md print runs, in a temporary clone, as printed.

Extraction: tests/doccommands.py (fenced sh/bash/shell/console blocks, command tables).
Each command runs in a fresh reset of one clone (tests/clone.py: the working tree, a fake
``flox`` that writes ``result-<name>`` links, no GPU, no network), after
``. .venv/bin/activate`` and with the virtualenv *not* on PATH otherwise, so the README's
promise "after activating, every command works as printed" is what is tested.

A command must exit 0, unless the docs say it fails: then it is in EXPECTED_FAILURES with
the words its output must contain (or it builds for a platform this host is not, which the
docs say is refused). A command that cannot run here is in SKIP with the reason. A doc
change that adds a command fitting neither fails this test, with what to do.

To extend: a command that needs network, a GPU, a real flox or an upstream remote goes in
SKIP (exact text as extracted, value = reason); one the docs say fails goes in
EXPECTED_FAILURES (value = substrings of its output). Placeholders NAME/NAMES are replaced
by a real alias from the model; other placeholders (ORG, <branch>, /path/to/) make a
command a template, skipped as such.

Edits: the docs' ``invoke add`` examples are valid on the shipped variants.toml and run as
printed there. Once a maintainer has run one (then ``invoke gen``, ``invoke docs``), the
file holds that edit and the same line is refused ("exists already", "is produced
twice"); only then does it run for the first other alias (or block) the same options
accept, and the report says so (``_on_this_matrix``). A documented edit refused for any
other reason still fails. tests/test_maintainer_loop.py runs README's example in a clone and
checks the edits, checks and views on that tree with ``check`` (select: ``is_edit_or_check``).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import tomllib
from pathlib import Path

import clone as clonemod
import doccommands
import matrices
import pytest
from buildmatrix import edit, model
from buildmatrix.builds import sessions as builds
from buildmatrix.detect import fit
from buildmatrix.detect import host as hostinfo
from buildmatrix.detect import probe as detect
from buildmatrix.errors import BuildMatrixError, UsageError

pytestmark = pytest.mark.skipif(bool(os.environ.get(clonemod.INNER)), reason="inside a clone run: no recursion")

NETWORK = "needs network"
SKIP = {
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/invoke gen": (
        "creates the virtualenv these tests run in (.ci/run runs exactly this set-up); its last step, "
        "`.venv/bin/invoke gen`, runs below and must change nothing"
    ),
    ".venv/bin/python -m pytest": "the test suite itself (would recurse); CI runs exactly this, test_maintainer_loop runs its fast tier in an edited clone",
    '.venv/bin/python -m pytest -m "not slow"': "the fast tier of the suite (would recurse); test_maintainer_loop runs it in an edited clone",
    "python -m pytest": "the test suite itself (the `tests` session runs it; would recurse)",
    "flox build pytorch-python313-cuda13_0-sm120-avx torchvision-python313-cuda13_0-sm120-avx": (
        "shows the flox command the session runs; tests/test_builds.py asserts this exact argv (the fake flox would prove nothing)"
    ),
    "git push": f"{NETWORK}: pushes to the upstream remote (the clone has none)",
    'git add ledger/records.jsonl README.md docs && git commit -m "ledger: sm120-avx built, smoke-tested, published" && git push': (
        f"{NETWORK}: commits and pushes (the clone has no upstream); the commit itself is what test_maintainer_loop leaves to git"
    ),
}
SKIP_PATTERNS = [  # whole families of commands, by the start of their text
    (r"^invoke pin ", f"{NETWORK}: nix-prefetch-url / nix-prefetch-git download the pinned source"),
    (
        r"^invoke observe(?!.*--mirror)",
        f"{NETWORK}: nix-prefetch-url downloads each pinned nixpkgs from GitHub; tests/test_observe.py runs it "
        "(and --write) against a tarball mirror",
    ),
    (
        r"^invoke publish (?!.*--dry-run)",  # a --dry-run changes nothing and needs no upstream: it runs
        f"runs the real `flox publish` ({NETWORK}, a Flox account, a pushed upstream); tests/test_builds.py and "
        "tests/test_publish_anchor.py run every guard and a publish against the fake flox and a local bare remote",
    ),
    (
        r"^invoke push ",
        "copies built results with `nix copy`: needs real results in the Nix store (the fake flox's are not); "
        "tests/test_push.py and tests/test_remote_builder.py run it against a real signed file:// cache",
    ),
    (r"^nix-build ", f"{NETWORK} and hours: builds a variant (torch) from its pinned nixpkgs"),
    (r"^nix-eval-jobs ", f"{NETWORK}: evaluates the jobset against the real pinned nixpkgs (nix-eval-jobs is not installed here)"),
    (r"^gh ", f"{NETWORK}: GitHub's CLI talks to github.com"),
    (r"^invoke ci-import ", "imports the records of a CI run: needs the artifacts `gh run download` fetches (network)"),
]
# Words a template has instead of a value: the command is a pattern, its concrete forms are elsewhere.
TEMPLATE = re.compile(r"<[a-z-]+>|\bORG\b|/path/to/|\bS\b|\bN\b")
EXPECTED_FAILURES = {  # BUILDING.md "Names that do not exist" says each of these fails and how
    "nox -s build-sm120-avx3": ["no build target named 'build-sm120-avx3'", "build-sm120-avx2"],
    "nox -s build -- sm120-avx3": ["no build target named 'sm120-avx3'", "candidates"],
    "nox -s build -- sm120": ["ambiguous", "build-sm120-avx"],
    "nox -s build -- sm61-avx": ["build-cuda12_8-sm61-avx", "build-cuda12_9-sm61-avx"],
    # BUILDING.md "First build on a networked machine": a pin missing from the mirror is refused (exit 2)
    "mkdir -p mirror && invoke observe nixpkgs-0182a36 --mirror mirror": ["--mirror mirror: no ", ".tar.gz for [pin.nixpkgs-0182a36]"],
}
EXIT_SKIPPED = {  # "exit status 77: nothing here matches this host" (BUILDING.md, Smoke tests)
    "python -m buildmatrix.smoke --record": "no result-<name> in a fresh clone: nothing to test",
}
PLATFORM_ONLY = {  # the docs' comment names the one platform where the command means something
    "grep -m1 '^flags' /proc/cpuinfo": "x86_64",
    "grep -m1 '^Features' /proc/cpuinfo": "aarch64",
}
NEEDS_TOOL = {"nox -s eval": "nix-instantiate", "nox -s eval -- --pinned": "nix-instantiate"}
NOISE = ("Traceback (most recent call last)", "uv binary not found", "BrokenPipeError")  # never in any command's output


def _alias(m: model.Matrix) -> str:
    """A short alias that exists at the defaults (what NAME / NAMES stand for)."""
    v = next(v for v in m.variants if v.target == "cuda" and not v.suffix and v.cuda.version == m.defaults.cuda)
    return v.short


def _concrete(text: str, m: model.Matrix) -> str:
    return re.sub(r"\bNAMES?(\.\.\.|…)?", _alias(m), text)


def _foreign_build(text: str, m: model.Matrix) -> str | None:
    """The platform a `nox -s build-X` / `nox -s build -- X…` needs, when this host is not it."""
    names = []
    session = re.match(r"^nox -s (build-\S+)", text)
    if session:
        names = [session.group(1)]
    generic = re.match(r"^nox -s build -- (.*)$", text)
    if generic:
        names = [w for w in generic.group(1).split() if not w.startswith("-")]
    host = hostinfo.host_platform()
    for n in names:
        try:
            vs = builds.resolve_target(m, n)
        except UsageError:
            return None
        foreign = {v.platform for v in vs} - {host}
        if foreign:
            return sorted(foreign)[0]
    return None


def _smoke_needs_a_real_build(text: str, m: model.Matrix) -> str | None:
    """`nox -s smoke -- --variant X` on a host that can run X: it would test a real build of X."""
    found = re.match(r"^nox -s smoke -- --variant (\S+)$", text)
    if not found:
        return None
    host = detect.detect_host()
    if all(fit.assess(m, v, host).fits for v in m.resolve(found.group(1))):
        return (
            f"this host can run {found.group(1)}: the smoke test needs a real build of it (result-<name> with torch inside); "
            "the fake flox writes empty results (tests/test_smoke.py runs the checks against a fake torch)"
        )
    return None


def plan(commands: list[doccommands.DocCommand], m: model.Matrix) -> list[tuple[doccommands.DocCommand, str, object]]:
    """(command, what to do, detail): "skip" (reason), "fail" (substrings), "exit77", "run"."""
    out = []
    for c in commands:
        text = _concrete(c.text, m)
        pattern = next((reason for rx, reason in SKIP_PATTERNS if re.match(rx, c.text)), None)
        if c.text in SKIP:
            out.append((c, "skip", SKIP[c.text]))
        elif pattern:
            out.append((c, "skip", pattern))
        elif TEMPLATE.search(text):
            out.append(
                (c, "skip", "a template (placeholders such as ORG, S, <branch>, /path/to/): its concrete forms are run elsewhere")
            )
        elif c.text in PLATFORM_ONLY and platform.machine() != PLATFORM_ONLY[c.text]:
            out.append(
                (
                    c,
                    "skip",
                    f"means something on {PLATFORM_ONLY[c.text]} only (the doc says so); this host is {platform.machine()}",
                )
            )
        elif c.text in EXPECTED_FAILURES:
            out.append((c, "fail", EXPECTED_FAILURES[c.text]))
        elif c.text in EXIT_SKIPPED:
            out.append((c, "exit77", EXIT_SKIPPED[c.text]))
        elif _smoke_needs_a_real_build(text, m):
            out.append((c, "skip", _smoke_needs_a_real_build(text, m)))
        elif _foreign_build(text, m):
            out.append((c, "fail", [f"this host is {hostinfo.host_platform()} and cannot build"]))
        else:
            out.append((c, "run", text))
    return out


@pytest.fixture(scope="module")
def docclone(tmp_path_factory):
    return clonemod.Clone(tmp_path_factory.mktemp("doc-commands"))


def test_the_docs_print_commands_and_every_list_entry_is_still_in_them(root):
    commands = doccommands.extract(root)
    assert len({c.file for c in commands}) >= 3, "the extractor found (almost) no commands: is the fence syntax still ```sh?"
    texts = {c.text for c in commands}
    stale = [t for t in (*SKIP, *EXPECTED_FAILURES, *EXIT_SKIPPED, *PLATFORM_ONLY, *NEEDS_TOOL) if t not in texts]
    assert not stale, f"tests/test_doc_commands.py lists commands no doc prints any more (delete them there): {stale}"


EDIT = re.compile(r"^(?:\.venv/bin/)?invoke add (\S+)((?: --\S+ \S+)*)$")


def _on_this_matrix(text: str, path: Path) -> tuple[str, str]:
    """A documented ``invoke add`` as it runs on ``path``: as printed, or, when the file holds it already, the same edit for another alias.

    The docs print an edit that is valid on the shipped variants.toml; once a maintainer has
    run it (``invoke add sm70-avx2 --cuda 12.9``, then ``invoke gen`` and ``invoke docs``),
    the same line is refused (the block or the variants exist). Only then is the alias
    replaced, by the first alias of the same kind that the same options accept, and the
    note says so; a documented edit refused for any other reason runs as printed and fails.
    """
    found = EDIT.match(text)
    if not found:
        return text, ""
    alias, opts = found.group(1), found.group(2).split()
    kw = {k.removeprefix("--").replace("-", "_"): v for k, v in zip(opts[::2], opts[1::2], strict=True)}
    if set(kw) - {"cuda", "python", "block", "pin", "torch", "suffix"} or not _refused_as_made(path, alias, kw):
        return text, ""
    m = model.load(path)
    if alias.startswith("cpu-"):
        candidates = [f"cpu-{i}" for i in m.isas]
    else:
        candidates = [f"{g}-{i}" for g in m.gpus for i in m.isas]
    trials = [(a, kw) for a in candidates if a != alias]
    if "block" in kw:  # a block's lists extended: the same extension of another block first, then any alias there
        declared = tomllib.loads(path.read_text(encoding="utf-8")).get("matrix", [])
        blocks = [b["name"] for b in declared if b["name"] != kw["block"]]
        trials += [(a, {**kw, "block": b}) for a in [alias, *candidates] for b in blocks]
    other = next(((a, o) for a, o in trials if matrices._fits(path, a, **o)), None)
    if other is None:
        return text, ""
    a, o = other
    opts = "".join(f" --{k} {v}" for k, v in o.items())
    prefix = text[: text.index("invoke add ")]
    return f"{prefix}invoke add {a}{opts}", f"`{text}` is in variants.toml already (the edit was made): ran it for {a}{opts}"


ALREADY_MADE = ("exists already", "is produced twice")  # what edit.add says when the file holds the edit


def _refused_as_made(path: Path, alias: str, kw: dict) -> bool:
    """Whether ``invoke add alias`` is refused on ``path`` because the file holds that edit already."""
    trial = path.with_name(path.name + ".doc-trial")
    shutil.copy(path, trial)
    try:
        edit.add(trial, alias, **kw)
    except BuildMatrixError as e:
        return any(w in str(e) for w in ALREADY_MADE)
    finally:
        trial.unlink(missing_ok=True)
    return False


def check(root: Path, clone: clonemod.Clone, select=None) -> tuple[list[str], list[str]]:
    """Run the commands the docs under ``root`` print (those ``select`` keeps) in ``clone``: (failures, report)."""
    m = model.load(root / "variants.toml")
    failures, report = [], []
    env = dict(clone.env)
    venv_bin = os.path.dirname(os.path.realpath(shutil.which("python", path=env["PATH"]) or ""))
    env["PATH"] = os.pathsep.join(d for d in env["PATH"].split(os.pathsep) if os.path.realpath(d) != venv_bin)
    env["HOME"] = env["XDG_CONFIG_HOME"] = str(clone.aux / "home")  # no user builders.toml
    clone.env = env
    seen: set[str] = set()
    commands = [c for c in doccommands.extract(root) if select is None or select(c)]
    for c, action, detail in plan(commands, m):
        key = f"{action}:{c.text}:{detail if action == 'run' else ''}"
        if key in seen:  # the same command printed twice runs once
            continue
        seen.add(key)
        if action == "skip":
            report.append(f"SKIP  {c.where}: {c.text}  -- {detail}")
            continue
        tool = NEEDS_TOOL.get(c.text)
        if tool and not shutil.which(tool):
            if os.environ.get("BUILDMATRIX_REQUIRE_NIX") == "1":
                failures.append(f"{c.where}: `{c.text}` needs {tool}, which CI must have")
            report.append(f"SKIP  {c.where}: {c.text}  -- {tool} not on PATH here")
            continue
        text = detail if action == "run" else _concrete(c.text, m)
        text, note = _on_this_matrix(text, root / "variants.toml") if action == "run" else (text, "")
        clone.reset()
        result = clone.run(f". .venv/bin/activate && {text}")
        report.append(f"{action.upper():5} {c.where}: {text}  -> exit {result.returncode}" + (f"  ({note})" if note else ""))
        noise = [w for w in NOISE if w in result.output]
        if "&&" not in text:  # one process: each warning at most once
            lines = result.output.splitlines()
            noise += [f"{w!r} twice" for w in set(lines) if w.startswith("warning:") and lines.count(w) > 1]
        if noise:
            failures.append(f"{c.where}: `{text}` printed {', '.join(noise)}.\n{result.tail()}")
        if action == "run" and result.returncode != 0:
            failures.append(f"{c.where}: `{text}` exited {result.returncode}; the docs say it works.\n{result.tail()}")
        elif action == "exit77" and result.returncode != 77:
            failures.append(f"{c.where}: `{text}` exited {result.returncode}, expected 77 ({detail}).\n{result.tail()}")
        elif action == "fail":
            missing = [w for w in detail if w not in result.output]
            if result.returncode == 0 or missing:
                failures.append(
                    f"{c.where}: `{text}` should fail as the docs say (exit != 0, output containing {detail}); "
                    f"got exit {result.returncode}, missing {missing}.\n{result.tail()}"
                )
    return failures, report


@pytest.mark.slow  # fast tier: pytest -m "not slow" (docs/TESTING.md)
def test_every_documented_command_succeeds_or_fails_as_documented(root, docclone, capsys):
    failures, report = check(root, docclone)
    with capsys.disabled():
        if os.environ.get("BUILDMATRIX_SHOW_DOC_COMMANDS"):
            print("\n" + "\n".join(report))
    hint = (
        "\nIf a command cannot run in CI (network, GPU, real flox publish), add it to SKIP in tests/test_doc_commands.py "
        "with the reason; if the docs say it fails, to EXPECTED_FAILURES with words of its output; otherwise fix the doc or the code."
    )
    assert not failures, "\n\n".join(failures) + hint
    docclone.reset()
    assert docclone.status() == "", "the clone is not clean after a reset"


def is_edit_or_check(c: doccommands.DocCommand) -> bool:
    """The commands the edited tree is checked with: every documented edit, and the checks and views it must pass."""
    text = c.text.removeprefix(".venv/bin/")
    return text.startswith(("invoke add ", "invoke remove ", "invoke gen", "invoke docs", "invoke list", "invoke show "))
