"""What the daemon and a WASI worker say to each other over the worker's stdin and stdout.

Each message is a frame: 4 bytes of big-endian length, then that many bytes of msgpack. The
worker first sends `Ready` (wasmtime is imported, the engine made), then answers each `Job` with
one `Outcome` and each `Compile` with one `Compiled`, in order.

A worker keeps the last `MODULES_KEPT` modules it loaded, by key, most recently used last, and
says in each `Outcome` whether it keeps the job's module: the daemon follows the same rule for
each worker, so it knows exactly which modules a worker holds and sends a module's bytes only to
a worker that does not. Frames are bounded (`MAX_FRAME`), so a confused or hostile worker
cannot make the daemon allocate without limit; a worker that breaks the protocol is replaced.
Plain data: the daemon imports this without wasmtime.
"""

from __future__ import annotations

import os
import struct

import msgspec

MAX_FRAME = 64 * 1024 * 1024
STATUS_KILLED = 128 + 9      # a run that ran into a limit, as a job killed at a limit reports it
STATUS_TRAPPED = 128 + 6     # a trap is the guest's crash, like abort()
MODULES_KEPT = 64
_LENGTH = struct.Struct(">I")
FRAME_HEADER = _LENGTH.size


class Ready(msgspec.Struct, tag=True):
    """The worker is warm."""

    wasmtime_version: str
    engine: str
    """The wasmtime version and the engine's settings: what a serialized module depends on."""


class Job(msgspec.Struct, tag=True):
    """One run: the module, the job's files (for its working directory), the program's other
    files (read-only at `/program`), inputs and limits."""

    module_key: bytes
    """The module's SHA-256, by which the worker keeps it loaded."""
    module: bytes
    """The module (empty when the worker keeps it, or when `compiled` is given)."""
    compiled: bytes
    """The module compiled by a `Compile` for this engine (empty: none, or the worker keeps it)."""
    files: list[tuple[str, bytes]]
    program_files: list[tuple[str, bytes]]
    args: list[str]
    env: list[tuple[str, str]]
    stdin: bytes
    time_s: float
    memory_bytes: int
    fuel: int
    stdout_max: int
    stderr_max: int


class Outcome(msgspec.Struct, tag=True):
    """How the run ended."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    exceeded: list[str]
    wall_time_ms: int
    memory_kb: int
    module_kept: bool
    """Whether the worker now keeps the job's module (it loaded; see the module docstring)."""


class Compile(msgspec.Struct, tag=True):
    """Compile a module for the engine, and run nothing."""

    module: bytes


class Compiled(msgspec.Struct, tag=True):
    """The module serialized (empty and an error when it does not compile)."""

    serialized: bytes
    error: str


Message = Ready | Job | Outcome | Compile | Compiled
_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(Message)


class ProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol, or went away."""


def encode_frame(message: Message) -> bytes:
    """One frame holding `message`."""
    payload = _encoder.encode(message)
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"a message of {len(payload)} bytes is larger than {MAX_FRAME}")
    return _LENGTH.pack(len(payload)) + payload


def frame_length(header: bytes) -> int:
    """The payload's length given in a frame's header (ProtocolError past `MAX_FRAME`)."""
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"a frame of {length} bytes is larger than {MAX_FRAME}")
    return int(length)


def decode_payload(payload: bytes) -> Message:
    """The message of a frame's payload (ProtocolError if it is none)."""
    try:
        return _decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise ProtocolError(f"not a message: {e}") from None


def write_message(fd: int, message: Message) -> None:
    """Send one frame (blocking)."""
    data = memoryview(encode_frame(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_message(fd: int) -> Message:
    """Receive one frame (blocking; ProtocolError at end of file or for a bad frame)."""
    return decode_payload(_read_exactly(fd, frame_length(_read_exactly(fd, FRAME_HEADER))))


def _read_exactly(fd: int, count: int) -> bytes:
    chunks = []
    while count:
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            raise ProtocolError("the other side closed the pipe")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)
