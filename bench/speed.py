"""The daemon's speed next to bare nsjail, measured in one run: the figures of the README's table.

Usage: .venv/bin/python bench/speed.py [--quick]   (root; after `make setup`)

Starts a daemon on a free loopback port (its own directories, metrics on), builds a Python
hello-world and runs, side by side and interleaved so that the machine's drift hits both alike:

* bare nsjail: the exact nsjail command line the daemon uses for that run step (same binary,
  mounts, limits, a /tmp tmpfs like a job's), started with subprocess.run, without cgroup,
  gate or HTTP;
* the API: `POST /programs/{id}/run`.

Measured: run latency (p50, p90), throughput with 1, 2, 4 and 16 clients, a cache hit (`POST
/programs` of the built program), a program printing 1 MiB, 256 identical concurrent builds of a
new C program (how many compiles), and the daemon's RSS with 1,000 requests waiting for a slot
(a second daemon with one job slot, held by a sleeping program). Prints each figure and its
ratio to bare nsjail where there is one; `--quick` measures less (for a smoke test).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandkasten_py.config import load_config  # noqa: E402
from sandkasten_py.programs.jobs import job_limits  # noqa: E402
from sandkasten_py.programs.store import StoredProgram  # noqa: E402
from sandkasten_py.sandbox import MB, JobSpec, tmpfs  # noqa: E402
from sandkasten_py.sandbox.argv import nsjail_argv  # noqa: E402
from bench.report import machine, print_table, remove_workspace  # noqa: E402
from tests.conftest import Daemon, sandbox_missing, start_daemon  # noqa: E402

HELLO = 'print("Hello, World!")\n'
MIB_OUTPUT = 'import sys\nsys.stdout.write("x" * (1 << 20))\n'


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class Bare:
    """Runs a built program's run step with bare nsjail (as the daemon would, minus cgroup)."""

    def __init__(self, daemon: Daemon, program_id: str, work: Path, env: dict[str, str]) -> None:
        config = load_config(env)
        program_dir = daemon.programs_dir / program_id
        stored = msgspec.json.decode((program_dir / "program.json").read_bytes(), type=StoredProgram)
        self.box, self.tmp = work / f"bare-box-{program_id}", work / f"bare-tmp-{program_id}"
        self.box.mkdir(mode=0o755)
        self.tmp.mkdir(mode=0o700)
        tmpfs.mount_tmpfs(str(self.tmp), size_bytes=config.run_limits.tmpfs * MB,
                          inodes=config.storage_limits.tmp_files + 1)
        self.argv = nsjail_argv(config.nsjail_path or "nsjail", JobSpec(
            argv=(stored.run_script, stored.main_file), box_dir=str(self.box),
            program_dir=str(program_dir / "files"), program_writable=False, tmp_dir=str(self.tmp),
            mounts=stored.mounts, symlinks=stored.symlinks, limits=job_limits(config.run_limits)),
            use_cgroup=False)

    def run(self) -> bytes:
        return subprocess.run(self.argv, capture_output=True, check=False).stdout

    def close(self) -> None:
        tmpfs.unmount(str(self.tmp))


