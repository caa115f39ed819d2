"""Interactive sessions (`GET /programs/{program_id}/connect`, a WebSocket) against a real daemon:
output streamed while the program runs, stdin given while it runs, signals, the run's limits,
the idle timeout, a client that does not read, and the close codes of errors. The attacks on
sessions are in tests/security/test_session_abuse.py."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed
from wsproto import ConnectionType, WSConnection
from wsproto.events import CloseConnection, Message, Request, TextMessage
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from tests.security.jobs import host_processes_with

pytestmark = pytest.mark.sandbox

IDLE_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def session_daemon(daemon_factory: Callable[..., Any]) -> Any:
    return daemon_factory(RUN_LIMITS__TIME="20", SESSIONS__IDLE_TIMEOUT=str(IDLE_TIMEOUT_S),
                          SESSIONS__OUTPUT_BUFFER="65536", RUN_LIMITS__STDOUT_MAX_SIZE="100000000")


def build(daemon: Any, environment: str, code: str) -> str:
    response = daemon.post("/programs", json={"environment": environment, "main_file": {"content": code}})
    assert response.status_code == 201, response.text
    program_id: str = response.json()["program_id"]
    return program_id


def open_session(daemon: Any, program_id: str, start: dict[str, Any] | None = None) -> Connection:
    ws = connect(daemon.url.replace("http://", "ws://") + f"/programs/{program_id}/connect", open_timeout=10)
    ws.send(json.dumps({"type": "start", **(start or {})}))
    return ws


def messages(ws: Connection, timeout: float = 30) -> Iterator[dict[str, Any]]:
    """The server's messages until it closes the socket."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            yield json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
    except ConnectionClosed:
        return


def until_exit(ws: Connection) -> tuple[str, str, dict[str, Any]]:
    """(stdout, stderr, result) of a session, read to its end; it must close with 1000."""
    out = {"stdout": "", "stderr": ""}
    result: dict[str, Any] | None = None
    for message in messages(ws):
        if message["type"] == "exit":
            result = message["result"]
        else:
            out[message["type"]] += message["data"]
    assert result is not None and ws.close_code == 1000, (ws.close_code, ws.close_reason)
    return out["stdout"], out["stderr"], result


ECHO = """import sys
for line in sys.stdin:
    print("got", line.strip(), flush=True)
print("bye", file=sys.stderr)
"""


def test_output_is_streamed_while_the_program_runs_and_reads_more_stdin(session_daemon: Any) -> None:
    """The answer to the first line arrives while the program still waits for the second (it
    could not have been buffered until exit); the result's stdout and stderr are empty."""
    program = build(session_daemon, "python", ECHO + f"# {uuid.uuid4()}\n")
    with open_session(session_daemon, program, {"stdin": "first\n"}) as ws:
        assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "got first\n"}
        ws.send(json.dumps({"type": "stdin", "data": "second\n"}))
        assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "got second\n"}
        ws.send(json.dumps({"type": "stdin_eof"}))
        stdout, stderr, result = until_exit(ws)
    assert (stdout, stderr) == ("", "bye\n")
    assert (result["status"], result["stdout"], result["stderr"], result["exceeded"]) == (0, "", "", [])


@pytest.mark.parametrize("environment", ["c", "bash"])
def test_other_languages_stream_too(session_daemon: Any, environment: str) -> None:
    code = {
        "c": '#include <stdio.h>\nint main(void) { char b[64]; while (fgets(b, sizeof b, stdin)) '
             '{ printf("got %s", b); fflush(stdout); } return 0; }\n',
        "bash": 'while read -r line; do echo "got $line"; done\n',
    }[environment]
    program = build(session_daemon, environment, code + ("// " if environment == "c" else "# ") + str(uuid.uuid4()))
    with open_session(session_daemon, program) as ws:
        ws.send(json.dumps({"type": "stdin", "data": "one\n"}))
        assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "got one\n"}
        ws.send(json.dumps({"type": "stdin_eof"}))
        assert until_exit(ws)[2]["status"] == 0


