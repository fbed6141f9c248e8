"""The shape of variants.toml: every table, every key, its type and meaning.

This is the one place a key is described (with ``speckey.Key`` and ``speckey.Table``).
One declaration serves three purposes: unknown-key and type checking at load time
(``speccheck.py``, with "did you mean"), the JSON schema shipped for editors
(``schema.py`` writes ``docs/variants.schema.json``), and the key reference in the docs
(``docs/reference.py``). Importing this module checks every declaration (speckey.py).
"""

from __future__ import annotations

from .. import targets
from . import reach
from .keys import Key, Table

# Patterns shared by the validator and the JSON schema. They are grammars for a
# whole value: the validator applies them with re.fullmatch (reach.full), the
# schema anchors them (schema.schema_pattern).
NAME_RE = r"[a-z0-9][a-z0-9_-]*"
KEY_RE = r"[A-Za-z0-9][A-Za-z0-9._-]*"
VERSION_RE = r"[0-9]+\.[0-9]+"
CAPABILITY_RE = r"[0-9]+\.[0-9]"
DRIVER_RE = r"[0-9]+(\.[0-9]+)*"
REV_RE = r"[0-9a-f]{40}"
NIX32_SHA256_RE = r"[0-9abcdfghijklmnpqrsvwxyz]{52}"
SRI_SHA256_RE = r"sha256-[A-Za-z0-9+/]{43}="
# Compiler flags reach a shell (inside double quotes) and a Nix string: only
# characters that are inert in both are accepted.
FLAG_RE = r"-[A-Za-z0-9][A-Za-z0-9_.=+,-]*"
ENV_NAME_RE = r"[A-Z_][A-Z0-9_]*"
ENV_VALUE_RE = r"[A-Za-z0-9_.,:+=/-]*"
CMAKE_FLAG_RE = r"-D[A-Za-z_][A-Za-z0-9_]*(:[A-Z]+)?=[A-Za-z0-9_.,:+/-]*"
# Attributes emitted as Nix code (pkgs.<python>.<attr>): a Nix identifier, never a keyword (reach checks that).
NIX_ATTR_RE = reach.NIX_IDENT_RE
SET_ATTR_RE = r"[A-Za-z0-9_]+"
FEATURE_RE = r"[A-Za-z0-9_.]+"
SOURCE_VERSION_RE = reach.VERSION_TEXT_RE
GITHUB_NAME_RE = r"[A-Za-z0-9_.-]+"
GIT_REV_RE = r"[A-Za-z0-9][A-Za-z0-9._/-]*"
PATCH_FILE_RE = r"patches/[A-Za-z0-9._-]+\.patch"
NIX_PACKAGE_RE = r"[A-Za-z0-9_-]+"
GPU_NAME_RE = r"sm[0-9]{2,3}"
PLATFORMS = ("x86_64-linux", "aarch64-linux", "aarch64-darwin", "x86_64-darwin")
TARGETS = targets.NAMES  # the one registry: buildmatrix.targets
MATCH_KEYS = ("name", "package", "python", "target", "cuda", "gpu", "isa")
# Packages that reuse a torch variant's torch (`requires`) and may replace the pin's own with a
# [source.*]: each names the settings key, the [pin] version key and `<attr>_patches`.
COMPANIONS = ("torchvision", "torchaudio")
SOURCE_PACKAGES = ("torch", *COMPANIONS)
# Contexts short names, for the declarations below.
FILE, ATTR, CODE, STRING, INDENTED, COMMENT, SHELL, VERSION, DOCS, REF, YAML = (
    reach.FILE, reach.ATTR, reach.CODE, reach.STRING, reach.INDENTED, reach.COMMENT,
    reach.SHELL, reach.VERSION, reach.DOCS, reach.REF, reach.YAML,
)  # fmt: skip
# [ci] values reach the generated GitHub Actions workflow (YAML scalars, `runs-on`, `uses`) and,
# through `env:`, shell variables: each grammar keeps them inert in YAML, in a GitHub expression
# (no `${{`, except the one secrets form of an action input) and in a double-quoted shell word.
RUNNER_LABEL_RE = r"[A-Za-z0-9][A-Za-z0-9_.:-]*"
ACTION_RE = r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}"  # pinned by commit, never by a movable tag
SECRET_RE = r"[A-Za-z_][A-Za-z0-9_]*"
STORE_URI_RE = r"(s3|https?|file)://[A-Za-z0-9_.~:/?=&%+@,-]+"
CACHE_URL_RE = r"(https?|file|s3)://[A-Za-z0-9_.~:/?=&%+@,-]+"
PUBLIC_KEY_RE = r"[A-Za-z0-9_.-]+:[A-Za-z0-9+/]+={0,2}"
ACTION_INPUT_NAME_RE = r"[A-Za-z0-9_-]+"
ACTION_INPUT_RE = r"[A-Za-z0-9_.,:/@+=-]*"  # no secrets: the install step runs in jobs that run repository code
ENVIRONMENT_RE = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
TEXT = (STRING, INDENTED, DOCS)  # free text shown in meta.description / longDescription and the docs
# The fetch calls a recorded hash can be valid for (the recipe uses exactly the one named).
PIN_FETCHERS = ("builtins.fetchTarball",)
SOURCE_FETCHERS = ("fetchFromGitHub", "fetchFromGitHub+submodules")
# When nixpkgs adds one of its own patches to a package (the condition in its expression).
PATCH_WHEN = ("always", "cuda", "linux", "darwin", "mkl")
PATCH_NAME_RE = r"[A-Za-z0-9][A-Za-z0-9._+-]*\.(patch|diff)"


