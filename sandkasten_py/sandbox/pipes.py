"""The pipes between the daemon and a job, and reading a job's output up to a limit."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable

JOB_UID = 65534  # the job's uid and gid outside its user namespace (argv.NOBODY)


class Stream:
    """Collects one output pipe up to a limit; or, with a `sink`, hands over what comes within
    the limit as it comes (the sink returns False to hold: nothing is read until `resume`)."""

    def __init__(self, fd: int, limit: int, on_overflow: Callable[[], None] | None,
                 sink: Callable[[bytes], bool] | None = None) -> None:
        self.fd = fd
        self.limit = limit
        self.on_overflow = on_overflow
        self.sink = sink
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflowed = False
        self.held = False
        self.detached = False
        self.closed = asyncio.get_running_loop().create_future()

    def resume(self) -> None:
        """Read again after the sink held (if the pipe is still open and read here)."""
        if self.held and not self.detached and not self.closed.done():
            self.held = False
            asyncio.get_running_loop().add_reader(self.fd, self.on_readable)

    def detach(self) -> None:
        """The job is over and its pipes are about to be closed: never watch `fd` again (the
        number may belong to a socket or another job's pipe a moment later)."""
        self.detached = True

    def on_readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.fd)
            if not self.closed.done():
                self.closed.set_result(None)
            return
        room = self.limit - self.size
        self.size += len(data)
        if room > 0 and self.sink is not None:
            if not self.sink(data[:room]):
                self.held = True
                asyncio.get_running_loop().remove_reader(self.fd)
        elif room > 0:
            self.chunks.append(data[:room])
        if self.size > self.limit and not self.overflowed:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()

    def value(self) -> bytes:
        return b"".join(self.chunks)


class StdinWriter:
    """An interactive job's stdin: what the caller gives is buffered (up to `HIGH` bytes, past
    which the caller waits) and written as the pipe takes it."""

    HIGH = 256 * 1024

    def __init__(self, fd: int, close: Callable[[], None]) -> None:
        self.fd = fd
        self._close_fd = close
        self.buffer = bytearray()
        self.closing = False
        self.closed = False
        self.writing = False
        self.room: asyncio.Future[None] | None = None

    async def write(self, data: bytes) -> None:
        if self.closing or self.closed:
            return
        self.buffer += data
        self._want_writable()
        while len(self.buffer) > self.HIGH and not self.closed:
            self.room = asyncio.get_running_loop().create_future()
            await self.room

    def close(self) -> None:
        """End of stdin once the buffer is written."""
        self.closing = True
        if not self.buffer:
            self.stop()

    def stop(self) -> None:
        """Close now, dropping what is buffered (the job ended, or closed its stdin)."""
        if self.writing:
            self.writing = False
            asyncio.get_running_loop().remove_writer(self.fd)
        if not self.closed:
            self.closed = True
            self._close_fd()
        self._wake()

    def _want_writable(self) -> None:
        if not self.writing and not self.closed and self.buffer:
            self.writing = True
            asyncio.get_running_loop().add_writer(self.fd, self._on_writable)

    def _on_writable(self) -> None:
        try:
            written = os.write(self.fd, self.buffer[:65536])
        except BlockingIOError:
            return
        except OSError:  # the job closed stdin or exited
            self.stop()
            return
        del self.buffer[:written]
        if len(self.buffer) <= self.HIGH:
            self._wake()
        if not self.buffer:
            self.writing = False
            asyncio.get_running_loop().remove_writer(self.fd)
            if self.closing:
                self.stop()

    def _wake(self) -> None:
        if self.room is not None and not self.room.done():
            self.room.set_result(None)


class Pipes:
    """The five pipes between the daemon and a job, closed exactly once."""

    def __init__(self) -> None:
        self.stdin_r, self.stdin_w = os.pipe()
        self.stdout_r, self.stdout_w = os.pipe()
        self.stderr_r, self.stderr_w = os.pipe()
        self.log_r, self.log_w = os.pipe()
        self.gate_r, self.gate_w = os.pipe()
        for fd in (self.stdin_w, self.stdout_r, self.stderr_r, self.log_r):
            os.set_blocking(fd, False)
        # The job's uid must be able to reopen its own stdio (`/dev/stdin`, `cat /dev/stdin`),
        # which checks the pipe's owner like a file's.
        for fd in (self.stdin_r, self.stdout_w, self.stderr_w):
            os.fchown(fd, JOB_UID, JOB_UID)
        self._open = {self.stdin_r, self.stdin_w, self.stdout_r, self.stdout_w, self.stderr_r,
                      self.stderr_w, self.log_r, self.log_w, self.gate_r, self.gate_w}

    def _close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self._open:
                self._open.discard(fd)
                try:
                    os.close(fd)
                except OSError as e:
                    if e.errno != errno.EBADF:
                        raise

    def close_child_ends(self) -> None:
        self._close(self.stdin_r, self.stdout_w, self.stderr_w, self.log_w, self.gate_r)

    def close_gate(self) -> None:
        self._close(self.gate_w)

    def close_stdin(self) -> None:
        self._close(self.stdin_w)

    def parent_ends(self) -> tuple[int, ...]:
        return tuple(fd for fd in (self.stdout_r, self.stderr_r, self.log_r) if fd in self._open)

    def close_all(self) -> None:
        self._close(*list(self._open))
