"""A fake runner for tests of the layers above the runner seam (no root, no nsjail)."""

from __future__ import annotations

from collections.abc import Callable

from sandkasten_py.sandbox import JobIO, JobOutcome, JobSpec, JobStatus


def outcome(**changes: object) -> JobOutcome:
    """A job that ended by itself with status 0, with `changes`."""
    fields: dict[str, object] = {
        "status": JobStatus.OK, "exit_code": 0, "stdout": b"", "stderr": b"", "wall_time_ms": 7,
        "memory_kb": 2048, "cpu_time_ms": 3, "exceeded": (),
    }
    fields.update(changes)
    return JobOutcome(**fields)  # type: ignore[arg-type]


class FakeRunner:
    """Records every job and answers with `respond(spec)` (by default: `outcome()`). A compile
    step's output is whatever `respond` writes into `spec.program_dir`."""

    run_files_in_memory = False
    interactive = False

    def __init__(self, respond: Callable[[JobSpec], JobOutcome] | None = None) -> None:
        self.respond = respond or (lambda spec: outcome())
        self.specs: list[JobSpec] = []
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def run(self, spec: JobSpec, io: JobIO | None = None) -> JobOutcome:
        assert io is None, "not interactive"
        self.specs.append(spec)
        return self.respond(spec)

    async def close(self) -> None:
        self.closed = True
