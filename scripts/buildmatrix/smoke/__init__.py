"""Smoke tests of built variants on matching hardware.

run: ``nox -s smoke`` and ``python -m buildmatrix.smoke``; expect: what a correct build looks like
at run time; resultenv: how the checker is started for a result; checkrun: the checker in a child
process (``scripts/smoke_check.py`` itself stays one stdlib-only file).
"""
