"""``python -m roadwatch``."""

import sys

from roadwatch.cli import main

sys.exit(main())
