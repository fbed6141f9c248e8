"""Remote builders and binary caches from user-local configuration, turned into ``NIX_CONFIG``.

Machine-local settings (ssh URIs, keys, cache URLs) never go into variants.toml. They live
in one TOML file, the first of these that exists (no merging, so what applies is always
one file you can read):

1. the file ``$BUILDMATRIX_BUILDERS`` names (it must exist; ``/dev/null`` means "none");
2. ``builders.local.toml`` in the repository root (git ignores it; one git tracks is refused: a
   branch must not choose the builders, substituters and keys of whoever builds it);
3. ``$XDG_CONFIG_HOME/buildmatrix/builders.toml`` (default ``~/.config/buildmatrix/builders.toml``).

No file: no builders, Nix's own substituters, builds local as before.

The file (every key optional; top-level keys before the first table)::

    builders-use-substitutes = true   # builders fetch inputs from caches themselves (default)

    [local]
    max-jobs = 0                  # derivations built on this machine at once; 0: all on builders

    [[builder]]
    uri = "ssh://nix@big-x86.example.org"   # ssh:// or ssh-ng://
    systems = ["x86_64-linux"]
    ssh-key = "~/.ssh/id_builder"           # optional: else ssh's own configuration (relative: to this file)
    max-jobs = 2
    speed-factor = 2
    supported-features = ["big-parallel", "cuda"]
    mandatory-features = []
    public-host-key = "c3NoLWVkMjU1MTkg..."  # optional: base64 of the host's public key line

    [[substituter]]
    url = "https://cache.nixos.org"
    public-keys = ["cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="]

    [push]
    to = "s3://team-nix-cache?region=eu-west-1"   # default of `invoke push --to`

What reaches Nix (:meth:`Config.nix_config_lines`): ``builders = <machine> ; <machine>`` in
the machines-file format (``URI systems key max-jobs speed-factor supported mandatory
host-key``, ``-`` for a default), ``builders-use-substitutes``, ``substituters`` and
``trusted-public-keys`` (the complete lists: the file's substituters replace Nix's default,
so list cache.nixos.org too), and ``max-jobs`` from ``[local]``. A Nix daemon applies a
client's ``substituters`` only for trusted users or URLs in its ``trusted-substituters``,
and ssh to builders is then the daemon's (root's ssh configuration and known_hosts).

Malformed files fail with every problem at once, each naming the file, line and key,
like variants.toml (:class:`errors.ModelError`); nothing runs then. The file is untrusted:
every value is full-matched against its grammar and reach's ``nixconf`` rule (no whitespace,
``#``, ``;`` or control character), integers are bounded, and the lines are composed by
:func:`trust.setting`.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError, Problem
from ..spec import loadguard, reach
from ..spec.tomlpos import LineIndex
from . import trust

ENV_VAR = "BUILDMATRIX_BUILDERS"
REPO_FILE = "builders.local.toml"
USER_FILE = Path("buildmatrix") / "builders.toml"

# Every value is full-matched (reach.full) against one of these, after reach's rules for a nix.conf word
# (no whitespace, '#' or control character): what reaches nix.conf, a URI, an argv or a file name.
BUILDER_URI = (r"(?:ssh|ssh-ng)://[A-Za-z0-9._~%+-]+(?:@[A-Za-z0-9._~%+:\[\]-]+)?(?::[0-9]{1,5})?"
               r"(?:/[A-Za-z0-9._~%+/-]*)?(?:\?[A-Za-z0-9._~%+/=&:@-]*)?")  # store parameters: ?remote-store=…
SUBSTITUTER_SCHEMES = ("https", "http", "s3", "file", "ssh", "ssh-ng")
SYSTEM = r"[a-z0-9_]+-[a-z0-9]+"
FEATURE = r"[A-Za-z0-9_.+-]+"
PUBLIC_KEY = r"[A-Za-z0-9._+-]+:[A-Za-z0-9+/]+={0,2}"
HOST_KEY = r"[A-Za-z0-9+/]+={0,2}"  # base64 of an ssh public key line
PATH = r"[A-Za-z0-9._~/+@%,=-]+"  # ssh-key: a path, no ':' (ssh would read host:path), no space
# Bounds of the integers that reach Nix.
MAX_JOBS = 10_000
MAX_SPEED_FACTOR = 1_000


@dataclass(frozen=True, kw_only=True)
class Builder:
    """One remote builder: a line of Nix's machines file."""

    uri: str
    systems: tuple[str, ...]
    ssh_key: str = ""
    max_jobs: int = 1
    speed_factor: int = 1
    supported_features: tuple[str, ...] = ()
    mandatory_features: tuple[str, ...] = ()
    public_host_key: str = ""

    def machine_words(self) -> list[str]:
        """``URI systems key max-jobs speed-factor supported mandatory host-key`` (``-`` = default)."""

        def field_(items) -> str:
            return ",".join(items) if items else "-"

        return [
                self.uri,
                ",".join(self.systems),
                self.ssh_key or "-",
                str(self.max_jobs),
                str(self.speed_factor),
                field_(self.supported_features),
                field_(self.mandatory_features),
                self.public_host_key or "-",
            ]

    def machine_line(self) -> str:
        """One line of a machines file; ValueError for a field that would break it (see trust.setting)."""
        return trust.setting("builders", self.machine_words())[len("builders = "):]


