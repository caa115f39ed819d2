"""Interactive sessions: `GET /programs/{program_id}/connect`, a WebSocket.

The protocol (JSON text messages):

    client                                  server
    {"type": "start", ...run request...}    (first; the run request's fields, stdin included)
    {"type": "stdin", "data": str}          {"type": "stdout" | "stderr", "data": str}
    {"type": "stdin_eof"}                      as the program writes it
    {"type": "signal", "signal": "SIGINT" | "SIGTERM" | "SIGKILL"}
                                            {"type": "exit", "result": RunResult}, then close 1000

The run's limits apply as to `POST /programs/{program_id}/run`: `time` is the session's wall
time, the output caps count the streamed bytes; the result's stdout and stderr are empty (they
were streamed). A session without a client message and without output taken by the client for
`sessions.idle_timeout` seconds is ended: its job is stopped and the socket closed with 4408. A
client that does not read makes the daemon hold at most `sessions.output_buffer` bytes; then the
program's output is not read (the program waits on its pipe), and the idle timeout ends it.

Errors close the socket with a code and a reason (at most 123 bytes): 4400 a message that is
not valid (not JSON, binary, an unknown type, `start` twice or missing), 4000 + the HTTP status
of the error `POST /programs/{program_id}/run` would answer (4404 program_not_found, 4400
run_limits_exceeded, 4503 busy ...), 4408 idle, 4500 an internal error. A client that goes away
stops its session: the job is killed, nothing is left.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import Awaitable
from typing import Literal

import msgspec
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from sandkasten_py.api.errors import UnprocessableContent, lookup
from sandkasten_py.api.request_limits import check_request
from sandkasten_py.api.state import app_state
from sandkasten_py.programs import ProgramError
from sandkasten_py.sandbox import JobControl
from sandkasten_py.schemas import RunRequest, RunResult

log = logging.getLogger(__name__)

PATH = "/programs/{program_id}/connect"
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}


class Start(RunRequest, tag="start", tag_field="type", forbid_unknown_fields=True):
    """The first message: how to run the program (a run request)."""


class Stdin(msgspec.Struct, tag="stdin", tag_field="type", forbid_unknown_fields=True):
    data: str


class StdinEof(msgspec.Struct, tag="stdin_eof", tag_field="type", forbid_unknown_fields=True):
    pass


class Signal(msgspec.Struct, tag="signal", tag_field="type", forbid_unknown_fields=True):
    signal: Literal["SIGINT", "SIGTERM", "SIGKILL"]


class Output(msgspec.Struct, kw_only=True):
    type: Literal["stdout", "stderr"]
    data: str


class Exit(msgspec.Struct, tag="exit", tag_field="type"):
    result: RunResult


ClientMessage = Start | Stdin | StdinEof | Signal
_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)


class SessionClosed(Exception):
    """End the session with a WebSocket close code and a reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Channel:
    """The `JobIO` of a session: output becomes messages queued for the client (held past
    `buffer` bytes), and the job's control is kept for the client's messages."""

    def __init__(self, buffer: int) -> None:
        self.buffer = buffer
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.queued = 0
        self.holding = False
        self.control: JobControl | None = None
        self.running = asyncio.Event()
        self.last_activity = time.monotonic()
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")(errors="replace")
                          for name in ("stdout", "stderr")}

    def started(self, control: JobControl) -> None:
        self.control = control
        self.last_activity = time.monotonic()  # waiting for a job slot is not being idle
        self.running.set()

    def output(self, stream: str, data: bytes) -> bool:
        text = self._decoders[stream].decode(data)
        if text:
            self._put(msgspec.json.encode(Output(type=stream, data=text)))  # type: ignore[arg-type]
        self.holding = self.queued > self.buffer
        return not self.holding

    def flush_decoders(self) -> None:
        """What the decoders keep of an incomplete character, at the end."""
        for stream, decoder in self._decoders.items():
            text = decoder.decode(b"", final=True)
            if text:
                self._put(msgspec.json.encode(Output(type=stream, data=text)))  # type: ignore[arg-type]

    def _put(self, message: bytes) -> None:
        self.queued += len(message)
        self.queue.put_nowait(message)

    def sent(self, message: bytes) -> None:
        """A message reached the client's socket: output may flow again below half the buffer."""
        self.queued -= len(message)
        self.last_activity = time.monotonic()
        if self.holding and self.queued <= self.buffer // 2 and self.control is not None:
            self.holding = False
            self.control.resume_output()


