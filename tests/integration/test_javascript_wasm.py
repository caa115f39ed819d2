"""Environment `javascript-wasm` through the daemon: JavaScript in QuickJS compiled to WASI, run
by the wasmtime runner. The wasm sandbox ends what Node's would not: `while(1){}` at the time
limit, a heap bomb at the memory limit; the globals of its runtime work; numbers format as in
Node. The conformance program and the example run in test_environments.py."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox


def run_js(daemon: Any, code: str, files: list[dict[str, str]] | None = None, **run_: Any) -> dict[str, Any]:
    build: dict[str, Any] = {"environment": "javascript-wasm", "main_file": {"content": code}}
    if files:
        build["files"] = files
    response = daemon.post("/run", json={"build": build, "run": run_})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["run"]
    return result


def test_an_endless_loop_ends_at_the_time_limit(daemon: Any) -> None:
    result = run_js(daemon, "while (1) {}", run_limits={"time": 1})
    assert result["exceeded"] == ["time"] and result["status"] == 137


def test_a_heap_bomb_is_a_catchable_error_at_the_memory_limit(daemon: Any) -> None:
    code = """
const kept = [];
try {
  for (;;) kept.push(new Array(1e5).fill(kept.length));
} catch (e) {
  console.log(String(e), kept.length > 10);
}
"""
    result = run_js(daemon, code, run_limits={"memory": 64})
    assert (result["status"], result["stdout"]) == (0, "InternalError: out of memory true\n"), result
    # Not caught: the program ends at its memory limit.
    uncaught = run_js(daemon, "const a = []; for (;;) a.push('x'.repeat(1e6) + a.length);", run_limits={"memory": 64})
    assert uncaught["exceeded"] == ["memory"] and uncaught["status"] == 1, uncaught
    assert "Uncaught InternalError: out of memory" in uncaught["stderr"]


def test_deep_recursion_is_a_catchable_error(daemon: Any) -> None:
    code = "let depth = 0; function down() { depth++; down(); }\n" \
           "try { down(); } catch (e) { console.log(String(e), depth > 1000); }"
    assert run_js(daemon, code)["stdout"] == "InternalError: stack overflow true\n"


def test_the_runtime_globals(daemon: Any) -> None:
    code = r"""
const lib = require("./lib");
const first = readLine();
process.stdout.write("no newline|");
console.log(lib.twice(21), first, JSON.stringify(readStdin()), scriptArgs, readFile("data.txt"), readFile("missing"));
console.log({ a: [1, "two"] }, null, undefined, 10n ** 20n, new Error("shown as text"));
console.error("to stderr", process.env.GREETING, process.argv.length);
process.exit(3);
"""
    response = daemon.post("/run", json={
        "build": {"environment": "javascript-wasm", "main_file": {"content": code},
                  "files": [{"name": "lib.js", "content": "module.exports = { twice: (n) => 2 * n };"}]},
        "run": {"stdin": "one\ntwo\nthree\n", "args": ["a", "b"], "env_vars": [{"name": "GREETING", "value": "hi"}],
                "files": [{"name": "data.txt", "content": "from a file"}]}})
    assert response.status_code == 200, response.text
    result = response.json()["run"]
    assert result["status"] == 3, result
    assert result["stdout"] == ('no newline|42 one "two\\nthree\\n" ["a","b"] from a file null\n'
                                '{"a":[1,"two"]} null undefined 100000000000000000000 Error: shown as text\n')
    assert result["stderr"] == "to stderr hi 4\n"


def test_an_uncaught_exception_is_reported_with_its_stack(daemon: Any) -> None:
    result = run_js(daemon, "function fail() { throw new TypeError('bad input'); }\nfail();")
    assert result["status"] == 1
    assert result["stderr"].startswith("Uncaught TypeError: bad input\n") and "fail" in result["stderr"]


NUMBERS = """
const values = [2.5, -2.5, 0.5, 1.005, 1.45, 8.345, 1.255, 0.125, 1e21, 1e-7, 123.456, 5e-324, -0, 0.1 + 0.2,
                999.995, 1.7976931348623157e308, 2 ** 53 + 1, 4.35, 10.235, 2.675];
const out = [];
for (const v of values) {
  for (let d = 0; d <= 3; d++) out.push(v.toFixed(d), v.toExponential(d));
  for (let p = 1; p <= 4; p++) out.push(v.toPrecision(p));
  out.push(String(v), JSON.stringify(v));
}
console.log(out.join(" "));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on this host")
def test_numbers_format_as_in_node(daemon: Any) -> None:
    """Rounding ties away from zero needs directed rounding, which WebAssembly lacks (see the
    runtime's rounding.c): (2.5).toFixed(0) is "3" and (1.005).toFixed(2) is "1.00", as in Node."""
    node = subprocess.run(["node", "-e", NUMBERS], capture_output=True, text=True, check=True).stdout
    result = run_js(daemon, NUMBERS)
    assert result["stdout"] == node
    assert result["stdout"].split()[:3] == ["3", "3e+0", "2.5"]  # (2.5).toFixed(0), .toExponential(0), ...
