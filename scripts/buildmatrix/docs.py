"""Generated regions in README.md and docs/*.md: `invoke docs [--check]`.

A region is a pair of lines, each exactly (no leading whitespace)::

    <!-- BEGIN GENERATED: name -->
    <!-- END GENERATED: name -->

``name`` picks a generator from :data:`GENERATORS`. ``invoke docs`` replaces what
lies between the two lines with the generator's output; every byte outside the
regions (hand-written prose, line endings, a missing final newline) is kept.
Unknown names, a BEGIN without END, an END without BEGIN, nesting, a name used
twice in one file, malformed marker lines and missing required regions are
errors naming file and line, and then nothing is written to any file.

Generators are pure functions of the model (:class:`~buildmatrix.model.Matrix`),
the ledger's latest records and archspec's database: no clock, no host, sorted
output, so ``invoke docs --check`` is stable and fails only on real drift.
"""

from __future__ import annotations

import posixpath
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.version import Version

from . import ledger, spec
from .atomic import sweep, write_atomic
from .errors import BuildMatrixError
from .model import Gpu, Isa, Matrix, Variant

BEGIN_RE = re.compile(r"<!-- BEGIN GENERATED: ([a-z0-9][a-z0-9-]*) -->")
END_RE = re.compile(r"<!-- END GENERATED: ([a-z0-9][a-z0-9-]*) -->")
# Anything that looks like a marker but is not exactly one (a typo must not pass silently).
LOOSE_RE = re.compile(r"^\s*<!--\s*(BEGIN|END)[\s_-]*GENERATED", re.IGNORECASE)
_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+\Z")  # lines split on \n only (keeps \r, \x0c, \u2028 … inside lines)

DOCS_DIR = PurePosixPath("docs")
README = PurePosixPath("README.md")
NIXPKGS_TREE = "https://github.com/NixOS/nixpkgs/tree/"
TARGET_ORDER = {"cuda": 0, "cpu": 1, "mps": 2}
ACTION_WORDS = {
    "eval": "evaluation",
    "build": "build",
    "push": "push to a binary cache",
    "smoke": "smoke test",
    "publish": "publish",
}
ACTION_DONE = {
    "eval": "evaluated",
    "build": "built",
    "push": "pushed to a binary cache",
    "smoke": "smoke-tested",
    "publish": "published",
}

# Regions each shipped document must keep (deleting one by accident is an error, not silent drift).
REQUIRED: dict[str, tuple[str, ...]] = {
    "README.md": ("summary", "gpu-picker"),
    "docs/BUILD_MATRIX.md": (
        "summary",
        "counts",
        "version-matrix",
        "nixpkgs-patches",
        "unverified-fetches",
        "sm-isa-grids",
        "variant-matrix",
        "evidence",
    ),
    "docs/QUICKSTART.md": ("decision-tree", "gpu-reference", "cpu-isa-guide", "examples", "magma-patch"),
    "docs/variants.md": ("key-reference", "matrix-blocks"),
    "docs/BUILDING.md": ("scale-jobs",),
}


class DocsError(BuildMatrixError):
    """Marker problems (or an unreadable ledger); nothing was written."""

    def __init__(self, problems: list[str], what: str = "the generated-content markers"):
        super().__init__(problems)
        self.problems = problems
        self.what = what

    def __str__(self) -> str:
        head = f"{len(self.problems)} problem(s) with {self.what}; nothing was written"
        return "\n".join([head, *self.problems])


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class Region:
    """One BEGIN/END pair: the generator's name and the indices of its two marker lines."""

    name: str
    begin: int  # index of the BEGIN line
    end: int  # index of the END line


@dataclass
class Parsed:
    """A document as lines (with their endings) and its well-formed regions, in order."""

    lines: list[str]
    regions: list[Region]


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split on ``\\n`` only (``str.splitlines`` would also split on \\x0c, \\u2028 …)."""
    return _LINE_RE.findall(text)


def parse(text: str, where: str, known: Iterable[str] | None = None) -> tuple[Parsed, list[str]]:
    """Find the regions of one document. Returns (parsed, problems); problems name ``where:line``."""
    known = set(GENERATORS if known is None else known)
    lines = split_lines(text)
    problems: list[str] = []
    regions: list[Region] = []
    seen: dict[str, int] = {}
    open_name: str | None = None
    open_at = 0
    for i, line in enumerate(lines):
        body = line.rstrip()
        begin, end = BEGIN_RE.fullmatch(body), END_RE.fullmatch(body)
        at = f"{where}:{i + 1}"
        if not (begin or end):
            if LOOSE_RE.match(line):
                problems.append(
                    f"{at}: malformed marker {body.strip()!r}; write exactly `<!-- BEGIN GENERATED: name -->` or "
                    "`<!-- END GENERATED: name -->` on a line of its own, starting in column 1"
                )
            continue
        if begin:
            name = begin.group(1)
            if open_name is not None:
                problems.append(
                    f"{at}: BEGIN {name!r} inside region {open_name!r} (opened at line {open_at + 1}); regions cannot nest"
                )
                continue
            if name not in known:
                problems.append(f"{at}: unknown generator {name!r}; known: {', '.join(sorted(known))}")
            if name in seen:
                problems.append(f"{at}: region {name!r} appears twice in this file (first at line {seen[name] + 1})")
            seen.setdefault(name, i)
            open_name, open_at = name, i
            continue
        name = end.group(1)
        if open_name is None:
            problems.append(f"{at}: END {name!r} without a BEGIN")
        elif name != open_name:
            problems.append(f"{at}: END {name!r} closes region {open_name!r} (opened at line {open_at + 1})")
            open_name = None
        else:
            regions.append(Region(name, open_at, i))
            open_name = None
    if open_name is not None:
        problems.append(f"{where}:{open_at + 1}: BEGIN {open_name!r} has no matching `<!-- END GENERATED: {open_name} -->`")
    return Parsed(lines, regions), problems


def _newline_of(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else "\n"


def fill(parsed: Parsed, contents: dict[str, str]) -> str:
    """The document with each region's inside replaced by ``contents[name]`` (prose kept byte for byte)."""
    out: list[str] = []
    pos = 0
    for r in parsed.regions:
        out.extend(parsed.lines[pos : r.begin + 1])
        nl = _newline_of(parsed.lines[r.begin])
        body = contents[r.name].strip("\n")
        out.append(("\n" + body + "\n\n").replace("\n", nl))
        pos = r.end
    out.extend(parsed.lines[pos:])
    return "".join(out)


def region_text(parsed: Parsed, region: Region) -> str:
    return "".join(parsed.lines[region.begin + 1 : region.end])


# ----------------------------------------------------------------- context


@dataclass(frozen=True)
class Context:
    """What a generator may look at: the model, the ledger's latest records, and where the output goes."""

    matrix: Matrix
    records: dict[tuple[str, str], ledger.Record]
    file: PurePosixPath = README  # relative to the repository root

    def link(self, target: str) -> str:
        """Relative link from this document to ``target`` (a path from the repository root, maybe with #anchor)."""
        path, _, anchor = target.partition("#")
        if path == str(self.file):
            path = ""
        rel = posixpath.relpath(path, posixpath.dirname(str(self.file)) or ".") if path else ""
        return rel + (f"#{anchor}" if anchor else "")


