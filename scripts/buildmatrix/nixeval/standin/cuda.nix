# One CUDA package set, cudaPackages_<X_Y> (pkgs/top-level/cuda-packages.nix and
# pkgs/development/cuda-modules): the attributes torch, torchvision and magma use.
#
# Modelled: cudaMajorVersion / cudaMajorMinorVersion, `flags` (cudaCapabilities from
# config.cudaCapabilities or the release's default list, validated when backendStdenv is
# used: "Unrecognized" / "Unsupported" capabilities, Jetson rules), backendStdenv, the
# redistributables torch lists as inputs (unfree: they need config.allowUnfree), cudnn, nccl
# (meta.available decides torch's useSystemNccl), overrideScope.
# Not modelled: package versions below major.minor, outputs of the redistributables, cudatoolkit.
{
  lib,
  config,
  stdenv,
  pin,
  cudaMajorMinorVersion,
}:
let
  inherit (lib)
    all
    any
    concatStringsSep
    filter
    versionAtLeast
    versionOlder
    ;
  version = cudaMajorMinorVersion;
  major = lib.versions.major version;

  # Capability data (docs/pins.md#cuda-defaults, _cuda/db/bootstrap/cuda.nix): the CUDA releases that can compile
  # for each capability (max inclusive) and whether it is a Jetson (Tegra) device.
  capabilities = {
    "5.0" = {
      max = "12.9";
    };
    "5.2" = {
      max = "12.9";
    };
    "6.0" = {
      max = "12.9";
    };
    "6.1" = {
      max = "12.9";
    };
    "7.0" = {
      max = "12.9";
    };
    "7.2" = {
      max = "12.2";
      jetson = true;
    };
    "7.5" = {
      min = "10.0";
    };
    "8.0" = {
      min = "11.2";
    };
    "8.6" = {
      min = "11.2";
    };
    "8.7" = {
      min = "11.4";
      jetson = true;
    };
    "8.9" = {
      min = "11.8";
    };
    "9.0" = {
      min = "11.8";
    };
    "9.0a" = {
      min = "12.0";
    };
    "10.0" = {
      min = "12.7";
    };
    "10.0a" = {
      min = "12.7";
    };
    "10.0f" = {
      min = "12.9";
    };
    "10.1" = {
      min = "12.7";
      max = "12.9";
      jetson = true;
    };
    "10.1a" = {
      min = "12.7";
      max = "12.9";
      jetson = true;
    };
    "10.3" = {
      min = "12.9";
    };
    "10.3a" = {
      min = "12.9";
    };
    "10.3f" = {
      min = "12.9";
    };
    "11.0" = {
      min = "13.0";
      jetson = true;
    };
    "11.0a" = {
      min = "13.0";
      jetson = true;
    };
    "11.0f" = {
      min = "13.0";
      jetson = true;
    };
    "12.0" = {
      min = "12.8";
    };
    "12.0a" = {
      min = "12.8";
    };
    "12.0f" = {
      min = "12.9";
    };
    "12.1" = {
      min = "12.9";
    };
    "12.1a" = {
      min = "12.9";
    };
    "12.1f" = {
      min = "12.9";
    };
  };

  supported =
    cap:
    let
      info = capabilities.${cap};
    in
    versionAtLeast version (info.min or "0.0") && !(versionOlder (info.max or "99.0") version);
  isJetson = cap: capabilities.${cap}.jetson or false;

  cudaCapabilities = config.cudaCapabilities or pin.cuda.defaults.${version};
  unrecognized = filter (c: !(capabilities ? ${c})) cudaCapabilities;
  unsupported = filter (c: !(supported c)) (lib.subtractLists unrecognized cudaCapabilities);
  isJetsonBuild = any isJetson (lib.subtractLists unrecognized cudaCapabilities);
  list = xs: "[ ${concatStringsSep " " (map (x: "\"${x}\"") xs)} ]";
  flagsProblem =
    if unrecognized != [ ] then
      "Unrecognized CUDA capabilities: ${list unrecognized}"
    else if unsupported != [ ] then
      "Unsupported CUDA capabilities: ${list unsupported} (CUDA ${version})"
    else if isJetsonBuild && !(all isJetson cudaCapabilities) then
      "Jetson CUDA capabilities cannot be mixed with others: ${list cudaCapabilities}"
    else if isJetsonBuild && stdenv.hostPlatform.system != "aarch64-linux" then
      "Jetson CUDA capabilities need aarch64-linux"
    else
      null;

  dropDots = builtins.replaceStrings [ "." ] [ "" ];

  flags = {
    inherit cudaCapabilities isJetsonBuild dropDots;
    cudaForwardCompat = config.cudaForwardCompat;
    # CMake's CUDA_ARCHITECTURES, e.g. "75;80;86".
    cmakeCudaArchitecturesString = concatStringsSep ";" (map dropDots cudaCapabilities);
  };

  redist =
    pname: license:
    stdenv.mkDerivation {
      inherit pname version;
      meta = {
        inherit license;
        platforms = lib.platforms.linux;
      };
    };

  base = self: {
    cudaMajorVersion = major;
    inherit cudaMajorMinorVersion;
    cudaVersion = version;
    cudaAtLeast = versionAtLeast version;
    cudaOlder = versionOlder version;
    inherit flags;
    # The stdenv CUDA packages build with; using it validates the capabilities.
    backendStdenv =
      if flagsProblem != null then
        throw flagsProblem
      else
        stdenv.override {
          name = "cuda${dropDots version}-backend-stdenv";
          ccName = "gcc-wrapper-cuda${dropDots version}";
        };
    cuda_cccl = redist "cuda_cccl" lib.licenses.nvidiaCuda;
    cuda_cudart = redist "cuda_cudart" lib.licenses.nvidiaCuda;
    cuda_cupti = redist "cuda_cupti" lib.licenses.nvidiaCuda;
    cuda_nvcc = redist "cuda_nvcc" lib.licenses.nvidiaCuda;
    cuda_nvml_dev = redist "cuda_nvml_dev" lib.licenses.nvidiaCuda;
    cuda_nvrtc = redist "cuda_nvrtc" lib.licenses.nvidiaCuda;
    cuda_nvtx = redist "cuda_nvtx" lib.licenses.nvidiaCuda;
    cuda_profiler_api = redist "cuda_profiler_api" lib.licenses.nvidiaCuda;
    libcublas = redist "libcublas" lib.licenses.nvidiaCuda;
    libcufft = redist "libcufft" lib.licenses.nvidiaCuda;
    libcufile = redist "libcufile" lib.licenses.nvidiaCuda;
    libcurand = redist "libcurand" lib.licenses.nvidiaCuda;
    libcusolver = redist "libcusolver" lib.licenses.nvidiaCuda;
    libcusparse = redist "libcusparse" lib.licenses.nvidiaCuda;
    libcusparse_lt = redist "libcusparse_lt" lib.licenses.nvidiaCuda;
    cudnn = redist "cudnn" lib.licenses.unfree;
    # NCCL is built from source for flags.cudaCapabilities; it is free software.
    nccl = redist "nccl" lib.licenses.bsd3;
  };
in
lib.makeScope (extra: lib.callPackageWith extra) base
