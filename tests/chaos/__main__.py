"""`python -m tests.chaos [--short] [--report FILE]`: what `make chaos` runs."""

import sys

from tests.chaos.run import main

sys.exit(main())
