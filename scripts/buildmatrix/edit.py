"""Edit variants.toml through tomlkit (comments and order kept), validating before saving.

Every edit builds the new text, loads it with the same validator `invoke gen`
uses, and writes the file atomically only if it is valid: a rejected edit
leaves variants.toml byte for byte as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table

from . import model, targets
from .errors import BuildMatrixError, ModelError, UsageError
from .files import write_atomic
from .spec import check as speccheck
from .spec import loadguard, reach
from .spec import shape as spec


@dataclass
class EditResult:
    added: list[str]
    removed: list[str]
    message: str = ""


def _save(path: Path, doc: tomlkit.TOMLDocument, before: model.Matrix) -> EditResult:
    text = tomlkit.dumps(doc)
    after = model.loads(text, path)  # raises ModelError: nothing is written
    old, new = set(before.by_name), set(after.by_name)
    write_atomic(path, text)
    return EditResult(sorted(new - old), sorted(old - new))


def _document(path: Path) -> tomlkit.TOMLDocument:
    """The file as tomlkit keeps it (comments, order), read through the same guard as the model."""
    try:
        return tomlkit.parse(loadguard.read(path))
    except TOMLKitError as exc:  # tomllib accepted it (the model loaded); tomlkit did not
        raise BuildMatrixError(f"{path}: tomlkit cannot edit this file ({exc}); edit it by hand") from None


def _check_option(option: str, value: str, table: str, key: str) -> None:
    """Hold a command-line value to the rule of the key it is written to (spec.py), before anything is read or written."""
    k = spec.SPECS[table].keys[key]
    found = speccheck.check_string(value, k.pattern, None, k.reaches)
    if found:
        message, fix = found
        raise UsageError(f"--{option}: {message}" + (f" ({fix})" if fix else ""))


def _parse_alias(alias: str, m: model.Matrix) -> dict:
    """``sm89-avx512`` → gpu/isa (cuda), ``cpu-avx2`` → isa (cpu), ``darwin-mps`` → mps (targets.parse_alias)."""
    found = targets.parse_alias(alias)
    if found is None:
        raise UsageError(f"cannot read {alias!r}: write GPU-ISA (sm89-avx512), cpu-ISA (cpu-avx2) or darwin-mps")
    target, fields = found
    for axis, known in (("isa", m.isas), ("gpu", m.gpus)):
        if axis in fields and fields[axis] not in known:
            raise UsageError(f"unknown {axis.upper()} {fields[axis]!r} in {alias!r} (known: {', '.join(known)})")
    return {"target": target.name, **fields}


def _infer(m: model.Matrix, target: str, cuda: str | None, what: str) -> str | None:
    """The pin / torch source the matrix already uses for this target and CUDA version (on the default torch line, if it has any)."""

    def value(v: model.Variant) -> str | None:
        if what == "pin":
            return v.pin.name
        source = v.source if what == "torch" else v.companion_source
        return source.name if source else None

    pool = [
        v
        for v in m.variants
        if v.target == target
        and (v.cuda.version if v.cuda else None) == cuda
        and not v.suffix
        and (what in ("pin", "torch") or (v.requires is not None and v.package.attr == what))
    ]
    seen = {value(v) for v in ([v for v in pool if not v.line] or pool)}
    if len(seen) == 1:
        return seen.pop()
    if what == "pin":
        options = ", ".join(sorted(x for x in seen if x)) or ", ".join(m.pins)
        raise UsageError(f"cannot infer the pin for {target} {cuda or ''}: pass --pin (one of {options})")
    return None


def add(
    path: Path,
    alias: str = "",
    *,
    block: str = "",
    cuda: str = "",
    python: str = "",
    packages: list[str] | None = None,
    pin: str = "",
    torch: str = "",
    suffix: str = "",
) -> EditResult:
    """Add variants: a new one-combination block for ``alias``, or values appended to ``block``'s lists."""
    for option, value, key in (
        ("alias", alias, "name"),
        ("block", block, "name"),
        ("suffix", suffix, "suffix"),
        ("cuda", cuda, "cuda"),
        ("python", python, "python"),
        ("pin", pin, "pin"),
        ("torch", torch, "torch"),
        *(("packages", p, "packages") for p in packages or ()),
    ):
        if value:
            _check_option(option, value, "matrix", key)
    m = model.load(path)
    for option, value, known in (
        ("pin", pin, m.pins),
        ("torch", torch, m.sources),
        ("cuda", cuda, m.cudas),
        ("python", python, m.pythons),
    ):
        if value and value not in known:
            raise UsageError(f"--{option}: unknown {option} {value!r} (known: {', '.join(known) or 'none'})")
    doc = _document(path)
    matrix: AoT = doc["matrix"]
    if block:
        target = next((b for b in matrix if b["name"] == block), None)
        if target is None:
            raise UsageError(f"no [[matrix]] block named {block!r} (blocks: {', '.join(b['name'] for b in matrix)})")
        wanted = {"cuda": [cuda] if cuda else [], "python": [python] if python else [], "packages": packages or []}
        if alias:
            wanted.update({k: [v] for k, v in _parse_alias(alias, m).items() if k in ("gpu", "isa")})
        if not any(wanted.values()):
            raise UsageError("say what to add to the block: an alias (sm89-avx512) and/or --cuda/--python/--packages")
        for key, values in wanted.items():
            for value in values:
                if key not in target:
                    raise UsageError(f"block {block!r} has no `{key}` list to extend")
                if value not in target[key]:
                    target[key].append(value)
        return _save(path, doc, m)

    if not alias:
        raise UsageError("name the variant to add: GPU-ISA (sm89-avx512), cpu-ISA or darwin-mps")
    options = {"cuda": cuda, "python": python, "packages": packages, "pin": pin, "torch": torch, "suffix": suffix}
    command = _command_line(alias, options)
    text = loadguard.read(path)
    existing = {b["name"] for b in matrix}
    new_text = _with_block(text, _new_block(m, alias, existing, **options), command)
    try:
        after = model.loads(new_text, path)
    except ModelError as exc:
        raise UsageError(_refusal(exc, m, text, alias, existing, options, command)) from None
    write_atomic(path, new_text)
    old, new = set(m.by_name), set(after.by_name)
    return EditResult(sorted(new - old), sorted(old - new))


