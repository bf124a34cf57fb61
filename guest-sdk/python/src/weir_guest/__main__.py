"""`python -m weir_guest`: the same as the `weir-guest` command."""

import sys

from weir_guest.build import main

sys.exit(main())
