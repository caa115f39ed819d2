"""`python -m sandkasten_py.hostbuild`."""

from __future__ import annotations

from sandkasten_py.hostbuild.builder import main

raise SystemExit(main(prog="python -m sandkasten_py.hostbuild"))
