"""Tag Configuration: GET /config."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from sandkasten_py.api.operations import Operation
from sandkasten_py.api.state import app_state
from sandkasten_py.schemas import PublicConfig


async def get_config(request: Request, _: Any) -> PublicConfig:
    """The public part of the configuration."""
    state = app_state(request)
    state.metrics.inc("config_requests")
    config = state.config
    return PublicConfig(
        program_ttl=config.program_ttl,
        max_concurrent_jobs=config.max_concurrent_jobs,
        compile_limits=config.compile_limits,
        run_limits=config.run_limits,
        base_resource_usage_runs=config.base_resource_usage_runs,
        request_limits=config.request_limits,
    )


_EXAMPLE_CONFIG = {
    "program_ttl": 600,
    "max_concurrent_jobs": 16,
    "compile_limits": {"cpus": 1, "time": 30, "memory": 1024, "tmpfs": 256, "filesize": 16,
            "file_descriptors": 256, "processes": 256, "stdout_max_size": 65536,
            "stderr_max_size": 65536, "network": False},
    "run_limits": {"cpus": 1, "time": 5, "memory": 256, "tmpfs": 256, "filesize": 16,
            "file_descriptors": 256, "processes": 64, "stdout_max_size": 65536,
            "stderr_max_size": 65536, "network": False},
    "base_resource_usage_runs": 20,
    "request_limits": {"files": 10, "file_length": 65536, "stdin_length": 65536, "args": 100,
                       "arg_length": 4096, "env_vars": 16, "env_var_length": 256,
                       "batch_runs": 1000, "body_size": 33554432},
}

OPERATIONS = [
    Operation(
        method="GET", path="/config", operation_id="get_config", tag="Configuration",
        summary="Return the public configuration of Sandkasten.",
        description="The limits shown are the maximums a request may ask for; they are also the "
                    "defaults for limits a request leaves out or sets to `null`.",
        handler=get_config, response=PublicConfig,
        response_description="The public configuration of Sandkasten.",
        response_example=_EXAMPLE_CONFIG,
    ),
]
