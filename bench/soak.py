"""Soak test: many mixed requests against one daemon, then look for anything left behind.

Usage: .venv/bin/python bench/soak.py [--requests 2000] [--concurrency 8] [--seed 1] [--keep]
(root; after `make setup`)

Starts a daemon on a free loopback port (like tests/conftest.py does), then sends N requests from
this process (a pool of `concurrency` threads; the daemon is a process of its own) in a mix of:
hello worlds in every environment (built once, then cached), runs of programs built before, new
builds, compile errors, 422s, 404s, limit errors, invalid names, and bombs under small limits
(fork bomb, memory bomb, stdout flood, endless loop, many files in /tmp, orphaned sleepers).
Every response is checked against what its kind must give. Afterwards it prints, and checks:

* the outcomes of each kind, and that none was unexpected;
* no 5xx and no request without a response (connection error, timeout);
* p50/p90 latency per kind;
* the daemon's RSS (VmRSS, sampled every 0.5 s) at start, before the load, after it, and max;
* no process of this soak left running as uid 65534 (found by the marker every job carries in
  its environment, or by its cgroup);
* no job cgroup left under /sys/fs/cgroup/{memory,pids,cpuacct}/sandkasten/daemon-<pid>/;
* no mount left under the daemon's programs or jobs directory (/proc/self/mountinfo);
* an empty jobs directory;
* no ERROR or traceback in the daemon's log;
* after SIGTERM, the daemon's own cgroup directories are gone.

The exit status is 1 if any check fails. `run_soak()` does all of this and returns the report;
tests/soak/test_soak.py calls it with a smaller N.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import WASI_WORKER, Daemon, sandbox_missing, standing, start_daemon  # noqa: E402

NOBODY = 65534
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpuacct")
CGROUP_PARENT = "sandkasten"
REQUEST_TIMEOUT_S = 120
LEFTOVER_DEADLINE_S = 10  # how long leftovers may take to go, polled
RSS_INTERVAL_S = 0.5
MARKER_VARIABLE = "SANDKASTEN_SOAK"

Json = Any


# ------------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: Json = None
    data: bytes | None = None  # raw body instead of `json`


@dataclass
class Context:
    """What the request makers need: the run's marker, the environments and prebuilt programs."""

    marker: str
    examples: dict[str, str]  # environment id -> its example program (reads a name, greets it)
    prebuilt: dict[str, str] = field(default_factory=dict)  # environment id -> program id

    def env_vars(self) -> list[dict[str, str]]:
        return [{"name": MARKER_VARIABLE, "value": self.marker}]

    def run_body(self, environment: str, code: str, **run: Json) -> Json:
        return {"build": {"environment": environment, "main_file": {"content": code},
                          "env_vars": self.env_vars()},
                "run": {"env_vars": self.env_vars(), **run}}


# A check returns None if the response is what the kind must give, else what is wrong.
Check = Callable[[int, Json], "str | None"]


@dataclass(frozen=True)
class Kind:
    name: str
    weight: float
    make: Callable[[Context, random.Random, int], Request]
    check: Check


def expect_error(status: int, error: str) -> Check:
    def check(got: int, body: Json) -> str | None:
        if got != status or not isinstance(body, dict) or body.get("error") != error:
            return f"expected {status} {error}"
        return None
    return check


def expect_run(status: int, *, stdout: str | None = None, exceeded: set[str] | None = None,
               exactly: bool = False, stdout_at_most: int | None = None) -> Check:
    """200 with a run result: exit status, stdout, and which limits ended it."""
    def check(got: int, body: Json) -> str | None:
        if got not in (200, 201) or not isinstance(body, dict):
            return "expected a run result"
        result = body.get("run", body)
        if result.get("status") != status:
            return f"expected exit status {status}"
        if stdout is not None and result.get("stdout") != stdout:
            return f"expected stdout {stdout!r}"
        if stdout_at_most is not None and len(result.get("stdout", "").encode()) > stdout_at_most:
            return f"expected at most {stdout_at_most} bytes of stdout"
        got_exceeded = set(result.get("exceeded", []))
        if exceeded is not None and (got_exceeded != exceeded if exactly else not exceeded <= got_exceeded):
            return f"expected exceeded {'==' if exactly else '>='} {sorted(exceeded)}"
        return None
    return check


