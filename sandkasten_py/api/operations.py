"""API operations as data: one `Operation` per endpoint drives its route, its error mapping and
its entry in the OpenAPI document, so the three cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sandkasten_py.api.errors import (
    ErrorBody, UnprocessableContent, internal_error_response, json_response, program_error_response,
    unprocessable_response,
)
from sandkasten_py.programs import ProgramError

log = logging.getLogger(__name__)

Handler = Callable[[Request, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One endpoint of the API."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str
    handler: Handler
    response: Any
    response_description: str
    status: int = 200
    request: type | None = None
    errors: tuple[type[ProgramError], ...] = ()
    path_parameters: dict[str, str] = field(default_factory=dict)  # name -> description
    uuid_parameters: tuple[str, ...] = ()
    """Path parameters that must be UUIDs; checked before the body, as in Sandkasten."""
    shielded: bool = False
    """Run to the end even if the client goes away (builds and runs are never cut half-way)."""
    request_example: Any = None
    response_example: Any = None
    """An example of the success response, shown in the OpenAPI document."""


def route(operation: Operation) -> Route:
    """The Starlette route of an operation."""
    decoder: msgspec.json.Decoder[Any] | None = (
        msgspec.json.Decoder(operation.request) if operation.request is not None else None
    )

    async def endpoint(request: Request) -> Response:
        try:
            for name in operation.uuid_parameters:
                path_uuid(request, name)
            body = await _decode(request, operation, decoder) if decoder is not None else None
            work = operation.handler(request, body)
            result = await (asyncio.shield(work) if operation.shielded else work)
        except UnprocessableContent as e:
            return unprocessable_response(e)
        except BodyTooLarge:
            # 413, in the envelope Sandkasten clients already parse (the original had no limit).
            reason = f"request body larger than {MAX_BODY_BYTES} bytes"
            return json_response(ErrorBody(error="unprocessable_content", reason=reason), 413)
        except _ContentTypeError as e:
            return PlainTextResponse(str(e), status_code=415)
        except ProgramError as e:
            if type(e) in operation.errors:
                return program_error_response(e)
            log.error("%s %s: unexpected %r", operation.method, operation.path, e)
            return internal_error_response()
        except Exception:
            log.exception("%s %s failed", operation.method, operation.path)
            return internal_error_response()
        if isinstance(result, Response):
            return result
        return json_response(result, operation.status)

    return Route(operation.path, endpoint, methods=[operation.method], name=operation.operation_id)


class _ContentTypeError(Exception):
    pass


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def _decode(request: Request, operation: Operation, decoder: msgspec.json.Decoder[Any]) -> Any:
    content_type = request.headers.get("content-type")
    if content_type is None:
        raise _ContentTypeError("the client request does not include the `Content-Type` header")
    if not _is_json(content_type):
        raise _ContentTypeError(f"the `Content-Type` requested by the client is not supported: {content_type}")
    body = await _read_body(request)
    assert operation.request is not None
    if not body.strip():
        raise UnprocessableContent(f'Expected input type "{operation.request.__name__}", found null.')
    try:
        return decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise UnprocessableContent(f"parse request payload error: {e}") from None
    except UnicodeDecodeError as e:
        raise UnprocessableContent(f"parse request payload error: a string is not valid UTF-8 ({e.reason})") from None
    except RecursionError:  # msgspec stops at Python's recursion limit (about 1,000 levels)
        raise UnprocessableContent("parse request payload error: JSON nested too deeply") from None


# The largest valid request (every string at its maximum, every character JSON-escaped) is about
# 22 MB; anything larger is refused before it is buffered, so big bodies cannot exhaust memory.
MAX_BODY_BYTES = 32 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body is larger than `MAX_BODY_BYTES`."""


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def path_uuid(request: Request, name: str) -> uuid.UUID:
    """A path parameter that must be a UUID (422 otherwise)."""
    value = request.path_params[name]
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UnprocessableContent(
            f"failed to parse parameter `{name}`: invalid UUID {value!r}"
        ) from None
