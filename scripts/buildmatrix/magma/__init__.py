"""The MAGMA CUDA-13 clockRate patch: where it goes, and proof that it applies.

report: which variants get the patch and why, dry runs against MAGMA trees; patching: unified
diffs read and checked against a tree; source: tarballs and directories as patch targets.
"""
