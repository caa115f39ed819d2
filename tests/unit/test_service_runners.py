"""The programs service above the runner seam, with fake runners: no root, no nsjail.

What is tested is the service: which runner an environment's steps go to, what it is asked to
run (argv, files, stdin, env, limits in the sandbox's own type), how outcomes become results and
errors, and the build cache. The job directories are plain directories here (no tmpfs: no root);
the real runner and mounts are tested in tests/integration and tests/security.
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from sandkasten_py.config import Config, load_config
from sandkasten_py.environments import Environment, Manifest, ManifestError
from sandkasten_py.environments import TestProgram as ConformanceProgram
from sandkasten_py.programs import CompileError, JobDirs, ProgramService, ProgramStore
from sandkasten_py.programs.store import StoredProgram
from sandkasten_py.sandbox import JobLimits, JobOutcome, JobSpec, JobStatus, SandboxError
from tests.unit.fakes import FakeRunner, outcome
from sandkasten_py.schemas import BuildRequest, BuildRunRequest, LimitsOpt, MainFile, RunRequest
from sandkasten_py.wiring import check_runners

ROOT = Path(__file__).resolve().parents[2]


def environment(env_id: str, *, compiled: bool, runner: str = "nsjail") -> Environment:
    manifest = Manifest(
        sandkasten_version="0.1.0", name=env_id, version="1", default_main_file_name="main.src",
        run_script="/env/run.sh", compile_script="/env/compile.sh" if compiled else None,
        closure="/env/closure", test=ConformanceProgram(main_file=MainFile(content="hello")), runner=runner,
    )
    return Environment(id=env_id, manifest=manifest, closure_paths=(), identity=f"identity-{env_id}")


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory uid 65534 could traverse, as the store insists (lifted where impossible)."""
    with tempfile.TemporaryDirectory(prefix="sandkasten-unit-") as directory:
        os.chmod(directory, 0o711)
        if not all(os.stat(p).st_mode & stat.S_IXOTH for p in [Path(directory), *Path(directory).parents]):
            monkeypatch.setattr("sandkasten_py.programs.store._check_traversable", lambda _: None)
        yield Path(directory)


class Harness:
    def __init__(self, workdir: Path, runners: dict[str, FakeRunner], **settings: str) -> None:
        self.config: Config = load_config({"CONFIG_PATH": str(ROOT / "config.toml"),
                                           "PROGRAMS_DIR": str(workdir / "programs"),
                                           "JOBS_DIR": str(workdir / "jobs"), **settings})
        self.store = ProgramStore(self.config.programs_dir)
        self.store.prepare()
        self.job_dirs = JobDirs(self.config.jobs_dir, self.config.storage_limits, mount_tmpfs=False)
        self.job_dirs.prepare()
        envs = [environment("compiled", compiled=True), environment("script", compiled=False),
                environment("elsewhere", compiled=False, runner="other")]
        self.service = ProgramService(self.config, {e.id: e for e in envs}, self.store, self.job_dirs, runners)

    def run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        """Run `scenario` on an event loop, wait for the job directories to go, release all."""
        async def scenario_then_drain() -> None:
            try:
                await scenario()
            finally:
                await self.job_dirs.drain()

        try:
            asyncio.run(scenario_then_drain())
        finally:
            self.job_dirs.close()
            self.store.close()


def compiles_to(name: str, content: bytes, **changes: object) -> Callable[[JobSpec], JobOutcome]:
    def respond(spec: JobSpec) -> JobOutcome:
        if spec.program_writable:
            Path(spec.program_dir, name).write_bytes(content)
        return outcome(**changes)
    return respond


def test_a_compiled_program_is_built_once_and_run_with_the_request(workdir: Path) -> None:
    nsjail = FakeRunner(compiles_to("app", b"\x7fELF"))
    harness = Harness(workdir, {"nsjail": nsjail})

    async def scenario() -> None:
        request = BuildRequest(environment="compiled", main_file=MainFile(content="int main;"))
        first = await harness.service.build(request)
        again = await harness.service.build(request)
        assert (first.cached, again.cached, first.program_id) == (False, True, again.program_id)
        assert len(nsjail.specs) == 1
        compile_spec = nsjail.specs[0]
        assert compile_spec.argv == ("/env/compile.sh", "main.src")
        assert compile_spec.program_writable
        assert isinstance(compile_spec.limits, JobLimits)
        assert compile_spec.limits.time == harness.config.compile_limits.time

        result = await harness.service.run(uuid.UUID(first.program_id), RunRequest(
            stdin="in", args=["a b", "c"], run_limits=LimitsOpt(time=1, memory=64)))
        run_spec = nsjail.specs[1]
        assert run_spec.argv == ("/env/run.sh", "main.src", "a b", "c")
        assert (run_spec.stdin, run_spec.program_writable) == (b"in", False)
        assert Path(run_spec.program_dir, "app").read_bytes() == b"\x7fELF"  # the stored output
        assert (run_spec.limits.time, run_spec.limits.memory) == (1, 64)
        assert result.status == 0 and result.limits.time == 1

    harness.run(scenario)


def test_outcomes_become_results(workdir: Path) -> None:
    """Exit codes, output (lossy UTF-8), usage and the limits that ended a job, in the API's form."""
    nsjail = FakeRunner(lambda spec: outcome(status=JobStatus.TIME_LIMIT, exit_code=137,
                                             stdout=b"partial \xff", stderr=b"", wall_time_ms=1000,
                                             exceeded=("time",)))
    harness = Harness(workdir, {"nsjail": nsjail})

    async def scenario() -> None:
        result = await harness.service.build_and_run(BuildRunRequest(
            build=BuildRequest(environment="script", main_file=MainFile(content="loop"))))
        assert result.build is None  # no compile step: the runner ran the program only
        assert len(nsjail.specs) == 1
        assert (result.run.status, result.run.stdout, result.run.exceeded) == (137, "partial \ufffd", ["time"])
        assert result.run.resource_usage.time == 1000

    harness.run(scenario)