Generator = Callable[[Context], str]
GENERATORS: dict[str, Generator] = {}


def generator(name: str) -> Callable[[Generator], Generator]:
    def register(fn: Generator) -> Generator:
        GENERATORS[name] = fn
        return fn

    return register


# --------------------------------------------------------------- markdown


def cell(text: object) -> str:
    """A table cell: pipes escaped (GitHub needs that even inside code spans), no line breaks."""
    return str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|").strip()


def plain(text: str) -> str:
    """Free text from outside the model (ledger records) shown literally: no HTML, links or emphasis."""
    text = re.sub(r"([\\`*_\[\]<>#~])", r"\\\1", text.replace("\r", " ").replace("\n", " "))
    return text.strip() or "—"


def code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (rendered text: lower case, punctuation dropped, spaces → hyphens)."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


# ------------------------------------------------------------------ ordering


def _ver(text: str) -> Version:
    return Version(text)


def _cap(g: Gpu) -> tuple[int, ...]:
    return tuple(int(x) for x in g.capability.split("."))


def _isa_key(i: Isa) -> tuple:
    order = spec.PLATFORMS.index(i.platform) if i.platform in spec.PLATFORMS else len(spec.PLATFORMS)
    return (order, i.rank, i.name)


def variant_key(m: Matrix, v: Variant) -> tuple:
    """Sort order of the variant tables: target, GPU, ISA, CUDA, Python, package, suffix."""
    pkgs = list(m.packages)
    return (
        TARGET_ORDER[v.target],
        _cap(v.gpu) if v.gpu else (),
        _isa_key(v.isa) if v.isa else (),
        _ver(v.cuda.version) if v.cuda else _ver("0"),
        _ver(v.python.version),
        pkgs.index(v.package.name),
        v.suffix,
        v.name,
    )


def sorted_gpus(m: Matrix) -> list[Gpu]:
    return sorted(m.gpus.values(), key=_cap)


def sorted_isas(m: Matrix) -> list[Isa]:
    return sorted(m.isas.values(), key=_isa_key)


def sorted_cudas(m: Matrix) -> list[str]:
    return sorted(m.cudas, key=_ver)


def _built_gpus(m: Matrix) -> list[Gpu]:
    used = {v.gpu.name for v in m.variants if v.gpu}
    return [g for g in sorted_gpus(m) if g.name in used]


def _driver_max(*versions: str) -> str:
    return max(versions, key=lambda d: tuple(int(x) for x in re.findall(r"\d+", d)))


def _target_label(v: Variant) -> str:
    return f"CUDA {v.cuda.version}" if v.cuda else {"cpu": "CPU only", "mps": "Apple Silicon (MPS)"}[v.target]


def _products(g: Gpu, n: int | None = None) -> str:
    shown = g.gpus if n is None else g.gpus[:n]
    return ", ".join(shown) + (", …" if n is not None and len(g.gpus) > n else "")


# ---------------------------------------------------------------- evidence


def status(records: dict[tuple[str, str], ledger.Record], name: str) -> str:
    """Short status of a variant from its records only: "not built" without one; never success without an ok record."""
    recs = {a: records[(name, a)] for a in ledger.ACTIONS if (name, a) in records}
    ok = [a for a in ledger.ACTIONS if a in recs and recs[a].proves]
    top = ok[-1] if ok else None
    parts = [ACTION_DONE[top] if top else "not built"]
    if top == "eval":
        parts[0] = "evaluated, not built"
    after = ledger.ACTIONS.index(top) if top else -1
    for a in ledger.ACTIONS:
        r = recs.get(a)
        if r is not None and not r.proves and ledger.ACTIONS.index(a) > after:
            parts.append(f"{ACTION_WORDS[a]} " + ("with a stand-in interpreter" if r.stand_in and r.status == "ok" else r.status))
    return "; ".join(parts)


def _rev(r: ledger.Record) -> str:
    rev = r.git_rev or "unknown"
    dirty = rev.endswith("-dirty")
    short = rev.removesuffix("-dirty")[:7] if rev != "unknown" else rev
    return short + (" + uncommitted changes" if dirty else "")


def _date(r: ledger.Record) -> str:
    return (r.end or r.start or "")[:10] or "—"


# -------------------------------------------------------------- archspec view


@dataclass
class IsaFacts:
    """What archspec's database says about one ISA of the model."""

    runs_on: list[str] = field(default_factory=list)
    near_misses: list[tuple[str, list[str]]] = field(default_factory=list)  # (target, missing features)
    best_for: list[str] = field(default_factory=list)


def archspec_version() -> str:
    try:
        import archspec

        return str(archspec.__version__)
    except (ImportError, AttributeError):
        return "not installed"


def _family(platform: str) -> str:
    return platform.split("-", 1)[0]


def isa_facts(m: Matrix) -> dict[str, IsaFacts]:
    """Per ISA: the non-generic archspec microarchitectures that have all its features, the nearest ones that
    do not (they run the next lower ISA but lack something), and those for which it is the best ISA."""
    out = {name: IsaFacts() for name in m.isas}
    try:
        import archspec.cpu
    except ImportError:
        return out
    targets = sorted(
        (t for t in archspec.cpu.TARGETS.values() if t.vendor != "generic"),
        key=lambda t: t.name,
    )

    def has(t, isa: Isa) -> bool:
        return all(f in t for f in isa.features)

    isas = sorted_isas(m)
    for isa in isas:
        fam = _family(isa.platform)
        mine = [t for t in targets if _family(str(t.family.name)) == fam]
        lower = [i for i in isas if i.platform == isa.platform and i.rank < isa.rank]
        subset = [i for i in lower if set(i.features) <= set(isa.features)]
        previous = max(subset or lower, key=lambda i: i.rank) if lower else None
        facts = out[isa.name]
        facts.runs_on = [t.name for t in mine if has(t, isa)]
        facts.near_misses = [
            (t.name, [f for f in isa.features if f not in t])
            for t in mine
            if not has(t, isa) and (previous is None or has(t, previous))
        ]
    for t in targets:
        fitting = [i for i in isas if _family(i.platform) == _family(str(t.family.name)) and has(t, i)]
        if fitting:
            out[max(fitting, key=lambda i: i.rank).name].best_for.append(t.name)
    return out


# ------------------------------------------------------------ GPU decisions


def best_build(m: Matrix, capability: str) -> Gpu | None:
    """The built architecture whose SASS runs on a device of ``capability``, closest first (as `invoke detect`)."""
    fitting = [g for g in _built_gpus(m) if g.runs_on(capability)]
    return max(fitting, key=_cap) if fitting else None


def _cudas_of(m: Matrix, gpu: Gpu) -> list[str]:
    return sorted({v.cuda.version for v in m.variants if v.gpu and v.gpu.name == gpu.name}, key=_ver)


def _isas_of(m: Matrix, gpu: Gpu | None, target: str = "cuda") -> list[str]:
    names = {
        v.isa.name for v in m.variants if v.target == target and v.isa and (gpu is None or (v.gpu and v.gpu.name == gpu.name))
    }
    return [i.name for i in sorted_isas(m) if i.name in names]


