"""How long other requests wait while the daemon deletes a huge program tree.

Usage: .venv/bin/python bench/big_delete.py [files] [depth]   (root; after `make setup`)

Starts a daemon that prunes programs one second after their last use, measures GET /config
latency with nothing else going on, then puts an expired program holding `files` empty files
(default 100,000) and a chain of `depth` directories (default 5,000) into its programs directory
and measures GET /config again, back to back, until the tree is gone. Prints p50/p99/max of both
phases, their ratio, and how long the deletion took. (Before deletion moved to a thread, the
event loop deleted such trees itself: 4 s without an answer for 300,000 files, and a
RecursionError at 1,000 levels.)
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import sandbox_missing, start_daemon  # noqa: E402

IDLE_REQUESTS = 500


def plant(top: Path, files: int, depth: int) -> None:
    (top / "files" / "wide").mkdir(parents=True)
    for i in range(files):
        (top / "files" / "wide" / str(i)).touch()
    (top / "files" / "deep").mkdir()
    fd = os.open(top / "files" / "deep", os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    (top / "last_run").write_text(str(int(time.time()) - 3600))
    (top / "ok").touch()


def summary(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"  {name:28s} n {len(times):5d}  p50 {statistics.median(times):6.2f}  "
            f"p99 {p99:6.2f}  max {max(times):7.2f}")


def main() -> int:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    reason = sandbox_missing()
    if reason:
        print(f"big_delete: cannot run here: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sandkasten-bench-"))
    os.chmod(work, 0o711)
    daemon = start_daemon(work, PROGRAM_TTL="1", PRUNE_PROGRAMS_INTERVAL="1")
    session = requests.Session()

    def ask() -> float:
        start = time.perf_counter()
        assert session.get(daemon.url + "/config", timeout=60).status_code == 200
        return (time.perf_counter() - start) * 1000

    try:
        idle = [ask() for _ in range(IDLE_REQUESTS)]
        program_id = str(uuid.uuid4())
        plant(work / program_id, files, depth)
        target = daemon.programs_dir / program_id
        os.rename(work / program_id, target)
        started = time.perf_counter()
        busy = []
        while target.exists() or any(n.startswith(".trash-") for n in os.listdir(daemon.programs_dir)):
            busy.append(ask())
        deleted_s = time.perf_counter() - started
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"GET /config latency (ms) while deleting {files:,} files and a {depth:,}-level tree")
    print(summary("idle", idle))
    print(summary("during the deletion", busy))
    print(f"  ratio of p50s {statistics.median(busy) / statistics.median(idle):.2f}x; "
          f"tree gone after {deleted_s:.1f} s (pruner interval 1 s included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
