# python3Packages.torchvision: a model of nixpkgs' pkgs/development/python-modules/torchvision/default.nix
# (0.24.1 at these pins, docs/pins.md#0182a36-torchvision).
#
# Faithful where the recipes depend on it:
# - `torch` is a formal argument (`.override { torch = …; }`), the formal arguments are the
#   real ones (no `...`);
# - cudaSupport, cudaPackages and cudaCapabilities are taken from `torch`; with CUDA,
#   env.TORCH_CUDA_ARCH_LIST = torch.cudaCapabilities joined with ";" and FORCE_CUDA = 1 —
#   so a torch whose passthru.cudaCapabilities is the config default makes torchvision build
#   for every default architecture, whatever torch's gpuTargets;
# - stdenv = torch.stdenv; torch.cxxdev is a build input, torch a dependency.
pin:
{
  lib,
  stdenv,
  torch,
  buildPythonPackage,
  darwinMinVersionHook,
  fetchFromGitHub,
  libpng,
  ninja,
  which,
  libjpeg_turbo,
  numpy,
  pillow,
  scipy,
  pytest,
  writableTmpDirAsHomeHook,
}:
let
  inherit (torch) cudaCapabilities cudaPackages cudaSupport;
  facts = pin.torchvision;
  pname = "torchvision";
  version = facts.version;
in
buildPythonPackage {
  format = "setuptools";
  inherit pname version;

  stdenv = torch.stdenv;

  src = fetchFromGitHub {
    owner = "pytorch";
    repo = "vision";
    tag = "v${version}";
    inherit (facts) hash;
  };

  patches = map (name: builtins.toFile name "stand-in for nixpkgs' torchvision/${name}\n") facts.patches;

  nativeBuildInputs = [
    libpng
    ninja
    which
  ]
  ++ lib.optionals cudaSupport [ cudaPackages.cuda_nvcc ];

  buildInputs = [
    libjpeg_turbo
    libpng
    torch.cxxdev
  ];

  dependencies = [
    numpy
    pillow
    torch
    scipy
  ];

  env = {
    TORCHVISION_INCLUDE = "${lib.getDev libjpeg_turbo}/include/";
    TORCHVISION_LIBRARY = "${libjpeg_turbo}/lib/";
  }
  // lib.optionalAttrs cudaSupport {
    TORCH_CUDA_ARCH_LIST = lib.concatStringsSep ";" cudaCapabilities;
    FORCE_CUDA = 1;
  };

  doCheck = false;
  pythonImportsCheck = [ "torchvision" ];
  nativeCheckInputs = [
    pytest
    writableTmpDirAsHomeHook
  ];

  meta = {
    description = "PyTorch vision library";
    homepage = "https://pytorch.org/";
    license = lib.licenses.bsd3;
    platforms = lib.platforms.linux ++ lib.optionals (!cudaSupport) lib.platforms.darwin;
  };
}
