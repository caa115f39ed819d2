"""Unit tests of configuration loading (sandkasten_py.config.load_config).

The configuration is read once at startup from a file plus an environment overlay (§2 of the
reference). Mistakes must stop the daemon with one readable line naming the key, never start it
with a silently different setting.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tomllib
from pathlib import Path

import pytest

from sandkasten_py.config import Config, ConfigError, load_config, without_network
from sandkasten_py.schemas import LIMIT_NAMES

REPO = Path(__file__).resolve().parents[2]
CONFIG_TOML = REPO / "config.toml"
REPO_ENV = {"CONFIG_PATH": str(CONFIG_TOML)}


def load(**overlay: str) -> Config:
    """Load the repository's config.toml with an environment overlay."""
    return load_config({**REPO_ENV, **overlay})


def write_toml(tmp_path: Path, text: str, name: str = "config.toml") -> dict[str, str]:
    """Write a config file and return the environment naming it."""
    path = tmp_path / name
    path.write_text(text)
    return {"CONFIG_PATH": str(path)}


def edited_config(tmp_path: Path, old: str, new: str) -> dict[str, str]:
    """A copy of config.toml with one exact line replaced (the line must exist)."""
    text = CONFIG_TOML.read_text()
    assert text.count(old) == 1, f"{old!r} not found exactly once in config.toml"
    return write_toml(tmp_path, text.replace(old, new))


def config_error(environ: dict[str, str]) -> str:
    """Load, expect a ConfigError and return its message (checked to be a single line)."""
    with pytest.raises(ConfigError) as info:
        load_config(environ)
    message = str(info.value)
    assert "\n" not in message, f"not a single line: {message!r}"
    return message


# ------------------------------------------------------------------ loading


def test_repository_config_loads_with_sandkasten_defaults() -> None:
    """config.toml is the de-facto default; its values are Sandkasten's (§2)."""
    config = load()
    assert (config.host, config.port, config.server) == ("0.0.0.0", 8000, "/")
    assert config.enable_metrics is False
    assert (config.program_ttl, config.prune_programs_interval, config.max_concurrent_jobs) == (600, 60, 16)
    assert (config.base_resource_usage_runs, config.base_resource_usage_permits,
            config.base_resource_usage_cache_ttl) == (20, 16, 3600)
    assert config.use_cgroup is True
    assert config.environments_path == ["pkgs/share/sandkasten/packages"]
    assert (config.run_limits.time, config.run_limits.memory, config.run_limits.processes) == (5, 256, 64)
    assert (config.compile_limits.time, config.compile_limits.memory,
            config.compile_limits.processes) == (30, 1024, 256)
    assert config.run_limits.network is False and config.compile_limits.network is False


def test_default_nsjail_path_is_resolved_to_an_executable() -> None:
    """Without `nsjail_path` the bundled binary is used, as an absolute, resolved path."""
    path = Path(load().nsjail_path or "")
    assert path.is_absolute()
    assert path.is_file() and os.access(path, os.X_OK)
    assert path == path.resolve()


def test_json_config_file(tmp_path: Path) -> None:
    """A `.json` CONFIG_PATH is read as JSON (the NixOS module writes JSON)."""
    data = tomllib.loads(CONFIG_TOML.read_text())
    data["port"] = 1234
    data["environments_path"] = "/x:/y:/z"
    (tmp_path / "config.json").write_text(json.dumps(data))
    config = load_config({"CONFIG_PATH": str(tmp_path / "config.json")})
    assert config.port == 1234
    assert config.environments_path == ["/x", "/y", "/z"]


def test_json_content_in_a_toml_named_file_is_not_read_as_json(tmp_path: Path) -> None:
    """The format follows the extension, not the content."""
    data = tomllib.loads(CONFIG_TOML.read_text())
    message = config_error(write_toml(tmp_path, json.dumps(data)))
    assert "TOML" in message


# ------------------------------------------------------------------ environment overlay


