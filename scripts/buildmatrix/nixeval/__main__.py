"""``python -m buildmatrix.nixeval`` (the command line is :mod:`buildmatrix.cli.nixeval`)."""

import sys

from ..cli.nixeval import main

sys.exit(main())