def _command_line(alias: str, options: dict) -> str:
    """``invoke add sm61-avx --cuda 13.0``: the command as the user typed it (the options given)."""
    words = ["invoke", "add", alias]
    for key, value in options.items():
        if value:
            words += [f"--{key}", ",".join(value) if isinstance(value, list) else value]
    return " ".join(words)


def _new_block(
    m: model.Matrix, alias: str, existing: set[str], *, cuda: str, python: str, packages: list[str] | None, pin: str, torch: str, suffix: str
) -> Table:
    """The [[matrix]] table ``invoke add ALIAS`` writes: one combination; what is not given is the defaults'
    or what the matrix already uses for this target and CUDA version (pin, torch, companion sources)."""
    facts = _parse_alias(alias, m)
    target = facts["target"]
    axes = targets.of(target).axes
    cuda = cuda or (m.defaults.cuda if "cuda" in axes else "")
    if "cuda" not in axes and cuda:
        raise UsageError(f"{alias} is a {target} variant: it takes no --cuda")
    entry = tomlkit.table()
    name = "added-" + alias + (f"-{cuda.replace('.', '_')}" if cuda else "") + (f"-{suffix}" if suffix else "")
    if name in existing:
        raise UsageError(f"a block named {name!r} exists already; remove it first or extend it with --block {name}")
    entry["name"] = name
    entry["target"] = target
    entry["packages"] = list(packages or m.defaults.packages)
    entry["python"] = [python or m.defaults.python]
    for axis in axes:
        entry[axis] = [cuda if axis == "cuda" else facts[axis]]
    if suffix:
        entry["suffix"] = suffix
    entry["pin"] = pin or _infer(m, target, cuda or None, "pin")
    source = torch or _infer(m, target, cuda or None, "torch")
    if source:
        entry["torch"] = source
    for attr in spec.COMPANIONS:
        companion = _infer(m, target, cuda or None, attr)
        if companion and any(m.packages[p].requires and m.packages[p].attr == attr for p in entry["packages"]):
            entry[attr] = companion
    return entry


