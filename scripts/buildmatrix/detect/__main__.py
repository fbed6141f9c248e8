"""``python -m buildmatrix.detect`` (the command line is :mod:`buildmatrix.cli.detect`)."""

import sys

from ..cli.detect import main

sys.exit(main())
