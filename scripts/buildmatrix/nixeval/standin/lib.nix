# The part of nixpkgs' `lib` that the recipes and this stand-in use.
#
# Written for the stand-in, with the semantics of nixpkgs' lib (lib/fixed-points.nix,
# lib/customisation.nix, lib/lists.nix, lib/strings.nix, lib/attrsets.nix): same names,
# same argument order, same results. Only what is needed is here.
let
  inherit (builtins)
    attrNames
    concatStringsSep
    elem
    filter
    foldl'
    head
    isAttrs
    isList
    length
    listToAttrs
    mapAttrs
    removeAttrs
    ;

  # Functions and functors (attribute sets with __functor), as lib.isFunction / lib.functionArgs.
  isFunction = f: builtins.isFunction f || (f ? __functor && isFunction (f.__functor f));
  functionArgs =
    f:
    if f ? __functor then
      f.__functionArgs or (functionArgs (f.__functor f))
    else
      builtins.functionArgs f;

  lib = rec {
    inherit
      attrNames
      concatStringsSep
      elem
      filter
      foldl'
      functionArgs
      head
      isAttrs
      isFunction
      isList
      length
      listToAttrs
      mapAttrs
      removeAttrs
      ;
    inherit (builtins)
      attrValues
      baseNameOf
      elemAt
      hasAttr
      intersectAttrs
      map
      match
      replaceStrings
      split
      toString
      typeOf
      ;

    id = x: x;
    flip =
      f: a: b:
      f b a;
    const = x: _: x;

    # --- fixed points and extensions (lib/fixed-points.nix) -------------------------
    fix =
      f:
      let
        x = f x;
      in
      x;

    # `extends overlay f`: the overlay sees `final` (the fixed point) and `prev` (f's result).
    extends =
      overlay: f: final:
      let
        prev = f final;
      in
      prev // overlay final prev;

    composeExtensions =
      f: g: final: prev:
      let
        fApplied = f final prev;
        prev' = prev // fApplied;
      in
      fApplied // g final prev';

    composeManyExtensions = foldl' (acc: ext: composeExtensions acc ext) (final: prev: { });

    toFunction = v: if isFunction v then v else (_: v);

    # --- function arguments and overriding (lib/trivial.nix, lib/customisation.nix) ---
    setFunctionArgs = f: args: {
      __functor = _self: f;
      __functionArgs = args;
    };
    mirrorFunctionArgs =
      f:
      let
        fArgs = functionArgs f;
      in
      g: setFunctionArgs g fArgs;

    # Like nixpkgs' makeOverridable: `override` re-calls `f` with changed arguments (an
    # argument `f` does not declare fails, as `f` has no `...`), and an `overrideAttrs` on
    # the result is kept across a later `override` (it is re-applied to the new result).
    makeOverridable =
      f:
      let
        withArgsOf = mirrorFunctionArgs f;
      in
      withArgsOf (
        origArgs:
        let
          result = f origArgs;
          argsWith = newArgs: origArgs // (if isFunction newArgs then newArgs origArgs else newArgs);
          override = withArgsOf (newArgs: makeOverridable f (argsWith newArgs));
          # Apply `g` to f's result, in a way a later `override` replays.
          mapResult = g: makeOverridable (withArgsOf (args: g (f args))) origArgs;
        in
        if isAttrs result then
          result
          // {
            inherit override;
          }
          // (if result ? overrideAttrs then { overrideAttrs = fattrs: mapResult (x: x.overrideAttrs fattrs); } else { })
        else if isFunction result then
          setFunctionArgs result (functionArgs result) // { inherit override; }
        else
          result
      );

    # Like lib.callPackageWith: arguments the function declares are taken from `autoArgs`
    # unless given; a declared argument without default that nobody provides is an error.
    callPackageWith =
      autoArgs: fn: args:
      let
        f = if isFunction fn then fn else import fn;
        fargs = functionArgs f;
        allArgs = builtins.intersectAttrs fargs autoArgs // args;
        missing = filter (n: !fargs.${n} && !(allArgs ? ${n})) (attrNames fargs);
      in
      if missing == [ ] then
        makeOverridable f allArgs
      else
        throw "stand-in callPackage: function called without required argument '${head missing}'";

    # A package set with `callPackage`, `newScope`, `overrideScope` (lib.makeScope).
    makeScope =
      newScope: f:
      let
        self = f self // {
          newScope = scope: newScope (self // scope);
          callPackage = self.newScope { };
          overrideScope = g: makeScope newScope (extends g f);
          packages = f;
        };
      in
      self;

    # --- lists -------------------------------------------------------------------------
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    # intersectLists e: the elements of the SECOND list that are in `e` (nixpkgs order).
    intersectLists = e: filter (x: elem x e);
    subtractLists = e: filter (x: !(elem x e));
    any = builtins.any;
    all = builtins.all;
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    last = xs: builtins.elemAt xs (length xs - 1);
    count = pred: xs: length (filter pred xs);
    concatMap = builtins.concatMap;
    flatten = x: if isList x then builtins.concatMap flatten x else [ x ];
    findFirst =
      pred: default: xs:
      let
        found = filter pred xs;
      in
      if found == [ ] then default else head found;

    # --- strings -------------------------------------------------------------------------
    optionalString = cond: s: if cond then s else "";
    concatMapStringsSep =
      sep: f: xs:
      concatStringsSep sep (map f xs);
    hasPrefix = pre: s: builtins.substring 0 (builtins.stringLength pre) s == pre;
    hasSuffix =
      suf: s:
      let
        ls = builtins.stringLength s;
        lsuf = builtins.stringLength suf;
      in
      ls >= lsuf && builtins.substring (ls - lsuf) lsuf s == suf;
    hasInfix = infix: s: builtins.length (builtins.split (escapeRegex infix) s) > 1;
    escapeRegex =
      let
        special = lib.stringToCharacters "\\[]{}().*+?^$|";
      in
      builtins.replaceStrings special (map (c: "\\" + c) special);
    stringToCharacters = s: builtins.genList (i: builtins.substring i 1 s) (builtins.stringLength s);
    removePrefix = pre: s: if hasPrefix pre s then builtins.substring (builtins.stringLength pre) (-1) s else s;
    splitString = sep: s: filter builtins.isString (builtins.split (escapeRegex sep) s);
    versionOlder = a: b: builtins.compareVersions a b < 0;
    versionAtLeast = a: b: !(versionOlder a b);
    versions = {
      major = v: builtins.elemAt (builtins.splitVersion v) 0;
      minor = v: builtins.elemAt (builtins.splitVersion v) 1;
      majorMinor = v: "${versions.major v}.${versions.minor v}";
    };
    cmakeFeature = name: value: "-D${name}=${value}";
    cmakeBool = name: value: "-D${name}=${if value then "ON" else "OFF"}";
    strings = {
      inherit
        cmakeBool
        cmakeFeature
        concatStringsSep
        optionalString
        ;
    };

    # --- attribute sets -------------------------------------------------------------------
    optionalAttrs = cond: as: if cond then as else { };
    filterAttrs =
      pred: set:
      listToAttrs (
        map (name: {
          inherit name;
          value = set.${name};
        }) (filter (name: pred name set.${name}) (attrNames set))
      );
    genAttrs =
      names: f:
      listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    isDerivation = v: isAttrs v && (v.type or null) == "derivation";
    recurseIntoAttrs = as: as // { recurseForDerivations = true; };
    attrsets = {
      inherit filterAttrs optionalAttrs;
    };
    lists = {
      inherit
        intersectLists
        subtractLists
        optionals
        unique
        ;
      map = builtins.map;
    };

    # --- derivations ---------------------------------------------------------------------
    getOutput = output: pkg: if pkg ? outputSpecified && pkg.outputSpecified then pkg else pkg.${output} or pkg;
    getDev = getOutput "dev";
    getLib = getOutput "lib";
    getBin = getOutput "bin";
    getName = x: (builtins.parseDrvName (x.name or x)).name;
    getExe = x: "${getBin x}/bin/${x.meta.mainProgram or (getName x)}";
    getExe' = x: y: "${getBin x}/bin/${y}";

    # --- errors and warnings --------------------------------------------------------------
    assertMsg = pred: msg: pred || throw msg;
    throwIf = cond: msg: if cond then throw msg else id;
    throwIfNot = cond: msg: if cond then id else throw msg;
    warnIf = cond: msg: if cond then builtins.trace "evaluation warning: ${msg}" else id;
    trivial = {
      inherit id throwIf warnIf;
    };

    # --- meta helpers -----------------------------------------------------------------------
    licenses = {
      bsd2 = {
        shortName = "bsd2";
        free = true;
      };
      bsd3 = {
        shortName = "bsd3";
        free = true;
      };
      mit = {
        shortName = "mit";
        free = true;
      };
      asl20 = {
        shortName = "asl20";
        free = true;
      };
      psfl = {
        shortName = "psfl";
        free = true;
      };
      unfree = {
        shortName = "unfree";
        free = false;
      };
      nvidiaCuda = {
        shortName = "nvidiaCuda";
        free = false;
      };
    };
    platforms = rec {
      linux = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      darwin = [
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      unix = linux ++ darwin;
      all = unix;
    };
    maintainers = { };
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    fakeSha256 = "0000000000000000000000000000000000000000000000000000";
  };
in
lib