_HEADER = re.compile(r"\s*\[\[?\s*([A-Za-z0-9_.\"-]+)\s*\]\]?\s*(#.*)?\n?")
_MATRIX_HEADER = re.compile(r"\s*\[\[\s*matrix\s*\]\]\s*(#.*)?\n?")


def _block_spans(lines: list[str]) -> list[tuple[int, int]]:
    """(header line, line after its last key) of each [[matrix]] block, in file order: a block runs to the
    next table header that is not one of its own sub-tables, less the comments and blank lines before
    that header (they introduce what follows)."""
    starts = [i for i, line in enumerate(lines) if _MATRIX_HEADER.fullmatch(line)]
    spans = []
    for start in starts:
        end = len(lines)
        for i in range(start + 1, len(lines)):
            found = _HEADER.fullmatch(lines[i])
            if found and not found.group(1).strip('"').startswith("matrix."):
                end = i
                break
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        spans.append((start, end))
    return spans


def _with_block(text: str, entry: Table, command: str) -> str:
    """``text`` with ``entry`` as a new [[matrix]] block right after the last one's last key (before
    any comments and blank lines that follow it: those introduce the next section), a blank line and
    a comment naming ``command`` before it. Checked: the result parses to the old data plus the block."""
    lines = text.splitlines(keepends=True)
    end = _block_spans(lines)[-1][1]
    head = "".join(lines[:end])
    if head and not head.endswith("\n"):
        head += "\n"
    doc = tomlkit.document()
    doc.append("matrix", tomlkit.aot())
    doc["matrix"].append(entry)
    block = f"\n# added by `{command}`\n" + tomlkit.dumps(doc).lstrip("\n")
    rest = "".join(lines[end:])
    new = head + block + ("\n" if rest and not rest.startswith("\n") else "") + rest
    want = tomllib.loads(text)
    want["matrix"].append(tomllib.loads(tomlkit.dumps(doc))["matrix"][0])
    if tomllib.loads(new) != want:
        raise BuildMatrixError(f"cannot place the new block in this file; add it by hand:\n{block}")
    return new


def _without_blocks(text: str, indices: list[int]) -> str:
    """``text`` without the [[matrix]] blocks at ``indices``: each with the comment lines right above
    its header (what `invoke add` writes there) and the blank line before them, but not the comments
    after its last key (the next section's). Checked: the result parses to the old data less those blocks."""
    lines = text.splitlines(keepends=True)
    spans = _block_spans(lines)
    for index in sorted(indices, reverse=True):
        start, end = spans[index]
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        if start > 0 and not lines[start - 1].strip():
            start -= 1
        del lines[start:end]
    new = "".join(lines)
    want = tomllib.loads(text)
    want["matrix"] = [b for i, b in enumerate(want["matrix"]) if i not in set(indices)]
    if tomllib.loads(new) != want:
        raise BuildMatrixError("cannot take the emptied blocks out of this file; remove them by hand")
    return new


def _refusal(
    exc: ModelError, m: model.Matrix, text: str, alias: str, existing: set[str], options: dict, command: str
) -> str:
    """The problems of a refused ``invoke add``, named by its command line (the block was never written,
    so no file line), each with the nearest option value that would be accepted, found by trying them."""
    index = len(tomllib.loads(text)["matrix"])
    name = _new_block(m, alias, existing, **options)["name"]
    ours = [p for p in exc.problems if p.path[:2] == ("matrix", index) or f"matrix[{index}]" in p.message]
    others = [p for p in exc.problems if p not in ours]
    lines = []
    for p in ours:
        message = p.message.replace(f"matrix[{index}] ({name})", "the new block")
        key = p.path[2] if len(p.path) > 2 and p.path[:2] == ("matrix", index) else None
        twice = _TWICE.search(p.message)
        if twice:
            fix = f"it exists already: `invoke show {twice.group(1)}`"
        else:
            fix = _nearest_edit(m, text, alias, existing, options, key)
        lines.append(f"{command}: {message}" + (f"\n    fix: {fix}" if fix else ""))
    if others:  # not about the new block: the file's own problems, as the model reports them
        lines.append(str(ModelError(exc.file, others, exc.omitted)))
    return "\n".join(lines) + "\nnothing was written"


