"""buildmatrix: one variants.toml -> every hardware-specific PyTorch/TorchVision Flox recipe.

One subpackage per concern, layered bottom to top (a layer imports only those below it):

    errors, targets, files        problems and exit statuses; the build targets; atomic writes
    spec/                         the file format: every key, its checks, the JSON schema
    model/                        load -> validate -> expand: the Matrix of variants
    recipes/  docs/  ci/          the generated files: recipes and jobset, docs, the workflow
    nixeval/  magma/              proof: Nix evaluation against the stand-in; the MAGMA patch
    detect/  smoke/  builds/      this host, smoke tests on it, flox builds
    plan/  publish/               what a build costs; catalogs and binary caches
    ledger, edit, bench           recorded evidence; edits of variants.toml; benchmarks
    cli/                          every command behind tasks.py and noxfile.py (nothing imports it)

docs/ARCHITECTURE.md draws the tree and says where to add a GPU, an ISA, a target, a
package, a rule, a doc region or a generated file.
"""

__version__ = "0.1.0"
