"""C and C++ to WebAssembly: build times through the API next to bare nsjail, and artifact sizes.

For hello world in C (stdio) and C++ (iostream), at -O0 and -O2 (`compile_args`):

* bare nsjail: the exact nsjail command line of the emcc compile step, in a job directory made
  as the daemon makes it (same binary, mounts, limits and `SANDKASTEN_COMPILE_ARGS`), without
  cgroup or HTTP;
* API: `POST /programs` with sources never built before (a unique comment), so every build
  compiles; the time is the whole request.

Bare and API builds alternate; the table has medians and the ratio, then the sizes of `app.js`
and `app.wasm` as `GET /programs/{id}/artifacts` lists them. About two minutes; `--rounds N`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandkasten_py.config import Config, load_config  # noqa: E402
from sandkasten_py.environments import Environment, load_environments  # noqa: E402
from sandkasten_py.programs import JobDirs  # noqa: E402
from sandkasten_py.programs.jobs import job_limits  # noqa: E402
from sandkasten_py.sandbox import JobSpec  # noqa: E402
from sandkasten_py.sandbox.argv import nsjail_argv  # noqa: E402
from bench.report import machine, print_table, remove_workspace  # noqa: E402
from tests.conftest import sandbox_missing, start_daemon  # noqa: E402

PROGRAMS = {
    "C": ("main.c", '#include <stdio.h>\nint main(void) { puts("Hello, World!"); return 0; }\n'),
    "C++": ("main.cpp", '#include <iostream>\nint main() { std::cout << "Hello, World!" << std::endl; }\n'),
}
LEVELS = ("-O0", "-O2")


def bare_compile(loop: asyncio.AbstractEventLoop, config: Config, environment: Environment, job_dirs: JobDirs,
                 name: str, code: str, level: str) -> float:
    """Seconds of one compile step run by nsjail directly, in a fresh job directory."""
    manifest = environment.manifest
    script = manifest.compile_script
    assert script is not None

    async def compile_once() -> float:
        async with job_dirs.job([(name, code.encode())], tmp_mb=config.compile_limits.tmpfs,
                                compiling=True) as job:
            assert job.program is not None
            argv = nsjail_argv(config.nsjail_path or "nsjail", JobSpec(
                argv=(script, name), box_dir=job.box, program_dir=job.program,
                program_writable=True, tmp_dir=job.tmp, mounts=environment.mounts,
                symlinks=tuple(manifest.symlinks), limits=job_limits(config.compile_limits),
                compile_args=(level,)), use_cgroup=False)
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, check=False)
            seconds = time.perf_counter() - start
            assert done.returncode == 0 and os.path.exists(os.path.join(job.program, "app.wasm")), done.stderr
            return seconds

    return loop.run_until_complete(compile_once())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="builds per case and side (default 5)")
    arguments = parser.parse_args()
    reason = sandbox_missing()
    if reason:
        print(f"emcc: cannot run here: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sandkasten-bench-emcc-"))
    os.chmod(work, 0o711)
    (work / "daemon").mkdir(mode=0o711)
    daemon = start_daemon(work / "daemon", ACCESS_LOG="false")
    config = load_config({**os.environ, "CONFIG_PATH": str(ROOT / "config.toml"),
                          "PROGRAMS_DIR": str(work / "unused-programs"), "JOBS_DIR": str(work / "bare-jobs"),
                          "ENVIRONMENTS_PATH": str(ROOT / "pkgs/share/sandkasten/packages")})
    environment = load_environments(config.environments_path)["emcc"]
    job_dirs = JobDirs(config.jobs_dir, config.storage_limits)
    job_dirs.prepare()
    loop = asyncio.new_event_loop()  # one loop for every bare job: the directories' removal runs on it
    rows = []
    try:
        for language, (name, code) in PROGRAMS.items():
            for level in LEVELS:
                bare, api, sizes = [], [], {}
                for _ in range(arguments.rounds):
                    bare.append(bare_compile(loop, config, environment, job_dirs, name, code, level))
                    start = time.perf_counter()
                    response = requests.post(daemon.url + "/programs", timeout=300, json={
                        "environment": "emcc", "main_file": {"name": name, "content": f"{code}// {uuid.uuid4()}\n"},
                        "compile_args": [level]})
                    api.append(time.perf_counter() - start)
                    assert response.status_code == 201, response.text
                    listed = requests.get(f"{daemon.url}/programs/{response.json()['program_id']}/artifacts",
                                          timeout=30).json()["artifacts"]
                    sizes = {a["name"]: a["size"] for a in listed}
                b, a = statistics.median(bare), statistics.median(api)
                rows.append((f"{language} {level}", f"{b:.2f} s", f"{a:.2f} s", f"{a / b:.2f}x",
                             f"{sizes['app.js'] / 1000:.1f} kB", f"{sizes['app.wasm'] / 1000:.1f} kB"))
    finally:
        daemon.stop()
        loop.run_until_complete(job_dirs.drain())
        loop.close()
        job_dirs.close()
        remove_workspace(work)
    print(f"{machine()}; median of {arguments.rounds} cold builds each")
    print_table(("hello world", "bare nsjail", "API", "ratio", "app.js", "app.wasm"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
