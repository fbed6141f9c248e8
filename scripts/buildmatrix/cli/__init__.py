"""The command layer: every ``invoke`` task and nox session calls into here, and nothing in the package imports it.

common: loading with warnings once, the error-to-exit-status guard, name splitting;
invokeargs / noxargs: the positional words of invoke and nox.
"""
