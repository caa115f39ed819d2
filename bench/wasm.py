"""The WebAssembly fast path next to the nsjail path, measured in one run.

Usage: .venv/bin/python bench/wasm.py [--quick]   (root; after `make setup`)

Starts two daemons on free loopback ports (their own directories): one as configured, one with
`wasm.module_cache = 0` (every worker compiles each module it has not seen). Runs, through
`POST /programs/{id}/run` on a keep-alive connection:

* a C hello world built for WASI (environment `wasmtime`): hot (the same program again: the
  worker keeps the compiled module), warm (the first run of a new program: the module was
  compiled when it was built and comes from the module cache), cold (the first run of a new
  program without a module cache: the worker compiles it);
* the same hello world built natively (environment `c`), in nsjail, and the bare nsjail command
  line of that run step (no HTTP, cgroup or gate);
* a JavaScript hello world in QuickJS-in-wasm (`javascript-wasm`) and in Node in nsjail
  (`javascript`), and Node's bare nsjail command line.

"In the daemon" is the access log's duration of the request (from its arrival to the last byte
of the answer): end to end minus the client and the loopback. Prints p50 and p90 and the ratio
to bare nsjail where there is one; `--quick` measures less.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import in_workspace, machine, print_table  # noqa: E402
from bench.speed import Bare, Client, percentile, timed  # noqa: E402
from tests.conftest import start_daemon  # noqa: E402

C_HELLO = '#include <stdio.h>\nint main(void) { puts("Hello, World! %s"); return 0; }\n'
JS_HELLO = 'console.log("Hello, World! %s");\n'
ACCESS = re.compile(r"POST /programs/([0-9a-f-]+)/run 200 ([0-9.]+) ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    arguments = parser.parse_args()
    return in_workspace("wasm", lambda work: measure(work, rounds=30 if arguments.quick else 300,
                                                     firsts=5 if arguments.quick else 30))


def measure(work: Path, *, rounds: int, firsts: int) -> int:
    for name in ("main", "cold"):
        (work / name).mkdir(mode=0o711)
    daemon = start_daemon(work / "main", MAX_CONCURRENT_JOBS="16")
    cold = start_daemon(work / "cold", MAX_CONCURRENT_JOBS="16", WASM__MODULE_CACHE="0")
    env = {**os.environ, "CONFIG_PATH": str(ROOT / "config.toml"),
           "ENVIRONMENTS_PATH": str(ROOT / "pkgs/share/sandkasten/packages")}
    rows: list[tuple[str, str, str, str, str]] = []
    bares: list[Bare] = []
    try:
        client, cold_client = Client(daemon.url), Client(cold.url)
        counter = iter(range(10**6))

        def build(environment: str, template: str, on: Client = client) -> str:
            code = template.replace("%s", str(next(counter)))
            status, body = on.post("/programs", {"environment": environment, "main_file": {"content": code}})
            assert status in (200, 201), body
            program_id: str = json.loads(body)["program_id"]
            return program_id

        def run(program_id: str, on: Client = client) -> Callable[[], None]:
            def call() -> None:
                status, body = on.post(f"/programs/{program_id}/run", {})
                assert status == 200 and json.loads(body)["status"] == 0, body
            return call

        def hot(program_id: str) -> tuple[list[float], list[float]]:
            """End-to-end and in-daemon times of `rounds` runs of one program (after two)."""
            run(program_id)()
            run(program_id)()
            mark = len(daemon.log())
            times = []
            for _ in range(rounds):
                times.append(timed(run(program_id)))
                time.sleep(0.002)
            inside = [float(ms) for pid, ms in ACCESS.findall(daemon.log()[mark:]) if pid == program_id]
            return times, inside

        def firsts_of(environment: str, template: str, on: Client = client) -> list[float]:
            """The first run of `firsts` new programs (each built just before)."""
            return [timed(run(build(environment, template, on), on)) for _ in range(firsts)]

        def bare_times(program_id: str) -> list[float]:
            bare = Bare(daemon, program_id, work, env)
            bares.append(bare)
            bare.run()
            return [timed(bare.run) for _ in range(max(10, rounds // 5))]

        def row(name: str, times: list[float], inside: list[float] | None = None,
                bare: list[float] | None = None) -> None:
            p50, p90 = percentile(times, 0.5), percentile(times, 0.9)
            rows.append((name, f"{p50:.2f} ms", f"{p90:.2f} ms",
                         f"{percentile(inside, 0.5):.2f} ms" if inside else "",
                         f"{p50 / percentile(bare, 0.5):.3f}x" if bare else ""))

        wasi = build("wasmtime", C_HELLO)
        native = build("c", C_HELLO)
        c_bare = bare_times(native)
        row("bare nsjail: C hello (native)", c_bare)
        row("WASI C hello, hot", *hot(wasi), bare=c_bare)
        row("WASI C hello, warm (new program, module cache)", firsts_of("wasmtime", C_HELLO), bare=c_bare)
        row("WASI C hello, cold (new program, no module cache)", firsts_of("wasmtime", C_HELLO, cold_client),
            bare=c_bare)
        row("nsjail C hello (native), hot", *hot(native), bare=c_bare)

        quickjs = build("javascript-wasm", JS_HELLO)
        node = build("javascript", JS_HELLO)
        node_bare = bare_times(node)
        row("bare nsjail: Node hello", node_bare)
        row("QuickJS-in-wasm hello, hot", *hot(quickjs), bare=node_bare)
        row("QuickJS-in-wasm hello, new program", firsts_of("javascript-wasm", JS_HELLO), bare=node_bare)
        row("Node in nsjail hello, hot", *hot(node), bare=node_bare)
    finally:
        for bare in bares:
            bare.close()
        daemon.stop()
        cold.stop()
    print(f"sandkasten-py WebAssembly fast path, {machine()}")
    print_table(("", "p50", "p90", "in the daemon p50", "p50 / bare nsjail"), rows, indent="  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
