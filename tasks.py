"""Maintainer tasks (`invoke --list`). Thin wrappers: the work lives in scripts/buildmatrix.

Bare words after `gen`, `remove` and `add` are their names (`invoke gen sm120-avx cpu-avx2`,
`invoke add sm70-avx2 --cuda 12.9`): see buildmatrix.invokeargs, installed at the bottom.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from invoke import Exit, Task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))

from buildmatrix.cli import bench as benchcli  # noqa: E402
from buildmatrix.cli import ci as cicli  # noqa: E402
from buildmatrix.cli import detect as detectcli  # noqa: E402
from buildmatrix.cli import (  # noqa: E402
    edits,
    generate,  # noqa: E402
    invokeargs,
    matrix,
)
from buildmatrix.cli import magma as magmacli  # noqa: E402
from buildmatrix.cli import observe as observecli  # noqa: E402
from buildmatrix.cli import plan as plancli  # noqa: E402
from buildmatrix.cli import publish as publishcli  # noqa: E402
from buildmatrix.cli import push as pushcli  # noqa: E402

task = invokeargs.task  # one meaning per short flag across the tasks (invokeargs.SHORT_FLAGS)

if hasattr(signal, "SIGPIPE"):  # `invoke list | head` ends quietly, like other command-line tools
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

FILE = str(ROOT / "variants.toml")
FILTER_HELP = {
    "package": "only this package (pytorch, torchvision, torchaudio)",
    "python": "only this Python version (3.13)",
    "cuda": "only this CUDA version (13.0)",
    "gpu": "only this GPU architecture (sm120)",
    "isa": "only this CPU ISA (avx512)",
    "target": "only this target (cuda, cpu, mps)",
}
TORCH_HELP = "only this torch line (2.9); an unknown line lists the lines there are"


def _done(status: int) -> None:
    if status:
        raise Exit(code=status)


def _filters(package, python, cuda, gpu, isa, target) -> dict:
    return dict(package=package, python=python, cuda=cuda, gpu=gpu, isa=isa, target=target)


@task(
    help={
        "names": "variant names or aliases (sm120-avx), as words, commas or spaces; default: all",
        "check": "write nothing; exit 1 listing every missing, different or stale recipe (and the jobset, the CI workflow)",
        "keep_stale": "keep generated recipes no variant produces any more (a full run deletes them)",
        "json": "print what was (or would be) written as JSON",
        "quiet": "print nothing but errors; the exit status says it all",
        **FILTER_HELP,
    }
)
def gen(
    c, names="", check=False, keep_stale=False, json=False, quiet=False, package="", python="", cuda="", gpu="", isa="", target=""
):
    """Render .flox/pkgs/<variant>.nix for every variant in variants.toml: invoke gen [NAMES...] [--check]."""
    filters = _filters(package, python, cuda, gpu, isa, target)
    _done(generate.cmd_gen(FILE, str(ROOT), names, check, not keep_stale, filters, json, quiet))


@task(name="list", help={"json": "print JSON instead of a table", "torch": TORCH_HELP, **FILTER_HELP})
def list_(c, package="", python="", cuda="", gpu="", isa="", target="", json=False, torch=""):
    """List the variants variants.toml expands to."""
    _done(matrix.cmd_list(FILE, _filters(package, python, cuda, gpu, isa, target), json, torch))


@task(help={"name": "variant name or alias (sm120-avx)", "json": "print JSON"})
def show(c, name, json=False):
    """Show a fully resolved variant and the blocks/overrides that produced it."""
    _done(matrix.cmd_show(FILE, name, json))


@task(help={"check": "exit 1 if docs/variants.schema.json is out of date"})
def schema(c, check=False):
    """Write docs/variants.schema.json (editor validation of variants.toml) from the model's spec."""
    _done(generate.cmd_schema(str(ROOT), check))


@task(
    help={
        "alias": "what to add: GPU-ISA (sm89-avx512), cpu-ISA (cpu-avx2) or darwin-mps",
        "block": "extend this [[matrix]] block's lists instead of adding a new block",
        "cuda": "CUDA version (default: defaults.cuda)",
        "python": "Python version (default: defaults.python)",
        "packages": "packages, comma-separated (default: defaults.packages)",
        "pin": "nixpkgs pin (default: the one the matrix uses for this target and CUDA)",
        "torch": "torch source (default: the one the matrix uses for this target and CUDA)",
        "suffix": "name suffix (e.g. nightly)",
    }
)
def add(c, alias="", block="", cuda="", python="", packages="", pin="", torch="", suffix=""):
    """Add variants to variants.toml (validated before saving; comments kept): invoke add sm70-avx2 --cuda 12.9."""
    _done(edits.cmd_add(FILE, alias, block, cuda, python, packages, pin, torch, suffix))


