"""noxargs.requested: the session names a nox command line asks for, read before nox parses it."""

from __future__ import annotations

import pytest
from buildmatrix import noxargs


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
