"""What gVisor costs: hello worlds under nsjail and under gVisor, through the API and bare.

Usage: .venv/bin/python bench/gvisor.py [--quick]   (root; after `make setup`, which installs runsc)

Starts two daemons on free loopback ports (each with its own directories): one as configured,
one with `gvisor.environments = python c`. Builds a hello world in Python and in C on each, then
measures one run after another (with a short pause) on a keep-alive connection:

* bare nsjail: the nsjail command line the daemon uses for that run step (bench/speed.py);
* bare runsc: `runsc run` on the OCI bundle the daemon makes for that run step (a new container
  each time, as the daemon does), without the daemon;
* the run step through the API, on each daemon;

and prints p50 and p90 in ms, the ratio to bare nsjail, and the memory the run reports.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import in_workspace, machine, print_table  # noqa: E402
from bench.speed import Bare, Client, percentile, timed  # noqa: E402
from sandkasten_py.config import load_config  # noqa: E402
from sandkasten_py.programs.jobs import job_limits  # noqa: E402
from sandkasten_py.programs.store import StoredProgram  # noqa: E402
from sandkasten_py.sandbox import JobSpec  # noqa: E402
from sandkasten_py.sandbox.oci import make_bundle, runsc_argv  # noqa: E402
from tests.conftest import Daemon, start_daemon  # noqa: E402

HELLO = {
    "python": 'print("Hello, World!")\n',
    "c": '#include <stdio.h>\nint main(void) { puts("Hello, World!"); return 0; }\n',
}


class BareRunsc:
    """`runsc run` of a built program's run step, on the bundle the daemon would make."""

    def __init__(self, daemon: Daemon, program_id: str, work: Path, env: dict[str, str]) -> None:
        config = load_config(env)
        program_dir = daemon.programs_dir / program_id
        stored = msgspec.json.decode((program_dir / "program.json").read_bytes(), type=StoredProgram)
        box = work / f"runsc-box-{program_id}"
        box.mkdir(mode=0o755)
        self.bundle = work / f"runsc-bundle-{program_id}"
        make_bundle(JobSpec(argv=(stored.run_script, stored.main_file), box_dir=str(box),
                            program_dir=str(program_dir / "files"), program_writable=False,
                            mounts=stored.mounts, symlinks=stored.symlinks,
                            limits=job_limits(config.run_limits)), str(self.bundle))
        self.runsc = config.gvisor.runsc

    def run(self) -> bytes:
        argv = runsc_argv(self.runsc, str(self.bundle), uuid.uuid4().hex)
        return subprocess.run(argv, capture_output=True, check=True).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 runs per row instead of 50")
    arguments = parser.parse_args()
    return in_workspace("gvisor", lambda work: measure(work, rounds=10 if arguments.quick else 50))


def measure(work: Path, *, rounds: int) -> int:
    for name in ("nsjail", "gvisor"):
        (work / name).mkdir(mode=0o711)
    env = {"CONFIG_PATH": str(ROOT / "config.toml")}
    plain = start_daemon(work / "nsjail", ACCESS_LOG="false")
    gvisor = start_daemon(work / "gvisor", ACCESS_LOG="false", GVISOR__ENVIRONMENTS="python c")
    rows: list[tuple[str, ...]] = []
    bares: list[Bare] = []
    try:
        for environment, code in HELLO.items():
            ids = {}
            for name, daemon in (("nsjail", plain), ("gvisor", gvisor)):
                status, body = Client(daemon.url).post("/programs", {"environment": environment,
                                                                      "main_file": {"content": code}})
                assert status == 201, body
                ids[name] = json.loads(body)["program_id"]
            bare = Bare(plain, ids["nsjail"], work, {**env, "PROGRAMS_DIR": str(plain.programs_dir)})
            bares.append(bare)
            runsc = BareRunsc(gvisor, ids["gvisor"], work, env)
            reference = series(rounds, bare.run)
            measured = {
                "bare nsjail": (reference, None),
                "bare runsc": (series(rounds, runsc.run), None),
                "API, nsjail": api_series(rounds, plain, ids["nsjail"]),
                "API, gVisor": api_series(rounds, gvisor, ids["gvisor"]),
            }
            base = statistics.median(reference)
            for label, (times, memory_kb) in measured.items():
                p50 = statistics.median(times)
                rows.append((f"{environment}: {label}", f"{p50:.1f}", f"{percentile(times, 0.9):.1f}",
                             f"{p50 / base:.2f}x", "" if memory_kb is None else f"{memory_kb / 1000:.1f} MB"))
    finally:
        for bare in bares:
            bare.close()
        plain.stop()
        gvisor.stop()
    print(f"gVisor next to nsjail, hello world run steps ({rounds} runs each; {machine()})")
    print_table(("", "p50 ms", "p90 ms", "/ bare nsjail", "memory"), rows, indent="  ")
    return 0


def series(rounds: int, call: Callable[[], object]) -> list[float]:
    call()  # warm up
    times = []
    for _ in range(rounds):
        times.append(timed(call))
        time.sleep(0.02)
    return times


def api_series(rounds: int, daemon: Daemon, program_id: str) -> tuple[list[float], float]:
    """Times of run requests, and the median memory the runs reported (KB)."""
    client = Client(daemon.url)
    memory: list[int] = []

    def call() -> None:
        status, body = client.post(f"/programs/{program_id}/run", {})
        assert status == 200, body
        result = json.loads(body)
        assert result["stdout"] == "Hello, World!\n", result
        memory.append(result["resource_usage"]["memory"])

    try:
        return series(rounds, call), statistics.median(memory)
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
