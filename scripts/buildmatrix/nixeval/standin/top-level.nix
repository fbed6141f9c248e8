# The stand-in's top level: what `import <nixpkgs> { config; overlays; }` returns.
#
# Modelled (pkgs/top-level/{impure,default,stage}.nix, config.nix):
# - the arguments nixpkgs takes (localSystem / system, crossSystem, config, overlays, …; others
#   are accepted and ignored, as nixpkgs' `...` does); cross compilation is not modelled;
# - config: the options the recipes and these packages read, with nixpkgs' defaults and a
#   type check for booleans (a wrong type fails like the module system's check);
# - overlays: a list of functions `final: prev: { … }`, applied in order on top of the
#   package set, `final` being the fixed point;
# - per pin (pins.nix): which cudaPackages_<X_Y> sets and aliases exist, the default
#   `cudaPackages`, the Python interpreters and python3, torch / torchvision / torchaudio / magma facts.
{
  pin,
  defaultSystem,
  traceFetches ? false,
}:
{
  localSystem ? {
    system =
      if args ? system then
        args.system
      else if defaultSystem != null then
        defaultSystem
      else
        builtins.currentSystem;
  },
  system ? localSystem.system,
  crossSystem ? localSystem,
  config ? { },
  overlays ? [ ],
  crossOverlays ? [ ],
  ...
}@args:
let
  lib = import ./lib.nix;

  configDefaults = {
    allowUnfree = false;
    allowBroken = false;
    allowUnsupportedSystem = false;
    allowAliases = true;
    cudaSupport = false;
    rocmSupport = false;
    cudaForwardCompat = true;
  };
  config' =
    let
      given =
        if lib.isAttrs config then
          config
        else
          throw "stand-in nixpkgs: `config` must be an attribute set (a function is not modelled)";
      merged = configDefaults // given;
      badBool = lib.filter (n: !(builtins.isBool merged.${n})) (builtins.attrNames configDefaults);
    in
    if badBool != [ ] then
      throw "A definition for option `${builtins.head badBool}' is not of type `boolean'."
    else
      merged;

  hostSystem = if crossSystem != localSystem then throw "stand-in nixpkgs: cross compilation is not modelled" else system;

  stdenvLib = import ./stdenv.nix {
    inherit lib;
    config = config';
  };

  checkedOverlays =
    lib.throwIfNot (builtins.isList overlays) "The overlays argument to nixpkgs must be a list."
      (
        map (
          o: lib.throwIfNot (lib.isFunction o) "All overlays passed to nixpkgs must be functions." o
        ) overlays
      );

  cudaAttr = v: "cudaPackages_" + builtins.replaceStrings [ "." ] [ "_" ] v;
  # Optional (no pin states it; tests/test_pin_facts.py does, in a copy): attribute -> the CUDA
  # release it really is, for a tree whose cudaPackages_X_Y or alias is not what its name says.
  releaseOf = pin.cuda.releaseOf or { };

  # all-packages.nix, reduced to what torch, torchvision, torchaudio and magma take.
  allPackages =
    final:
    let
      inherit (final) stdenv;
      leaf =
        pname: version:
        stdenv.mkDerivation {
          inherit pname version;
          meta.license = lib.licenses.mit;
        };
      fetchers = import ./fetchers.nix { inherit lib stdenv traceFetches; };
      python = import ./python.nix { inherit lib final pin; };
      mkCuda =
        v:
        import ./cuda.nix {
          inherit lib pin stdenv;
          config = final.config;
          cudaMajorMinorVersion = v;
        };
      unknownAlias =
        name:
        throw "stand-in nixpkgs ${pin.short}: fact unknown: does ${name} exist here, and which CUDA release is it? Record it in scripts/buildmatrix/nixeval/standin/pins.nix.";
    in
    fetchers
    // python
    // {
      inherit lib;
      config = config';
      path = ./.;
      system = hostSystem;
      # Stand-in only: the facts this package set was made from.
      standinPin = pin;

      stdenv = stdenvLib.mkStdenv {
        system = hostSystem;
        name = "stdenv-" + (if (stdenvLib.platformOf hostSystem).isDarwin then "darwin" else "linux");
        ccName = "gcc-wrapper";
      };
      callPackage = lib.callPackageWith final;
      newScope = extra: lib.callPackageWith (final // extra);
      targetPackages = final;

      runCommand = name: env: script: leaf name "0";
      writeShellScript = name: text: leaf name "0";
      writeShellApplication = args: leaf args.name "0";
      symlinkJoin = args: leaf args.name "0";
      darwinMinVersionHook = version: leaf "darwin-min-version-hook" version;

      git-unroll = leaf "git-unroll" "0";
      autoAddDriverRunpath = leaf "auto-add-driver-runpath-hook" "0";
      autoPatchelfHook = leaf "auto-patchelf-hook" "0";
      writableTmpDirAsHomeHook = leaf "writable-tmpdir-as-home-hook" "0";
      removeReferencesTo = leaf "remove-references-to" "0";
      cmake = leaf "cmake" "3.31.7";
      ninja = leaf "ninja" "1.13.1";
      which = leaf "which" "2.23";
      pkg-config = leaf "pkg-config-wrapper" "0.29.2";
      perl = leaf "perl" "5.40.0";
      binutils = leaf "binutils-wrapper" "2.44";
      openssl = leaf "openssl" "3.5.4";
      numactl = leaf "numactl" "2.0.18";
      libpthreadstubs = leaf "libpthread-stubs" "0.5";
      libjpeg_turbo = leaf "libjpeg-turbo" "3.1.2";
      libpng = leaf "libpng" "1.6.50";
      sox = leaf "sox" "14.4.2";
      # ffmpeg_6-full's outputs torchaudio joins into FFMPEG_ROOT (one leaf stands for all three).
      ffmpeg_6-full =
        let
          ff = leaf "ffmpeg-full" "6.1.2";
        in
        ff
        // {
          bin = ff;
          dev = ff;
          lib = ff;
        };
      shaderc = leaf "shaderc" "2025.3";
      vulkan-headers = leaf "vulkan-headers" "1.4.321";
      vulkan-loader = leaf "vulkan-loader" "1.4.321";
      mpi = leaf "openmpi" "5.0.8";
      gfortran = leaf "gfortran-wrapper" "14.3.0" // {
        cc = leaf "gfortran" "14.3.0";
      };
      llvmPackages = {
        openmp = leaf "openmp" "19.1.7";
      };
      openblas = leaf "openblas" "0.3.30";
      blas = leaf "blas" "3" // {
        provider = final.openblas;
      };
      lapack = leaf "lapack" "3" // {
        provider = final.openblas;
      };
      rocmPackages = {
        clr = leaf "clr" "6.4.3" // {
          gpuTargets = [
            "gfx908"
            "gfx90a"
            "gfx942"
          ];
        };
      };

      magma = final.callPackage (import ./magma.nix pin) { };
      magma-cuda = final.magma.override {
        cudaSupport = true;
        rocmSupport = false;
      };
      magma-cuda-static = final.magma-cuda.override { static = true; };
      magma-hip = final.magma.override {
        cudaSupport = false;
        rocmSupport = true;
      };
    }
    // lib.listToAttrs (
      map (v: {
        name = cudaAttr v;
        value = lib.recurseIntoAttrs (mkCuda (releaseOf.${cudaAttr v} or v));
      }) pin.cuda.sets
    )
    // builtins.mapAttrs (
      name: v:
      if releaseOf ? ${name} then
        lib.recurseIntoAttrs (mkCuda releaseOf.${name})
      else if v == null then
        unknownAlias name
      else
        final.${cudaAttr v}
    ) pin.cuda.aliases
    // builtins.mapAttrs (name: version: leaf name version) (pin.darwin.appleSdks or { });

  pkgs = lib.fix (lib.foldl' (acc: overlay: lib.extends overlay acc) allPackages checkedOverlays);
in
pkgs
