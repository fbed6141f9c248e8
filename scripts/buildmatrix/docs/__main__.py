"""``python -m buildmatrix.docs [--check]``: `invoke docs` without invoke."""

import sys

from ..cli.generate import cmd_docs

sys.exit(cmd_docs(".", "variants.toml", "--check" in sys.argv[1:]))
