"""buildmatrix: one variants.toml -> every hardware-specific PyTorch/TorchVision Flox recipe.

Modules: spec (file format; speccheck checks it, schema emits it), model (load/validate/expand;
its rules carry stable ids), targets (one record per build target),
recipes (render + write), nixeval (Nix evaluation proof; nixrun, nixcheck),
builds (the nox build sessions; floxrun runs flox, parallelism sizes it, hostinfo knows the host),
detect (which variant fits this host; cpuprobe, gpuprobe, fit, choice), smoke (smoke tests on
matching hardware; expect, resultenv, checkrun; scripts/smoke_check.py runs inside the variant),
noxargs (nox's own command line), errors (problems and the exit statuses), anchormap (the anchor's
recipe names -> variants here),
cli (commands behind tasks.py), and the rest one per feature. docs/ARCHITECTURE.md groups
them and says where to add a GPU, an ISA, a target, a package, a rule or a doc region.
"""

__version__ = "0.1.0"