@dataclass(frozen=True, kw_only=True)
class Substituter:
    url: str
    public_keys: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Config:
    """What one builders file says; the empty Config when there is none."""

    source: Path | None = None
    builders: tuple[Builder, ...] = ()
    substituters: tuple[Substituter, ...] = ()
    local_max_jobs: int | None = None
    use_substitutes: bool = True
    push_to: str = ""

    @property
    def systems(self) -> frozenset[str]:
        """Platforms some builder serves."""
        return frozenset(s for b in self.builders for s in b.systems)

    @property
    def local_allowed(self) -> bool:
        return self.local_max_jobs != 0

    def max_jobs(self, default: int) -> int:
        """``max-jobs`` for this machine: the file's ``[local] max-jobs`` when given, else ``default``."""
        return default if self.local_max_jobs is None else self.local_max_jobs

    def describe(self) -> str:
        """One line for a build session's header."""
        if self.source is None:
            return "no builders file (builds run here; Nix's own substituters)"
        parts = [f"{len(self.builders)} builder(s)"]
        if self.systems:
            parts[0] += f" for {', '.join(sorted(self.systems))}"
        parts.append(f"{len(self.substituters)} substituter(s)")
        if not self.local_allowed:
            parts.append("local building off (max-jobs = 0)")
        return f"{self.source}: " + ", ".join(parts)

    def nix_config_lines(self) -> list[str]:
        """The ``NIX_CONFIG`` lines for builders and substituters (not ``max-jobs``: see :meth:`max_jobs`)."""
        lines = []
        if self.builders:
            words = [w for i, b in enumerate(self.builders) for w in ([";"] if i else []) + b.machine_words()]
            lines.append(trust.setting("builders", words))
            lines.append(trust.setting("builders-use-substitutes", self.use_substitutes))
        if self.substituters:
            lines.append(trust.setting("substituters", [s.url for s in self.substituters]))
            keys = list(dict.fromkeys(k for s in self.substituters for k in s.public_keys))
            if keys:
                lines.append(trust.setting("trusted-public-keys", keys))
        return lines

    def warnings(self, platforms: Iterable[str]) -> list[str]:
        """Settings under which Nix would refuse torch: it asks for ``big-parallel`` (nixpkgs' requiredSystemFeatures)."""
        if self.local_allowed:
            return []
        out = []
        for p in sorted(set(platforms)):
            serving = [b for b in self.builders if p in b.systems]
            if serving and not any("big-parallel" in b.supported_features for b in serving):
                out.append(
                    f"no [[builder]] for {p} in {self.source} lists big-parallel in supported-features, and local "
                    "building is off: Nix will not send torch (requiredSystemFeatures = big-parallel) anywhere"
                )
        return out

    def refusals(self, platforms: Iterable[str], host: str) -> list[str]:
        """Why builds of these platforms cannot run at all with this file (local building off, no builder)."""
        if self.local_allowed:
            return []
        unserved = sorted({p for p in platforms if p not in self.systems})
        if not unserved:
            return []
        return [
            f"{self.source} turns local building off ([local] max-jobs = 0) and no [[builder]] there serves "
            f'{", ".join(unserved)}.\nAdd a builder with systems = ["{unserved[0]}"], or set [local] max-jobs = 1'
            + (f" (this host is {host})" if host in unserved else "")
        ]


