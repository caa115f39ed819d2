"""A WebAssembly build used as emcc-sandboxd's users use it: in a browser page of their own.

The test compiles C through `POST /emcc-sandboxd/compile` with the README's arguments (an
exported `add`), and through `POST /programs` with `compile_args`; a page served by the test
itself, from another origin than the daemon's, loads `app.js` from the daemon, which fetches
`app.wasm` (cross-origin, so with CORS) and instantiates it in headless Chromium; the page then
calls the exported function.
"""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import ARTIFACTS, RENDER_TIMEOUT_S, Browser, browser, needs_chromium
from tests.conftest import Daemon, free_port

pytestmark = [needs_chromium, pytest.mark.sandbox]
__all__ = ["browser"]  # the fixture, used by name

CODE = """#include <stdio.h>
int add(int a, int b) { return a + b; }
int main() { printf("Result: %d", add(5, 3)); return 0; }
"""

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>loading</title></head>
<body>
<script src="{js}"></script>
<script>
  {factory}().then(function (module) {{
    document.title = "add(19, 23) = " + module._add(19, 23);
  }}, function (error) {{
    document.title = "failed: " + error;
  }});
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def page_server() -> Iterator[tuple[str, Path]]:
    """A static file server of the test's own on another port: the user's page origin."""
    with tempfile.TemporaryDirectory(prefix="sandkasten-page-") as root:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}", Path(root)
        finally:
            server.shutdown()
            server.server_close()


def open_page(browser: Browser, page_server: tuple[str, Path], name: str, js: str, factory: str) -> str:
    origin, root = page_server
    (root / name).write_text(PAGE.format(js=js, factory=factory))
    browser.open(f"{origin}/{name}")
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    while True:
        title: str = browser.script("return document.title;")
        if title != "loading" or time.monotonic() > deadline:
            browser.screenshot(ARTIFACTS / f"{name}.png")
            return title
        time.sleep(0.1)


def test_an_emcc_sandboxd_build_runs_in_a_page_of_another_origin(
        daemon: Daemon, browser: Browser, page_server: tuple[str, Path]) -> None:
    response = daemon.post("/emcc-sandboxd/compile", json={
        "code": f"{CODE}// {uuid.uuid4()}\n", "type": "c", "args": ["-O2", "-sEXPORTED_FUNCTIONS=[_main,_add]"]})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["ok"] is True, answer
    wasm = daemon.get(answer["wasm"])
    assert wasm.headers["content-type"] == "application/wasm" and wasm.content[:4] == b"\0asm"
    assert wasm.headers["access-control-allow-origin"] == "*"
    # emcc-sandboxd's defaults: MODULARIZE=1 with the default export name `Module`.
    title = open_page(browser, page_server, "emcc-sandboxd.html", daemon.url + answer["js"], "Module")
    assert title == "add(19, 23) = 42"
    loaded: list[str] = browser.script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert daemon.url + answer["wasm"] in loaded


def test_a_programs_build_with_compile_args_runs_in_a_page(
        daemon: Daemon, browser: Browser, page_server: tuple[str, Path]) -> None:
    response = daemon.post("/programs", json={
        "environment": "emcc", "main_file": {"name": "main.c", "content": f"{CODE}// {uuid.uuid4()}\n"},
        "compile_args": ["-O1", "-sMODULARIZE=1", "-sEXPORT_NAME=createAdder", "-sINVOKE_RUN=0",
                         "-sEXPORTED_FUNCTIONS=_main,_add"]})
    assert response.status_code == 201, response.text
    base = f"{daemon.url}/programs/{response.json()['program_id']}/artifacts"
    title = open_page(browser, page_server, "programs.html", f"{base}/app.js", "createAdder")
    assert title == "add(19, 23) = 42"
