"""Integration tests of the read-only endpoints: /config, /environments, resource_usage,
/openapi.json, /docs, /redoc, /metrics, and the behaviour for unknown routes and methods.

Everything is checked over HTTP against a real daemon with literal JSON expectations.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests

from conftest import ENVIRONMENTS as ENVIRONMENTS_DIR, Daemon

pytestmark = pytest.mark.sandbox

COMPILE_LIMITS = {
    "cpus": 1, "time": 30, "memory": 1024, "tmpfs": 256, "filesize": 16, "file_descriptors": 256,
    "processes": 256, "stdout_max_size": 65536, "stderr_max_size": 65536, "network": False,
}
# The `daemon` fixture raises the run time limit to 10 s (RUN_LIMITS__TIME=10).
RUN_LIMITS = {
    "cpus": 1, "time": 10, "memory": 256, "tmpfs": 256, "filesize": 16, "file_descriptors": 256,
    "processes": 64, "stdout_max_size": 65536, "stderr_max_size": 65536, "network": False,
}
# Ours, additive: the sizes and counts a request may have (Sandkasten's fixed values, the defaults).
REQUEST_LIMITS = {
    "files": 10, "file_length": 65536, "stdin_length": 65536, "args": 100, "arg_length": 4096,
    "env_vars": 16, "env_var_length": 256, "batch_runs": 1000, "pipeline_processes": 8,
    "body_size": 33554432,
}
LIMIT_FIELDS = ["cpus", "time", "memory", "tmpfs", "filesize", "file_descriptors", "processes",
                "stdout_max_size", "stderr_max_size", "network"]

ENVIRONMENTS = {
    "python": ("Python", "code.py"),
    "bash": ("Bash", "code.sh"),
    "c": ("C", "code.c"),
    "cpp": ("C++", "code.cpp"),
    "rust": ("Rust", "code.rs"),
}

COUNTER_HELP = {
    "config_requests": "Number of config requests",
    "environments_requests": "Number of environments requests",
    "resource_usage_requests": "Number of resource_usage requests",
    "build_run_requests": "Number of build_run requests",
    "build_requests": "Number of build requests",
    "run_requests": "Number of run requests",
    "resource_usage_cache_hits": "Number of cache hits in resource_usage",
    "build_run_cache_hits": "Number of cache hits in build_run",
    "build_cache_hits": "Number of cache hits in build",
}


def metric(daemon: Daemon, name: str, environment: str | None = None) -> float:
    """The value of one sample on /metrics (0 if the sample is not there yet)."""
    response = daemon.get("/metrics")
    assert response.status_code == 200
    labels = "" if environment is None else f'{{environment="{environment}"}}'
    pattern = re.compile(rf"^{re.escape(name + labels)} (\S+)$", re.MULTILINE)
    found = pattern.findall(response.text)
    assert len(found) <= 1, found
    return float(found[0]) if found else 0.0


# --------------------------------------------------------------------------- GET /config


def test_config_is_exactly_the_public_configuration(daemon: Daemon) -> None:
    response = daemon.get("/config")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == {
        "program_ttl": 600,
        "max_concurrent_jobs": 16,
        "compile_limits": COMPILE_LIMITS,
        "run_limits": RUN_LIMITS,
        "base_resource_usage_runs": 20,
        "request_limits": REQUEST_LIMITS,
    }
    assert list(body) == ["program_ttl", "max_concurrent_jobs", "compile_limits", "run_limits",
                          "base_resource_usage_runs", "request_limits"]
    assert list(body["request_limits"]) == list(REQUEST_LIMITS)
    assert all(type(v) is int for v in body["request_limits"].values())
    assert list(body["compile_limits"]) == LIMIT_FIELDS
    assert list(body["run_limits"]) == LIMIT_FIELDS
    # Integers are integers and the network flag is a real boolean, not 0/1.
    assert body["run_limits"]["network"] is False
    assert all(type(v) is int for k, v in body["run_limits"].items() if k != "network")


def test_config_reflects_environment_overrides(daemon_factory: Callable[..., Daemon]) -> None:
    other = daemon_factory(PROGRAM_TTL="42", COMPILE_LIMITS__MEMORY="512", RUN_LIMITS__PROCESSES="8",
                           BASE_RESOURCE_USAGE_RUNS="3", MAX_CONCURRENT_JOBS="4",
                           BASE_RESOURCE_USAGE_PERMITS="4")
    body = other.get("/config").json()
    assert body["program_ttl"] == 42
    assert body["max_concurrent_jobs"] == 4
    assert body["base_resource_usage_runs"] == 3
    assert body["compile_limits"] == {**COMPILE_LIMITS, "memory": 512}
    assert body["run_limits"] == {**RUN_LIMITS, "time": 5, "processes": 8}
    other.stop()


# --------------------------------------------------------------------- GET /environments


def test_environments_lists_the_host_built_environments(daemon: Daemon) -> None:
    """Every manifest in pkgs/ is served (the five first ones with their exact names)."""
    response = daemon.get("/environments")
    assert response.status_code == 200
    body = response.json()
    built = {p.name.removesuffix(".json") for p in ENVIRONMENTS_DIR.glob("*.json")}
    assert set(body) == built and set(ENVIRONMENTS) <= built
    for env_id, (name, main_file) in ENVIRONMENTS.items():
        env = body[env_id]
        assert set(env) == {"name", "version", "default_main_file_name", "example", "meta", "compile_args"}, env_id
        assert env["name"] == name
        assert env["default_main_file_name"] == main_file
        assert isinstance(env["version"], str) and env["version"]
        assert env["example"] is None or isinstance(env["example"], str)
        assert isinstance(env["meta"], dict)


def test_environment_example_runs_in_its_environment(daemon: Daemon) -> None:
    """The advertised example of python is a working program (reads a name, greets)."""
    example = daemon.get("/environments").json()["python"]["example"]
    assert isinstance(example, str)
    response = daemon.post("/run", json={"build": {"environment": "python", "main_file": {"content": example}},
                                         "run": {"stdin": "Ada\n"}})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["status"] == 0
    assert "Ada" in response.json()["run"]["stdout"]


# ------------------------------------------------------- GET /environments/{name}/resource_usage


def _check_benchmark(stats: object) -> None:
    assert isinstance(stats, dict)
    assert list(stats) == ["min", "avg", "max"]
    assert all(type(v) is int and v >= 0 for v in stats.values())
    assert stats["min"] <= stats["avg"] <= stats["max"]


def test_resource_usage_python_has_no_build(daemon: Daemon) -> None:
    response = daemon.get("/environments/python/resource_usage")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"build", "run"}
    assert body["build"] is None
    assert set(body["run"]) == {"time", "memory"}
    _check_benchmark(body["run"]["time"])
    _check_benchmark(body["run"]["memory"])
    assert body["run"]["memory"]["max"] > 0


def test_resource_usage_c_has_a_build(daemon: Daemon) -> None:
    response = daemon.get("/environments/c/resource_usage")
    assert response.status_code == 200, response.text
    body = response.json()
    build = body["build"]
    assert isinstance(build, dict)
    assert {"time", "memory"} <= set(build)
    assert type(build["time"]) is int and type(build["memory"]) is int
    assert build["memory"] > 0
    _check_benchmark(body["run"]["time"])
    _check_benchmark(body["run"]["memory"])


def test_resource_usage_unknown_environment(daemon: Daemon) -> None:
    response = daemon.get("/environments/brainfuck/resource_usage")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    # Sandkasten's part exactly; our additive `message` names the unknown id and the known ones.
    message = body.pop("message")
    assert body == {"error": "environment_not_found"}
    assert isinstance(message, str)
    assert "`brainfuck`" in message
    assert all(name in message for name in ENVIRONMENTS)


def test_resource_usage_second_call_is_served_from_cache(daemon: Daemon) -> None:
    first = daemon.get("/environments/python/resource_usage")
    assert first.status_code == 200
    hits_before = metric(daemon, "sandkasten_resource_usage_cache_hits", "python")
    requests_before = metric(daemon, "sandkasten_resource_usage_requests", "python")
    second = daemon.get("/environments/python/resource_usage")
    assert second.status_code == 200
    assert second.json() == first.json()  # the cached result, not a new measurement
    assert metric(daemon, "sandkasten_resource_usage_cache_hits", "python") == hits_before + 1
    assert metric(daemon, "sandkasten_resource_usage_requests", "python") == requests_before + 1


# --------------------------------------------------------------------------- OpenAPI and docs


ROUTES = {
    "/config": {"get"},
    "/environments": {"get"},
    "/environments/{name}/resource_usage": {"get"},
    "/run": {"post"},
    "/programs": {"post"},
    "/programs/{program_id}/run": {"post"},
    "/programs/{program_id}/batch": {"post"},
    "/batch": {"post"},
    "/pipelines": {"post"},
    "/programs/{program_id}/artifacts": {"get"},
    "/programs/{program_id}/artifacts/{name}": {"get"},
}


def test_openapi_document(daemon: Daemon) -> None:
    response = daemon.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["title"] == "Sandkasten"
    assert spec["info"]["version"] == "0.1.0"
    assert spec["servers"] == [{"url": "/"}]
    paths = spec["paths"]
    assert set(paths) == set(ROUTES)
    for path, methods in ROUTES.items():
        assert {m for m in paths[path] if m in {"get", "post", "put", "patch", "delete"}} == methods, path
    assert "201" in paths["/programs"]["post"]["responses"]
    assert "200" in paths["/run"]["post"]["responses"]
    schemas = spec["components"]["schemas"]
    for name in ["MainFile", "File", "EnvVar", "LimitsOpt", "Limits", "BuildRequest", "RunRequest",
                 "BuildRunRequest", "ResourceUsage", "RunResult", "BuildResult", "BuildRunResult",
                 "LimitExceeded", "Environment", "BaseResourceUsage", "PublicConfig"]:
        assert name in schemas, name
    tags = {op["tags"][0] for methods in paths.values() for op in methods.values()}
    assert tags == {"Configuration", "Environments", "Programs"}


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_are_html(daemon: Daemon, path: str) -> None:
    response = daemon.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    assert "openapi.json" in response.text


# ------------------------------------------------------------------------------- /metrics


def test_metrics_use_the_original_counter_names(daemon: Daemon) -> None:
    response = daemon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in ["config_requests", "environments_requests", "run_requests"]:
        full = "sandkasten_" + name
        assert f"# HELP {full} {COUNTER_HELP[name]}\n" in text
        assert f"# TYPE {full} counter\n" in text
        assert re.search(rf"^{full} \d+(\.0)?$", text, re.MULTILINE), full
    for name in COUNTER_HELP:  # the original's counters, not prometheus_client's renamings
        assert f"sandkasten_{name}_total" not in text
        assert f"sandkasten_{name}_created" not in text


def test_config_requests_counter_increments(daemon: Daemon) -> None:
    before = metric(daemon, "sandkasten_config_requests")
    assert daemon.get("/config").status_code == 200
    assert metric(daemon, "sandkasten_config_requests") == before + 1


def test_environments_requests_counter_increments(daemon: Daemon) -> None:
    before = metric(daemon, "sandkasten_environments_requests")
    assert daemon.get("/environments").status_code == 200
    assert metric(daemon, "sandkasten_environments_requests") == before + 1


def test_program_counters_and_cache_hits(daemon: Daemon) -> None:
    body = {"build": {"environment": "python",
                      "main_file": {"content": "print('metrics test 7f3c')"}}}
    runs_before = metric(daemon, "sandkasten_build_run_requests", "python")
    hits_before = metric(daemon, "sandkasten_build_run_cache_hits", "python")
    first = daemon.post("/run", json=body)
    second = daemon.post("/run", json=body)
    assert first.status_code == second.status_code == 200
    assert metric(daemon, "sandkasten_build_run_requests", "python") == runs_before + 2
    # The program may be cached from an earlier session run of this test: count the cached ones.
    cached = [first.json()["cached"], second.json()["cached"]].count(True)
    assert cached >= 1
    assert metric(daemon, "sandkasten_build_run_cache_hits", "python") == hits_before + cached

    build_before = metric(daemon, "sandkasten_build_requests", "python")
    build_hits_before = metric(daemon, "sandkasten_build_cache_hits", "python")
    built = daemon.post("/programs", json=body["build"])
    assert built.status_code == 201 and built.json()["cached"] is True
    assert metric(daemon, "sandkasten_build_requests", "python") == build_before + 1
    assert metric(daemon, "sandkasten_build_cache_hits", "python") == build_hits_before + 1

    run_before = metric(daemon, "sandkasten_run_requests")
    assert daemon.post(f"/programs/{built.json()['program_id']}/run", json={}).status_code == 200
    assert metric(daemon, "sandkasten_run_requests") == run_before + 1


def test_metrics_are_not_served_when_disabled(daemon_factory: Callable[..., Daemon]) -> None:
    other = daemon_factory(ENABLE_METRICS="false")
    assert other.get("/metrics").status_code == 404
    assert other.get("/config").status_code == 200
    other.stop()


# ---------------------------------------------------------------- unknown routes and methods


@pytest.mark.parametrize("path", ["/nope", "/environments/python", "/programs/x", "/v1/config", "/Config"])
def test_unknown_route_is_404(daemon: Daemon, path: str) -> None:
    response = daemon.get(path)
    assert response.status_code == 404
    assert response.text != '{"error":"environment_not_found"}'


@pytest.mark.parametrize("method,path", [("GET", "/config/"), ("GET", "/environments/"),
                                         ("POST", "/programs/")])
def test_paths_are_taken_as_given(daemon: Daemon, method: str, path: str) -> None:
    """Reference §1.1: paths are taken as given; poem's router answers 404 for a trailing slash
    (no redirect to the path without it)."""
    response = requests.request(method, daemon.url + path, json={}, allow_redirects=False, timeout=30)
    assert response.status_code == 404, (response.status_code, response.headers.get("location"))


@pytest.mark.parametrize("method,path", [
    ("POST", "/config"),
    ("POST", "/environments"),
    ("GET", "/run"),
    ("GET", "/programs"),
    ("PUT", "/programs"),
    ("GET", "/programs/8f0c2f4e-5b49-4c8e-9d8f-1a2b3c4d5e6f/run"),
    ("DELETE", "/programs/8f0c2f4e-5b49-4c8e-9d8f-1a2b3c4d5e6f/run"),
    ("POST", "/environments/python/resource_usage"),
])
def test_wrong_method_is_405(daemon: Daemon, method: str, path: str) -> None:
    response = requests.request(method, daemon.url + path, timeout=30)
    assert response.status_code == 405
