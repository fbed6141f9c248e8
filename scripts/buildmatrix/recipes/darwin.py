"""How the darwin-mps torch is built: as the anchor builds it (build-pytorch's darwin-mps recipe).

Apple's frameworks come from the SDK nixpkgs provides (no framework packages: nixpkgs' darwin
rework made those stubs, and 25.11 removed `darwin.apple_sdk`); the recipe names the pin's SDK
attribute (variants.toml [pin.NAME] apple_sdk, asserted to exist at evaluation). PyTorch's CMake
links the frameworks below when MPS is on and BLAS is vecLib (Accelerate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..model import Variant

# The frameworks the darwin build links, all from the SDK: Accelerate (vecLib BLAS/LAPACK),
# Metal and the two Metal Performance Shaders frameworks (the MPS backend), CoreML.
FRAMEWORKS = ("Accelerate", "Metal", "MetalPerformanceShaders", "MetalPerformanceShadersGraph", "CoreML")
# Build switches the anchor exports (USE_CUDA/USE_CUDNN/USE_CUBLAS=0 are implied by cudaSupport = false).
ENV = (("USE_MPS", "1"), ("USE_METAL", "1"), ("BLAS", "vecLib"))
BLAS = "vecLib (Apple Accelerate)"


def env(v: Variant) -> list[tuple[str, str]]:
    return list(ENV) if v.target_info.os == "darwin" and not v.requires else []


def sdk_attr(v: Variant) -> str | None:
    return v.pin.apple_sdk if v.target_info.os == "darwin" else None
