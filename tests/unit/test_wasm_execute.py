"""Running WASI modules within a job's limits (sandkasten_py.wasm.execute), in this process.

In the daemon this code runs inside a jailed worker; here it runs in the test process, which is
what a worker is, without the jail. The modules are WebAssembly text written for each case.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

wasmtime = pytest.importorskip("wasmtime")

from sandkasten_py.wasm.execute import STATUS_KILLED, STATUS_TRAPPED, Executor, WasiJob  # noqa: E402

WASI = '(import "wasi_snapshot_preview1" "{name}" (func ${name} {signature}))'
FD_WRITE = WASI.format(name="fd_write", signature="(param i32 i32 i32 i32) (result i32)")
FD_READ = WASI.format(name="fd_read", signature="(param i32 i32 i32 i32) (result i32)")
PROC_EXIT = WASI.format(name="proc_exit", signature="(param i32)")
PATH_OPEN = WASI.format(name="path_open",
                        signature="(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)")

# Writes the bytes at [16, 16 + $n) to fd $fd, through an iovec at 0.
WRITE = """(func $write (param $fd i32) (param $n i32)
  (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (local.get $n))
  (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))"""


def command(body: str, *imports: str, data: str = "", memory_pages: int = 1) -> bytes:
    """A WASI command module: `_start` runs `body`; `data` is placed at 16."""
    escaped = data.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    wat = f"""(module {FD_WRITE} {" ".join(imports)}
      (memory (export "memory") {memory_pages})
      (data (i32.const 16) "{escaped}")
      {WRITE}
      (func (export "_start") {body}))"""
    return bytes(wasmtime.wat2wasm(wat))


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    executor = Executor()
    yield executor
    executor.close()


@pytest.fixture
def box(tmp_path: Path) -> Path:
    directory = tmp_path / "box"
    directory.mkdir()
    return directory


def test_hello_and_the_exit_status(executor: Executor, box: Path) -> None:
    outcome = executor.run(WasiJob(module=command("(call $write (i32.const 1) (i32.const 6))", data="hello\n"),
                                   directory=str(box)))
    assert (outcome.exit_code, outcome.stdout, outcome.stderr, outcome.exceeded) == (0, b"hello\n", b"", [])
    exits = command("(call $proc_exit (i32.const 3))", PROC_EXIT)
    assert executor.run(WasiJob(module=exits, directory=str(box))).exit_code == 3


def test_stdin_is_the_jobs(executor: Executor, box: Path) -> None:
    """Reads up to 100 bytes of stdin and writes them back."""
    echo = command("""(i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 100))
        (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $write (i32.const 1) (i32.load (i32.const 8)))""", FD_READ)
    outcome = executor.run(WasiJob(module=echo, directory=str(box), stdin=b"42 and more\n"))
    assert outcome.stdout == b"42 and more\n"


def open_and_print(path: str, directory_fd: int = 3, flags: int = 0, rights: int = 2) -> bytes:
    """Opens `path` relative to a preopened directory (fd 3 is the first) with `path_open`'s
    `flags` and `rights`, and prints its first 64 bytes, or exits with 50 + the errno."""
    escaped = path.replace('"', '\\"')
    wat = f"""(module {FD_WRITE} {FD_READ} {PROC_EXIT} {PATH_OPEN}
      (memory (export "memory") 1)
      (data (i32.const 200) "{escaped}")
      {WRITE}
      (func (export "_start") (local $errno i32)
        (local.set $errno (call $path_open (i32.const {directory_fd}) (i32.const 0) (i32.const 200)
            (i32.const {len(path.encode())}) (i32.const {flags}) (i64.const {rights}) (i64.const 0) (i32.const 0)
            (i32.const 12)))
        (if (local.get $errno) (then (call $proc_exit (i32.add (i32.const 50) (local.get $errno)))))
        (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 64))
        (drop (call $fd_read (i32.load (i32.const 12)) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $write (i32.const 1) (i32.load (i32.const 8)))))"""
    return bytes(wasmtime.wat2wasm(wat))


def test_the_program_directory_is_preopened_read_only(executor: Executor, box: Path, tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.mkdir()
    (program / "lib.js").write_text("the program's own\n")
    job = WasiJob(module=open_and_print("lib.js", directory_fd=4), directory=str(box), program_directory=str(program))
    assert executor.run(job).stdout == b"the program's own\n"
    # O_CREAT (1) with the right to write (fd_write = 64): refused, and nothing is created.
    create = open_and_print("new.txt", directory_fd=4, flags=1, rights=2 | 64)
    outcome = executor.run(WasiJob(module=create, directory=str(box), program_directory=str(program)))
    assert outcome.exit_code > 50 and not (program / "new.txt").exists(), outcome
    assert executor.run(WasiJob(module=create, directory=str(box))).exit_code > 50  # no /program at all


def test_the_working_directory_is_preopened_and_nothing_else(executor: Executor, box: Path, tmp_path: Path) -> None:
    (box / "data.txt").write_text("in the box\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    inside = executor.run(WasiJob(module=open_and_print("data.txt"), directory=str(box)))
    assert (inside.exit_code, inside.stdout) == (0, b"in the box\n")
    for path in ("../secret.txt", "/etc/passwd", f"{tmp_path}/secret.txt", "a/../../secret.txt"):
        outside = executor.run(WasiJob(module=open_and_print(path), directory=str(box)))
        assert outside.exit_code > 50 and outside.stdout == b"", (path, outside)  # an errno, not the file


def test_an_infinite_loop_ends_at_the_time_limit(executor: Executor, box: Path) -> None:
    outcome = executor.run(WasiJob(module=command("(loop br 0)"), directory=str(box), time_s=0.2))
    assert (outcome.exit_code, outcome.exceeded) == (STATUS_KILLED, ["time"])
    assert b"wasm trap: interrupt" in outcome.stderr
    assert outcome.wall_time_ms < 5000


def test_running_out_of_fuel_is_the_time_limit(executor: Executor, box: Path) -> None:
    outcome = executor.run(WasiJob(module=command("(loop br 0)"), directory=str(box), fuel=1_000_000))
    assert (outcome.exit_code, outcome.exceeded) == (STATUS_KILLED, ["time"])
    assert b"out of fuel" in outcome.stderr


def test_memory_growth_stops_at_the_limit(executor: Executor, box: Path) -> None:
    """A heap bomb: memory.grow until it fails (-1), then abort; the cause is the memory limit."""
    bomb = command("(loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) unreachable")
    outcome = executor.run(WasiJob(module=bomb, directory=str(box), memory_bytes=8 * 1024 * 1024))
    assert (outcome.exit_code, outcome.exceeded) == (STATUS_KILLED, ["memory"])
    assert outcome.memory_kb == 8 * 1024


def test_a_module_needing_more_memory_than_the_limit_does_not_start(executor: Executor, box: Path) -> None:
    outcome = executor.run(WasiJob(module=command("", memory_pages=2000), directory=str(box),
                                   memory_bytes=64 * 1024 * 1024))
    assert (outcome.exit_code, outcome.exceeded) == (STATUS_KILLED, ["memory"])
    assert b"needs more than its limits allow" in outcome.stderr


def test_table_growth_past_the_limit_fails(executor: Executor, box: Path) -> None:
    grow = bytes(wasmtime.wat2wasm(f"""(module {PROC_EXIT} (memory (export "memory") 1) (table 1 funcref)
      (func (export "_start")
        (if (i32.eq (table.grow (ref.null func) (i32.const 1000000)) (i32.const -1))
          (then (call $proc_exit (i32.const 7))))))"""))
    assert executor.run(WasiJob(module=grow, directory=str(box))).exit_code == 7


def test_deep_recursion_is_a_trap_not_a_crash(executor: Executor, box: Path) -> None:
    recursion = bytes(wasmtime.wat2wasm("""(module
      (func $down (param i32) (result i32) (i32.add (call $down (local.get 0)) (i32.const 1)))
      (func (export "_start") (drop (call $down (i32.const 0)))))"""))
    outcome = executor.run(WasiJob(module=recursion, directory=str(box)))
    assert (outcome.exit_code, outcome.exceeded) == (STATUS_TRAPPED, [])
    assert b"wasm trap: stack overflow" in outcome.stderr


def test_imports_that_are_not_provided_are_refused_at_link_time(executor: Executor, box: Path) -> None:
    module = bytes(wasmtime.wat2wasm('(module (import "env" "system" (func)) (func (export "_start")))'))
    outcome = executor.run(WasiJob(module=module, directory=str(box)))
    assert outcome.exit_code == 1 and b"unknown import" in outcome.stderr and b"env::system" in outcome.stderr


def test_a_module_without_start_is_not_a_command(executor: Executor, box: Path) -> None:
    module = bytes(wasmtime.wat2wasm('(module (func (export "main")))'))
    outcome = executor.run(WasiJob(module=module, directory=str(box)))
    assert outcome.exit_code == 1 and b"not a WASI command" in outcome.stderr


def test_invalid_bytes_are_an_error_not_an_exception(executor: Executor, box: Path) -> None:
    outcome = executor.run(WasiJob(module=b"\0asm\x01\0\0\0garbage", directory=str(box)))
    assert outcome.exit_code == 1 and b"cannot run the module" in outcome.stderr


def test_output_over_the_cap_is_cut_and_reported(executor: Executor, box: Path) -> None:
    loud = command("(loop $l (call $write (i32.const 1) (i32.const 10)) (br_if $l (i32.const 1)))",
                   data="0123456789")
    outcome = executor.run(WasiJob(module=loud, directory=str(box), stdout_max=100, time_s=0.3))
    assert len(outcome.stdout) == 100 and "stdout_max_size" in outcome.exceeded


def test_args_and_env_reach_the_module(executor: Executor, box: Path) -> None:
    sizes = WASI.format(name="args_sizes_get", signature="(param i32 i32) (result i32)")
    env_sizes = WASI.format(name="environ_sizes_get", signature="(param i32 i32) (result i32)")
    # Exit status: 10 * argc + number of variables.
    module = command("""(drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
        (drop (call $environ_sizes_get (i32.const 8) (i32.const 12)))
        (call $proc_exit (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 10)) (i32.load (i32.const 8))))""",
                     sizes, env_sizes, PROC_EXIT)
    outcome = executor.run(WasiJob(module=module, directory=str(box), args=("a", "b"), env=(("X", "1"),)))
    assert outcome.exit_code == 31


def test_a_compiled_module_is_kept_by_content(executor: Executor, box: Path) -> None:
    module = command("(call $write (i32.const 1) (i32.const 2))", data="ok")
    first = executor.module(module)
    assert executor.module(bytes(module)) is first
    assert os.listdir(box) == []
