"""`python -m sipserver` is `callconnect`."""

import sys

from sipserver.cli import main

sys.exit(main())
