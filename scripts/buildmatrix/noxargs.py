"""Which sessions a nox command line asks for, read before nox parses it (noxfile.py registers them).

nox builds its session list from the noxfile before it looks at ``-s``; a ``build-…`` name
that no table entry has (``build-cuda13_0-sm120-avx``, ``build-sm70-avx2`` for a variant
built with one non-default CUDA only, a typo) must exist as a session by then, so that
it can build what the model resolves or fail listing candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

SESSION_FLAGS = ("-s", "-e", "--session", "--sessions")


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
