"""``python -m nablab``: the same as the ``nablab`` command."""

import sys

from nablab.cli import main

sys.exit(main())