def expect_built(got: int, body: Json) -> str | None:
    if got != 201 or not isinstance(body, dict) or body.get("cached") is not False:
        return "expected 201 and a new build"
    return None


HELLO = expect_run(0, stdout="Hello, World!\n", exceeded=set(), exactly=True)

FORK_BOMB = ":(){ :|:& };:\nwhile :; do :; done\n"
MEMORY_BOMB = "a = []\nwhile True:\n    a.append(b'x' * 1_000_000)\n"
STDOUT_FLOOD = "while True:\n    print('x' * 100)\n"
ENDLESS_LOOP = "while True:\n    pass\n"
MANY_FILES = """\
import errno
n = 0
for n in range(1, 5001):  # under storage_limits.tmp_files
    open(f"/tmp/f{n}", "w").close()
try:
    with open("/tmp/big", "wb") as f:
        while True:
            f.write(b"x" * 65536)
            f.flush()
except OSError as e:
    print(n, errno.errorcode[e.errno])
"""
# Sleepers that outlive the program: in new sessions, in the background, disowned.
ORPHANS = """\
for i in 1 2 3; do (setsid sleep 1000 > /dev/null 2>&1 &); done
sleep 1000 &
nohup sleep 1000 > /dev/null 2>&1 &
disown -a
echo spawned
"""


def unprocessable(ctx: Context, rng: random.Random, i: int) -> Request:
    variant = rng.randrange(6)
    good = ctx.run_body("python", "print(1)")
    if variant == 0:
        return Request("POST", "/run", data=b'{"build": {"environment": "python", ')
    if variant == 1:
        good["build"]["main_file"]["name"] = "../escape"
    elif variant == 2:
        good["run"]["run_limits"] = {"time": -1}
    elif variant == 3:
        good["run"]["run_limits"] = {"memory": 0}
    elif variant == 4:
        del good["build"]["main_file"]["content"]
    else:
        return Request("POST", "/programs/not-a-uuid/run", json={})
    return Request("POST", "/run", json=good)


def not_found(ctx: Context, rng: random.Random, i: int) -> Request:
    if rng.random() < 0.5:
        return Request("POST", "/run", json=ctx.run_body("no-such-environment", "x"))
    return Request("POST", f"/programs/{uuid.uuid4()}/run", json={})


def check_not_found(got: int, body: Json) -> str | None:
    if got != 404 or sandkasten_part(body) not in ({"error": "environment_not_found"},
                                                  {"error": "program_not_found"}):
        return "expected 404 environment_not_found or program_not_found"
    return None


def limits_exceeded(ctx: Context, rng: random.Random, i: int) -> Request:
    if rng.random() < 0.5:
        return Request("POST", "/run", json=ctx.run_body(
            "python", "print(1)", run_limits={"time": 10**6, "memory": 10**6}))
    body = ctx.run_body("python", f"# {ctx.marker} {i}\nprint(1)")  # new: compile limits apply
    body["build"]["compile_limits"] = {"network": True}
    return Request("POST", "/run", json=body)


def check_limits_exceeded(config: Json) -> Check:
    run, compile_ = config["run_limits"], config["compile_limits"]
    expected = [
        (400, {"error": "run_limits_exceeded", "details": [
            {"name": "time", "max_value": run["time"]}, {"name": "memory", "max_value": run["memory"]}]}),
        (400, {"error": "compile_limits_exceeded", "details": [
            {"name": "network", "max_value": int(compile_["network"])}]}),
    ]

    def check(got: int, body: Json) -> str | None:
        if (got, sandkasten_part(body)) not in expected:
            return "expected the exact run_limits_exceeded or compile_limits_exceeded body"
        return None
    return check


def sandkasten_part(body: Json) -> Json:
    """An error body as Sandkasten's clients see it: without our additive `message`."""
    return {k: v for k, v in body.items() if k != "message"} if isinstance(body, dict) else body


def invalid_names(ctx: Context, rng: random.Random, i: int) -> Request:
    body = ctx.run_body("python", "print(1)")
    if rng.random() < 0.5:
        body["run"]["files"] = [{"name": "..", "content": "x"}]
    else:
        body["run"]["env_vars"] = [*ctx.env_vars(), {"name": "_", "value": "x"}]
    return Request("POST", "/run", json=body)


