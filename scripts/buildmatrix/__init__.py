"""buildmatrix: one variants.toml -> every hardware-specific PyTorch/TorchVision Flox recipe.

Modules: spec (file format), model (load/validate/expand), render + gen (recipes),
cli (commands behind tasks.py), and the rest one per feature.
"""

__version__ = "0.1.0"
