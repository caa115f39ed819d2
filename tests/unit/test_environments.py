"""Unit tests of environment loading (sandkasten_py.environments).

Manifests (`<id>.json`) name the scripts and the closure that a job may see. Loading must
follow the original's rules (first definition of an id wins, §5.1), turn the closure into the
job's read-only mounts, and give each environment an identity that changes when a script does,
because the identity is part of the program id (cache key).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandkasten_py import __version__
from sandkasten_py.environments import ManifestError, load_environment, load_environments
from sandkasten_py.sandbox import Mount, Symlink


def write_environment(directory: Path, env_id: str, *, compile_script: bool = True,
                      closure_lines: tuple[str, ...] = ("/nix/store/aaa-python", "/nix/store/bbb-libc"),
                      **manifest_fields: Any) -> Path:
    """Write a manifest with its run (and compile) script and closure file; return the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    files = directory / f"{env_id}-files"
    files.mkdir(exist_ok=True)
    run = files / "run.sh"
    run.write_text("#!/bin/sh\nexec python3 \"$@\"\n")
    closure = files / "closure"
    # As in a Nix closure, the scripts' own folder is one of the paths (a job runs them there).
    closure.write_text("\n".join((*closure_lines, str(files))) + "\n")
    manifest: dict[str, Any] = {
        "sandkasten_version": __version__,
        "name": env_id.capitalize(),
        "version": "1.0",
        "default_main_file_name": "code.py",
        "run_script": str(run),
        "closure": str(closure),
        "test": {"main_file": {"content": "print(input())"}, "expected": "OK"},
        "meta": {"homepage": "https://example.org"},
    }
    if compile_script:
        script = files / "compile.sh"
        script.write_text("#!/bin/sh\ntrue\n")
        manifest["compile_script"] = str(script)
    manifest.update(manifest_fields)
    path = directory / f"{env_id}.json"
    path.write_text(json.dumps(manifest))
    return path


def test_loads_a_manifest(tmp_path: Path) -> None:
    """The manifest's fields are available, the id is the file name without `.json`."""
    write_environment(tmp_path / "envs", "python")
    environments = load_environments([str(tmp_path / "envs")])
    assert list(environments) == ["python"]
    env = environments["python"]
    assert env.id == "python"
    assert env.manifest.name == "Python"
    assert env.manifest.default_main_file_name == "code.py"
    assert env.manifest.compile_script == str(tmp_path / "envs" / "python-files" / "compile.sh")
    assert env.manifest.test.main_file.content == "print(input())"
    assert env.manifest.meta == {"homepage": "https://example.org"}


def test_optional_fields_default(tmp_path: Path) -> None:
    """No compile script, example, mounts or symlinks: all optional."""
    write_environment(tmp_path, "bash", compile_script=False)
    env = load_environments([str(tmp_path)])["bash"]
    assert env.manifest.compile_script is None
    assert env.manifest.example is None
    assert env.manifest.mounts == [] and env.manifest.symlinks == []


def test_first_definition_wins_across_directories(tmp_path: Path) -> None:
    """An id defined in several directories comes from the first of `environments_path`."""
    write_environment(tmp_path / "first", "python", version="3.11")
    write_environment(tmp_path / "second", "python", version="3.12")
    write_environment(tmp_path / "second", "rust")
    environments = load_environments([str(tmp_path / "first"), str(tmp_path / "second")])
    assert environments["python"].manifest.version == "3.11"
    assert set(environments) == {"python", "rust"}
    reversed_order = load_environments([str(tmp_path / "second"), str(tmp_path / "first")])
    assert reversed_order["python"].manifest.version == "3.12"


def test_later_duplicate_is_not_even_read(tmp_path: Path) -> None:
    """A broken duplicate in a later directory is ignored (the first definition is final)."""
    write_environment(tmp_path / "first", "python")
    (tmp_path / "second").mkdir()
    (tmp_path / "second" / "python.json").write_text("{broken")
    assert "python" in load_environments([str(tmp_path / "first"), str(tmp_path / "second")])


def test_non_json_entries_are_ignored(tmp_path: Path) -> None:
    """Scripts, closures, READMEs and backup files next to manifests are not environments."""
    write_environment(tmp_path, "python")
    (tmp_path / "README.md").write_text("# not a manifest")
    (tmp_path / "python.json.bak").write_text("{broken")
    (tmp_path / "notes.txt").write_text("{}")
    assert list(load_environments([str(tmp_path)])) == ["python"]