async def connect(websocket: WebSocket) -> None:
    """The WebSocket endpoint."""
    state = app_state(websocket)
    settings = state.config.sessions
    await websocket.accept()
    channel = Channel(settings.output_buffer)
    try:
        # The start message first, even for a path that names no program: a client sends it at
        # once, and would otherwise race the close with it.
        start = await _first_message(websocket, settings.idle_timeout)
        program_id = _program_id(websocket.path_params["program_id"])
        try:
            check_request(start, state.config.request_limits)
        except UnprocessableContent as e:
            raise SessionClosed(4422, e.reason) from None
        request = msgspec.structs.replace(start, stdin=None)
        result = await _run(websocket, channel, state.programs.run(program_id, request, channel),
                            start.stdin, settings.idle_timeout)
        await websocket.send_text(msgspec.json.encode(Exit(result)).decode())
        await websocket.close(1000)
    except SessionClosed as e:
        await _close(websocket, e.code, e.reason)
    except ProgramError as e:
        status, name, _ = lookup(e)
        await _close(websocket, 4000 + status, f"{name}: {e.message or ''}")
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("session on %s failed", websocket.url.path)
        await _close(websocket, 4500, "an internal error; the daemon's log has the details")


def _program_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise SessionClosed(4404, f"program_not_found: {text!r} is not a program id") from None


async def _first_message(websocket: WebSocket, idle_timeout: int) -> Start:
    try:
        message = await asyncio.wait_for(_receive(websocket), idle_timeout)
    except TimeoutError:
        raise SessionClosed(4408, f"no start message within {idle_timeout} s "
                                  "(configuration key `sessions.idle_timeout`)") from None
    if not isinstance(message, Start):
        raise SessionClosed(4400, f"the first message must be start, not {_type(message)}")
    return message


async def _receive(websocket: WebSocket) -> ClientMessage:
    """The next message of the client (SessionClosed 4400 if it is not valid)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise SessionClosed(4400, "binary messages are not part of the protocol: send JSON text")
    try:
        return _decoder.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise SessionClosed(4400, f"invalid message: {e}") from None


async def _run(websocket: WebSocket, channel: Channel, session: Awaitable[RunResult], stdin: str | None,
               idle_timeout: int) -> RunResult:
    """Run the session's job while relaying the client's messages and the job's output; the
    job's result once it ended and its output was sent."""
    job = asyncio.ensure_future(session)
    relay = asyncio.ensure_future(_relay_client(websocket, channel, stdin))
    sender = asyncio.ensure_future(_send_output(websocket, channel))
    idle = asyncio.ensure_future(_watch_idle(channel, idle_timeout))
    try:
        done, _ = await asyncio.wait([job, relay, idle, sender], return_when=asyncio.FIRST_COMPLETED)
        if job not in done:  # the client left, broke the protocol or went idle
            for task in done:
                task.result()  # raises what ended the session
            raise AssertionError("a relay ended without a reason")
        result: RunResult = job.result()
        channel.flush_decoders()
        await asyncio.wait_for(channel.queue.join(), idle_timeout)  # the rest of the output
        return result
    except TimeoutError:
        raise SessionClosed(4408, "the client did not read the output") from None
    finally:
        for task in (relay, idle, sender):
            task.cancel()
        if not job.done():
            job.cancel()  # stops waiting for a slot, or kills the job
        with contextlib.suppress(BaseException):
            await job


async def _relay_client(websocket: WebSocket, channel: Channel, stdin: str | None) -> None:
    """Apply the client's messages to the job (once it runs) until the client leaves."""
    await channel.running.wait()
    control = channel.control
    assert control is not None
    if stdin:
        await control.write_stdin(stdin.encode())
    while True:
        message = await _receive(websocket)
        channel.last_activity = time.monotonic()
        if isinstance(message, Stdin):
            await control.write_stdin(message.data.encode())
        elif isinstance(message, StdinEof):
            control.close_stdin()
        elif isinstance(message, Signal):
            if message.signal == "SIGKILL":
                control.stop()
            else:
                control.signal(SIGNALS[message.signal])
        else:
            raise SessionClosed(4400, "start was sent twice")


async def _send_output(websocket: WebSocket, channel: Channel) -> None:
    while True:
        message = await channel.queue.get()
        try:
            await websocket.send_text(message.decode())
            channel.sent(message)
        finally:
            channel.queue.task_done()


async def _watch_idle(channel: Channel, idle_timeout: int) -> None:
    await channel.running.wait()
    while True:
        await asyncio.sleep(1)
        if time.monotonic() - channel.last_activity > idle_timeout:
            raise SessionClosed(4408, f"idle for {idle_timeout} s (configuration key `sessions.idle_timeout`)")


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    encoded = reason.encode()[:123].decode(errors="ignore")  # a close frame's reason: 123 bytes
    with contextlib.suppress(Exception):
        await websocket.close(code, encoded)


def _type(message: ClientMessage) -> str:
    return str(type(message).__struct_config__.tag)


def session_routes() -> list[BaseRoute]:
    return [WebSocketRoute(PATH, connect)]
