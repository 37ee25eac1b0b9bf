"""``python -m kl_backends parity`` is ``kl-backends parity``."""

import sys

from kl_backends.parity.cli import main

sys.exit(main())
