"""``python -m buildmatrix.smoke`` (the command line is :mod:`buildmatrix.cli.smoke`)."""

import sys

from ..cli.smoke import main

sys.exit(main())
