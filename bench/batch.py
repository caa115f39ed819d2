"""Judge workloads: a batch of runs next to as many single run requests, and a flood's rejections.

Usage: .venv/bin/python bench/batch.py [--quick]   (root; after `make setup`)

Starts a daemon on a free loopback port (its own directories) and builds a C program that adds
two numbers, then measures, on a keep-alive connection:

* 100 test cases as one `POST /programs/{id}/batch` next to 100 `POST /programs/{id}/run`
  sent one after another, and sent by 8 clients at once: wall time and runs per second;
* a flood against a second daemon with one job slot and two places in the queue: how fast the
  requests past the queue are answered 503 (p50 and max), and how many were accepted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import in_workspace, machine, print_table  # noqa: E402
from bench.speed import Client, percentile  # noqa: E402
from tests.conftest import start_daemon  # noqa: E402

ADD = '#include <stdio.h>\nint main(void) { long a, b; scanf("%ld %ld", &a, &b); printf("%ld\\n", a + b); }\n'
SLEEP = "sleep 0.3\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 runs instead of 100")
    arguments = parser.parse_args()
    return in_workspace("batch", lambda work: measure(work, runs=20 if arguments.quick else 100))


def measure(work: Path, *, runs: int) -> int:
    for name in ("main", "flood"):
        (work / name).mkdir(mode=0o711)
    rows: list[tuple[str, str, str]] = []
    daemon = start_daemon(work / "main", ACCESS_LOG="false")
    try:
        client = Client(daemon.url)
        status, body = client.post("/programs", {"environment": "c", "main_file": {"content": ADD}})
        assert status == 201, body
        program_id = json.loads(body)["program_id"]
        cases = [{"stdin": f"{i} {i}", "expected_stdout": str(2 * i)} for i in range(runs)]
        client.post(f"/programs/{program_id}/batch", {"runs": cases[:4]})  # warm up

        started = time.perf_counter()
        status, body = client.post(f"/programs/{program_id}/batch", {"runs": cases})
        batch_s = time.perf_counter() - started
        assert status == 200 and json.loads(body)["summary"]["passed"] == runs, body[:500]
        rows.append((f"{runs} test cases, one batch request", f"{batch_s:.2f} s", f"{runs / batch_s:.1f} runs/s"))

        started = time.perf_counter()
        for case in cases:
            status, body = client.post(f"/programs/{program_id}/run", {"stdin": case["stdin"]})
            assert status == 200, body
        single_s = time.perf_counter() - started
        rows.append((f"{runs} run requests, one after another", f"{single_s:.2f} s", f"{runs / single_s:.1f} runs/s"))

        def one(case: dict[str, str]) -> None:
            connection = Client(daemon.url)
            try:
                status, body = connection.post(f"/programs/{program_id}/run", {"stdin": case["stdin"]})
                assert status == 200, body
            finally:
                connection.close()

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, cases))
        parallel_s = time.perf_counter() - started
        rows.append((f"{runs} run requests, 8 clients at once", f"{parallel_s:.2f} s",
                     f"{runs / parallel_s:.1f} runs/s"))
        rows.append(("batch / one after another", f"{batch_s / single_s:.2f}x", ""))
    finally:
        daemon.stop()

    flood = start_daemon(work / "flood", ACCESS_LOG="false", MAX_CONCURRENT_JOBS="1", MAX_QUEUED_JOBS="2",
                         BASE_RESOURCE_USAGE_PERMITS="1")
    try:
        client = Client(flood.url)
        status, body = client.post("/programs", {"environment": "bash", "main_file": {"content": SLEEP}})
        sleeper = json.loads(body)["program_id"]

        def request(index: int) -> tuple[int, float]:
            connection = Client(flood.url)
            try:
                started = time.perf_counter()
                status, _ = connection.post(f"/programs/{sleeper}/run", {})
                return status, (time.perf_counter() - started) * 1000
            finally:
                connection.close()

        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(request, range(64)))
        refused = [ms for status, ms in answers if status == 503]
        accepted = sum(status == 200 for status, _ in answers)
        assert refused and accepted + len(refused) == len(answers), answers
        rows.append((f"flood of 64 (1 slot, 2 queued): refused in", f"p50 {percentile(refused, 0.5):.1f} ms",
                     f"max {max(refused):.1f} ms; {len(refused)} refused, {accepted} run"))
    finally:
        flood.stop()
    print(f"sandkasten-py judge workloads, {machine()}")
    print_table(("", "wall time", "rate"), rows, indent="  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
