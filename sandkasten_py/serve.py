"""`sandkasten serve`: load the configuration, listen, and serve until SIGINT or SIGTERM.

The listening socket is opened before anything else (directories, cgroups, the app), so that a
port in use is one line and exit status 1, and nothing was claimed for nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import socket
import sys

import msgspec

from sandkasten_py import __version__

SWITCH_INTERVAL_S = 0.0005

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
    # Everything made so far (modules, environments, the app) lives as long as the daemon:
    # keep it out of the garbage collector's full collections, which would otherwise walk it
    # all, holding the event loop for tens of milliseconds.
    gc.freeze()
    # A worker thread running Python code keeps the GIL for up to this long when the event loop
    # wants it back (CPython's default is 5 ms); the loop should not wait that long.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    log.info("Listening on http://%s:%d (API documentation at /docs)",
             f"[{config.host}]" if ":" in config.host else config.host, listener.getsockname()[1])
    asyncio.run(_serve(app, listener.detach(), config.slow_callback_ms))  # hypercorn owns the fd now
    return 0


def watch_slow_callbacks(loop: asyncio.AbstractEventLoop, milliseconds: int) -> None:
    """Debug mode: asyncio logs (logger `asyncio`, WARNING) "Executing <callback> took N
    seconds" for every callback that holds `loop` longer than `milliseconds`."""
    loop.set_debug(True)
    loop.slow_callback_duration = milliseconds / 1000
    logging.getLogger("sandkasten").info(
        "Event loop in debug mode: callbacks blocking it longer than %d ms are logged", milliseconds)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (IPv6 when the host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024)


async def _serve(app: object, listener_fd: int, slow_callback_ms: int) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config as HypercornConfig

    if slow_callback_ms > 0:
        watch_slow_callbacks(asyncio.get_running_loop(), slow_callback_ms)

    server = HypercornConfig()
    server.bind = [f"fd://{listener_fd}"]
    server.accesslog = None
    server.graceful_timeout = 5
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await hypercorn_serve(app, server, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
