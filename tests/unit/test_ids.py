"""Unit tests of program ids (sandkasten_py.programs.ids).

A program id is the cache key of a build (§4.1): equal requests must share it, and anything
that can change the build's result must change it, or a client gets somebody else's program.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import msgspec
import pytest

from sandkasten_py import environments
from sandkasten_py.environments import Environment, Manifest
from sandkasten_py.programs.ids import _varint, program_id
from sandkasten_py.schemas import BuildRequest, EnvVar, File, LimitsOpt, MainFile


def environment(**changes: Any) -> Environment:
    """A fixed environment; `changes` replace manifest fields, or `identity`."""
    identity = changes.pop("identity", "identity-digest")
    manifest = Manifest(
        sandkasten_version="0.1.0",
        name="Python",
        version="3.11.2",
        default_main_file_name="code.py",
        run_script="/nix/store/aaa-run",
        closure="/nix/store/bbb-closure",
        compile_script=None,
        test=environments.TestProgram(main_file=MainFile(content="print(1)")),
    )
    return Environment(id="python", manifest=msgspec.structs.replace(manifest, **changes),
                       closure_paths=(), identity=identity)


def request(**changes: Any) -> BuildRequest:
    """A fixed build request with some fields replaced."""
    fields: dict[str, Any] = {
        "environment": "python",
        "main_file": MainFile(name=None, content="print(input())"),
        "files": [File(name="a.txt", content="A"), File(name="b.txt", content="B")],
        "env_vars": [EnvVar(name="X", value="1"), EnvVar(name="Y", value="2")],
        "compile_limits": None,
    }
    fields.update(changes)
    return BuildRequest(**fields)


BASE_ID = program_id(environment(), request())


def test_id_is_deterministic() -> None:
    """Equal inputs built separately give the same id (the id is the cache key)."""
    assert program_id(environment(), request()) == BASE_ID


def test_id_is_a_uuid_made_of_16_digest_bytes() -> None:
    """The id is a UUID (rendered in the canonical 36-character form by the API)."""
    assert isinstance(BASE_ID, uuid.UUID)
    assert str(uuid.UUID(str(BASE_ID))) == str(BASE_ID)
    assert len(BASE_ID.bytes) == 16


def test_id_golden_vector() -> None:
    """The postcard-style encoding and SHA-256 truncation, on a hand-encoded example (§4.1).

    name, version, compile_script (None), run_script, closure, sandkasten_version, identity,
    main file name (None), content, files (empty), env vars (empty).
    """
    env = environment(name="n", version="1", run_script="/r", closure="/c",
                      sandkasten_version="0.1.0", identity="id")
    req = BuildRequest(environment="n", main_file=MainFile(content="x"))
    encoded = (b"\x01n" + b"\x011" + b"\x00" + b"\x02/r" + b"\x02/c" + b"\x050.1.0" + b"\x02id"
               + b"\x00" + b"\x01x" + b"\x00" + b"\x00")
    assert program_id(env, req) == uuid.UUID(bytes=hashlib.sha256(encoded).digest()[:16])


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(request(main_file=MainFile(name="code.py", content="print(input())")),
                     id="main name None vs default name"),
        pytest.param(request(main_file=MainFile(name="other.py", content="print(input())")),
                     id="main name"),
        pytest.param(request(main_file=MainFile(content="print(input()) ")), id="main content"),
        pytest.param(request(files=[File(name="a.txt", content="A")]), id="one file fewer"),
        pytest.param(request(files=[File(name="a.txt", content="A"), File(name="b.txt", content="b")]),
                     id="file content"),
        pytest.param(request(files=[File(name="a.txt", content="A"), File(name="c.txt", content="B")]),
                     id="file name"),
        pytest.param(request(files=[File(name="b.txt", content="B"), File(name="a.txt", content="A")]),
                     id="file order"),
        pytest.param(request(files=None), id="no files"),
        pytest.param(request(env_vars=[EnvVar(name="X", value="1")]), id="one env var fewer"),
        pytest.param(request(env_vars=[EnvVar(name="X", value="1"), EnvVar(name="Y", value="3")]),
                     id="env var value"),
        pytest.param(request(env_vars=[EnvVar(name="Y", value="2"), EnvVar(name="X", value="1")]),
                     id="env var order"),
        pytest.param(request(env_vars=None), id="no env vars"),
        pytest.param(request(compile_args=["-O0"]), id="compile args"),
        pytest.param(request(compile_args=[""]), id="one empty compile arg"),
    ],
)
def test_id_changes_with_the_request(changed: BuildRequest) -> None:
    """Every part of the request that reaches the build changes the id."""
    assert program_id(environment(), changed) != BASE_ID


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Python3"},
        {"version": "3.11.3"},
        {"compile_script": "/nix/store/ccc-compile"},
        {"run_script": "/nix/store/aaa-run2"},
        {"closure": "/nix/store/bbb-closure2"},
        {"sandkasten_version": "0.2.0"},
        {"identity": "another-digest"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_id_changes_with_the_environment(changes: dict[str, Any]) -> None:
    """A package upgrade or an edited script (identity) invalidates the cached programs."""
    assert program_id(environment(**changes), request()) != BASE_ID


def test_boundaries_between_fields_are_unambiguous() -> None:
    """Moving characters from one string to the next must change the id (length prefixes)."""
    one = request(files=[File(name="ab", content="c")])
    other = request(files=[File(name="a", content="bc")])
    assert program_id(environment(), one) != program_id(environment(), other)
    empty_vs_null = request(files=[]), request(files=None)
    assert program_id(environment(), empty_vs_null[0]) == program_id(environment(), empty_vs_null[1])


def test_compile_args_change_the_id_only_when_there_are_some() -> None:
    """Without compile_args (absent, null or empty) the id is the one Sandkasten computes; with
    them, their order and boundaries count."""
    assert program_id(environment(), request(compile_args=None)) == BASE_ID
    assert program_id(environment(), request(compile_args=[])) == BASE_ID
    ids = {program_id(environment(), request(compile_args=args))
           for args in (["-O0", "-g"], ["-g", "-O0"], ["-O0-g"], ["-O0", "-g", ""])}
    assert len(ids) == 4 and BASE_ID not in ids


def test_a_base64_file_is_another_file_than_the_same_text() -> None:
    """Sandkasten's id hashes the content as sent; with `encoding` ours, a file sent as base64
    and a text file with that same text must not share an id. `utf-8` given or not is the same."""
    text = request(files=[File(name="a.bin", content="AAEC")])
    as_utf8 = request(files=[File(name="a.bin", content="AAEC", encoding="utf-8")])
    binary = request(files=[File(name="a.bin", content="AAEC", encoding="base64")])
    main_binary = request(main_file=MainFile(content="AAEC", encoding="base64"),
                          files=[File(name="a.bin", content="AAEC")])
    ids = [program_id(environment(), r) for r in (text, as_utf8, binary, main_binary)]
    assert ids[0] == ids[1] and len(set(ids)) == 3


@pytest.mark.parametrize(
    "limits",
    [LimitsOpt(), LimitsOpt(time=1), LimitsOpt(memory=1, processes=2, network=False)],
)
def test_id_does_not_change_with_compile_limits(limits: LimitsOpt) -> None:
    """Compile limits are not part of the id (as in the original)."""
    assert program_id(environment(), request(compile_limits=limits)) == BASE_ID


def test_id_does_not_change_with_the_environment_id_string() -> None:
    """The request's environment key is not hashed; the environment's contents are."""
    assert program_id(environment(), request(environment="python3")) == BASE_ID


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (65536, b"\x80\x80\x04"),
    ],
)
def test_varint_is_unsigned_leb128(value: int, encoded: bytes) -> None:
    """Lengths of 128 bytes or more need a multi-byte varint, as postcard writes it."""
    assert _varint(value) == encoded


def test_long_content_is_length_prefixed_with_a_multibyte_varint() -> None:
    """Contents of 200 bytes and of 200 bytes plus one character give different ids."""
    long_one = request(main_file=MainFile(content="a" * 200))
    longer = request(main_file=MainFile(content="a" * 201))
    assert program_id(environment(), long_one) != program_id(environment(), longer)
