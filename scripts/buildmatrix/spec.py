"""The shape of variants.toml: every table, every key, its type and meaning.

One declaration serves three purposes: unknown-key and type checking at load
time (with "did you mean"), the JSON schema shipped for editors
(``docs/variants.schema.json``), and the key reference in the docs.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import Problem

# Patterns shared by the validator and the JSON schema.
NAME_RE = r"^[a-z0-9][a-z0-9_-]*$"
KEY_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
VERSION_RE = r"^[0-9]+\.[0-9]+$"
CAPABILITY_RE = r"^[0-9]+\.[0-9]$"
REV_RE = r"^[0-9a-f]{40}$"
NIX32_SHA256_RE = r"^[0-9abcdfghijklmnpqrsvwxyz]{52}$"
SRI_SHA256_RE = r"^sha256-[A-Za-z0-9+/]{43}=$"
# Compiler flags reach a shell (inside double quotes) and a Nix string: only
# characters that are inert in both are accepted.
FLAG_RE = r"^-[A-Za-z0-9][A-Za-z0-9_.=+,-]*$"
ENV_NAME_RE = r"^[A-Z_][A-Z0-9_]*$"
ENV_VALUE_RE = r"^[A-Za-z0-9_.,:+=/-]*$"
CMAKE_FLAG_RE = r"^-D[A-Za-z_][A-Za-z0-9_]*(:[A-Z]+)?=[A-Za-z0-9_.,:+/;-]*$"
PLATFORMS = ("x86_64-linux", "aarch64-linux", "aarch64-darwin", "x86_64-darwin")
TARGETS = ("cuda", "cpu", "mps")
MATCH_KEYS = ("name", "package", "python", "target", "cuda", "gpu", "isa")
# [ci] values reach a GitHub Actions workflow (YAML scalars, `runs-on`, `uses`) and, through
# `env:`, shell variables: only characters that are inert in YAML, in a GitHub expression
# (no `${{`) and in a double-quoted shell word are accepted.
RUNNER_LABEL_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
ACTION_RE = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[A-Za-z0-9_.-]+$"
SECRET_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
STORE_URI_RE = r"^(s3|https?|file)://[A-Za-z0-9_.~:/?=&%+@,-]+$"
CACHE_URL_RE = r"^(https?|file|s3)://[A-Za-z0-9_.~:/?=&%+@,-]+$"
PUBLIC_KEY_RE = r"^[A-Za-z0-9_.-]+:[A-Za-z0-9+/]+={0,2}$"
ACTION_INPUT_RE = r"^(\$\{\{ secrets\.[A-Za-z_][A-Za-z0-9_]* \}\}|[A-Za-z0-9_.,:/@+=-]*)$"


@dataclass(frozen=True)
class Key:
    """One key of a table."""

    kind: str  # str, int, bool, strlist, strmap, table, tablemap, tablelist, strOrList
    doc: str
    required: bool = False
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    table: str | None = None  # for table / tablemap / tablelist: the name of the nested spec


@dataclass(frozen=True)
class Table:
    doc: str
    keys: dict[str, Key] = field(default_factory=dict)
    key_pattern: str | None = None  # for tablemap entries: pattern of the entry names


SETTINGS_KEYS: dict[str, Key] = {
    "pin": Key("str", "Name of the nixpkgs pin (a [pin.NAME] table) the variant is built on."),
    "torch": Key(
        "str",
        "Name of a torch source ([source.NAME]) that replaces the pin's torch; omit to use the pin's own torch.",
    ),
    "torchvision": Key(
        "str",
        'Name of a torchvision source ([source.NAME] with package = "torchvision") for the torchvision variants; '
        "omit to use the pin's own torchvision.",
    ),
    "description": Key("str", "One-line description (meta.description). Any text; it is escaped for Nix."),
    "env": Key(
        "strmap",
        'Extra environment exports for the torch build (name = value), e.g. USE_NCCL = "0".',
        pattern=ENV_VALUE_RE,
    ),
    "cmake_flags": Key("strlist", "Extra CMake flags for the torch build (-DNAME=VALUE).", pattern=CMAKE_FLAG_RE),
}

MATCH_TABLE = Table(
    "Selects variants: every key given must match (a string, or a list meaning any of).",
    {k: Key("strOrList", f"Match on the variant's {k}.") for k in MATCH_KEYS},
)

SPECS: dict[str, Table] = {
    "root": Table(
        "variants.toml: the single source of truth for every PyTorch/TorchVision variant.",
        {
            "schema_version": Key("int", "Format version of this file; must be 1.", required=True),
            "defaults": Key("table", "What short names such as `sm120-avx` resolve to.", required=True, table="defaults"),
            "package": Key("tablemap", "Packages that can be built (pytorch, torchvision).", required=True, table="package"),
            "python": Key("tablemap", 'Python versions, keyed by "3.13".', required=True, table="python"),
            "cuda": Key("tablemap", 'CUDA toolkit versions, keyed by "13.0".', required=True, table="cuda"),
            "gpu": Key("tablemap", "NVIDIA GPU architectures, keyed by sm name (sm90).", required=True, table="gpu"),
            "isa": Key("tablemap", "CPU instruction-set levels, keyed by name (avx512).", required=True, table="isa"),
            "pin": Key("tablemap", "nixpkgs revisions recipes are built on.", required=True, table="pin"),
            "source": Key("tablemap", "torch and torchvision sources that replace a pin's own.", table="source"),
            "patch": Key("tablemap", "Patches in patches/ applied to nixpkgs packages.", table="patch"),
            "matrix": Key("tablelist", "Blocks that expand to variants (cross products).", required=True, table="matrix"),
            "override": Key("tablelist", "Settings applied to every variant a match selects.", table="override"),
            "ci": Key("table", "The GitHub Actions workflow `invoke ci` writes (.github/workflows/build.yml).", table="ci"),
        },
    ),
    "defaults": Table(
        "Defaults for short names and aliases.",
        {
            "python": Key("str", "Python version short names use.", required=True),
            "cuda": Key("str", "CUDA version short names use.", required=True),
            "packages": Key("strlist", "Packages a short name builds together.", required=True),
        },
    ),
    "package": Table(
        "A package the matrix can build.",
        {
            "attr": Key("str", "Attribute in the nixpkgs python package set (torch, torchvision).", required=True),
            "title": Key("str", "Human name used in descriptions (PyTorch).", required=True),
            "requires": Key(
                "str",
                "Package whose variant of the same configuration this one builds on (its torch is shared).",
            ),
        },
        key_pattern=NAME_RE,
    ),
    "python": Table(
        "A Python version; the name token (python313) and package-set attribute are derived.",
        {
            "attr": Key(
                "str", "Override the nixpkgs package-set attribute (default python3XYPackages).", pattern=r"^[A-Za-z0-9_]+$"
            )
        },
        key_pattern=VERSION_RE,
    ),
    "cuda": Table(
        "A CUDA toolkit version; the name token (cuda13_0) and cudaPackages attribute are derived.",
        {
            "attr": Key("str", "Override the cudaPackages attribute (default cudaPackages_X_Y).", pattern=r"^[A-Za-z0-9_]+$"),
            "min_driver": Key(
                "str",
                "Minimum Linux driver for this toolkit (NVIDIA release notes).",
                required=True,
                pattern=r"^[0-9]+(\.[0-9]+)*$",
            ),
            "default_capabilities": Key(
                "strlist",
                "Capabilities nixpkgs builds CUDA libraries (MAGMA, NCCL) for when config.cudaCapabilities is unset.",
                required=True,
                pattern=CAPABILITY_RE,
            ),
        },
        key_pattern=VERSION_RE,
    ),
    "gpu": Table(
        "An NVIDIA GPU architecture (compute capability).",
        {
            "capability": Key(
                "str",
                'Compute capability in dot form, as TORCH_CUDA_ARCH_LIST wants it ("9.0").',
                required=True,
                pattern=CAPABILITY_RE,
            ),
            "family": Key("str", "Architecture family (Hopper).", required=True),
            "gpus": Key("strlist", "Example products with this capability.", required=True),
            "min_cuda": Key("str", "Oldest CUDA that can compile for it.", required=True, pattern=VERSION_RE),
            "max_cuda": Key(
                "str", "Newest CUDA that can compile for it (inclusive); omit if still supported.", pattern=VERSION_RE
            ),
            "platforms": Key("strlist", "Platforms a host with this GPU can be.", required=True, enum=PLATFORMS),
            "isas": Key("strlist", "Restrict the CPU ISAs this GPU is built with (e.g. sm61: avx, avx2)."),
            "cudnn": Key("bool", "Whether cuDNN supports it (false turns USE_CUDNN off)."),
            "min_driver": Key(
                "str", "First driver branch that supports this GPU.", required=True, pattern=r"^[0-9]+(\.[0-9]+)*$"
            ),
        },
        key_pattern=r"^sm[0-9]{2,3}$",
    ),
    "isa": Table(
        "A CPU instruction-set level.",
        {
            "title": Key("str", "Display name (AVX-512 VNNI).", required=True),
            "platform": Key("str", "The one platform this ISA exists on.", required=True, enum=PLATFORMS),
            "flags": Key("strlist", "Exact compiler flags (prepended to CFLAGS and CXXFLAGS).", required=True, pattern=FLAG_RE),
            "features": Key("strlist", "archspec feature names a CPU must have to run this build.", required=True),
            "archspec": Key("strlist", "archspec microarchitectures that first have all the features.", required=True),
            "hardware": Key("str", "Human description of the CPUs that run it.", required=True),
            "rank": Key("int", "Preference when a host can run several ISAs (higher wins).", required=True),
            "env": Key("strmap", "Build switches exported for this ISA.", pattern=ENV_VALUE_RE),
            "cmake_flags": Key("strlist", "CMake flags for this ISA.", pattern=CMAKE_FLAG_RE),
        },
        key_pattern=NAME_RE,
    ),
    "pin": Table(
        "A nixpkgs revision.",
        {
            "rev": Key("str", "Full 40-hex nixpkgs commit.", required=True, pattern=REV_RE),
            "sha256": Key(
                "str",
                "sha256 of the unpacked tarball (nix-prefetch-url --unpack); empty until `invoke pin` fills it.",
                required=True,
            ),
            "cuda": Key("strlist", "CUDA versions whose package set this revision provides.", required=True),
            "cuda_attrs": Key(
                "strmap", 'Per-CUDA attribute where this revision names it differently ("13.0" = "cudaPackages_13").'
            ),
            "torch": Key(
                "str", "Version of the revision's own torch (omit if unknown: its variants must then name a torch source)."
            ),
            "torchvision": Key("str", "Version of the revision's own torchvision, where known."),
            "torch_cuda13_broken": Key(
                "bool", "Whether the revision's torch marks CUDA 13 broken (recipes then set allowBroken).", required=True
            ),
            "carries": Key("strlist", "Patches ([patch.NAME]) this revision already applies itself."),
            "note": Key("str", "Where the revision comes from."),
        },
        key_pattern=KEY_RE,
    ),
    "source": Table(
        "A torch or torchvision source that replaces a pin's own (a nightly is just another source).",
        {
            "package": Key("str", "Which package it is the source of (default torch).", enum=("torch", "torchvision")),
            "version": Key("str", "Version the build reports.", required=True, pattern=r"^[0-9][0-9A-Za-z.+-]*$"),
            "owner": Key("str", "GitHub owner.", required=True, pattern=r"^[A-Za-z0-9_.-]+$"),
            "repo": Key("str", "GitHub repository.", required=True, pattern=r"^[A-Za-z0-9_.-]+$"),
            "rev": Key("str", "Tag or commit.", required=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"),
            "hash": Key("str", "SRI hash of the fetched tree; empty until `invoke pin --source` fills it.", required=True),
            "fetch_submodules": Key("bool", "Fetch git submodules (PyTorch needs them).", required=True),
        },
        key_pattern=KEY_RE,
    ),
    "patch": Table(
        "A patch file applied to a nixpkgs package.",
        {
            "file": Key(
                "str",
                "Path of the patch, relative to the repository root.",
                required=True,
                pattern=r"^patches/[A-Za-z0-9._-]+\.patch$",
            ),
            "package": Key(
                "str", "Top-level nixpkgs attribute the patch is added to.", required=True, pattern=r"^[A-Za-z0-9_-]+$"
            ),
            "min_cuda": Key("str", "Apply to variants with at least this CUDA version.", required=True, pattern=VERSION_RE),
            "upstream": Key("str", "Upstream fix this patch corresponds to.", required=True),
            "summary": Key("str", "What it fixes.", required=True),
        },
        key_pattern=KEY_RE,
    ),
    "matrix": Table(
        "A block: the cross product of its lists, minus excludes.",
        {
            "name": Key("str", "Block name (shown by `invoke show`).", required=True, pattern=NAME_RE),
            "target": Key("str", "cuda, cpu or mps.", required=True, enum=TARGETS),
            "packages": Key("strlist", "Packages to build.", required=True),
            "python": Key("strlist", "Python versions.", required=True),
            "cuda": Key("strlist", "CUDA versions (target cuda only)."),
            "gpu": Key("strlist", "GPU architectures (target cuda only)."),
            "isa": Key("strlist", "CPU ISAs (targets cuda and cpu)."),
            "suffix": Key("str", 'Appended to every name of the block ("nightly").', pattern=NAME_RE),
            "exclude": Key("tablelist", "Combinations to leave out.", table="match"),
            "override": Key("tablelist", "Settings for the combinations a match selects.", table="override"),
            **{k: v for k, v in SETTINGS_KEYS.items()},
        },
    ),
    "match": MATCH_TABLE,
    "ci": Table(
        "Runners, cache and Flox step of the generated workflow: one build job per torch configuration, "
        "one smoke job per variant a smoke runner matches.",
        {
            "runners": Key("table", "Build runner labels (`runs-on`) per platform.", required=True, table="ci_runners"),
            "smoke_runner": Key(
                "tablelist", "Runners smoke jobs run on; a variant no runner matches is listed as not smoke-tested.",
                table="ci_smoke_runner",
            ),
            "plan_runner": Key(
                "strlist", 'Labels of the light job that selects the jobs (default ["ubuntu-24.04"]).', pattern=RUNNER_LABEL_RE
            ),
            "max_parallel": Key("int", "Jobs of one matrix (one platform) running at once (`max-parallel`).", required=True),
            "build_timeout_minutes": Key(
                "int", "`timeout-minutes` of a build job (default 2880; GitHub's own default, 360, is shorter than a CUDA build)."
            ),
            "cache": Key("table", "The Nix binary cache builds push to and smoke jobs pull from.", required=True, table="ci_cache"),
            "flox": Key("table", "The step that installs Flox on a runner.", required=True, table="ci_flox"),
        },
    ),
    "ci_runners": Table(
        "`runs-on` labels of the build jobs, per platform; every platform a variant has needs an entry.",
        {p: Key("strlist", f"Labels of the {p} build runners.", pattern=RUNNER_LABEL_RE) for p in PLATFORMS},
    ),
    "ci_smoke_runner": Table(
        "A runner for smoke jobs. It matches a variant of its platform whose GPU architecture its GPU runs "
        "(same major, at or above) and whose CPU ISA its CPU runs; CPU-only variants need only the ISA, "
        "Apple (MPS) variants only the platform.",
        {
            "labels": Key("strlist", "`runs-on` labels of the runner.", required=True, pattern=RUNNER_LABEL_RE),
            "platform": Key("str", "The runner's platform.", required=True, enum=PLATFORMS),
            "gpu": Key("str", "Its GPU architecture, a [gpu.NAME] (omit for a runner without NVIDIA GPU).", pattern=r"^sm[0-9]{2,3}$"),
            "isas": Key("strlist", "CPU ISAs its CPU runs, [isa.NAME] entries (e.g. avx … avx512bf16)."),
        },
    ),
    "ci_cache": Table(
        "A Nix binary cache. Build jobs sign with the secret key and push (`nix copy --to`); smoke jobs substitute from it.",
        {
            "push": Key("str", "Binary cache store to push to: s3://bucket?region=…, https://… (upload by PUT), file://….", required=True, pattern=STORE_URI_RE),
            "substituter": Key("str", "URL runners pull from (`extra-substituters`).", required=True, pattern=CACHE_URL_RE),
            "public_key": Key("str", "The cache's public key (`extra-trusted-public-keys`).", required=True, pattern=PUBLIC_KEY_RE),
            "signing_key_secret": Key(
                "str", "Name of the GitHub secret holding the Nix secret key results are signed with.", required=True, pattern=SECRET_RE
            ),
            "secrets": Key(
                "strlist", "Other GitHub secrets the push step gets as environment variables (AWS_ACCESS_KEY_ID, …).", pattern=SECRET_RE
            ),
        },
    ),
    "ci_flox": Table(
        "The Flox install step (`uses:` and `with:`).",
        {
            "uses": Key("str", "The action, owner/name@ref (flox/install-flox-action@v2).", required=True, pattern=ACTION_RE),
            "with": Key("strmap", "Its inputs; a value is plain text or `${{ secrets.NAME }}`.", pattern=ACTION_INPUT_RE),
        },
    ),
    "override": Table(
        "Settings for every variant the match selects (later overrides win).",
        {"match": Key("table", "Which variants.", required=True, table="match"), **SETTINGS_KEYS},
    ),
}
SPECS["matrix"].keys["pin"] = Key("str", SETTINGS_KEYS["pin"].doc, required=True)


def _typename(value: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def check_table(raw: Any, spec_name: str, path: tuple, problems: list[Problem]) -> None:
    """Check one table against its spec: unknown keys, types, patterns, enums."""
    spec = SPECS[spec_name]
    if not isinstance(raw, dict):
        problems.append(Problem(path, f"must be a table, found {_typename(raw)}", "write it as a [table] or { inline = table }"))
        return
    for key, value in raw.items():
        kpath = (*path, key)
        if key not in spec.keys:
            hint = did_you_mean(key, spec.keys)
            allowed = ", ".join(sorted(spec.keys))
            problems.append(Problem(kpath, f"unknown key `{key}`", hint or f"allowed keys here: {allowed}"))
            continue
        _check_value(value, spec.keys[key], kpath, problems)
    for key, k in spec.keys.items():
        if k.required and key not in raw:
            problems.append(Problem((*path, key), "required key is missing", f"add `{key} = ...` ({k.doc})"))


def _check_value(value: Any, k: Key, path: tuple, problems: list[Problem]) -> None:
    def bad(expected: str) -> None:
        problems.append(Problem(path, f"must be {expected}, found {_typename(value)}", k.doc))

    def check_str(s: str, p: tuple) -> None:
        if k.pattern and not re.match(k.pattern, s):
            problems.append(Problem(p, f"{s!r} is malformed (expected to match {k.pattern})", k.doc))
        if k.enum and s not in k.enum:
            hint = did_you_mean(s, k.enum)
            problems.append(Problem(p, f"{s!r} is not one of {', '.join(k.enum)}", hint or k.doc))

    if k.kind == "str":
        if not isinstance(value, str):
            return bad("a string")
        check_str(value, path)
    elif k.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return bad("an integer")
    elif k.kind == "bool":
        if not isinstance(value, bool):
            return bad("true or false")
    elif k.kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return bad("a list of strings")
        for i, v in enumerate(value):
            check_str(v, (*path, i))
    elif k.kind == "strOrList":
        if isinstance(value, str):
            return
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
            return bad("a string or a non-empty list of strings")
    elif k.kind == "strmap":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return bad("a table of strings")
        for name, v in value.items():
            if k.pattern == ENV_VALUE_RE and not re.match(ENV_NAME_RE, name):
                problems.append(
                    Problem(
                        (*path, name),
                        f"{name!r} is not a valid environment variable name",
                        "use upper-case letters, digits and _",
                    )
                )
            check_str(v, (*path, name))
    elif k.kind == "table":
        check_table(value, k.table, path, problems)
    elif k.kind == "tablemap":
        if not isinstance(value, dict):
            return bad("a table")
        pattern = SPECS[k.table].key_pattern
        for name, entry in value.items():
            if pattern and not re.match(pattern, name):
                problems.append(
                    Problem((*path, name), f"name {name!r} is malformed (expected to match {pattern})", "rename the entry")
                )
            check_table(entry, k.table, (*path, name), problems)
    elif k.kind == "tablelist":
        if not isinstance(value, list):
            return bad("a list of tables ([[...]] or [ {...}, ... ])")
        for i, entry in enumerate(value):
            check_table(entry, k.table, (*path, i), problems)
    else:  # pragma: no cover - spec error
        raise AssertionError(k.kind)


# ---------------------------------------------------------------- JSON schema


def _json_for_key(k: Key) -> dict:
    s: dict[str, Any] = {"description": k.doc}
    if k.kind == "str":
        s["type"] = "string"
        if k.pattern:
            s["pattern"] = k.pattern
        if k.enum:
            s["enum"] = list(k.enum)
    elif k.kind == "int":
        s["type"] = "integer"
    elif k.kind == "bool":
        s["type"] = "boolean"
    elif k.kind == "strlist":
        item: dict[str, Any] = {"type": "string"}
        if k.pattern:
            item["pattern"] = k.pattern
        s.update(type="array", items=item)
    elif k.kind == "strOrList":
        s["anyOf"] = [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]
    elif k.kind == "strmap":
        val: dict[str, Any] = {"type": "string"}
        if k.pattern:
            val["pattern"] = k.pattern
        s.update(type="object", additionalProperties=val)
    elif k.kind == "table":
        s["$ref"] = f"#/$defs/{k.table}"
    elif k.kind == "tablemap":
        s["type"] = "object"
        s["additionalProperties"] = {"$ref": f"#/$defs/{k.table}"}
        if SPECS[k.table].key_pattern:
            s["propertyNames"] = {"pattern": SPECS[k.table].key_pattern}
    elif k.kind == "tablelist":
        s.update(type="array", items={"$ref": f"#/$defs/{k.table}"})
    return s


def _json_for_table(t: Table) -> dict:
    return {
        "type": "object",
        "description": t.doc,
        "additionalProperties": False,
        "properties": {name: _json_for_key(k) for name, k in t.keys.items()},
        "required": [name for name, k in t.keys.items() if k.required],
    }


def json_schema() -> str:
    """The JSON schema of variants.toml, as shipped in docs/variants.schema.json."""
    root = {"$comment": "Generated by buildmatrix from scripts/buildmatrix/spec.py; do not edit. Run `invoke schema`."}
    root.update(_json_for_table(SPECS["root"]))
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    root["title"] = "variants.toml"
    root["$defs"] = {name: _json_for_table(t) for name, t in SPECS.items() if name != "root"}
    return json.dumps(root, indent=2, sort_keys=False) + "\n"
