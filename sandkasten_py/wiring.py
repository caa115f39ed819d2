"""The one place that builds the service from the configuration, for `serve` and `sandkasten envs`.

    config -> program store + job directories (locked) -> cgroups, network -> runners (by
           name: nsjail; wasmtime, whose pool of WASI workers starts only when an environment
           uses it; gvisor, when an environment uses it or `gvisor.environments` names some)
           -> programs service (each environment's manifest names its runner; the
           configuration may move nsjail environments to gvisor)

`wire` does the synchronous setup (it fails with StoreError, CgroupError... before anything
is served); `Service.running` is the life of the service on the event loop: the background
clean-up of what an earlier run left, and the pruner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sandkasten_py.config import Config, ConfigError, without_network
from sandkasten_py.environments import Environment, ManifestError
from sandkasten_py.programs import JobDirs, ProgramService, ProgramStore
from sandkasten_py.programs.budget import MemoryBudget
from sandkasten_py.programs.compile_args import POLICIES, check_compile_args
from sandkasten_py.programs.errors import InvalidCompileArgs
from sandkasten_py.programs.jobs import JobObserver, job_limits
from sandkasten_py.sandbox import (
    DEFAULT_RUNNER, GVISOR_RUNNER, MB, Cgroups, GVisorRunner, Networks, NsjailRunner, Runner, setup_cgroups,
)
from sandkasten_py.sandbox.cgroup import own_memory_limit

log = logging.getLogger(__name__)

WASMTIME = "wasmtime"
RUNNERS = (DEFAULT_RUNNER, WASMTIME, GVISOR_RUNNER)  # the names a manifest may give as its `runner`
WORKER_OVERHEAD_MB = 1024  # a WASI worker's address space besides a module's memory


@dataclass
class Service:
    """Everything a running daemon owns."""

    config: Config
    """The configuration as used (network lowered to false where jobs cannot have it)."""
    programs: ProgramService
    store: ProgramStore
    job_dirs: JobDirs
    runners: dict[str, Runner]
    """By name, as environments' manifests name them."""
    cgroups: Cgroups | None
    networks: Networks | None
    leftover_jobs: list[str]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Clean up after an earlier run in the background, prune programs; release all at the end."""
        workers = started_workers()
        asyncio.get_running_loop().set_default_executor(workers)
        if self.networks is not None:
            await self.networks.remove_leftovers()
        for runner in self.runners.values():
            await runner.start()
        cleanup = asyncio.create_task(self.job_dirs.remove_leftovers(self.leftover_jobs))
        pruner = self.programs.pruner
        prune_loop = asyncio.create_task(pruner.run_forever(self.config.prune_programs_interval))
        try:
            yield
        finally:
            prune_loop.cancel()
            cleanup.cancel()
            await pruner.close()
            with contextlib.suppress(asyncio.CancelledError):
                await prune_loop
            with contextlib.suppress(asyncio.CancelledError):
                await cleanup
            for runner in self.runners.values():
                await runner.close()
            await self.job_dirs.drain()
            workers.shutdown(wait=True)
            self.close()

    def close(self) -> None:
        """Release the directories and the cgroups."""
        if self.cgroups is not None:
            self.cgroups.close()
        self.job_dirs.close()
        self.store.close()


WORKERS = min(32, (os.cpu_count() or 1) + 4)  # as many as asyncio's default executor


def started_workers(count: int = WORKERS) -> ThreadPoolExecutor:
    """The threads for blocking work (`asyncio.to_thread`, `run_in_executor`), all started now.

    The default executor starts a thread when work finds none idle, inside `submit`, on the
    event loop: a clone and a handshake with the new thread, seen holding the loop for 20 ms
    under load. Started here, before anything is served, none starts later.
    """
    workers = ThreadPoolExecutor(max_workers=count, thread_name_prefix="sandkasten-worker")
    all_running = threading.Barrier(count)
    for _ in range(count):  # each waits for all the others, so each task gets a thread of its own
        workers.submit(all_running.wait)
    return workers


def wire(config: Config, environments: dict[str, Environment], observer: JobObserver | None = None, *,
         runners: dict[str, Runner] | None = None) -> Service:
    """Lock and prepare the directories, set up cgroups and network, and build the service.

    `runners` replaces the daemon's own sandboxes, for tests of the layers above with fake
    runners: no job runs then, so the job directories are plain (no tmpfs, no root needed) and
    there are neither cgroups nor network namespaces.
    """
    fake = runners is not None
    check_runners(environments, tuple(runners) if runners is not None else RUNNERS)
    check_compile_args_policies(environments)
    check_emcc_sandboxd(config, environments)
    log.info("Preparing %s and %s", config.programs_dir, config.jobs_dir)
    store = ProgramStore(config.programs_dir)
    store.prepare()
    job_dirs = JobDirs(config.jobs_dir, config.storage_limits, mount_tmpfs=not fake)
    try:
        leftovers = job_dirs.prepare()
        use_cgroup = config.use_cgroup and not fake
        cgroups = setup_cgroups(config.cgroup_root, config.cgroup_parent) if use_cgroup else None
    except BaseException:
        job_dirs.close()
        store.close()
        raise
    networks = None if fake else Networks.find()
    if networks is None:
        config = without_network(config)
    if runners is None:
        try:
            runners = sandboxes(config, environments, store, cgroups, networks)
        except BaseException:
            job_dirs.close()
            store.close()
            raise
    budget = MemoryBudget(memory_budget_mb(config), config.memory_budget_wait)
    log.info("Memory budget: %d MB for the memory limits of the jobs running at once", budget.total_mb)
    programs = ProgramService(config, environments, store, job_dirs, runners, observer, memory=budget)
    return Service(config, programs, store, job_dirs, runners, cgroups, networks, leftovers)


def sandboxes(config: Config, environments: dict[str, Environment], store: ProgramStore,
              cgroups: Cgroups | None, networks: Networks | None) -> dict[str, Runner]:
    """The daemon's runners by name: nsjail, and those that some environment uses."""
    usual_limits = job_limits(config.run_limits)
    nsjail = NsjailRunner(config.nsjail_path or "nsjail", cgroups, networks, usual_limits)
    runners: dict[str, Runner] = {DEFAULT_RUNNER: nsjail}
    used = {e.manifest.runner for e in environments.values()}
    if WASMTIME in used:
        runners[WASMTIME] = wasmtime_runner(config, nsjail, store, cgroups)
    if GVISOR_RUNNER in used or config.gvisor.environments:
        runners[GVISOR_RUNNER] = gvisor_runner(config, environments, cgroups)
    return runners