def test_closure_lines_become_mounts_plus_manifest_mounts(tmp_path: Path) -> None:
    """Each closure line is a read-only mount at the same path; the manifest's `mounts` follow."""
    extra = [{"source": "/usr/lib/x86_64-linux-gnu", "target": "/usr/lib/x86_64-linux-gnu"},
             {"source": "/opt/env/usr", "target": "/usr"}]
    write_environment(tmp_path, "python",
                      closure_lines=("/nix/store/aaa-python", "", "  /nix/store/bbb-libc  "),
                      mounts=extra, symlinks=[{"path": "/bin/sh", "target": "/usr/bin/dash"}])
    env = load_environments([str(tmp_path)])["python"]
    scripts = str(tmp_path / "python-files")
    assert env.closure_paths == ("/nix/store/aaa-python", "/nix/store/bbb-libc", scripts)
    assert env.mounts == (
        Mount("/nix/store/aaa-python", "/nix/store/aaa-python"),
        Mount("/nix/store/bbb-libc", "/nix/store/bbb-libc"),
        Mount(scripts, scripts),
        Mount("/usr/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"),
        Mount("/opt/env/usr", "/usr"),
    )
    assert env.manifest.symlinks == [Symlink(path="/bin/sh", target="/usr/bin/dash")]


def test_scripts_are_found_on_the_host_through_the_mounts(tmp_path: Path) -> None:
    """A script path is where the job sees it; the daemon reads it through the mount that shows it
    there (host builds mount their scripts at /sandkasten), and refuses a path no mount shows."""
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "run.sh").write_text("echo one\n")
    write_environment(tmp_path / "envs", "python", compile_script=False, closure_lines=(),
                      run_script="/sandkasten/run.sh",
                      mounts=[{"source": str(folder), "target": "/sandkasten"}])
    first = load_environment("python", tmp_path / "envs" / "python.json").identity
    (folder / "run.sh").write_text("echo two\n")
    assert load_environment("python", tmp_path / "envs" / "python.json").identity != first
    write_environment(tmp_path / "envs", "python", compile_script=False, closure_lines=(),
                      run_script="/elsewhere/run.sh")
    with pytest.raises(ManifestError, match="not inside any mount"):
        load_environment("python", tmp_path / "envs" / "python.json")


def identity(tmp_path: Path) -> str:
    return load_environment("python", tmp_path / "python.json").identity


@pytest.mark.parametrize("script", ["run.sh", "compile.sh", "closure"])
def test_identity_changes_when_a_script_or_the_closure_changes(tmp_path: Path, script: str) -> None:
    """Editing a script in place (same path) must change the identity, hence the program ids."""
    write_environment(tmp_path, "python")
    before = identity(tmp_path)
    assert identity(tmp_path) == before  # deterministic
    path = tmp_path / "python-files" / script
    path.write_text(path.read_text() + "# edited\n")
    assert identity(tmp_path) != before


def test_identity_changes_when_the_manifest_changes(tmp_path: Path) -> None:
    """Any manifest change (here the version) changes the identity."""
    write_environment(tmp_path, "python", version="1.0")
    before = identity(tmp_path)
    write_environment(tmp_path, "python", version="1.1")
    assert identity(tmp_path) != before


def test_identity_does_not_depend_on_the_directory_read_order(tmp_path: Path) -> None:
    """Loading the same files twice gives the same identity (no per-load salt)."""
    write_environment(tmp_path, "python")
    assert load_environments([str(tmp_path)])["python"].identity == identity(tmp_path)


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda m: m.write_text("{not json"), id="invalid json"),
        pytest.param(lambda m: m.write_text(json.dumps({"name": "x"})), id="missing fields"),
        pytest.param(lambda m: m.write_text(json.dumps({**json.loads(m.read_text()), "version": 3})),
                     id="wrong type"),
        pytest.param(lambda m: (m.parent / "python-files" / "run.sh").unlink(), id="missing run script"),
        pytest.param(lambda m: (m.parent / "python-files" / "compile.sh").unlink(),
                     id="missing compile script"),
        pytest.param(lambda m: (m.parent / "python-files" / "closure").unlink(), id="missing closure"),
    ],
)
def test_broken_manifest_raises_manifest_error_naming_the_file(tmp_path: Path, breakage: Any) -> None:
    """A broken environment stops startup with an error that says which manifest is at fault."""
    manifest = write_environment(tmp_path, "python")
    breakage(manifest)
    with pytest.raises(ManifestError) as info:
        load_environments([str(tmp_path)])
    assert str(manifest) in str(info.value)


def test_missing_environments_directory(tmp_path: Path) -> None:
    """A configured directory that does not exist is an error naming it."""
    with pytest.raises(ManifestError) as info:
        load_environments([str(tmp_path / "nope")])
    assert str(tmp_path / "nope") in str(info.value)
