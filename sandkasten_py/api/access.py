"""One log line per HTTP request (`access_log`), and the response counter of the metrics.

A plain ASGI middleware around the whole app, so that it sees every answer, the envelope's
404s and 405s included: `127.0.0.1 POST /run 200 41.3 ms`.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandkasten_py.metrics import Metrics

log = logging.getLogger("sandkasten.access")


class AccessLog:
    """Logs each request with its status and duration (if `enabled`) and counts its status."""

    def __init__(self, app: ASGIApp, metrics: Metrics, enabled: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app fails before it answers, the server answers 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.response(status)
            if self.enabled:
                client = scope.get("client") or ("-", 0)
                log.info("%s %s %s %d %.1f ms", client[0], scope["method"], scope["path"], status,
                         (time.perf_counter() - started) * 1000)
