"""`sandkasten serve`: load the configuration, listen, and serve until SIGINT or SIGTERM.

The listening socket is opened before anything else (directories, cgroups, the app), so that a
port in use is one line and exit status 1, and nothing was claimed for nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys

import msgspec

from sandkasten_py import __version__

DESCRIPTION = """\
Serve the API. The configuration is read from the file named by --config (or the environment
variable CONFIG_PATH; default: config.toml in the working directory), then environment
variables override its keys (PORT=9000, RUN_LIMITS__TIME=20; see docs/configuration.md), then
--host and --port override those. Stops on SIGINT or SIGTERM, letting running jobs finish.
"""


def port_number(text: str) -> int:
    """An argparse type: a TCP port."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {port}")
    return port


def main(argv: list[str]) -> int:
    """`sandkasten serve [--config FILE] [--host HOST] [--port PORT]`."""
    parser = argparse.ArgumentParser(prog="sandkasten serve", description=DESCRIPTION)
    parser.add_argument("--config", metavar="FILE",
                        help="the configuration file, TOML or JSON (default: $CONFIG_PATH or config.toml)")
    parser.add_argument("--host", help="the address to listen on (overrides `host`)")
    parser.add_argument("--port", type=port_number, help="the TCP port to listen on (overrides `port`)")
    options = parser.parse_args(argv)

    from sandkasten_py.api.app import create_app
    from sandkasten_py.config import ConfigError, load_config
    from sandkasten_py.environments import ManifestError
    from sandkasten_py.programs import StoreError
    from sandkasten_py.sandbox import CgroupError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("sandkasten")
    log.info("Starting sandkasten-py v%s", __version__)
    environ = dict(os.environ)
    if options.config is not None:
        environ["CONFIG_PATH"] = options.config
    try:
        config = load_config(environ)
    except ConfigError as e:
        print(f"sandkasten: {e}", file=sys.stderr)
        return 2
    overrides = {key: value for key, value in (("host", options.host), ("port", options.port))
                 if value is not None}
    config = msgspec.structs.replace(config, **overrides)
    try:
        listener = listen(config.host, config.port)
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        print(f"sandkasten: cannot listen on {config.host}:{config.port}: {reason} "
              "(another process has it? choose another with --port or PORT)", file=sys.stderr)
        return 1
    try:
        app = create_app(config)
    except (ConfigError, ManifestError, CgroupError, StoreError) as e:
        listener.close()
        print(f"sandkasten: {e}", file=sys.stderr)
        return 2
    log.info("Listening on http://%s:%d (API documentation at /docs)",
             f"[{config.host}]" if ":" in config.host else config.host, listener.getsockname()[1])
    asyncio.run(_serve(app, listener.detach()))  # hypercorn owns the descriptor from here on
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (IPv6 when the host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024)


async def _serve(app: object, listener_fd: int) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config as HypercornConfig

    server = HypercornConfig()
    server.bind = [f"fd://{listener_fd}"]
    server.accesslog = None
    server.graceful_timeout = 5
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await hypercorn_serve(app, server, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