# ================================================================ generators


@generator("summary")
def gen_summary(ctx: Context) -> str:
    """Counts in a few lines, plus what the ledger records."""
    m = ctx.matrix
    vs = m.variants
    pkgs = Counter(v.package.name for v in vs)
    pythons = sorted({v.python.version for v in vs}, key=_ver)
    by_cuda = Counter(v.cuda.version for v in vs if v.cuda)
    cuda_n = sum(by_cuda.values())
    cpu_n = sum(1 for v in vs if v.target == "cpu")
    mps_n = sum(1 for v in vs if v.target == "mps")
    built = _built_gpus(m)
    unbuilt = [g.name for g in sorted_gpus(m) if g not in built]
    isas = [i.name for i in sorted_isas(m) if any(v.isa and v.isa.name == i.name for v in vs)]
    torches = Counter(v.torch_version for v in vs)
    used_pins = sorted({v.pin.name for v in vs})
    hashed = [p for p in used_pins if m.pins[p].sha256]
    lines = [
        f"- **{len(vs)} variants**: "
        + ", ".join(f"{pkgs[p]} {m.packages[p].title}" for p in m.packages if pkgs[p])
        + f" (Python {', '.join(pythons)})",
        f"- NVIDIA GPU builds: {cuda_n} ("
        + ", ".join(f"CUDA {c}: {by_cuda[c]}" for c in sorted_cudas(m) if by_cuda[c])
        + f"); CPU-only: {cpu_n}; Apple Silicon (MPS): {mps_n}",
        f"- GPU architectures: {len(built)} ({', '.join(g.name for g in built)})"
        + (f"; described in variants.toml but not built: {', '.join(unbuilt)}" if unbuilt else ""),
        f"- CPU ISAs: {len(isas)} ({', '.join(isas)})",
        "- torch: "
        + ", ".join(f"{t} ({n} variant{'s' if n != 1 else ''})" for t, n in sorted(torches.items(), key=lambda x: -x[1])),
        f"- Short names such as `{_first_alias(m)}` mean Python {m.defaults.python}, CUDA {m.defaults.cuda}, "
        + " + ".join(m.packages[p].title for p in m.defaults.packages),
        f"- nixpkgs pins: {len(used_pins)}, "
        + (
            "none with a recorded sha256 (fetched unverified until `invoke pin` records one)"
            if not hashed
            else f"{len(hashed)} with a recorded sha256"
            + (f", {len(used_pins) - len(hashed)} unverified" if len(hashed) < len(used_pins) else "")
        ),
        "- Recorded evidence: " + _evidence_line(ctx),
    ]
    return "\n".join(lines)


def _first_alias(m: Matrix) -> str:
    ex = _examples(m)
    return ex[0][0] if ex else min(m.variants, key=lambda v: variant_key(m, v)).short


def _evidence_line(ctx: Context) -> str:
    names = set(ctx.matrix.by_name)
    ok: dict[str, set[str]] = defaultdict(set)
    dates = []
    for (name, action), r in ctx.records.items():
        if name in names and r.status == "ok":
            ok[action].add(name)
            dates.append(_date(r))
    link = ctx.link("docs/BUILD_MATRIX.md#recorded-evidence")
    if not ok:
        return f"none yet (no evaluation, build, smoke test or publish is recorded in `ledger/records.jsonl`; [evidence]({link}))"
    parts = [f"{len(ok[a])} {ACTION_DONE[a]}" for a in ledger.ACTIONS if ok.get(a)]
    return ", ".join(parts) + f" (latest record {max(dates)}; [evidence]({link}))"


@generator("gpu-picker")
def gen_gpu_picker(ctx: Context) -> str:
    """README: your GPU → architecture, CUDA versions and ISAs built for it."""
    m = ctx.matrix
    rows = []
    for g in sorted_gpus(m):
        b = best_build(m, g.capability)
        if b is None:
            rows.append([_products(g, 3), g.capability, "no variant", "—", "—"])
            continue
        use = code(b.name) + ("" if b.name == g.name else f" (no {g.name} build; SASS-compatible)")
        rows.append([_products(g, 3), g.capability, use, ", ".join(_cudas_of(m, b)), ", ".join(_isas_of(m, b))])
    cpu_isas = _isas_of(m, None, "cpu")
    if cpu_isas:
        rows.append(["no NVIDIA GPU (Linux)", "—", "`cpu-<isa>`", "—", ", ".join(cpu_isas)])
    if any(v.target == "mps" for v in m.variants):
        rows.append(["Apple Silicon Mac", "—", "`darwin-mps`", "—", "—"])
    return table(["Your GPU", "Compute capability", "Use", "CUDA", "CPU ISAs"], rows)


@generator("counts")
def gen_counts(ctx: Context) -> str:
    """Counts per package × (CUDA/target, SM, ISA, Python), with totals."""
    m = ctx.matrix
    pkgs = [p for p in m.packages]
    titles = [m.packages[p].title for p in pkgs]

    def block(title: str, first: str, keys: list[tuple[str, Callable[[Variant], object], object]]) -> str:
        rows = []
        for label, axis, value in keys:
            counts = [sum(1 for v in m.variants if v.package.name == p and axis(v) == value) for p in pkgs]
            rows.append([label, *map(str, counts), str(sum(counts))])
        totals = [sum(1 for v in m.variants if v.package.name == p) for p in pkgs]
        rows.append(["**Total**", *(f"**{t}**" for t in totals), f"**{sum(totals)}**"])
        return f"**{title}**\n\n" + table([first, *titles, "Total"], rows)

    def target(v: Variant) -> str:
        return v.cuda.version if v.cuda else v.target

    def gpu(v: Variant) -> str | None:
        return v.gpu.name if v.gpu else None

    def isa(v: Variant) -> str | None:
        return v.isa.name if v.isa else None

    def python(v: Variant) -> str:
        return v.python.version

    target_keys = [(f"CUDA {c}", target, c) for c in sorted_cudas(m)]
    target_keys += [("CPU only", target, "cpu"), ("Apple Silicon (MPS)", target, "mps")]
    gpu_keys = [(f"{g.name} ({g.family})", gpu, g.name) for g in sorted_gpus(m)]
    gpu_keys += [("no GPU (CPU only, MPS)", gpu, None)]
    isa_keys = [(f"{i.name} ({i.platform})", isa, i.name) for i in sorted_isas(m)]
    isa_keys += [("none (Apple MPS)", isa, None)]
    py_keys = [(f"Python {p}", python, p) for p in sorted(m.pythons, key=_ver)]
    return "\n\n".join(
        [
            block("Variants by target and CUDA version", "Target", target_keys),
            block("Variants by GPU architecture (SM)", "SM", gpu_keys),
            block("Variants by CPU ISA", "CPU ISA", isa_keys),
            block("Variants by Python version", "Python", py_keys),
        ]
    )


def _torch_cell(v: Variant) -> str:
    if v.source:
        note = "" if v.source.hash else "; source hash not recorded yet"
        return f"{v.torch_version} (source `{v.source.name}`{note})"
    return f"{v.torch_version} (the pin's own)"