OK, EXISTS = "ok", "exists"
_TWICE = re.compile(r"variant '([^']+)' is produced twice")


def _trial(m: model.Matrix, text: str, alias: str, existing: set[str], options: dict) -> str:
    """What ``invoke add`` would make of this alias and these options: OK, EXISTS (the rules allow it
    but the matrix builds it already) or "" (refused)."""
    try:
        model.loads(_with_block(text, _new_block(m, alias, existing, **options), _command_line(alias, options)), m.path)
    except ModelError as exc:
        return EXISTS if exc.problems and all(_TWICE.search(p.message) for p in exc.problems) else ""
    except BuildMatrixError:
        return ""
    return OK


def _nearest_edit(m: model.Matrix, text: str, alias: str, existing: set[str], options: dict, key: str | None) -> str:
    """The accepted command nearest to the refused one, changing only the option (or the alias's ISA) the
    problem is about: the model's own rules decide, by trying each value of that axis, nearest first."""
    facts = _parse_alias(alias, m)
    if key in ("cuda", "python"):
        table = list(m.cudas if key == "cuda" else m.pythons)
        given = options[key] or (m.defaults.cuda if key == "cuda" else m.defaults.python)
        tries = [(v, alias, {**options, key: v}) for v in table if v != given]
        what = f"--{key}"
    elif key in ("isa", "gpu") and "isa" in facts and "gpu" in facts:
        table = list(m.isas)
        given, short = facts["isa"], targets.of(facts["target"]).short_of
        tries = [(i, short(gpu=m.gpus[facts["gpu"]], isa=m.isas[i]), options) for i in table if i != given]
        what = f"{facts['gpu']} with ISA"
    else:
        return ""
    at = table.index(given) if given in table else 0
    found = [(abs(table.index(v) - at), v, a, o, _trial(m, text, a, existing, o)) for v, a, o in tries]
    allowed = sorted((f for f in found if f[4]), key=lambda f: f[0])
    if not allowed:
        return ""
    values = ", ".join(v for v in table if any(f[1] == v for f in allowed))
    ok = [f for f in allowed if f[4] == OK]
    if ok:
        return f"`{_command_line(ok[0][2], ok[0][3])}` (the rules allow {what} {values})"
    shown = {k: v for k, v in _parse_alias(alias, m).items() if k in ("gpu", "isa")}
    shown.pop("isa" if key in ("isa", "gpu") else "", None)
    shown.update({k: options[k] for k in ("python",) if options[k]})
    listing = " ".join(["invoke list", *(f"--{k} {v}" for k, v in shown.items())])
    return f"the rules allow {what} {values}, and the matrix builds those already (`{listing}`)"


def remove(path: Path, aliases: list[str]) -> EditResult:
    """Remove variants: drop a block they empty, else add the narrowest exclude to their block."""
    for alias in aliases:
        _check_option("alias", alias, "match", "name")
    m = model.load(path)
    doc = _document(path)
    matrix: AoT = doc["matrix"]
    doomed = {v.name: v for a in aliases for v in m.resolve(a)}
    by_block: dict[int, list[model.Variant]] = {}
    for v in doomed.values():
        found = re.fullmatch(r"matrix\[(\d+)\] .*", v.origin[0], re.S)
        by_block.setdefault(int(found.group(1)), []).append(v)
    empty_blocks = []
    for index, removed in sorted(by_block.items()):
        block: Table = matrix[index]
        in_block = [v for v in m.variants if v.origin[0].startswith(f"matrix[{index}]")]
        if len(removed) == len(in_block):
            empty_blocks.append(index)
            continue
        varying = [k for k in ("python", "cuda", "gpu", "isa") if len(block.get(k, [])) > 1]
        combos: dict[tuple, set[str]] = {}
        for v in removed:
            key = tuple((k, v.as_dict()[k]) for k in varying)
            combos.setdefault(key, set()).add(v.package.name)
        if "exclude" not in block:
            block["exclude"] = tomlkit.array()
            block["exclude"].multiline(True)
        for key, pkgs in sorted(combos.items()):
            fields = list(key)
            if set(pkgs) != set(block["packages"]):
                fields.insert(0, ("package", sorted(pkgs)[0] if len(pkgs) == 1 else sorted(pkgs)))
            block["exclude"].append(_inline(fields))
    if len(empty_blocks) == len(matrix):
        raise UsageError("that would remove every variant: the matrix cannot be empty")
    text = _without_blocks(tomlkit.dumps(doc), empty_blocks)
    after = model.loads(text, path)  # raises ModelError: nothing is written
    write_atomic(path, text)
    return EditResult(sorted(set(after.by_name) - set(m.by_name)), sorted(set(m.by_name) - set(after.by_name)))


