"""The programs service: the three program operations and the benchmark, in Sandkasten's order of checks.

Order (it decides which error a client sees): file names -> env vars -> a job slot -> the
environment -> compile args (ours) -> the cache -> compile limits -> main file clash -> compile -> run limits -> run.
For `run`, the run limits are checked before the program's existence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping

from sandkasten_py.config import Config
from sandkasten_py.environments import Environment
from sandkasten_py.programs import batch, tokens
from sandkasten_py.programs.artifacts import Artifact, open_artifact
from sandkasten_py.programs.budget import MemoryBudget
from sandkasten_py.programs.build import Built, build_program
from sandkasten_py.programs.checks import check_env_vars, check_file_names, resolve_limits
from sandkasten_py.programs.errors import (ArtifactNotFound, Busy, EnvironmentNotFound, InvalidPipeline,
                                          ProgramError, ProgramNotFound, RunLimitsExceeded)
from sandkasten_py.programs.jobdirs import JobDirs
from sandkasten_py.programs.jobs import JobObserver, Steps
from sandkasten_py.programs.locks import KeyedRWLock, Lease
from sandkasten_py.programs.prune import Pruner
from sandkasten_py.programs.run import run_program
from sandkasten_py.programs.pipeline import check_pipes, run_pipeline
from sandkasten_py.programs.quota import compile_maxima, run_maxima
from sandkasten_py.programs.slots import JobSlots, QueueFull
from sandkasten_py.programs.store import ProgramStore
from sandkasten_py.sandbox import MB, JobIO, Runner
from sandkasten_py.schemas import (
    BaseResourceUsage, BatchRequest, BatchResult, BatchRun, BenchmarkResult, BuildBatchRequest, BuildBatchResult,
    BuildRequest, BuildResult, BuildRunRequest, BuildRunResult, Limits, PipelineRequest, PipelineResult, RunRequest,
    RunResourceUsage, RunResult,
)

log = logging.getLogger(__name__)


QUEUE_RETRY_AFTER_S = 1
"""The Retry-After of a request refused because the queue is full: jobs take a second or so."""


def queue_full(error: QueueFull) -> Busy:
    """The client's answer to a request refused because `max_queued_jobs` requests wait."""
    return Busy(f"{error}: retry after {QUEUE_RETRY_AFTER_S} s", QUEUE_RETRY_AFTER_S)


