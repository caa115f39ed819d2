"""bg-compiler's API under `/bg-compiler`, so that its clients work with their base URL there.

    POST /bg-compiler/compile   {"script", "image", "count"?, "cmd"?, "extension"?, "stdin"?}
                                -> [{"stdout", "stderr", "duration_ms", "timed_out"}, ...]

bg-compiler runs `script` `count` times in a fresh container of a Docker `image` with `cmd`. Here
the image's name (without registry, path and tag: `python:3.11.1-alpine3.17` is `python`) picks
an environment from `bg_compiler.images`, and the program is built once and run `count` times as
a batch (programs/batch.py), with the environment's own compiler and runner: `cmd` is accepted
and not used. The `gcc` image compiles C, or C++ when `extension` is `cpp`, `cc` or `cxx`.
`stdin` (ours) is each run's input. A program that does not compile answers `count` results
with the compiler's output on stderr, as `go run` would in bg-compiler. An unknown image, or a
request that is not valid, is 400 `{"error": ..., "message": ...}`; when `max_queued_jobs`
requests wait already, 503 `busy` with Retry-After, as bg-compiler rejects past its backlog.
"""

from __future__ import annotations

import logging

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandkasten_py.api.errors import ErrorBody, UnprocessableContent, json_response, program_error_response
from sandkasten_py.api.leaving import ClientLeft, left_response, unless_the_client_leaves
from sandkasten_py.api.operations import BodyTooLarge, read_body
from sandkasten_py.api.request_limits import check_request
from sandkasten_py.api.state import app_state
from sandkasten_py.config import Config
from sandkasten_py.programs import CompileError, ProgramError
from sandkasten_py.schemas import BatchRequest, BatchRun, BuildBatchRequest, BuildRequest, MainFile, RunResult

log = logging.getLogger(__name__)

PREFIX = "/bg-compiler"
CPP_EXTENSIONS = ("cpp", "cc", "cxx")


class CompileRequest(msgspec.Struct):
    """bg-compiler's request (unknown fields ignored, as Go's decoder does)."""

    script: str = ""
    image: str = ""
    count: int = 1
    cmd: str = ""
    extension: str = ""
    stdin: str | None = None


class Execution(msgspec.Struct):
    """bg-compiler's answer for one run."""

    stdout: str
    stderr: str
    duration_ms: int
    timed_out: bool


def image_name(image: str) -> str:
    """The repository's last name of a Docker image reference: `docker.io/library/python:3.11`
    is `python`."""
    name = image.strip().split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def environment_of(request: CompileRequest, images: dict[str, str]) -> str | None:
    """The environment that runs the request's image (None: no such image in the table)."""
    environment = images.get(image_name(request.image))
    if environment == "c" and request.extension.strip().lstrip(".").lower() in CPP_EXTENSIONS:
        return "cpp"
    return environment


def failed(status: int, error: str, message: str) -> Response:
    return json_response(ErrorBody(error=error, message=message), status)


def execution(result: RunResult) -> Execution:
    return Execution(stdout=result.stdout, stderr=result.stderr, duration_ms=int(result.resource_usage.time),
                     timed_out="time" in result.exceeded)


async def compile_code(request: Request) -> Response:
    state = app_state(request)
    images = state.config.bg_compiler.images
    try:
        body = msgspec.json.decode(await read_body(request, state.config.request_limits.body_size),
                                   type=CompileRequest)
    except BodyTooLarge as e:
        return failed(413, "payload_too_large", f"the request body is larger than {e.limit} bytes "
                                                "(configuration key `request_limits.body_size`)")
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as e:
        return failed(400, "bad_request", f"invalid JSON: {e}")
    environment = environment_of(body, images)
    if environment is None:
        known = ", ".join(sorted(images)) or "none"
        return failed(400, "unknown_image", f"image {body.image!r} ({image_name(body.image) or 'no name'}) is not "
                                            f"one this daemon runs; the images are: {known} "
                                            "(configuration key `bg_compiler.images`)")
    if body.count < 1:
        return failed(400, "bad_request", "count must be at least 1")
    extension = body.extension.strip().lstrip(".")
    main_file = MainFile(name=f"main.{extension}" if extension else None, content=body.script)
    batch = BuildBatchRequest(build=BuildRequest(environment=environment, main_file=main_file),
                              batch=BatchRequest(runs=[BatchRun(stdin=body.stdin)], count=body.count))
    try:
        check_request(batch, state.config.request_limits)
        done = await unless_the_client_leaves(request, state.programs.build_and_batch(batch))
    except ClientLeft:
        return left_response(request)
    except UnprocessableContent as e:
        return failed(400, "bad_request", e.reason)
    except CompileError as e:
        output = "".join(part for part in (e.result.stdout, e.result.stderr) if part) or (e.message or "")
        failure = Execution(stdout="", stderr=output, duration_ms=int(e.result.resource_usage.time),
                            timed_out="time" in e.result.exceeded)
        return json_response([failure] * body.count)
    except ProgramError as e:
        return program_error_response(e)
    except Exception:
        log.exception("POST %s/compile failed", PREFIX)
        return failed(500, "internal_server_error", "an internal error; the daemon's log has the details")
    return json_response([execution(item.run) for item in done.batch.results])


def bg_compiler_routes(config: Config) -> list[BaseRoute]:
    """The routes, or none when `bg_compiler.images` is empty (the API is off)."""
    if not config.bg_compiler.images:
        return []
    return [Route(f"{PREFIX}/compile", compile_code, methods=["POST"])]
