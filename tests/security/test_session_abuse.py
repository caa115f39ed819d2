"""Abuse of interactive sessions (API-10): clients that never start, start twice, send what only
the server sends, send binary frames or unknown signals, flood stdin, open a thousand sockets,
or disconnect in the middle of a run. Each is answered with a close code and leaves nothing
running; the daemon keeps serving. The protocol itself is tested in
tests/integration/test_sessions.py."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from tests.conftest import settled
from tests.security.jobs import host_processes_with

pytestmark = pytest.mark.sandbox

IDLE_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def sessions(daemon_factory: Callable[..., Any]) -> Any:
    return daemon_factory(SESSIONS__IDLE_TIMEOUT=str(IDLE_TIMEOUT_S), RUN_LIMITS__TIME="10")


def build(daemon: Any, code: str, environment: str = "python") -> str:
    response = daemon.post("/programs", json={"environment": environment, "main_file": {"content": code}})
    assert response.status_code == 201, response.text
    program_id: str = response.json()["program_id"]
    return program_id


def url(daemon: Any, program_id: str) -> str:
    base: str = daemon.url
    return base.replace("http://", "ws://") + f"/programs/{program_id}/connect"


def closed(ws: Connection, timeout: float = 20) -> tuple[int | None, str]:
    """Read until the server closes; its close code and reason."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    except ConnectionClosed:
        pass
    except TimeoutError:
        raise AssertionError("the server did not close the session") from None
    return ws.close_code, ws.close_reason or ""


def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


@pytest.mark.catalogue("API-10")
def test_a_session_that_never_starts_is_closed_at_the_idle_timeout(sessions: Any) -> None:
    program = build(sessions, f"print(1)  # {uuid.uuid4()}")
    started = time.monotonic()
    with connect(url(sessions, program)) as ws:
        code, reason = closed(ws)
    assert code == 4408 and "no start message" in reason, (code, reason)
    assert time.monotonic() - started < IDLE_TIMEOUT_S + 10


@pytest.mark.catalogue("API-10")
@pytest.mark.parametrize(("message", "reason"), [
    ({"type": "start"}, "start was sent twice"),
    ({"type": "stdout", "data": "forged output"}, "invalid message"),
    ({"type": "exit", "result": {}}, "invalid message"),
    ({"type": "signal", "signal": "SIGSTOP"}, "invalid message"),
    ({"type": "signal", "signal": 9}, "invalid message"),
    ({"type": "stdin", "data": "x", "extra": True}, "invalid message"),
    (b"\x00\x01 binary", "binary messages"),
    ("{not json", "invalid message"),
])
def test_messages_outside_the_protocol_close_the_session_and_stop_the_job(
        sessions: Any, message: Any, reason: str) -> None:
    marker = f"abused-session-{uuid.uuid4()}"
    program = build(sessions, f"echo up; exec -a {marker} sleep 1000\n", environment="bash")
    with connect(url(sessions, program)) as ws:
        ws.send(json.dumps({"type": "start"}))
        assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "up\n"}
        ws.send(message if isinstance(message, (bytes, str)) else json.dumps(message))
        code, got = closed(ws)
    assert code == 4400 and reason in got, (code, got)
    assert settled(lambda: host_processes_with(marker), [], 10) == []


@pytest.mark.catalogue("API-10")
def test_a_stdin_flood_to_a_program_that_does_not_read_is_bounded(sessions: Any) -> None:
    """100 MB of stdin to a program that never reads: the daemon takes one message past its
    stdin buffer and then reads no more of the socket (what the client still sends waits in
    the kernel's socket buffers); the session, which no message reaches any more, ends at its
    idle timeout; the job is stopped and the daemon's memory stays flat."""
    marker = f"stdin-flood-{uuid.uuid4()}"
    program = build(sessions, f"echo up; exec -a {marker} sleep 1000\n", environment="bash")
    pid = sessions.process.pid
    before = rss_kb(pid)
    chunk = json.dumps({"type": "stdin", "data": "z" * 1_000_000})
    grown_mb = 0.0
    with connect(url(sessions, program), close_timeout=1) as ws:
        ws.send(json.dumps({"type": "start"}))
        assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "up\n"}
        ws.socket.settimeout(1)
        try:
            for _ in range(100):
                ws.send(chunk)
                grown_mb = max(grown_mb, (rss_kb(pid) - before) / 1000)
        except (TimeoutError, socket.timeout, ConnectionClosed):
            pass
        code, reason = closed(ws)
    assert code == 4408, (code, reason)
    assert grown_mb < 60, grown_mb
    assert settled(lambda: host_processes_with(marker), [], 15) == []


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.catalogue("API-10")
def test_a_thousand_idle_sockets_are_closed_and_the_daemon_keeps_serving(sessions: Any) -> None:
    program = build(sessions, f"print(1)  # {uuid.uuid4()}")
    pid = sessions.process.pid
    files_before = open_files(pid)
    sockets = []
    try:
        for index in range(1000):
            try:
                sockets.append(connect(url(sessions, program), open_timeout=20))
            except Exception as e:
                raise AssertionError(f"socket {index}: {e!r}; daemon log: {sessions.log()[-2000:]}") from e
        assert sessions.get("/config").status_code == 200  # still serving with 1000 open
        with connect(url(sessions, program)) as ws:  # and a real session still runs
            ws.send(json.dumps({"type": "start"}))
            assert json.loads(ws.recv(timeout=30)) == {"type": "stdout", "data": "1\n"}
        codes = {closed(ws, timeout=IDLE_TIMEOUT_S + 60)[0] for ws in sockets}
        assert codes == {4408}, codes
    finally:
        for ws in sockets:
            ws.close()
    assert settled(lambda: open_files(pid) <= files_before + 10, True, 20), (open_files(pid), files_before)


@pytest.mark.catalogue("API-10")
def test_a_client_that_disconnects_mid_run_leaves_nothing_running(sessions: Any) -> None:
    marker = f"dropped-session-{uuid.uuid4()}"
    program = build(sessions, f"echo up; exec -a {marker} sleep 1000\n", environment="bash")
    ws = connect(url(sessions, program))
    ws.send(json.dumps({"type": "start"}))
    assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "up\n"}
    ws.socket.close()  # no close frame: the connection just drops
    assert settled(lambda: host_processes_with(marker), [], 10) == []
    assert sessions.get("/config").status_code == 200
