"""The app factory: routes, shared state and the lifespan (startup and shutdown) in one place."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandkasten_py.api import configuration, environments, programs
from sandkasten_py.api.docs import docs_routes
from sandkasten_py.api.openapi import openapi_document
from sandkasten_py.api.operations import Operation, route
from sandkasten_py.api.state import AppState
from sandkasten_py.config import Config
from sandkasten_py.environments import load_environments
from sandkasten_py.metrics import Metrics
from sandkasten_py.wiring import wire

log = logging.getLogger(__name__)

OPERATIONS: list[Operation] = [*configuration.OPERATIONS, *environments.OPERATIONS, *programs.OPERATIONS]


def create_app(config: Config) -> Starlette:
    """Build the daemon's ASGI app: load environments, prepare directories and cgroups."""
    log.info("Loading environments from %s", ", ".join(config.environments_path))
    envs = load_environments(config.environments_path)
    log.info("Loaded %d environments: %s", len(envs), ", ".join(sorted(envs)) or "none")
    metrics = Metrics(envs)
    service = wire(config, envs, observer=metrics)
    config = service.config
    state = AppState(config=config, environments=envs, programs=service.programs, metrics=metrics)
    openapi = openapi_document(OPERATIONS, config.server)

    async def openapi_json(_: Request) -> Response:
        return JSONResponse(openapi)

    async def metrics_text(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=Metrics.CONTENT_TYPE)

    routes: list[BaseRoute] = [route(operation) for operation in OPERATIONS]
    routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    routes += docs_routes(openapi_url="/openapi.json", title="Sandkasten")
    if config.enable_metrics:
        routes.append(Route("/metrics", metrics_text, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.router.redirect_slashes = False  # paths are taken as given, as in Sandkasten
    app.state.sandkasten = state
    return app
