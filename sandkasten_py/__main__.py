"""`python -m sandkasten_py` starts the server, like `sandkasten`."""

import sys

from sandkasten_py.cli import main

sys.exit(main())
