"""Positional words for invoke tasks, the way the docs print them: ``invoke gen sm120-avx cpu-avx2``; one short flag spelling.

invoke's parser gives each positional parameter exactly one word and reads any further
word as the name of another task ("No idea what 'cpu-avx2' is!"). tasks.py therefore
declares, per task, which option collects the bare words (``gen`` → ``--names``,
``add`` → ``--alias``) and calls :func:`install` once; before invoke parses the task
part of the command line, the bare words after such a task are folded into that one
option (``gen --names=sm120-avx,cpu-avx2``). Flags, their values, and the names of
other tasks are left where they are, so ``invoke gen sm120-avx --check docs`` still runs
``docs`` afterwards. Nothing changes for a task without an entry.

:func:`fold` is the pure rewrite (unit-tested); :func:`install` applies it to the
running ``invoke`` program and is a no-op when tasks.py is imported any other way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import invoke

# One meaning per short flag across every task. invoke would otherwise give each option the first
# letter of its name still free in that task (-p was --package, --python, --path, --pin or
# --promote; publish's --no-smoke-required got "--"): an option not named here has no short flag.
SHORT_FLAGS = {
    "check": "c",
    "json": "j",
    "quiet": "q",
    "names": "n",
    "dry_run": "d",
    "gpu": "g",
    "isa": "i",
    "tags": "t",  # like nox -t
    "keyword": "k",  # like nox -k
    "rev": "r",
    "org": "o",
}


class Task(invoke.Task):
    """An invoke task whose options get their short flag from :data:`SHORT_FLAGS` only."""

    def __init__(self, *args, **kwargs):
        kwargs["auto_shortflags"] = False
        super().__init__(*args, **kwargs)

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        short = SHORT_FLAGS.get(name)
        if short and short not in taken_names and name not in self.positional:
            opts["names"].append(short)
        return opts


def task(*args, **kwargs):
    """``invoke.task`` making a :class:`Task`: ``@task`` or ``@task(help=...)``, as with invoke's own."""
    return invoke.task(*args, klass=Task, **kwargs)


def fold(
    argv: list[str],
    rest: Mapping[str, str],
    valued: Mapping[str, Iterable[str]],
    tasks: Iterable[str],
) -> list[str]:
    """Rewrite ``argv`` (the words after invoke's own options).

    ``rest``: task name → the option that collects its bare words (``"names"``).
    ``valued``: task name → its flags that take a value (``"--cuda"``, ``"-c"``: ``--cuda 12.9``).
    ``tasks``: every task name (a bare word that is one starts the next task).
    """
    known = set(tasks)
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word not in rest:
            out.append(word)
            i += 1
            continue
        task, option = word, rest[word]
        takes_value = set(valued.get(task, ()))
        bare: list[str] = []
        flags: list[str] = []
        i += 1
        while i < len(argv) and argv[i] not in known:
            w = argv[i]
            if w == "--":  # invoke's own remainder: leave it and everything after it alone
                break
            if w.startswith("-"):
                flags.append(w)
                if w in takes_value and i + 1 < len(argv):
                    flags.append(argv[i + 1])
                    i += 1
            else:
                bare.append(w)
            i += 1
        out.append(task)
        if bare:
            out.append(f"--{option.replace('_', '-')}={','.join(bare)}")
        out += flags
    return out


def flags_with_values(task) -> list[str]:
    """``--cuda``, ``-c``, … : the spellings of a task's options that take a value."""
    out = []
    # Task.get_arguments() pops the entries of task.help it uses, so calling it here would
    # leave `invoke --help TASK` without any option help: give it a copy and put the dict back.
    help_text = task.help
    task.help = dict(help_text)
    try:
        arguments = task.get_arguments()
    finally:
        task.help = help_text
    for arg in arguments:
        if arg.takes_value:
            out += [f"--{n}" if len(n) > 1 else f"-{n}" for n in arg.names]
    return out


def _program():
    """The running invoke Program (tasks.py is imported from inside Program.run), or None."""
    try:
        from invoke import Program
    except ImportError:  # pragma: no cover - invoke is a dependency
        return None
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Program) and getattr(candidate, "core", None) is not None:
            return candidate
        frame = frame.f_back
    return None


def install(rest: Mapping[str, str], task_functions: Mapping[str, object]) -> bool:
    """Fold bare words for the tasks in ``rest`` on the running invoke command line; True if applied."""
    program = _program()
    if program is None:
        return False
    valued = {name: flags_with_values(t) for name, t in task_functions.items()}
    unparsed = program.core.unparsed
    unparsed[:] = fold(list(unparsed), rest, valued, task_functions)
    return True
