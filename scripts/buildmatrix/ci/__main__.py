"""``python -m buildmatrix.ci plan``: the workflow's plan step."""

import sys

from .workflow import main

sys.exit(main())
