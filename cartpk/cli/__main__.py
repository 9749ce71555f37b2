"""``python -m cartpk.cli``."""

import sys

from cartpk.cli import main

sys.exit(main())
