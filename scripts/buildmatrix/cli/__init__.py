"""The command layer: every ``invoke`` task, nox host session and ``python -m buildmatrix.*`` calls into here, and nothing in the package imports it.

common: loading with warnings once, the one error-to-exit-status guard, name splitting (and, for
now, ``gen``, ``schema``, ``ci``); matrix: ``list``, ``show``; edits: ``add``, ``remove``, ``pin``;
magma: ``patch-magma``; ci: ``ci-plan``, ``ci-import``, ``python -m buildmatrix.ci``; plan; push;
publish (plain and ``--as-anchor``); ledger; detect; smoke; nixeval; bench;
invokeargs / noxargs: the positional words of invoke and nox.
"""
