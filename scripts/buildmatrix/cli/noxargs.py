"""nox's command line, read for noxfile.py so that the noxfile itself parses nothing.

nox builds its session list from the noxfile before it looks at ``-s``; a ``build-…`` name
that no table entry has (``build-cuda13_0-sm120-avx``, ``build-sm70-avx2`` for a variant
built with one non-default CUDA only, a typo) must exist as a session by then, so that
it can build what the model resolves or fail listing candidates. :func:`requested` reads
the names asked for, :func:`unknown_builds` the ``build-…`` ones the table lacks.
:func:`lists_sessions` tells ``nox -l`` apart (it should end quietly on a closed pipe),
and :func:`smoke_args` turns the ``smoke`` session's posargs into the arguments of
``python -m buildmatrix.smoke``. What follows ``--`` on a build session is parsed by
:func:`buildmatrix.builds.sessions.parse_build_args`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

SESSION_FLAGS = ("-s", "-e", "--session", "--sessions")
LIST_FLAGS = frozenset({"-l", "--list", "--list-sessions"})


def requested(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Session names given with -s/-e/--session(s) (several words, ``a,b`` or ``--session=a``), or NOXSESSION.

    Stops at ``--`` (what follows goes to the sessions)."""
    out: list[str] = []
    i = 0
    while i < len(argv) and argv[i] != "--":
        arg = argv[i]
        if arg in SESSION_FLAGS:
            i += 1
            while i < len(argv) and not argv[i].startswith("-"):
                out.append(argv[i])
                i += 1
            continue
        for flag in SESSION_FLAGS:
            if arg.startswith(flag + "="):
                out.append(arg[len(flag) + 1 :])
        i += 1
    env = {} if environ is None else environ
    if env.get("NOXSESSION"):
        out.append(env["NOXSESSION"])
    return [n for name in out for n in name.split(",") if n]


def unknown_builds(argv: Sequence[str], environ: Mapping[str, str] | None, known: Iterable[str]) -> list[str]:
    """The requested ``build-…`` names that are not in ``known`` (the session table), each once, in order."""
    seen = set(known)
    out = []
    for name in requested(argv, environ):
        if name.startswith("build-") and name not in seen:
            out.append(name)
            seen.add(name)
    return out


def lists_sessions(argv: Sequence[str]) -> bool:
    """Whether this nox call only lists sessions (``-l``/``--list``/``--list-sessions``)."""
    return bool(LIST_FLAGS & set(argv))


def smoke_args(posargs: Sequence[str]) -> list[str]:
    """Arguments for ``python -m buildmatrix.smoke`` from the ``smoke`` session's posargs.

    Adds ``--record`` (a ``smoke`` ledger record per variant tested, which ``invoke
    publish`` requires) unless ``--no-record`` is given (and dropped) or the call only
    prints expectations or help.
    """
    args = [a for a in posargs if a != "--no-record"]
    if "--no-record" not in posargs and not {"--record", "--print-expectations", "-h", "--help"} & set(args):
        args.append("--record")
    return args