def check_invalid_names(got: int, body: Json) -> str | None:
    if got != 400 or sandkasten_part(body) not in ({"error": "invalid_file_names"},
                                                  {"error": "invalid_env_vars"}):
        return "expected 400 invalid_file_names or invalid_env_vars"
    return None


def hello(environment: str) -> Callable[[Context, random.Random, int], Request]:
    def make(ctx: Context, rng: random.Random, i: int) -> Request:
        return Request("POST", "/run", json=ctx.run_body(environment, ctx.examples[environment],
                                                         stdin="World\n"))
    return make


def cached_run(ctx: Context, rng: random.Random, i: int) -> Request:
    program_id = ctx.prebuilt[rng.choice(sorted(ctx.prebuilt))]
    return Request("POST", f"/programs/{program_id}/run",
                   json={"stdin": "World\n", "env_vars": ctx.env_vars()})


def new_build(ctx: Context, rng: random.Random, i: int) -> Request:
    environment = rng.choice(["python", "bash"])
    return Request("POST", "/programs", json={
        "environment": environment, "main_file": {"content": f"# {ctx.marker} {i}\necho {i}\n"
                                                  if environment == "bash" else f"print({i})\n"},
        "env_vars": [*ctx.env_vars(), {"name": "N", "value": str(i)}]})


def bomb(environment: str, code: str, **limits: int) -> Callable[[Context, random.Random, int], Request]:
    def make(ctx: Context, rng: random.Random, i: int) -> Request:
        return Request("POST", "/run", json=ctx.run_body(environment, code, run_limits=limits))
    return make


def kinds_for(environments: list[str], config: Json) -> list[Kind]:
    kinds = [Kind(f"hello_{env}", 20 / len(environments), hello(env), HELLO) for env in environments]
    kinds += [
        Kind("cached_run", 14, cached_run, HELLO),
        Kind("new_build", 6, new_build, expect_built),
        Kind("compile_error", 5, lambda ctx, rng, i: Request("POST", "/run", json=ctx.run_body(
            "c", "int main( { return 0; }\n")), expect_error(400, "compile_error")),
        Kind("unprocessable", 8, unprocessable, expect_error(422, "unprocessable_content")),
        Kind("not_found", 4, not_found, check_not_found),
        Kind("limits_exceeded", 5, limits_exceeded, check_limits_exceeded(config)),
        Kind("invalid_names", 3, invalid_names, check_invalid_names),
        Kind("fork_bomb", 4, bomb("bash", FORK_BOMB, time=2, processes=16, memory=64),
             expect_run(137, exceeded={"processes"})),
        Kind("memory_bomb", 4, bomb("python", MEMORY_BOMB, memory=32, time=5),
             expect_run(137, exceeded={"memory"})),
        Kind("stdout_flood", 4, bomb("python", STDOUT_FLOOD, stdout_max_size=1000, time=5),
             expect_run(137, exceeded={"stdout_max_size"}, stdout_at_most=1000)),
        Kind("endless_loop", 4, bomb("python", ENDLESS_LOOP, time=1),
             expect_run(137, exceeded={"time"}, exactly=True)),
        Kind("many_files", 3, bomb("python", MANY_FILES, tmpfs=1, memory=64, time=5),
             expect_run(0, stdout="5000 ENOSPC\n", exceeded=set(), exactly=True)),
        Kind("orphans", 4, bomb("bash", ORPHANS, time=5),
             expect_run(0, stdout="spawned\n", exceeded=set(), exactly=True)),
    ]
    return kinds


def outcome_label(status: int, body: Json) -> str:
    """A short name for a response: `200 exit=137 time,processes`, `400 compile_error`, ..."""
    if not isinstance(body, dict):
        return str(status)
    if "error" in body:
        return f"{status} {body['error']}"
    result = body.get("run", body)
    if isinstance(result, dict) and "status" in result:
        label = f"{status} exit={result['status']}"
        return label + (f" {','.join(result['exceeded'])}" if result.get("exceeded") else "")
    return f"{status} cached={body.get('cached')}"


# ------------------------------------------------------------------------------------ host state