@task(help={"names": "variant names or aliases, as words, commas or spaces"})
def remove(c, names=""):
    """Remove variants from variants.toml (drops emptied blocks, else adds excludes): invoke remove A B."""
    _done(edits.cmd_remove(FILE, names))


@task(
    name="pin",
    help={
        "name": "the [pin.NAME] (or, with --source, the [source.NAME]) to fill",
        "rev": "move it to this revision first",
        "source": "NAME is a torch source: hash it with nix-prefetch-git",
        "hash": "record this hash (the `got:` one a failed fetch printed) instead of downloading",
    },
)
def pin_(c, name, rev="", source=False, hash=""):
    """Fill or bump a pin's sha256 (nix-prefetch-url --unpack) or a source's hash. Needs network unless --hash."""
    _done(edits.cmd_pin(FILE, name, rev, source, hash))


@task(
    help={
        "names": "pins or sources to observe ([pin.NAME] / [source.NAME] names); default: all",
        "write": "record the hashes and what the trees say in variants.toml (status observed), then `invoke gen`",
        "json": "print the report as JSON",
        "mirror": "fetch from this directory (or file:// URL) of tarballs named <rev>.tar.gz instead of GitHub",
    }
)
def observe(c, names="", write=False, json=False, mirror=""):
    """Fetch each pin as the recipes do, read every fact they rest on from the tree itself, compare. Exit 1 on a disagreement."""
    _done(observecli.cmd_observe(FILE, str(ROOT), names, write, json, mirror))


@task(
    name="patch-magma",
    help={
        "source": "dry-run the patch against this MAGMA tree or tarball (applies / already applied / fails)",
        "pin": "with --source: the pin whose MAGMA this tree is; refuse if the recipes would apply the fix twice",
        "patch": "which [patch.NAME] (default: magma-cuda13-clockrate)",
        "json": "print the report as JSON",
        "quiet": "print nothing unless something is wrong; the exit status says it all",
    },
)
def patch_magma(c, source="", pin="", patch="magma-cuda13-clockrate", json=False, quiet=False):
    """Report which variants get the MAGMA CUDA-13 clockRate patch and why; dry-run it against a tree."""
    _done(magmacli.cmd_patch_magma(FILE, str(ROOT), source, pin, patch, json, quiet))


@task
def bench(c):
    """Print timing figures: `invoke gen --check` and `nox -s eval` (wall, CPU, peak RSS) on the shipped matrix and on a synthetic tree of the first size below; load, gen, `invoke list` on the shipped matrix; gen at about 5,000 / 10,000 / 20,000 variants (whole copies of the shipped blocks)."""
    _done(benchcli.cmd_bench(ROOT))


@task(
    help={
        "name": "variant name or alias (sm120-avx publishes pytorch and torchvision)",
        "org": "Flox organisation or user to publish to",
        "stability": "flox --stability (the nixpkgs catalog revision)",
        "no_smoke_required": "publish without an ok smoke record from matching hardware",
        "check": "only check the guards: exit 1 if one fails; publish nothing",
        "torch": "the torch line of NAME (2.9): appends its token, so an anchor name works",
        "as_anchor": "publish a non-default torch line's variant under its anchor name (from a publish/<line> branch)",
        "dry_run": "print the plan (guards, and with --as-anchor branch and files; the commands); change nothing",
        "json": "with --as-anchor: print the plan as JSON; change nothing",
    }
)
def publish(
    c, name, org="", stability="", no_smoke_required=False, check=False, torch="", as_anchor=False, dry_run=False, json=False
):
    """Publish variants with `flox publish`, behind guards (clean tree, pushed HEAD, ledger shows built + smoke-tested)."""
    args = (stability, no_smoke_required, check, torch, as_anchor, dry_run, json)
    _done(publishcli.cmd_publish(str(ROOT), FILE, name, org, *args))