def test_a_failed_compile_step_is_a_compile_error_and_nothing_is_stored(workdir: Path) -> None:
    nsjail = FakeRunner(lambda spec: outcome(status=JobStatus.NONZERO_EXIT, exit_code=1,
                                             stderr=b"main.src:1: error\n"))
    harness = Harness(workdir, {"nsjail": nsjail})

    async def scenario() -> None:
        with pytest.raises(CompileError) as caught:
            await harness.service.build(BuildRequest(environment="compiled", main_file=MainFile(content="x")))
        assert caught.value.result.status == 1
        assert caught.value.result.stderr.startswith("main.src:1: error")

    harness.run(scenario)
    assert [p for p in os.listdir(workdir / "programs") if not p.startswith(".")] == []


def test_each_environment_goes_to_the_runner_its_manifest_names(workdir: Path) -> None:
    """Build and run steps of `elsewhere` (runner "other") never reach nsjail; the stored program
    remembers its runner."""
    nsjail, other = FakeRunner(), FakeRunner(lambda spec: outcome(stdout=b"from the other runner"))
    harness = Harness(workdir, {"nsjail": nsjail, "other": other})

    async def scenario() -> None:
        result = await harness.service.build_and_run(BuildRunRequest(
            build=BuildRequest(environment="elsewhere", main_file=MainFile(content="x"))))
        assert result.run.stdout == "from the other runner"
        assert (len(nsjail.specs), len(other.specs)) == (0, 1)
        stored = msgspec.json.decode(
            (workdir / "programs" / result.program_id / "program.json").read_bytes(), type=StoredProgram)
        assert stored.runner == "other"

    harness.run(scenario)


@pytest.mark.parametrize("listed", ["compiled", "*"])
def test_environments_configured_for_gvisor_run_there_programs_built_before_included(
        workdir: Path, listed: str) -> None:
    """`gvisor.environments` sends the nsjail steps of the environments it names (or of all, `*`)
    to the gvisor runner: compile and run steps, and the run steps of a program stored while it
    was not configured (its stored runner is nsjail); a manifest's other runner stays."""
    nsjail = FakeRunner(compiles_to("app", b"x"))
    gvisor = FakeRunner(compiles_to("app", b"x"))
    other = FakeRunner()
    before = Harness(workdir, {"nsjail": nsjail})
    stored: list[str] = []

    async def build_under_nsjail() -> None:
        built = await before.service.build(BuildRequest(environment="compiled", main_file=MainFile(content="old")))
        stored.append(built.program_id)

    before.run(build_under_nsjail)
    assert len(nsjail.specs) == 1
    harness = Harness(workdir, {"nsjail": nsjail, "gvisor": gvisor, "other": other}, GVISOR__ENVIRONMENTS=listed)

    async def scenario() -> None:
        await harness.service.run(uuid.UUID(stored[0]), RunRequest())
        built = await harness.service.build(BuildRequest(environment="compiled", main_file=MainFile(content="new")))
        await harness.service.run(uuid.UUID(built.program_id), RunRequest())
        await harness.service.build_and_run(BuildRunRequest(
            build=BuildRequest(environment="elsewhere", main_file=MainFile(content="x"))))
        script = await harness.service.build_and_run(BuildRunRequest(
            build=BuildRequest(environment="script", main_file=MainFile(content="x"))))
        assert script.run.status == 0

    harness.run(scenario)
    assert [spec.program_writable for spec in gvisor.specs[:3]] == [False, True, False]
    assert len(other.specs) == 1  # "elsewhere" keeps its manifest's runner
    script_runs = len(gvisor.specs) - 3
    assert (script_runs, len(nsjail.specs)) == ((1, 1) if listed == "*" else (0, 2))


def test_a_runner_that_cannot_run_a_job_raises_sandbox_error(workdir: Path) -> None:
    def broken(spec: JobSpec) -> JobOutcome:
        raise SandboxError("no jail today")

    harness = Harness(workdir, {"nsjail": FakeRunner(broken)})

    async def scenario() -> None:
        with pytest.raises(SandboxError, match="no jail today"):
            await harness.service.build_and_run(BuildRunRequest(
                build=BuildRequest(environment="script", main_file=MainFile(content="x"))))

    harness.run(scenario)


def test_a_program_whose_runner_is_gone_is_a_sandbox_error(workdir: Path) -> None:
    """A program stored by a daemon that had a runner this one lacks."""
    harness = Harness(workdir, {"nsjail": FakeRunner(), "other": FakeRunner()})

    async def scenario() -> None:
        built = await harness.service.build(BuildRequest(environment="elsewhere", main_file=MainFile(content="x")))
        del harness.service.steps.runners["other"]  # type: ignore[attr-defined]
        with pytest.raises(SandboxError, match="'other' is not available"):
            await harness.service.run(uuid.UUID(built.program_id), RunRequest())

    harness.run(scenario)


def test_programs_stored_before_runners_had_names_run_in_nsjail() -> None:
    old = b'{"environment":"python","run_script":"/r","main_file":"m","mounts":[],"symlinks":[]}'
    assert msgspec.json.decode(old, type=StoredProgram).runner == "nsjail"


def test_an_environment_naming_an_unknown_runner_stops_the_daemon() -> None:
    check_runners({"c": environment("c", compiled=True)})  # nsjail, the default
    with pytest.raises(ManifestError, match="environment wasm: runner 'warp-drive' is not one of"):
        check_runners({"wasm": environment("wasm", compiled=False, runner="warp-drive")})
