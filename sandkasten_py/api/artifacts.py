"""Tag Programs, downloads: GET /programs/{program_id}/artifacts and .../artifacts/{name}.

A program's files never change while it exists (its id is a hash of everything it was built
from), so a file's ETag is its sha256 and caches may keep it for as long as a program lives
unused (`program_ttl`). Pages of any origin may load them (`Access-Control-Allow-Origin: *`):
browsers fetch a `.wasm` with CORS.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from sandkasten_py.api.operations import Operation, path_uuid
from sandkasten_py.api.state import app_state
from sandkasten_py.programs import ArtifactNotFound, ProgramNotFound
from sandkasten_py.programs.artifacts import CHUNK
from sandkasten_py.schemas import ArtifactInfo, ArtifactList


async def list_artifacts(request: Request, _: Any) -> ArtifactList:
    """The files of a program's build output."""
    state = app_state(request)
    listed = await state.programs.artifacts(path_uuid(request, "program_id"))
    return ArtifactList(artifacts=[ArtifactInfo(name=a.name, size=a.size, sha256=a.sha256,
                                                content_type=a.content_type) for a in listed])


async def download_artifact(request: Request, _: Any) -> Response:
    """One file, streamed; 304 when the client has it already."""
    return await artifact_response(request, path_uuid(request, "program_id"), request.path_params["name"])


async def artifact_response(request: Request, program_id: uuid.UUID, name: str) -> Response:
    """A program's file as a response: streamed, with its ETag and caching, or 304."""
    state = app_state(request)
    artifact, fd = await state.programs.open_artifact(program_id, name)
    etag = f'"{artifact.sha256}"'
    # Any page may load them (a wasm module is fetched with CORS): they are public build output,
    # served without credentials.
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={state.config.program_ttl}",
               "Access-Control-Allow-Origin": "*"}
    if _matches(request.headers.get("if-none-match"), etag):
        os.close(fd)
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(artifact.size)
    return StreamingResponse(_chunks(fd), media_type=artifact.content_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison: `*`, or any listed tag with or without `W/`."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def _chunks(fd: int) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(os.read, fd, CHUNK):
            yield chunk
    finally:
        os.close(fd)


OPERATIONS = [
    Operation(
        method="GET", path="/programs/{program_id}/artifacts", operation_id="list_artifacts",
        tag="Programs",
        summary="List the files of a program's build output.",
        description="The files the compile step left in `/program` (for environments without "
                    "one, the sources), with size, sha256 and the Content-Type they are served "
                    "with. Listing counts as a use of the program (it postpones its expiry).",
        handler=list_artifacts, response=ArtifactList,
        response_description="The program's files, by name.",
        errors=(ProgramNotFound,),
        path_parameters={"program_id": "The program's id."},
        uuid_parameters=("program_id",),
        response_example={"artifacts": [
            {"name": "app.js", "size": 79570, "content_type": "text/javascript; charset=utf-8",
             "sha256": "5f0c8e7fd4bd1a6b7c9d2e8f1a0b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"},
            {"name": "app.wasm", "size": 12651, "content_type": "application/wasm",
             "sha256": "0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff0"},
        ]},
    ),
    Operation(
        method="GET", path="/programs/{program_id}/artifacts/{name:path}", operation_id="download_artifact",
        tag="Programs",
        summary="Download one file of a program's build output.",
        description="Served with its Content-Type (`application/wasm`, `text/javascript`, ...), "
                    "a strong ETag (its sha256), `Cache-Control: public, max-age=<program_ttl>` and "
                    "`Access-Control-Allow-Origin: *` (pages anywhere may load it); "
                    "`If-None-Match` with that ETag answers 304. A download counts as a use of "
                    "the program. `name` may contain `/` for files in subdirectories.",
        handler=download_artifact, response=bytes, response_media_type="application/octet-stream",
        response_description="The file's bytes.",
        errors=(ProgramNotFound, ArtifactNotFound),
        path_parameters={"program_id": "The program's id.",
                         "name": "The file's name, as listed (e.g. `app.wasm`)."},
        uuid_parameters=("program_id",),
        not_modified=True,
    ),
]
