"""The HTTP API over fake runners: the app as the daemon builds it (`create_app`), talked to
in-process, with the sandbox replaced through the runner seam. No root, no nsjail, no network.

What is tested is the mapping from what a runner reports to HTTP: status codes, the error
envelope, results and the cache. The real sandbox behind the same API is tested by
tests/integration (a real daemon over HTTP) and tests/security.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sandkasten_py.api.app import create_app
from sandkasten_py.config import load_config
from sandkasten_py.sandbox import JobIO, JobOutcome, JobSpec, JobStatus, SandboxError
from tests.unit.fakes import FakeRunner, outcome

ROOT = Path(__file__).resolve().parents[2]


def write_environment(directory: Path, env_id: str, *, compiled: bool, **manifest: object) -> None:
    """A manifest whose scripts exist (the daemon digests them) but are never run."""
    scripts = directory / f"{env_id}-scripts"
    scripts.mkdir()
    (scripts / "run.sh").write_text("#!/bin/sh\n")
    if compiled:
        (scripts / "compile.sh").write_text("#!/bin/sh\n")
    (directory / f"{env_id}.closure").write_text(f"{scripts}\n")
    (directory / f"{env_id}.json").write_text(json.dumps({
        "sandkasten_version": "0.1.0", "name": env_id, "version": "1", "meta": {},
        "default_main_file_name": "main.src", "example": None,
        "test": {"main_file": {"content": "x"}},
        "compile_script": str(scripts / "compile.sh") if compiled else None,
        "run_script": str(scripts / "run.sh"), "closure": str(directory / f"{env_id}.closure"),
        **manifest,
    }))


Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Runs a scenario against the app built over a given fake nsjail runner, in fresh
    directories, with the app's lifespan (the service's start and end) around it; keyword
    arguments are configuration variables (MEMORY_BUDGET="300")."""
    with tempfile.TemporaryDirectory(prefix="sandkasten-api-") as top:
        os.chmod(top, 0o711)
        monkeypatch.setattr("sandkasten_py.programs.store._check_traversable", lambda _: None)
        environments = Path(top, "environments")
        environments.mkdir()
        write_environment(environments, "compiled", compiled=True)
        write_environment(environments, "script", compiled=False)
        write_environment(environments, "wasm", compiled=True, compile_args="emcc")

        def run(runner: FakeRunner, scenario: Scenario, **settings: str) -> None:
            config = load_config({"CONFIG_PATH": str(ROOT / "config.toml"), "ENABLE_METRICS": "true",
                                  "PROGRAMS_DIR": f"{top}/programs", "JOBS_DIR": f"{top}/jobs",
                                  "ENVIRONMENTS_PATH": str(environments), "EMCC_SANDBOXD__ENVIRONMENT": "wasm",
                                  **settings})

            async def served() -> None:
                app = create_app(config, runners={"nsjail": runner})
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
                        await scenario(client)

            asyncio.run(served())

        yield run


def compiles(spec: JobSpec) -> JobOutcome:
    if spec.program_writable:
        Path(spec.program_dir, "app").write_text("built")
        return outcome(stdout=b"compiled\n")
    return outcome(stdout=b"ran " + " ".join(spec.argv[2:]).encode())


def test_build_then_run_then_a_cache_hit(serve: Callable[..., None]) -> None:
    runner = FakeRunner(compiles)

    async def scenario(client: httpx.AsyncClient) -> None:
        request = {"environment": "compiled", "main_file": {"content": "int main;"}}
        built = await client.post("/programs", json=request)
        assert built.status_code == 201, built.text
        assert built.json()["compile_result"]["stdout"] == "compiled\n"
        assert (await client.post("/programs", json=request)).json()["cached"] is True
        ran = await client.post(f"/programs/{built.json()['program_id']}/run", json={"args": ["x", "y"]})
        assert ran.status_code == 200, ran.text
        assert ran.json()["stdout"] == "ran x y"
        assert ran.json()["resource_usage"] == {"time": 7, "memory": 2048, "cpu_time": 3}

    serve(runner, scenario)
    assert len(runner.specs) == 2  # one compile, one run


def test_a_failed_compile_is_400_compile_error_with_the_result(
        serve: Callable[..., None]) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        build = {"environment": "compiled", "main_file": {"content": "x"}}
        for path, body in (("/programs", build), ("/run", {"build": build})):
            response = await client.post(path, json=body)
            assert response.status_code == 400, response.text
            assert list(response.json()) == ["error", "details"]
            assert response.json()["error"] == "compile_error"
            details = response.json()["details"]
            assert (details["status"], details["stderr"]) == (1, "main.src:1: nope\n")

    serve(FakeRunner(lambda spec: outcome(status=JobStatus.NONZERO_EXIT, exit_code=1,
                                          stderr=b"main.src:1: nope\n")), scenario)