def _provenance_keys(fetchers: tuple[str, ...], hash_key: str) -> dict[str, Key]:
    """Where a pin's or source's hash comes from and which fetch call it is valid for."""
    return {
        "hash_source": Key(
            "str",
            f"Where `{hash_key}` comes from: the public source (file, commit, thread) or the `invoke pin` run that "
            "computed it. Required with a hash; not allowed without one.",
            reaches=(COMMENT, DOCS),
        ),
        "fetcher": Key(
            "str",
            f"The fetch call `{hash_key}` is valid for; the recipe fetches with exactly this call.",
            required=True,
            enum=fetchers,
            reaches=(COMMENT, DOCS),
        ),
        "unverified": Key(
            "str",
            f"Why no trustworthy `{hash_key}` is recorded. Required when `{hash_key}` is empty: the recipe then "
            "carries a fake hash, so its first fetch fails and prints the real one for `invoke pin`.",
            reaches=(COMMENT, DOCS),
        ),
    }


SETTINGS_KEYS: dict[str, Key] = {
    "pin": Key("str", "Name of the nixpkgs pin (a [pin.NAME] table) the variant is built on.", reaches=(REF,)),
    "torch": Key(
        "str",
        "Name of a torch source ([source.NAME]) that replaces the pin's torch; omit to use the pin's own torch.",
        reaches=(REF,),
    ),
    **{
        attr: Key(
            "str",
            f'Name of a {attr} source ([source.NAME] with package = "{attr}") for the {attr} variants; '
            f"omit to use the pin's own {attr}.",
            reaches=(REF,),
        )
        for attr in COMPANIONS
    },
    "description": Key(
        "str",
        "One-line description (meta.description): any printable text on one line; it is escaped for Nix.",
        reaches=(STRING, DOCS),
    ),
    "env": Key(
        "strmap",
        'Extra environment exports for the torch build (name = value), e.g. USE_NCCL = "0".',
        pattern=ENV_VALUE_RE,
        reaches=(SHELL, INDENTED),
        key_pattern=ENV_NAME_RE,
        key_reaches=(SHELL, INDENTED),
        key_doc="environment variable name",
    ),
    "cmake_flags": Key(
        "strlist",
        "Extra CMake flags for the torch build (-DNAME=VALUE).",
        pattern=CMAKE_FLAG_RE,
        reaches=(SHELL, STRING),
    ),
}

MATCH_TABLE = Table(
    "Selects variants: every key given must match (a string, or a list meaning any of).",
    {k: Key("strOrList", f"Match on the variant's {k}.", reaches=(REF,)) for k in MATCH_KEYS},
)
# Where the names of [package.*], [gpu.*], … go: into every variant name (file, pname, comments, docs).
IN_VARIANT_NAME = (FILE, STRING, COMMENT, DOCS)

