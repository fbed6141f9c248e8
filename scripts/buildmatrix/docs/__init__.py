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

Wholly generated pages sit next to the documents: one per torch line in ``docs/matrix/``
(``torch2_9.md``: that line's SM × ISA grids and every variant). Their first line is the page
marker; a line the model no longer has leaves a stale page, which ``--check`` names and
``invoke docs`` deletes; a hand-written file with a page's name is an error, never overwritten.

Generators are pure functions of the model (:class:`~buildmatrix.model.Matrix`),
the ledger's latest records and archspec's database: no clock, no host, sorted
output, so ``invoke docs --check`` is stable and fails only on real drift.

The package, one concern a module:

- ``markers``: the region engine (parse, fill, marker errors with file:line);
- ``markdown``: cell, plain, code, table, slug;
- ``context``: :class:`Context`, the :func:`generator` registry, sort keys, ledger status;
- ``pages``: the page engine (:class:`PageSet`, the page marker, stale and hand-written files);
- ``facts``: facts several regions share (archspec's view of an ISA, best build, pin links, line pages);
- one module per document: ``readme``, ``build_matrix``, ``pins`` and ``anchor`` (docs/BUILD_MATRIX.md),
  ``lines`` (the ``torch-lines`` index and the line pages), ``quickstart``, ``reference``
  (docs/variants.md), ``building`` (docs/BUILDING.md);
- ``sync``: read all, render all, write nothing if any problem (``plan``, ``sync``; the command,
  ``cmd_docs``, is ``buildmatrix.cli.generate``'s).

A new region: a function decorated with ``@generator("name")`` in the module of its
document, and its name in :data:`REQUIRED` if the document must keep it. A new kind of
page: a :class:`PageSet` in :data:`PAGES`.
"""

from __future__ import annotations

# The document modules register their generators on import; the order is the order of GENERATORS.
from . import anchor, build_matrix, building, lines, pins, quickstart, readme, reference  # noqa: F401
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
from .facts import LINE_PAGES_DIR, IsaFacts, archspec_version, best_build, cudas_of, isa_facts, isas_of, line_page
from .lines import LINE_PAGES
from .markdown import cell, code, plain, slug, table
from .markers import BEGIN_RE, END_RE, LOOSE_RE, DocsError, Parsed, Region, fill, parse, region_text, split_lines
from .pages import HEADER as PAGE_HEADER
from .pages import MARKER as PAGE_MARKER
from .pages import PageSet
from .pages import is_generated as is_generated_page
from .reference import spec_heading
from .sync import PAGES, REQUIRED, DocsReport, Plan, doc_files, plan, sync

__all__ = [
    "ACTION_DONE",
    "ACTION_WORDS",
    "BEGIN_RE",
    "DOCS_DIR",
    "END_RE",
    "GENERATORS",
    "LINE_PAGES",
    "LINE_PAGES_DIR",
    "LOOSE_RE",
    "PAGES",
    "PAGE_HEADER",
    "PAGE_MARKER",
    "README",
    "REQUIRED",
    "TARGET_ORDER",
    "Context",
    "DocsError",
    "DocsReport",
    "Generator",
    "IsaFacts",
    "PageSet",
    "Parsed",
    "Plan",
    "Region",
    "archspec_version",
    "best_build",
    "cell",
    "code",
    "cudas_of",
    "doc_files",
    "fill",
    "generator",
    "is_generated_page",
    "isa_facts",
    "isas_of",
    "line_page",
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
