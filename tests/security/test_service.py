"""The service itself under attack (catalogue API-01..09): its surface, floods, the build cache,
limit parsing, cleanup on error paths, shared disk, program ids and upload sizes.

All through the real daemon over HTTP, with literal JSON; daemons with special settings come from
`daemon_factory`. (API-10, websocket sessions, is in test_session_abuse.py.)
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import holds_a_job, settled, standing
from tests.security.jobs import expect_error, host_processes_with, run

pytestmark = pytest.mark.sandbox

MB = 1_000_000
POLL_DEADLINE_S = 10
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpuacct")
CGROUP_PARENT = "sandkasten"  # config.toml's default, which the test daemons use


# ------------------------------------------------------------------------------------ helpers


def unique() -> str:
    """A marker that makes a program new to the cache."""
    return uuid.uuid4().hex


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.split()[0])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def daemon_cgroup_dirs(daemon: Any) -> dict[str, Path]:
    """The daemon's own cgroup directories (v1), under which it makes one cgroup per job."""
    return {c: CGROUP_ROOT / c / CGROUP_PARENT / f"daemon-{daemon.process.pid}" for c in CGROUP_CONTROLLERS}


def job_cgroups(daemon: Any) -> dict[str, list[str]]:
    """Job cgroups that exist right now, per controller (besides those of ready gates)."""
    found = {}
    for controller, directory in daemon_cgroup_dirs(daemon).items():
        try:
            found[controller] = sorted(p.name for p in directory.iterdir() if p.is_dir() and not standing(p))
        except FileNotFoundError:
            found[controller] = []
    return found


def running_jobs(daemon: Any) -> list[str]:
    """Job cgroups with processes in them (not ready gates), all at one instant.

    The cgroups are read one after another, so a job seen running may have ended by the time
    the next one is read. Reading them all twice and counting those running both times gives
    jobs that all ran at the moment between the two rounds (each runs without a gap). (A
    finished job's empty cgroup may also linger a moment: it is removed in the background.)"""
    directory = daemon_cgroup_dirs(daemon)["memory"]

    def running(names: list[str]) -> list[str]:
        found = []
        for name in names:
            try:
                if holds_a_job(directory / name):
                    found.append(name)
            except OSError:  # removed meanwhile
                pass
        return found

    return running(running(job_cgroups(daemon)["memory"]))


def job_dirs(daemon: Any) -> list[str]:
    """The job directories in the daemon's jobs dir (files of the daemon's own may lie there)."""
    return sorted(p.name for p in daemon.jobs_dir.iterdir() if p.is_dir())


def needs_v1_cgroups(daemon: Any) -> None:
    if not all(d.is_dir() for d in daemon_cgroup_dirs(daemon).values()):
        pytest.skip("the daemon's v1 cgroup directories are not where this test looks")


def metric(daemon: Any, name: str, labels: str) -> float:
    text = daemon.get("/metrics").text
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


# ------------------------------------------------------------------------------------ API-01

OPERATIONS = {
    ("get", "/config"), ("get", "/environments"), ("get", "/environments/{name}/resource_usage"),
    ("post", "/run"), ("post", "/programs"), ("post", "/programs/{program_id}/run"),
    ("post", "/programs/{program_id}/batch"), ("post", "/batch"), ("post", "/pipelines"),
    ("get", "/programs/{program_id}/artifacts"), ("get", "/programs/{program_id}/artifacts/{name}"),
}


@pytest.mark.catalogue("API-01")
def test_the_api_has_no_admin_operations(daemon: Any) -> None:
    """The OpenAPI document lists exactly the six operations of Sandkasten's API and the two that
    read one program's build output by its (unguessable) id; nothing installs packages, purges
    caches, lists or deletes programs, or changes the configuration."""
    document = daemon.get("/openapi.json").json()
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations == OPERATIONS


