"""Unit tests of the request checks that need no environment (sandkasten_py.programs.checks).

Limit resolution decides what a job may use (§3.1: the default is the configured maximum and
every exceeded limit is reported); the name checks stop requests the original answers with
400 `invalid_file_names` / `invalid_env_vars`.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandkasten_py.programs.checks import check_env_vars, check_file_names
from sandkasten_py.programs.checks import resolve_limits as resolve_or_raise
from sandkasten_py.programs.errors import InvalidEnvVars, InvalidFileNames, RunLimitsExceeded
from sandkasten_py.schemas import LIMIT_NAMES, EnvVar, File, LimitExceeded, Limits, LimitsOpt

MAXIMUM = Limits(cpus=2, time=5, memory=256, tmpfs=128, filesize=16, file_descriptors=256,
                 processes=64, stdout_max_size=65536, stderr_max_size=1024, network=False)


def as_dict(limits: Limits) -> dict[str, Any]:
    return {name: getattr(limits, name) for name in LIMIT_NAMES}


def resolve_limits(requested: LimitsOpt | None, maximum: Limits) -> Limits | list[LimitExceeded]:
    """The resolved limits, or the exceeded ones the error carries."""
    try:
        return resolve_or_raise(requested, maximum, RunLimitsExceeded)
    except RunLimitsExceeded as e:
        return e.exceeded


def test_the_error_says_what_was_asked_and_what_is_allowed() -> None:
    with pytest.raises(RunLimitsExceeded) as raised:
        resolve_or_raise(LimitsOpt(time=9, network=True), MAXIMUM, RunLimitsExceeded)
    assert raised.value.message == "`time`: 9 requested, at most 5; `network` is not allowed (the maximum is false)"


# ------------------------------------------------------------------ resolve_limits


@pytest.mark.parametrize("requested", [None, LimitsOpt()])
def test_unset_limits_resolve_to_the_maximum(requested: LimitsOpt | None) -> None:
    """No limits (or all null) means "as much as allowed", the configured maximum."""
    assert resolve_limits(requested, MAXIMUM) == MAXIMUM


@pytest.mark.parametrize(
    "given",
    [
        {"time": 1},
        {"memory": 100, "processes": 3},
        {"tmpfs": 0, "stdout_max_size": 0, "stderr_max_size": 0},
        {"cpus": 1, "filesize": 1, "file_descriptors": 3},
        {"network": False},
    ],
)
def test_partial_request_keeps_given_values_and_fills_the_rest(given: dict[str, Any]) -> None:
    """Requested values below the maximum are used as given; the others default to the maximum."""
    resolved = resolve_limits(LimitsOpt(**given), MAXIMUM)
    assert isinstance(resolved, Limits)
    assert as_dict(resolved) == {**as_dict(MAXIMUM), **given}


def test_request_equal_to_maximum_is_fine() -> None:
    """The maximum itself is allowed (the check is `>`, not `>=`)."""
    assert resolve_limits(LimitsOpt(**as_dict(MAXIMUM)), MAXIMUM) == MAXIMUM


@pytest.mark.parametrize("name", [n for n in LIMIT_NAMES if n != "network"])
def test_one_exceeded_limit_is_reported_with_its_maximum(name: str) -> None:
    """A value one above the maximum is reported with the configured maximum."""
    requested = LimitsOpt(**{name: getattr(MAXIMUM, name) + 1})
    assert resolve_limits(requested, MAXIMUM) == [LimitExceeded(name=name, max_value=getattr(MAXIMUM, name))]


def test_every_exceeded_limit_is_listed_in_field_order() -> None:
    """All exceeded limits are reported (not just the first), in the Limits field order."""
    too_much = {name: getattr(MAXIMUM, name) + 1 for name in LIMIT_NAMES if name != "network"}
    too_much["network"] = True
    # Build the request in reverse order so that the result's order must come from the fields.
    requested = LimitsOpt(**dict(reversed(list(too_much.items()))))
    result = resolve_limits(requested, MAXIMUM)
    assert isinstance(result, list)
    assert [e.name for e in result] == list(LIMIT_NAMES)
    assert [e.max_value for e in result] == [int(getattr(MAXIMUM, n)) for n in LIMIT_NAMES]


def test_only_the_exceeded_limits_are_listed() -> None:
    """Limits within the maximum do not appear among the exceeded ones."""
    requested = LimitsOpt(cpus=1, time=6, memory=1, stderr_max_size=1025)
    assert resolve_limits(requested, MAXIMUM) == [
        LimitExceeded(name="time", max_value=5),
        LimitExceeded(name="stderr_max_size", max_value=1024),
    ]


def test_network_true_exceeds_false_with_integer_max_value_zero() -> None:
    """For the bool `network`, true > false; `max_value` is the u64 0, not the JSON `false`."""
    result = resolve_limits(LimitsOpt(network=True), MAXIMUM)
    assert result == [LimitExceeded(name="network", max_value=0)]
    assert isinstance(result, list)
    assert type(result[0].max_value) is int


@pytest.mark.parametrize("requested", [True, False, None])
def test_network_within_a_true_maximum(requested: bool | None) -> None:
    """With network allowed, both values are fine and unset means true."""
    maximum = Limits(**{**as_dict(MAXIMUM), "network": True})
    resolved = resolve_limits(LimitsOpt(network=requested), maximum)
    assert isinstance(resolved, Limits)
    assert resolved.network is (True if requested is None else requested)


# ------------------------------------------------------------------ check_file_names


def files(*names: str) -> list[File]:
    return [File(name=name, content="") for name in names]


@pytest.mark.parametrize("name", [".", "..", "...", "." * 32])
def test_names_made_only_of_dots_are_rejected_in_file_lists(name: str) -> None:
    """`.` and `..` would name the directory or its parent; any all-dots name is refused."""
    with pytest.raises(InvalidFileNames):
        check_file_names(None, files("ok.txt", name))


@pytest.mark.parametrize("name", [".", "..", "..."])
def test_main_file_name_made_only_of_dots_is_rejected(name: str) -> None:
    """The main file's name gets the same dots check."""
    with pytest.raises(InvalidFileNames):
        check_file_names(name, None)