def _vision_cell(vs: list[Variant]) -> str:
    """torchvision of the group's torchvision variants: version and where it comes from."""
    tvs = [v for v in vs if v.requires]
    if not tvs:
        return "—"
    v = tvs[0]
    if v.vision_source:
        note = "" if v.vision_source.hash else "; source hash not recorded yet"
        return f"{v.torchvision_version} (source `{v.vision_source.name}`{note})"
    return f"{v.torchvision_version} (the pin's own)" if v.torchvision_version else "the pin's own (version not recorded)"


def _magma_cell(m: Matrix, v: Variant) -> str:
    if v.patches:
        return "yes: " + ", ".join(code(p.name) for p in v.patches)
    if v.cuda is None:
        return "no (no CUDA)"
    carried = [p.name for p in m.patches.values() if p.wanted_by(v.cuda) and p.name in v.pin.carries]
    if carried:
        return "no: the pin already carries " + ", ".join(code(p) for p in carried)
    return "no (not needed)"


def _pin_link(pin) -> str:
    return f"[{pin.name}]({NIXPKGS_TREE}{pin.rev})"


@generator("version-matrix")
def gen_version_matrix(ctx: Context) -> str:
    """One row per (pin, torch, CUDA/target, Python) and the pins themselves."""
    m = ctx.matrix
    groups: dict[tuple, list[Variant]] = defaultdict(list)
    for v in m.variants:
        key = (
            TARGET_ORDER[v.target],
            _ver(v.cuda.version) if v.cuda else _ver("0"),
            v.pin.name,
            _ver(v.torch_version),
            v.source.name if v.source else "",
            v.vision_source.name if v.vision_source else "",
            _ver(v.python.version),
            v.target,
        )
        groups[key].append(v)
    rows = []
    for key in sorted(groups):
        vs = groups[key]
        v = vs[0]
        rows.append(
            [
                _pin_link(v.pin),
                _torch_cell(v),
                _vision_cell(vs),
                _target_label(v),
                code(v.pin.cuda_attr(v.cuda)) if v.cuda else "—",
                f"≥ {v.cuda.min_driver}" if v.cuda else "—",
                v.python.version,
                _magma_cell(m, v),
                "yes" if v.allow_broken else "no",
                str(len(vs)),
            ]
        )
    main = table(
        [
            "nixpkgs pin",
            "torch",
            "torchvision",
            "Target",
            "CUDA package set",
            "Driver",
            "Python",
            "MAGMA patch",
            "allowBroken",
            "Variants",
        ],
        rows,
    )
    pin_rows = []
    used = Counter(v.pin.name for v in m.variants)
    for name in sorted(m.pins):
        p = m.pins[name]
        pin_rows.append(
            [
                name,
                f"[`{p.rev}`]({NIXPKGS_TREE}{p.rev})",
                "recorded" if p.sha256 else "**unverified** (no sha256 recorded)",
                ", ".join(p.cuda) or "—",
                p.torch or "unknown",
                ", ".join(code(c) for c in p.carries) or "—",
                str(used[name]),
                p.note,
            ]
        )
    pins = table(["Pin", "nixpkgs revision", "sha256", "CUDA sets", "Own torch", "Carries", "Variants", "Note"], pin_rows)
    return main + "\n\n**nixpkgs pins**\n\n" + pins


def _grid_cell(m: Matrix, present: list[Variant], gpu: Gpu, isa: Isa, cuda) -> str:
    base = sorted({v.package.name for v in present if not v.suffix}, key=list(m.packages).index)
    extra = sorted({v.suffix for v in present if v.suffix})
    if not present:
        impossible = (
            (cuda is not None and not gpu.supports_cuda(cuda))
            or isa.platform not in gpu.platforms
            or (gpu.isas is not None and isa.name not in gpu.isas)
        )
        return "n/a" if impossible else "—"
    out = "✓" if len(base) == len(m.packages) else ("✓ " + "/".join(base) if base else "—")
    if extra:
        out += " +" + " +".join(extra)
    return out


@generator("sm-isa-grids")
def gen_sm_isa_grids(ctx: Context) -> str:
    """One SM × ISA grid per CUDA version, plus the CPU-only and Apple rows."""
    m = ctx.matrix
    isas = sorted_isas(m)
    index: dict[tuple, list[Variant]] = defaultdict(list)
    for v in m.variants:
        index[
            (v.target, v.cuda.version if v.cuda else None, v.gpu.name if v.gpu else None, v.isa.name if v.isa else None)
        ].append(v)
    parts = []
    for c in sorted_cudas(m):
        cuda = m.cudas[c]
        n = sum(1 for v in m.variants if v.cuda and v.cuda.version == c)
        rows = []
        for g in sorted_gpus(m):
            rows.append(
                [f"{g.name} ({g.capability})", *(_grid_cell(m, index[("cuda", c, g.name, i.name)], g, i, cuda) for i in isas)]
            )
        parts.append(f"#### CUDA {c} ({n} variants)\n\n" + table(["SM", *(i.name for i in isas)], rows))
    cpu_row = []
    for i in isas:
        present = index[("cpu", None, None, i.name)]
        base = sorted({v.package.name for v in present}, key=list(m.packages).index)
        cpu_row.append("—" if not base else ("✓" if len(base) == len(m.packages) else "✓ " + "/".join(base)))
    n_cpu = sum(1 for v in m.variants if v.target == "cpu")
    parts.append(f"#### CPU only ({n_cpu} variants)\n\n" + table(["", *(i.name for i in isas)], [["CPU only", *cpu_row]]))
    mps = sorted({v.package.name for v in m.variants if v.target == "mps"}, key=list(m.packages).index)
    parts.append(
        "#### Apple Silicon\n\n"
        + (
            f"`darwin-mps` (aarch64-darwin, Metal Performance Shaders): {', '.join(m.packages[p].title for p in mps)}."
            if mps
            else "No Apple Silicon (MPS) variants."
        )
    )
    legend = (
        "✓ = recipes for every package (" + ", ".join(m.packages[p].title for p in m.packages) + "); "
        "`✓ pytorch` = only that package; `+nightly` (or another suffix) = an extra suffixed variant; "
        "— = not in the matrix (`invoke add` can add it); n/a = impossible (the CUDA version cannot compile for that GPU, "
        "or the GPU does not exist on that ISA's platform)."
    )
    return legend + "\n\n" + "\n\n".join(parts)


def _section_heading(g: Gpu | None, target: str) -> str:
    if g is not None:
        return f"{g.name}: {g.family}"
    return {"cpu": "CPU only", "mps": "Apple Silicon (MPS)"}[target]


