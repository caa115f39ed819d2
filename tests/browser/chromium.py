"""Headless Chromium for the browser tests, driven through ChromeDriver's W3C WebDriver HTTP API
with `requests`: no browser automation library (and no browser download) is needed, only
Debian's `chromium` and `chromium-driver`. Test modules import `browser` (a module-scoped
fixture) and `needs_chromium` (their `pytestmark`)."""

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

import pytest
import requests

from tests.conftest import ROOT, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = ROOT / "tests" / "artifacts"
RENDER_TIMEOUT_S = 60

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--no-default-browser-check", "--window-size=1280,1600",
]

needs_chromium = pytest.mark.skipif(
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
                except (requests.ConnectionError, requests.Timeout):
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
