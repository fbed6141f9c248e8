# What the stand-in knows about each pinned nixpkgs revision, keyed by the full rev.
#
# Sources: docs/pins.md (one heading per fact, with its status and public evidence), compiled
# from nixpkgs' sources and the build-pytorch / build-torchvision history.
# These facts are written here on purpose and NOT read from variants.toml, so that a wrong
# fact in variants.toml makes a recipe fail against the stand-in.
#
# `null` marks a fact nobody has settled: the stand-in throws when evaluation reaches it
# ("fact unknown: …") instead of guessing. Settle it from the pinned tree, then record it.
let
  # Default capability lists of each CUDA release, non-Jetson (docs/pins.md#cuda-defaults, computed from
  # _cuda/db/bootstrap/cuda.nix): what flags.cudaCapabilities is when config does not set it.
  defaults = {
    "12.6" = [
      "7.5"
      "8.0"
      "8.6"
      "8.9"
      "9.0"
    ];
    "12.8" = [
      "7.5"
      "8.0"
      "8.6"
      "8.9"
      "9.0"
      "10.0"
      "12.0"
    ];
    "12.9" = defaults13;
    "13.0" = defaults13;
    "13.1" = defaults13;
  };
  defaults13 = [
    "7.5"
    "8.0"
    "8.6"
    "8.9"
    "9.0"
    "10.0"
    "10.3"
    "12.0"
    "12.1"
  ];

  # torch 2.9.1 (source build), as in nixpkgs from late 2025 to ~Feb 2026 (docs/pins.md#torch-cuda-majors).
  torch291 = {
    version = "2.9.1";
    # nixpkgs' own patches, with the condition under which its expression adds each
    # (torch/source/default.nix @6b516b42: clang19 always, two with CUDA, one on Linux, one with MKL).
    patches = [
      {
        name = "clang19-template-warning.patch";
        when = "always";
      }
      {
        name = "fix-cmake-cuda-toolkit.patch";
        when = "cuda";
      }
      {
        name = "nvtx3-hpp-path-fix.patch";
        when = "cuda";
      }
      {
        name = "pytorch-pr-108847.patch";
        when = "linux";
      }
      {
        name = "disable-cmake-mkl-rpath.patch";
        when = "mkl";
      }
    ];
    # brokenConditions "Unsupported CUDA version": cudaMajorVersion must be one of these.
    supportedCudaMajors = [
      "11"
      "12"
    ];
    # The copy of torch's cpp_extension allowlist in nixpkgs' torch 2.9.1 expression
    # (taken from torch 2.8.0; "10.0" is listed twice there, and so here).
    supportedCapabilities = [
      "3.5"
      "3.7"
      "5.0"
      "5.2"
      "5.3"
      "6.0"
      "6.1"
      "6.2"
      "7.0"
      "7.2"
      "7.5"
      "8.0"
      "8.6"
      "8.7"
      "8.9"
      "9.0"
      "9.0a"
      "10.0"
      "10.0"
      "10.0a"
      "10.1"
      "10.1a"
      "10.3"
      "10.3a"
      "12.0"
      "12.0a"
      "12.1"
      "12.1a"
    ];
  };

  # torchvision paired with torch 2.9.1 (nixpkgs' torchvision/default.nix 0.24.1, whose hash
  # is below; a build-torchvision result on 6a030d5 is named …-0.24.1).
  torchvision0241 = {
    version = "0.24.1";
    hash = "sha256-ddJWD2xjoNAuyZIaZD7ctcuSQZ9lSUGExWCq1W5prI8=";
    # nixpkgs' torchvision 0.24.1 applies no patches of its own.
    patches = [ ];
  };

  # torchaudio paired with torch 2.9.1: nixpkgs' torchaudio/default.nix 2.9.1 (stored id
  # 111861165: its tag hash and its one patch). That these three revs package exactly this
  # expression is inferred from their torch 2.9.1 (0182a36: "most likely", PF:59-60).
  torchaudio291 = {
    version = "2.9.1";
    hash = "sha256-tTilG/haU3OycSWqA5LR3egcxHVRg/yHJ8JB2rz3aKw=";
    patches = [ "0001-setup.py-propagate-cmakeFlags.patch" ];
  };

  # torchaudio paired with torch 2.8.0 (fe5e41d). Its version is the anchor's claim
  # (docs/pins.md#fe5e41d-versions). Its expression: NOT FOUND for 2.8.0 (the code corpus has nixpkgs torchaudio
  # default.nix at 2.7.1, id 35274588741, and 2.9.1, id 111861165, but no 2.8.0; docs/pins.md#fe5e41d-versions
  # searched `version = "2.8.0"` too). Assumed: the expression of its neighbours, which agree on
  # what the recipes rest on (the one patch, TORCH_CUDA_ARCH_LIST from torch.cudaCapabilities).
  # hash = null: no hash of the v2.8.0 tag is on record, so the fetch carries a stand-in hash.
  torchaudio280 = {
    version = "2.8.0";
    hash = null;
    patches = [ "0001-setup.py-propagate-cmakeFlags.patch" ];
  };

  # torch 2.8.0 (fe5e41d, the 2.8 line). Its version: docs/pins.md#fe5e41d-versions. supportedCudaMajors:
  # ["11" "12"] in both neighbours, 2.7.1 and 2.9.1 (docs/pins.md#torch-cuda-majors). supportedCapabilities:
  # the 2.9.1 expression's list is the one "taken from torch 2.8.0" (above). patches: NOT FOUND for
  # 2.8.0; assumed to be 2.9.1's set. No recipe of this line decides on them (no source override),
  # so only the stand-in's torch derivation depends on this assumption.
  torch280 = torch291 // {
    version = "2.8.0";
  };

  # torchvision paired with torch 2.8.0 (nixpkgs-style torchvision 0.23.0, stored id 134217287:
  # fetchFromGitHub tag, hash below; no patches of its own there).
  torchvision0230 = {
    version = "0.23.0";
    hash = "sha256-BfGTq9BsmO5TtQrDED35aaT9quleZ9rcr/81ShfvCbQ=";
    patches = [ ];
  };

  # Apple SDK attributes (name -> SDK version): nixpkgs PR #447364 (merged 2025-09-30) made
  # 14.4 the default `apple-sdk` and moved 11.3/12.3/13.3 to aliases.nix.
  appleSdks2026 = {
    apple-sdk = "14.4";
    apple-sdk_14 = "14.4";
  };

  # Citations shared by the three 2026 pins: docs/pins.md, by heading.
  citeTorch291 = {
    torch = "docs/pins.md#0182a36-torch (torch 2.9.1: build-vllm 6e05100 eval at 0182a36, build-pytorch f7b60e9); nixpkgs torch/source/default.nix @6b516b42";
    "torch.supportedCudaMajors" = "nixpkgs torch/source/default.nix @6b516b42 brokenConditions (docs/pins.md#torch-cuda-majors)";
    "torch.supportedCapabilities" = "nixpkgs torch/source/default.nix @6b516b42 supportedTorchCudaCapabilities";
    "torch.patches" = "nixpkgs torch/source/default.nix @6b516b42 patches (docs/pins.md#nixpkgs-torch-patches)";
    torchvision = "docs/pins.md#0182a36-torchvision (0.24.1 INFERRED, strong: #484881 lists 0.24.1 as current on 2026-01-28; the 0.24.0 of a README is prose); nixpkgs torchvision/default.nix 0.24.1 (stored id 986423962: hash, no patches)";
    torchaudio = "issue-15-research.md §2 (2.9.1 at 0182a36 'most likely', PF:59-60, not verified; 6a030d5 / 2017d6d inferred from torch 2.9.1); nixpkgs torchaudio/default.nix 2.9.1 (stored id 111861165: hash SINGLE-SOURCE, PF:165-168; patches)";
    python = "docs/pins.md#0182a36-python (bv PYTORCH-PIN-ALIGNMENT.md: python3 = 3.13); python311/312Packages used at these pins by bv/bp recipes";
    "cuda.defaults" = "docs/pins.md#cuda-defaults (defaults computed from _cuda/db/bootstrap/cuda.nix @55d5788)";
    "magma.version" = "docs/pins.md#magma-cuda-13-fix (nixpkgs packages MAGMA 2.9.0 through 2026)";
    darwin = "nixpkgs PR #447364 (apple-sdk: darwinSdkVersion 14.4, merged 2025-09-30; issues corpus)";
  };

  # Python interpreters (python3 = python313 since nixos-25.05).
  pythons = {
    versions = [
      "3.11"
      "3.12"
      "3.13"
    ];
    python3 = "3.13";
  };
