"""`python -m mbp ...` is the `mbp` command line."""

import sys

from mbp.cli import main

sys.exit(main())
