"""Tests of the offline API docs pages (sandkasten_py.api.docs)."""

from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from sandkasten_py.api.docs import STATIC_DIR, docs_routes

with warnings.catch_warnings():
    # starlette 1.10 would rather drive TestClient with httpx2; httpx still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SPEC = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}


async def _spec(request: object) -> JSONResponse:
    return JSONResponse(SPEC)


def _client(prefix: str = "", **kwargs: str) -> TestClient:
    """Return a client of an app with the docs routes, mounted under ``prefix``."""
    routes = [Route("/openapi.json", _spec), *docs_routes(**kwargs)]
    if prefix:
        routes = [Mount(prefix, routes=routes)]
    return TestClient(Starlette(routes=routes))


class _Refs(HTMLParser):
    """Collects the tags of a page and every URL they refer to."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def urls(self) -> list[str]:
        return [
            value for _, attrs in self.tags
            for name, value in attrs.items() if name in ("src", "href") and value
        ]


def _parse(html: str) -> _Refs:
    refs = _Refs()
    refs.feed(html)
    return refs


def _scripts(refs: _Refs) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in refs.tags if tag == "script"]


def _stylesheets(refs: _Refs) -> list[str | None]:
    return [attrs.get("href") for tag, attrs in refs.tags
            if tag == "link" and attrs.get("rel") == "stylesheet"]


def test_swagger_ui_page() -> None:
    response = _client().get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    refs = _parse(response.text)
    srcs = [attrs.get("src") for attrs in _scripts(refs)]
    bundle = r"docs-assets/swagger-ui/swagger-ui-bundle\.js\?v=[0-9a-f]{16}"
    assert re.fullmatch(bundle, srcs[0] or "")
    assert srcs[1] is None  # the inline initialisation
    assert [re.sub(r"\?v=.*", "", href or "") for href in _stylesheets(refs)] == [
        "docs-assets/swagger-ui/swagger-ui.css"
    ]
    assert 'url: "openapi.json"' in response.text
    assert "validatorUrl: null" in response.text
    assert "<title>Sandkasten</title>" in response.text


def test_redoc_page() -> None:
    response = _client().get("/redoc")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    refs = _parse(response.text)
    srcs = [attrs.get("src") for attrs in _scripts(refs)]
    assert re.fullmatch(r"docs-assets/redoc/redoc\.standalone\.js\?v=[0-9a-f]{16}", srcs[0] or "")
    assert srcs[1] is None
    assert _stylesheets(refs) == []
    assert 'Redoc.init("openapi.json"' in response.text
    # Local font stacks instead of the theme's default web fonts.
    assert "fontFamily: sans" in response.text
    assert "Montserrat" not in response.text


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_page_references_no_external_host(path: str) -> None:
    html = _client().get(path).text
    assert re.findall(r"https?://", html) == []
    assert re.findall(r"//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE) == []
    for url in _parse(html).urls():
        parts = urlsplit(url)
        assert parts.scheme in ("", "data"), url
        assert parts.netloc == "", url


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_page_csp_allows_only_own_origin_and_the_inline_nonce(path: str) -> None:
    response = _client().get(path)
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    nonce = re.search(r"'nonce-([^']+)'", directives["script-src"])
    assert nonce is not None
    inline = [attrs for attrs in _scripts(_parse(response.text)) if "src" not in attrs]
    assert inline == [{"nonce": nonce.group(1)}]
    for name in ("img-src", "connect-src", "font-src"):
        assert "http" not in directives[name]
    # A fresh nonce per response.
    assert _client().get(path).headers["content-security-policy"] != csp


def test_title_is_escaped() -> None:
    html = _client(title="<Sand & Kasten>").get("/docs").text
    assert "<title>&lt;Sand &amp; Kasten&gt;</title>" in html


def test_openapi_url_is_relative_to_the_page() -> None:
    html = _client(openapi_url="/api/v1/spec.json").get("/redoc").text
    assert 'Redoc.init("api/v1/spec.json"' in html


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
        ("redoc/redoc.standalone.js", "text/javascript; charset=utf-8"),
        ("swagger-ui/LICENSE", "text/plain; charset=utf-8"),
        ("redoc/LICENSE", "text/plain; charset=utf-8"),
    ],
)
def test_assets_are_served(asset: str, content_type: str) -> None:
    response = _client().get(f"/docs-assets/{asset}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (STATIC_DIR / asset).read_bytes()
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_asset_revalidation_answers_304() -> None:
    client = _client()
    etag = client.get("/docs-assets/redoc/LICENSE").headers["etag"]
    response = client.get("/docs-assets/redoc/LICENSE", headers={"if-none-match": etag})
    assert response.status_code == 304


def test_assets_outside_static_are_not_served() -> None:
    client = _client()
    assert client.get("/docs-assets/missing.js").status_code == 404
    assert client.get("/docs-assets/../docs.py").status_code == 404


def test_licenses_are_vendored_with_the_bundles() -> None:
    for name in ("swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE",
                 "swagger-ui/swagger-ui-bundle.js.LICENSE.txt",
                 "redoc/redoc.standalone.js.LICENSE.txt", "VENDORED.txt"):
        assert (STATIC_DIR / name).is_file(), name


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_every_reference_resolves_under_a_path_prefix(path: str) -> None:
    # As behind a proxy that serves the service under /sandkasten.
    client = _client("/sandkasten")
    page_url = f"http://testserver/sandkasten{path}"
    response = client.get(page_url)
    assert response.status_code == 200
    refs = _parse(response.text)
    urls = [u for u in refs.urls() if not u.startswith("data:")]
    spec = re.search(r'(?:url: |Redoc\.init\()"([^"]+)"', response.text)
    assert spec is not None
    urls.append(spec.group(1))
    assert len(urls) >= 2
    for url in urls:
        absolute = urljoin(page_url, url)
        assert absolute.startswith("http://testserver/sandkasten/"), absolute
        assert client.get(absolute).status_code == 200, absolute