@pytest.mark.parametrize(
    ("overlay", "attribute", "expected"),
    [
        ({"PORT": "9000"}, lambda c: c.port, 9000),
        ({"HOST": "127.0.0.1"}, lambda c: c.host, "127.0.0.1"),
        ({"RUN_LIMITS__TIME": "20"}, lambda c: c.run_limits.time, 20),
        ({"COMPILE_LIMITS__MEMORY": "2048"}, lambda c: c.compile_limits.memory, 2048),
        ({"RUN_LIMITS__TMPFS": "0"}, lambda c: c.run_limits.tmpfs, 0),
        ({"ENABLE_METRICS": "true"}, lambda c: c.enable_metrics, True),
        ({"USE_CGROUP": "false"}, lambda c: c.use_cgroup, False),
        ({"ENVIRONMENTS_PATH": "/a:/b"}, lambda c: c.environments_path, ["/a", "/b"]),
        ({"ENVIRONMENTS_PATH": "/foo:/bar:/baz"}, lambda c: c.environments_path, ["/foo", "/bar", "/baz"]),
        ({"ENVIRONMENTS_PATH": " /a:/b \n"}, lambda c: c.environments_path, ["/a", "/b"]),
        ({"ENVIRONMENTS_PATH": "/only"}, lambda c: c.environments_path, ["/only"]),
        ({"PROGRAMS_DIR": "/srv/programs"}, lambda c: c.programs_dir, "/srv/programs"),
        ({"CGROUP_PARENT": "/x.slice"}, lambda c: c.cgroup_parent, "/x.slice"),
    ],
)
def test_environment_overlay(overlay: dict[str, str], attribute: object, expected: object) -> None:
    """Variables without prefix, `__` for nesting, names lowercased, values parsed to the field type."""
    assert attribute(load(**overlay)) == expected  # type: ignore[operator]


def test_overlay_leaves_other_values_alone() -> None:
    """Overriding one nested limit keeps the file's other limits of that section."""
    base = load()
    changed = load(RUN_LIMITS__TIME="20")
    for name in LIMIT_NAMES:
        if name != "time":
            assert getattr(changed.run_limits, name) == getattr(base.run_limits, name)
    assert changed.compile_limits == base.compile_limits


def test_overlay_creates_a_missing_section(tmp_path: Path) -> None:
    """A section may come entirely from the environment (the original has no code defaults)."""
    text = CONFIG_TOML.read_text()
    head, _, _ = text.partition("[run_limits]")
    env = write_toml(tmp_path, head)
    overlay = {f"RUN_LIMITS__{name.upper()}": "1" for name in LIMIT_NAMES if name != "network"}
    config = load_config({**env, **overlay, "RUN_LIMITS__NETWORK": "false"})
    assert config.run_limits.time == 1 and config.run_limits.network is False


def test_toml_string_environments_path_is_split(tmp_path: Path) -> None:
    """A string `environments_path` in the file is split on `:` like the env variable."""
    env = edited_config(tmp_path, 'environments_path = ["pkgs/share/sandkasten/packages"]',
                        'environments_path = "/a:/b"')
    assert load_config(env).environments_path == ["/a", "/b"]