def _inline(fields: list[tuple[str, object]]):
    """An inline table written the way the shipped file writes them: ``{ a = "x", b = "y" }``."""
    body = ", ".join(f"{k} = {tomlkit.item(v).as_string()}" for k, v in fields)
    return tomlkit.parse(f"x = {{ {body} }}")["x"]


# ------------------------------------------------------------------------ pin

NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"


def nix32_to_bytes(text: str) -> bytes:
    """Decode Nix's base-32 (as printed by nix-prefetch-url) into the raw digest."""
    size = len(text) * 5 // 8
    out = bytearray(size)
    for n, ch in enumerate(reversed(text)):
        digit = NIX32_ALPHABET.find(ch)
        if digit < 0:
            raise BuildMatrixError(f"{text!r} is not Nix base-32")
        b = n * 5
        i, j = divmod(b, 8)
        out[i] |= (digit << j) & 0xFF
        if i < size - 1:
            out[i + 1] |= digit >> (8 - j)
        elif digit >> (8 - j):
            raise BuildMatrixError(f"{text!r} is not a valid Nix base-32 digest")
    return bytes(out)


def bytes_to_nix32(digest: bytes) -> str:
    length = (len(digest) * 8 - 1) // 5 + 1
    chars = []
    for n in range(length - 1, -1, -1):
        b = n * 5
        i, j = divmod(b, 8)
        c = (digest[i] >> j) | ((digest[i + 1] << (8 - j)) if i + 1 < len(digest) else 0)
        chars.append(NIX32_ALPHABET[c & 0x1F])
    return "".join(chars)


def sri_from_nix32(text: str) -> str:
    import base64

    return "sha256-" + base64.b64encode(nix32_to_bytes(text)).decode()