def test_a_limit_that_ended_the_run_is_in_the_result(serve: Callable[..., None]) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post("/run", json={
            "build": {"environment": "script", "main_file": {"content": "yes"}},
            "run": {"run_limits": {"stdout_max_size": 10}}})
        assert response.status_code == 200, response.text
        run = response.json()["run"]
        assert (run["status"], run["exceeded"], run["limits"]["stdout_max_size"]) == (137, ["stdout_max_size"], 10)

    serve(FakeRunner(lambda spec: outcome(status=JobStatus.OUTPUT_LIMIT, exit_code=137, stdout=b"y" * 10,
                                          exceeded=("stdout_max_size",))), scenario)


def test_a_runner_that_cannot_run_the_job_is_500_in_the_envelope(
        serve: Callable[..., None]) -> None:
    """The details stay in the log; the client gets the envelope, not a traceback."""
    def broken(spec: JobSpec) -> JobOutcome:
        raise SandboxError("cannot start the job: /secret/path")

    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post("/run", json={"build": {"environment": "script", "main_file": {"content": "x"}}})
        assert response.status_code == 500
        assert response.json()["error"] == "internal_server_error"
        assert "/secret/path" not in response.text

    serve(FakeRunner(broken), scenario)


def test_errors_before_any_job_reach_no_runner(serve: Callable[..., None]) -> None:
    runner = FakeRunner(compiles)

    async def scenario(client: httpx.AsyncClient) -> None:
        unknown = await client.post("/programs", json={"environment": "nope", "main_file": {"content": ""}})
        assert unknown.status_code == 404
        assert (await client.post("/programs", json={"environment": "script"})).status_code == 422
        too_long = await client.post("/run", json={
            "build": {"environment": "script", "main_file": {"content": "x"}}, "run": {"run_limits": {"time": 10**6}}})
        assert too_long.status_code == 400 and too_long.json()["error"] == "run_limits_exceeded", too_long.text
        missing = await client.post("/programs/00000000-0000-0000-0000-000000000000/run", json={})
        assert missing.status_code == 404

    serve(runner, scenario)
    assert runner.specs == []


def test_compile_args_reach_the_compile_step_or_are_refused_before_any_job(
        serve: Callable[..., None]) -> None:
    runner = FakeRunner(compiles)

    async def scenario(client: httpx.AsyncClient) -> None:
        main = {"name": "main.c", "content": "int main;"}
        plain = await client.post("/programs", json={"environment": "wasm", "main_file": main})
        with_args = await client.post("/programs", json={"environment": "wasm", "main_file": main,
                                                         "compile_args": ["-O0", "-DX=a b"]})
        assert plain.status_code == with_args.status_code == 201, with_args.text
        assert plain.json()["program_id"] != with_args.json()["program_id"]
        refused = await client.post("/programs", json={
            "environment": "wasm", "main_file": main,
            "compile_args": ["-O2", "--embed-file", "/etc/passwd", "-o", "x.js"]})
        assert refused.status_code == 400, refused.text
        body = refused.json()
        assert body["error"] == "invalid_compile_args"
        assert body["details"] == ["--embed-file", "/etc/passwd", "-o", "x.js"]
        assert "--embed-file /etc/passwd" in body["message"] and "main.c" in body["message"]
        elsewhere = await client.post("/run", json={"build": {
            "environment": "compiled", "main_file": {"content": "x"}, "compile_args": ["-O2"]}})
        assert elsewhere.status_code == 400 and elsewhere.json()["details"] == ["-O2"], elsewhere.text
        too_many = await client.post("/programs", json={"environment": "wasm", "main_file": main,
                                                        "compile_args": ["-O2"] * 101})
        assert too_many.status_code == 422 and "request_limits.args" in too_many.text
        listed = (await client.get("/environments")).json()
        assert "-s settings" in listed["wasm"]["compile_args"] and listed["compiled"]["compile_args"] is None

    serve(runner, scenario)
    assert [spec.compile_args for spec in runner.specs] == [(), ("-O0", "-DX=a b")]


