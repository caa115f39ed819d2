"""The OpenAPI 3.0 document, generated from the operation table and the msgspec Structs."""

from __future__ import annotations

import re

from typing import Any

import msgspec

from sandkasten_py import __version__
from sandkasten_py.api.errors import ERRORS
from sandkasten_py.api.operations import Operation
from sandkasten_py.programs import CompileError, InvalidCompileArgs, LimitsExceeded, ProgramError
from sandkasten_py.schemas import LimitExceeded, RunResult

REF = "#/components/schemas/{name}"

DESCRIPTION = """\
**Run untrusted code in an isolated environment.**

Run untrusted code in an isolated environment: build a program in one of the environments of
`GET /environments`, then run it with stdin, arguments, files and environment variables, under
limits of time, memory, processes, file size, file descriptors and output. Built programs are
cached and expire `ttl` seconds after their last use.

Compatible with the REST API of Sandkasten 0.2.2. Fields added by sandkasten-py are additive
(`resource_usage.cpu_time`, `exceeded`, and `message` in errors), and so are its operations
(a program's build output: `/programs/{program_id}/artifacts`).

Every response, errors included, is JSON, except a downloaded file. Errors are `{"error": "<name>"}`, with `details` or
`reason` where Sandkasten had them, and usually a `message` for people. Any path may also answer
`not_found` (404: no such path), `method_not_allowed` (405, with an `Allow` header) and, for
operations that take a body, `unsupported_media_type` (415), `unprocessable_content` (413, 422);
`internal_server_error` (500) only for a bug. `GET /` redirects to the interactive documentation.

**Interactive sessions** (not an HTTP operation, so not listed below): a WebSocket at
`/programs/{program_id}/connect`. The client sends `{"type": "start", ...run request...}` first,
then `{"type": "stdin", "data": "..."}`, `{"type": "stdin_eof"}` and `{"type": "signal",
"signal": "SIGINT" | "SIGTERM" | "SIGKILL"}`; the server sends `{"type": "stdout" | "stderr",
"data": "..."}` as the program writes, then `{"type": "exit", "result": RunResult}` and closes
with 1000. Errors close with 4000 + the HTTP status of the error (4404 `program_not_found`, 4400
a bad message or limits, 4503 `busy`), 4408 after `sessions.idle_timeout` idle seconds.

Interactive documentation: [/docs](docs) (Swagger UI) and [/redoc](redoc); this document:
[/openapi.json](openapi.json).
"""

TAGS = [
    {"name": "Configuration", "description": "The server's public configuration."},
    {"name": "Environments", "description": "The languages programs can be built and run in."},
    {"name": "Programs", "description": "Build and run programs."},
]


JSON = "application/json"


def openapi_document(operations: list[Operation], server: str, *, bearer: bool = False) -> dict[str, Any]:
    """The whole OpenAPI document; with `bearer` (tokens are configured) every operation needs
    the bearer scheme, which /docs then offers to send."""
    types: list[Any] = [RunResult, LimitExceeded]
    for operation in operations:
        if operation.request is not None:
            types.append(operation.request)
        if operation.response_media_type == JSON:
            types.append(operation.response)
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    by_type = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", operation.path)  # Starlette's `{name:path}`
        paths.setdefault(path, {})[operation.method.lower()] = _operation(operation, by_type)
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Sandkasten",
            "version": __version__,
            "description": DESCRIPTION,
            "license": {"name": "MIT"},
        },
        "servers": [{"url": server}],
        "tags": TAGS,
        "paths": paths,
        "components": {"schemas": _to_openapi_3_0(components)},
    }
    if bearer:
        document["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A token signed with the daemon's key (`sandkasten token`); see `auth` "
                           "in the configuration."}}
        document["security"] = [{"bearer": []}]
    return document


