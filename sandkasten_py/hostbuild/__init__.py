"""The host builder: environments from `nix/packages/<id>/` built with the host's Debian packages."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the host builder CLI (`sandkasten host-build`); returns the exit status."""
    # Imported here so that `description` can be used without loading the builder.
    from sandkasten_py.hostbuild.builder import main as builder_main

    return builder_main(argv)
