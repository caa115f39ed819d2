"""Offline API documentation pages: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

Both pages load their JavaScript and CSS from files vendored into ``static/``
(see ``scripts/update-docs-assets.sh``) and never reach for a CDN. Every URL in
a page is relative to the page, so the pages work unchanged behind a reverse
proxy that serves the service under a path prefix, whether or not the proxy
sets ``root_path``. A Content-Security-Policy lets the pages talk to their own
origin only; it also stops the one external image the ReDoc bundle would load
(the Redocly logo in its side menu, which then hides itself).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePath
from typing import Any

import jinja2
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

__all__ = ["ASSETS_PATH", "STATIC_DIR", "docs_routes"]

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"

SWAGGER_UI_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs-assets"

# Logical name -> file under STATIC_DIR, as the templates refer to them.
_ASSETS = {
    "swagger_ui_js": "swagger-ui/swagger-ui-bundle.js",
    "swagger_ui_css": "swagger-ui/swagger-ui.css",
    "redoc_js": "redoc/redoc.standalone.js",
}

# Fixed here rather than guessed by mimetypes, whose answer for .js depends on
# the Python version and the host's /etc/mime.types. Everything in static/ is
# UTF-8 text (the bundles contain non-ASCII string literals).
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_DEFAULT_MEDIA_TYPE = "text/plain; charset=utf-8"

# Asset URLs carry a hash of the file's content, so a new vendored version gets
# a new URL and the old one may be cached for good.
_ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class _AssetFiles(StaticFiles):
    """StaticFiles with fixed content types and long-lived cache headers."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """Serve one asset; answers 304 when the client's copy is current."""
        media_type = _MEDIA_TYPES.get(PurePath(full_path).suffix, _DEFAULT_MEDIA_TYPE)
        response = FileResponse(
            full_path,
            status_code=status_code,
            headers=_ASSET_HEADERS,
            media_type=media_type,
            stat_result=stat_result,
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def _relative_url(target: str, page_path: str) -> str:
    """Return the absolute path ``target`` as a URL relative to the page at ``page_path``."""
    if not target.startswith("/") or target.startswith("//"):
        return target  # already relative, or a full URL the caller chose
    return posixpath.relpath(target, posixpath.dirname(page_path))


def _asset_urls(page_path: str) -> dict[str, str]:
    """Return the relative, content-versioned URL of every asset a page uses."""
    urls = {}
    for name, file in _ASSETS.items():
        path = STATIC_DIR / file
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        except FileNotFoundError:
            raise RuntimeError(
                f"API docs asset {path} is missing; run scripts/update-docs-assets.sh"
            ) from None
        urls[name] = f"{_relative_url(f'{ASSETS_PATH}/{file}', page_path)}?v={digest}"
    return urls


def _content_security_policy(nonce: str) -> str:
    """Return a policy that lets a docs page load and call its own origin only."""
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' 'nonce-{nonce}'",
        # Both UIs set inline styles (ReDoc through styled-components).
        "style-src 'self' 'unsafe-inline'",
        # Swagger UI's CSS draws its icons from data: URIs.
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        # Fetching the spec, and Swagger UI's "Try it out".
        "connect-src 'self'",
        # ReDoc runs its search index in a worker built from a blob.
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ])


def _page_endpoint(
    template_name: str, context: dict[str, Any]
) -> Callable[[Request], Awaitable[Response]]:
    """Return an endpoint that renders ``template_name`` with ``context``."""
    template = _ENV.get_template(template_name)

    async def endpoint(request: Request) -> Response:
        # A fresh nonce per response: only our inline script may run.
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(
            template.render(context, nonce=nonce),
            headers={
                "Content-Security-Policy": _content_security_policy(nonce),
                # The page names the current asset versions; revalidate it.
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return endpoint


def docs_routes(
    *, openapi_url: str = "/openapi.json", title: str = "Sandkasten"
) -> list[BaseRoute]:
    """Return the routes of the Swagger UI page, the ReDoc page and their assets.

    ``openapi_url`` is the absolute path of the OpenAPI document in the same
    app; the pages refer to it relative to themselves.
    """
    pages = [
        (SWAGGER_UI_PATH, "swagger_ui.html", "swagger_ui"),
        (REDOC_PATH, "redoc.html", "redoc"),
    ]
    routes: list[BaseRoute] = []
    for path, template_name, name in pages:
        context = {
            "title": title,
            "openapi_url": _relative_url(openapi_url, path),
            "assets": _asset_urls(path),
        }
        routes.append(Route(
            path, _page_endpoint(template_name, context),
            methods=["GET"], name=name, include_in_schema=False,
        ))
    routes.append(Mount(ASSETS_PATH, app=_AssetFiles(directory=STATIC_DIR), name="docs_assets"))
    return routes