class ProgramService:
    """Builds and runs programs; owns the job slots and the per-program locks."""

    def __init__(self, config: Config, environments: dict[str, Environment], store: ProgramStore,
                 job_dirs: JobDirs, runners: Mapping[str, Runner], observer: JobObserver | None = None,
                 *, memory: MemoryBudget | None = None) -> None:
        self.config = config
        self.environments = environments
        self.store = store
        self.memory = memory
        self.steps = Steps(runners, store, job_dirs, observer, memory,
                           under_gvisor=frozenset(config.gvisor.environments))
        self.locks = KeyedRWLock()
        self.pruner = Pruner(store, self.locks, config.program_ttl,
                             budget_bytes=config.storage_limits.programs_size * MB)
        self.slots = JobSlots(config.max_concurrent_jobs, config.max_queued_jobs)
        self._benchmarks: dict[str, tuple[BaseResourceUsage, float]] = {}
        self._benchmark_locks: dict[str, asyncio.Lock] = {}

    async def build(self, request: BuildRequest) -> BuildResult:
        """Build a program (or find it in the cache)."""
        check_file_names(request.main_file.name, request.files)
        check_env_vars(request.env_vars)
        async with self._slot():
            built = await self._build(request)
            built.lease.release()
        return BuildResult(program_id=str(built.program_id), ttl=self.config.program_ttl,
                           cached=built.cached, compile_result=built.compile_result)

    async def build_and_run(self, request: BuildRunRequest) -> BuildRunResult:
        """Build a program and run it at once."""
        run = request.run or RunRequest()
        check_file_names(request.build.main_file.name, request.build.files, run.files)
        check_env_vars(request.build.env_vars, run.env_vars)
        async with self._slot():
            built = await self._build(request.build)
            try:
                result = await run_program(built.program_id, built.lease, run, self._run_limits(run),
                                           steps=self.steps)
            finally:
                built.lease.release()
        return BuildRunResult(program_id=str(built.program_id), ttl=self.config.program_ttl,
                              cached=built.cached, build=built.compile_result, run=result)

    async def run(self, program_id: uuid.UUID, request: RunRequest, io: JobIO | None = None) -> RunResult:
        """Run a program built before; with `io` interactively (a WebSocket session): its stdin
        and output go through `io` while it runs, and the result's stdout and stderr are empty."""
        check_file_names(None, request.files)
        check_env_vars(request.env_vars)
        async with self._slot():
            lease = await self.locks.read(program_id)
            try:
                limits = self._run_limits(request)
                return await run_program(program_id, lease, request, limits, steps=self.steps, io=io)
            finally:
                lease.release()

    async def pipeline(self, request: PipelineRequest) -> PipelineResult:
        """Run programs built before together, their streams piped into each other's stdin
        (programs/pipeline.py). The processes take a job slot each, all at once."""
        check_pipes(request)
        if len(request.processes) > self.slots.total:
            raise InvalidPipeline(f"{len(request.processes)} processes, but the daemon runs at most "
                                  f"{self.slots.total} jobs at once (max_concurrent_jobs)")
        runs = [process.run or RunRequest() for process in request.processes]
        program_ids = []
        for index, (process, run) in enumerate(zip(request.processes, runs, strict=True)):
            try:
                program_ids.append(uuid.UUID(process.program_id))
            except ValueError:
                raise InvalidPipeline(f"processes[{index}].program_id: {process.program_id!r} is "
                                      "not a program id") from None
            check_file_names(None, run.files)
            check_env_vars(run.env_vars)
        limits = [self._run_limits(run) for run in runs]
        try:
            await self.slots.acquire(len(runs))
        except QueueFull as e:
            raise queue_full(e) from None
        leases: list[Lease] = []
        try:
            for program_id in program_ids:
                leases.append(await self.locks.read(program_id))
            results = await run_pipeline(request, runs, limits, leases, steps=self.steps)
        finally:
            for lease in leases:
                lease.release()
            self.slots.release(len(runs))
        return PipelineResult(results=results)

    async def batch(self, program_id: uuid.UUID, request: BatchRequest) -> BatchResult:
        """Run a program built before many times (programs/batch.py)."""
        limits = self._check_batch(request)
        lease = await self.locks.read(program_id)
        try:
            return await self._batch(program_id, lease, request, limits)
        finally:
            lease.release()

    async def build_and_batch(self, request: BuildBatchRequest) -> BuildBatchResult:
        """Build a program and run a batch of it at once."""
        check_file_names(request.build.main_file.name, request.build.files)
        check_env_vars(request.build.env_vars)
        limits = self._check_batch(request.batch)
        async with self._slot():
            built = await self._build(request.build)
        try:
            result = await self._batch(built.program_id, built.lease, request.batch, limits)
        finally:
            built.lease.release()
        return BuildBatchResult(program_id=str(built.program_id), ttl=self.config.program_ttl,
                                cached=built.cached, build=built.compile_result, batch=result)

    def _check_batch(self, request: BatchRequest) -> list[Limits]:
        """Each run's checks (file names, variables, limits), its index in the message; the
        limits of each run."""
        limits = []
        for index, run in enumerate(request.runs):
            try:
                check_file_names(None, run.files)
                check_env_vars(run.env_vars)
                limits.append(self._run_limits(run))
            except ProgramError as e:
                raise batch.in_run(index, e) from None
        return limits

    async def _batch(self, program_id: uuid.UUID, lease: Lease, request: BatchRequest,
                     limits: list[Limits]) -> BatchResult:
        """The batch's runs, each with a job slot of its own. The batch is admitted like one
        request (Busy when `max_queued_jobs` wait already); its runs then wait their turn."""
        try:
            self.slots.check_room()
        except QueueFull as e:
            raise queue_full(e) from None

        async def run_one(index: int, run: BatchRun) -> RunResult:
            async with self.slots.hold(bounded=False):
                return await run_program(program_id, lease, run, limits[index], steps=self.steps)

        parallel = max(1, self.config.max_concurrent_jobs // 2)
        return await batch.run_batch(request, run_one, parallel)

    async def artifacts(self, program_id: uuid.UUID) -> list[Artifact]:
        """The files of a built program's output; listing them counts as a use."""
        lease = await self.locks.read(program_id)
        try:
            return await self._artifacts(program_id)
        finally:
            lease.release()

    async def open_artifact(self, program_id: uuid.UUID, name: str) -> tuple[Artifact, int]:
        """One file of a program's output and a descriptor to read it from (the caller closes
        it; it stays readable even if the program is deleted meanwhile). A download counts as a
        use of the program."""
        lease = await self.locks.read(program_id)
        try:
            listed = await self._artifacts(program_id)
            artifact = next((a for a in listed if a.name == name), None)
            if artifact is None:
                raise ArtifactNotFound(str(program_id), name, [a.name for a in listed])
            try:
                fd = await asyncio.to_thread(open_artifact, self.store.files_path(program_id), name)
            except FileNotFoundError:
                raise ArtifactNotFound(str(program_id), name, [a.name for a in listed]) from None
            return artifact, fd
        finally:
            lease.release()

    async def _artifacts(self, program_id: uuid.UUID) -> list[Artifact]:
        if not self.store.is_built(program_id):
            raise ProgramNotFound(str(program_id))
        self.store.touch(program_id)
        return await asyncio.to_thread(self.store.artifacts, program_id)

    def token(self, program_id: uuid.UUID) -> str:
        """An unguessable name of a program, for URLs given to outsiders (tokens.py)."""
        return tokens.seal(self.store.key, program_id)

    def program_of(self, token: str) -> uuid.UUID:
        """The program a token names (ProgramNotFound if it names none)."""
        program_id = tokens.unseal(self.store.key, token)
        if program_id is None:
            raise ProgramNotFound(token)
        return program_id

    def environment(self, environment_id: str) -> Environment:
        """The environment with this id."""
        try:
            return self.environments[environment_id]
        except KeyError:
            raise EnvironmentNotFound(environment_id, list(self.environments)) from None

    async def _build(self, request: BuildRequest) -> Built:
        built = await build_program(self.environment(request.environment), request, steps=self.steps,
                                    locks=self.locks, max_limits=compile_maxima(self.config.compile_limits),
                                    storage=self.config.storage_limits)
        if not built.cached:
            self.pruner.wake()  # the store grew
        return built

    def _run_limits(self, request: RunRequest) -> Limits:
        return resolve_limits(request.run_limits, run_maxima(self.config.run_limits), RunLimitsExceeded)

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """A job slot for a request; Busy at once when `max_queued_jobs` requests wait already."""
        try:
            await self.slots.acquire()
        except QueueFull as e:
            raise queue_full(e) from None
        try:
            yield
        finally:
            self.slots.release()

    async def base_resource_usage(self, environment_id: str) -> tuple[BaseResourceUsage, bool]:
        """Benchmark an almost empty program in an environment; returns (result, from cache)."""
        environment = self.environment(environment_id)
        lock = self._benchmark_locks.setdefault(environment_id, asyncio.Lock())
        async with lock:  # one benchmark per environment at a time; the others reuse its result
            cached = self._benchmarks.get(environment_id)
            if cached is not None and time.monotonic() - cached[1] < self.config.base_resource_usage_cache_ttl:
                return cached[0], True
            async with self.slots.hold(self.config.base_resource_usage_permits, bounded=False):
                result = await self._benchmark(environment)
            self._benchmarks[environment_id] = (result, time.monotonic())
            return result, False

    async def _benchmark(self, environment: Environment) -> BaseResourceUsage:
        test = environment.manifest.test
        request = BuildRequest(environment=environment.id, main_file=test.main_file, files=test.files)
        built = await self._build(request)
        try:
            limits = self.config.run_limits  # the benchmark is shared: never a token's maxima
            results = [
                await run_program(built.program_id, built.lease, RunRequest(), limits,
                                  steps=self.steps)
                for _ in range(self.config.base_resource_usage_runs)
            ]
        finally:
            built.lease.release()
        return BaseResourceUsage(
            build=built.compile_result.resource_usage if built.compile_result else None,
            run=RunResourceUsage(
                time=BenchmarkResult.of([r.resource_usage.time for r in results]),
                memory=BenchmarkResult.of([r.resource_usage.memory for r in results]),
            ),
        )