def vm_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every 0.5 s until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            rss = vm_rss_kb(self.pid)
            if rss is not None:
                self.samples.append(rss)
            self.stopped.wait(RSS_INTERVAL_S)  # the sampling period, not a wait for something

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def nobody_processes(marker: str, daemon_pid: int) -> list[str]:
    """Host processes running as uid 65534 that belong to this soak: its marker is in their
    environment or command line, or they are in one of the daemon's job cgroups."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
            if str(NOBODY) not in uids:
                continue
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
            cgroups = (entry / "cgroup").read_text()
        except (OSError, StopIteration):
            continue  # gone meanwhile
        if WASI_WORKER in cmdline.split(b"\0") and "/wasm-" in cgroups:
            continue  # one of the daemon's WASI workers, which live as long as it does
        if (marker.encode() in environ or marker.encode() in cmdline
                or f"/daemon-{daemon_pid}/" in cgroups):
            name = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            found.append(f"pid {entry.name}: {name}")
    return found


def daemon_cgroup_dirs(daemon_pid: int) -> list[Path]:
    return [CGROUP_ROOT / c / CGROUP_PARENT / f"daemon-{daemon_pid}" for c in CGROUP_CONTROLLERS]


def job_cgroups(daemon_pid: int) -> list[str]:
    """Job cgroups (directories) under the daemon's own cgroup directories, besides those of
    ready gates (processes waiting for a job) and WASI workers."""
    return [str(job) for directory in daemon_cgroup_dirs(daemon_pid) if directory.is_dir()
            for job in directory.iterdir() if job.is_dir() and not standing(job)]


def mounts_under(*directories: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    needles = [str(d) for d in directories] + [str(d.resolve()) for d in directories]
    return [line for line in text.splitlines() if any(n in line for n in needles)]


def poll_until_empty(find: Callable[[], list[str]], deadline_s: float = LEFTOVER_DEADLINE_S) -> list[str]:
    """Call `find` until it finds nothing or the deadline passes; return the last finding."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = find()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)  # poll interval


# ------------------------------------------------------------------------------------ the soak


@dataclass
class Response:
    kind: str
    status: int | None  # None: no response (connection error, timeout)
    label: str
    problem: str | None
    seconds: float