@generator("variant-matrix")
def gen_variant_matrix(ctx: Context) -> str:
    """Every variant, one section per GPU architecture (then CPU-only, Apple), sorted ISA → CUDA → Python → package."""
    m = ctx.matrix
    sections: dict[tuple, list[Variant]] = defaultdict(list)
    for v in sorted(m.variants, key=lambda v: variant_key(m, v)):
        sections[(TARGET_ORDER[v.target], _cap(v.gpu) if v.gpu else ())].append(v)
    heads = []
    bodies = []
    for key in sorted(sections):
        vs = sections[key]
        first = vs[0]
        heading = _section_heading(first.gpu, first.target)
        heads.append(f"[{first.gpu.name if first.gpu else heading}](#{slug(heading)}) ({len(vs)})")
        if first.gpu:
            intro = f"Compute capability {first.gpu.capability}: {_products(first.gpu)}."
        elif first.target == "cpu":
            intro = "No GPU support: for Linux machines without an NVIDIA GPU."
        else:
            intro = "Metal Performance Shaders on Apple Silicon (macOS)."
        rows = [
            [
                code(v.name),
                v.gpu.family if v.gpu else ("Apple GPU (MPS)" if v.target == "mps" else "—"),
                v.gpu.name if v.gpu else "—",
                v.isa.name if v.isa else "—",
                v.cuda.version if v.cuda else "—",
                v.python.version,
                v.torch_version,
                v.platform,
                status(ctx.records, v.name),
            ]
            for v in vs
        ]
        bodies.append(
            f"### {heading}\n\n{intro}\n\n"
            + table(["Package name", "GPU", "SM", "CPU ISA", "CUDA", "Python", "torch", "Platform", "Status"], rows)
        )
    unbuilt = [g.name for g in sorted_gpus(m) if g not in _built_gpus(m)]
    jump = "Jump to: " + " · ".join(heads)
    if unbuilt:
        jump += f". No variants for {', '.join(unbuilt)}."
    return jump + "\n\n" + "\n\n".join(bodies)


@generator("evidence")
def gen_evidence(ctx: Context) -> str:
    """Recorded evidence only: builds, smoke tests and publishes listed; successful evaluations summarised."""
    m = ctx.matrix
    names = set(m.by_name)
    recs = [r for (n, _a), r in ctx.records.items() if n in names]
    unknown = sorted({n for (n, _a) in ctx.records if n not in names})
    if not recs:
        text = (
            "No evidence is recorded yet: `ledger/records.jsonl` has no evaluation, build, smoke test or publish "
            "for any variant in variants.toml, so every variant's status is \u201cnot built\u201d."
        )
    else:
        evals = Counter((r.status, _date(r), _rev(r), r.detail) for r in recs if r.action == "eval" and r.status == "ok")
        lines = []
        if evals:
            lines.append("**Evaluations** (latest per variant):\n")
            for (_st, date, rev, detail), n in sorted(evals.items(), key=lambda x: (x[0][1], x[0][2], x[0][3])):
                lines.append(
                    f"- {n} variant{'s' if n != 1 else ''} evaluated ok on {date} at commit `{rev}`"
                    + (f": {plain(detail)}" if detail else "")
                )
        rest = sorted(
            (r for r in recs if not (r.action == "eval" and r.status == "ok")),
            key=lambda r: (variant_key(m, m.by_name[r.variant]), ledger.ACTIONS.index(r.action)),
        )
        if rest:
            rows = [
                [
                    code(r.variant),
                    ACTION_WORDS[r.action],
                    plain(r.status),
                    plain(r.hardware),
                    plain(r.host),
                    plain(_date(r)),
                    f"`{_rev(r)}`",
                    plain(r.detail),
                ]
                for r in rest
            ]
            if lines:
                lines.append("")
            lines.append("**Builds, smoke tests and publishes** (latest record per variant and step):\n")
            lines.append(table(["Variant", "Step", "Result", "Hardware", "Host", "Date", "Commit", "Detail"], rows))
        text = "\n".join(lines)
    if unknown:
        text += f"\n\n{len(unknown)} variant name(s) in the ledger are no longer in variants.toml; their records are not shown."
    return text


@generator("decision-tree")
def gen_decision_tree(ctx: Context) -> str:
    """Your GPU → SM, your driver → CUDA, your CPU → ISA, in the order `invoke detect` decides."""
    m = ctx.matrix
    out = ["**1. Your GPU → architecture** (`nvidia-smi --query-gpu=name,compute_cap --format=csv`)\n"]
    rows = []
    for g in sorted_gpus(m):
        b = best_build(m, g.capability)
        if b is None:
            rows.append([_products(g), g.capability, "no variant runs on it", "—", "—"])
        else:
            use = code(b.name) if b.name == g.name else f"{code(b.name)} (SASS-compatible; there is no {g.name} build)"
            rows.append([_products(g), g.capability, use, ", ".join(_cudas_of(m, b)), ", ".join(_isas_of(m, b))])
    cpu_isas = _isas_of(m, None, "cpu")
    if cpu_isas:
        rows.append(["none (Linux)", "—", "a CPU-only variant, `cpu-<isa>`", "—", ", ".join(cpu_isas)])
    if any(v.target == "mps" for v in m.variants):
        rows.append(["Apple Silicon (M1 or later)", "—", "`darwin-mps`", "—", "—"])
    out.append(table(["Your GPU", "Compute capability", "Use", "CUDA versions", "CPU ISAs built for it"], rows))
    out.append(
        "\nA GPU not listed: take the build with the same major version and the highest minor version not above "
        "yours (see *What runs where* below); none fits a newer major version, because the builds carry no PTX."
    )
    out.append("\n**2. Your driver → CUDA** (`nvidia-smi` prints the driver version)\n")
    d = m.cudas[m.defaults.cuda]
    out.append(
        f"Take CUDA {d.version} (the default) if your driver is ≥ {d.min_driver} and your architecture is built "
        "for it; otherwise the newest CUDA your driver runs that your architecture is built for:\n"
    )
    crow = []
    for c in reversed(sorted_cudas(m)):
        cu = m.cudas[c]
        gpus = [g.name for g in _built_gpus(m) if c in _cudas_of(m, g)]
        if gpus:
            crow.append([f"≥ {cu.min_driver}", f"CUDA {c}" + (" (default)" if c == m.defaults.cuda else ""), ", ".join(gpus)])
    out.append(table(["Driver", "Newest CUDA it runs", "Architectures built with it"], crow))
    lowest = min(m.cudas.values(), key=lambda c: c.v)
    out.append(f"\nA driver older than {lowest.min_driver} runs none of them: use a CPU-only variant (or update the driver).")
    out.append(
        "\n**3. Your CPU → ISA**: the highest row whose flags your CPU has all of (`/proc/cpuinfo`; `archspec cpu` names the microarchitecture)\n"
    )
    facts = isa_facts(m)
    irows = []
    for isa in sorted(sorted_isas(m), key=lambda i: (_isa_key(i)[0], -i.rank)):
        irows.append(
            [
                isa.platform,
                " ".join(code(f) for f in isa.features),
                code(isa.name),
                ", ".join(facts[isa.name].best_for) or "—",
            ]
        )
    out.append(table(["Platform", "CPU has all of", "Use ISA", "Best choice for (archspec)"], irows))
    restricted = []
    for g in _built_gpus(m):
        have = _isas_of(m, g)
        plat = {m.isas[i].platform for i in have}
        all_for = [i.name for i in sorted_isas(m) if i.platform in plat]
        if have != all_for:
            restricted.append(f"{g.name}: {', '.join(have)}")
    if restricted:
        out.append(
            "\nSome architectures are built with fewer ISAs ("
            + "; ".join(restricted)
            + "): take the highest of those your CPU has. An ISA lower than your best still runs, only slower."
        )
    out.append("\n**4. The name**\n")
    out.append(
        "`<package>-python<XY>-cuda<X_Y>-<sm>-<isa>` for GPUs, `<package>-python<XY>-cpu-<isa>` without GPU, "
        "`<package>-python<XY>-darwin-mps` for Apple Silicon."
    )
    ex = [vs for _a, vs in _examples(m) if vs[0].target == "cuda" and vs[0].cuda.version == m.defaults.cuda]
    if ex:
        sample = ex[0][0]
        other = sorted(
            (v for v in m.variants if v.short == sample.short and v.cuda and v.cuda.version != m.defaults.cuda),
            key=lambda v: variant_key(m, v),
        )
        text = (
            f"E.g. {code(sample.name)}. Short names leave out the package, the Python version and the default CUDA: "
            f"{code(sample.short)} means {' + '.join(m.packages[p].title for p in m.defaults.packages)} "
            f"for Python {m.defaults.python}, CUDA {m.defaults.cuda}"
        )
        if other:
            text += f"; {code(f'{other[-1].cuda.token}-{sample.short}')} picks CUDA {other[-1].cuda.version}"
        out.append(text + ".")
    out.append(
        "\nIf your driver is too old for every CUDA version your architecture is built with, an older build of the "
        "same major version (previous table) may still fit with an older CUDA; `invoke detect` weighs that for you."
    )
    return "\n".join(out)