@pytest.mark.catalogue("API-01")
@pytest.mark.parametrize("path", [
    "/admin", "/admin/config", "/config", "/environments", "/environments/python", "/packages",
    "/packages/python", "/programs", "/programs/{id}", "/programs/{id}/files", "/cache", "/jobs",
    "/shutdown", "/reload", "/debug", "/metrics", "/openapi.json", "/api/v2/packages",
])
def test_plausible_admin_paths_do_not_exist(daemon: Any, path: str) -> None:
    """Writes, deletes and listings on plausible admin paths are 404 or 405 - including GET on
    /programs (a listing would hand out other clients' program ids) and on a program (only its
    build output can be read, under /artifacts)."""
    path = path.replace("{id}", str(uuid.uuid4()))
    methods = ["PUT", "DELETE", "PATCH"] + ([] if path in ("/config", "/environments", "/metrics",
                                                         "/openapi.json") else ["GET"])
    if path != "/programs":  # POST /programs is the build operation
        methods.append("POST")
    for method in methods:
        response = requests.request(method, daemon.url + path, json={}, timeout=30)
        assert response.status_code in (404, 405), f"{method} {path}: {response.status_code} {response.text[:200]}"
    assert daemon.process.poll() is None


# ------------------------------------------------------------------------------------ API-02


@pytest.fixture(scope="module")
def two_slot_daemon(daemon_factory: Callable[..., Any]) -> Any:
    """A daemon that runs at most two jobs at a time."""
    return daemon_factory(MAX_CONCURRENT_JOBS="2", BASE_RESOURCE_USAGE_PERMITS="2", RUN_LIMITS__TIME="10")


@pytest.mark.catalogue("API-02")
def test_a_flood_of_requests_is_queued_and_answered(two_slot_daemon: Any) -> None:
    """200 concurrent requests against two job slots: every one is answered with its own result
    (no 5xx, nothing dropped or mixed up), never more than two jobs run at once, and the daemon's
    memory stays bounded. Requests wait for a slot without limit today; a bounded queue that
    answers 503 with Retry-After when full comes later (then extend this test)."""
    daemon = two_slot_daemon
    needs_v1_cgroups(daemon)
    code = "read -r n\nsleep 0.02\necho \"job $n\"\n"
    assert run(daemon, "bash", code, stdin="0\n", run_limits={"time": 5})["stdout"] == "job 0\n"  # built
    baseline_kb = status_kb(daemon.process.pid, "VmRSS")
    peak = {"rss_kb": baseline_kb, "jobs": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak["rss_kb"] = max(peak["rss_kb"], status_kb(daemon.process.pid, "VmRSS"))
            peak["jobs"] = max(peak["jobs"], len(running_jobs(daemon)))
            time.sleep(0.002)  # sampling interval

    def one(n: int) -> tuple[int, int, str]:
        response = requests.post(daemon.url + "/run", timeout=300, json={
            "build": {"environment": "bash", "main_file": {"content": code}},
            "run": {"stdin": f"{n}\n", "run_limits": {"time": 5}},
        })
        body = response.json()
        return n, response.status_code, body["run"]["stdout"] if response.status_code == 200 else response.text

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=200) as pool:
            answers = list(pool.map(one, range(1, 201)))
    finally:
        done.set()
        watcher.join()
    wrong = [a for a in answers if a[1:] != (200, f"job {a[0]}\n")]
    assert wrong == [], wrong[:5]
    assert 1 <= peak["jobs"] <= 2, peak
    assert peak["rss_kb"] - baseline_kb < 100_000, f"the daemon grew by {peak['rss_kb'] - baseline_kb} kB"
    assert daemon.get("/config").status_code == 200


# ------------------------------------------------------------------------------------ API-03/04


@pytest.mark.catalogue("API-03")
def test_concurrent_identical_builds_compile_once(daemon: Any) -> None:
    request = {"environment": "c", "main_file": {"content": f"/* {unique()} */\nint main(void) {{ return 0; }}\n"}}
    compile_jobs = ("sandkasten_job_duration_seconds_count", 'environment="c",step="compile"')
    compiles_before = metric(daemon, *compile_jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: daemon.post("/programs", json=request), range(8)))
    compiles = metric(daemon, *compile_jobs) - compiles_before
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert len({b["program_id"] for b in bodies}) == 1
    assert sorted(b["cached"] for b in bodies) == [False] + [True] * 7
    assert all(b["compile_result"] == bodies[0]["compile_result"] for b in bodies)
    assert compiles == 1