@pytest.mark.parametrize("name", [".a", "a.", "..a", "a..b", ".gitignore", "-", "_"])
def test_names_with_something_besides_dots_are_fine(name: str) -> None:
    """Hidden files and other names with dots are normal file names."""
    check_file_names(name, files(name))


def test_duplicate_names_within_one_list_are_rejected() -> None:
    """Two files with the same name in one request cannot both be written; the message says which."""
    with pytest.raises(InvalidFileNames) as raised:
        check_file_names(None, files("a", "b", "a"))
    assert raised.value.message == "file name `a`: two files have this name"


def test_the_dots_message_names_the_file() -> None:
    with pytest.raises(InvalidFileNames) as raised:
        check_file_names(None, files("ok", ".."))
    assert raised.value.message == "file name `..`: a name may not consist only of dots"


@pytest.mark.parametrize("position", [0, 1])
def test_duplicates_in_any_of_several_lists_are_rejected(position: int) -> None:
    """Each list is checked, not only the first one."""
    lists = [files("x"), files("x")]
    lists[position] = files("d", "d")
    with pytest.raises(InvalidFileNames):
        check_file_names("main.py", *lists)


def test_same_name_in_build_files_and_run_files_is_fine() -> None:
    """Build files and run files go to different directories, so they may share names."""
    check_file_names("main.py", files("data.txt", "lib.py"), files("data.txt", "lib.py"))


def test_main_file_name_is_only_dot_checked_here() -> None:
    """A main file named like a build file is decided later, at build time (original's order)."""
    check_file_names("a.py", files("a.py"))


@pytest.mark.parametrize("lists", [(), (None,), (None, None), ([],)])
def test_no_files_is_fine(lists: tuple[Any, ...]) -> None:
    """Missing lists (None) and empty lists are accepted."""
    check_file_names(None, *lists)


# ------------------------------------------------------------------ check_env_vars


def env(*names: str) -> list[EnvVar]:
    return [EnvVar(name=name, value="v") for name in names]


@pytest.mark.parametrize("position", [0, 1])
def test_variable_underscore_is_rejected_in_any_list(position: int) -> None:
    """`_` is set by shells themselves; the original refuses it in build and run env vars."""
    lists: list[list[EnvVar] | None] = [env("A"), env("B")]
    lists[position] = env("X", "_")
    with pytest.raises(InvalidEnvVars) as raised:
        check_env_vars(*lists)
    assert "`_`" in str(raised.value.message)


@pytest.mark.parametrize("name", ["__", "_A", "A_", "A", "_1"])
def test_other_underscore_names_are_fine(name: str) -> None:
    """Only the exact name `_` is refused."""
    check_env_vars(env(name), None)


def test_no_env_vars_is_fine() -> None:
    check_env_vars(None, None)
    check_env_vars([], [])
