"""Continuous integration: the generated GitHub Actions workflow and bringing its records back.

workflow: ``.github/workflows/build.yml`` from variants.toml and its ``[ci]`` table, and the
workflow's plan; delta: what the plan job builds by default (what changed since the base and
the cache lacks); records: a CI run's ledger records imported into the committed ledger.
"""
