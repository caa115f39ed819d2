"""Interactive sessions: how long a message takes to go through a running program and back.

Usage: .venv/bin/python bench/sessions.py [--quick]   (root; after `make setup`)

Starts a daemon on a free loopback port (its own directories), builds a C program that echoes
each line it reads, and measures on one open session the round trip of a 5-byte line (sent as
a stdin message, echoed by the program, received as a stdout message), next to bare nsjail
running the same program once, and to opening a session until the program's first output.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from websockets.sync.client import connect  # noqa: E402

from bench.report import in_workspace, machine, print_table  # noqa: E402
from bench.speed import Bare, Client, percentile, timed  # noqa: E402
from tests.conftest import start_daemon  # noqa: E402

ECHO = ('#include <stdio.h>\nint main(void) { char line[256]; puts("ready"); fflush(stdout);\n'
        '  while (fgets(line, sizeof line, stdin)) { fputs(line, stdout); fflush(stdout); } return 0; }\n')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 round trips instead of 1000")
    arguments = parser.parse_args()
    return in_workspace("sessions", lambda work: measure(work, trips=100 if arguments.quick else 1000))


def measure(work: Path, *, trips: int) -> int:
    (work / "daemon").mkdir(mode=0o711)
    daemon = start_daemon(work / "daemon", ACCESS_LOG="false")
    rows: list[tuple[str, ...]] = []
    try:
        status, body = Client(daemon.url).post("/programs", {"environment": "c", "main_file": {"content": ECHO}})
        assert status == 201, body
        program_id = json.loads(body)["program_id"]
        url = daemon.url.replace("http://", "ws://") + f"/programs/{program_id}/connect"
        bare = Bare(daemon, program_id, work, {"CONFIG_PATH": str(ROOT / "config.toml"),
                                               "PROGRAMS_DIR": str(daemon.programs_dir)})
        try:
            bare_ms = statistics.median(timed(bare.run) for _ in range(20))
        finally:
            bare.close()

        opening = []
        for _ in range(20):
            started = time.perf_counter()
            with connect(url) as ws:
                ws.send(json.dumps({"type": "start"}))
                assert json.loads(ws.recv(timeout=30))["data"] == "ready\n"
                opening.append((time.perf_counter() - started) * 1000)
                ws.send(json.dumps({"type": "stdin_eof"}))
        round_trips = []
        with connect(url) as ws:
            ws.send(json.dumps({"type": "start"}))
            assert json.loads(ws.recv(timeout=30))["data"] == "ready\n"
            line = json.dumps({"type": "stdin", "data": "ping\n"})
            for _ in range(trips):
                started = time.perf_counter()
                ws.send(line)
                assert json.loads(ws.recv(timeout=30)) == {"type": "stdout", "data": "ping\n"}
                round_trips.append((time.perf_counter() - started) * 1000)
            ws.send(json.dumps({"type": "stdin_eof"}))
        for label, times in (("5-byte line through the program and back", round_trips),
                             ("open a session until the first output", opening)):
            p50 = statistics.median(times)
            rows.append((label, f"{p50:.2f}", f"{percentile(times, 0.9):.2f}", f"{p50 / bare_ms:.3f}x"))
        rows.append(("bare nsjail, the same program once", f"{bare_ms:.2f}", "", "1.000x"))
    finally:
        daemon.stop()
    print(f"Interactive sessions ({trips} round trips; {machine()})")
    print_table(("", "p50 ms", "p90 ms", "/ bare nsjail"), rows, indent="  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
