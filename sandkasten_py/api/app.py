"""The app factory: routes, shared state and the lifespan (startup and shutdown) in one place."""

from __future__ import annotations

import asyncio
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
from sandkasten_py.config import Config, without_network
from sandkasten_py.environments import load_environments
from sandkasten_py.metrics import Metrics
from sandkasten_py.programs import ProgramService, ProgramStore, Pruner
from sandkasten_py.sandbox import Networks, NsjailRunner, setup_cgroups

log = logging.getLogger(__name__)

OPERATIONS: list[Operation] = [*configuration.OPERATIONS, *environments.OPERATIONS, *programs.OPERATIONS]


def create_app(config: Config) -> Starlette:
    """Build the daemon's ASGI app: load environments, prepare directories and cgroups."""
    log.info("Loading environments from %s", ", ".join(config.environments_path))
    envs = load_environments(config.environments_path)
    log.info("Loaded %d environments: %s", len(envs), ", ".join(sorted(envs)) or "none")
    store = ProgramStore(config.programs_dir, config.jobs_dir)
    log.info("Preparing %s and %s", config.programs_dir, config.jobs_dir)
    store.prepare()
    cgroups = setup_cgroups(config.cgroup_root, config.cgroup_parent) if config.use_cgroup else None
    networks = Networks.find()
    if networks is None:
        config = without_network(config)
    runner = NsjailRunner(config.nsjail_path or "nsjail", cgroups, networks)
    metrics = Metrics(envs)
    state = AppState(
        config=config,
        environments=envs,
        programs=ProgramService(config, envs, store, runner, observer=metrics),
        metrics=metrics,
    )
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
        if networks is not None:
            await networks.remove_leftovers()
        pruner = Pruner(store, state.programs.locks, config.program_ttl)
        prune_loop = asyncio.create_task(pruner.run_forever(config.prune_programs_interval))
        try:
            yield
        finally:
            prune_loop.cancel()
            await pruner.close()
            with contextlib.suppress(asyncio.CancelledError):
                await prune_loop
            if cgroups is not None:
                cgroups.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.router.redirect_slashes = False  # paths are taken as given, as in Sandkasten
    app.state.sandkasten = state
    return app
