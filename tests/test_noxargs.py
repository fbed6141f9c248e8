"""noxargs: what a nox command line asks for (read before nox parses it) and the smoke session's arguments."""

from __future__ import annotations

import pytest
from buildmatrix.cli import noxargs


@pytest.mark.parametrize(
    "argv, env, want",
    [
        (["-s", "build-sm120-avx"], {}, ["build-sm120-avx"]),
        (["-s", "build-a", "build-b", "-l"], {}, ["build-a", "build-b"]),
        (["--session=build-a,build-b"], {}, ["build-a", "build-b"]),
        (["-e", "lint", "--sessions", "tests"], {}, ["lint", "tests"]),
        (["-s", "build", "--", "-s", "not-a-session"], {}, ["build"]),
        (["-t", "cuda13_0"], {}, []),
        ([], {"NOXSESSION": "build-x,lint"}, ["build-x", "lint"]),
        (["-s", "build-a"], {"NOXSESSION": "build-b"}, ["build-a", "build-b"]),
        (["-s"], {}, []),
    ],
)
def test_requested(argv, env, want):
    assert noxargs.requested(argv, env) == want


def test_unknown_builds_are_the_requested_build_names_the_table_lacks_each_once():
    argv = ["-s", "build-sm120-avx", "build-cuda13_0-sm120-avx", "lint", "build", "build-cuda13_0-sm120-avx"]
    env = {"NOXSESSION": "build-typo"}
    assert noxargs.unknown_builds(argv, env, ["build-sm120-avx", "build"]) == ["build-cuda13_0-sm120-avx", "build-typo"]
    assert noxargs.unknown_builds(["-l"], {}, []) == []


@pytest.mark.parametrize(
    "argv, want",
    [(["-l"], True), (["--list"], True), (["-s", "lint", "--list-sessions"], True), (["-s", "lint"], False), ([], False)],
)
def test_lists_sessions(argv, want):
    assert noxargs.lists_sessions(argv) is want


@pytest.mark.parametrize(
    "posargs, want",
    [
        ([], ["--record"]),
        (["--variant", "x"], ["--variant", "x", "--record"]),
        (["--no-record"], []),
        (["--variant", "x", "--no-record"], ["--variant", "x"]),
        (["--record"], ["--record"]),
        (["--print-expectations", "--variant", "x"], ["--print-expectations", "--variant", "x"]),
        (["--help"], ["--help"]),
        (["-h"], ["-h"]),
    ],
)
def test_smoke_args_record_unless_told_not_to(posargs, want):
    assert noxargs.smoke_args(posargs) == want
