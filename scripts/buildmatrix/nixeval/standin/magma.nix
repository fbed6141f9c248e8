# magma: a model of nixpkgs' pkgs/by-name/ma/magma/package.nix (MAGMA 2.9.0, docs/pins.md#magma-cuda-13-fix).
# Top level: magma-cuda = magma.override { cudaSupport = true; rocmSupport = false; },
# magma-cuda-static = magma-cuda.override { static = true; } (what torch uses with CUDA).
#
# Faithful: the formal arguments (no `...`); CMAKE_CUDA_ARCHITECTURES from
# cudaPackages.flags (config capabilities, not torch's gpuTargets); meta.broken for dynamic
# CUDA builds and for no/both back-ends; passthru.cudaPackages (torch compares its CUDA
# version); the pin's own patches (drop-cmp0037-old.patch; fix-cuda13-compat.patch where the
# pin carries it, nixpkgs PR #487064).
#
# Build failures the stand-in predicts (a real build is what proves them):
# - CUDA >= 13 without the clockRate fix among `patches` (upstream commit 235aefb…, as
#   fix-cuda13-compat.patch or as a local backport): interface_cuda/interface.cpp does not
#   compile ("'struct cudaDeviceProp' has no member named 'clockRate'"). Modelled as
#   meta.broken (reason in passthru.brokenConditions); the recipes set allowBroken for torch,
#   so the evaluation harness checks magma's meta.broken itself.
# - the fix present twice: `patch` stops with "Reversed (or previously applied) patch
#   detected!". Modelled as an evaluation error of the derivation (no config allows it).
# A patch counts as the fix when it is a fetchpatch of commit 235aefb… or a file whose diff
# touches interface_cuda/interface.cpp and reads cudaDevAttrClockRate.
pin:
{
  autoPatchelfHook,
  blas,
  cmake,
  cudaPackages,
  cudaSupport ? config.cudaSupport,
  fetchFromGitHub,
  fetchpatch,
  gfortran,
  gpuTargets ? [ ],
  rocmPackages,
  lapack,
  lib,
  libpthreadstubs,
  ninja,
  perl,
  python3,
  config,
  rocmSupport ? !cudaSupport,
  runCommand,
  static ? stdenv.hostPlatform.isStatic,
  stdenv,
  writeShellApplication,
}:
let
  facts = pin.magma;
  upstreamFix = "235aefb7b064954fce09d035c69907ba8a87cbcd";

  isClockRateFix =
    p:
    if builtins.typeOf p == "path" then
      let
        text = builtins.readFile p;
      in
      lib.hasInfix "interface_cuda/interface.cpp" text && lib.hasInfix "cudaDevAttrClockRate" text
    else if lib.isAttrs p then
      lib.hasInfix upstreamFix (p.url or "")
    else
      false;

  cuda13 = cudaSupport && lib.versionAtLeast cudaPackages.cudaMajorMinorVersion "13.0";
  carries =
    if facts.carriesCuda13ClockRateFix == null && cuda13 then
      throw "stand-in nixpkgs ${pin.short}: fact unknown: does magma here already carry fix-cuda13-compat.patch? Record it in scripts/buildmatrix/nixeval/standin/pins.nix."
    else
      facts.carriesCuda13ClockRateFix == true;

  cudaArchitectures = cudaPackages.flags.cmakeCudaArchitecturesString;
  minArch =
    let
      archs = map cudaPackages.flags.dropDots cudaPackages.flags.cudaCapabilities;
    in
    "${builtins.head (builtins.sort lib.versionOlder archs)}0";
in
stdenv.mkDerivation (finalAttrs: {
  pname = "magma";
  version = facts.version;

  src = fetchFromGitHub {
    owner = "icl-utk-edu";
    repo = "magma";
    tag = "v${finalAttrs.version}";
    hash = "sha256-ZV50id9qiCrc1K87812Lvv1tmeU/6vhpxFCz8nj61wM=";
  };

  outputs = [
    "out"
    "test"
  ];

  patches = [
    (fetchpatch {
      name = "drop-cmp0037-old.patch";
      url = "https://github.com/icl-utk-edu/magma/commit/2fecaf3f0c811344363f713669c1fe30f6879acd.patch";
      hash = "sha256-Dfzq2gqoLSByCLWV5xvY/lXZeVa/yQ67lDSoIAa9jUU=";
    })
  ]
  ++ lib.optionals (cudaSupport && carries) [
    (fetchpatch {
      name = "fix-cuda13-compat.patch";
      url = "https://github.com/icl-utk-edu/magma/commit/${upstreamFix}.patch";
      hash = "sha256-i9InbxD5HtfonB/GyF9nQhFmok3jZ73RxGcIciGBGvU=";
    })
  ];

  nativeBuildInputs = [
    autoPatchelfHook
    cmake
    ninja
    perl
    gfortran
  ]
  ++ lib.optionals cudaSupport [ cudaPackages.cuda_nvcc ];

  buildInputs = [
    libpthreadstubs
    lapack
    blas
    python3
  ]
  ++ lib.optionals cudaSupport (
    with cudaPackages;
    [
      cuda_cccl
      cuda_cudart
      libcublas
      libcusparse
      cuda_profiler_api
    ]
  );

  cmakeFlags = [
    (lib.cmakeFeature "GPU_TARGET" (lib.concatStringsSep "," gpuTargets))
    (lib.cmakeBool "MAGMA_ENABLE_CUDA" cudaSupport)
    (lib.cmakeBool "MAGMA_ENABLE_HIP" rocmSupport)
    (lib.cmakeBool "BUILD_SHARED_LIBS" (!static))
    (lib.cmakeBool "USE_FORTRAN" true)
  ]
  ++ lib.optionals cudaSupport [
    (lib.cmakeFeature "CMAKE_CUDA_ARCHITECTURES" cudaArchitectures)
    (lib.cmakeFeature "MIN_ARCH" minArch)
  ];

  doCheck = false;

  __standinAssertions = [
    {
      assertion = lib.count isClockRateFix finalAttrs.patches <= 1;
      message = "patching magma: \"Reversed (or previously applied) patch detected!\": the CUDA 13 clockRate fix (MAGMA commit ${upstreamFix}) is applied twice";
    }
  ];

  passthru = {
    inherit
      cudaPackages
      cudaSupport
      rocmSupport
      gpuTargets
      ;
    brokenConditions = lib.filterAttrs (_: c: c) {
      "dynamic CUDA support is broken" = cudaSupport && !static;
      "at least one back-end must be enabled" = !(cudaSupport || rocmSupport);
      "CUDA and ROCm are mutually exclusive" = cudaSupport && rocmSupport;
      # Stand-in: a predicted compile failure (see the header).
      "CUDA >= 13 needs the clockRate fix (interface_cuda/interface.cpp)" =
        cuda13 && lib.count isClockRateFix finalAttrs.patches == 0;
    };
    # Stand-in: how many patches are the CUDA 13 clockRate fix.
    standinClockRateFixes = lib.count isClockRateFix finalAttrs.patches;
  };

  meta = {
    description = "Matrix Algebra on GPU and Multicore Architectures";
    license = lib.licenses.bsd3;
    homepage = "https://icl.utk.edu/magma/";
    platforms = lib.platforms.linux;
    broken = finalAttrs.passthru.brokenConditions != { };
  };
})