INTERRUPTIBLE = """import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("terminated", flush=True), sys.exit(3)))
try:
    print("ready", flush=True)  # inside the try: the signal may come right after it
    time.sleep(60)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize(("name", "output", "status"), [
    ("SIGINT", "interrupted\n", 0), ("SIGTERM", "terminated\n", 3), ("SIGKILL", "", 137)])
def test_signals_reach_the_program(session_daemon: Any, name: str, output: str, status: int) -> None:
    program = build(session_daemon, "python", INTERRUPTIBLE)
    with open_session(session_daemon, program) as ws:
        assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "ready\n"}
        ws.send(json.dumps({"type": "signal", "signal": name}))
        stdout, _, result = until_exit(ws)
    assert (stdout, result["status"]) == (output, status), result


def test_the_time_limit_is_the_sessions_wall_time(session_daemon: Any) -> None:
    program = build(session_daemon, "python", "import sys\nsys.stdin.read()\n")
    started = time.monotonic()
    with open_session(session_daemon, program, {"run_limits": {"time": 2}}) as ws:
        ws.send(json.dumps({"type": "stdin", "data": "keeps the session busy\n"}))  # activity
        _, _, result = until_exit(ws)
    assert (result["status"], result["exceeded"]) == (137, ["time"]), result
    assert 1.5 < time.monotonic() - started < 15


def test_the_output_cap_counts_the_streamed_bytes(session_daemon: Any) -> None:
    program = build(session_daemon, "python", "import sys\nwhile True: sys.stdout.write('x' * 4096)\n")
    with open_session(session_daemon, program, {"run_limits": {"stdout_max_size": 50000}}) as ws:
        stdout, _, result = until_exit(ws)
    assert len(stdout) == 50000 and result["exceeded"] == ["stdout_max_size"], result


def test_an_idle_session_is_ended_and_its_job_stopped(session_daemon: Any) -> None:
    marker = f"idle-session-{uuid.uuid4()}"
    program = build(session_daemon, "bash", f"exec -a {marker} sleep 1000\n")
    with open_session(session_daemon, program) as ws:
        assert list(messages(ws, timeout=IDLE_TIMEOUT_S + 20)) == []
        assert ws.close_code == 4408 and "idle" in (ws.close_reason or ""), (ws.close_code, ws.close_reason)
    deadline = time.monotonic() + 10
    while host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes_with(marker) == []


class SilentClient:
    """A WebSocket client that sends but reads nothing until told to (wsproto over a socket):
    unlike a library client, nothing reads the socket behind the test's back."""

    def __init__(self, url: str, path: str) -> None:
        parts = urlsplit(url)
        self.socket = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.protocol = WSConnection(ConnectionType.CLIENT)
        self.socket.sendall(self.protocol.send(Request(host=parts.netloc, target=path)))
        self._events()  # the handshake's answer

    def send(self, message: dict[str, Any]) -> None:
        self.socket.sendall(self.protocol.send(Message(data=json.dumps(message))))

    def _events(self) -> list[Any]:
        data = self.socket.recv(65536)
        self.protocol.receive_data(data or None)
        return list(self.protocol.events())

    def read_to_close(self) -> tuple[int, int]:
        """(bytes of output received, close code)."""
        received = 0
        while True:
            for event in self._events():
                if isinstance(event, TextMessage):
                    received += len(event.data)
                elif isinstance(event, CloseConnection):
                    return received, event.code


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_client_that_does_not_read_is_not_buffered_without_bound(session_daemon: Any) -> None:
    """The program writes without end; the client reads nothing. The daemon holds its output
    buffer (64 KB here) and then stops reading the program's pipe: the program waits, the
    session goes idle and is ended (4408) long before the program could write its 100 MB cap,
    and the daemon's memory does not grow by what the program wrote."""
    program = build(session_daemon, "python", f"# {uuid.uuid4()}\nimport sys\nwhile True: sys.stdout.write('y' * 65536)\n")
    before = rss_kb(session_daemon.process.pid)
    client = SilentClient(session_daemon.url, f"/programs/{program}/connect")
    client.send({"type": "start"})
    time.sleep(IDLE_TIMEOUT_S + 3)  # not reading
    grown_mb = (rss_kb(session_daemon.process.pid) - before) / 1000
    received, code = client.read_to_close()
    client.socket.close()
    assert code == 4408, code
    assert received < 20_000_000, received  # what the socket buffers held, not the 100 MB cap
    assert grown_mb < 40, grown_mb


