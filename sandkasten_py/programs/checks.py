"""Request checks that need no environment: limits, file names, env vars."""

from __future__ import annotations

from collections.abc import Iterable

from sandkasten_py.programs.errors import InvalidEnvVars, InvalidFileNames, LimitsExceeded
from sandkasten_py.schemas import LIMIT_NAMES, EnvVar, File, LimitExceeded, Limits, LimitsOpt


def resolve_limits(requested: LimitsOpt | None, maximum: Limits, error: type[LimitsExceeded]) -> Limits:
    """Fill unset limits with the maximum; raise `error` listing every limit above it, in field order."""
    values = {}
    exceeded = []
    asked: dict[str, int | bool] = {}
    for name in LIMIT_NAMES:
        max_value = getattr(maximum, name)
        value = getattr(requested, name) if requested is not None else None
        value = max_value if value is None else value
        if value > max_value:
            # Sandkasten's max_value is a number, also for `network` (false: 0): kept for its clients.
            exceeded.append(LimitExceeded(name=name, max_value=int(max_value)))
            asked[name] = value
        values[name] = value
    if exceeded:
        raise error(exceeded, asked)
    return Limits(**values)


def check_file_names(main_file_name: str | None, *file_lists: Iterable[File] | None) -> None:
    """Reject names made only of dots, and duplicates within one list of files.

    Whether the main file's name clashes with a build file is decided later, at build time,
    when the default main file name is known (Sandkasten's order of checks).
    """
    if main_file_name is not None and _only_dots(main_file_name):
        raise InvalidFileNames(main_file_name, "a name may not consist only of dots")
    for files in file_lists:
        names = [f.name for f in files or ()]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise InvalidFileNames(name, "two files have this name")
        for name in names:
            if _only_dots(name):
                raise InvalidFileNames(name, "a name may not consist only of dots")


def _only_dots(name: str) -> bool:
    return set(name) == {"."}


def check_env_vars(*var_lists: Iterable[EnvVar] | None) -> None:
    """Reject the variable `_`, which shells set themselves."""
    if any(var.name == "_" for variables in var_lists for var in variables or ()):
        raise InvalidEnvVars("_")
