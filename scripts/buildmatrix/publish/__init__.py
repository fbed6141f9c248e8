"""Publishing built variants: to a Flox catalog (plain or under the anchor's names) and to binary caches.

plain: ``invoke publish`` behind its guards; anchor: ``--as-anchor``; push: ``invoke push`` (``nix copy``).
"""
