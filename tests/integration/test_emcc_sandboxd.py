"""emcc-sandboxd's API on a real daemon with the real emcc environment: what its README shows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox


def compile_code(daemon: Any, code: str, **fields: Any) -> Any:
    return daemon.post("/emcc-sandboxd/compile", json={"code": f"{code}\n// {uuid.uuid4()}\n", **fields})


def test_healthz(daemon: Any) -> None:
    response = daemon.get("/emcc-sandboxd/healthz")
    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.parametrize("kind, code", [
    ("c", '#include <stdio.h>\nint main() { printf("Hello WebAssembly!"); return 0; }'),
    ("cpp", '#include <iostream>\nint main() { std::cout << "Hello C++ WebAssembly!" << std::endl; return 0; }'),
])
def test_the_readme_examples_compile_and_their_files_are_served(daemon: Any, kind: str, code: str) -> None:
    response = compile_code(daemon, code, type=kind)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["ok"] is True and "error" not in answer
    js, wasm = daemon.get(answer["js"]), daemon.get(answer["wasm"])
    assert js.status_code == wasm.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript") and wasm.content[:4] == b"\0asm"
    assert "Module" in js.text  # -sMODULARIZE=1 with the default export name
    assert "cache-control" in wasm.headers and wasm.headers["etag"].strip('"') in daemon.get(
        f"/programs/{uuid.UUID(hex=answer['id'][:32])}/artifacts").text


def test_custom_arguments_are_merged_after_the_defaults(daemon: Any) -> None:
    code = '#include <stdio.h>\nint add(int a, int b) { return a + b; }\nint main() { printf("Result: %d", add(5, 3)); return 0; }'
    response = compile_code(daemon, code, type="c", args=["-O2", "-sEXPORTED_FUNCTIONS=[_main,_add]"])
    assert response.status_code == 200, response.text
    assert "_add" in daemon.get(response.json()["js"]).text


def test_a_compile_error_is_ok_false_with_the_compilers_message(daemon: Any) -> None:
    response = compile_code(daemon, "int main() { return nope; }", type="c")
    assert response.status_code == 400
    answer = response.json()
    assert answer["ok"] is False and "use of undeclared identifier 'nope'" in answer["error"]


def test_refused_arguments_are_ok_false_saying_why(daemon: Any) -> None:
    response = compile_code(daemon, "int main() { return 0; }", args=["--embed-file=/etc/passwd"])
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert "`--embed-file=/etc/passwd`: only the request's own files" in response.json()["error"]