def test_a_client_that_leaves_stops_its_job(session_daemon: Any) -> None:
    marker = f"left-session-{uuid.uuid4()}"
    program = build(session_daemon, "bash", f"echo started; exec -a {marker} sleep 1000\n")
    ws = open_session(session_daemon, program)
    assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "started\n"}
    assert host_processes_with(marker)
    ws.close()
    deadline = time.monotonic() + 10
    while host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes_with(marker) == []


@pytest.mark.parametrize(("program", "start", "code", "reason"), [
    ("00000000-0000-0000-0000-000000000000", {}, 4404, "program_not_found"),
    ("not-a-uuid", {}, 4404, "program_not_found"),
    (None, {"run_limits": {"time": 999}}, 4400, "run_limits_exceeded"),
    (None, {"stdin": "x" * 70000}, 4422, "stdin"),
    (None, {"nonsense": 1}, 4400, "invalid message"),
])
def test_errors_close_the_socket_with_a_code_and_a_reason(session_daemon: Any, program: str | None,
                                                         start: dict[str, Any], code: int, reason: str) -> None:
    program_id = program or build(session_daemon, "python", "print(1)\n")
    with open_session(session_daemon, program_id, start) as ws:
        assert list(messages(ws, timeout=20)) == []
    assert ws.close_code == code and reason in (ws.close_reason or ""), (ws.close_code, ws.close_reason)


def test_wasm_programs_are_not_interactive(session_daemon: Any) -> None:
    program = build(session_daemon, "javascript-wasm", "console.log(1)\n")
    with open_session(session_daemon, program) as ws:
        assert list(messages(ws, timeout=20)) == []
    assert ws.close_code == 4400 and "not_interactive" in (ws.close_reason or ""), ws.close_reason


def test_sessions_under_gvisor_stream_and_take_signals(gvisor_daemon: Any) -> None:
    program = build(gvisor_daemon, "python", INTERRUPTIBLE + f"# {uuid.uuid4()}\n")
    with open_session(gvisor_daemon, program) as ws:
        assert json.loads(ws.recv(timeout=30)) == {"type": "stdout", "data": "ready\n"}
        ws.send(json.dumps({"type": "signal", "signal": "SIGINT"}))
        stdout, _, result = until_exit(ws)
    assert (stdout, result["status"]) == ("interrupted\n", 0), result


# ----------------------------------------------------------------- the Python client and the CLI


def test_the_python_clients_session(session_daemon: Any) -> None:
    from sandkasten_py.client import Exit, SandkastenClient, SessionClosed, Stderr, Stdout
    from sandkasten_py.schemas import RunRequest

    with SandkastenClient(session_daemon.url) as client:
        program = build(session_daemon, "python", ECHO + f"# client {uuid.uuid4()}\n")
        with client.connect(program, RunRequest(stdin="a\n")) as session:
            events = iter(session)
            assert next(events) == Stdout(data="got a\n")
            session.send_stdin("b\n")
            assert next(events) == Stdout(data="got b\n")
            session.close_stdin()
            rest = list(events)
        assert rest[:-1] == [Stderr(data="bye\n")] and isinstance(rest[-1], Exit)
        assert session.result is not None and session.result.status == 0
        with client.connect("00000000-0000-0000-0000-000000000000") as missing:
            with pytest.raises(SessionClosed) as caught:
                missing.wait()
        assert caught.value.code == 4404


def test_sandkasten_run_interactive(session_daemon: Any, tmp_path: Path) -> None:
    """`sandkasten run -i`: stdin is relayed as it comes (here a pipe), output as it is written,
    the program's exit status is the command's."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = tmp_path / "echo.py"
    script.write_text(ECHO + f"import sys; sys.exit(4)  # {uuid.uuid4()}\n")
    process = subprocess.Popen([sys.executable, "-m", "sandkasten_py", "run", "-i", str(script)], cwd=ROOT,
                               env={"PATH": "/usr/bin:/bin", "SANDKASTEN_URL": session_daemon.url},
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    try:
        process.stdin.write(b"one\n")
        process.stdin.flush()
        assert process.stdout.readline() == b"got one\n"  # before stdin ended: streamed
        process.stdin.write(b"two\n")
        process.stdin.close()
        assert process.wait(timeout=60) == 4
        assert (process.stdout.read(), process.stderr.read()) == (b"got two\n", b"bye\n")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