def test_emcc_sandboxd_compiles_through_the_programs_service(serve: Callable[..., None]) -> None:
    """Its request becomes a build of main.c or main.cpp with the default args then its own; the
    answer names artifacts under an unguessable id, which serves them like /programs/.../artifacts."""
    def emcc(spec: JobSpec) -> JobOutcome:
        if "-DFAIL" in spec.compile_args:
            return outcome(status=JobStatus.NONZERO_EXIT, exit_code=1, stderr=b"main.c:1: error: nope\n")
        Path(spec.program_dir, "app.js").write_text("// js")
        Path(spec.program_dir, "app.wasm").write_bytes(b"\0asm")
        return outcome()

    runner = FakeRunner(emcc)

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/emcc-sandboxd/healthz")).text == "ok"
        answer = await client.post("/emcc-sandboxd/compile", json={"code": "int main;", "type": "cpp",
                                                                   "args": ["-O2", " "]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ok"] is True and "error" not in body and len(body["id"]) == 64
        assert body["js"] == f"/emcc-sandboxd/artifacts/{body['id']}/app.js"
        assert body["wasm"] == f"/emcc-sandboxd/artifacts/{body['id']}/app.wasm"
        wasm = await client.get(body["wasm"])
        assert (wasm.status_code, wasm.content, wasm.headers["content-type"]) == (200, b"\0asm", "application/wasm")
        assert (await client.get(body["js"], headers={"If-None-Match": wasm.headers["etag"]})).status_code == 200
        assert (await client.get(body["wasm"], headers={"If-None-Match": wasm.headers["etag"]})).status_code == 304
        again = (await client.post("/emcc-sandboxd/compile", json={"code": "int main;", "type": "cpp",
                                                                   "args": ["-O2"]})).json()
        assert again["id"] == body["id"]  # the same build, the same id: caches keep working

        program_id = body["id"][:32]
        forged = program_id + "0" * 32
        assert (await client.get(f"/emcc-sandboxd/artifacts/{forged}/app.js")).status_code == 404
        assert (await client.get(f"/emcc-sandboxd/artifacts/{program_id}/app.js")).status_code == 404
        assert (await client.get(f"/emcc-sandboxd/artifacts/{body['id']}/nope.js")).status_code == 404

        failed = await client.post("/emcc-sandboxd/compile", json={"code": "x", "args": ["-DFAIL"]})
        assert failed.status_code == 400 and failed.json() == {"ok": False, "error": "main.c:1: error: nope\n"}
        refused = await client.post("/emcc-sandboxd/compile", json={"code": "x", "args": ["-o", "/tmp/x"]})
        assert refused.status_code == 400 and refused.json()["ok"] is False
        assert "`-o`: the output is always" in refused.json()["error"]
        for request, error in [({"code": " "}, "code is required"), ({"code": "x", "type": "rust"},
                                                                      "type must be 'c' or 'cpp'")]:
            bad = await client.post("/emcc-sandboxd/compile", json=request)
            assert (bad.status_code, bad.json()) == (400, {"ok": False, "error": error})
        not_json = await client.post("/emcc-sandboxd/compile", content=b"{")
        assert not_json.status_code == 400 and not_json.json()["error"].startswith("invalid JSON")
        assert (await client.get("/emcc-sandboxd/compile")).status_code == 405

    serve(runner, scenario)
    compiles_run = [spec for spec in runner.specs if spec.program_writable]
    assert compiles_run[0].argv[1] == "main.cpp"
    assert compiles_run[0].compile_args == ("-sINVOKE_RUN=0", "-sENVIRONMENT=web", "-sALLOW_MEMORY_GROWTH=1",
                                            "-sMODULARIZE=1", "-O2")
    assert len(compiles_run) == 2  # the second identical compile was a cache hit; -o never ran


def test_a_job_that_finds_no_room_in_the_memory_budget_in_time_is_503_busy(serve: Callable[..., None]) -> None:
    """Budget 300 MB, runs of 256 MB: while one runs, the next waits, then is refused with
    Retry-After; the metrics show the budget and what is held."""
    release = asyncio.Event()

    class Blocking(FakeRunner):
        async def run(self, spec: JobSpec, io: JobIO | None = None) -> JobOutcome:
            self.specs.append(spec)
            await release.wait()
            return outcome()

    runner = Blocking()

    async def scenario(client: httpx.AsyncClient) -> None:
        request = {"build": {"environment": "script", "main_file": {"content": "x"}},
                   "run": {"run_limits": {"memory": 256}}}
        first = asyncio.create_task(client.post("/run", json=request))
        while not runner.specs:
            await asyncio.sleep(0.01)
        metrics = (await client.get("/metrics")).text
        assert "sandkasten_memory_budget_mb 300.0" in metrics
        assert "sandkasten_memory_reserved_mb 256.0" in metrics
        second = await client.post("/run", json=request)
        assert second.status_code == 503, second.text
        assert second.headers["retry-after"] == "1"
        assert second.json()["error"] == "busy" and "memory_budget" in second.json()["message"]
        release.set()
        assert (await first).status_code == 200
        assert (await client.post("/run", json=request)).status_code == 200  # room again

    serve(runner, scenario, MEMORY_BUDGET="300", MEMORY_BUDGET_WAIT="1")
    assert len(runner.specs) == 2
