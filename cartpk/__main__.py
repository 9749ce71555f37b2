"""``python -m cartpk``."""

import sys

from cartpk.cli import main

sys.exit(main())
