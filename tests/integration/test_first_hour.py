"""What a new user meets in the first hour, against real daemons: answers in the error envelope
everywhere, errors that say what was wrong, configuration errors that name their source, a port
in use, request limits that can be raised, output that is not UTF-8, metrics and the access log.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import ENVIRONMENTS, ROOT, free_port

pytestmark = pytest.mark.sandbox


def unique() -> str:
    return uuid.uuid4().hex


# ------------------------------------------------------------------------ every answer is JSON


def test_the_root_redirects_to_the_documentation(daemon: Any) -> None:
    response = requests.get(daemon.url + "/", allow_redirects=False, timeout=10)
    assert (response.status_code, response.headers["location"]) == (307, "docs")
    assert requests.get(daemon.url + "/", timeout=10).url == daemon.url + "/docs"


def test_an_unknown_path_is_a_404_in_the_envelope_naming_the_paths(daemon: Any) -> None:
    response = daemon.get("/programs")
    assert response.status_code == 405  # the path exists, for POST
    response = daemon.get("/nothing/here")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert "/nothing/here" in body["message"] and "/environments" in body["message"]


def test_a_wrong_method_is_a_405_in_the_envelope_with_allow(daemon: Any) -> None:
    response = requests.delete(daemon.url + "/config", timeout=10)
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed", "message": "DELETE is not allowed on /config"}
    assert "GET" in response.headers["allow"]


def test_metrics_switched_off_are_a_404_that_says_so(daemon_factory: Any) -> None:
    quiet = daemon_factory(ENABLE_METRICS="false")
    response = quiet.get("/metrics")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found",
                               "message": "metrics are off (configuration key `enable_metrics`)"}


# ------------------------------------------------------------------------ errors that help


def test_errors_name_what_was_wrong(daemon: Any) -> None:
    response = daemon.post("/run", json={"build": {"environment": "pyhton", "main_file": {"content": "1"}}})
    assert response.status_code == 404
    assert response.json()["message"].startswith("there is no environment `pyhton`; the environments are: ")
    assert "python" in response.json()["message"]

    response = daemon.post("/programs", json={
        "environment": "python", "main_file": {"content": "1"}, "files": [{"name": "code.py", "content": ""}]})
    assert response.json() == {"error": "invalid_file_names",
                               "message": "file name `code.py`: it is also the name of the main file"}

    response = daemon.post("/run", json={"build": {"environment": "python", "main_file": {"content": "1"}},
                                         "run": {"run_limits": {"time": 999, "network": True}}})
    body = response.json()
    assert body["details"] == [{"name": "time", "max_value": 10}, {"name": "network", "max_value": 0}]
    assert body["message"] == "`time`: 999 requested, at most 10; `network` is not allowed (the maximum is false)"


# ------------------------------------------------------------------------ request limits


def test_request_limits_are_shown_and_can_be_raised(daemon: Any, daemon_factory: Any) -> None:
    assert daemon.get("/config").json()["request_limits"] == {
        "files": 10, "file_length": 65536, "stdin_length": 65536, "args": 100, "arg_length": 4096,
        "env_vars": 16, "env_var_length": 256, "batch_runs": 1000, "pipeline_processes": 8,
        "body_size": 33554432}
    big_input = "x" * 100_000
    request = {"build": {"environment": "python",
                         "main_file": {"content": f"# {unique()}\nimport sys\nprint(len(sys.stdin.read()))"}},
               "run": {"stdin": big_input}}
    refused = daemon.post("/run", json=request)
    assert refused.status_code == 422
    assert refused.json()["reason"] == ("parse request payload error: Expected `str` of length <= 65536 - "
                                        "at `$.run.stdin` (configuration key `request_limits.stdin_length`)")
    judge = daemon_factory(REQUEST_LIMITS__STDIN_LENGTH="1000000")
    assert judge.get("/config").json()["request_limits"]["stdin_length"] == 1_000_000
    answer = judge.post("/run", json=request)
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["stdout"] == "100000\n"


# ------------------------------------------------------------------------ binary output


def test_base64_output_returns_every_byte(daemon: Any) -> None:
    code = f"# {unique()}\nimport sys\nsys.stdout.buffer.write(bytes(range(256)))\nsys.stderr.buffer.write(bytes(range(255, -1, -1)))\n"
    build = {"environment": "python", "main_file": {"content": code}}
    run = daemon.post("/run", json={"build": build, "run": {"base64_output": True}}).json()["run"]
    assert base64.b64decode(run["stdout"]) == bytes(range(256))
    assert base64.b64decode(run["stderr"]) == bytes(range(255, -1, -1))
    # without it, what is not UTF-8 becomes U+FFFD, as in Sandkasten
    text = daemon.post("/run", json={"build": build}).json()["run"]["stdout"]
    assert text.startswith("".join(map(chr, range(128)))) and text[128:] == "\ufffd" * 128


# ------------------------------------------------------------------------ metrics and access log


def test_metrics_count_outcomes_and_the_access_log_has_a_line_per_request(daemon_factory: Any) -> None:
    watched = daemon_factory()  # metrics on, access log on: the test defaults
    marker = unique()
    compile_error = watched.post("/run", json={"build": {"environment": "c", "main_file": {"content": f"// {marker}\nint main( {{"}}})
    assert compile_error.status_code == 400
    endless = watched.post("/run", json={"build": {"environment": "python", "main_file": {"content": f"# {marker}\nwhile True: pass"}},
                                         "run": {"run_limits": {"time": 1}}})
    assert endless.json()["run"]["exceeded"] == ["time"]
    watched.get(f"/{marker}")
    text = watched.get("/metrics").text
    assert 'sandkasten_compile_errors_total{environment="c"} 1.0' in text
    assert 'sandkasten_limits_exceeded_total{environment="python",limit="time",step="run"} 1.0' in text
    assert 'sandkasten_http_responses_total{status="4xx"} 2.0' in text
    assert "sandkasten_requests_waiting 0.0" in text and "process_resident_memory_bytes" in text
    assert "_created" not in text
    log = watched.log()
    assert f"GET /{marker} 404 " in log and "POST /run 200 " in log and "POST /run 400 " in log


def test_the_access_log_can_be_switched_off(daemon_factory: Any) -> None:
    quiet = daemon_factory(ACCESS_LOG="false")
    quiet.get("/config")
    assert "GET /config 200" not in quiet.log()


# ------------------------------------------------------------------------ starting the daemon


def serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CONFIG_PATH": str(ROOT / "config.toml"),
                   "HOST": "127.0.0.1", "ENVIRONMENTS_PATH": str(ENVIRONMENTS), **env}
    return subprocess.run([sys.executable, "-m", "sandkasten_py", "serve", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_a_bad_environment_variable_is_named_as_such(tmp_path: Path) -> None:
    done = serve(PORT="abc", PROGRAMS_DIR=str(tmp_path / "p"), JOBS_DIR=str(tmp_path / "j"))
    assert done.returncode == 2
    assert "sandkasten: environment variable PORT: `port`: Expected `int`, got `str`" in done.stderr
    done = serve("--config", str(tmp_path / "missing.toml"))
    assert done.returncode == 2 and f"cannot read config file {tmp_path / 'missing.toml'}" in done.stderr


def test_a_port_in_use_is_one_line_and_status_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve("--port", str(port), PROGRAMS_DIR=str(tmp_path / "p"), JOBS_DIR=str(tmp_path / "j"))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if " INFO " not in line]
    assert errors == [f"sandkasten: cannot listen on 127.0.0.1:{port}: Address already in use "
                      "(another process has it? choose another with --port or PORT)"]
    assert not (tmp_path / "p").exists(), "nothing is claimed before the port is"


def test_serve_takes_host_port_and_config() -> None:
    # jobs (uid 65534) must reach the directories: not under pytest's private base directory
    tmp_path = Path(tempfile.mkdtemp(prefix="sandkasten-serve-"))
    os.chmod(tmp_path, 0o711)
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.toml").read_text().replace("program_ttl = 600", "program_ttl = 77"))
    log = open(tmp_path / "log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sandkasten_py", "serve", "--config", str(config), "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ENVIRONMENTS_PATH": str(ENVIRONMENTS),
             "PROGRAMS_DIR": str(tmp_path / "p"), "JOBS_DIR": str(tmp_path / "j"), "PORT": "1"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert requests.get(f"http://127.0.0.1:{port}/config", timeout=1).json()["program_ttl"] == 77
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        process.terminate()
        assert process.wait(timeout=15) == 0  # a clean stop on SIGTERM
        assert "Traceback" not in (tmp_path / "log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()  # reaped here, not reported later as a running subprocess by another test
        log.close()
        shutil.rmtree(tmp_path, ignore_errors=True)
