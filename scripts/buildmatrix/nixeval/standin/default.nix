# Stand-in nixpkgs: a small package set that models, for one pinned nixpkgs revision, the
# interfaces the generated recipes use (see README.md). It is called like
#
#   import ./scripts/buildmatrix/nixeval/standin { rev = "<full nixpkgs rev>"; system = "x86_64-linux"; }
#
# which gives what `import <nixpkgs>` gives: a function of { config, overlays, … } returning
# the package set. A directory whose default.nix is that expression can be passed wherever a
# nixpkgs source tree is expected (the recipes' `buildmatrixNixpkgs`).
# `system` is the evaluating machine's system (builtins.currentSystem when null).
# `traceFetches`: every fetcher call prints `trace: buildmatrix-fetch {json}` (the fetch walk).
{
  rev,
  system ? null,
  traceFetches ? false,
}:
let
  pins = import ./pins.nix;
  pin =
    pins.${rev}
      or (throw "stand-in nixpkgs: no facts for nixpkgs rev ${rev}; known: ${toString (builtins.attrNames pins)}");
in
import ./top-level.nix {
  inherit pin traceFetches;
  defaultSystem = system;
}