def gvisor_runner(config: Config, environments: dict[str, Environment], cgroups: Cgroups | None) -> Runner:
    """The `gvisor` runner (ConfigError when runsc or cgroups are missing)."""
    runsc = shutil.which(config.gvisor.runsc)
    if runsc is None:
        raise ConfigError(f"`gvisor.runsc`: {config.gvisor.runsc} is not an executable (on Debian: "
                          "apt install runsc)")
    if cgroups is None:
        raise ConfigError("`gvisor`: jobs under gVisor need a cgroup each (use_cgroup = true)")
    for name in config.gvisor.environments:
        if name != "*" and name not in environments:
            log.warning("gvisor.environments names %r, which is not an environment of this daemon", name)
    if config.run_limits.network or config.compile_limits.network:
        log.warning("jobs under gVisor have no network: those asking for network: true will fail")
    log.info("gVisor (%s) runs the jobs of: %s", runsc, ", ".join(config.gvisor.environments) or "-")
    return GVisorRunner(runsc, cgroups, config.jobs_dir.rstrip("/") + "-gvisor", job_limits(config.run_limits))


def wasmtime_runner(config: Config, nsjail: Runner, store: ProgramStore, cgroups: Cgroups | None) -> Runner:
    """The `wasmtime` runner: compile steps with `nsjail`, run steps on a pool of WASI workers
    (each in a memory cgroup of its own when there are cgroups), compiled modules kept in the
    store's cache (ManifestError when wasmtime is not installed)."""
    try:
        from sandkasten_py.wasm.modules import ModuleCache
        from sandkasten_py.wasm.pool import WorkerPool, worker_setup
        from sandkasten_py.wasm.runner import WasmtimeRunner
        setup = worker_setup(config.nsjail_path or "nsjail",
                             memory_mb=config.run_limits.memory + WORKER_OVERHEAD_MB,
                             tmp_mb=max(64, config.run_limits.tmpfs), cgroups=cgroups)
    except ImportError as e:
        raise ManifestError(f"an environment uses the wasmtime runner, but {e.name or 'wasmtime'} is "
                            f"not installed (pip install 'sandkasten-py[wasm]')") from None
    pool = WorkerPool(setup, config.wasm.workers, wasm_workers_dir(config))
    size = config.wasm.module_cache * MB
    modules = ModuleCache(store.cache_dir("wasm"), store.key, size) if size else None
    return WasmtimeRunner(nsjail, pool, config.wasm.fuel, modules)


def wasm_workers_dir(config: Config) -> str:
    """The WASI workers' directory, next to `jobs_dir` (which holds only job directories):
    `<jobs_dir>-wasm`, as unique to a daemon as its `jobs_dir`."""
    return config.jobs_dir.rstrip("/") + "-wasm"


def memory_budget_mb(config: Config) -> int:
    """`memory_budget`, or when it is 0 the memory limit of the daemon's cgroup, or else the
    machine's memory."""
    if config.memory_budget > 0:
        return config.memory_budget
    limit = own_memory_limit(config.cgroup_root)
    if limit is None:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(1, limit // MB)


def check_compile_args_policies(environments: dict[str, Environment]) -> None:
    """Every environment's `compile_args` names a known policy (ManifestError otherwise)."""
    for environment in environments.values():
        policy = environment.manifest.compile_args
        if policy is not None and policy not in POLICIES:
            raise ManifestError(f"environment {environment.id}: compile_args {policy!r} is not one "
                                f"of this daemon's policies ({', '.join(POLICIES)})")


def check_emcc_sandboxd(config: Config, environments: dict[str, Environment]) -> None:
    """emcc-sandboxd's `default_args` pass its environment's allowlist (ManifestError otherwise);
    without that environment its API answers every compile with an error, said here once."""
    settings = config.emcc_sandboxd
    if not settings.environment:
        return
    environment = environments.get(settings.environment)
    if environment is None:
        log.warning("emcc_sandboxd.environment %r is not an environment of this daemon: "
                    "POST /emcc-sandboxd/compile will fail", settings.environment)
        return
    try:
        check_compile_args(environment.manifest.compile_args, environment.id, settings.default_args, ["main.c"])
    except InvalidCompileArgs as e:
        raise ManifestError(f"emcc_sandboxd.default_args: {e.message}") from None


def check_runners(environments: dict[str, Environment], runners: tuple[str, ...] = RUNNERS) -> None:
    """Every environment names one of `runners` (ManifestError otherwise)."""
    for environment in environments.values():
        if environment.manifest.runner not in runners:
            raise ManifestError(f"environment {environment.id}: runner {environment.manifest.runner!r} "
                                f"is not one of this daemon's runners ({', '.join(runners)})")