# ------------------------------------------------------------------------ locating


def user_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / USER_FILE


def locate(root: Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The builders file that applies (see the module docstring), or None."""
    env = os.environ if env is None else env
    named = env.get(ENV_VAR, "")
    if named:
        path = Path(named).expanduser()
        if not path.exists():
            raise ModelError(
                Path(named), [Problem((), f"{ENV_VAR} names this file, which does not exist", f"create it or unset {ENV_VAR}")]
            )
        return path
    for path in (Path(root) / REPO_FILE, user_file(env)):
        if path.is_file():
            if path == Path(root) / REPO_FILE and git_tracked(Path(root), REPO_FILE):
                raise ModelError(
                    path,
                    [Problem((), f"is tracked by git: a {REPO_FILE} committed on a branch would choose your builders and "
                             "replace Nix's substituters and keys", f"git rm --cached {REPO_FILE} (the file stays here, "
                             "untracked and git-ignored)")],
                )  # fmt: skip
            return path
    return None


def git_tracked(root: Path, rel: str) -> bool:
    """Whether git tracks ``rel`` in the work tree at ``root`` (False without git or outside a work tree)."""
    try:
        out = subprocess.run(["git", "ls-files", "--error-unmatch", "--", rel], cwd=root, capture_output=True, text=True)
    except OSError:
        return False
    return out.returncode == 0


def load(root: Path, env: Mapping[str, str] | None = None) -> Config:
    """The configuration that applies to builds from ``root``; raises ModelError when malformed."""
    path = locate(root, env)
    if path is None:
        return Config()
    return parse(loadguard.read(path) if path.is_file() else "", path)


# ------------------------------------------------------------------------- parsing

_TOP = {"local", "builder", "substituter", "push", "builders-use-substitutes"}
_BUILDER = {
    "uri",
    "systems",
    "ssh-key",
    "max-jobs",
    "speed-factor",
    "supported-features",
    "mandatory-features",
    "public-host-key",
}
_SUBSTITUTER = {"url", "public-keys"}


@dataclass
class _Reader:
    file: Path
    index: LineIndex
    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: tuple, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path, message, fix, self.index.line_of(path)))

    def unknown(self, table: Mapping, allowed: set[str], path: tuple) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                fix = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(allowed))}"
                self.problem((*path, key), "unknown key", fix)

    def table(self, data: Mapping, key: str, path: tuple = ()) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem((*path, key), f"must be a table ([{key}]), not {type(value).__name__}")
            return {}
        return value

    def tables(self, data: Mapping, key: str) -> list[dict]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
            self.problem((key,), f"must be an array of tables ([[{key}]])")
            return []
        return value

    def integer(self, data: Mapping, key: str, path: tuple, default: int | None, minimum: int, maximum: int) -> int | None:
        value = data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            big = isinstance(value, int) and not isinstance(value, bool) and value > maximum
            shown = f"a {len(str(value))}-digit number" if big and value >= 10**12 else repr(value)
            self.problem((*path, key), f"must be {'at most ' + str(maximum) if big else f'an integer >= {minimum}'}, not {shown}",
                         f"write a whole number from {minimum} to {maximum}")  # fmt: skip
            return default
        return value

    def check(self, value: object, where: tuple, pattern: str, what: str, fix: str) -> bool:
        """Whether ``value`` is a string that may reach nix.conf and full-matches ``pattern``; a problem if not."""
        if not isinstance(value, str):
            self.problem(where, f"must be a string ({what}), not {type(value).__name__}", fix)
            return False
        if len(value) <= reach.MAX_STRING and not reach.full(pattern, value):
            self.problem(where, f"{reach.show(value)} is not {what}", fix)
            return False
        found = reach.problem(value, (reach.NIXCONF,))  # length, control characters, what breaks a nix.conf line
        if found:
            self.problem(where, f"{found[0]} ({what})", f"{found[1]}; {fix}")
            return False
        return True

    def string(self, data: Mapping, key: str, path: tuple, pattern: str, what: str, fix: str, *, required: bool = False) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(path, f"{key} is missing", f'add {key} = "…"')
            return ""
        return value if self.check(value, (*path, key), pattern, what, fix) else ""

    def strings(self, data: Mapping, key: str, path: tuple, pattern: str, what: str, *, required: bool = False) -> tuple:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(path, f"{key} is missing", f'add {key} = ["…"]')
            return ()
        if not isinstance(value, list) or (required and not value):
            self.problem((*path, key), f"must be a {'non-empty ' if required else ''}list of {what}")
            return ()
        out = []
        for i, item in enumerate(value):
            if self.check(item, (*path, key, i), pattern, what, f"write {what}"):
                out.append(item)
        return tuple(out)


def parse(text: str, file: Path | str) -> Config:
    """A Config from the text of a builders file; ModelError listing every problem."""
    file = Path(file)
    data = loadguard.parse(text, file)  # ModelError (file, line) for bad TOML, depth, size: never a traceback
    r = _Reader(file, LineIndex(text))
    r.unknown(data, _TOP, ())
    local = r.table(data, "local")
    r.unknown(local, {"max-jobs"}, ("local",))
    local_max_jobs = r.integer(local, "max-jobs", ("local",), None, 0, MAX_JOBS)
    use_subs = data.get("builders-use-substitutes", True)
    if not isinstance(use_subs, bool):
        r.problem(("builders-use-substitutes",), f"must be true or false, not {use_subs!r}")
        use_subs = True
    builders = []
    for i, b in enumerate(r.tables(data, "builder")):
        path = ("builder", i)
        r.unknown(b, _BUILDER, path)
        uri = r.string(b, "uri", path, BUILDER_URI, "a remote builder URI",
                       'use "ssh://user@host" or "ssh-ng://user@host" (letters, digits, . _ - ~ % +; no ; # or spaces)',
                       required=True)  # fmt: skip
        key = r.string(b, "ssh-key", path, PATH, "a path to an ssh key",
                       "use a path of letters, digits and . _ ~ / + @ % , = - (no spaces)")  # fmt: skip
        if key and not reach.full(PATH, str((file.parent / Path(key).expanduser()).resolve())):
            r.problem((*path, "ssh-key"), f"resolves to {(file.parent / key).resolve()}, a path a machines line cannot hold",
                      "give an absolute path without spaces")  # fmt: skip
            key = ""
        builders.append(
            Builder(
                uri=uri,
                systems=r.strings(b, "systems", path, SYSTEM, "a Nix system such as x86_64-linux", required=True),
                ssh_key=str((file.parent / Path(key).expanduser()).resolve()) if key else "",  # relative: to this file
                max_jobs=r.integer(b, "max-jobs", path, 1, 1, MAX_JOBS),
                speed_factor=r.integer(b, "speed-factor", path, 1, 1, MAX_SPEED_FACTOR),
                supported_features=r.strings(b, "supported-features", path, FEATURE, "a feature name such as big-parallel"),
                mandatory_features=r.strings(b, "mandatory-features", path, FEATURE, "a feature name such as big-parallel"),
                public_host_key=r.string(b, "public-host-key", path, HOST_KEY, "base64 of a host's public key line",
                                         "write `base64 -w0 /etc/ssh/ssh_host_ed25519_key.pub` of the builder"),
            )
        )
    substituters = []
    for i, s in enumerate(r.tables(data, "substituter")):
        path = ("substituter", i)
        r.unknown(s, _SUBSTITUTER, path)
        url = r.string(s, "url", path, trust.store_url_pattern(SUBSTITUTER_SCHEMES), "a store URL",
                       trust.store_url_fix(SUBSTITUTER_SCHEMES), required=True)  # fmt: skip
        keys = r.strings(s, "public-keys", path, PUBLIC_KEY, "a public key NAME:BASE64")
        substituters.append(Substituter(url=url, public_keys=keys))
    push = r.table(data, "push")
    r.unknown(push, {"to"}, ("push",))
    push_to = r.string(push, "to", ("push",), trust.store_url_pattern(), "a store URL", trust.store_url_fix())
    if r.problems:
        raise ModelError(file, sorted(r.problems, key=lambda p: p.line or 0))  # in file order (stable)
    return Config(
        source=file,
        builders=tuple(builders),
        substituters=tuple(substituters),
        local_max_jobs=local_max_jobs,
        use_substitutes=use_subs,
        push_to=push_to,
    )
