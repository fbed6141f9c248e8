"""Input that reaches other machines, checked; secrets kept out of what is printed, logged and recorded.

Trusted: variants.toml (reviewed in git; :mod:`buildmatrix.spec.reach` still checks where each value
goes). Untrusted, hence validated here or with these rules: the builders file (builders.py),
build-costs.toml (plan/cost.py) and the options that name other systems: ``--to`` (:func:`store_url`),
``--org`` (:func:`org`), ``--tags``/``--keyword`` (:func:`selection`).

* :func:`setting`: one ``key = value`` line of ``NIX_CONFIG`` from validated words only; anything that
  could start a second line or a comment is refused (ValueError), never escaped.
* :func:`redact` (text, a URI, NIX_CONFIG), :func:`redact_argv`, :func:`redact_env`,
  :func:`show_nix_config`: values of ``access-tokens``, ``secret-key`` (also a URL's query
  parameter), other ``*token*``/``*secret*``/``*password*`` settings, a URL's ``user:password@``, and
  environment variables named ``*_TOKEN``, ``*_KEY``, ``*SECRET*``, ``*PASSWORD*`` become ``<redacted>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from ..errors import UsageError
from ..spec import reach

REDACTED = "<redacted>"

# ------------------------------------------------------------------------ NIX_CONFIG

NIX_KEY_RE = r"[a-z][a-z0-9-]*"
# One word of a nix.conf value: no whitespace (it separates words and lines), no '#' (a comment).
NIX_WORD_RE = r"[^\s#]+"


def _word(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"NIX_CONFIG {key}: {type(value).__name__} is no setting value")
    if not reach.full(NIX_WORD_RE, value) or reach.text_problem(value) or len(value) > reach.MAX_STRING:
        raise ValueError(f"NIX_CONFIG {key}: {value!r} could break the line (whitespace, '#' or a control character)")
    if key == "builders" and ";" in value and value != ";":
        raise ValueError(f"NIX_CONFIG builders: {value!r} contains ';', which separates machines")
    return value


def setting(key: str, value: object) -> str:
    """``key = word word…`` for ``NIX_CONFIG``; ValueError for anything that could form a second line or a comment."""
    if not isinstance(key, str) or not reach.full(NIX_KEY_RE, key):
        raise ValueError(f"NIX_CONFIG: {key!r} is not a setting name")
    words = list(value) if isinstance(value, list | tuple) else [value]
    if not words:
        raise ValueError(f"NIX_CONFIG {key}: no value")
    return f"{key} = " + " ".join(_word(key, w) for w in words)


def check_setting(line: str) -> str:
    """``line`` when it is one ``key = words`` setting as :func:`setting` forms it; else ValueError."""
    key, sep, rest = line.partition(" = ")
    if not sep:
        raise ValueError(f"NIX_CONFIG: {line!r} is not a 'key = value' setting")
    if setting(key, rest.split(" ")) != line:
        raise ValueError(f"NIX_CONFIG: {line!r} is not one setting line")
    return line


# ------------------------------------------------------------------------- redaction

_SECRET_WORD = r"(?:[\w.-]*(?:secret|token|passw(?:or)?d)[\w.-]*)"
# nix.conf-style settings (one per line): access-tokens, secret-key-files, any *token*/*secret*/*password*.
_SETTING = re.compile(rf"(?im)^([ \t]*(?:access-tokens|{_SECRET_WORD})[ \t]*=)[^\n]*")
# A URL's query parameter: ?secret-key=…, &token=…
_QUERY = re.compile(rf"(?i)([?&;](?:secret-key|key|{_SECRET_WORD})=)[^&\s;#'\"]*")
# user:password@ in a URL
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/@:'\"]*:)[^\s/@'\"]*@")
_ENV_NAME = r"(?:[A-Za-z0-9_]*_TOKEN|[A-Za-z0-9_]*_KEY|[A-Za-z0-9_]*SECRET[A-Za-z0-9_]*|[A-Za-z0-9_]*PASSWORD[A-Za-z0-9_]*)"
# NAME=value on a command line or in a message
_ENV_ASSIGN = re.compile(rf"(?i)\b({_ENV_NAME}=)[^\s'\"]*")


def secret_env_name(name: str) -> bool:
    return reach.full(f"(?i){_ENV_NAME}", name)


def redact(text: str) -> str:
    """``text`` with every secret it may hold (see the module docstring) replaced by ``<redacted>``."""
    text = _SETTING.sub(lambda m: f"{m.group(1).rstrip()} {REDACTED}", text)
    text = _QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    text = _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return _ENV_ASSIGN.sub(lambda m: m.group(1) + REDACTED, text)


def redact_argv(argv: Iterable[str]) -> list[str]:
    return [redact(str(a)) for a in argv]


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the values of secret-named variables replaced, and the rest (NIX_CONFIG too) redacted."""
    return {k: REDACTED if secret_env_name(k) else redact(v) for k, v in env.items()}