@pytest.mark.catalogue("API-04")
def test_program_ids_separate_everything_that_changes_a_build(daemon: Any) -> None:
    """Same main file, but another environment, build env var, extra file or main file name:
    another program. Compile limits are not part of the id (they do not change what is built)."""
    content = f"# {unique()}\necho hi\n"
    base = {"environment": "bash", "main_file": {"content": content}}
    variants = {
        "base": base,
        "python": {**base, "environment": "python"},
        "env_var": {**base, "env_vars": [{"name": "A", "value": "1"}]},
        "env_var_value": {**base, "env_vars": [{"name": "A", "value": "2"}]},
        "file": {**base, "files": [{"name": "x.txt", "content": "1"}]},
        "file_content": {**base, "files": [{"name": "x.txt", "content": "2"}]},
        "name": {**base, "main_file": {"name": "main.sh", "content": content}},
    }
    ids = {}
    for key, request in variants.items():
        response = daemon.post("/programs", json=request)
        assert response.status_code == 201, response.text
        ids[key] = response.json()["program_id"]
    assert len(set(ids.values())) == len(variants), ids
    again = daemon.post("/programs", json={**base, "compile_limits": {"time": 3, "memory": 100}})
    assert (again.json()["program_id"], again.json()["cached"]) == (ids["base"], True)


@pytest.mark.catalogue("API-04")
def test_run_limits_and_inputs_never_come_from_the_cache(daemon: Any) -> None:
    """The build is cached, the run never is: runs of one program with other limits, stdin or
    env vars get their own limits and output."""
    code = f"# {unique()}\nimport os, sys\nprint(os.environ.get('V'), sys.stdin.read())\n"
    build = {"environment": "python", "main_file": {"content": code}}
    first = daemon.post("/run", json={"build": build, "run": {"stdin": "a", "run_limits": {"time": 3}}}).json()
    second = daemon.post("/run", json={"build": build, "run": {"stdin": "b", "env_vars": [{"name": "V", "value": "v"}],
                                                               "run_limits": {"time": 4, "memory": 100}}}).json()
    assert first["program_id"] == second["program_id"]
    assert (first["cached"], second["cached"]) == (False, True)
    assert (first["run"]["stdout"], second["run"]["stdout"]) == ("None a\n", "v b\n")
    assert (first["run"]["limits"]["time"], first["run"]["limits"]["memory"]) == (3, 256)
    assert (second["run"]["limits"]["time"], second["run"]["limits"]["memory"]) == (4, 100)


@pytest.fixture(scope="module")
def pruning_daemon(daemon_factory: Callable[..., Any]) -> Any:
    """A daemon that deletes every program as soon as nobody uses it (TTL 0, sweep every second)."""
    return daemon_factory(PROGRAM_TTL="0", PRUNE_PROGRAMS_INTERVAL="1", RUN_LIMITS__TIME="10")


@pytest.mark.catalogue("API-04")
def test_pruning_never_removes_a_program_while_it_runs(pruning_daemon: Any) -> None:
    """The run spans at least one sweep (1.5 s against a 1 s interval) and reads one of the
    program's files only at its end; the program is deleted only after the run."""
    daemon = pruning_daemon
    code = "import time\ntime.sleep(1.5)\nprint(open('/program/data.txt').read())\n"
    response = daemon.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": f"# {unique()}\n{code}"},
                  "files": [{"name": "data.txt", "content": "still here"}]},
        "run": {"run_limits": {"time": 5}},
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["run"]["status"], body["run"]["stdout"]) == (0, "still here\n"), body["run"]
    program = daemon.programs_dir / body["program_id"]
    deadline = time.monotonic() + POLL_DEADLINE_S
    while program.exists():
        assert time.monotonic() < deadline, "the expired program was never pruned"
        time.sleep(0.05)  # poll interval
    missing = daemon.post(f"/programs/{body['program_id']}/run", json={})
    message = expect_error(missing, 404, {"error": "program_not_found"})
    assert f"`{body['program_id']}`" in message


# ------------------------------------------------------------------------------------ API-05

EXCEEDED = [
    ({"time": 11}, [{"name": "time", "max_value": 10}]),
    ({"time": 11, "memory": 257, "network": True},
     [{"name": "time", "max_value": 10}, {"name": "memory", "max_value": 256}, {"name": "network", "max_value": 0}]),
    ({"time": 2**64 - 1}, [{"name": "time", "max_value": 10}]),
    ({"processes": 2**63, "stdout_max_size": 65537},
     [{"name": "processes", "max_value": 64}, {"name": "stdout_max_size", "max_value": 65536}]),
]

