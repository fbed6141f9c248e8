"""The Nix proof: every generated recipe evaluated by real Nix against the stand-in nixpkgs.

evaluate: the run behind ``nox -s eval`` and ``python -m buildmatrix.nixeval``; run: the
nix-instantiate calls; check: what each recipe's evaluated facts must be; fetchwalk: every fetch
every recipe makes, each with a hash; standin/: the stand-in package set itself (Nix).
"""
