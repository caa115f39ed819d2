"""The `sandkasten` command: one subcommand per module, each with its own options and --help.

Without a subcommand it prints its help and exits 2: serving is never a side effect of typing
the bare command (a daemon started by accident would claim the default directories).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sandkasten_py import __version__

# subcommand -> (module with `main(argv) -> int`, one line of help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("sandkasten_py.serve", "serve the API (--config, --host, --port)"),
    "run": ("sandkasten_py.runcli", "run local files through a sandkasten server"),
    "envs": ("sandkasten_py.envcheck", "list environments, or check them (conformance program and example)"),
    "host-build": ("sandkasten_py.hostbuild", "build environment manifests from nix/packages on this host"),
    "integration-tests": ("sandkasten_py.integration",
                          "run the API conformance and security suites against real daemons"),
    "token": ("sandkasten_py.tokencli", "issue a token (JWT) signed with the configured key"),
    "config-doc": ("sandkasten_py.configdoc",
                   "write the generated docs: docs/configuration.md and the README's tables"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sandkasten` console script and of `python -m sandkasten_py`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
        status: int = module.main(argv[1:])
        return status
    parser = argparse.ArgumentParser(
        prog="sandkasten", description="Compile and run untrusted programs in nsjail behind a REST API. "
                                       "Every subcommand has its own --help.")
    parser.add_argument("--version", action="version", version=f"sandkasten-py {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        commands.add_parser(name, help=help_text)
    options = parser.parse_args(argv)
    assert options.command is None  # a subcommand would have been dispatched above
    parser.print_help()
    return 2