INVALID = [
    ({"time": -1}, "Expected `int` >= 1 - at `$.run.run_limits.time`"),
    ({"time": 0}, "Expected `int` >= 1 - at `$.run.run_limits.time`"),
    ({"cpus": 0}, "Expected `int` >= 1 - at `$.run.run_limits.cpus`"),
    ({"tmpfs": -1}, "Expected `int` >= 0 - at `$.run.run_limits.tmpfs`"),
    ({"time": 1.5}, "Expected `int | null`, got `float` - at `$.run.run_limits.time`"),
    ({"time": "5"}, "Expected `int | null`, got `str` - at `$.run.run_limits.time`"),
    ({"time": True}, "Expected `int | null`, got `bool` - at `$.run.run_limits.time`"),
    ({"network": 1}, "Expected `bool | null`, got `int` - at `$.run.run_limits.network`"),
    ({"time": 2**64}, "`time` is larger than 2^64 - 1 - at `$.run.run_limits`"),
    ({"memory": 10**30}, "`memory` is larger than 2^64 - 1 - at `$.run.run_limits`"),
]


def assert_names_the_limits(message: str, limits: dict[str, Any]) -> None:
    """The message names each limit asked above its maximum, with the value asked for (network:
    a flag, not a number)."""
    for name, value in limits.items():
        assert f"`{name}`" in message, (name, message)
        if not isinstance(value, bool):
            assert f"{value} requested" in message, (name, message)


@pytest.mark.catalogue("API-05")
@pytest.mark.parametrize(("limits", "details"), EXCEEDED)
def test_run_limits_above_the_maximum(daemon: Any, limits: dict[str, Any], details: list[Any]) -> None:
    response = daemon.post("/run", json={"build": {"environment": "bash", "main_file": {"content": "echo"}},
                                         "run": {"run_limits": limits}})
    message = expect_error(response, 400, {"error": "run_limits_exceeded", "details": details})
    assert_names_the_limits(message, limits)
    # and for a program that does not exist: the limits are checked first
    response = daemon.post(f"/programs/{uuid.uuid4()}/run", json={"run_limits": limits})
    message = expect_error(response, 400, {"error": "run_limits_exceeded", "details": details})
    assert_names_the_limits(message, limits)


@pytest.mark.catalogue("API-05")
@pytest.mark.parametrize(("limits", "reason"), INVALID)
def test_run_limits_that_are_not_limits(daemon: Any, limits: dict[str, Any], reason: str) -> None:
    response = daemon.post("/run", json={"build": {"environment": "bash", "main_file": {"content": "echo"}},
                                         "run": {"run_limits": limits}})
    assert (response.status_code, response.json()) == \
        (422, {"error": "unprocessable_content", "reason": f"parse request payload error: {reason}"})


@pytest.mark.catalogue("API-05")
def test_compile_limits_are_checked_the_same_way(daemon: Any) -> None:
    program = {"environment": "c", "main_file": {"content": f"/* {unique()} */ int main(void) {{ return 0; }}\n"}}
    response = daemon.post("/programs", json={**program, "compile_limits": {"time": 31, "memory": 1025}})
    message = expect_error(response, 400, {
        "error": "compile_limits_exceeded",
        "details": [{"name": "time", "max_value": 30}, {"name": "memory", "max_value": 1024}]})
    assert_names_the_limits(message, {"time": 31, "memory": 1025})
    for limits, reason in [({"time": 0}, "Expected `int` >= 1 - at `$.compile_limits.time`"),
                           ({"time": 2**64}, "`time` is larger than 2^64 - 1 - at `$.compile_limits`")]:
        response = daemon.post("/programs", json={**program, "compile_limits": limits})
        assert (response.status_code, response.json()) == \
            (422, {"error": "unprocessable_content", "reason": f"parse request payload error: {reason}"})


# ------------------------------------------------------------------------------------ API-06


