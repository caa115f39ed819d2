"""What a token allows (api/auth.py): maxima below the configured ones, for the request being
served. The API sets `CURRENT` for the request's task; the service reads it when it resolves
limits, so the layers between need not carry it."""

from __future__ import annotations

from contextvars import ContextVar

import msgspec

from sandkasten_py.schemas import LIMIT_NAMES, Limits, LimitsOpt


class Quota(msgspec.Struct, frozen=True, kw_only=True):
    """Maxima of a token's requests: each set limit lowers the configured maximum."""

    compile_limits: LimitsOpt | None = None
    run_limits: LimitsOpt | None = None


CURRENT: ContextVar[Quota | None] = ContextVar("sandkasten_quota", default=None)


def lowered(maxima: Limits, lower: LimitsOpt | None) -> Limits:
    """`maxima` with each limit `lower` sets taken down to it (never raised)."""
    if lower is None:
        return maxima
    values: dict[str, int | bool] = {}
    for name in LIMIT_NAMES:
        configured, wanted = getattr(maxima, name), getattr(lower, name)
        values[name] = configured if wanted is None else min(configured, wanted)
    return Limits(**values)  # type: ignore[arg-type]


def run_maxima(configured: Limits) -> Limits:
    quota = CURRENT.get()
    return lowered(configured, quota.run_limits if quota is not None else None)


def compile_maxima(configured: Limits) -> Limits:
    quota = CURRENT.get()
    return lowered(configured, quota.compile_limits if quota is not None else None)
