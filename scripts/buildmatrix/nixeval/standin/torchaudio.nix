# python3Packages.torchaudio: a model of nixpkgs' pkgs/development/python-modules/torchaudio/default.nix
# (2.9.1, the version paired with these pins' torch 2.9.1; the stored nixpkgs-style expression
# read for it is id 111861165, the 2.10.0 ones are ids 1492192706 and 52281873396 — issue-15
# research note §2). At fe5e41d it stands for torchaudio 2.8.0, whose expression is not on
# record: the 2.7.1 one (id 35274588741) and 2.9.1 agree on everything modelled here (pins.nix).
#
# Faithful where the recipes depend on it:
# - `torch` is a formal argument (`.override { torch = …; }`), the formal arguments are the
#   real ones (no `...`); cudaSupport and rocmSupport default to torch's;
# - env.TORCH_CUDA_ARCH_LIST = torch.cudaCapabilities joined with ";" (unconditionally, as in
#   2.9.1: empty for a torch without CUDA) — so a torch whose passthru.cudaCapabilities is the
#   config default makes torchaudio build for every default architecture;
# - nixpkgs' own patch `0001-setup.py-propagate-cmakeFlags.patch` (all three versions read);
# - BUILD_SOX / BUILD_KALDI / BUILD_RNNT / BUILD_CTC_DECODER = 0, dontUseCmakeConfigure,
#   doCheck = false; FFMPEG_ROOT a symlinkJoin of ffmpeg_6-full's bin/dev/lib;
# - stdenv = torch.stdenv; torch.cxxdev is a build input, torch a dependency;
# - meta.platforms = linux, plus darwin without CUDA and ROCm.
# Not modelled: the ROCm toolkit join and PYTORCH_ROCM_ARCH (ROCm is argument plumbing here).
pin:
{
  lib,
  symlinkJoin,
  buildPythonPackage,
  fetchFromGitHub,
  fetchpatch,
  cmake,
  pkg-config,
  ninja,
  ffmpeg_6-full,
  pybind11,
  sox,
  torch,
  llvmPackages,
  cudaSupport ? torch.cudaSupport,
  cudaPackages,
  rocmSupport ? torch.rocmSupport,
  rocmPackages,
  gpuTargets ? [ ],
}:
let
  facts =
    pin.torchaudio or null;
  known =
    if facts == null then
      throw "stand-in nixpkgs ${pin.short}: fact unknown: which torchaudio does this rev package? Record it in scripts/buildmatrix/nixeval/standin/pins.nix."
    else
      facts;
in
buildPythonPackage rec {
  pname = "torchaudio";
  version = known.version;
  pyproject = true;

  stdenv = torch.stdenv;

  src = fetchFromGitHub (
    {
      owner = "pytorch";
      repo = "audio";
      tag = "v${version}";
    }
    // (
      # A version whose tag hash nobody recorded (pins.nix: hash = null) gets a stand-in hash, as torch's.
      if known.hash == null then
        { sha256 = builtins.hashString "sha256" "stand-in pytorch/audio v${version}"; }
      else
        { inherit (known) hash; }
    )
  );

  patches = map (name: builtins.toFile name "stand-in for nixpkgs' torchaudio/${name}\n") known.patches;

  env = {
    TORCH_CUDA_ARCH_LIST = "${lib.concatStringsSep ";" torch.cudaCapabilities}";
  };

  FFMPEG_ROOT = symlinkJoin {
    name = "ffmpeg";
    paths = [
      ffmpeg_6-full.bin
      ffmpeg_6-full.dev
      ffmpeg_6-full.lib
    ];
  };

  nativeBuildInputs = [
    cmake
    pkg-config
    ninja
  ]
  ++ lib.optionals cudaSupport [ cudaPackages.cuda_nvcc ];

  buildInputs = [
    ffmpeg_6-full
    pybind11
    sox
    torch.cxxdev
  ]
  ++ lib.optionals stdenv.cc.isClang [ llvmPackages.openmp ];

  dependencies = [ torch ];

  BUILD_SOX = 0;
  BUILD_KALDI = 0;
  BUILD_RNNT = 0;
  BUILD_CTC_DECODER = 0;

  preConfigure = lib.optionalString rocmSupport ''
    export PYTORCH_ROCM_ARCH="${lib.concatStringsSep ";" gpuTargets}"
  '';

  dontUseCmakeConfigure = true;

  doCheck = false; # requires sox backend

  pythonImportsCheck = [ "torchaudio" ];

  meta = {
    description = "PyTorch audio library";
    homepage = "https://pytorch.org/";
    license = lib.licenses.bsd2;
    platforms = lib.platforms.linux ++ lib.optionals (!cudaSupport && !rocmSupport) lib.platforms.darwin;
  };
}