@pytest.mark.catalogue("API-06")
def test_error_responses_leave_nothing_behind(daemon: Any) -> None:
    """After a compile error, limits errors, 422s, a 415 and an unknown environment, there is no
    job directory, the daemon has no job cgroup, and no program was stored - except the one whose
    build succeeded before its run limits were refused: /run checks run limits after the build,
    as Sandkasten does, and keeps the built program for later runs."""
    needs_v1_cgroups(daemon)
    programs_before = set(p.name for p in daemon.programs_dir.iterdir())
    broken_c = {"environment": "c", "main_file": {"content": f"/* {unique()} */ int main(void) {{ return x; }}\n"}}
    built_before_refusal = {"environment": "bash", "main_file": {"content": unique()}}
    failures = [
        ("/programs", broken_c, 400),
        ("/run", {"build": broken_c}, 400),
        ("/programs", {**broken_c, "compile_limits": {"time": 31}}, 400),
        ("/run", {"build": built_before_refusal, "run": {"run_limits": {"time": 11}}}, 400),
        ("/run", {"build": {"environment": "bash", "main_file": {"content": unique()}},
                  "run": {"run_limits": {"time": -1}}}, 422),
        ("/programs", {"environment": "brainfuck", "main_file": {"content": unique()}}, 404),
        ("/programs", {"environment": "bash", "main_file": {"content": unique()},
                       "files": [{"name": "../x", "content": ""}]}, 422),
        (f"/programs/{uuid.uuid4()}/run", {}, 404),
    ]
    for path, body, status in failures:
        response = daemon.post(path, json=body)
        assert response.status_code == status, (path, body, response.text)
    response = requests.post(daemon.url + "/run", data=b"{}", timeout=30)  # no content type
    assert response.status_code == 415
    assert settled(lambda: job_dirs(daemon), []) == []
    assert settled(lambda: job_cgroups(daemon), {c: [] for c in CGROUP_CONTROLLERS}) == {c: [] for c in CGROUP_CONTROLLERS}
    kept = daemon.post("/programs", json=built_before_refusal).json()
    assert kept["cached"] is True
    assert set(p.name for p in daemon.programs_dir.iterdir()) - programs_before == {kept["program_id"]}


@pytest.mark.catalogue("API-06")
def test_a_client_that_goes_away_leaves_nothing_behind(daemon: Any) -> None:
    """The client gives up while its job runs; the job is killed, and then its processes,
    directory and cgroup are gone."""
    needs_v1_cgroups(daemon)
    marker = f"abandoned-marker-{uuid.uuid4()}"
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(daemon.url + "/run", timeout=(5, 0.5), json={
            "build": {"environment": "bash", "main_file": {"content": f"exec -a {marker} sleep 1000\n"}},
            "run": {"run_limits": {"time": 1}},
        })

    def leftovers() -> dict[str, Any]:
        processes = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                    processes.append(int(entry.name))
            except OSError:
                pass
        return {"processes": processes, "jobs": job_dirs(daemon),
                "cgroups": [name for names in job_cgroups(daemon).values() for name in names]}

    deadline = time.monotonic() + POLL_DEADLINE_S
    while (left := leftovers()) != {"processes": [], "jobs": [], "cgroups": []}:
        assert time.monotonic() < deadline, f"left behind: {left}"
        time.sleep(0.05)  # poll interval
    assert daemon.get("/config").status_code == 200