@dataclass
class SoakReport:
    requests: int
    concurrency: int
    marker: str = field(default_factory=lambda: f"soak-{uuid.uuid4()}")  # in every job's environment
    seconds: float = 0.0
    daemon_pid: int = 0
    kept_workdir: str | None = None  # the daemon's directory (log, programs), kept if a check failed
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    server_errors: int = 0
    no_response: list[str] = field(default_factory=list)
    latency_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    rss_kb: dict[str, int] = field(default_factory=dict)
    leftover_processes: list[str] = field(default_factory=list)
    leftover_cgroups: list[str] = field(default_factory=list)
    leftover_mounts: list[str] = field(default_factory=list)
    leftover_jobs: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    cgroups_after_stop: list[str] = field(default_factory=list)

    @property
    def rss_growth_mb(self) -> float:
        return (self.rss_kb["after"] - self.rss_kb["before"]) / 1024

    def failures(self) -> list[str]:
        checks = {
            "unexpected outcomes": self.unexpected,
            "5xx responses": ["x"] * self.server_errors,
            "requests without a response": self.no_response,
            "leftover uid 65534 processes": self.leftover_processes,
            "leftover job cgroups": self.leftover_cgroups,
            "leftover mounts": self.leftover_mounts,
            "leftover job directories": self.leftover_jobs,
            "errors in the daemon log": self.log_errors,
            "daemon cgroups left after stop": self.cgroups_after_stop,
        }
        return [f"{name}: {len(found)}" for name, found in checks.items() if found]

    def render(self) -> str:
        lines = [f"soak: {self.requests} requests, concurrency {self.concurrency}, "
                 f"{self.seconds:.1f} s ({self.requests / max(self.seconds, 1e-9):.1f} req/s), "
                 f"daemon pid {self.daemon_pid}",
                 "", f"{'kind':16s} {'n':>5s} {'p50 ms':>8s} {'p90 ms':>8s}  outcomes"]
        for kind in sorted(self.outcomes):
            counts = self.outcomes[kind]
            p50, p90 = self.latency_ms[kind]
            outcomes = ", ".join(f"{label} x{n}" for label, n in counts.most_common())
            lines.append(f"{kind:16s} {sum(counts.values()):5d} {p50:8.1f} {p90:8.1f}  {outcomes}")
        total: Counter[str] = Counter()
        for counts in self.outcomes.values():
            total.update(label.split()[0] for label in counts.elements())
        lines += ["", "status codes: " + ", ".join(f"{s} x{n}" for s, n in sorted(total.items())),
                  f"5xx: {self.server_errors}   without a response: {len(self.no_response)}   "
                  f"unexpected: {len(self.unexpected)}"]
        lines += [f"  unexpected: {u}" for u in self.unexpected[:10]]
        lines += [f"  no response: {u}" for u in self.no_response[:10]]
        rss = self.rss_kb
        lines += ["", f"daemon RSS (MB): start {rss['start'] / 1024:.1f}, before {rss['before'] / 1024:.1f}, "
                      f"after {rss['after'] / 1024:.1f}, max {rss['max'] / 1024:.1f} "
                      f"(growth {self.rss_growth_mb:+.1f}; {rss['samples']} samples)"]
        for name, found in [("leftover uid 65534 processes", self.leftover_processes),
                            ("leftover job cgroups", self.leftover_cgroups),
                            ("leftover mounts", self.leftover_mounts),
                            ("leftover job directories", self.leftover_jobs),
                            ("ERROR lines in the daemon log", self.log_errors),
                            ("daemon cgroup directories after its stop", self.cgroups_after_stop)]:
            lines.append(f"{name}: {len(found)}")
            lines += [f"  {f}" for f in found[:10]]
        failures = self.failures()
        lines += ["", "FAILED: " + "; ".join(failures) if failures else "all checks passed"]
        if self.kept_workdir:
            lines.append(f"daemon directory (log, programs) kept: {self.kept_workdir}")
        return "\n".join(lines)


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def schedule(kinds: list[Kind], n: int, rng: random.Random) -> list[Kind]:
    """N kinds: each at least once (if N allows), the rest drawn by weight, shuffled."""
    picked = list(kinds[:n]) + rng.choices(kinds, weights=[k.weight for k in kinds], k=max(0, n - len(kinds)))
    rng.shuffle(picked)
    return picked


