"""The app factory: routes, shared state and the lifespan (startup and shutdown) in one place."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandkasten_py.api import artifacts, configuration, environments, programs
from sandkasten_py.api.access import AccessLog
from sandkasten_py.api.docs import docs_routes
from sandkasten_py.api.auth import AuthMiddleware, Verifier
from sandkasten_py.api.bg_compiler import bg_compiler_routes
from sandkasten_py.api.sessions import session_routes
from sandkasten_py.api.emcc_sandboxd import emcc_sandboxd_routes
from sandkasten_py.api.errors import general_error_response
from sandkasten_py.api.openapi import openapi_document
from sandkasten_py.api.operations import Operation, route
from sandkasten_py.api.state import AppState
from sandkasten_py.config import Config, ConfigError
from sandkasten_py.environments import load_environments
from sandkasten_py.metrics import Metrics
from sandkasten_py.sandbox import Runner
from sandkasten_py.wiring import wire

log = logging.getLogger(__name__)

OPERATIONS: list[Operation] = [*configuration.OPERATIONS, *environments.OPERATIONS, *programs.OPERATIONS,
                                *artifacts.OPERATIONS]


def create_app(config: Config, *, runners: dict[str, Runner] | None = None) -> Starlette:
    """Build the daemon's ASGI app: load environments, prepare directories and cgroups.

    `runners`: fake sandboxes instead of the daemon's own, for tests (see `wire`)."""
    log.info("Loading environments from %s", ", ".join(config.environments_path))
    envs = load_environments(config.environments_path)
    log.info("Loaded %d environments: %s", len(envs), ", ".join(sorted(envs)) or "none")
    metrics = Metrics(envs)
    service = wire(config, envs, observer=metrics, runners=runners)
    slots = service.programs.slots
    metrics.watch_slots(in_progress=lambda: slots.total - slots.free, waiting=lambda: slots.waiting)
    slots.on_wait, slots.on_refused = metrics.slot_waited, metrics.slot_refused
    memory = service.programs.memory
    if memory is not None:
        metrics.watch_memory(memory.total_mb, reserved=lambda: memory.reserved_mb, waiting=lambda: memory.waiting)
    config = service.config
    state = AppState(config=config, environments=envs, programs=service.programs, metrics=metrics)
    verifier = None
    if config.auth.secret_file or config.auth.public_key_file:
        try:
            verifier = Verifier(config.auth)
        except (OSError, ValueError) as e:
            raise ConfigError(f"`auth`: {e}") from None
    openapi = openapi_document(OPERATIONS, config.server, bearer=verifier is not None)

    async def openapi_json(_: Request) -> Response:
        return JSONResponse(openapi)

    async def metrics_text(_: Request) -> Response:
        if not config.enable_metrics:
            return general_error_response(404, "metrics are off (configuration key `enable_metrics`)")
        return Response(metrics.exposition(), media_type=Metrics.CONTENT_TYPE)

    async def home(_: Request) -> Response:
        # Relative, so that it also works behind a reverse proxy's path prefix (`server`).
        return RedirectResponse("docs", status_code=307)

    routes: list[BaseRoute] = [route(operation) for operation in OPERATIONS]
    routes += emcc_sandboxd_routes(config)
    routes += bg_compiler_routes(config)
    routes += session_routes()
    routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    routes += docs_routes(openapi_url="/openapi.json", title="Sandkasten")
    routes.append(Route("/metrics", metrics_text, methods=["GET"]))
    routes.append(Route("/", home, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with service.running():
            yield

    known_paths = sorted({getattr(r, "path", "") for r in routes} - {""})

    async def http_error(request: Request, exc: Exception) -> Response:
        # Starlette's own 404 (no route) and 405 (a route, another method), in our envelope.
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 404:
            message = (f"there is no {request.url.path}; the paths are {', '.join(known_paths)} "
                       "(described at /docs)")
        else:
            return general_error_response(500, exc.detail)
        return general_error_response(exc.status_code, message, dict(exc.headers or {}))

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error},
                    middleware=[Middleware(AccessLog, metrics=metrics, enabled=config.access_log),
                                Middleware(AuthMiddleware, verifier=verifier, on_subject=metrics.token_used)])
    app.router.redirect_slashes = False  # paths are taken as given, as in Sandkasten
    app.state.sandkasten = state
    return app
