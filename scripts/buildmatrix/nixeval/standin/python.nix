# Python interpreters, their package sets and buildPythonPackage
# (pkgs/development/interpreters/python/{passthrufun,mk-python-derivation}.nix,
# pkgs/top-level/python-packages.nix, python-aliases.nix).
#
# Modelled:
# - `pythonXY.pkgs` = `pythonXYPackages`: a fixed point of the package definitions, then the
#   python aliases, then every entry of the top-level `pythonPackagesExtensions` (in order),
#   then `packageOverrides`; `pythonXY.override { packageOverrides = …; }` and
#   `pythonXYPackages.override { overrides = …; }` replace the last layer, as in nixpkgs;
# - callPackage in a set sees the set first, then the top-level packages;
# - buildPythonPackage: name "python3.13-<pname>-<version>" computed from the final attributes
#   (an overrideAttrs that changes pname or version changes the name), `dependencies` become
#   propagated inputs, passthru gets pythonModule; `stdenv` given as an attribute or through
#   `buildPythonPackage.override { stdenv = …; }`;
# - aliases: `pytorch` (and friends) throw "'pytorch' has been renamed to/replaced by 'torch'"
#   unless config.allowAliases = false, which removes them.
{
  lib,
  final,
  pin,
}:
let
  mkBuildPythonPackage =
    python:
    lib.makeOverridable (
      {
        stdenv ? python.stdenv,
      }:
      fnOrAttrs:
      let
        chosenStdenv = if lib.isAttrs fnOrAttrs then fnOrAttrs.stdenv or stdenv else stdenv;
        pythonOnly = [
          "stdenv"
          "dependencies"
          "build-system"
          "optional-dependencies"
          "disabled"
          "pyproject"
          "format"
          "doCheck"
          "nativeCheckInputs"
          "checkInputs"
          "pythonRelaxDeps"
          "pythonRemoveDeps"
        ];
      in
      chosenStdenv.mkDerivation (
        finalAttrs:
        let
          attrs = lib.toFunction fnOrAttrs finalAttrs;
        in
        if attrs.disabled or false then
          throw "${attrs.pname} not supported for interpreter ${python.executable}"
        else
          removeAttrs attrs pythonOnly
          // {
            name = "${python.libPrefix}-" + (attrs.name or "${finalAttrs.pname}-${finalAttrs.version}");
            nativeBuildInputs = [ python ] ++ attrs.nativeBuildInputs or [ ] ++ attrs.build-system or [ ];
            buildInputs = attrs.buildInputs or [ ];
            propagatedBuildInputs = attrs.dependencies or [ ] ++ attrs.propagatedBuildInputs or [ ] ++ [ python ];
            doCheck = false;
            doInstallCheck = attrs.doCheck or true;
            passthru = {
              disabled = false;
              pythonModule = python;
            }
            // attrs.passthru or { };
            meta = {
              platforms = python.meta.platforms;
            }
            // attrs.meta or { };
          }
      )
    ) { };

  pyLeaf =
    self: pname: version:
    self.buildPythonPackage {
      inherit pname version;
      src = final.fetchurl {
        url = "https://stand-in.invalid/pypi/${pname}-${version}.tar.gz";
        sha256 = builtins.hashString "sha256" "stand-in ${pname} ${version}";
      };
      meta.license = lib.licenses.mit;
    };

  # The definitions of python-packages.nix the recipes need.
  packages =
    python: self:
    let
      leaf = pyLeaf self;
    in
    {
      inherit python;
      callPackage = lib.callPackageWith (final // self);
      buildPythonPackage = mkBuildPythonPackage python;
      pythonOlder = lib.versionOlder python.pythonVersion;
      pythonAtLeast = lib.versionAtLeast python.pythonVersion;
      isPy3k = true;

      torch = self.callPackage (import ./torch.nix pin) { };
      torchWithCuda = self.torch.override {
        cudaSupport = true;
        rocmSupport = false;
      };
      torchWithoutCuda = self.torch.override { cudaSupport = false; };
      torchvision = self.callPackage (import ./torchvision.nix pin) { };
      torchaudio = self.callPackage (import ./torchaudio.nix pin) { };

      triton = leaf "triton" "3.5.0";
      triton-cuda = leaf "triton-cuda" "3.5.0";
      astunparse = leaf "astunparse" "1.6.3";
      expecttest = leaf "expecttest" "0.3.0";
      filelock = leaf "filelock" "3.20.0";
      fsspec = leaf "fsspec" "2025.9.0";
      hypothesis = leaf "hypothesis" "6.140.0";
      jinja2 = leaf "jinja2" "3.1.6";
      networkx = leaf "networkx" "3.5";
      packaging = leaf "packaging" "25.0";
      psutil = leaf "psutil" "7.1.0";
      pyyaml = leaf "pyyaml" "6.0.3";
      requests = leaf "requests" "2.32.5";
      sympy = leaf "sympy" "1.14.0";
      types-dataclasses = leaf "types-dataclasses" "0.6.6";
      typing-extensions = leaf "typing-extensions" "4.15.0";
      pillow = leaf "pillow" "11.3.0";
      six = leaf "six" "1.17.0";
      tensorboard = leaf "tensorboard" "2.20.0";
      protobuf = leaf "protobuf" "6.32.1";
      numpy = leaf "numpy" "2.3.3";
      scipy = leaf "scipy" "1.16.2";
      pytest = leaf "pytest" "8.4.2";
      pybind11 = leaf "pybind11" "3.0.1";
      ninja = leaf "ninja" "1.13.0";
      setuptools = leaf "setuptools" "80.9.0";
    };

  # python-aliases.nix: renamed attributes throw (allowAliases) or are absent.
  aliases =
    self: super:
    let
      renamed = old: new: throw "'${old}' has been renamed to/replaced by '${new}'";
    in
    lib.optionalAttrs final.config.allowAliases {
      pytorch = renamed "pytorch" "torch";
      pytorch-bin = renamed "pytorch-bin" "torch-bin";
      pytorchWithCuda = renamed "pytorchWithCuda" "torchWithCuda";
      pytorchWithoutCuda = renamed "pytorchWithoutCuda" "torchWithoutCuda";
    };

  # passthrufun.nix: the package set of one interpreter, overridable in `overrides`.
  mkPackageSet = lib.makeOverridable (
    {
      pkgs,
      stdenv,
      python,
      overrides,
    }:
    let
      extensions = lib.composeManyExtensions (
        lib.throwIfNot (builtins.all lib.isFunction pkgs.pythonPackagesExtensions)
          "pythonPackagesExtensions must be a list of functions (pyFinal: pyPrev: { … })"
          [ aliases ]
        ++ pkgs.pythonPackagesExtensions
        ++ [ overrides ]
      );
    in
    lib.fix (lib.extends extensions (packages python))
  );

  mkPython =
    pythonVersion:
    lib.makeOverridable (
      {
        packageOverrides ? (_: _: { }),
      }:
      let
        self = final.stdenv.mkDerivation {
          pname = "python3";
          version = pythonVersion;
          passthru = {
            inherit pythonVersion;
            libPrefix = "python${pythonVersion}";
            executable = "python${pythonVersion}";
            interpreter = "${self}/bin/python${pythonVersion}";
            sitePackages = "lib/python${pythonVersion}/site-packages";
            isPy3k = true;
            pythonOnBuildForHost = self;
            inherit (final) stdenv;
            pkgs = mkPackageSet {
              pkgs = final;
              inherit (final) stdenv;
              python = self;
              overrides = packageOverrides;
            };
          };
          meta = {
            license = lib.licenses.psfl;
            platforms = lib.platforms.all;
          };
        };
      in
      self
    ) { };

  attrOf = v: "python" + builtins.replaceStrings [ "." ] [ "" ] v;
  # Optional `python.versionOf` (no pin states it; tests/test_pin_facts.py does, in a copy):
  # interpreter attribute -> the minor it really is, for a tree whose pythonXY is not X.Y.
  interpreters = lib.genAttrs (map attrOf pin.python.versions) (
    attr:
    mkPython (
      pin.python.versionOf.${attr}
        or (lib.findFirst (v: attrOf v == attr) (throw "unreachable") pin.python.versions)
    )
  );
in
interpreters
// lib.listToAttrs (
  map (v: {
    name = "${attrOf v}Packages";
    value = lib.recurseIntoAttrs final.${attrOf v}.pkgs;
  }) pin.python.versions
)
// {
  python3 = final.${attrOf pin.python.python3};
  python3Packages = lib.recurseIntoAttrs final.python3.pkgs;
  pythonPackagesExtensions = [ ];
}
