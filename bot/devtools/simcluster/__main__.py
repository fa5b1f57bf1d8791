"""`python -m bot.devtools.simcluster`: serve the simulated cluster until SIGINT/SIGTERM."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
