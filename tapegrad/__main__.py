"""``python -m tapegrad``: the ``tapegrad`` command."""

import sys

from .cli import main

sys.exit(main())
