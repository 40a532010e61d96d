"""``python -m unifer.commands …``: the ``unifer`` command (what ``accelerate launch -m`` needs)."""

import sys

from unifer.commands import main

sys.exit(main())