@pytest.mark.parametrize("section", ["compile_limits", "run_limits"])
def test_network_true_is_lowered_to_false_with_a_warning(
    section: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On a host without the tools for job networks, a configured `true` becomes `false`, and the
    operator is told; loading itself keeps the setting."""
    configured = load(**{f"{section.upper()}__NETWORK": "true"})
    assert getattr(configured, section).network is True
    with caplog.at_level(logging.WARNING, logger="sandkasten_py.config"):
        config = without_network(configured)
    assert getattr(config, section).network is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{section}.network" in r.getMessage() for r in warnings)


def test_network_false_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    """The warning is specific to a `true` setting (so the check above can fail)."""
    with caplog.at_level(logging.WARNING, logger="sandkasten_py.config"):
        without_network(load())
    assert not [r for r in caplog.records if "network" in r.getMessage()]


@pytest.mark.parametrize(
    "unrelated",
    [
        {"PATH": "/usr/bin:/bin", "HOME": "/root"},
        {"LANG": "C.UTF-8", "TERM": "dumb", "PWD": "/"},
        {"PORTS": "1", "HOSTNAME": "x", "SERVER_NAME": "y"},
    ],
)
def test_unrelated_environment_variables_are_ignored(unrelated: dict[str, str]) -> None:
    """Only variables whose first part names a key are applied; PATH never becomes a key."""
    assert load(**unrelated) == load()


# ------------------------------------------------------------------ errors


def test_missing_key_names_the_key(tmp_path: Path) -> None:
    """There are no code-side defaults: a key missing from file and environment is an error."""
    message = config_error(edited_config(tmp_path, "program_ttl = 600\n", ""))
    assert "program_ttl" in message


def test_missing_nested_key_names_section_and_key(tmp_path: Path) -> None:
    """A limit missing from a section is named together with its section."""
    text = CONFIG_TOML.read_text()
    head, _, run = text.partition("[run_limits]")
    env = write_toml(tmp_path, head + "[run_limits]" + run.replace("processes = 64\n", ""))
    message = config_error(env)
    assert "run_limits" in message and "processes" in message


def test_missing_key_can_come_from_the_environment(tmp_path: Path) -> None:
    """The same missing key is fine when the environment provides it."""
    env = edited_config(tmp_path, "program_ttl = 600\n", "")
    assert load_config({**env, "PROGRAM_TTL": "77"}).program_ttl == 77


def test_unknown_top_level_key_is_an_error(tmp_path: Path) -> None:
    """A misspelt key in the file must not be silently ignored."""
    message = config_error(edited_config(tmp_path, "program_ttl = 600\n",
                                         "program_ttl = 600\nprogram_tll = 5\n"))
    assert "program_tll" in message


def test_unknown_limit_key_is_an_error(tmp_path: Path) -> None:
    """A misspelt limit (here `RUN_LIMITS__MEMROY`) must not be silently ignored either.

    Top-level typos are refused; a typo inside a limits section would otherwise leave the
    operator believing the limit was changed.
    """
    message = config_error({**REPO_ENV, "RUN_LIMITS__MEMROY": "512"})
    assert "memroy" in message


@pytest.mark.parametrize(
    ("overlay", "key"),
    [
        ({"PORT": "abc"}, "port"),
        ({"PORT": "70000"}, "port"),
        ({"PORT": "-1"}, "port"),
        ({"ENABLE_METRICS": "maybe"}, "enable_metrics"),
        ({"RUN_LIMITS__TIME": "abc"}, "run_limits.time"),
        ({"RUN_LIMITS__TIME": "-5"}, "run_limits.time"),
        ({"COMPILE_LIMITS__MEMORY": "1.5"}, "compile_limits.memory"),
        ({"PROGRAM_TTL": "-1"}, "program_ttl"),
        ({"MAX_CONCURRENT_JOBS": "0"}, "max_concurrent_jobs"),
        ({"RUN_LIMITS": "5"}, "run_limits"),
    ],
)
def test_bad_type_or_range_names_the_key(overlay: dict[str, str], key: str) -> None:
    """Wrong types and out-of-range values are one line naming the (dotted) key."""
    assert f"`{key}`" in config_error({**REPO_ENV, **overlay})


def test_nested_overlay_below_a_scalar_is_an_error() -> None:
    """`PORT__X` cannot nest below the scalar `port`; the variable is named."""
    message = config_error({**REPO_ENV, "PORT__X": "1"})
    assert "PORT__X" in message


@pytest.mark.parametrize("section", ["compile_limits", "run_limits"])
@pytest.mark.parametrize("name", ["cpus", "time", "memory", "filesize", "file_descriptors", "processes"])
def test_limit_zero_where_minimum_is_one(section: str, name: str) -> None:
    """nsjail and the kernel read 0 as unlimited for these, so a configured 0 is refused."""
    message = config_error({**REPO_ENV, f"{section.upper()}__{name.upper()}": "0"})
    assert f"{section}.{name}" in message


@pytest.mark.parametrize("name", ["tmpfs", "stdout_max_size", "stderr_max_size"])
def test_limit_zero_allowed_where_meaningful(name: str) -> None:
    """0 means no /tmp or no output kept; it is a valid maximum."""
    assert getattr(load(**{f"RUN_LIMITS__{name.upper()}": "0"}).run_limits, name) == 0


def test_limit_above_u64_is_an_error() -> None:
    """Limits are u64 (served in `/config` and parsed as u64 by the Rust client): 2^64 is refused."""
    assert load(RUN_LIMITS__MEMORY=str(2**64 - 1)).run_limits.memory == 2**64 - 1
    message = config_error({**REPO_ENV, "RUN_LIMITS__MEMORY": str(2**64)})
    assert "run_limits.memory" in message


def test_benchmark_permits_above_max_concurrent_jobs() -> None:
    """A benchmark holding more slots than exist would wait forever, so it is refused."""
    message = config_error({**REPO_ENV, "BASE_RESOURCE_USAGE_PERMITS": "17"})
    assert "base_resource_usage_permits" in message
    assert load(BASE_RESOURCE_USAGE_PERMITS="16").base_resource_usage_permits == 16


def test_missing_config_file(tmp_path: Path) -> None:
    """A missing file is a clear error naming the path."""
    missing = tmp_path / "nope.toml"
    assert str(missing) in config_error({"CONFIG_PATH": str(missing)})


@pytest.mark.parametrize(
    ("name", "text", "format_"),
    [
        ("config.toml", "port = \n", "TOML"),
        ("config.toml", "[run_limits\ntime = 1\n", "TOML"),
        ("config.json", '{"port": 8000,', "JSON"),
        ("config.json", "[1, 2]", None),
    ],
)
def test_invalid_file_content(tmp_path: Path, name: str, text: str, format_: str | None) -> None:
    """Syntax errors (and a JSON top level that is not an object) are single-line ConfigErrors."""
    message = config_error(write_toml(tmp_path, text, name))
    assert str(tmp_path / name) in message
    if format_:
        assert format_ in message


def test_nonexistent_nsjail_path(tmp_path: Path) -> None:
    """A configured nsjail that does not exist fails like the original does."""
    missing = tmp_path / "no-nsjail"
    message = config_error({**REPO_ENV, "NSJAIL_PATH": str(missing)})
    assert message.startswith("Failed to resolve `nsjail_path`")
    assert str(missing) in message


@pytest.mark.parametrize("kind", ["directory", "not executable"])
def test_unusable_nsjail_path(tmp_path: Path, kind: str) -> None:
    """A directory or a non-executable file is not an nsjail binary either."""
    path = tmp_path / "nsjail"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("#!/bin/sh\n")
        path.chmod(0o644)
    if kind == "not executable" and os.access(path, os.X_OK):
        pytest.skip("root may execute files without x bits on this system")
    assert "Failed to resolve `nsjail_path`" in config_error({**REPO_ENV, "NSJAIL_PATH": str(path)})


def test_nsjail_path_is_resolved(tmp_path: Path) -> None:
    """A configured nsjail (through a symlink) is stored as the resolved absolute path."""
    binary = tmp_path / "real-nsjail"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    link = tmp_path / "nsjail"
    link.symlink_to(binary)
    assert load(NSJAIL_PATH=str(link)).nsjail_path == str(binary.resolve())


@pytest.mark.parametrize(("programs", "jobs"), [("/srv/x", "/srv/x"), ("/srv/x", "/srv/x/jobs"),
                                                ("/srv/x/programs", "/srv/x"), ("/srv/x/", "/srv/x")])
def test_programs_and_jobs_directories_must_be_apart(programs: str, jobs: str) -> None:
    """The jobs directory is emptied at startup, and the pruner deletes what is not a program."""
    message = config_error({**REPO_ENV, "PROGRAMS_DIR": programs, "JOBS_DIR": jobs})
    assert "`programs_dir` and `jobs_dir` must be separate directories, neither inside the other" in message


def test_a_bad_value_from_the_environment_is_named_as_such() -> None:
    assert config_error({**REPO_ENV, "PORT": "abc"}) == \
        "environment variable PORT: `port`: Expected `int`, got `str`"
    assert config_error({**REPO_ENV, "RUN_LIMITS__TIME": "soon"}) == \
        "environment variable RUN_LIMITS__TIME: `run_limits.time`: Expected `int`, got `str`"


def test_a_bad_value_in_the_file_names_the_file(tmp_path: Path) -> None:
    env = edited_config(tmp_path, "port = 8000", 'port = "eight"')
    assert config_error(env) == f"{tmp_path / 'config.toml'}: `port`: Expected `int`, got `str`"
