"""API operations as data: one `Operation` per endpoint drives its route, its error mapping and
its entry in the OpenAPI document, so the three cannot drift apart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandkasten_py.api.errors import (
    ErrorBody, UnprocessableContent, general_error_response, internal_error_response, json_response,
    program_error_response, unprocessable_response,
)
from sandkasten_py.api.leaving import ClientLeft, left_response, unless_the_client_leaves
from sandkasten_py.api.request_limits import check_request
from sandkasten_py.api.state import app_state
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
    """For operations that run jobs: run to the end whatever happens to the request's task (a
    server shutting down), except that when the client goes away the work is cancelled: the
    request stops waiting for its slot, and its running jobs are stopped."""
    request_example: Any = None
    response_example: Any = None
    """An example of the success response, shown in the OpenAPI document."""
    body_optional: bool = False
    """A request without any body (no Content-Type, nothing sent) means `{}`: all defaults."""
    response_media_type: str = "application/json"
    """Anything but JSON is documented as bytes."""
    not_modified: bool = False
    """The operation answers 304 to a matching `If-None-Match` (documented)."""


def route(operation: Operation) -> Route:
    """The Starlette route of an operation."""
    decoder: msgspec.json.Decoder[Any] | None = (
        msgspec.json.Decoder(operation.request) if operation.request is not None else None
    )

    async def endpoint(request: Request) -> Response:
        try:
            for name in operation.uuid_parameters:
                path_uuid(request, name)
            limits = app_state(request).config.request_limits
            body = None
            if decoder is not None:
                body = await _decode(request, operation, decoder, limits.body_size)
                check_request(body, limits)
            work = operation.handler(request, body)
            if operation.shielded:
                result = await unless_the_client_leaves(request, work)
            else:
                result = await work
        except UnprocessableContent as e:
            return unprocessable_response(e)
        except BodyTooLarge as e:
            # 413, in the envelope Sandkasten clients already parse (the original had no limit).
            reason = (f"request body larger than {e.limit} bytes "
                      "(configuration key `request_limits.body_size`)")
            return json_response(ErrorBody(error="unprocessable_content", reason=reason), 413)
        except _ContentTypeError as e:
            return general_error_response(415, str(e))
        except ClientLeft:
            return left_response(request)
        except ProgramError as e:
            if isinstance(e, operation.errors):
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


async def _decode(request: Request, operation: Operation, decoder: msgspec.json.Decoder[Any],
                  body_size: int) -> Any:
    content_type = request.headers.get("content-type")
    if content_type is None and operation.body_optional:
        body = await read_body(request, body_size)
        if not body:
            return decoder.decode(b"{}")
        raise _ContentTypeError("the request has a body but no `Content-Type` header; send "
                                "`Content-Type: application/json`")
    if content_type is None:
        raise _ContentTypeError("the client request does not include the `Content-Type` header "
                                "(send `Content-Type: application/json`)")
    if not _is_json(content_type):
        raise _ContentTypeError(f"the `Content-Type` requested by the client is not supported: "
                                f"{content_type} (send `Content-Type: application/json`)")
    body = await read_body(request, body_size)
    assert operation.request is not None
    if not body.strip():
        raise UnprocessableContent(f'Expected input type "{operation.request.__name__}", found null.')
    try:
        return decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise UnprocessableContent(f"parse request payload error: {e}") from None
    except UnicodeDecodeError as e:
        raise UnprocessableContent(
            f"parse request payload error: a string is not valid UTF-8 ({e.reason})") from None
    except RecursionError:  # msgspec stops at Python's recursion limit (about 1,000 levels)
        raise UnprocessableContent("parse request payload error: JSON nested too deeply") from None


class BodyTooLarge(Exception):
    """The request body is larger than `request_limits.body_size` (`limit`)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    # Refused before it is buffered, so that big bodies cannot exhaust memory.
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
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