@task(
    help={
        "check": "exit 1 if a generated region or page differs from variants.toml / the committed ledger, or a page is stale",
        "json": "print what was (or would be) rewritten as JSON",
        "quiet": "print nothing but errors; the exit status says it all",
    }
)
def docs(c, check=False, json=False, quiet=False):
    """Rewrite the generated regions of README.md and docs/*.md, and the pages docs/matrix/*.md, from variants.toml and the committed ledger."""
    _done(generate.cmd_docs(str(ROOT), FILE, check, json, quiet))


@task(
    help={
        "promote": "move this machine's records (ledger/local.jsonl) into ledger/records.jsonl and regenerate the docs",
        "json": "print the records as JSON",
    }
)
def ledger(c, promote=False, json=False):
    """List the build/smoke/publish records not yet in the committed ledger; --promote makes them evidence."""
    from buildmatrix.cli import ledger as ledgercli

    _done(ledgercli.cmd_ledger(str(ROOT), FILE, promote, json))


@task(
    help={
        "json": "print JSON",
        "cpu": "pretend the CPU is this archspec microarchitecture (e.g. zen4); GPUs are still probed",
        "torch": "recommend a variant of this torch line (2.9); default: the default line",
    }
)
def detect(c, json=False, cpu="", torch=""):
    """Name the variant(s) for this host: CPU via archspec, GPU via NVML / nvidia-smi, driver -> newest CUDA."""
    _done(detectcli.cmd_detect(FILE, json, cpu or None, torch or None))


@task(help={"check": "write nothing; exit 1 if .github/workflows/build.yml differs from variants.toml"})
def ci(c, check=False):
    """Write .github/workflows/build.yml (GitHub Actions: a build job per torch configuration, smoke jobs) from variants.toml."""

    _done(generate.cmd_ci(FILE, str(ROOT), check))


@task(
    name="ci-plan",
    help={
        "tags": "only torch configurations with any of these tags, like nox -t (cuda13_0, sm120)",
        "keyword": "only those matching this expression, like nox -k (\"sm120 and avx512\")",
        "json": "print JSON",
    },
)
def ci_plan(c, tags="", keyword="", json=False):
    """Show which build and smoke jobs the workflow runs for these inputs, and what is not smoke-tested."""

    _done(cicli.cmd_ci_plan(FILE, tags, keyword, json))


@task(name="ci-import", help={"path": "the downloaded ledger-records artifact: a directory (or .jsonl files, comma-separated)"})
def ci_import(c, path):
    """Check and append a CI run's ledger records (artifact ledger-records) to ledger/local.jsonl; then `invoke ledger --promote`."""
    _done(cicli.cmd_import(str(ROOT), path, FILE))


@task(
    help={
        "names": "variant names or aliases whose result-<name> links to push (default: every result link here)",
        "to": "Nix store URL of the cache: file:///srv/nix-cache, s3://bucket?region=..., ssh://host (default: [push] to of the builders file)",
        "dry_run": "print the nix copy command; copy and record nothing",
    }
)
def push(c, names="", to="", dry_run=False):
    """Copy built results (result-<name>) to a binary cache with `nix copy --to`, and record it in the ledger."""
    _done(pushcli.cmd_push(str(ROOT), FILE, names, to, dry_run))


@task(
    help={
        "names": "variant names or aliases (sm120-avx), separated by commas or spaces; default: all",
        "builders": "fleets to predict the makespan for: N×CORES (4x32), several comma-separated (1x32,4x32,16x32); default: 1 x this machine's CPUs",
        "json": "print JSON",
        "since": "only what changed since this commit (main, HEAD~1, a hash): derivations whose drvPath differs, by class and platform",
        "cache": "binary cache URL(s) to ask which outputs exist already (file:///srv/nix-cache, s3://…), comma-separated",
    }
)
def plan(c, names="", builders="", json=False, since="", cache=""):
    """What building a selection costs: derivations by class, what is already available, core-hours, makespan on N builders."""
    _done(plancli.cmd_plan(str(ROOT), FILE, names, builders, json, since, cache))


# Keep this last (it needs every task above). Bare words after these tasks go to the named option (invoke alone takes one word per positional).
invokeargs.install(
    {"gen": "names", "remove": "names", "add": "alias", "push": "names", "plan": "names", "observe": "names"},
    {t.name: t for t in list(globals().values()) if isinstance(t, Task)},
)
