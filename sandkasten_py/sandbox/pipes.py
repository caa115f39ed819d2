"""The pipes between the daemon and a job, and reading a job's output up to a limit."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable

JOB_UID = 65534  # the job's uid and gid outside its user namespace (argv.NOBODY)


class Stream:
    """Collects one output pipe up to a limit."""

    def __init__(self, fd: int, limit: int, on_overflow: Callable[[], None] | None) -> None:
        self.fd = fd
        self.limit = limit
        self.on_overflow = on_overflow
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflowed = False
        self.closed = asyncio.get_running_loop().create_future()

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
        if room > 0:
            self.chunks.append(data[:room])
        self.size += len(data)
        if self.size > self.limit and not self.overflowed:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()

    def value(self) -> bytes:
        return b"".join(self.chunks)


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
