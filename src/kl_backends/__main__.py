"""``python -m kl_backends parity`` is ``kl-backends parity``."""

import sys

from kl_backends.cli import main

sys.exit(main())
