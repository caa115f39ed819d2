"""The `sandkasten` command: `serve`, `host-build`, `envs`, `integration-tests` and `config-doc`.

Without a subcommand it prints its help and exits 2: serving is never a side effect of typing
the bare command (a daemon started by accident would claim the default directories).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from sandkasten_py import __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sandkasten` console script and of `python -m sandkasten_py`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "host-build":
        from sandkasten_py.hostbuild import main as host_build

        return host_build(argv[1:])
    if argv and argv[0] == "envs":
        from sandkasten_py.envcheck import main as check_environments

        return check_environments(argv[1:])
    if argv and argv[0] == "integration-tests":
        from sandkasten_py.integration import main as integration_tests

        return integration_tests(argv[1:])
    if argv and argv[0] == "config-doc":
        from sandkasten_py.configdoc import main as config_doc

        return config_doc(argv[1:])
    parser = argparse.ArgumentParser(prog="sandkasten", description="Run untrusted code in nsjail behind a REST API.")
    parser.add_argument("--version", action="version", version=f"sandkasten-py {__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the API (configured by CONFIG_PATH and env vars)")
    commands.add_parser("host-build", help="build environment manifests from nix/packages on this host")
    commands.add_parser("envs", help="list environments and check them (conformance program and example)")
    commands.add_parser("integration-tests",
                        help="run the API conformance and security suites against real daemons "
                             "(pytest arguments follow; see `integration-tests --help`)")
    commands.add_parser("config-doc", help="write the configuration reference docs/configuration.md")
    options = parser.parse_args(argv)
    if options.command is None:
        parser.print_help()
        return 2
    return serve()


def serve() -> int:
    """Load the configuration and serve until SIGINT or SIGTERM."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config as HypercornConfig

    from sandkasten_py.api.app import create_app
    from sandkasten_py.config import ConfigError, load_config
    from sandkasten_py.environments import ManifestError
    from sandkasten_py.programs import StoreError
    from sandkasten_py.sandbox import CgroupError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("sandkasten")
    log.info("Starting sandkasten-py v%s", __version__)
    try:
        config = load_config()
        app = create_app(config)
    except (ConfigError, ManifestError, CgroupError, StoreError) as e:
        print(f"sandkasten: {e}", file=sys.stderr)
        return 2
    server = HypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host
    server.bind = [f"{host}:{config.port}"]
    server.accesslog = None
    server.graceful_timeout = 5

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await hypercorn_serve(app, server, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    try:
        asyncio.run(run())
    except OSError as e:  # typically: the port is taken
        print(f"sandkasten: cannot serve on {config.host}:{config.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0
