"""`sandkasten run -i`: a session relayed to this terminal. What is typed goes to the program as it
is typed (a line at a time from a terminal), end of input (Ctrl-D) closes its stdin, Ctrl-C
sends it SIGINT, and its output is written here as it comes."""

from __future__ import annotations

import codecs
import os
import threading
from typing import BinaryIO

from sandkasten_py.client import Exit, Session, SessionClosed, Stdout
from sandkasten_py.schemas import RunResult


def relay(session: Session, stdin_fd: int | None, stdout: BinaryIO, stderr: BinaryIO) -> RunResult:
    """Feed `stdin_fd` (None: nothing; end of file right away) to the session in a thread, write
    its output, and return its result. Ctrl-C (KeyboardInterrupt here) becomes SIGINT there."""
    feeder = threading.Thread(target=_feed, args=(session, stdin_fd), daemon=True)
    feeder.start()
    while True:
        try:
            for event in session:
                if isinstance(event, Exit):
                    return event.result
                stream = stdout if isinstance(event, Stdout) else stderr
                stream.write(event.data.encode("utf-8", errors="replace"))
                stream.flush()
            raise SessionClosed(None, "the session ended without a result")
        except KeyboardInterrupt:
            session.signal("SIGINT")


def _feed(session: Session, stdin_fd: int | None) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        while stdin_fd is not None:
            data = os.read(stdin_fd, 65536)
            text = decoder.decode(data, final=not data)
            if text:
                session.send_stdin(text)
            if not data:
                break
        session.close_stdin()
    except (OSError, SessionClosed):
        pass  # the session is over: nothing more to send
