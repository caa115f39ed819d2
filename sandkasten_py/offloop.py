"""Work off the event loop.

`sized`: work whose cost grows with its input runs in a thread once the input is large. A thread
hop costs about 0.4 ms, so small inputs (the usual request) are handled right on the event loop;
past `LARGE_BYTES` (hashing, decoding or encoding a few MiB takes 5-50 ms) the work moves to a
thread, so that one big request does not hold up every other.

`to_the_end`: work in a thread that a cancelled request (its client went away) must still wait
for, because what the work leaves is cleaned up or used right after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

LARGE_BYTES = 256 * 1024

P = ParamSpec("P")
T = TypeVar("T")


async def to_the_end(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`asyncio.to_thread(function, ...)`, but a cancelled caller waits for the thread to finish
    before it is cancelled: the clean-up that runs next (removing a job directory, releasing a
    program's lock) must not race with the work (mounting its tmpfs, storing the program)."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


async def sized(size: int, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)`: in a thread when `size` (bytes of input) is large."""
    if size > LARGE_BYTES:
        return await asyncio.to_thread(function, *args, **kwargs)
    return function(*args, **kwargs)
