"""``python -m zslabel.cli``: the ``zslabel`` command without the installed script."""

import sys

from zslabel.cli import main

sys.exit(main())
