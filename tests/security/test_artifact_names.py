"""Downloads of build output cannot reach outside it (FS-01..03 for the new read path).

`GET /programs/{program_id}/artifacts/{name}` opens a file the daemon did not write: the compile
step, untrusted code, chose what lies in `/program`. The names come from the URL. Here names
try to climb out (raw, percent-encoded, absolute, with NUL) and a compile step plants a symlink
to a host file, a link to `/`, a hard link and a fifo in `/program`; none of it serves a byte
from outside the program's own regular files, and nothing blocks.
"""

from __future__ import annotations

import http.client
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox

HOST_SECRET = "/etc/hostname"


def raw_get(daemon: Any, path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as given (no client-side normalization of `..`)."""
    url = urllib.parse.urlsplit(daemon.url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def python_program(daemon: Any) -> str:
    response = daemon.post("/programs", json={"environment": "python",
                                              "main_file": {"content": f"# {uuid.uuid4()}\nprint(1)"}})
    assert response.status_code == 201, response.text
    program_id: str = response.json()["program_id"]
    return program_id


@pytest.mark.catalogue("FS-03")
@pytest.mark.parametrize("name", [
    "../program.json", "..%2Fprogram.json", "%2e%2e%2Fprogram.json", "%2E%2E/%2E%2E/config.toml",
    "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fhostname", "%2Fetc%2Fhostname", "/etc/hostname",
    "code.py%00.js", "code.py%2F", ".", "%2e", "./code.py", ".%2Fcode.py", "code.py/..",
])
def test_names_cannot_climb_out_of_the_build_output(daemon: Any, name: str) -> None:
    program_id = python_program(daemon)
    status, body = raw_get(daemon, f"/programs/{program_id}/artifacts/{name}")
    assert status in (404, 422), (status, body[:200])
    assert b"program.json" not in body or b"error" in body
    assert Path(HOST_SECRET).read_bytes().strip() not in body or b"error" in body
    assert raw_get(daemon, f"/programs/{program_id}/artifacts/code.py")[0] == 200  # the real one is there


def hooked_c_build(daemon: Any, commands: str) -> Any:
    """A C build whose compile jail first runs `commands` (a BASH_ENV hook), then compiles."""
    hook = f"""if [ -z "$HOOKED" ]; then
export HOOKED=1 PATH=/usr/bin
{commands}
fi
"""
    return daemon.post("/programs", json={
        "environment": "c",
        "main_file": {"content": f"// {uuid.uuid4()}\nint main(void) {{ return 0; }}\n"},
        "files": [{"name": "hook.sh", "content": hook}],
        "env_vars": [{"name": "BASH_ENV", "value": "/box/hook.sh"}],
    })


@pytest.mark.catalogue("FS-01", "FS-03", "CC-05")
@pytest.mark.parametrize(("commands", "what"), [
    ("ln -s /etc/hostname /program/hostname.js", "is a symbolic link"),
    ("ln -s / /program/root", "is a symbolic link"),
    ("mkfifo /program/fifo.js", "fifo.js"),
])
def test_a_build_leaving_links_or_fifos_is_refused_and_nothing_is_served(
        daemon: Any, commands: str, what: str) -> None:
    """A compile step leaves a link to a host place or a fifo in /program: the store refuses the
    build (the download path would refuse such a file too: tests/unit/test_artifacts.py)."""
    response = hooked_c_build(daemon, commands)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "compile_error"
    assert what in response.json()["message"]


@pytest.mark.catalogue("FS-01", "FS-03", "CC-05")
def test_a_hard_link_is_served_as_the_programs_own_copy(daemon: Any) -> None:
    """A hard link to a file the job could read becomes a regular file of the program, copied:
    its bytes are the job's own file's, never a host file's."""
    response = hooked_c_build(daemon, "echo mine > /tmp/own && ln /tmp/own /program/own.txt 2>/dev/null "
                                      "|| cp /tmp/own /program/own.txt")
    assert response.status_code == 201, response.text
    program_id = response.json()["program_id"]
    status, body = raw_get(daemon, f"/programs/{program_id}/artifacts/own.txt")
    assert (status, body) == (200, b"mine\n")
