"""buildmatrix: one variants.toml -> every hardware-specific PyTorch/TorchVision Flox recipe.

Modules: spec (file format), model (load/validate/expand), recipes (render + write),
cli (commands behind tasks.py), and the rest one per feature.
"""

__version__ = "0.1.0"