SPECS: dict[str, Table] = {
    "root": Table(
        "variants.toml: the single source of truth for every PyTorch/TorchVision/TorchAudio variant.",
        {
            "schema_version": Key("int", "Format version of this file; must be 1.", required=True),
            "defaults": Key("table", "What short names such as `sm120-avx` resolve to.", required=True, table="defaults"),
            "package": Key("tablemap", "Packages that can be built (pytorch, torchvision, torchaudio).", required=True, table="package"),
            "python": Key("tablemap", 'Python versions, keyed by "3.13".', required=True, table="python"),
            "cuda": Key("tablemap", 'CUDA toolkit versions, keyed by "13.0".', required=True, table="cuda"),
            "gpu": Key("tablemap", "NVIDIA GPU architectures, keyed by sm name (sm90).", required=True, table="gpu"),
            "isa": Key("tablemap", "CPU instruction-set levels, keyed by name (avx512).", required=True, table="isa"),
            "pin": Key("tablemap", "nixpkgs revisions recipes are built on.", required=True, table="pin"),
            "source": Key("tablemap", "torch, torchvision and torchaudio sources that replace a pin's own.", table="source"),
            "patch": Key("tablemap", "Patches in patches/ applied to nixpkgs packages.", table="patch"),
            "nixpkgs_patch": Key(
                "tablemap",
                "nixpkgs' own torch / torchvision / torchaudio patches (by file name): when nixpkgs adds each, and whether a "
                "source override keeps it.",
                table="nixpkgs_patch",
            ),
            "matrix": Key("tablelist", "Blocks that expand to variants (cross products).", required=True, table="matrix"),
            "override": Key("tablelist", "Settings applied to every variant a match selects.", table="override"),
            "ci": Key("table", "The GitHub Actions workflow `invoke ci` writes (.github/workflows/build.yml).", table="ci"),
        },
    ),
    "defaults": Table(
        "Defaults for short names and aliases.",
        {
            "python": Key("str", "Python version short names use.", required=True, reaches=(REF,)),
            "cuda": Key("str", "CUDA version short names use.", required=True, reaches=(REF,)),
            "packages": Key("strlist", "Packages a short name builds together.", required=True, reaches=(REF,)),
            "torch": Key(
                "str",
                'The default torch release line (major.minor, "2.10"): names and aliases of variants whose torch is of '
                "another release line carry `-torch<M>_<m>` before any block suffix (`sm120-avx-torch2_9`), and "
                "`--torch M.m` selects such a line. A pre-release torch (a nightly) carries no line token: its block's "
                "`suffix` names it. Omit in a file with a single line (no name then carries a line token).",
                pattern=VERSION_RE,
                reaches=(VERSION, DOCS),
            ),
        },
    ),
    "package": Table(
        "A package the matrix can build.",
        {
            "attr": Key(
                "str",
                "Attribute in the nixpkgs python package set (torch, torchvision, torchaudio).",
                required=True,
                pattern=NIX_ATTR_RE,
                reaches=(CODE, COMMENT),
            ),
            "title": Key("str", "Human name used in descriptions (PyTorch).", required=True, reaches=TEXT),
            "requires": Key(
                "str",
                "Package whose variant of the same configuration this one builds on (its torch is shared).",
                reaches=(REF,),
            ),
        },
        key_pattern=NAME_RE,
        name_reaches=IN_VARIANT_NAME,
    ),
    "python": Table(
        "A Python version; the name token (python313) and package-set attribute are derived.",
        {
            "attr": Key(
                "str",
                "Override the nixpkgs package-set attribute (default python3XYPackages).",
                pattern=SET_ATTR_RE,
                reaches=(ATTR,),
            )
        },
        key_pattern=VERSION_RE,
        name_reaches=(*IN_VARIANT_NAME, VERSION),
    ),
    "cuda": Table(
        "A CUDA toolkit version; the name token (cuda13_0) and cudaPackages attribute are derived.",
        {
            "attr": Key(
                "str", "Override the cudaPackages attribute (default cudaPackages_X_Y).", pattern=SET_ATTR_RE, reaches=(ATTR,)
            ),
            "min_driver": Key(
                "str",
                "Minimum Linux driver for this toolkit (NVIDIA release notes).",
                required=True,
                pattern=DRIVER_RE,
                reaches=(VERSION, INDENTED, DOCS),
            ),
            "default_capabilities": Key(
                "strlist",
                "Capabilities nixpkgs builds CUDA libraries (MAGMA, NCCL) for when config.cudaCapabilities is unset.",
                required=True,
                pattern=CAPABILITY_RE,
                reaches=(VERSION, DOCS),
            ),
        },
        key_pattern=VERSION_RE,
        name_reaches=(*IN_VARIANT_NAME, VERSION),
    ),
    "gpu": Table(
        "An NVIDIA GPU architecture (compute capability).",
        {
            "capability": Key(
                "str",
                'Compute capability in dot form, as TORCH_CUDA_ARCH_LIST wants it ("9.0").',
                required=True,
                pattern=CAPABILITY_RE,
                reaches=(VERSION, STRING, INDENTED, DOCS),
            ),
            "family": Key("str", "Architecture family (Hopper).", required=True, reaches=TEXT),
            "gpus": Key("strlist", "Example products with this capability.", required=True, reaches=TEXT),
            "min_cuda": Key(
                "str", "Oldest CUDA that can compile for it.", required=True, pattern=VERSION_RE, reaches=(VERSION, DOCS)
            ),
            "max_cuda": Key(
                "str",
                "Newest CUDA that can compile for it (inclusive); omit if still supported.",
                pattern=VERSION_RE,
                reaches=(VERSION, DOCS),
            ),
            "platforms": Key(
                "strlist", "Platforms a host with this GPU can be.", required=True, enum=PLATFORMS, reaches=(STRING, DOCS)
            ),
            "isas": Key("strlist", "Restrict the CPU ISAs this GPU is built with (e.g. sm61: avx, avx2).", reaches=(REF,)),
            "cudnn": Key("bool", "Whether cuDNN supports it (false turns USE_CUDNN off)."),
            "min_driver": Key(
                "str",
                "First driver branch that supports this GPU.",
                required=True,
                pattern=DRIVER_RE,
                reaches=(VERSION, INDENTED, DOCS),
            ),
        },
        key_pattern=GPU_NAME_RE,
        name_reaches=IN_VARIANT_NAME,
    ),
    "isa": Table(
        "A CPU instruction-set level.",
        {
            "title": Key("str", "Display name (AVX-512 VNNI).", required=True, reaches=TEXT),
            "platform": Key("str", "The one platform this ISA exists on.", required=True, enum=PLATFORMS, reaches=(STRING, DOCS)),
            "flags": Key(
                "strlist",
                "Exact compiler flags (prepended to CFLAGS and CXXFLAGS).",
                required=True,
                pattern=FLAG_RE,
                reaches=(SHELL, INDENTED, DOCS),
            ),
            "features": Key(
                "strlist",
                "archspec feature names a CPU must have to run this build.",
                required=True,
                pattern=FEATURE_RE,
                reaches=(REF, DOCS),
            ),
            "archspec": Key(
                "strlist", "archspec microarchitectures that first have all the features.", required=True, reaches=(REF, DOCS)
            ),
            "hardware": Key("str", "Human description of the CPUs that run it.", required=True, reaches=(INDENTED, DOCS)),
            "rank": Key("int", "Preference when a host can run several ISAs (higher wins).", required=True),
            "env": Key(
                "strmap",
                "Build switches exported for this ISA.",
                pattern=ENV_VALUE_RE,
                reaches=(SHELL, INDENTED),
                key_pattern=ENV_NAME_RE,
                key_reaches=(SHELL, INDENTED),
                key_doc="environment variable name",
            ),
            "cmake_flags": Key("strlist", "CMake flags for this ISA.", pattern=CMAKE_FLAG_RE, reaches=(SHELL, STRING)),
        },
        key_pattern=NAME_RE,
        name_reaches=IN_VARIANT_NAME,
    ),
    "pin": Table(
        "A nixpkgs revision.",
        {
            "rev": Key("str", "Full 40-hex nixpkgs commit.", required=True, pattern=REV_RE, reaches=(STRING, DOCS)),
            "sha256": Key(
                "str",
                "NAR hash of the unpacked GitHub tarball (SRI or nix-base32), as builtins.fetchTarball checks it; "
                "empty (with `unverified`) until `invoke pin` fills it.",
                required=True,
                reaches=(STRING,),
            ),
            **_provenance_keys(PIN_FETCHERS, "sha256"),
            "cuda": Key("strlist", "CUDA versions whose package set this revision provides.", required=True, reaches=(REF,)),
            "cuda_attrs": Key(
                "strmap",
                'Per-CUDA attribute where this revision names it differently ("13.0" = "cudaPackages_13").',
                pattern=SET_ATTR_RE,
                reaches=(ATTR,),
                key_reaches=(REF,),
                key_doc="CUDA version",
            ),
            "torch": Key(
                "str",
                "Version of the revision's own torch (omit if unknown: its variants must then name a torch source).",
                pattern=SOURCE_VERSION_RE,
                reaches=(VERSION, STRING, INDENTED, COMMENT, DOCS),
            ),
            **{
                attr: Key(
                    "str",
                    f"Version of the revision's own {attr}, where known (asserted at evaluation).",
                    pattern=SOURCE_VERSION_RE,
                    reaches=(VERSION, STRING, COMMENT, DOCS),
                )
                for attr in COMPANIONS
            },
            **{
                f"{attr}_patches": Key(
                    "strlist",
                    f"File names of the patches the revision's own {attr} applies (each decided in [nixpkgs_patch.NAME]).",
                    pattern=PATCH_NAME_RE,
                    reaches=(STRING, COMMENT, DOCS, REF),
                )
                for attr in SOURCE_PACKAGES
            },
            "apple_sdk": Key(
                "str",
                "The Apple SDK attribute darwin recipes add (one that exists at this revision, e.g. apple-sdk_14).",
                pattern=r"apple-sdk(_[0-9]+)?",
                reaches=(ATTR, STRING, COMMENT, DOCS),
            ),
            "apple_sdk_version": Key(
                "str",
                "Major version of that SDK at this revision (asserted at evaluation).",
                pattern=r"[0-9]+",
                reaches=(STRING, DOCS),
            ),
            "torch_cuda13_broken": Key(
                "bool", "Whether the revision's torch marks CUDA 13 broken (recipes then set allowBroken).", required=True
            ),
            "carries": Key("strlist", "Patches ([patch.NAME]) this revision already applies itself.", reaches=(REF,)),
            "observed": Key(
                "strmap",
                "Status `observed`: the keys `invoke observe --write` read from the unpacked tree itself (key = ISO date).",
                pattern=r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
                reaches=(DOCS,),
                key_pattern=r"(torch|torchvision|torchaudio)(_patches)?|cuda|cuda_attrs|torch_cuda13_broken|carries|apple_sdk(_version)?",
                key_reaches=(DOCS,),
                key_doc="pin key",
            ),
            "note": Key("str", "Where the revision comes from.", reaches=(DOCS,)),
        },
        key_pattern=KEY_RE,
        name_reaches=(STRING, COMMENT, DOCS, REF),
    ),
    "source": Table(
        "A torch, torchvision or torchaudio source that replaces a pin's own (a nightly is just another source).",
        {
            "package": Key(
                "str", "Which package it is the source of (default torch).", enum=SOURCE_PACKAGES, reaches=(REF,)
            ),
            "version": Key(
                "str",
                "Version the build reports.",
                required=True,
                pattern=SOURCE_VERSION_RE,
                reaches=(VERSION, STRING, SHELL, INDENTED, COMMENT, DOCS),
            ),
            "owner": Key("str", "GitHub owner.", required=True, pattern=GITHUB_NAME_RE, reaches=(STRING, SHELL, COMMENT, DOCS)),
            "repo": Key(
                "str", "GitHub repository.", required=True, pattern=GITHUB_NAME_RE, reaches=(STRING, SHELL, COMMENT, DOCS)
            ),
            "rev": Key("str", "Tag or commit.", required=True, pattern=GIT_REV_RE, reaches=(STRING, SHELL, COMMENT, DOCS)),
            "hash": Key(
                "str",
                "SRI hash of the fetched tree; empty (with `unverified`) until `invoke pin --source` fills it.",
                required=True,
                reaches=(STRING,),
            ),
            "fetch_submodules": Key(
                "bool", "Fetch git submodules (PyTorch needs them); must agree with `fetcher`.", required=True
            ),
            **_provenance_keys(SOURCE_FETCHERS, "hash"),
        },
        key_pattern=KEY_RE,
        name_reaches=(COMMENT, DOCS, REF),
    ),
    "patch": Table(
        "A patch file applied to a nixpkgs package.",
        {
            "file": Key(
                "str",
                "Path of the patch, relative to the repository root.",
                required=True,
                pattern=PATCH_FILE_RE,
                reaches=(CODE, DOCS),
            ),
            "package": Key(
                "str",
                "Top-level nixpkgs attribute the patch is added to.",
                required=True,
                pattern=NIX_PACKAGE_RE,
                reaches=(ATTR, DOCS),
            ),
            "min_cuda": Key(
                "str",
                "Apply to variants with at least this CUDA version.",
                required=True,
                pattern=VERSION_RE,
                reaches=(VERSION, DOCS),
            ),
            "upstream": Key("str", "Upstream fix this patch corresponds to.", required=True, reaches=(COMMENT, DOCS)),
            "summary": Key("str", "What it fixes.", required=True, reaches=(COMMENT, DOCS)),
            "nixpkgs_name": Key(
                "str",
                "The name of the same fix among nixpkgs' own patches of `package`, where a pin carries it "
                "(the recipes assert `carries` against it).",
                pattern=PATCH_NAME_RE,
                reaches=(STRING, DOCS),
            ),
        },
        key_pattern=KEY_RE,
        name_reaches=(STRING, COMMENT, DOCS, REF),
    ),
    "nixpkgs_patch": Table(
        "One of nixpkgs' own patches of torch, torchvision or torchaudio, and what a source override does with it.",
        {
            "package": Key("str", "Whose patch it is.", required=True, enum=SOURCE_PACKAGES, reaches=(REF, DOCS)),
            "when": Key(
                "str", "When nixpkgs adds it (the condition in its expression).", required=True, enum=PATCH_WHEN, reaches=(DOCS,)
            ),
            "keep_on": Key(
                "strlist",
                "Platforms on which a source override keeps it (empty: dropped everywhere).",
                required=True,
                enum=PLATFORMS,
                reaches=(REF, DOCS),
            ),
            "keep_cuda": Key(
                "strlist", "CUDA versions with which a source override keeps it, on any platform.", pattern=r"[0-9]+\.[0-9]+", reaches=(DOCS,)
            ),
            "reason": Key("str", "Why it is kept or dropped.", required=True, reaches=(COMMENT, DOCS)),
            "source": Key("str", "Where the facts about it come from (nixpkgs file@commit, facts sheet).", required=True, reaches=(DOCS,)),
        },
        key_pattern=PATCH_NAME_RE,
        name_reaches=(STRING, COMMENT, DOCS, REF),
    ),
    "matrix": Table(
        "A block: the cross product of its lists, minus excludes.",
        {
            "name": Key(
                "str", "Block name (shown by `invoke show`).", required=True, pattern=NAME_RE, reaches=(COMMENT, STRING, DOCS)
            ),
            "target": Key("str", "cuda, cpu or mps.", required=True, enum=TARGETS, reaches=(REF,)),
            "packages": Key("strlist", "Packages to build.", required=True, reaches=(REF,)),
            "python": Key("strlist", "Python versions.", required=True, reaches=(REF,)),
            "cuda": Key("strlist", "CUDA versions (target cuda only).", reaches=(REF,)),
            "gpu": Key("strlist", "GPU architectures (target cuda only).", reaches=(REF,)),
            "isa": Key("strlist", "CPU ISAs (targets cuda and cpu).", reaches=(REF,)),
            "suffix": Key(
                "str", 'Appended to every name of the block ("nightly").', pattern=NAME_RE, reaches=(*IN_VARIANT_NAME, ATTR)
            ),
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
                "strlist", 'Labels of the light job that selects the jobs (default ["ubuntu-24.04"]).',
                pattern=RUNNER_LABEL_RE, reaches=(YAML,),
            ),
            "max_parallel": Key(
                "int", "Jobs of one matrix (one platform) running at once (`max-parallel`).", required=True, minimum=1, maximum=256
            ),
            "build_timeout_minutes": Key(
                "int", "`timeout-minutes` of a build job (default 2880; GitHub's own default, 360, is shorter than a CUDA build; self-hosted jobs stop at 5 days).",
                minimum=1, maximum=7200,
            ),
            "cache": Key("table", "The Nix binary cache builds push to and smoke jobs pull from.", required=True, table="ci_cache"),
            "flox": Key("table", "The step that installs Flox on a runner.", table="ci_flox"),
        },
    ),
    "ci_runners": Table(
        "`runs-on` labels of the build jobs, per platform; every platform a variant has needs an entry.",
        {p: Key("strlist", f"Labels of the {p} build runners.", pattern=RUNNER_LABEL_RE, reaches=(YAML,)) for p in PLATFORMS},
    ),
    "ci_smoke_runner": Table(
        "A runner for smoke jobs. It matches a variant of its platform whose GPU architecture its GPU runs "
        "(same major, at or above) and whose CPU ISA its CPU runs; CPU-only variants need only the ISA, "
        "Apple (MPS) variants only the platform.",
        {
            "labels": Key("strlist", "`runs-on` labels of the runner.", required=True, pattern=RUNNER_LABEL_RE, reaches=(YAML,)),
            "platform": Key("str", "The runner's platform.", required=True, enum=PLATFORMS, reaches=(REF,)),
            "gpu": Key("str", "Its GPU architecture, a [gpu.NAME] (omit for a runner without NVIDIA GPU).", reaches=(REF,)),
            "isas": Key("strlist", "CPU ISAs its CPU runs, [isa.NAME] entries (e.g. avx … avx512bf16).", reaches=(REF,)),
        },
    ),
    "ci_cache": Table(
        "A Nix binary cache. Build jobs sign with the secret key and push (`nix copy --to`); smoke jobs substitute from it.",
        {
            "push": Key(
                "str", "Binary cache store to push to: s3://bucket?region=…, https://… (upload by PUT), file://….",
                required=True, pattern=STORE_URI_RE, reaches=(YAML,),
            ),
            "substituter": Key(
                "str", "URL runners pull from (`extra-substituters`).", required=True, pattern=CACHE_URL_RE, reaches=(YAML,)
            ),
            "public_key": Key(
                "str", "The cache's public key (`extra-trusted-public-keys`).", required=True, pattern=PUBLIC_KEY_RE, reaches=(YAML,)
            ),
            "signing_key_secret": Key(
                "str", "Name of the GitHub secret holding the Nix secret key results are signed with.",
                required=True, pattern=SECRET_RE, reaches=(YAML,),
            ),
            "secrets": Key(
                "strlist", "Other GitHub secrets the push step gets as environment variables (AWS_ACCESS_KEY_ID, …).",
                pattern=SECRET_RE, reaches=(YAML,),
            ),
            "environment": Key(
                "str", "The GitHub environment the push job runs in, the only job that gets the secrets "
                "(default binary-cache; give it required reviewers and a branch rule on GitHub).",
                pattern=ENVIRONMENT_RE, reaches=(YAML,),
            ),
        },
    ),
    "ci_flox": Table(
        "The Flox install step (`uses:` and `with:`).",
        {
            "uses": Key(
                "str", "The action, owner/name@<40-hex commit> (default: the release ci/workflow.py pins).",
                pattern=ACTION_RE, reaches=(YAML,),
            ),
            "with": Key(
                "strmap", "Its inputs, plain text (no secrets: the step runs in jobs that run repository code).", pattern=ACTION_INPUT_RE, reaches=(YAML,),
                key_pattern=ACTION_INPUT_NAME_RE, key_reaches=(YAML,), key_doc="action input name",
            ),
        },
    ),
    "override": Table(
        "Settings for every variant the match selects (later overrides win).",
        {"match": Key("table", "Which variants.", required=True, table="match"), **SETTINGS_KEYS},
    ),
}
SPECS["matrix"].keys["pin"] = Key("str", SETTINGS_KEYS["pin"].doc, required=True, reaches=(REF,))
