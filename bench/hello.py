"""Latency of a hello-world Python run through HTTP, next to bare nsjail running the same program.

Usage: .venv/bin/python bench/hello.py [runs]   (root; after `make setup`)

Starts a daemon on a free loopback port, builds `print("Hello, World!")`, then measures in
the same run:

* bare nsjail: the exact nsjail command line the daemon would use for the run step (same
  mounts and limits), started with subprocess.run, without cgroup and HTTP;
* POST /programs/{id}/run: the daemon's run path (cgroup, job dir, HTTP, JSON);
* POST /run: build-cache lookup plus run.

Prints p50/p90 per case and the ratio of each p50 to bare nsjail's.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandkasten_py.config import load_config  # noqa: E402
from sandkasten_py.programs.store import StoredProgram  # noqa: E402
from sandkasten_py.sandbox import MB, JobSpec, tmpfs  # noqa: E402
from sandkasten_py.sandbox.argv import nsjail_argv  # noqa: E402

HELLO = {"environment": "python", "main_file": {"content": 'print("Hello, World!")'}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(runs: int, once: Callable[[], None]) -> list[float]:
    once()  # warm up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    work = Path(tempfile.mkdtemp(prefix="sandkasten-bench-"))
    os.chmod(work, 0o711)
    port = free_port()
    env = {**os.environ, "CONFIG_PATH": str(ROOT / "config.toml"), "HOST": "127.0.0.1",
           "PORT": str(port), "PROGRAMS_DIR": str(work / "programs"), "JOBS_DIR": str(work / "jobs"),
           "ENVIRONMENTS_PATH": str(ROOT / "pkgs/share/sandkasten/packages")}
    daemon = subprocess.Popen([sys.executable, "-m", "sandkasten_py", "serve"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(url + "/config", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        session = requests.Session()
        built = session.post(url + "/programs", json=HELLO, timeout=60).json()
        program_id = built["program_id"]

        def http_run() -> None:
            r = session.post(f"{url}/programs/{program_id}/run", json={}, timeout=60)
            assert r.json()["stdout"] == "Hello, World!\n", r.text

        def http_build_run() -> None:
            r = session.post(url + "/run", json={"build": HELLO}, timeout=60)
            assert r.json()["run"]["stdout"] == "Hello, World!\n", r.text

        config = load_config(env)
        program_dir = work / "programs" / program_id
        stored = msgspec.json.decode((program_dir / "program.json").read_bytes(), type=StoredProgram)
        box, tmp = work / "bare-box", work / "bare-tmp"
        box.mkdir(mode=0o755)
        tmp.mkdir(mode=0o700)
        # the same /tmp as a job's, mounted once (the daemon mounts one per job)
        tmpfs.mount_tmpfs(str(tmp), size_bytes=config.run_limits.tmpfs * MB,
                          inodes=config.storage_limits.tmp_files + 1)
        argv = nsjail_argv(config.nsjail_path or "nsjail", JobSpec(
            argv=(stored.run_script, stored.main_file), box_dir=str(box),
            program_dir=str(program_dir / "files"), program_writable=False, tmp_dir=str(tmp),
            mounts=stored.mounts, symlinks=stored.symlinks, limits=config.run_limits), use_cgroup=False)

        def bare() -> None:
            out = subprocess.run(argv, capture_output=True, pass_fds=(), check=False)
            assert out.stdout == b"Hello, World!\n", out

        results = {
            "bare nsjail": measure(runs, bare),
            "POST /programs/{id}/run": measure(runs, http_run),
            "POST /run (cached build)": measure(runs, http_build_run),
        }
    finally:
        daemon.terminate()
        daemon.wait()
        if os.path.ismount(work / "bare-tmp"):
            tmpfs.unmount(str(work / "bare-tmp"))
    base = statistics.median(results["bare nsjail"])
    print(f"hello-world python, {runs} runs each (ms)")
    for name, times in results.items():
        p50 = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"  {name:26s} p50 {p50:7.1f}  p90 {p90:7.1f}  ratio {p50 / base:4.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
