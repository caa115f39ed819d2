"""Tag Environments: GET /environments and GET /environments/{name}/resource_usage."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from sandkasten_py.api.operations import Operation
from sandkasten_py.api.state import app_state
from sandkasten_py.programs import EnvironmentNotFound
from sandkasten_py.programs.compile_args import POLICIES
from sandkasten_py.schemas import BaseResourceUsage, Environment


async def list_environments(request: Request, _: Any) -> dict[str, Environment]:
    """Every environment by id."""
    state = app_state(request)
    state.metrics.inc("environments_requests")
    return {
        env_id: Environment(
            name=env.manifest.name,
            version=env.manifest.version,
            default_main_file_name=env.manifest.default_main_file_name,
            example=env.manifest.example,
            meta=env.manifest.meta,
            compile_args=(POLICIES[env.manifest.compile_args].summary
                          if env.manifest.compile_args is not None else None),
        )
        for env_id, env in sorted(state.environments.items())
    }


async def get_base_resource_usage(request: Request, _: Any) -> BaseResourceUsage:
    """Benchmark (or recall) the base resource usage of one environment."""
    state = app_state(request)
    name = request.path_params["name"]
    state.metrics.inc("resource_usage_requests", name)
    result, cached = await state.programs.base_resource_usage(name)
    if cached:
        state.metrics.inc("resource_usage_cache_hits", name)
    return result


_EXAMPLE_ENVIRONMENTS = {
    "python": {
        "name": "Python", "version": "3.11.2", "default_main_file_name": "code.py",
        "example": "print(f\"Hello, {input()}!\")", "meta": {"homepage": "https://www.python.org/"},
    },
    "c": {
        "name": "C", "version": "12.2.0", "default_main_file_name": "code.c",
        "example": None, "meta": {},
    },
}

_EXAMPLE_BASE_RESOURCE_USAGE = {
    "build": None,
    "run": {"time": {"min": 31, "avg": 36, "max": 52},
            "memory": {"min": 3840, "avg": 3912, "max": 4096}},
}

OPERATIONS = [
    Operation(
        method="GET", path="/environments", operation_id="list_environments", tag="Environments",
        summary="Return a map of all environments.",
        description="The keys are the environment ids (used in build requests), the values "
                    "describe the environments.",
        handler=list_environments, response=dict[str, Environment],
        response_description="Map of available environments.",
        response_example=_EXAMPLE_ENVIRONMENTS,
    ),
    Operation(
        method="GET", path="/environments/{name}/resource_usage",
        operation_id="get_base_resource_usage", tag="Environments",
        summary="Return the base resource usage of an environment.",
        description="Measured by building the environment's test program once and running it "
                    "`base_resource_usage_runs` times; the result is cached for "
                    "`base_resource_usage_cache_ttl` seconds. The build step is measured once "
                    "only, as recompiling would take too long for many environments. So the first "
                    "request for an environment takes a few seconds (about 5 s for Python with "
                    "the default 20 runs); later ones are answered from the cache.",
        handler=get_base_resource_usage, response=BaseResourceUsage,
        response_description="Base resource usage of build and run step.",
        response_example=_EXAMPLE_BASE_RESOURCE_USAGE,
        errors=(EnvironmentNotFound,), path_parameters={"name": "Environment id."}, shielded=True,
    ),
]
