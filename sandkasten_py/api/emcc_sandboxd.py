"""emcc-sandboxd's API under `/emcc-sandboxd`, so that its clients work with their base URL there.

    GET  /emcc-sandboxd/healthz                    200 "ok"
    POST /emcc-sandboxd/compile                    {"code", "type": "c"|"cpp", "args"?}
                                                   -> {"ok", "id", "js", "wasm", "error"?}
    GET  /emcc-sandboxd/artifacts/{id}/{name}      app.js, app.wasm (and any other build file)

A compile is a build of the `emcc_sandboxd.environment` (emcc) with `default_args` and then the
request's `args` as `compile_args`: the same cache, allowlist, limits and sandbox as
`POST /programs`. Where emcc-sandboxd drops arguments it does not allow, they are refused here,
with the reason in `error`. Its ids are 8 random hex digits, which can be enumerated; here an id
is the program's token (tokens.py): unguessable, the same for the same build, and valid as long
as the program is kept. Errors keep its shape: `ok: false` and `error`, with its status codes
(400 for a bad request or a failed compile; 404 for an unknown artifact), and 503 with
Retry-After when the memory budget had no room in time.
"""

from __future__ import annotations

import logging
import uuid

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from sandkasten_py.api.artifacts import artifact_response
from sandkasten_py.api.errors import UnprocessableContent, json_response
from sandkasten_py.api.leaving import ClientLeft, left_response, unless_the_client_leaves
from sandkasten_py.api.operations import BodyTooLarge, read_body
from sandkasten_py.api.request_limits import check_request
from sandkasten_py.api.state import app_state
from sandkasten_py.programs import Busy, CompileError, ProgramError, ProgramNotFound
from sandkasten_py.config import Config
from sandkasten_py.schemas import BuildRequest, MainFile

log = logging.getLogger(__name__)

PREFIX = "/emcc-sandboxd"

# emcc-sandboxd's accepted spellings of `type`; an empty or missing type is C.
MAIN_FILES = {"": "main.c", "c": "main.c", "cpp": "main.cpp", "cc": "main.cpp", "c++": "main.cpp"}


class CompileRequest(msgspec.Struct):
    """emcc-sandboxd's request (unknown fields ignored, as Go's decoder does)."""

    code: str = ""
    type: str = ""
    args: list[str] | None = None


class CompileResponse(msgspec.Struct, omit_defaults=True):
    """emcc-sandboxd's answer; `error` only when something failed."""

    ok: bool
    id: str = ""
    js: str = ""
    wasm: str = ""
    error: str | msgspec.UnsetType = msgspec.UNSET


def failed(error: str, status: int = 400) -> Response:
    return json_response(CompileResponse(ok=False, error=error), status)


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


async def compile_code(request: Request) -> Response:
    state = app_state(request)
    settings = state.config.emcc_sandboxd
    try:
        body = msgspec.json.decode(await read_body(request, state.config.request_limits.body_size),
                                   type=CompileRequest)
    except BodyTooLarge as e:
        return failed(f"the request body is larger than {e.limit} bytes "
                      "(configuration key `request_limits.body_size`)", 413)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as e:
        return failed(f"invalid JSON: {e}")
    if not body.code.strip():
        return failed("code is required")
    main_file = MAIN_FILES.get(body.type.strip().lower())
    if main_file is None:
        return failed("type must be 'c' or 'cpp'")
    build = BuildRequest(
        environment=settings.environment,
        main_file=MainFile(name=main_file, content=body.code),
        compile_args=[*settings.default_args, *(arg.strip() for arg in body.args or () if arg.strip())],
    )
    try:
        check_request(build, state.config.request_limits)
        built = await unless_the_client_leaves(request, state.programs.build(build))
    except ClientLeft:
        return left_response(request)
    except UnprocessableContent as e:
        return failed(e.reason)
    except CompileError as e:
        output = "".join(part for part in (e.result.stdout, e.result.stderr) if part)
        return failed(output or (e.message or "the compile failed"))
    except Busy as e:
        response = failed(e.message or "busy", 503)
        response.headers["Retry-After"] = str(e.retry_after)
        return response
    except ProgramError as e:
        return failed(e.message or type(e).__name__)
    except Exception:
        log.exception("POST %s/compile failed", PREFIX)
        return failed("an internal error; the daemon's log has the details", 500)
    token = state.programs.token(uuid.UUID(built.program_id))
    base = f"{state.config.server.rstrip('/')}{PREFIX}/artifacts/{token}"
    return json_response(CompileResponse(ok=True, id=token, js=f"{base}/app.js", wasm=f"{base}/app.wasm"))


async def artifact(request: Request) -> Response:
    state = app_state(request)
    try:
        program_id = state.programs.program_of(request.path_params["id"])
        return await artifact_response(request, program_id, request.path_params["name"])
    except ProgramNotFound:
        return PlainTextResponse("404 page not found\n", status_code=404)
    except ProgramError as e:  # no such file in a program that exists
        return PlainTextResponse(f"404 page not found: {e.message}\n", status_code=404)


def emcc_sandboxd_routes(config: Config) -> list[BaseRoute]:
    """The routes, or none when `emcc_sandboxd.environment` is empty (the API is off)."""
    if not config.emcc_sandboxd.environment:
        return []
    return [
        Route(f"{PREFIX}/healthz", healthz, methods=["GET"]),
        Route(f"{PREFIX}/compile", compile_code, methods=["POST"]),
        Route(f"{PREFIX}/artifacts/{{id}}/{{name:path}}", artifact, methods=["GET"]),
    ]
