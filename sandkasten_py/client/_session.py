"""`Session`: an interactive run of a built program over `GET /programs/{program_id}/connect`.

    with client.connect(program_id, RunRequest(args=["--verbose"])) as session:
        session.send_stdin("first line\\n")
        for event in session:
            if isinstance(event, Output):
                print(event.stream, event.data)
            ...
        print(session.result.status)        # the Exit event's result

Iterating yields `Output` events as the program writes, then one `Exit`, then stops; a session
the server ends with an error raises `SessionClosed` (its WebSocket close code and reason: 4404
program not found, 4400 a bad message or limits, 4408 idle, 4503 busy ...). Sending is safe from
another thread while one thread iterates (websockets' synchronous client).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Literal

import msgspec
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from sandkasten_py.client._errors import InvalidResponse, SandkastenError, TransportError
from sandkasten_py.schemas import RunRequest, RunResult

SignalName = Literal["SIGINT", "SIGTERM", "SIGKILL"]


class SessionClosed(SandkastenError):
    """The server ended the session with an error (`code` 4xxx, `reason` says why)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"session closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class Output(msgspec.Struct, tag_field="type", tag=True):
    """Output of the program, as it wrote it."""

    data: str

    @property
    def stream(self) -> str:
        return "stdout" if isinstance(self, Stdout) else "stderr"


class Stdout(Output, tag="stdout"):
    pass


class Stderr(Output, tag="stderr"):
    pass


class Exit(msgspec.Struct, tag_field="type", tag="exit"):
    """The end of the run (its stdout and stderr are empty: they came as `Output`)."""

    result: RunResult


Event = Stdout | Stderr | Exit
_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)


class Session:
    """An open session (see the module docstring); close it, or use it as a context manager."""

    def __init__(self, url: str, request: RunRequest, *, open_timeout: float | None = 10,
                 token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        try:
            self._socket = connect(url, open_timeout=open_timeout, max_size=None, additional_headers=headers)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as e:
            raise TransportError(f"cannot open a session at {url}: {e}") from e
        self.result: RunResult | None = None
        """The run's result, once `Exit` came."""
        start = msgspec.json.encode(request)
        self._send(b'{"type":"start"' + (b"," + start[1:] if start != b"{}" else b"}"))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def send_stdin(self, data: str) -> None:
        self._send(msgspec.json.encode({"type": "stdin", "data": data}))

    def close_stdin(self) -> None:
        self._send(b'{"type":"stdin_eof"}')

    def signal(self, name: SignalName) -> None:
        self._send(msgspec.json.encode({"type": "signal", "signal": name}))

    def __iter__(self) -> Iterator[Event]:
        while self.result is None:
            try:
                text = self._socket.recv()
            except ConnectionClosed:
                raise self._closed() from None
            try:
                event = _decoder.decode(text)
            except (msgspec.ValidationError, msgspec.DecodeError) as e:
                raise InvalidResponse(f"a session message that is not valid: {e}", status_code=101,
                                      content=text.encode() if isinstance(text, str) else text) from e
            if isinstance(event, Exit):
                self.result = event.result
            yield event

    def wait(self) -> RunResult:
        """Read to the end (dropping output) and return the result."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result

    def close(self) -> None:
        """Close the socket; a run not ended yet is stopped by the server."""
        self._socket.close()

    def _send(self, message: bytes) -> None:
        try:
            self._socket.send(message.decode())
        except ConnectionClosed:
            raise self._closed() from None

    def _closed(self) -> SessionClosed:
        return SessionClosed(self._socket.close_code, self._socket.close_reason or "")
