"""``python -m lance_spiral.cli``: the same as the ``lance-spiral`` command."""

import sys

from lance_spiral.cli.main import main

sys.exit(main())