def send_and_stay(daemon: Any, environment: str, code: str, **run_: Any) -> socket.socket:
    """POST /run on a connection of its own and do not read the answer: the caller leaves by
    closing the socket (as a client that gives up does)."""
    url = urlsplit(daemon.url)
    connection = socket.create_connection((url.hostname, url.port), timeout=5)
    body = json.dumps({"build": {"environment": environment, "main_file": {"content": code}},
                       "run": run_}).encode()
    connection.sendall(b"POST /run HTTP/1.1\r\nHost: sandkasten\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return connection


def processes_named(marker: str) -> list[int]:
    return host_processes_with(marker)


def unlabelled_metric(daemon: Any, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", daemon.get("/metrics").text, re.M)
    assert match, name
    return float(match.group(1))


@pytest.fixture(scope="module")
def one_slot_daemon(daemon_factory: Callable[..., Any]) -> Any:
    """One job at a time, one request waiting, and runs that may last two minutes."""
    return daemon_factory(MAX_CONCURRENT_JOBS="1", BASE_RESOURCE_USAGE_PERMITS="1", MAX_QUEUED_JOBS="1",
                          RUN_LIMITS__TIME="120")


@pytest.mark.catalogue("API-06")
def test_a_running_job_is_stopped_when_its_client_goes_away(one_slot_daemon: Any) -> None:
    """The job would sleep for 100 s of its 120 s limit; the client leaves once it runs, and the
    job is killed at once (well before its limit), its slot freed for the next request."""
    marker = f"left-running-{uuid.uuid4()}"
    connection = send_and_stay(one_slot_daemon, "bash", f"exec -a {marker} sleep 100\n",
                               run_limits={"time": 120})
    try:
        assert settled(lambda: bool(processes_named(marker)), True, POLL_DEADLINE_S), "the job never ran"
    finally:
        connection.close()
    assert settled(lambda: processes_named(marker), [], 30) == []
    assert settled(lambda: unlabelled_metric(one_slot_daemon, "sandkasten_requests_in_progress"), 0.0) == 0.0
    assert run(one_slot_daemon, "bash", "echo next")["stdout"] == "next\n"


@pytest.mark.catalogue("API-06")
def test_a_waiting_request_whose_client_goes_away_leaves_the_queue(one_slot_daemon: Any) -> None:
    """With one slot taken and the one place in the queue taken, a further request is refused
    (503); once the waiting client leaves, its place is free: the next request waits and runs."""
    marker = f"holding-the-slot-{uuid.uuid4()}"
    holder = send_and_stay(one_slot_daemon, "bash", f"exec -a {marker} sleep 100\n", run_limits={"time": 120})
    waiter = None
    try:
        assert settled(lambda: bool(processes_named(marker)), True, POLL_DEADLINE_S), "the job never ran"
        waiter = send_and_stay(one_slot_daemon, "bash", "echo never")
        assert settled(lambda: unlabelled_metric(one_slot_daemon, "sandkasten_requests_waiting"), 1.0) == 1.0
        refused = one_slot_daemon.post("/run", json={"build": {"environment": "bash", "main_file": {"content": "echo"}}})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1", refused.text
        waiter.close()
        assert settled(lambda: unlabelled_metric(one_slot_daemon, "sandkasten_requests_waiting"), 0.0) == 0.0
        with ThreadPoolExecutor(1) as pool:
            later = pool.submit(run, one_slot_daemon, "bash", "echo later")
            assert settled(lambda: unlabelled_metric(one_slot_daemon, "sandkasten_requests_waiting"), 1.0) == 1.0
            holder.close()
            assert later.result(timeout=60)["stdout"] == "later\n"
    finally:
        holder.close()
        if waiter is not None:
            waiter.close()
    assert settled(lambda: processes_named(marker), [], 30) == []


# ------------------------------------------------------------------------------------ API-07

FILL_TMP = """
error=$(dd if=/dev/zero of=/tmp/fill bs=1M 2>&1)
echo "dd $?"
grep -o 'No space left on device' <<< "$error"
echo "size $(( $(stat -c %s /tmp/fill) / 1000000 ))"
exec -a {marker} sleep 1000
"""

USE_TMP = """
import hashlib, json, os
data = os.urandom(8_000_000)
with open("/tmp/mine", "wb") as f:
    f.write(data)
with open("/tmp/mine", "rb") as f:
    print(json.dumps(hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(data).hexdigest()))
"""


@pytest.mark.catalogue("API-07")
def test_a_job_with_a_full_tmp_does_not_disturb_others(daemon: Any) -> None:
    """While one job sits on a full /tmp (its own tmpfs, 16 MB), another job writes and reads
    8 MB in its /tmp and a new C program compiles (gcc works in /tmp)."""
    marker = f"full-tmp-marker-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        filler = pool.submit(run, daemon, "bash", FILL_TMP.format(marker=marker),
                             run_limits={"time": 3, "tmpfs": 16, "memory": 128})
        deadline = time.monotonic() + POLL_DEADLINE_S
        while not any(marker.encode() == (p / "cmdline").read_bytes().split(b"\0")[0]
                      for p in Path("/proc").iterdir() if p.name.isdigit() and (p / "cmdline").exists()):
            assert not filler.done(), filler.result()
            assert time.monotonic() < deadline, "the filling job never got to sleep"
            time.sleep(0.01)  # poll interval
        other = run(daemon, "python", USE_TMP, run_limits={"time": 5})
        fresh_c = f'/* {unique()} */\n#include <stdio.h>\nint main(void) {{ puts("built"); return 0; }}\n'
        compiled = daemon.post("/run", json={
            "build": {"environment": "c", "main_file": {"content": fresh_c}},
            "run": {"run_limits": {"time": 5}},
        })
        still_running = not filler.done()
        filled = filler.result()
    assert still_running, "the filling job ended before the others ran"
    assert (filled["stdout"], filled["exceeded"]) == ("dd 1\nNo space left on device\nsize 16\n", ["time"]), filled
    assert (other["status"], other["stdout"]) == (0, "true\n"), other
    assert compiled.status_code == 200 and compiled.json()["run"]["stdout"] == "built\n", compiled.text


# ------------------------------------------------------------------------------------ API-08


@pytest.mark.catalogue("API-08")
def test_program_ids_are_128_bit_and_not_sequential(daemon: Any) -> None:
    """Program ids are UUIDs of 128 bits derived from a SHA-256 of the build request: two builds
    made one after the other differ in about half their bits, not in the last few. (They are
    content addresses, not secrets: whoever knows a program's exact sources can build it and
    learn its id - and gets nothing but the right to run that same program.)"""
    ids = []
    for _ in range(2):
        response = daemon.post("/programs", json={"environment": "bash", "main_file": {"content": f"# {unique()}"}})
        assert response.status_code == 201, response.text
        ids.append(response.json()["program_id"])
    first, second = (uuid.UUID(i) for i in ids)
    assert [str(first), str(second)] == ids  # canonical form
    assert bin(first.int ^ second.int).count("1") >= 32, ids
    assert abs(first.int - second.int) > 2**64, ids


@pytest.mark.catalogue("API-08")
@pytest.mark.parametrize(("path", "status"), [
    (f"/programs/{uuid.uuid4()}/run", 404),
    (f"/programs/{uuid.UUID(int=1)}/run", 404),
    ("/programs/00000000-0000-0000-0000-000000000000/run", 404),
    ("/programs/not-a-uuid/run", 422),
    ("/programs/..%2F..%2Fetc/run", 404),
    ("/programs/../../etc/run", 404),
])
def test_unknown_or_malformed_program_ids(daemon: Any, path: str, status: int) -> None:
    response = requests.post(daemon.url + path, json={}, timeout=30)
    assert response.status_code == status, response.text
    if status == 404 and "not-a-uuid" not in path and ".." not in path:
        message = expect_error(response, 404, {"error": "program_not_found"})
        assert f"`{path.split('/')[2]}`" in message


@pytest.mark.catalogue("API-08")
def test_emcc_sandboxd_artifact_ids_cannot_be_guessed_or_forged(daemon: Any) -> None:
    """emcc-sandboxd's ids are 8 random hex digits: anyone can enumerate the artifacts of others.
    Ours are the program id with a 128-bit HMAC tag under the daemon's secret key: the program
    id alone (which the sources give away), a made-up or altered tag, and a tag of another
    program name nothing; the same build gets the same id again."""
    code = f"int main(void) {{ return 0; }}\n// {unique()}\n"
    first = daemon.post("/emcc-sandboxd/compile", json={"code": code, "type": "c"})
    assert first.status_code == 200, first.text
    token = first.json()["id"]
    assert len(token) == 64 and daemon.get(first.json()["js"]).status_code == 200
    assert daemon.post("/emcc-sandboxd/compile", json={"code": code, "type": "c"}).json()["id"] == token
    other = daemon.post("/emcc-sandboxd/compile", json={"code": code + "// other\n", "type": "c"}).json()["id"]
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    for forged in (token[:32], token[:32] + "0" * 32, flipped, token[:32] + other[32:], token.upper(),
                   token + "0", "../" + token, str(uuid.UUID(hex=token[:32]))):
        response = daemon.get(f"/emcc-sandboxd/artifacts/{forged}/app.js")
        assert response.status_code == 404, (forged, response.status_code)
        assert b"Module" not in response.content


# ------------------------------------------------------------------------------------ API-09


@pytest.mark.catalogue("API-09")
@pytest.mark.parametrize(("body", "reason"), [
    ({"environment": "bash", "main_file": {"content": "#" * 65537}},
     "Expected `str` of length <= 65536 - at `$.main_file.content` "
     "(configuration key `request_limits.file_length`)"),
    ({"environment": "bash", "main_file": {"content": "\U0001F600" * 65537}},
     "Expected `str` of length <= 65536 - at `$.main_file.content` "
     "(configuration key `request_limits.file_length`)"),
    ({"environment": "bash", "main_file": {"content": "#"},
      "files": [{"name": f"f{i}", "content": ""} for i in range(11)]},
     "Expected `array` of length <= 10 - at `$.files` (configuration key `request_limits.files`)"),
    ({"environment": "bash", "main_file": {"content": "#"}, "files": [{"name": "f", "content": "x" * 65537}]},
     "Expected `str` of length <= 65536 - at `$.files[0].content` "
     "(configuration key `request_limits.file_length`)"),
])
def test_uploads_are_capped_per_field(daemon: Any, body: dict[str, Any], reason: str) -> None:
    """Uploads are plain JSON strings (no archives to unpack), each capped at 65536 characters,
    at most 10 files (the default `request_limits`, which the reason names). 65536 characters
    are accepted."""
    response = daemon.post("/programs", json=body)
    expect_error(response, 422, {"error": "unprocessable_content", "reason": f"parse request payload error: {reason}"})
    accepted = daemon.post("/programs", json={"environment": "bash", "main_file": {"content": "#" * 65536}})
    assert accepted.status_code == 201, accepted.text


@pytest.fixture
def fresh_daemon(daemon_factory: Callable[..., Any]) -> Any:
    return daemon_factory()


@pytest.mark.catalogue("API-09")
def test_an_oversized_request_body_is_refused_before_it_is_buffered(fresh_daemon: Any) -> None:
    """The largest valid request is about 22 MB even with every character JSON-escaped (21 files
    and stdin of 65536 characters, 100 arguments of 4096). A 128 MB body must be refused (413)
    without the daemon holding it in memory: otherwise a handful of clients exhaust its memory
    (the per-field caps are checked only after the whole body has been read and parsed, and
    unknown fields are ignored, so they do not help).

    FAILS today: the body is read in full (`await request.body()`, no size limit in the app or in
    hypercorn's configuration), the request succeeds, and the daemon's peak RSS grows by about
    twice the body size (~250 MB here) and stays there."""
    daemon = fresh_daemon
    pid = daemon.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before_kb = status_kb(pid, "VmHWM")
    body = (b'{"build": {"environment": "bash", "main_file": {"content": "echo hi"}}, "padding": "'
            + b"x" * (128 * MB) + b'"}')
    try:
        response = requests.post(daemon.url + "/run", data=body, timeout=60,
                                 headers={"content-type": "application/json"})
        status = response.status_code
    except requests.ConnectionError:  # a server may also close the connection after its 413
        status = 413
    grown_kb = status_kb(pid, "VmHWM") - before_kb
    assert daemon.get("/config").status_code == 200
    assert (status, grown_kb < 32_000) == (413, True), \
        f"status {status}, the daemon's peak memory grew by {grown_kb} kB for a {len(body) // MB} MB body"


@pytest.mark.catalogue("API-02")
def test_a_flood_past_max_queued_jobs_is_refused_at_once_with_retry_after(daemon_factory: Callable[..., Any]) -> None:
    """One slot and two places in the queue: of 16 requests at once, those that find the queue
    full get 503 `busy` with Retry-After at once (not after waiting), none gets a 500, and every
    accepted one is answered with its run."""
    small = daemon_factory(MAX_CONCURRENT_JOBS="1", MAX_QUEUED_JOBS="2", BASE_RESOURCE_USAGE_PERMITS="1")
    response = small.post("/programs", json={"environment": "bash",
                                             "main_file": {"content": "sleep 0.5; echo done\n"}})
    assert response.status_code == 201, response.text
    program_id = response.json()["program_id"]

    def one(_: int) -> tuple[int, dict[str, Any], str | None, float]:
        started = time.monotonic()
        answer = requests.post(f"{small.url}/programs/{program_id}/run", json={}, timeout=120)
        return answer.status_code, answer.json(), answer.headers.get("Retry-After"), time.monotonic() - started

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(16)))
    statuses = sorted(status for status, _, _, _ in answers)
    assert set(statuses) <= {200, 503}, statuses
    accepted = [body for status, body, _, _ in answers if status == 200]
    refused = [(body, retry, took) for status, body, retry, took in answers if status == 503]
    assert len(accepted) >= 3 and refused, statuses  # one running and two waiting at least
    assert all(body["stdout"] == "done\n" for body in accepted)
    for body, retry_after, took in refused:
        assert body["error"] == "busy" and "max_queued_jobs" in body["message"], body
        assert retry_after == "1"
        assert took < 0.4  # at once: a refused request did not wait for a job (0.5 s each)
    metrics = small.get("/metrics").text
    refused_total = re.search(r"^sandkasten_requests_refused_total (\S+)$", metrics, re.MULTILINE)
    assert refused_total is not None and float(refused_total[1]) == len(refused), metrics[-2000:]
    assert re.search(r"^sandkasten_slot_wait_seconds_count (\S+)$", metrics, re.MULTILINE)
