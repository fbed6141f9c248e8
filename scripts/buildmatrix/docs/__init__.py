"""Generated regions in README.md and docs/*.md: `invoke docs [--check]`.

A region is a pair of lines, each exactly (no leading whitespace)::

    <!-- BEGIN GENERATED: name -->
    <!-- END GENERATED: name -->

``name`` picks a generator from :data:`GENERATORS`. ``invoke docs`` replaces what
lies between the two lines with the generator's output; every byte outside the
regions (hand-written prose, line endings, a missing final newline) is kept.
Unknown names, a BEGIN without END, an END without BEGIN, nesting, a name used
twice in one file, malformed marker lines and missing required regions are
errors naming file and line, and then nothing is written to any file.

Generators are pure functions of the model (:class:`~buildmatrix.model.Matrix`),
the ledger's latest records and archspec's database: no clock, no host, sorted
output, so ``invoke docs --check`` is stable and fails only on real drift.

The package, one concern a module:

- ``markers``: the region engine (parse, fill, marker errors with file:line);
- ``markdown``: cell, plain, code, table, slug;
- ``context``: :class:`Context`, the :func:`generator` registry, sort keys, ledger status;
- ``facts``: facts several regions share (archspec's view of an ISA, best build, pin links);
- one module per document: ``readme``, ``build_matrix`` and ``pins`` (docs/BUILD_MATRIX.md),
  ``quickstart``, ``reference`` (docs/variants.md), ``building`` (docs/BUILDING.md);
- ``sync``: read all, render all, write nothing if any problem (``plan``, ``sync``, ``cmd_docs``).

A new region: a function decorated with ``@generator("name")`` in the module of its
document, and its name in :data:`REQUIRED` if the document must keep it.
"""

from __future__ import annotations

# The document modules register their generators on import; the order is the order of GENERATORS.
from . import anchor, build_matrix, building, pins, quickstart, readme, reference  # noqa: F401
from .context import (
    ACTION_DONE,
    ACTION_WORDS,
    DOCS_DIR,
    GENERATORS,
    README,
    TARGET_ORDER,
    Context,
    Generator,
    generator,
    sorted_cudas,
    sorted_gpus,
    sorted_isas,
    status,
    variant_key,
)
from .facts import IsaFacts, archspec_version, best_build, cudas_of, isa_facts, isas_of
from .markdown import cell, code, plain, slug, table
from .markers import BEGIN_RE, END_RE, LOOSE_RE, DocsError, Parsed, Region, fill, parse, region_text, split_lines
from .reference import spec_heading
from .sync import REQUIRED, DocsReport, cmd_docs, doc_files, plan, sync

__all__ = [
    "ACTION_DONE",
    "ACTION_WORDS",
    "BEGIN_RE",
    "DOCS_DIR",
    "END_RE",
    "GENERATORS",
    "LOOSE_RE",
    "README",
    "REQUIRED",
    "TARGET_ORDER",
    "Context",
    "DocsError",
    "DocsReport",
    "Generator",
    "IsaFacts",
    "Parsed",
    "Region",
    "archspec_version",
    "best_build",
    "cell",
    "cmd_docs",
    "code",
    "cudas_of",
    "doc_files",
    "fill",
    "generator",
    "isa_facts",
    "isas_of",
    "parse",
    "plain",
    "plan",
    "region_text",
    "slug",
    "sorted_cudas",
    "sorted_gpus",
    "sorted_isas",
    "spec_heading",
    "split_lines",
    "status",
    "sync",
    "table",
    "variant_key",
]
