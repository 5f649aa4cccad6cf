"""``python -m dynfer`` is the ``dynfer`` command."""

import sys

from dynfer.cli import main

sys.exit(main())
