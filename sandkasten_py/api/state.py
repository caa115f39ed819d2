"""What the API handlers share, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from sandkasten_py.config import Config
from sandkasten_py.environments import Environment
from sandkasten_py.metrics import Metrics
from sandkasten_py.programs import ProgramService


@dataclass
class AppState:
    """The daemon's configuration, environments, programs service and metrics."""

    config: Config
    environments: dict[str, Environment]
    programs: ProgramService
    metrics: Metrics


def app_state(request: HTTPConnection) -> AppState:
    """The shared state of the app serving `request` (an HTTP request or a WebSocket)."""
    state: AppState = request.app.state.sandkasten
    return state