@generator("gpu-reference")
def gen_gpu_reference(ctx: Context) -> str:
    """GPU names, capability, toolkit range, drivers, what runs where."""
    m = ctx.matrix
    rows = []
    for g in sorted_gpus(m):
        n = sum(1 for v in m.variants if v.gpu and v.gpu.name == g.name)
        rng = f"{g.min_cuda} – {g.max_cuda}" if g.max_cuda else f"{g.min_cuda} and later"
        rows.append(
            [
                g.name,
                g.capability,
                g.family,
                _products(g),
                rng,
                ", ".join(_cudas_of(m, g)) or "none",
                f"≥ {g.min_driver}",
                ", ".join(g.platforms),
                "yes" if g.cudnn else "off (cuDNN 9.11+ dropped it)",
                str(n),
            ]
        )
    main = table(
        [
            "SM",
            "Capability",
            "Family",
            "GPUs",
            "CUDA can compile for it",
            "CUDA built here",
            "GPU needs driver",
            "Platforms",
            "cuDNN",
            "Variants",
        ],
        rows,
    )
    cudas = sorted_cudas(m)
    drows = []
    for g in _built_gpus(m):
        built = set(_cudas_of(m, g))
        drows.append([g.name, *((f"≥ {_driver_max(m.cudas[c].min_driver, g.min_driver)}" if c in built else "—") for c in cudas)])
    drivers = table(["SM", *(f"CUDA {c}" for c in cudas)], drows)
    caps = [g.capability for g in sorted_gpus(m)]
    wrows = [[g.name, *("✓" if g.runs_on(c) else "—" for c in caps)] for g in _built_gpus(m)]
    where = table(["Build \u2193 / device \u2192", *caps], wrows)
    example = next((g for g in _built_gpus(m) if sum(g.runs_on(c) for c in caps) > 1), None)
    rule = (
        "Each build holds machine code (SASS) for exactly one compute capability and no PTX. SASS runs on devices "
        "of the same major version with an equal or higher minor version (Jetson Orin, 8.7, excepted)"
    )
    if example is not None:
        ok = [c for c in caps if example.runs_on(c)]
        nxt = next((c for c in caps if int(c.split(".")[0]) > example.major), None)
        rule += f": an {example.name} build runs on {', '.join(ok)} devices" + (f", not on {nxt}" if nxt else "")
    rule += "."
    return (
        main
        + "\n\n**Driver needed per build** (the higher of the CUDA release's and the GPU's minimum; — = not built)\n\n"
        + drivers
        + "\n\n**What runs where**\n\n"
        + rule
        + "\n\n"
        + where
    )


