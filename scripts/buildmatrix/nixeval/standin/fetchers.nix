# Fetchers as fixed-output derivations (nothing is downloaded; a build would fetch).
#
# Modelled: the arguments the recipes pass, the hash handling of nixpkgs' fetchers (`hash`
# as SRI or `sha256`; an empty hash means lib.fakeHash, so the first build stops and prints
# the real one), `rev` xor `tag`, and the attributes a fetched source exposes
# (owner, repo, rev, tag, url, fetchSubmodules, outputHash).
{
  lib,
  stdenv,
  traceFetches ? false,
}:
let
  # The fetch walk: one trace line per fetcher call, read by buildmatrix.fetchwalk.
  traced =
    fetcher: id: extra: hash: value:
    if traceFetches then
      builtins.trace ("buildmatrix-fetch " + builtins.toJSON ({ inherit fetcher id hash; } // extra)) value
    else
      value;
  fixedOutput =
    {
      name,
      hash ? "",
      sha256 ? "",
      recursive,
      attrs ? { },
    }:
    let
      h =
        if hash != "" && sha256 != "" then
          throw "fetcher ${name}: give only one of `hash` and `sha256`"
        else if hash != "" then
          { outputHash = hash; }
        else if sha256 != "" then
          {
            outputHash = sha256;
            outputHashAlgo = "sha256";
          }
        else
          { outputHash = lib.fakeHash; };
    in
    derivation (
      attrs
      // h
      // {
        inherit name;
        inherit (stdenv.hostPlatform) system;
        builder = "/bin/sh";
        args = [
          "-c"
          "echo 'stand-in nixpkgs: fetching is not modelled' >&2; exit 1"
        ];
        outputHashMode = if recursive then "recursive" else "flat";
      }
    );

  fetchurl =
    {
      url ? "",
      urls ? [ ],
      name ? baseNameOf (if url != "" then url else builtins.head urls),
      hash ? "",
      sha256 ? "",
      ...
    }:
    traced "fetchurl" (if url != "" then url else builtins.head urls) { } (if hash != "" then hash else sha256) (
      fixedOutput {
        inherit name hash sha256;
        recursive = false;
        attrs = {
          urls = if url != "" then [ url ] else urls;
        };
      }
    );

  fetchzip =
    {
      url ? "",
      urls ? [ ],
      name ? "source",
      hash ? "",
      sha256 ? "",
      ...
    }:
    traced "fetchzip" (if url != "" then url else builtins.head urls) { } (if hash != "" then hash else sha256) (
      fixedOutput {
        inherit name hash sha256;
        recursive = true;
        attrs = {
          urls = if url != "" then [ url ] else urls;
        };
      }
    );

  fetchFromGitHub =
    {
      owner,
      repo,
      rev ? null,
      tag ? null,
      name ? "source",
      hash ? "",
      sha256 ? "",
      fetchSubmodules ? false,
      ...
    }:
    assert lib.assertMsg (
      (rev == null) != (tag == null)
    ) "fetchFromGitHub requires exactly one of `rev` and `tag` (${owner}/${repo})";
    let
      rev' = if tag != null then "refs/tags/${tag}" else rev;
      src = fixedOutput {
        inherit name hash sha256;
        recursive = true;
        attrs = {
          url = "https://github.com/${owner}/${repo}";
          rev = rev';
          fetchSubmodules = fetchSubmodules;
        };
      };
    in
    traced "fetchFromGitHub" "${owner}/${repo}@${if tag != null then tag else rev}" { inherit fetchSubmodules; } (
      if hash != "" then hash else sha256
    ) (
      src
      // {
        inherit
          owner
          repo
          tag
          fetchSubmodules
          ;
        rev = rev';
        gitRepoUrl = "https://github.com/${owner}/${repo}.git";
      }
    );

  fetchpatch =
    {
      url,
      name ? baseNameOf url,
      hash ? "",
      sha256 ? "",
      excludes ? [ ],
      includes ? [ ],
      stripLen ? 0,
      ...
    }:
    traced "fetchpatch" url { } (if hash != "" then hash else sha256) (
      fixedOutput {
        inherit name hash sha256;
        recursive = false;
        attrs = {
          inherit url;
          excludes = builtins.concatStringsSep " " excludes;
          includes = builtins.concatStringsSep " " includes;
          stripLen = toString stripLen;
        };
      }
      // {
        inherit url;
      }
    );
in
{
  inherit
    fetchurl
    fetchzip
    fetchFromGitHub
    fetchpatch
    ;
  fetchFromGitLab = args: fetchFromGitHub (removeAttrs args [ "domain" ]);
  fetchgit =
    {
      url,
      rev ? null,
      tag ? null,
      hash ? "",
      sha256 ? "",
      name ? "source",
      ...
    }:
    traced "fetchgit" "${url}@${if tag != null then tag else toString rev}" { } (if hash != "" then hash else sha256) (
      fixedOutput {
        inherit name hash sha256;
        recursive = true;
        attrs = {
          inherit url;
          rev = if tag != null then "refs/tags/${tag}" else rev;
        };
      }
    );
}