def _run(argv: list[str]) -> str:
    exe = shutil.which(argv[0])
    if not exe:
        raise BuildMatrixError(f"`{argv[0]}` is not installed: `invoke pin` needs Nix and network access to GitHub")
    proc = subprocess.run([exe, *argv[1:]], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildMatrixError(f"`{' '.join(argv)}` failed ({proc.returncode}): {tail(proc.stderr)}")
    return proc.stdout


def tail(text: str, limit: int = 500) -> str:
    """The end of a tool's error output, at most ``limit`` characters, cut only between lines (or, for one
    long last line, between words), with "…" where something was left out: never mid-word."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    kept: list[str] = []
    while lines and sum(len(x) + 1 for x in kept) + len(lines[-1]) <= limit:
        kept.insert(0, lines.pop())
    if not kept and lines:  # the last line alone is longer: its end, from a word
        words = lines.pop().split(" ")
        while words and sum(len(w) + 1 for w in kept) + len(words[-1]) <= limit - 2:
            kept.insert(0, words.pop())
        return "… " + " ".join(kept) if words else " ".join(kept)
    return ("…\n" if lines else "") + "\n".join(kept)


def given_hash(text: str) -> str:
    """A hash as a failed fetch prints it (``sha256:<nix32>``, ``<nix32>`` or SRI), as SRI."""
    text = text.strip()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    if reach.full(spec.SRI_SHA256_RE, text):
        return text
    if reach.full(spec.NIX32_SHA256_RE, text):
        return sri_from_nix32(text)
    raise UsageError(f"--hash {text!r} is not a sha256 (give the `got:` hash the failed fetch printed)")


def _record_provenance(entry, hash_key: str, value: str, how: str) -> None:
    """Store a hash with where it came from; the entry is no longer unverified."""
    import datetime

    entry[hash_key] = value
    entry["hash_source"] = f"{how} ({datetime.date.today().isoformat()})"
    if "unverified" in entry:
        del entry["unverified"]


def pin(path: Path, name: str, rev: str = "", hash: str = "") -> EditResult:
    """Fill (or bump) a nixpkgs pin: its rev and the sha256 of the unpacked tarball.

    With ``hash`` (what the failed fetch of an unverified pin printed) nothing is downloaded.
    """
    m = model.load(path)
    if name not in m.pins:
        raise UsageError(f"no pin named {name!r} (pins: {', '.join(m.pins)})")
    rev = rev or m.pins[name].rev
    if not reach.full(spec.REV_RE, rev):
        raise UsageError(f"--rev must be a full 40-hex nixpkgs commit, got {rev!r}")
    url = f"https://github.com/NixOS/nixpkgs/archive/{rev}.tar.gz"
    if hash:
        sha = given_hash(hash)
        how = f"`invoke pin --hash`: the hash builtins.fetchTarball printed for {url}"
    else:
        out = _run(["nix-prefetch-url", "--unpack", "--type", "sha256", url]).strip().splitlines()
        sha = out[-1].strip() if out else ""
        if not reach.full(spec.NIX32_SHA256_RE, sha):
            raise BuildMatrixError(f"nix-prefetch-url printed {sha!r}, not a sha256")
        how = f"`invoke pin`: nix-prefetch-url --unpack {url}"
    doc = _document(path)
    entry = doc["pin"][name]
    bumped = entry["rev"] != rev
    entry["rev"] = rev
    _record_provenance(entry, "sha256", sha, how)
    result = _save(path, doc, m)
    result.message = f"pin {name}: rev {rev}, sha256 {sha}"
    if bumped:
        result.message += "\nthe revision changed: check this pin's cuda, cuda_attrs, torch, torch_cuda13_broken and carries"
    return result


def pin_source(path: Path, name: str, rev: str = "", hash: str = "") -> EditResult:
    """Fill (or bump) a source's hash with nix-prefetch-git (submodules included when the source fetches them).

    With ``hash`` (what the failed fetch of an unverified source printed) nothing is downloaded.
    nix-prefetch-git's hash is valid for fetchFromGitHub: without submodules it is the hash of the
    git checkout, which equals the archive's unless the repository uses export-ignore/export-subst.
    """
    m = model.load(path)
    if name not in m.sources:
        raise UsageError(f"no torch source named {name!r} (sources: {', '.join(m.sources) or 'none'})")
    src = m.sources[name]
    rev = rev or src.rev
    _check_option("rev", rev, "source", "rev")
    repo_url = f"https://github.com/{src.owner}/{src.repo}.git"
    if hash:
        sri = given_hash(hash)
        how = f"`invoke pin --source --hash`: the hash {src.fetcher} printed for {src.owner}/{src.repo}@{rev}"
    else:
        argv = ["nix-prefetch-git", "--quiet", "--url", repo_url, "--rev", rev]
        if src.fetch_submodules:
            argv.append("--fetch-submodules")
        info = json.loads(_run(argv))
        if isinstance(info.get("hash"), str) and info["hash"].startswith("sha256-"):
            sri = info["hash"]
        elif isinstance(info.get("sha256"), str):
            sri = sri_from_nix32(info["sha256"])
        else:
            raise BuildMatrixError("nix-prefetch-git printed no hash")
        how = f"`invoke pin --source`: {' '.join(argv[:1] + argv[2:])}"
    doc = _document(path)
    entry = doc["source"][name]
    entry["rev"] = rev
    _record_provenance(entry, "hash", sri, how)
    result = _save(path, doc, m)
    result.message = f"source {name}: rev {rev}, hash {sri}"
    return result


# What other edits of variants.toml (``invoke observe --write``) reuse: read for tomlkit, record a
# hash with its provenance, validate and write atomically.
document = _document
record_provenance = _record_provenance
save = _save