def show_nix_config(nix_config: str) -> str:
    """``NIX_CONFIG`` as one line, redacted line by line (what builds and dry runs print and log)."""
    return "; ".join(redact(line) for line in nix_config.splitlines() if line.strip())


# --------------------------------------------------------------------------- options

STORE_SCHEMES = ("file", "s3", "ssh", "ssh-ng", "https")
# A conservative store URL: no whitespace, quotes, ';', '#', '`', '$', '\\' or control characters.
STORE_URL_RE = r"(?:{schemes})://[A-Za-z0-9._~:/?&=%@+,\[\]-]+"
ORG_RE = r"[A-Za-z0-9][A-Za-z0-9_-]{0,38}"
TAG_RE = r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}"
MAX_KEYWORD = 1000
MAX_TAGS = 64


def store_url_pattern(schemes: Sequence[str] = STORE_SCHEMES) -> str:
    return STORE_URL_RE.format(schemes="|".join(re.escape(s) for s in schemes))


def store_url_problem(value: str, schemes: Sequence[str] = STORE_SCHEMES) -> str:
    """Why ``value`` is not a store URL this project passes on (empty: it is one)."""
    if len(value) > reach.MAX_STRING or not reach.full(store_url_pattern(schemes), value):
        return f"{reach.show(redact(value))} is not a Nix store URL this tool accepts"
    return ""


def store_url_fix(schemes: Sequence[str] = STORE_SCHEMES) -> str:
    return (f"use {', '.join(s + '://' for s in schemes)} followed by letters, digits and . _ ~ : / ? & = % @ + , - "
            "(e.g. file:///srv/nix-cache, s3://bucket?region=eu-west-1, ssh://nix@host)")  # fmt: skip


def store_url(value: str, option: str) -> str:
    """``value`` if it is a conservative store URL, else UsageError naming ``option`` and the fix (one line)."""
    why = store_url_problem(value)
    if why:
        raise UsageError(f"{option} {why}; {store_url_fix()}")
    return value


def org(value: str, option: str = "--org") -> str:
    """A Flox user or organisation name (GitHub's rule), else UsageError."""
    if not reach.full(ORG_RE, value):
        raise UsageError(
            f"{option} {reach.show(value)} is not a user or organisation name; use letters, digits, '_' and '-' "
            "(at most 39, a letter or digit first)"
        )
    return value


def selection(tags: str, keyword: str) -> None:
    """Bounds on ``--tags``/``--keyword`` (workflow_dispatch inputs, too): UsageError naming the option."""
    words = [t for t in (tags or "").replace(",", " ").split() if t]
    if len(tags or "") > MAX_KEYWORD or len(words) > MAX_TAGS:
        raise UsageError(f"--tags: {len(words)} tag(s), {len(tags)} characters; give at most {MAX_TAGS} tags")
    bad = [t for t in words if not reach.full(TAG_RE, t)]
    if bad:
        raise UsageError(f"--tags {reach.show(bad[0])} is not a tag; tags are letters, digits and _ . + - (comma-separated)")
    if len(keyword or "") > MAX_KEYWORD:
        raise UsageError(f"--keyword is {len(keyword)} characters long; shorten it to at most {MAX_KEYWORD}")
    problem = reach.text_problem(keyword or "")
    if problem:
        raise UsageError(f"--keyword {problem[0]}; {problem[1]}")
