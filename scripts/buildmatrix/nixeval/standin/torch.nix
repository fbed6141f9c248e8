# python3Packages.torch: a model of nixpkgs' pkgs/development/python-modules/torch/source/default.nix
# as of torch 2.9.1 (docs/pins.md#torch-cuda-majors). `pin` carries the per-rev facts; the rest is the package function,
# called through callPackage.
#
# Faithful where the recipes depend on it:
# - the formal arguments are the real ones (no `...`): `.override { somethingElse = …; }` fails
#   with "called with unexpected argument";
# - gpuTargets, when not empty, is used verbatim for TORCH_CUDA_ARCH_LIST (exported in
#   preConfigure, only with cudaSupport); otherwise the config capabilities known to torch;
# - passthru.cudaCapabilities comes from config (cudaPackages.flags.cudaCapabilities
#   intersected with torch's list, in that list's order), never from gpuTargets;
# - brokenConditions ("Unsupported CUDA version" for a CUDA major outside the pin's list, magma
#   built against another CUDA, CUDA and ROCm together, CUDA off Linux) set meta.broken, so
#   evaluating the derivation fails unless config.allowBroken;
# - PYTORCH_BUILD_VERSION and `src` are computed from the original `version` (an overrideAttrs
#   that changes `version` changes neither);
# - stdenv is cudaPackages.backendStdenv with CUDA; effectiveMagma defaults to
#   magma-cuda-static taken from the package set (so an overlay on it reaches torch).
# Build steps are represented by their text; none of them runs.
pin:
{
  stdenv,
  lib,
  fetchFromGitHub,
  fetchFromGitLab,
  git-unroll,
  buildPythonPackage,
  python,
  runCommand,
  writeShellScript,
  config,
  cudaSupport ? config.cudaSupport,
  cudaPackages,
  autoAddDriverRunpath,
  effectiveMagma ?
    if cudaSupport then
      magma-cuda-static
    else if rocmSupport then
      magma-hip
    else
      magma,
  magma,
  magma-hip,
  magma-cuda-static,
  useSystemNccl ? (cudaSupport && cudaPackages.nccl.meta.available || rocmSupport),
  MPISupport ? false,
  mpi,
  buildDocs ? false,
  targetPackages,
  callPackage,
  cmake,
  symlinkJoin,
  which,
  pybind11,
  pkg-config,
  removeReferencesTo,
  openssl,
  numactl,
  llvmPackages,
  astunparse,
  binutils,
  expecttest,
  filelock,
  fsspec,
  hypothesis,
  jinja2,
  networkx,
  packaging,
  psutil,
  pyyaml,
  requests,
  sympy,
  types-dataclasses,
  typing-extensions,
  tritonSupport ? (!stdenv.hostPlatform.isDarwin),
  triton,
  _tritonEffective ? if cudaSupport then triton-cuda else triton,
  triton-cuda,
  mklDnnSupport ? !(stdenv.hostPlatform.isDarwin && stdenv.hostPlatform.isAarch64),
  blas,
  ninja,
  pillow,
  six,
  tensorboard,
  protobuf,
  rocmSupport ? config.rocmSupport,
  rocmPackages,
  gpuTargets ? [ ],
  vulkanSupport ? false,
  vulkan-headers,
  vulkan-loader,
  shaderc,
}:
let
  inherit (lib) optionals optionalString;
  facts = pin.torch;
  flag = b: if b then "1" else "0";

  # Config capabilities torch knows, in the order of torch's own list.
  supportedCudaCapabilities = lib.intersectLists cudaPackages.flags.cudaCapabilities facts.supportedCapabilities;
  unsupportedCudaCapabilities = lib.subtractLists supportedCudaCapabilities cudaPackages.flags.cudaCapabilities;

  gpuTargetString = lib.concatStringsSep ";" (
    if gpuTargets != [ ] then
      gpuTargets
    else if cudaSupport then
      lib.throwIf (supportedCudaCapabilities == [ ]) (
        "No supported GPU targets specified. Requested GPU targets: "
        + lib.concatStringsSep ", " unsupportedCudaCapabilities
      ) supportedCudaCapabilities
    else if rocmSupport then
      rocmPackages.clr.gpuTargets
    else
      throw "No GPU targets specified"
  );

  brokenConditions = lib.filterAttrs (_: cond: cond) {
    "CUDA and ROCm are mutually exclusive" = cudaSupport && rocmSupport;
    "CUDA is not targeting Linux" = cudaSupport && !stdenv.hostPlatform.isLinux;
    "Unsupported CUDA version" = cudaSupport && !(builtins.elem cudaPackages.cudaMajorVersion facts.supportedCudaMajors);
    "MPI cudatoolkit does not match cudaPackages.cudatoolkit" =
      MPISupport && cudaSupport && (mpi.cudatoolkit or null) != (cudaPackages.cudatoolkit or null);
    "Magma cudaPackages does not match cudaPackages" =
      cudaSupport && (effectiveMagma.cudaPackages.cudaMajorMinorVersion != cudaPackages.cudaMajorMinorVersion);
  };

  # Stand-ins for the patch files next to nixpkgs' expression (written for the pin's torch).
  patchFile = name: builtins.toFile name "stand-in for nixpkgs' torch/source/${name}\n";

  stdenv' = if cudaSupport then cudaPackages.backendStdenv else stdenv;
