"""docs/configuration.md is generated from the Config Struct and config.toml, and is current."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from sandkasten_py.config import Config
from sandkasten_py.configdoc import (
    DEFAULT_CONFIG, DEFAULT_OUTPUT, README, all_keys, field_docstrings, generate, main,
    with_readme_reference,
)

GENERATED = generate()


def test_checked_in_reference_is_current() -> None:
    assert DEFAULT_OUTPUT.is_file(), "docs/configuration.md is missing; run `make config-doc`"
    assert DEFAULT_OUTPUT.read_text() == GENERATED, (
        "docs/configuration.md is out of date; run `make config-doc` (sandkasten config-doc)")


def test_readme_reference_is_current() -> None:
    """The README's configuration section carries the same generated tables."""
    readme = README.read_text()
    assert with_readme_reference(readme, GENERATED) == readme, (
        "README.md's configuration reference is out of date; run `make config-doc`")
    assert "| `run_limits.time` |" in readme


def test_check_option_agrees(tmp_path: Path) -> None:
    assert main(["--check"]) == 0
    stale = tmp_path / "configuration.md"
    stale.write_text(GENERATED + "edited by hand\n")
    assert main(["--check", "--output", str(stale)]) == 1


def test_every_key_has_a_row() -> None:
    keys = all_keys()
    # ten sections (two of ten limits, five storage caps, ten request limits, two of
    # emcc-sandboxd's, three of the WASI workers, bg-compiler's images, two of gVisor's, two of
    # the sessions', two of auth's) stand for their keys
    assert len(keys) == len(msgspec.structs.fields(Config)) - 10 + 2 * 10 + 5 + 10 + 2 + 3 + 1 + 2 + 2 + 2
    for key in keys:
        env = key.upper().replace(".", "__")
        assert f"| `{key}` |" in GENERATED, key
        assert f"| `{env}` |" in GENERATED, env


def test_every_field_has_a_docstring() -> None:
    docs = field_docstrings(Config)
    assert set(docs) == {f.name for f in msgspec.structs.fields(Config)}
    assert all(docs.values())


def test_rows_have_a_description_and_the_config_toml_default() -> None:
    defaults = tomllib.loads(DEFAULT_CONFIG.read_text())
    rows = {line.split(" | ")[0].removeprefix("| `").removesuffix("`"): line.split(" | ")
            for line in GENERATED.splitlines() if line.startswith("| `")}
    assert set(rows) == set(all_keys())
    for key, cells in rows.items():
        assert cells[-1].removesuffix(" |").strip(), f"{key} has no description"
        section, _, name = key.rpartition(".")
        table = defaults.get(section, {}) if section else defaults
        if name in table:
            expected = str(table[name]).lower() if isinstance(table[name], bool) else None
            assert expected is None or f"`{expected}`" == cells[2], key
    assert rows["run_limits.time"][2] == "`5`"
    assert rows["port"][1] == "integer, 0 to 65535"
    assert rows["nsjail_path"][2].startswith("*optional*")
