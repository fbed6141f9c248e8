"""Continuous integration: the generated GitHub Actions workflow and bringing its records back.

workflow: ``.github/workflows/build.yml`` from variants.toml and its ``[ci]`` table, and the
workflow's plan; records: a CI run's ledger records imported into the committed ledger.
"""