class Client:
    """A keep-alive HTTP/1.1 connection (http.client: requests adds ~1.3 ms of its own CPU per call,
    which is the client's cost, not the daemon's)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=300)

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        for attempt in (1, 2):  # the server closes connections idle for a few seconds
            try:
                self.connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.RemoteDisconnected):
                self.connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def interleaved(rounds: int, bare: Callable[[], Any], api: Callable[[], Any]) -> tuple[list[float], list[float]]:
    """`rounds` pairs of (bare, api), with a pause between, as requests arrive one by one."""
    bare_times, api_times = [], []
    bare()
    api()  # warm up
    for _ in range(rounds):
        bare_times.append(timed(bare))
        time.sleep(0.02)
        api_times.append(timed(api))
        time.sleep(0.02)
    return bare_times, api_times


def throughput(clients: int, seconds: float, make_call: Callable[[], Callable[[], Any]]) -> float:
    """Completed calls per second with `clients` threads calling back to back (each thread with
    its own `make_call()`)."""
    done = [0] * clients
    stop = time.monotonic() + seconds

    def loop(index: int) -> None:
        call = make_call()
        while time.monotonic() < stop:
            call()
            done[index] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def compiles(daemon: Daemon) -> float:
    text = daemon.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('sandkasten_job_duration_seconds_count{environment="c",step="compile"}'))


async def identical_builds(daemon: Daemon, count: int) -> tuple[float, set[int]]:
    """`count` concurrent builds of one new C program; returns (seconds, the statuses seen)."""
    body = {"environment": "c", "main_file": {"content": f"/* {uuid.uuid4()} */ int main(void) {{ return 0; }}\n"}}
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=daemon.url, limits=limits, timeout=600) as client:
        start = time.perf_counter()
        responses = await asyncio.gather(*(client.post("/programs", json=body) for _ in range(count)))
        return time.perf_counter() - start, {r.status_code for r in responses}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def rss_with_waiting(work: Path, waiting: int) -> tuple[int, int, int]:
    """A daemon with one job slot, held by a sleeping job; `waiting` more requests queue behind
    it. Returns (RSS before in KB, peak RSS while they wait in KB, requests seen waiting)."""
    daemon = start_daemon(work, MAX_CONCURRENT_JOBS="1", BASE_RESOURCE_USAGE_PERMITS="1",
                          ACCESS_LOG="false", RUN_LIMITS__TIME="60")
    try:
        before = rss_kb(daemon.process.pid)
        sleeper = {"build": {"environment": "bash", "main_file": {"content": "sleep 50\n"}}}
        hello = {"build": {"environment": "bash", "main_file": {"content": "echo hi\n"}}}
        limits = httpx.Limits(max_connections=waiting + 1, max_keepalive_connections=0)
        # The metrics need a connection of their own: the client's are all taken by the waiting.
        async with httpx.AsyncClient(base_url=daemon.url, limits=limits, timeout=600) as client, \
                httpx.AsyncClient(base_url=daemon.url, timeout=60) as observer:
            holder = asyncio.create_task(client.post("/run", json=sleeper))
            await asyncio.sleep(1)
            queued = [asyncio.create_task(client.post("/run", json=hello)) for _ in range(waiting)]
            peak, seen = before, 0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                peak = max(peak, rss_kb(daemon.process.pid))
                metrics = (await observer.get("/metrics")).text
                seen = int(float(next(line.split()[1] for line in metrics.splitlines()
                                      if line.startswith("sandkasten_requests_waiting "))))
                if seen >= waiting:
                    await asyncio.sleep(1)
                    peak = max(peak, rss_kb(daemon.process.pid))
                    break
            for task in [holder, *queued]:
                task.cancel()
            await asyncio.gather(holder, *queued, return_exceptions=True)
        return before, peak, seen
    finally:
        daemon.process.kill()  # the queued runs are not wanted
        daemon.process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and shorter loads")
    parser.add_argument("--without-cgroup", action="store_true",
                        help="the daemon with use_cgroup = false (rlimits only): what the cgroup costs")
    arguments = parser.parse_args()
    reason = sandbox_missing()
    if reason:
        print(f"speed: cannot run here: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sandkasten-speed-"))
    try:
        return measure(work, quick=arguments.quick, without_cgroup=arguments.without_cgroup)
    finally:
        # The queue daemon was killed: its job's /tmp may still be mounted (the job itself ends at
        # nsjail's own time limit, its cgroup goes when the next daemon starts).
        remove_workspace(work)


def measure(work: Path, *, quick: bool, without_cgroup: bool) -> int:
    """Measure with daemons whose directories are under `work`, and print the table."""
    rounds, seconds, builds, waiting = (20, 2.0, 64, 200) if quick else (150, 6.0, 256, 1000)
    os.chmod(work, 0o711)
    (work / "main").mkdir(mode=0o711)
    (work / "queue").mkdir(mode=0o711)
    overrides = {"MAX_CONCURRENT_JOBS": "16", "ACCESS_LOG": "false",
                 "RUN_LIMITS__STDOUT_MAX_SIZE": str(2 << 20)}
    if without_cgroup:
        overrides["USE_CGROUP"] = "false"
    daemon = start_daemon(work / "main", **overrides)
    env = {**os.environ, "CONFIG_PATH": str(ROOT / "config.toml"),
           "ENVIRONMENTS_PATH": str(ROOT / "pkgs/share/sandkasten/packages"), **overrides}
    rows: list[tuple[str, str, str, str]] = []
    bares: list[Bare] = []
    try:
        client = Client(daemon.url)

        def build(code: str) -> str:
            status, body = client.post("/programs", {"environment": "python", "main_file": {"content": code}})
            assert status in (200, 201), body
            program_id: str = json.loads(body)["program_id"]
            return program_id

        hello_id, output_id = build(HELLO), build(MIB_OUTPUT)
        hello = Bare(daemon, hello_id, work, env)
        output = Bare(daemon, output_id, work, env)
        bares += [hello, output]

        def api(program_id: str, connection: Client = client) -> Callable[[], Any]:
            def call() -> None:
                status, body = connection.post(f"/programs/{program_id}/run", {})
                assert status == 200, body
            return call

        bare_times, api_times = interleaved(rounds, hello.run, api(hello_id))
        for q, name in ((0.5, "p50"), (0.9, "p90")):
            b, a = percentile(bare_times, q), percentile(api_times, q)
            rows.append((f"run latency {name}", f"{b:.1f} ms", f"{a:.1f} ms", f"{a / b:.2f}x"))
        for clients in (1, 2, 4, 16):
            b = throughput(clients, seconds, lambda: hello.run)
            a = throughput(clients, seconds, lambda: api(hello_id, Client(daemon.url)))
            rows.append((f"throughput, {clients} client{'s' * (clients > 1)}", f"{b:.1f}/s", f"{a:.1f}/s",
                         f"{a / b:.2f}x"))
        hit = [timed(lambda: client.post("/programs", {"environment": "python", "main_file": {"content": HELLO}}))
               for _ in range(rounds)]
        rows.append(("cache hit p50 (POST /programs)", "", f"{statistics.median(hit):.2f} ms", ""))
        bare_out, api_out = interleaved(max(10, rounds // 5), output.run, api(output_id))
        b, a = statistics.median(bare_out), statistics.median(api_out)
        rows.append(("1 MiB of output, p50", f"{b:.1f} ms", f"{a:.1f} ms", f"{a / b:.2f}x"))
        before = compiles(daemon)
        took, statuses = asyncio.run(identical_builds(daemon, builds))
        rows.append((f"{builds} identical builds", "", f"{compiles(daemon) - before:.0f} compile(s), "
                     f"{took:.1f} s, {sorted(statuses)}", ""))
    finally:
        for bare in bares:
            bare.close()
        daemon.stop()
    rss_before, rss_peak, seen = asyncio.run(rss_with_waiting(work / "queue", waiting))
    rows.append((f"daemon RSS, {seen} requests waiting", "", f"{rss_peak / 1024:.0f} MB "
                 f"(idle {rss_before / 1024:.0f} MB)", ""))
    print(f"sandkasten-py speed, {machine()}")
    print_table(("", "bare nsjail", "API", "ratio"), rows, indent="  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