def run_soak(n: int = 2000, concurrency: int = 8, seed: int = 1, workdir: Path | None = None,
             progress: Callable[[str], None] | None = None) -> SoakReport:
    """Start a daemon, soak it, check what is left, stop it; return the report."""
    reason = sandbox_missing()
    if reason:
        raise RuntimeError(f"cannot soak here: {reason}")
    say = progress or (lambda _: None)
    own_workdir = workdir is None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="sandkasten-soak-"))
    os.chmod(workdir, 0o711)  # the job's uid must reach the bind sources
    report = SoakReport(requests=n, concurrency=concurrency)
    daemon = start_daemon(workdir)
    sampler = RssSampler(daemon.process.pid)
    try:
        report.daemon_pid = daemon.process.pid
        start_rss = vm_rss_kb(daemon.process.pid) or 0
        sampler.start()
        _soak(daemon, report, n, concurrency, seed, say)
        report.rss_kb["after"] = vm_rss_kb(daemon.process.pid) or 0
        sampler.stop()
        report.rss_kb.update(start=start_rss, max=max(sampler.samples + [report.rss_kb["after"]]),
                             samples=len(sampler.samples))
        say("checking for leftovers")
        report.leftover_processes = poll_until_empty(
            lambda: nobody_processes(report.marker, daemon.process.pid))
        report.leftover_cgroups = poll_until_empty(lambda: job_cgroups(daemon.process.pid))
        report.leftover_mounts = poll_until_empty(lambda: mounts_under(daemon.programs_dir, daemon.jobs_dir))
        report.leftover_jobs = poll_until_empty(
            lambda: sorted(str(p) for p in daemon.jobs_dir.iterdir() if p.name != ".lock"))
        if daemon.process.poll() is not None:
            report.unexpected.append(f"the daemon exited with {daemon.process.returncode}")
    finally:
        sampler.stop()
        daemon.stop()
    report.cgroups_after_stop = poll_until_empty(
        lambda: [str(d) for d in daemon_cgroup_dirs(report.daemon_pid) if d.exists()])
    report.log_errors = [line for line in daemon.log().splitlines()
                         if " ERROR " in line or line.startswith("Traceback")]
    if report.failures() or not own_workdir:
        report.kept_workdir = str(workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


SOAK_ENVIRONMENTS = ("bash", "c", "cpp", "python", "rust")


def _soak(daemon: Daemon, report: SoakReport, n: int, concurrency: int, seed: int,
          say: Callable[[str], None]) -> None:
    marker = report.marker
    setup = requests.Session()
    setup.trust_env = False
    served = setup.get(daemon.url + "/environments", timeout=REQUEST_TIMEOUT_S).json()
    # The soak is about the daemon, not about every toolchain: the quick environments do.
    environments = {e: d for e, d in served.items() if e in SOAK_ENVIRONMENTS}
    ctx = Context(marker=marker, examples={e: d["example"] for e, d in environments.items()})
    missing = {"python", "bash", "c"} - set(environments)
    if missing:
        raise RuntimeError(f"the soak needs the environments {sorted(missing)}")
    say(f"building the hello worlds of {', '.join(sorted(environments))}")
    for environment, code in sorted(ctx.examples.items()):
        built = setup.post(daemon.url + "/programs", timeout=REQUEST_TIMEOUT_S, json={
            "environment": environment, "main_file": {"content": code}, "env_vars": ctx.env_vars()})
        if built.status_code != 201:
            raise RuntimeError(f"building the {environment} example: {built.status_code} {built.text}")
        ctx.prebuilt[environment] = built.json()["program_id"]
    setup.close()
    report.rss_kb["before"] = vm_rss_kb(daemon.process.pid) or 0

    rng = random.Random(seed)
    config = requests.get(daemon.url + "/config", timeout=REQUEST_TIMEOUT_S).json()
    plan = schedule(kinds_for(sorted(environments), config), n, rng)
    seeds = [rng.randrange(2**32) for _ in plan]
    local = threading.local()
    done = Counter[str]()
    lock = threading.Lock()

    def one(i: int) -> Response:
        kind = plan[i]
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        request = kind.make(ctx, random.Random(seeds[i]), i)
        started = time.perf_counter()
        try:
            if request.data is not None:
                response = local.session.request(request.method, daemon.url + request.path,
                                                 data=request.data, timeout=REQUEST_TIMEOUT_S,
                                                 headers={"Content-Type": "application/json"})
            else:
                response = local.session.request(request.method, daemon.url + request.path,
                                                 json=request.json, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as e:
            return Response(kind.name, None, "no response", f"{type(e).__name__}: {e}",
                            time.perf_counter() - started)
        seconds = time.perf_counter() - started
        try:
            body = response.json()
        except ValueError:
            body = response.text
        problem = kind.check(response.status_code, body)
        if response.status_code >= 500:
            problem = f"server error {response.status_code}: {str(body)[:300]}"
        elif problem is not None:
            problem = f"{problem}; got {response.status_code} {str(body)[:300]}"
        with lock:
            done["n"] += 1
            if done["n"] % 250 == 0:
                say(f"{done['n']}/{n} responses")
        return Response(kind.name, response.status_code, outcome_label(response.status_code, body),
                        problem, seconds)

    say(f"sending {n} requests, {concurrency} at a time")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        responses = list(pool.map(one, range(n)))
    report.seconds = time.monotonic() - started

    latencies: dict[str, list[float]] = {}
    for r in responses:
        report.outcomes.setdefault(r.kind, Counter())[r.label] += 1
        latencies.setdefault(r.kind, []).append(r.seconds * 1000)
        if r.status is None:
            report.no_response.append(f"{r.kind}: {r.problem}")
        elif r.status >= 500:
            report.server_errors += 1
            report.unexpected.append(f"{r.kind}: {r.problem}")
        elif r.problem is not None:
            report.unexpected.append(f"{r.kind}: {r.problem}")
    report.latency_ms = {k: (percentile(v, 50), percentile(v, 90)) for k, v in latencies.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the daemon's directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sandkasten-soak-")) if args.keep else None
    report = run_soak(args.requests, args.concurrency, args.seed, workdir,
                      progress=lambda message: print(f"[{time.strftime('%H:%M:%S')}] {message}",
                                                     file=sys.stderr, flush=True))
    print(report.render())
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