in
buildPythonPackage.override { stdenv = stdenv'; } rec {
  pname = "torch";
  version = facts.version;
  pyproject = true;

  outputs = [
    "out"
    "dev"
    "lib"
    "cxxdev"
  ];
  cudaPropagateToOutput = "cxxdev";

  src = fetchFromGitHub {
    owner = "pytorch";
    repo = "pytorch";
    tag = "v${version}";
    # nixpkgs unrolls the submodules (src.nix); one stand-in fetch with a stand-in hash.
    sha256 = builtins.hashString "sha256" "stand-in pytorch v${version} with submodules";
  };

  # nixpkgs' own patches at this pin (pins.nix), each under nixpkgs' condition for it.
  patches = map (p: patchFile p.name) (
    builtins.filter (
      p:
      {
        always = true;
        cuda = cudaSupport;
        linux = stdenv.hostPlatform.isLinux;
        darwin = stdenv.hostPlatform.isDarwin;
        mkl = lib.getName blas.provider == "mkl";
      }
      .${p.when}
    ) facts.patches
  );

  # nixpkgs' postPatch, in substance: relaxed pins and tool paths; with CUDA it deletes
  # PyTorch's vendored FindCUDAToolkit.cmake so that CMake's own module is used.
  postPatch = ''
    # stand-in: nixpkgs' torch postPatch (substituteInPlace of pyproject.toml, codecache.py,
    # cuda.cmake, gloo's Cuda.cmake, NNPACK, unwind.cpp, inductor's compiler path)
    # openssl: ${lib.getExe openssl}, compiler: ${targetPackages.stdenv.cc}/bin/c++
  ''
  + optionalString cudaSupport ''
    rm cmake/Modules/FindCUDAToolkit.cmake
  '';

  preConfigure =
    optionalString cudaSupport ''
      export TORCH_CUDA_ARCH_LIST="${gpuTargetString}"
      export CUPTI_INCLUDE_DIR=${lib.getDev cudaPackages.cuda_cupti}/include
      export CUPTI_LIBRARY_DIR=${lib.getLib cudaPackages.cuda_cupti}/lib
    ''
    + optionalString (cudaSupport && cudaPackages ? cudnn) ''
      export CUDNN_INCLUDE_DIR=${lib.getLib cudaPackages.cudnn}/include
      export CUDNN_LIB_DIR=${lib.getLib cudaPackages.cudnn}/lib
    ''
    + optionalString rocmSupport ''
      export PYTORCH_ROCM_ARCH="${gpuTargetString}"
    '';

  dontUseCmakeConfigure = true;
  hardeningDisable = [ "fortify3" ];
  BUILD_NAMEDTENSOR = flag true;
  BUILD_DOCS = flag buildDocs;
  BUILD_TEST = flag false;
  CMAKE_GENERATOR = "Ninja";
  USE_MKLDNN = flag mklDnnSupport;
  USE_MKLDNN_CBLAS = flag mklDnnSupport;
  USE_SYSTEM_PYBIND11 = true;
  USE_NNPACK = 1;
  USE_MPS = flag stdenv.hostPlatform.isDarwin;
  USE_DISTRIBUTED = flag true;

  cmakeFlags = [
    (lib.cmakeFeature "PYTHON_SIX_SOURCE_DIR" "${six.src}")
    (lib.cmakeFeature "CUDAToolkit_VERSION" cudaPackages.cudaMajorMinorVersion)
  ]
  ++ optionals cudaSupport [
    (lib.cmakeFeature "CMAKE_CUDA_COMPILER_TOOLKIT_VERSION" cudaPackages.cudaMajorMinorVersion)
  ];

  # setup.py drives CMake; MAX_JOBS follows the builder's cores.
  preBuild = ''
    export MAX_JOBS=$NIX_BUILD_CORES
    ${python.pythonOnBuildForHost.interpreter} setup.py build --cmake-only
    ${cmake}/bin/cmake build
  '';

  # From the original `version`: an overrideAttrs of `version` does not change it.
  PYTORCH_BUILD_VERSION = version;
  PYTORCH_BUILD_NUMBER = 0;

  USE_NCCL = flag useSystemNccl;
  USE_SYSTEM_NCCL = USE_NCCL;
  USE_STATIC_NCCL = USE_NCCL;

  PYTHON_LIB_REL_PATH = "${placeholder "out"}/${python.sitePackages}";

  env = {
    NIX_CFLAGS_COMPILE = toString (
      [ "-Wno-error" ]
      ++ optionals (stdenv.hostPlatform.isLinux && stdenv.hostPlatform.isAarch64) [
        "-Wno-error=incompatible-pointer-types"
      ]
    );
    USE_VULKAN = flag vulkanSupport;
  };

  nativeBuildInputs = [
    cmake
    which
    ninja
    pybind11
    pkg-config
    removeReferencesTo
  ]
  ++ optionals cudaSupport [
    autoAddDriverRunpath
    cudaPackages.cuda_nvcc
  ];

  buildInputs = [
    blas
    blas.provider
  ]
  ++ optionals (stdenv.cc.isClang && !stdenv.hostPlatform.isAarch64) [ llvmPackages.openmp ]
  ++ optionals cudaSupport (
    with cudaPackages;
    [
      cuda_cccl
      cuda_cudart
      cuda_cupti
      cuda_nvcc
      cuda_nvml_dev
      cuda_nvrtc
      cuda_nvtx
      libcublas
      libcufft
      libcufile
      libcurand
      libcusolver
      libcusparse
      libcusparse_lt
    ]
    ++ optionals (cudaPackages ? cudnn) [ cudnn ]
    ++ optionals useSystemNccl [ nccl ]
    ++ [ cuda_profiler_api ]
  )
  ++ optionals (cudaSupport || rocmSupport) [ effectiveMagma ]
  ++ optionals stdenv.hostPlatform.isLinux [ numactl ]
  ++ optionals tritonSupport [ _tritonEffective ]
  ++ optionals MPISupport [ mpi ];

  dependencies = [
    astunparse
    expecttest
    filelock
    fsspec
    hypothesis
    jinja2
    networkx
    ninja
    packaging
    psutil
    pyyaml
    requests
    sympy
    types-dataclasses
    typing-extensions
    pillow
    six
    tensorboard
    protobuf
    pybind11
  ]
  ++ optionals tritonSupport [ _tritonEffective ]
  ++ optionals vulkanSupport [
    vulkan-headers
    vulkan-loader
  ];

  doCheck = false;
  pythonImportsCheck = [ "torch" ];

  requiredSystemFeatures = [ "big-parallel" ];

  passthru = {
    inherit
      cudaSupport
      cudaPackages
      rocmSupport
      rocmPackages
      ;
    unroll-src = writeShellScript "unroll-src" "echo stand-in";
    cudaCapabilities = if cudaSupport then supportedCudaCapabilities else [ ];
    blasProvider = blas.provider;
    inherit brokenConditions;
  };

  meta = {
    description = "PyTorch: Tensors and Dynamic neural networks in Python with strong GPU acceleration";
    homepage = "https://pytorch.org/";
    license = lib.licenses.bsd3;
    platforms = lib.platforms.linux ++ optionals (!cudaSupport && !rocmSupport) lib.platforms.darwin;
    broken = builtins.any lib.id (builtins.attrValues brokenConditions);
  };
}
