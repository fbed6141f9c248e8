# stdenv and `stdenv.mkDerivation`, with the semantics the recipes rely on
# (pkgs/stdenv/generic/make-derivation.nix, check-meta.nix, lib.extendDerivation):
#
# - `mkDerivation attrs` or `mkDerivation (finalAttrs: attrs)`;
# - `overrideAttrs (old: { … })` or `overrideAttrs (final: prev: { … })`: `old`/`prev` are the
#   attributes given to mkDerivation so far, the result is made again from `old // new`,
#   attributes computed from `finalAttrs` (such as a Python package's `name`) follow;
# - `passthru` is not part of the derivation but visible on it (and on each output);
# - `env` becomes environment variables of the derivation (attributes of the result);
# - `name` defaults to "<pname>-<version>";
# - meta checks when the derivation is used (drvPath/outPath): unfree license needs
#   config.allowUnfree, meta.broken needs config.allowBroken, the host platform must be in
#   meta.platforms unless config.allowUnsupportedSystem; `meta.available` tells without failing.
#
# Derivations are real `derivation`s with a builder that only fails: `nix-instantiate` gives
# real .drv paths, nothing can be built.
{ lib, config }:
let
  inherit (lib)
    any
    concatStringsSep
    elem
    filter
    isList
    ;

  platformOf =
    system:
    let
      parts = lib.splitString "-" system;
      cpu = builtins.head parts;
      kernel = builtins.elemAt parts 1;
    in
    {
      inherit system;
      config = "${cpu}-${if kernel == "darwin" then "apple-darwin" else "unknown-linux-gnu"}";
      isLinux = kernel == "linux";
      isDarwin = kernel == "darwin";
      isAarch64 = cpu == "aarch64";
      isx86_64 = cpu == "x86_64";
      isStatic = false;
    };

  # Applies the derivation's `__standinAssertions` (build steps the stand-in knows to fail)
  # and nixpkgs' meta checks; `true` or a throw.
  validity =
    hostPlatform: name: meta: assertions:
    let
      licenses =
        if isList (meta.license or [ ]) then meta.license or [ ] else [ meta.license ];
      unfree = any (l: !(l.free or true)) licenses;
      broken = meta.broken or false;
      platforms = meta.platforms or lib.platforms.all;
      unsupported = !(elem hostPlatform.system platforms);
      failed = filter (a: !a.assertion) assertions;
      problem =
        if unfree && !config.allowUnfree then
          "Package ‘${name}’ has an unfree license (‘${
            concatStringsSep "’, ‘" (map (l: l.shortName or "unknown") licenses)
          }’), refusing to evaluate. (set config.allowUnfree = true)"
        else if broken && !config.allowBroken then
          "Package ‘${name}’ is marked as broken, refusing to evaluate. (set config.allowBroken = true)"
        else if unsupported && !config.allowUnsupportedSystem then
          "Package ‘${name}’ is not available on the requested hostPlatform:\n"
          + "  hostPlatform.system = \"${hostPlatform.system}\"\n"
          + "  package.meta.platforms = [ ${concatStringsSep " " (map (p: "\"${p}\"") platforms)} ]"
        else if failed != [ ] then
          "Package ‘${name}’ (stand-in build model): ${(builtins.head failed).message}"
        else
          null;
    in
    {
      available = problem == null;
      checked = if problem == null then true else throw problem;
    };

  mkStdenv =
    {
      system,
      name,
      ccName,
      extraAttrs ? { },
    }:
    let
      hostPlatform = platformOf system;
      raw = derivation {
        inherit name system;
        builder = "/bin/sh";
        args = [
          "-c"
          "echo 'stand-in nixpkgs: this derivation is for evaluation only' >&2; exit 1"
        ];
      };
      cc = derivation {
        inherit system;
        name = ccName;
        builder = "/bin/sh";
      };
      self =
        raw
        // {
          inherit hostPlatform;
          buildPlatform = hostPlatform;
          targetPlatform = hostPlatform;
          inherit (hostPlatform) isLinux isDarwin;
          cc = cc // {
            isClang = hostPlatform.isDarwin;
            isGNU = !hostPlatform.isDarwin;
            targetPrefix = "";
          };
          mkDerivation = mkDerivationWith self;
          override = args: mkStdenv ({ inherit system name ccName extraAttrs; } // args);
        }
        // extraAttrs;
    in
    self;

  # Attributes that configure mkDerivation but are not part of the derivation.
  notInDerivation = [
    "meta"
    "passthru"
    "env"
    "finalPackage"
    "__standinAssertions"
  ];

  mkDerivationWith =
    stdenv: fpargs:
    let
      rattrs0 = if lib.isFunction fpargs then fpargs else (_: fpargs);
    in
    extensible stdenv rattrs0;

  extensible =
    stdenv: rattrs:
    let
      args = rattrs (args // { inherit finalPackage; });
      overrideAttrs =
        f0:
        let
          # `old: { … }` or `final: prev: { … }`, as nixpkgs accepts both.
          layer =
            self: super:
            let
              x = f0 super;
            in
            if lib.isFunction x then f0 self super else x;
        in
        extensible stdenv (
          self:
          let
            super = rattrs self;
          in
          super // (if lib.isFunction f0 then layer self super else f0)
        );
      finalPackage = makeDerivation stdenv overrideAttrs args;
    in
    finalPackage;

  makeDerivation =
    stdenv: overrideAttrs: attrs:
    let
      hostPlatform = stdenv.hostPlatform;
      name =
        attrs.name or (
          if attrs ? pname && attrs ? version then
            "${attrs.pname}-${attrs.version}"
          else
            throw "stand-in mkDerivation: give `name` or both `pname` and `version`"
        );
      outputs = attrs.outputs or [ "out" ];
      passthru = attrs.passthru or { };
      env = attrs.env or { };
      structured = attrs.__structuredAttrs or false;
      meta0 = attrs.meta or { };
      valid = validity hostPlatform name meta0 (attrs.__standinAssertions or [ ]);
      meta = meta0 // {
        inherit name;
        inherit (valid) available;
        broken = meta0.broken or false;
      };
      drvArgs =
        removeAttrs attrs notInDerivation
        // (if structured then { inherit env; } else env)
        // {
          inherit name outputs stdenv;
          system = hostPlatform.system;
          builder = "/bin/sh";
          args = [
            "-c"
            "echo 'stand-in nixpkgs: ${name} is for evaluation only' >&2; exit 1"
          ];
        };
      drv = derivation drvArgs;
      checkedDrvPath = assert valid.checked; drv.drvPath;
      outputAttrs = map (outputName: {
        name = outputName;
        value = common // {
          inherit outputName;
          type = "derivation";
          outputSpecified = true;
          drvPath = checkedDrvPath;
          outPath = assert valid.checked; drv.${outputName}.outPath;
        };
      }) outputs;
      common =
        drv
        // builtins.listToAttrs outputAttrs
        // {
          all = map (o: o.value) outputAttrs;
        }
        // passthru
        // {
          inherit meta passthru overrideAttrs;
        };
    in
    common
    // {
      drvPath = checkedDrvPath;
      outPath = assert valid.checked; drv.outPath;
    };
in
{
  inherit mkStdenv platformOf notInDerivation;
}
