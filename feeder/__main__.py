"""``python -m feeder`` is the ``feeder`` command."""

import sys

from feeder.cli import main

sys.exit(main())
