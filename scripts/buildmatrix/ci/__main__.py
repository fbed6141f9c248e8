"""``python -m buildmatrix.ci plan``: the workflow's plan step (the command line is :mod:`buildmatrix.cli.ci`)."""

import sys

from ..cli.ci import main

sys.exit(main())
