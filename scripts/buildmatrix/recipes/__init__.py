"""The generated Nix recipes: one ``.flox/pkgs/<variant>.nix`` per variant of variants.toml.

Contract (what importers use, all importable from ``buildmatrix.recipes``):

- ``generate(matrix, root, names=None, prune=False)`` renders every recipe in memory, then
  writes each changed one atomically; it never touches a file without ``MARKER`` on its
  first line and raises ``generated.Refused``, writing nothing, when a hand-written file has
  a recipe's name. ``check(matrix, root, names=None)`` writes nothing and reports the
  missing, different and stale recipes. Both return ``buildmatrix.generated.Report``;
  ``outputs``, ``plan`` and ``OWNED`` are the recipes for the driver (``invoke gen`` plans
  them with the jobset and the workflow, so one refusal stops all three).
- ``render_all(matrix, names=None)`` maps file name to text (the torch variants a
  torchvision needs are included); the same matrix always gives the same bytes.
- ``PKGS_DIR``, ``file_name(v)``, ``MARKER``, ``is_generated(path)``: where a recipe lives
  and how a generated file is told from a hand-written one (the jobset, nixeval, plan and
  magma read recipes by these).
- ``LIB_FILE`` (``.flox/recipe-lib.nix``): the helpers (patchName, mkCheck) every recipe
  imports as ``LIB_IMPORT``; generated and checked with the recipes, outside ``PKGS_DIR``
  because Flox builds every .nix file there. Whatever copies a recipe elsewhere copies it too.
- ``long_description(v, matrix)`` and ``template_for(v)``: what `invoke show` prints.

Modules: ``render`` (template choice, the context each template gets, the Jinja
environment), ``write`` (outputs, plan, generate, check), ``layout`` (where lines break: every
line of a recipe at most 100 columns, nixfmt's shape), ``templates/*.nix.j2`` (layout only:
hardware decisions are made in Python and reach a template as data). Escaping for Nix and
shell is ``buildmatrix.recipes.nix``, shared with pinfacts, the jobset, nixeval and fetchwalk.
"""

from .render import LIB_FILE, LIB_IMPORT, MARKER, PKGS_DIR, file_name, long_description, render_all, template_for
from .write import OWNED, check, generate, is_generated, outputs, plan

__all__ = [
    "LIB_FILE",
    "LIB_IMPORT",
    "MARKER",
    "OWNED",
    "PKGS_DIR",
    "check",
    "file_name",
    "generate",
    "is_generated",
    "long_description",
    "outputs",
    "plan",
    "render_all",
    "template_for",
]
