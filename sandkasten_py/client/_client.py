"""`SandkastenClient`: one method per endpoint, bodies as msgspec Structs, errors as exceptions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import TypeAlias, TypeVar
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import msgspec
import requests

from sandkasten_py import __version__
from sandkasten_py.client._session import Session
from sandkasten_py.client._errors import (
    ArtifactsError, BuildError, BuildRunError, ErrorResponse, GetBaseResourceUsageError, InvalidResponse, RunError,
    TransportError, error_from_response,
)
from sandkasten_py.schemas import (
    ArtifactInfo, ArtifactList, BaseResourceUsage, BatchRequest, BatchResult, BuildBatchRequest, BuildBatchResult,
    BuildRequest, BuildResult, BuildRunRequest, BuildRunResult, Environment, MainFile, PipelineRequest, PipelineResult,
    PublicConfig, RunRequest, RunResult,
)

__all__ = ["DEFAULT_TIMEOUT", "SandkastenClient", "Timeout", "parse_response"]

T = TypeVar("T")
Timeout: TypeAlias = float | tuple[float, float] | None

# (connect, read) in seconds. The read timeout covers the whole server-side job: waiting for a
# free job slot, then a compile step (30 s maximum by default) and a run step; a benchmark of
# an environment (`get_base_resource_usage`) runs the program 20 times.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 300.0)

_USER_AGENT = f"sandkasten-py-client/{__version__}"


def parse_response(
    status_code: int, content: bytes, ok_type: type[T], family: type[ErrorResponse] | None = None
) -> T:
    """Decode a 2xx body as `ok_type`; otherwise raise the error the body describes."""
    if 200 <= status_code < 300:
        try:
            return msgspec.json.decode(content, type=ok_type)
        except msgspec.DecodeError as exc:
            raise InvalidResponse(f"HTTP {status_code} with an invalid body: {exc}",
                                  status_code=status_code, content=content) from exc
    raise error_from_response(status_code, content, family)


class _Info(msgspec.Struct):
    version: str


class _OpenAPI(msgspec.Struct):
    info: _Info


class SandkastenClient:
    """A blocking Sandkasten client; close it, or use it as a context manager.

    `base_url` is where the API is served, possibly with a path prefix; a trailing slash is
    added when missing. `session` is used instead of a new one and is not closed by this
    client. `timeout` is passed to requests: seconds, `(connect, read)`, or None for none.
    Like a `requests.Session`, one client should not be shared between threads.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        token: str | None = None,
    ) -> None:
        self.base_url = _normalise_base_url(base_url)
        self.timeout = timeout
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = _USER_AGENT
        self._session = session
        self.token = token
        """Sent as `Authorization: Bearer` with every request and session (daemons with `auth`)."""
        if token is not None:
            session.headers["Authorization"] = f"Bearer {token}"
        self._closed = False

    def __enter__(self) -> SandkastenClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session and not self._closed:
            self._session.close()
        self._closed = True

    def url_for(self, *segments: str) -> str:
        """The absolute URL of an API path, each segment percent-encoded (`/` included)."""
        return urljoin(self.base_url, "/".join(_quote_segment(segment) for segment in segments))

    # --- endpoints, in the order of the original client

    def version(self) -> str:
        """The server's version, from `info.version` of its OpenAPI document."""
        return self._request("GET", ("openapi.json",), _OpenAPI).info.version

    def get_config(self) -> PublicConfig:
        """The public configuration: program TTL, job slots and maximum (= default) limits."""
        return self._request("GET", ("config",), PublicConfig)

    def list_environments(self) -> dict[str, Environment]:
        """All environments, keyed by the id to use in requests."""
        return self._request("GET", ("environments",), dict[str, Environment])

    def get_base_resource_usage(self, environment: str) -> BaseResourceUsage:
        """Resources a trivial program uses in `environment` (a benchmark; may take a while)."""
        return self._request("GET", ("environments", environment, "resource_usage"),
                             BaseResourceUsage, family=GetBaseResourceUsageError)

    def build_and_run(self, request: BuildRunRequest) -> BuildRunResult:
        """Build a program and run it once; raises a `BuildRunError` on an endpoint error."""
        return self._request("POST", ("run",), BuildRunResult, body=request, family=BuildRunError)

    def build(self, request: BuildRequest) -> BuildResult:
        """Build (or find cached) a program to run later; raises a `BuildError`."""
        return self._request("POST", ("programs",), BuildResult, body=request, family=BuildError)

    def connect(self, program_id: str | uuid.UUID, request: RunRequest | None = None) -> Session:
        """Run a program built before interactively: send stdin and signals while it runs, get
        its output as it comes (a WebSocket session; see `Session`)."""
        url = self.url_for("programs", str(program_id), "connect")
        scheme, rest = url.split(":", 1)
        connect_timeout = self.timeout[0] if isinstance(self.timeout, tuple) else self.timeout
        return Session(("wss" if scheme == "https" else "ws") + ":" + rest, request or RunRequest(),
                       open_timeout=connect_timeout, token=self.token)

    def run(self, program_id: str | uuid.UUID, request: RunRequest | None = None) -> RunResult:
        """Run a program built before; raises a `RunError` (e.g. `ProgramNotFound`)."""
        return self._request("POST", ("programs", str(program_id), "run"), RunResult,
                             body=request if request is not None else RunRequest(), family=RunError)

    def batch(self, program_id: str | uuid.UUID, request: BatchRequest) -> BatchResult:
        """Run a program built before many times (test cases, repetitions); raises a `RunError`."""
        return self._request("POST", ("programs", str(program_id), "batch"), BatchResult, body=request,
                             family=RunError)

    def pipeline(self, request: PipelineRequest) -> PipelineResult:
        """Run programs built before together, piped into each other; raises a `RunError`."""
        return self._request("POST", ("pipelines",), PipelineResult, body=request, family=RunError)

    def build_and_batch(self, request: BuildBatchRequest) -> BuildBatchResult:
        """Build a program and run a batch of it; raises a `BuildRunError`."""
        return self._request("POST", ("batch",), BuildBatchResult, body=request, family=BuildRunError)

    def run_code(
        self,
        environment: str,
        code: str,
        *,
        stdin: str | None = None,
        args: Sequence[str] = (),
        main_file_name: str | None = None,
        compile_args: Sequence[str] = (),
    ) -> BuildRunResult:
        """Build `code` as the main file in `environment` (with `compile_args`, where the
        environment allows some) and run it with `stdin` and `args`."""
        for name, value in (("args", args), ("compile_args", compile_args)):
            if isinstance(value, str):  # a str is a Sequence[str]; one letter per argument is a bug
                raise TypeError(f"{name} must be a sequence of strings, not a str")
        return self.build_and_run(BuildRunRequest(
            build=BuildRequest(environment=environment,
                               main_file=MainFile(name=main_file_name, content=code),
                               compile_args=list(compile_args) or None),
            run=RunRequest(stdin=stdin, args=list(args)),
        ))

    # --- ours: a program's build output

    def list_artifacts(self, program_id: str | uuid.UUID) -> list[ArtifactInfo]:
        """The files of a program's build output (name, size, sha256, content type); raises an
        `ArtifactsError` (e.g. `ProgramNotFound`)."""
        return self._request("GET", ("programs", str(program_id), "artifacts"), ArtifactList,
                             family=ArtifactsError).artifacts

    def download_artifact(self, program_id: str | uuid.UUID, name: str) -> bytes:
        """One file of a program's build output (`name` as listed; `/` separates directories);
        raises an `ArtifactsError` (`ProgramNotFound`, `ArtifactNotFound`)."""
        if self._closed:
            raise RuntimeError("the client has been closed")
        url = self.url_for("programs", str(program_id), "artifacts", *name.split("/"))
        try:
            response = self._session.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransportError(f"GET {url} failed: {exc}") from exc
        if 200 <= response.status_code < 300:
            return response.content
        raise error_from_response(response.status_code, response.content, ArtifactsError)

    # --- plumbing

    def _request(
        self,
        method: str,
        segments: tuple[str, ...],
        ok_type: type[T],
        *,
        body: msgspec.Struct | None = None,
        family: type[ErrorResponse] | None = None,
    ) -> T:
        if self._closed:
            raise RuntimeError("the client has been closed")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = msgspec.json.encode(body)
        url = self.url_for(*segments)
        try:
            response = self._session.request(method, url, data=data, headers=headers,
                                             timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransportError(f"{method} {url} failed: {exc}") from exc
        return parse_response(response.status_code, response.content, ok_type, family)


def _normalise_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {base_url!r}")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _quote_segment(segment: str) -> str:
    quoted = quote(segment, safe="")
    # urljoin would resolve "." and ".." as dot segments and leave the endpoint
    # (environments/../resource_usage -> resource_usage). Encoded, they survive the join;
    # requests then sends them as literal dots, which the server routes as a name.
    if quoted and quoted.strip(".") == "":
        return quoted.replace(".", "%2E")
    return quoted
