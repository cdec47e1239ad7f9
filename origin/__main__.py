from __future__ import annotations

import sys

from origin.cli import main

sys.exit(main())
