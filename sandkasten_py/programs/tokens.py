"""Unguessable names for programs: a program id with a keyed tag.

A program id is a content address: whoever has a program's sources can compute it, and a short
random id (emcc-sandboxd's 8 hex digits) can be enumerated. A token is the id followed by an
HMAC-SHA256 of it under the store's secret key (128 bits of each, 64 hex digits): only the daemon
can make one, the same program always gets the same token (so caches and CDNs keep working),
and it names nothing once the program is gone. Checked in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

TAG_BYTES = 16
_TOKEN = re.compile(r"[0-9a-f]{64}")


def _tag(key: bytes, program_id: uuid.UUID) -> bytes:
    return hmac.new(key, b"program-token\0" + program_id.bytes, hashlib.sha256).digest()[:TAG_BYTES]


def seal(key: bytes, program_id: uuid.UUID) -> str:
    """The token of a program."""
    return program_id.hex + _tag(key, program_id).hex()


def unseal(key: bytes, token: str) -> uuid.UUID | None:
    """The program a token names, or None if the daemon did not make it."""
    if not key or not _TOKEN.fullmatch(token):
        return None
    program_id = uuid.UUID(hex=token[:32])
    if not hmac.compare_digest(_tag(key, program_id), bytes.fromhex(token[32:])):
        return None
    return program_id
