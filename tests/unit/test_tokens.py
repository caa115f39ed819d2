"""Program tokens: unguessable, stable names for programs (sandkasten_py.programs.tokens)."""

from __future__ import annotations

import uuid

import pytest

from sandkasten_py.programs.tokens import seal, unseal

KEY = bytes(range(32))
PROGRAM = uuid.UUID("0123456789abcdef0123456789abcdef")


def test_a_token_names_its_program_and_is_stable() -> None:
    token = seal(KEY, PROGRAM)
    assert len(token) == 64 and token.startswith(PROGRAM.hex)
    assert seal(KEY, PROGRAM) == token
    assert unseal(KEY, token) == PROGRAM


@pytest.mark.parametrize("token", [
    PROGRAM.hex,                                    # the content address alone
    PROGRAM.hex + "0" * 32,                         # a made-up tag
    seal(bytes(32), PROGRAM),                       # another daemon's key
    seal(KEY, PROGRAM)[:-1] + "0",                  # one digit changed
    seal(KEY, PROGRAM).upper(),                     # not the daemon's spelling
    seal(KEY, PROGRAM) + "0", "", "../../etc/passwd", "x" * 64,
])
def test_only_the_daemons_own_tokens_name_a_program(token: str) -> None:
    changed_digit = seal(KEY, PROGRAM)[:-1] + ("1" if seal(KEY, PROGRAM)[-1] == "0" else "0")
    assert unseal(KEY, changed_digit) is None
    assert unseal(KEY, token) is None or token == seal(KEY, PROGRAM)


def test_another_program_gets_another_tag() -> None:
    other = uuid.UUID(int=PROGRAM.int + 1)
    assert seal(KEY, other)[32:] != seal(KEY, PROGRAM)[32:]


def test_no_key_no_program() -> None:
    assert unseal(b"", seal(b"", PROGRAM)) is None
