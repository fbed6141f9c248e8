"""buildmatrix: one variants.toml -> every hardware-specific PyTorch/TorchVision Flox recipe.

Modules: spec (file format; speccheck checks it, schema emits it), model (load/validate/expand;
its rules carry stable ids), targets (one record per build target),
recipes (render + write), nixeval (Nix evaluation proof; nixrun, nixcheck),
cli (commands behind tasks.py), and the rest one per feature.
"""

__version__ = "0.1.0"