def _operation(operation: Operation, by_type: dict[Any, Any]) -> dict[str, Any]:
    if operation.response_media_type == JSON:
        success: dict[str, Any] = {"schema": by_type[operation.response]}
    else:
        success = {"schema": {"type": "string", "format": "binary"}}
    if operation.response_example is not None:
        success["example"] = operation.response_example
    responses: dict[str, Any] = {
        str(operation.status): {
            "description": operation.response_description,
            "content": {operation.response_media_type: success},
        },
    }
    if operation.not_modified:
        responses["304"] = {"description": "The client's copy is current (`If-None-Match`)."}
    by_status: dict[int, list[type[ProgramError]]] = {}
    for error in operation.errors:
        by_status.setdefault(ERRORS[error][0], []).append(error)
    for status, errors in sorted(by_status.items()):
        responses[str(status)] = {
            "description": " ".join(f"`{ERRORS[e][1]}`: {ERRORS[e][2]}" for e in errors),
            "content": {"application/json": {
                "schema": _one_of([_error_schema(e) for e in errors]),
                "examples": {ERRORS[e][1]: {"summary": ERRORS[e][2], "value": _error_example(e)}
                             for e in errors},
            }},
        }
    if operation.request is not None:
        responses["413"] = {
            "description": "The request body is larger than `request_limits.body_size` (32 MiB by "
                           "default; no valid request is larger at the default limits).",
            "content": {"application/json": {
                "schema": _error_object("unprocessable_content", reason={"type": "string"}),
                "example": {"error": "unprocessable_content",
                            "reason": "request body larger than 33554432 bytes (configuration key "
                                      "`request_limits.body_size`)"},
            }},
        }
        responses["415"] = {
            "description": "The request's Content-Type is missing or not JSON."
                           + (" (A request without any body runs with the defaults.)"
                              if operation.body_optional else ""),
            "content": {"application/json": {
                "schema": _error_object("unsupported_media_type"),
                "example": {"error": "unsupported_media_type",
                            "message": "the client request does not include the `Content-Type` "
                                       "header (send `Content-Type: application/json`)"},
            }},
        }
    responses["422"] = {
        "description": "The request could not be parsed or validated.",
        "content": {"application/json": {
            "schema": _error_object("unprocessable_content", reason={"type": "string"}),
            "example": {"error": "unprocessable_content",
                        "reason": "parse request payload error: Object missing required field "
                                  "`environment` - at `$`"},
        }},
    }
    responses["500"] = {
        "description": "Internal server error (details are only logged).",
        "content": {"application/json": {"schema": _error_object("internal_server_error"),
                                         "example": {"error": "internal_server_error"}}},
    }
    result: dict[str, Any] = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
        "description": operation.description,
        "responses": responses,
    }
    if operation.path_parameters:
        result["parameters"] = [
            {"name": name, "in": "path", "required": True, "description": description,
             "schema": {"type": "string", "format": "uuid"} if name in operation.uuid_parameters
             else {"type": "string"}}
            for name, description in operation.path_parameters.items()
        ]
    if operation.request is not None:
        content: dict[str, Any] = {"schema": by_type[operation.request]}
        if operation.request_example is not None:
            content["example"] = operation.request_example
        result["requestBody"] = {"required": not operation.body_optional,
                                 "content": {"application/json": content}}
    return result


def _error_schema(error: type[ProgramError]) -> dict[str, Any]:
    name = ERRORS[error][1]
    if issubclass(error, CompileError):
        schema = _error_object(name, details={"$ref": REF.format(name="RunResult")})
        schema["properties"]["message"] = {
            "type": "string",
            "description": "Present when the daemon rejected the build itself, saying why (a "
                           "storage cap, such as the build output's size); also appended to "
                           "`details.stderr`.",
            "example": "the build output has more than 10000 files and directories "
                       "(storage_limits.program_files)",
        }
        return schema
    if issubclass(error, LimitsExceeded):
        return _error_object(name, details={"type": "array",
                                            "items": {"$ref": REF.format(name="LimitExceeded")}})
    if issubclass(error, InvalidCompileArgs):
        return _error_object(name, details={"type": "array", "items": {"type": "string"},
                                            "description": "The refused arguments, as sent."})
    return _error_object(name)


# The `details` of a `compile_error`: the compile step's RunResult.
_COMPILE_ERROR_DETAILS = {
    "status": 1,
    "stdout": "",
    "stderr": "code.c:1:1: error: unknown type name 'nt'\n",
    "resource_usage": {"time": 95, "memory": 21240, "cpu_time": 61},
    "limits": {"cpus": 1, "time": 30, "memory": 1024, "tmpfs": 256, "filesize": 16,
               "file_descriptors": 256, "processes": 256, "stdout_max_size": 65536,
               "stderr_max_size": 65536, "network": False},
    "exceeded": [],
}


def _error_example(error: type[ProgramError]) -> dict[str, Any]:
    name = ERRORS[error][1]
    if issubclass(error, CompileError):
        return {"error": name, "details": _COMPILE_ERROR_DETAILS}
    if issubclass(error, LimitsExceeded):
        return {"error": name, "details": [{"name": "time", "max_value": 5}]}
    if issubclass(error, InvalidCompileArgs):
        return {"error": name, "details": ["-o", "/tmp/x.js"],
                "message": "compile_args refused: `-o /tmp/x.js`: the output is always "
                           "/program/app.js and app.wasm"}
    return {"error": name}


MESSAGE = {"type": "string", "description": "What was wrong, for people (ours; additive)."}


def _error_object(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"error": {"type": "string", "enum": [name]}, **extra, "message": MESSAGE},
        "required": ["error", *extra],
    }


def _one_of(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}


def _to_openapi_3_0(node: Any) -> Any:
    """Turn msgspec's JSON Schema (2020-12) into OpenAPI 3.0 schema objects.

    `anyOf: [X, {type: null}]` becomes `nullable: true`, an `examples` list becomes a single
    `example`, an empty `required` list is dropped (3.0 wants at least one item), and a `$ref`
    with a description (which 3.0 would ignore beside a `$ref`) is wrapped in `allOf`. A tuple
    (`prefixItems`, which 3.0 lacks) becomes an array whose items are any of the tuple's, with
    its length (a pipe's `[1, "stdout"]`).
    """
    if isinstance(node, list):
        return [_to_openapi_3_0(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _to_openapi_3_0(value) for key, value in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        node.pop("anyOf")
        if len(rest) == 1 and "$ref" not in rest[0]:
            node.update(rest[0])
        else:
            node["allOf" if len(rest) == 1 else "anyOf"] = rest
        node["nullable"] = True
    if isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    if node.get("required") == []:
        del node["required"]
    if "prefixItems" in node:
        node["items"] = {"anyOf": node.pop("prefixItems")}
    if "$ref" in node and len(node) > 1:
        node = {"allOf": [{"$ref": node.pop("$ref")}], **node}
    return node