@generator("cpu-isa-guide")
def gen_cpu_isa_guide(ctx: Context) -> str:
    """Per ISA: flags, CPU features, first microarchitectures, what archspec says runs it (and the nearest that do not)."""
    m = ctx.matrix
    facts = isa_facts(m)
    parts = [
        f"Microarchitecture lists come from archspec {archspec_version()}'s database (every non-generic entry whose "
        "features include all the ISA's features); \u201cHardware\u201d is the maintainers' summary in variants.toml."
    ]
    for isa in sorted_isas(m):
        f = facts[isa.name]
        n_gpu = sum(1 for v in m.variants if v.isa and v.isa.name == isa.name and v.target == "cuda")
        n_cpu = sum(1 for v in m.variants if v.isa and v.isa.name == isa.name and v.target == "cpu")
        lines = [
            f"#### {isa.name}: {isa.title}",
            "",
            f"- Platform: {isa.platform}; {n_gpu} GPU and {n_cpu} CPU-only variants",
            f"- Compiler flags: {' '.join(code(x) for x in isa.flags)}",
            f"- The CPU must report: {' '.join(code(x) for x in isa.features)}",
            f"- First microarchitectures with all of them: {', '.join(isa.archspec)}",
            f"- Hardware: {isa.hardware}",
            f"- Runs on (archspec): {', '.join(f.runs_on) or 'none known'}",
        ]
        if f.near_misses:
            lines.append("- Does not run on (nearest): " + ", ".join(f"{t} (no {', '.join(miss)})" for t, miss in f.near_misses))
        if isa.env or isa.cmake_flags:
            lines.append(
                "- Also switches off: "
                + ", ".join(code(f"{k}={v}") for k, v in isa.env)
                + ("; CMake " + " ".join(code(x) for x in isa.cmake_flags) if isa.cmake_flags else "")
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _pick(m: Matrix, alias: str) -> list[Variant]:
    try:
        return m.resolve(alias)
    except BuildMatrixError:
        return []


def _examples(m: Matrix) -> list[tuple[str, list[Variant]]]:
    """(alias, variants) for the example commands: preferred ones if the model has them, else computed ones."""
    pool = sorted((v for v in m.variants if not v.suffix), key=lambda v: variant_key(m, v))
    default = [v for v in pool if v.target == "cuda" and v.cuda.version == m.defaults.cuda]

    def first(pred) -> Variant | None:
        return next((v for v in default if pred(v)), None)

    chosen: list[tuple[str, list[Variant]]] = []
    wants = [
        ("sm90-avx512", lambda v: v.isa.platform == "x86_64-linux"),
        ("sm121-armv9", lambda v: v.isa.platform == "aarch64-linux"),
    ]
    for alias, pred in wants:
        vs = _pick(m, alias)
        if not vs:
            v = first(pred)
            vs = _pick(m, v.short) if v else []
            alias = v.short if v else alias
        if vs:
            chosen.append((alias, vs))
    other = [v for v in pool if v.target == "cuda" and v.cuda.version != m.defaults.cuda]
    pref = _pick(m, "cuda12_9-sm103-avx2")
    if pref:
        chosen.append(("cuda12_9-sm103-avx2", pref))
    elif other:
        a = f"{other[-1].cuda.token}-{other[-1].short}"
        chosen.append((a, _pick(m, a)))
    for alias in ("cpu-avx2", "darwin-mps"):
        vs = _pick(m, alias)
        if vs:
            chosen.append((alias, vs))
    return [(a, vs) for a, vs in chosen if vs]


def _describe(m: Matrix, vs: list[Variant]) -> str:
    v = vs[0]
    pk = " + ".join(m.packages[p].title for p in dict.fromkeys(x.package.name for x in vs))
    if v.target == "cuda":
        hw = f"{v.gpu.name} ({_products(v.gpu, 2)}), {v.isa.title}, CUDA {v.cuda.version}, {v.platform}"
    elif v.target == "cpu":
        hw = f"CPU only, {v.isa.title}, {v.platform}"
    else:
        hw = "Apple Silicon, aarch64-darwin"
    return f"{pk} for {hw}, Python {v.python.version}"


@generator("examples")
def gen_examples(ctx: Context) -> str:
    """Build, smoke-test and publish commands naming variants that exist."""
    m = ctx.matrix
    ex = _examples(m)
    if not ex:
        return "No variants to show."
    lines = ["```sh"]
    for alias, vs in ex:
        lines.append(f"# {_describe(m, vs)}")
        lines.append(f"nox -s build-{alias}")
    full = ex[0][1][0]
    lines.append("# one variant by its full name (a TorchVision name builds its PyTorch too)")
    lines.append(f"nox -s build-{full.name}")
    lines.append("```")
    lines.append("")
    lines.append("Smoke-test a built variant on a matching machine (this records the outcome in the ledger), then publish it:")
    lines.append("")
    lines.append("```sh")
    lines.append(f"nox -s smoke -- --variant {full.name}")
    lines.append(f"invoke publish {full.name} --org ORG")
    lines.append("```")
    return "\n".join(lines)


@generator("magma-patch")
def gen_magma_patch(ctx: Context) -> str:
    """Which variants get each patch under patches/, and why the others do not."""
    m = ctx.matrix
    if not m.patches:
        return "variants.toml lists no patches."
    parts = []
    for p in sorted(m.patches.values(), key=lambda p: p.name):
        groups: dict[tuple, int] = Counter()
        for v in m.variants:
            if v.cuda is None:
                continue
            if p in v.patches:
                reason = "applied"
            elif not p.wanted_by(v.cuda):
                reason = f"not needed: CUDA {v.cuda.version} < {p.min_cuda}"
            elif p.name in v.pin.carries:
                reason = f"not applied: {v.pin.name} already carries the fix (applying it twice fails)"
            else:
                reason = "not applied"
            groups[(_ver(v.cuda.version), v.pin.name, reason)] += 1
        rows = [[f"CUDA {c}", _pin_link(m.pins[pin]), reason, str(n)] for (c, pin, reason), n in sorted(groups.items())]
        applied = sum(1 for v in m.variants if p in v.patches)
        no_cuda = sum(1 for v in m.variants if v.cuda is None)
        parts.append(
            f"**{code(p.name)}** ([{p.file}]({ctx.link(p.file)})), added to nixpkgs' {code(p.package)}: {p.summary}. "
            f"Upstream: {p.upstream}. Applied to {applied} of {len(m.variants)} variants "
            f"(every variant with CUDA ≥ {p.min_cuda} whose pin does not carry it; {no_cuda} CPU-only and Apple variants have no MAGMA).\n\n"
            + table(["CUDA", "Pin", "Patch", "Variants"], rows)
        )
    return "\n\n".join(parts)


# -------------------------------------------------------- variants.md pieces

KIND_NAMES = {
    "str": "string",
    "int": "integer",
    "bool": "boolean",
    "strlist": "list of strings",
    "strmap": "table of strings",
    "table": "table",
    "tablemap": "tables by name",
    "tablelist": "array of tables",
    "strOrList": "string or list of strings",
}


def _spec_order() -> list[str]:
    """Spec tables reachable from the root, depth first in declaration order."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        order.append(name)
        for k in spec.SPECS[name].keys.values():
            if k.table:
                visit(k.table)

    visit("root")
    return order


def _spec_forms() -> dict[str, list[str]]:
    """How each spec table is written in TOML: ``[gpu.NAME]``, ``[[matrix]]``, ``exclude = [ { … } ] in [[matrix]]``."""
    forms: dict[str, list[str]] = defaultdict(list)
    for name in _spec_order():
        for key, k in spec.SPECS[name].keys.items():
            if not k.table:
                continue
            if name == "root":
                pattern = spec.SPECS[k.table].key_pattern or ""
                dotted = bool(pattern) and re.fullmatch(pattern, "3.13") is not None
                always = dotted and not any(re.fullmatch(pattern, x) for x in ("a", "a1", "sm90", "x-y"))
                entry = '"NAME"' if always else "NAME"
                form = {"table": f"`[{key}]`", "tablemap": f"`[{key}.{entry}]`", "tablelist": f"`[[{key}]]`"}[k.kind]
                if dotted and not always:
                    form += ' (quote NAME if it contains a dot: `"NAME"`)'
            else:
                parent = forms[name][0] if forms[name] else name
                shape = {
                    "table": f"`{key} = {{ … }}`",
                    "tablemap": f"`{key}.NAME = {{ … }}`",
                    "tablelist": f"`{key} = [ {{ … }}, … ]`",
                }
                form = f"{shape[k.kind]} in {parent}"
            if form not in forms[k.table]:
                forms[k.table].append(form)
    return forms


def _spec_heading(name: str) -> str:
    return "Top level" if name == "root" else f"Table {name}"


@generator("key-reference")
def gen_key_reference(ctx: Context) -> str:
    """Every table and key of variants.toml, from spec.SPECS (the validator's own declaration)."""
    forms = _spec_forms()
    parts = []
    for name in _spec_order():
        t = spec.SPECS[name]
        head = f"### {_spec_heading(name)}\n\n{t.doc}"
        if forms.get(name):
            head += " Written as " + "; ".join(forms[name]) + "."
        if t.key_pattern:
            head += f" `NAME` must match {code(t.key_pattern)} and reaches: {', '.join(t.name_reaches)}."
        rows = []
        for key, k in t.keys.items():
            kind = KIND_NAMES.get(k.kind, k.kind)
            if k.table:
                kind += f" ([{k.table}](#{slug(_spec_heading(k.table))}))"
            allowed = ", ".join(code(e) for e in k.enum) if k.enum else (code(k.pattern) if k.pattern else "")
            reaches = ", ".join(k.reaches) or "—"
            rows.append([code(key), kind, "yes" if k.required else "no", k.doc, allowed or "—", reaches])
        parts.append(head + "\n\n" + table(["Key", "Type", "Required", "Meaning", "Allowed", "Reaches"], rows))
    return "\n\n".join(parts)


@generator("matrix-blocks")
def gen_matrix_blocks(ctx: Context) -> str:
    """The shipped file's [[matrix]] blocks and what each expands to."""
    m = ctx.matrix
    blocks: dict[tuple[int, str], list[Variant]] = defaultdict(list)
    for v in m.variants:
        found = re.match(r"matrix\[(\d+)\] \((.*)\)$", v.origin[0])
        key = (int(found.group(1)), found.group(2)) if found else (-1, v.origin[0])
        blocks[key].append(v)

    def values(vs: list[Variant], get, order) -> str:
        vals = {get(v) for v in vs} - {None}
        return ", ".join(sorted(vals, key=order)) if vals else "—"

    rows = []
    for (i, name), vs in sorted(blocks.items()):
        rows.append(
            [
                str(i),
                code(name),
                vs[0].target,
                values(vs, lambda v: v.package.name, list(m.packages).index),
                values(vs, lambda v: v.python.version, _ver),
                values(vs, lambda v: v.cuda.version if v.cuda else None, _ver),
                values(vs, lambda v: v.gpu.name if v.gpu else None, lambda n: _cap(m.gpus[n])),
                values(vs, lambda v: v.isa.name if v.isa else None, lambda n: _isa_key(m.isas[n])),
                values(vs, lambda v: v.suffix or None, str),
                values(vs, lambda v: v.pin.name, str),
                values(vs, lambda v: v.source.name if v.source else None, str),
                str(len(vs)),
            ]
        )
    rows.append(["", "**Total**", *([""] * 9), f"**{len(m.variants)}**"])
    text = table(
        ["#", "Block", "Target", "Packages", "Python", "CUDA", "GPUs", "ISAs", "Suffix", "Pins", "Torch source", "Variants"], rows
    )
    overridden = Counter(o for v in m.variants for o in v.origin[1:])
    if overridden:
        text += "\n\nOverrides in effect: " + ", ".join(f"{code(o)} ({n} variants)" for o, n in sorted(overridden.items())) + "."
    return text


# ====================================================================== sync


@dataclass
class DocsReport:
    """What `invoke docs` did (or, with --check, would do)."""

    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: dict[str, list[str]] = field(default_factory=dict)  # file → regions that differ
    regions: dict[str, list[str]] = field(default_factory=dict)  # file → regions found

    @property
    def clean(self) -> bool:
        return not self.drift


def doc_files(root: Path) -> list[PurePosixPath]:
    """README.md and docs/*.md (those that exist), relative to ``root``."""
    out = []
    if (root / README).is_file():
        out.append(README)
    docs = root / DOCS_DIR
    if docs.is_dir():
        out += [DOCS_DIR / p.name for p in sorted(docs.iterdir()) if p.suffix == ".md" and p.is_file()]
    return out


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def plan(
    root: Path,
    matrix: Matrix,
    records: dict[tuple[str, str], ledger.Record] | None = None,
    required: dict[str, tuple[str, ...]] | None = None,
) -> dict[PurePosixPath, tuple[str, str, Parsed]]:
    """Parse every document and render every region in memory: {file: (old text, new text, parsed old)}.

    Raises DocsError listing every marker problem of every file (and missing required files or
    regions) before rendering anything, so a caller that writes only after this returns writes
    nothing on error.
    """
    required = REQUIRED if required is None else required
    if records is None:
        try:
            records = ledger.latest(root)
        except ValueError as exc:
            raise DocsError([str(exc)], "the build ledger") from None
    problems: list[str] = []
    files = doc_files(root)
    for rel in sorted(required):
        if PurePosixPath(rel) not in files:
            problems.append(f"{rel}: missing (it must hold the regions {', '.join(required[rel])})")
    parsed_all: dict[PurePosixPath, tuple[str, Parsed]] = {}
    for rel in files:
        try:
            text = _read(root / rel)
        except UnicodeDecodeError as exc:
            problems.append(f"{rel}: not UTF-8 ({exc})")
            continue
        parsed, errs = parse(text, str(rel))
        problems += errs
        names = {r.name for r in parsed.regions}
        for need in required.get(str(rel), ()):
            if need not in names:
                problems.append(
                    f"{rel}: region {need!r} is missing; add `<!-- BEGIN GENERATED: {need} -->` and "
                    f"`<!-- END GENERATED: {need} -->` where it belongs"
                )
        parsed_all[rel] = (text, parsed)
    if problems:
        raise DocsError(problems)
    out = {}
    for rel, (text, parsed) in parsed_all.items():
        ctx = Context(matrix, records, rel)
        contents = {r.name: GENERATORS[r.name](ctx) for r in parsed.regions}
        out[rel] = (text, fill(parsed, contents), parsed)
    return out


def sync(
    root: Path,
    matrix: Matrix,
    check: bool = False,
    records: dict[tuple[str, str], ledger.Record] | None = None,
    required: dict[str, tuple[str, ...]] | None = None,
) -> DocsReport:
    """Rewrite (or, with ``check``, compare) every generated region of README.md and docs/*.md.

    Only files whose text changes are written, each atomically (temp file + rename). Marker
    problems raise DocsError before anything is written. ``records`` defaults to the ledger's
    latest records under ``root``; ``required`` to :data:`REQUIRED`.
    """
    root = Path(root)
    planned = plan(root, matrix, records, required)
    report = DocsReport()
    for rel, (old, new, parsed) in planned.items():
        report.regions[str(rel)] = [r.name for r in parsed.regions]
        if old == new:
            report.unchanged.append(str(rel))
            continue
        after, _ = parse(new, str(rel))
        report.drift[str(rel)] = [
            r.name for r, a in zip(parsed.regions, after.regions) if region_text(parsed, r) != region_text(after, a)
        ]
        report.updated.append(str(rel))
    if not check:
        for directory in sorted({(root / rel).parent for rel in planned}):
            sweep(directory)  # temp files of a run that was killed
        for rel in report.updated:
            write_atomic(root / rel, planned[PurePosixPath(rel)][1])
    return report


def cmd_docs(root: str, file: str, check: bool) -> int:
    """`invoke docs [--check]`: 0 done / in sync, 1 drift (--check), 2 bad model or markers (nothing written)."""
    from . import cli

    @cli.guarded
    def run() -> int:
        m = cli.load(file)
        report = sync(Path(root), m, check=check)
        n_regions = sum(len(r) for r in report.regions.values())
        if check:
            if report.clean:
                print(
                    f"docs --check: {len(report.regions)} file(s), {n_regions} generated region(s) "
                    "match variants.toml and the ledger"
                )
                return cli.EXIT_OK
            for rel, names in report.drift.items():
                print(f"out of date  {rel}  ({', '.join(names)})")
            print(f"docs --check: {len(report.drift)} file(s) out of date; run `invoke docs`")
            return cli.EXIT_FAILED
        for rel in report.updated:
            print(f"updated   {rel}  ({', '.join(report.drift[rel])})")
        print(f"docs: {len(report.updated)} updated, {len(report.unchanged)} unchanged ({n_regions} generated regions)")
        return cli.EXIT_OK

    return run()


from . import docs_scale  # noqa: E402,F401  (registers the scale-jobs region of docs/BUILDING.md)

if __name__ == "__main__":  # python -m buildmatrix.docs [--check]
    sys.exit(cmd_docs(".", "variants.toml", "--check" in sys.argv[1:]))


from . import docs_pins  # noqa: E402,F401  (registers the pin regions)
