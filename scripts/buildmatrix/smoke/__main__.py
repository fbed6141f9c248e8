"""``python -m buildmatrix.smoke``."""

import sys

from .run import main

sys.exit(main())
