"""The interactive API docs (`/docs`, `/redoc`) in a real headless Chromium (chromium.py).

Each page must render every operation of the OpenAPI document, and nothing it loads may come from
another origin. Screenshots are saved to `tests/artifacts/`.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import Daemon
from tests.browser.chromium import ARTIFACTS, RENDER_TIMEOUT_S, Browser, browser, needs_chromium

pytestmark = needs_chromium
__all__ = ["browser"]  # the fixture, used by name

# The API's operations; the test also checks that this list is the OpenAPI document's.
OPERATIONS = {
    ("get", "/config"),
    ("get", "/environments"),
    ("get", "/environments/{name}/resource_usage"),
    ("post", "/run"),
    ("post", "/programs"),
    ("post", "/programs/{program_id}/run"),
    ("post", "/programs/{program_id}/batch"),
    ("post", "/batch"),
    ("post", "/pipelines"),
    ("get", "/programs/{program_id}/artifacts"),
    ("get", "/programs/{program_id}/artifacts/{name}"),
}


def _documented_operations(daemon: Daemon) -> list[tuple[str, str, str]]:
    """(method, path, summary) of every operation of the daemon's OpenAPI document."""
    document = daemon.get("/openapi.json").json()
    return [(method, path, operation["summary"])
            for path, methods in document["paths"].items()
            for method, operation in methods.items()]


def _wait_for_text(browser: Browser, needles: list[str]) -> list[str]:
    """Wait until the DOM's text contains every needle; the ones still missing at the timeout."""
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    while True:
        text = browser.script("return document.body ? document.body.textContent : '';")
        missing = [needle for needle in needles if needle not in text]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.25)


def _foreign_requests(browser: Browser, origin: str) -> list[str]:
    """Network URLs the page loaded, or tried to, from another origin than its own.

    Two sources: the page's Resource Timing entries, and the `Network.requestWillBeSent` events of
    the DevTools log. A request that the page's Content-Security-Policy blocked never left the
    browser (`Network.loadingFailed` with a `blockedReason`), though Chromium still gives it a
    Resource Timing entry (ReDoc's logo from cdn.redoc.ly is one), so it does not count.
    Browser-internal schemes (`data:`, `blob:`, `chrome:` ...) do not count either.
    """
    def foreign(url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss", "ftp"):
            return False
        return f"{parts.scheme}://{parts.netloc}" != origin

    timing: list[str] = browser.script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e => e.name));")
    sent: dict[str, str] = {}
    blocked: set[str] = set()
    for event in browser.performance_log():
        params = event.get("params", {})
        if event.get("method") == "Network.requestWillBeSent":
            sent[params["requestId"]] = params["request"]["url"]
        elif event.get("method") == "Network.loadingFailed" and params.get("blockedReason"):
            blocked.add(params["requestId"])
    left = {url for request_id, url in sent.items() if request_id not in blocked}
    blocked_urls = {sent[request_id] for request_id in blocked if request_id in sent} - left
    left |= set(timing) - blocked_urls
    return sorted(url for url in left if foreign(url))


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_docs_page_renders_every_operation(daemon: Daemon, browser: Browser, page: str) -> None:
    operations = _documented_operations(daemon)
    assert {(method, path) for method, path, _ in operations} == OPERATIONS
    browser.performance_log()  # drop the events of earlier pages
    browser.open(f"{daemon.url}/{page}")
    needles = [text for _, path, summary in operations for text in (path, summary)]
    missing = _wait_for_text(browser, needles)
    browser.screenshot(ARTIFACTS / f"{page}.png")
    assert not missing, f"/{page} did not render within {RENDER_TIMEOUT_S} s: {missing}"
    if page == "docs":
        # Swagger UI: one operation block per operation, with its method and path.
        rendered = browser.script(
            "return Array.from(document.querySelectorAll('.opblock')).map(b => ["
            "  b.querySelector('.opblock-summary-method').textContent.toLowerCase(),"
            "  b.querySelector('.opblock-summary-path').getAttribute('data-path')]);")
    else:
        # ReDoc: one entry per operation in the side menu, with its method badge and summary.
        rendered = browser.script(
            "return Array.from(document.querySelectorAll('li[data-item-id] > label'))"
            "  .filter(l => l.querySelector('.operation-type'))"
            "  .map(l => [l.querySelector('.operation-type').textContent.trim(),"
            "             l.textContent.trim()]);")
        by_summary = {summary: (method, path) for method, path, summary in operations}
        rendered = [by_summary[next(s for s in by_summary if s in text)] for _, text in rendered
                    if any(s in text for s in by_summary)]
    assert sorted(map(tuple, rendered)) == sorted(OPERATIONS)
    assert _foreign_requests(browser, daemon.url) == []
