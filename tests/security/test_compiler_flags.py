"""compile_args (CC-06): flags a build may add, and what they cannot do.

emcc-sandboxd filters flags by prefix, so `--embed-file=/abs/path` passes its path check and
`-sEXPORTED_FUNCTIONS=@/etc/passwd` makes emcc read a file. Here every such form, joined and
split, is refused by a real daemon before any job with 400 `invalid_compile_args` naming the
offending arguments; and the flags that are allowed, the build's variables and a JavaScript
library running code at compile time reach nothing outside the request's sources and the jail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.jobs import error_parts

pytestmark = pytest.mark.sandbox

MAIN = {"name": "main.c", "content": "int main(void) { return 0; }\n"}


def build(daemon: Any, compile_args: list[str], *, main: dict[str, str] | None = None,
          files: list[dict[str, str]] | None = None, env_vars: list[dict[str, str]] | None = None) -> Any:
    main = main or {**MAIN, "content": f"{MAIN['content']}// {uuid.uuid4()}\n"}
    return daemon.post("/programs", json={
        "environment": "emcc", "main_file": main, "files": files or [], "env_vars": env_vars or [],
        "compile_args": compile_args, "compile_limits": {"time": 30}})


@pytest.mark.catalogue("CC-06")
@pytest.mark.parametrize("args, offending", [
    (["-o", "/tmp/app.js"], ["-o", "/tmp/app.js"]),
    (["-o/tmp/app.js"], ["-o/tmp/app.js"]),
    (["@/etc/passwd"], ["@/etc/passwd"]),
    (["@args.txt"], ["@args.txt"]),
    (["--embed-file=/etc/passwd"], ["--embed-file=/etc/passwd"]),
    (["--embed-file", "/etc/passwd"], ["--embed-file", "/etc/passwd"]),
    (["--preload-file=/usr/share/emscripten"], ["--preload-file=/usr/share/emscripten"]),
    (["--preload-file", "../../etc"], ["--preload-file", "../../etc"]),
    (["--js-library=/usr/lib/x.js"], ["--js-library=/usr/lib/x.js"]),
    (["--js-library", "/usr/lib/x.js"], ["--js-library", "/usr/lib/x.js"]),
    (["--pre-js=/etc/passwd"], ["--pre-js=/etc/passwd"]),
    (["--pre-js", "/etc/passwd"], ["--pre-js", "/etc/passwd"]),
    (["--post-js=../x.js"], ["--post-js=../x.js"]),
    (["--post-js", "../x.js"], ["--post-js", "../x.js"]),
    (["-sEXPORTED_FUNCTIONS=@/etc/passwd"], ["-sEXPORTED_FUNCTIONS=@/etc/passwd"]),
    (["-s", "EXPORTED_FUNCTIONS=@/etc/passwd"], ["-s", "EXPORTED_FUNCTIONS=@/etc/passwd"]),
    (["-B/tmp"], ["-B/tmp"]),
    (["-B", "/tmp"], ["-B", "/tmp"]),
    (["-fplugin=/tmp/plugin.so"], ["-fplugin=/tmp/plugin.so"]),
    (["-fplugin", "/tmp/plugin.so"], ["-fplugin", "/tmp/plugin.so"]),
    (["-wrapper", "/bin/sh"], ["-wrapper", "/bin/sh"]),
    (["--wrapper=/bin/sh"], ["--wrapper=/bin/sh"]),
    (["-I/etc"], ["-I/etc"]),
    (["-I", "/etc"], ["-I", "/etc"]),
    (["-L/usr/lib"], ["-L/usr/lib"]),
    (["-L", "/usr/lib"], ["-L", "/usr/lib"]),
    (["-O2", "-Wl,--export-all", "-Wall"], ["-Wl,--export-all"]),
])
def test_refused_forms_are_400_naming_them(daemon: Any, args: list[str], offending: list[str]) -> None:
    response = build(daemon, args)
    status, body, message = error_parts(response)
    assert (status, body) == (400, {"error": "invalid_compile_args", "details": offending}), response.text
    assert message.startswith("compile_args refused: ")


@pytest.mark.catalogue("CC-06")
@pytest.mark.parametrize("environment", ["c", "python"])
def test_other_environments_refuse_any(daemon: Any, environment: str) -> None:
    response = daemon.post("/programs", json={"environment": environment, "main_file": {"content": "x"},
                                              "compile_args": ["-O2"]})
    status, body, message = error_parts(response)
    assert (status, body) == (400, {"error": "invalid_compile_args", "details": ["-O2"]}), response.text
    assert f"`{environment}` takes no compile_args" in message


@pytest.fixture
def host_secret() -> Iterator[tuple[Path, str]]:
    """A file on the host that no job may read, with an unguessable content."""
    secret = f"secret-{uuid.uuid4()}"
    path = Path(f"/var/tmp/sandkasten-compile-args-{uuid.uuid4()}")
    path.write_text(secret)
    os.chmod(path, 0o644)  # even world-readable: the jail does not show it
    try:
        yield path, secret
    finally:
        path.unlink()


@pytest.mark.catalogue("CC-06")
def test_a_js_library_running_at_compile_time_reads_only_the_jail(daemon: Any, host_secret: tuple[Path, str]) -> None:
    """`--js-library` of a source is allowed, and Emscripten evaluates `{{{ }}}` in it while
    compiling: code of the user's, run by the compiler. It can read files, but only the jail's:
    a host file is not there, and its answer (compiled into app.js) says so."""
    path, secret = host_secret
    library = ("mergeInto(LibraryManager.library, { peek: function () { return {{{ JSON.stringify("
               "(function () { try { return process.mainModule.require('fs').readFileSync("
               f"'{path}', 'utf8'); }} catch (e) {{ return 'READ-FAILED:' + e.code; }} }})()) }}}}}}; }} }});\n")
    main = {"name": "main.c", "content": f"extern const char *peek(void);\nint main(void) {{ peek(); return 0; }}\n"
                                         f"// {uuid.uuid4()}\n"}
    response = build(daemon, ["-O0", "--js-library", "lib.js"], main=main,
                     files=[{"name": "lib.js", "content": library}])
    assert response.status_code == 201, response.text
    app_js = daemon.get(f"/programs/{response.json()['program_id']}/artifacts/app.js")
    assert app_js.status_code == 200
    assert "READ-FAILED:ENOENT" in app_js.text, "the compile-time code did not run as expected"
    assert secret not in app_js.text


@pytest.mark.catalogue("CC-06")
def test_the_builds_variables_add_no_flags(daemon: Any, host_secret: tuple[Path, str]) -> None:
    """Emscripten takes flags from EMCC_CFLAGS and clang from CCC_OVERRIDE_OPTIONS: set as build
    env_vars they would bypass the allowlist; the compile script removes them."""
    path, _ = host_secret
    main = {"name": "main.c", "content": """#include <stdio.h>
int main(void) {
#ifdef SMUGGLED
    puts("smuggled macro");
#endif
    puts(fopen("/leak", "r") ? "embedded" : "not embedded");
    return 0;
}
""" + f"// {uuid.uuid4()}\n"}
    response = daemon.post("/run", json={"build": {
        "environment": "emcc", "main_file": main, "compile_limits": {"time": 30},
        "env_vars": [{"name": "EMCC_CFLAGS", "value": "--embed-file=/usr/bin/env@/leak -DSMUGGLED"},
                     {"name": "CCC_OVERRIDE_OPTIONS", "value": "+-DSMUGGLED"},
                     {"name": "EM_CONFIG", "value": f"{path}"}]}})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "not embedded\n", response.json()["run"]
