"""``python -m replicast``."""

import sys

from replicast.cli import main

sys.exit(main())
