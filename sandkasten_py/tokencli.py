"""`sandkasten token`: issue a token (JWT) for the daemon configured in `CONFIG_PATH`.

Signed with `auth.secret_file` (HS256), or with `--private-key` (an Ed25519 PEM, EdDSA) whose
public key is the daemon's `auth.public_key_file`. Prints the token; exit status 2 on an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from sandkasten_py.api.auth import issue
from sandkasten_py.config import ConfigError, load_config
from sandkasten_py.schemas import LimitsOpt

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """`90`, `15m`, `12h`, `30d` as seconds (argparse type)."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in UNITS else (text, "s")
    try:
        seconds = int(number) * UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 3600, 15m, 12h, 30d)") from None
    if seconds < 1:
        raise argparse.ArgumentTypeError("must be at least a second")
    return seconds


def limits(text: str) -> dict[str, object]:
    """`time=5,memory=128` as limits (argparse type), checked like a request's."""
    values: dict[str, object] = {}
    for part in filter(None, text.split(",")):
        name, equals, value = part.partition("=")
        if not equals:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {part!r}")
        values[name.strip()] = value.strip().lower() == "true" if name.strip() == "network" else int(value)
    try:
        msgspec.convert(values, LimitsOpt)
    except (msgspec.ValidationError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return values


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sandkasten token", description=__doc__.split("\n\n")[0])
    parser.add_argument("subject", help="who the token is for (a label in /metrics)")
    parser.add_argument("--expires-in", type=duration, default=duration("30d"), metavar="DURATION",
                        help="how long it is valid (default 30d)")
    parser.add_argument("--run-limits", type=limits, metavar="NAME=N,...", help="maxima of its runs")
    parser.add_argument("--compile-limits", type=limits, metavar="NAME=N,...", help="maxima of its builds")
    parser.add_argument("--rate", type=int, metavar="PER_MINUTE", help="requests per minute")
    parser.add_argument("--burst", type=int, default=1, help="requests at once within the rate (default 1)")
    parser.add_argument("--concurrency", type=int, metavar="N", help="requests in progress at once")
    parser.add_argument("--private-key", metavar="PEM", help="sign with this Ed25519 key (EdDSA)")
    options = parser.parse_args(argv)
    extra: dict[str, object] = {}
    token_limits = {k: v for k, v in (("compile", options.compile_limits), ("run", options.run_limits)) if v}
    if token_limits:
        extra["limits"] = token_limits
    if options.rate is not None:
        extra["rate"] = {"per_minute": options.rate, "burst": options.burst}
    if options.concurrency is not None:
        extra["concurrency"] = options.concurrency
    try:
        settings = load_config().auth
        private_key = Path(options.private_key).read_bytes() if options.private_key else None
        print(issue(settings, options.subject, options.expires_in, extra, private_key))
    except (ConfigError, OSError, ValueError) as e:
        print(f"sandkasten token: {e}", file=sys.stderr)
        return 2
    return 0
