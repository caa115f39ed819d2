"""The interactive API docs (`/docs`, `/redoc`) in a real headless Chromium.

Chromium is driven through ChromeDriver's W3C WebDriver HTTP API with `requests`, so no browser
automation library (and no browser download) is needed: only Debian's `chromium` and
`chromium-driver`. Each page must render every operation of the OpenAPI document, and nothing it
loads may come from another origin. Screenshots are saved to `tests/artifacts/`.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from conftest import ROOT, Daemon, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = ROOT / "tests" / "artifacts"
RENDER_TIMEOUT_S = 60

# The API's operations; the test also checks that this list is the OpenAPI document's.
OPERATIONS = {
    ("get", "/config"),
    ("get", "/environments"),
    ("get", "/environments/{name}/resource_usage"),
    ("post", "/run"),
    ("post", "/programs"),
    ("post", "/programs/{program_id}/run"),
    ("get", "/programs/{program_id}/artifacts"),
    ("get", "/programs/{program_id}/artifacts/{name}"),
}

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--no-default-browser-check", "--window-size=1280,1600",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


class Browser:
    """A WebDriver session of headless Chromium."""

    def __init__(self, driver_url: str, session_id: str) -> None:
        self.url = f"{driver_url}/session/{session_id}"

    def _call(self, method: str, path: str, body: object = None) -> Any:
        response = requests.request(method, self.url + path, json=body, timeout=120)
        value = response.json()["value"]
        if response.status_code != 200:
            raise RuntimeError(f"WebDriver {method} {path}: {value}")
        return value

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self._call("POST", "/url", {"url": url})

    def script(self, source: str, *args: object) -> Any:
        """Run JavaScript in the page (`return ...` gives the value)."""
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the viewport."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))

    def performance_log(self) -> list[dict[str, Any]]:
        """DevTools events logged since the last call (ChromeDriver's `performance` log)."""
        entries = self._call("POST", "/se/log", {"type": "performance"})
        return [json.loads(entry["message"])["message"] for entry in entries]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium with a fresh profile, through a ChromeDriver of our own."""
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    port = free_port()
    driver_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="sandkasten-chromium-") as profile:
        driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        session_id = None
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(driver_url + "/status", timeout=1).json()["value"]["ready"]:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("chromedriver did not start")
                time.sleep(0.1)
            capabilities = {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [*CHROMIUM_ARGS, f"--user-data-dir={profile}"],
                },
                "goog:loggingPrefs": {"performance": "ALL"},
            }
            response = requests.post(driver_url + "/session", timeout=120,
                                     json={"capabilities": {"alwaysMatch": capabilities}})
            assert response.status_code == 200, response.text
            session_id = response.json()["value"]["sessionId"]
            yield Browser(driver_url, session_id)
        finally:
            if session_id is not None:
                requests.delete(f"{driver_url}/session/{session_id}", timeout=30)
            driver.terminate()
            driver.wait(timeout=10)


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
