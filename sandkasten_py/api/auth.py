"""Tokens: `Authorization: Bearer <jwt>` on every request but the documentation, when configured.

A token is a JWT signed with HS256 (`auth.secret_file`) or EdDSA/Ed25519 (`auth.public_key_file`);
the algorithm is the configuration's, never the token's (no `none`, no HS/public-key
confusion). It must carry `sub` (who: a label in /metrics) and `exp`. Optional claims:

    "limits": {"compile": {limits}, "run": {limits}}   maxima below the configured ones
    "rate": {"per_minute": n, "burst": b}            requests per minute, b at once (a bucket)
    "concurrency": n                                 requests in progress at once

Missing or invalid token: 401 `unauthorized` (WebSocket: closed with 4401 before it opens).
Over the rate or the concurrency cap: 429 `too_many_requests` with `Retry-After` and
`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`. The token's limits reach the
service through programs/quota.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandkasten_py.api.errors import ErrorBody, json_response
from sandkasten_py.config import Auth
from sandkasten_py.programs.quota import CURRENT, Quota
from sandkasten_py.schemas import LimitsOpt

PUBLIC_PATHS = ("/openapi.json", "/docs", "/redoc", "/")
"""Paths anyone may read (the documentation and what it loads); prefixes end in `/`."""
PUBLIC_PREFIXES = ("/docs/", "/redoc/", "/static/")
HS256_MIN_SECRET = 32


class TokenLimits(msgspec.Struct, forbid_unknown_fields=True):
    compile: LimitsOpt | None = None
    run: LimitsOpt | None = None


class Rate(msgspec.Struct, forbid_unknown_fields=True):
    per_minute: int
    burst: int = 1


class Claims(msgspec.Struct):
    """The claims of a valid token that the daemon uses (others are ignored)."""

    sub: str
    exp: int
    limits: TokenLimits | None = None
    rate: Rate | None = None
    concurrency: int | None = None


class AuthError(Exception):
    """The token is missing or not valid; the message says why (for people)."""


class Verifier:
    """Checks tokens with the configured key and algorithm."""

    def __init__(self, settings: Auth) -> None:
        if settings.secret_file:
            self.key: bytes | Ed25519PublicKey = Path(settings.secret_file).read_bytes().strip()
            if len(self.key) < HS256_MIN_SECRET:
                raise ValueError(f"`auth.secret_file` holds {len(self.key)} bytes; an HS256 secret "
                                 f"needs at least {HS256_MIN_SECRET}")
            self.algorithm = "HS256"
        else:
            key = serialization.load_pem_public_key(Path(settings.public_key_file).read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("`auth.public_key_file` must hold an Ed25519 public key (PEM)")
            self.key = key
            self.algorithm = "EdDSA"

    def claims(self, token: str) -> Claims:
        try:
            payload = jwt.decode(token, self.key, algorithms=[self.algorithm],
                                 options={"require": ["exp", "sub"]})
            return msgspec.convert(payload, Claims)
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidTokenError as e:
            raise AuthError(f"the token is not valid: {e}") from None
        except msgspec.ValidationError as e:
            raise AuthError(f"the token's claims are not valid: {e}") from None


@dataclass
class Bucket:
    """A token bucket: `burst` requests at once, refilled at `per_minute`."""

    per_minute: int
    burst: int
    tokens: float = 0.0
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> float:
        """0 if a request may go now (and takes its place), else the seconds until it may."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_minute / 60)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) * 60 / self.per_minute

    def headers(self, wait: float) -> dict[str, str]:
        reset = math.ceil(wait if wait else (self.burst - self.tokens) * 60 / self.per_minute)
        return {"RateLimit-Limit": str(self.burst), "RateLimit-Remaining": str(int(self.tokens)),
                "RateLimit-Reset": str(reset)}


class AuthMiddleware:
    """Checks every HTTP request and WebSocket but the public paths (see the module docstring)."""

    def __init__(self, app: ASGIApp, verifier: Verifier | None,
                 on_subject: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.verifier = verifier
        self.on_subject = on_subject
        self.buckets: dict[tuple[str, int, int], Bucket] = {}
        self.in_progress: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.verifier is None or scope["type"] not in ("http", "websocket") or _public(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            claims = self.verifier.claims(_bearer(scope))
        except AuthError as e:
            await self._refuse(scope, send, 401, "unauthorized", str(e), {"WWW-Authenticate": "Bearer"})
            return
        if self.on_subject is not None:
            self.on_subject(claims.sub)
        headers: dict[str, str] = {}
        if claims.rate is not None:
            key = (claims.sub, claims.rate.per_minute, claims.rate.burst)
            bucket = self.buckets.setdefault(key, Bucket(max(1, claims.rate.per_minute), max(1, claims.rate.burst)))
            wait = bucket.take()
            headers = bucket.headers(wait)
            if wait:
                headers["Retry-After"] = str(math.ceil(wait))
                await self._refuse(scope, send, 429, "too_many_requests",
                                   f"over the token's rate of {claims.rate.per_minute} requests per minute", headers)
                return
        running = self.in_progress.get(claims.sub, 0)
        if claims.concurrency is not None and running >= claims.concurrency:
            await self._refuse(scope, send, 429, "too_many_requests",
                               f"the token's {claims.concurrency} requests are in progress already",
                               {**headers, "Retry-After": "1"})
            return
        self.in_progress[claims.sub] = running + 1
        limits = claims.limits or TokenLimits()
        reset = CURRENT.set(Quota(compile_limits=limits.compile, run_limits=limits.run))
        try:
            await self.app(scope, receive, _with_headers(send, headers))
        finally:
            CURRENT.reset(reset)
            self.in_progress[claims.sub] -= 1
            if not self.in_progress[claims.sub]:
                del self.in_progress[claims.sub]

    async def _refuse(self, scope: Scope, send: Send, status: int, error: str, message: str,
                      headers: dict[str, str]) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4000 + status, "reason": message[:123]})
            return
        response = json_response(ErrorBody(error=error, message=message), status)
        response.headers.update(headers)
        await response(scope, _no_receive, send)


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = bytes(value).decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise AuthError("the Authorization header is not `Bearer <token>`")
    raise AuthError("this daemon needs a token: send `Authorization: Bearer <token>`")


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    if not headers:
        return send
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return sending


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def issue(settings: Auth, subject: str, seconds: int, extra: dict[str, object] | None = None,
          private_key: bytes | None = None) -> str:
    """A token for `subject`, valid `seconds`, signed with the secret (or an Ed25519 private key)."""
    claims: dict[str, object] = {"sub": subject, "exp": int(time.time()) + seconds, "iat": int(time.time()),
                                 **(extra or {})}
    if private_key is not None:
        token: str = jwt.encode(claims, private_key, algorithm="EdDSA")
        return token
    if not settings.secret_file:
        raise ValueError("no `auth.secret_file` to sign with (give --private-key for EdDSA)")
    token = jwt.encode(claims, Path(settings.secret_file).read_bytes().strip(), algorithm="HS256")
    return token
