"""Environment `wasmtime` through the daemon: modules as text, binary (base64) and C/C++, run by
the pool of jailed WASI workers with stdin, args, env vars and files, and the job's limits mapped
(time, memory, output caps, fuel). The conformance program and the example run in
test_environments.py; the attacks in tests/security/test_wasm_sandbox.py."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import wasmtime

pytestmark = pytest.mark.sandbox

WRITE = '(import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))'


def printing(text: str) -> str:
    """A module (text format) that prints `text` on stdout."""
    return f"""(module {WRITE}
  (memory (export "memory") 1) (data (i32.const 16) "{text}")
  (func (export "_start") (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const {len(text)}))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


def run(daemon: Any, main_file: dict[str, Any], **run_: Any) -> dict[str, Any]:
    response = daemon.post("/run", json={"build": {"environment": "wasmtime", "main_file": main_file},
                                         "run": run_})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_text_module_runs(daemon: Any) -> None:
    body = run(daemon, {"name": "hello.wat", "content": printing("hello wasm")})
    assert body["run"]["stdout"] == "hello wasm" and body["run"]["status"] == 0


def test_a_binary_module_is_sent_as_base64(daemon: Any) -> None:
    binary = bytes(wasmtime.wat2wasm(printing("from bytes")))
    body = run(daemon, {"name": "main.wasm", "content": base64.b64encode(binary).decode(), "encoding": "base64"})
    assert body["run"]["stdout"] == "from bytes"


def test_an_invalid_binary_module_fails_to_build_with_the_reason(daemon: Any) -> None:
    garbage = base64.b64encode(b"\0asm\x01\0\0\0\x05garbage").decode()
    response = daemon.post("/programs", json={"environment": "wasmtime",
                                              "main_file": {"name": "bad.wasm", "content": garbage, "encoding": "base64"}})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "compile_error"
    assert "error: invalid section size" in response.json()["details"]["stderr"]


def test_cpp_sees_args_env_and_files(daemon: Any) -> None:
    code = r"""
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
int main(int argc, char **argv) {
    std::string line, word;
    std::getline(std::cin, line);
    std::ifstream("data.txt") >> word;
    std::cout << argc << ' ' << argv[1] << ' ' << line << ' ' << word << ' ' << std::getenv("GREETING") << '\n';
}
"""
    body = run(daemon, {"name": "main.cpp", "content": code}, stdin="from stdin\n", args=["first", "second"],
               env_vars=[{"name": "GREETING", "value": "hi"}], files=[{"name": "data.txt", "content": "file"}])
    assert body["run"]["stdout"] == "3 first from stdin file hi\n", body


def test_a_trap_is_named_on_stderr(daemon: Any) -> None:
    result = run(daemon, {"name": "trap.wat", "content": '(module (func (export "_start") unreachable))'})["run"]
    assert result["status"] == 134 and result["exceeded"] == []
    assert "wasm trap: unreachable" in result["stderr"]


def test_exit_codes_pass_through(daemon: Any) -> None:
    code = "#include <stdlib.h>\nint main(void) { exit(42); }\n"
    assert run(daemon, {"name": "exit.c", "content": code})["run"]["status"] == 42


def test_an_endless_loop_ends_at_the_time_limit(daemon: Any) -> None:
    result = run(daemon, {"name": "loop.wat", "content": '(module (func (export "_start") (loop br 0)))'},
                 run_limits={"time": 1})["run"]
    assert result["exceeded"] == ["time"] and result["status"] == 137
    assert 900 <= result["resource_usage"]["time"] < 5000


def test_growing_memory_past_the_limit_is_the_memory_limit(daemon: Any) -> None:
    code = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
char *kept[4096];
int main(void) {
    for (size_t n = 0;; n++) {
        char *block = malloc(1 << 20);
        if (block == NULL) { printf("refused after %zu MiB\n", n); abort(); }
        memset(block, 1, 1 << 20);
        kept[n] = block;
    }
}
"""
    result = run(daemon, {"name": "bomb.c", "content": code}, run_limits={"memory": 32})["run"]
    assert result["exceeded"] == ["memory"], result
    refused_after = int(result["stdout"].split()[2])
    assert 24 <= refused_after <= 32, result
    assert result["resource_usage"]["memory"] <= 32 * 1_000_000 // 1024


def test_output_past_its_cap_is_cut(daemon: Any) -> None:
    code = '#include <stdio.h>\nint main(void) { for (int i = 0; i < 100000; i++) puts("0123456789"); }\n'
    result = run(daemon, {"name": "chatty.c", "content": code}, run_limits={"stdout_max_size": 1000})["run"]
    assert len(result["stdout"]) == 1000 and result["exceeded"] == ["stdout_max_size"]


def test_fuel_ends_a_busy_run_as_its_time_limit(daemon_factory: Callable[..., Any]) -> None:
    frugal = daemon_factory(WASM__FUEL="1000000")
    code = "int main(void) { volatile unsigned n = 0; for (;;) n++; }\n"
    result = run(frugal, {"name": "spin.c", "content": code})["run"]
    assert result["exceeded"] == ["time"] and "fuel" in result["stderr"]
    assert result["resource_usage"]["time"] < 1000  # a million instructions, not the 5 s limit