in
{
  # build-vllm/main pin; torch 2.9.1 natively, cudaPackages_13_0 used by the 2.9-python313
  # branch on it (docs/pins.md#anchor-branches).
  "0182a361324364ae3f436a63005877674cf45efb" = {
    short = "0182a36";
    python = pythons;
    torch = torch291;
    torchvision = torchvision0241;
    torchaudio = torchaudio291;
    cuda = {
      inherit defaults;
      # cudaPackages_<X_Y> attributes that exist at this rev (12.6/12.8: inferred, present in
      # nixpkgs throughout 2025-2026).
      sets = [
        "12.6"
        "12.8"
        "12.9"
        "13.0"
      ];
      # Aliases: attribute -> CUDA version; null = not known at this rev. The 12.8 default is
      # inferred: "cudaPackages[_12]: 12.8 -> 12.9" (#498861) came after every pin (docs/pins.md#cuda-defaults).
      aliases = {
        cudaPackages = "12.8";
        cudaPackages_12 = "12.8";
        cudaPackages_13 = null;
      };
    };
    magma = {
      version = "2.9.0";
      # Whether magma's own patches include fix-cuda13-compat.patch (nixpkgs PR #487064, opened
      # 2026-02-04): probably (the PR predates this 2026-02-17 channel head and is in 2017d6d; the
      # anchor builds CUDA 13.0 here without a MAGMA patch). Not verified at this rev.
      carriesCuda13ClockRateFix = true;
    };
    darwin.appleSdks = appleSdks2026;
    cite = citeTorch291 // {
      short = "the rev itself";
      "cuda.sets" = "docs/pins.md#0182a36-cuda (12.8/12.9 bv/bp overlays; 13.0 bp c9e35a0); 12.6 inferred (docs/pins.md#cuda-defaults)";
      "cuda.aliases" = "docs/pins.md#0182a36-cuda (default 12.8 INFERRED, docs/pins.md#cuda-defaults: #498861 12.8 -> 12.9 opened 2026-03-11, after every pin; cudaPackages_13 NOT FOUND: 13.0 at the older 6a030d5, and cudaPackages_13_1 (PR #486717, 2026-02-03) may be here, so left unknown; the CUDA 13.0 recipes name cudaPackages_13_0, as bp c9e35a0 does)";
      "magma.carriesCuda13ClockRateFix" = "docs/pins.md#0182a36-magma (PROBABLY PRESENT, not verified: PR #487064 opened 2026-02-04, merged, in 2017d6d; bp c9e35a0 builds CUDA 13.0 on this pin 'with no magma patches'); ASSUMED true, as variants.toml [pin.nixpkgs-0182a36] carries";
    };
  };

  # The 2.8 line's pin: torch 2.8.0, torchvision 0.23.0, CUDA 12.8 overlaid (docs/pins.md#fe5e41d-versions).
  "fe5e41d7ffc0421f0913e8472ce6238ed0daf8e3" = {
    short = "fe5e41d";
    python = pythons;
    torch = torch280;
    torchvision = torchvision0230;
    torchaudio = torchaudio280;
    cuda = {
      inherit defaults;
      # cudaPackages_12_8 is what the anchor's recipes overlay (docs/pins.md#fe5e41d-cuda); 12.6 inferred.
      sets = [
        "12.6"
        "12.8"
      ];
      # The default: CUDA 12.8, as build-torchvision main (no overlay) claims (docs/pins.md#fe5e41d-cuda).
      aliases = {
        cudaPackages = "12.8";
        cudaPackages_12 = "12.8";
        cudaPackages_13 = null;
      };
    };
    magma = {
      version = "2.9.0";
      # The pin predates nixpkgs PR #487064 (docs/pins.md#fe5e41d-magma, inferred from dates).
      carriesCuda13ClockRateFix = false;
    };
    darwin.appleSdks = appleSdks2026;
    cite = citeTorch291 // {
      short = "the rev itself";
      torch = "docs/pins.md#fe5e41d-versions (btv 6eee380: PyTorch 2.8.0; SINGLE-SOURCE)";
      "torch.patches" = "NOT FOUND for 2.8.0: assumed equal to 2.9.1's (nixpkgs torch/source/default.nix @6b516b42)";
      torchvision = "docs/pins.md#fe5e41d-versions (btv 6eee380: TorchVision 0.23.0); nixpkgs-style torchvision 0.23.0 (id 134217287: hash, no patches)";
      torchaudio = "docs/pins.md#fe5e41d-versions (bp recipe comments 'PyTorch 2.8.0 and TorchAudio 2.8.0 are compatible', ids 59325421868, 59112719374; SINGLE-SOURCE CLAIM); expression NOT FOUND for 2.8.0: ASSUMED equal to nixpkgs torchaudio 2.7.1 (id 35274588741) and 2.9.1 (id 111861165), which agree on its patch; hash NOT FOUND (stand-in hash)";
      python = "docs/pins.md#fe5e41d-python (python311/312/313Packages used by bp pytorch-2.8-python311/312, main)";
      "cuda.sets" = "docs/pins.md#fe5e41d-cuda (cudaPackages_12_8 overlay, id 53118720781); 12.6 inferred";
      "cuda.aliases" = "docs/pins.md#fe5e41d-cuda (btv README: 12.8 default, CLAIM; build-torchvision main uses it without an overlay)";
      "magma.carriesCuda13ClockRateFix" = "docs/pins.md#fe5e41d-magma (predates PR #487064; inferred from dates)";
      darwin = "inferred: apple-sdk_14 exists in 2025-2026 nixpkgs (PR #447364); rev date NOT FOUND";
    };
  };

  # The 2.9 line's pin for Python 3.11/3.12 (build-vllm vllm-0.14.0): torch 2.9.1, CUDA 12.8 and
  # 12.9 overlaid (docs/pins.md#46336d4-versions).
  "46336d4d6980ae6f136b45c8507b17787eb186a0" = {
    short = "46336d4";
    python = pythons;
    torch = torch291;
    torchvision = torchvision0241;
    cuda = {
      inherit defaults;
      sets = [
        "12.6"
        "12.8"
        "12.9"
      ];
      # The 12.9 default is inferred, as for 0182a36 (6a030d5, older, already defaults to 12.9).
      aliases = {
        cudaPackages = "12.8";
        cudaPackages_12 = "12.8";
        cudaPackages_13 = null;
      };
    };
    magma = {
      version = "2.9.0";
      carriesCuda13ClockRateFix = null;
    };
    darwin.appleSdks = appleSdks2026;
    cite = citeTorch291 // {
      short = "the rev itself";
      torch = "docs/pins.md#46336d4-versions (bp 975e456, bv README vllm-0.14.x | 46336d4 | 2.9.1; SINGLE-SOURCE)";
      torchvision = "NOT FOUND at this rev (docs/pins.md#46336d4-versions); 0.24.1 inferred as for 0182a36 (§1.3)";
      python = "docs/pins.md#46336d4-versions (python311Packages / python312Packages used, ids 52491276552, 53148647953)";
      "cuda.sets" = "docs/pins.md#46336d4-cuda (cuDNN/NCCL for cudaPackages_12_8 and _12_9, bp 975e456); 12.6 inferred";
      "cuda.aliases" = "docs/pins.md#cuda-defaults (default 12.8 INFERRED: #498861 12.8 -> 12.9 opened 2026-03-11, after every pin)";
      "magma.carriesCuda13ClockRateFix" = "NOT FOUND (only matters with CUDA 13, which this pin does not build)";
    };
  };

  # CUDA 13.0 / CPU / darwin pin of the 2.10 line: torch 2.9.1, torchvision 0.24.x, "CUDA 12.9
  # by default", has cudaPackages_13 (CUDA 13.0), torch with CUDA 13 is marked broken, and its
  # magma lacks the clockRate fix, which the anchor recipes had to add (docs/pins.md#6a030d5-magma).
  "6a030d535719c5190187c4cec156f335e95e3211" = {
    short = "6a030d5";
    python = pythons;
    torch = torch291;
    torchvision = torchvision0241;
    torchaudio = torchaudio291;
    cuda = {
      inherit defaults;
      sets = [
        "12.6"
        "12.8"
        "12.9"
        "13.0"
      ];
      aliases = {
        cudaPackages = "12.8";
        cudaPackages_12 = "12.8";
        cudaPackages_13 = "13.0";
      };
    };
    magma = {
      version = "2.9.0";
      carriesCuda13ClockRateFix = false;
    };
    darwin.appleSdks = appleSdks2026;
    cite = citeTorch291 // {
      short = "the rev itself";
      "cuda.sets" = "docs/pins.md#6a030d5-cuda (12.9 default bp 022313e; cudaPackages_13 recipes ids 5738456904, 5653889207); 12.6/12.8/13_0 names inferred";
      "cuda.aliases" = "docs/pins.md#6a030d5-cuda (default 12.8 INFERRED, docs/pins.md#cuda-defaults: bp 022313e's 12.9 was reverted in 19a5b84; cudaPackages_13 = 13.0 per the anchor's cuda13_0 recipes)";
      "magma.carriesCuda13ClockRateFix" = "docs/pins.md#6a030d5-magma (anchor recipes add 235aefb and build; pin predates PR #487064)";
    };
  };

  # CUDA 13.1 pin: has cudaPackages_13_1, and its magma already applies fix-cuda13-compat.patch
  # (upstream commit 235aefb…): adding the same fix again failed with "Reversed (or previously
  # applied) patch" (docs/pins.md#2017d6d-magma, commits d395449 / 5eb7080). torch: the anchor recipes still needed
  # the 2.10.0 source override and allowBroken here, i.e. torch 2.9.1 with CUDA 13 broken.
  "2017d6d515f8a7b289fe06d3a880a7ec588c3900" = {
    short = "2017d6d";
    python = pythons;
    torch = torch291;
    torchvision = torchvision0241;
    torchaudio = torchaudio291;
    cuda = {
      inherit defaults;
      sets = [
        "12.6"
        "12.8"
        "12.9"
        "13.0"
        "13.1"
      ];
      # The 12.9 default is inferred, as for 0182a36.
      aliases = {
        cudaPackages = "12.8";
        cudaPackages_12 = "12.8";
        # 13.0 or 13.1 at this rev: not known.
        cudaPackages_13 = null;
      };
    };
    magma = {
      version = "2.9.0";
      carriesCuda13ClockRateFix = true;
    };
    darwin.appleSdks = appleSdks2026;
    cite = citeTorch291 // {
      short = "the rev itself";
      torch = "docs/pins.md#2017d6d-torch (recipes override 2.9.1 -> 2.10.0, id 59095126227; SINGLE-SOURCE)";
      "cuda.sets" = "docs/pins.md#2017d6d-cuda (cudaPackages_13_1: PR #486717 + 60 bp / 52 btv recipes, VERIFIED); others inferred";
      "cuda.aliases" = "docs/pins.md#2017d6d-cuda (default 12.8 INFERRED, docs/pins.md#cuda-defaults)";
      "magma.carriesCuda13ClockRateFix" = "docs/pins.md#2017d6d-magma (bp d395449 'already applied' build failure + PR #487064, VERIFIED)";
    };
  };
}
