"""Requests whose client goes away: the work of a request that runs jobs is cancelled when its
client closes the connection, so that the request stops waiting for a job slot and its running
jobs are killed (hypercorn tells the application with an `http.disconnect` message; it does not
cancel anything itself)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)

T = TypeVar("T")


class ClientLeft(Exception):
    """The client closed the connection before the answer; its work was cancelled."""


async def unless_the_client_leaves(request: Request, awaitable: Awaitable[T]) -> T:
    """The result of `awaitable`, which goes on if this request's task is cancelled (as under
    `asyncio.shield`: a build or run is not cut half-way by a server shutting down); but when
    the client closes the connection first, the work is cancelled and waited for (its jobs
    killed, its slot freed, its directories removed) and `ClientLeft` raised. The request's
    body must have been read."""
    work = asyncio.ensure_future(awaitable)

    async def client_left() -> None:
        # The body is read by now: what comes next is the disconnect, when the client leaves.
        while (await request.receive())["type"] != "http.disconnect":
            pass

    leaving = asyncio.ensure_future(client_left())
    # The client left: cancel the work (a no-op once it is done; not when `leaving` is only
    # cancelled below, after the work or at a shutdown).
    leaving.add_done_callback(lambda task: None if task.cancelled() else work.cancel())
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        if not leaving.done() or leaving.cancelled():
            raise  # this request's own task was cancelled (a shutdown): the work goes on
        await asyncio.wait([work])
        if not work.cancelled() and work.exception() is None:
            return work.result()  # it finished as it was being cancelled
        raise ClientLeft from None
    finally:
        leaving.cancel()


def left_response(request: Request) -> Response:
    """What a request whose client left answers (never sent: nobody is there to read it)."""
    log.info("%s %s: the client went away; its work was stopped", request.method, request.url.path)
    return Response(status_code=499)
