"""Environments: the manifests written by Nix or the host builder, read once at startup.

A manifest is Sandkasten's JSON format (``<id>.json``), optionally extended with ``mounts`` and
``symlinks`` (see nix/packages/README.md). Directories of ``environments_path`` are read in
order and the first definition of an id wins, as in Sandkasten.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import msgspec

from sandkasten_py import __version__
from sandkasten_py.sandbox import DEFAULT_RUNNER, Mount, Symlink
from sandkasten_py.schemas import File, MainFile

log = logging.getLogger(__name__)


class ManifestError(Exception):
    """An environment manifest cannot be used."""


class TestProgram(msgspec.Struct, frozen=True):
    """The conformance program of an environment (also used for resource-usage benchmarks)."""

    main_file: MainFile
    files: list[File] = []
    expected: str | None = None


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """An environment manifest, as written by the builders."""

    sandkasten_version: str
    name: str
    version: str
    default_main_file_name: str
    run_script: str
    closure: str
    test: TestProgram
    compile_script: str | None = None
    example: str | None = None
    meta: Any = {}
    mounts: list[Mount] = []
    symlinks: list[Symlink] = []
    runner: str = DEFAULT_RUNNER
    """The sandbox that runs its compile and run steps (a name the wiring knows)."""
    compile_args: str | None = None
    """The policy for a build request's `compile_args` (a name the programs service knows);
    None: the environment takes none."""


class Environment(msgspec.Struct, frozen=True, kw_only=True):
    """A loaded environment: its manifest and what a job in it gets."""

    id: str
    manifest: Manifest
    closure_paths: tuple[str, ...]
    """Paths bind-mounted read-only at the same place (the closure file's lines)."""
    identity: str
    """Digest of everything that changes what the environment builds: manifest, scripts, closure."""

    @property
    def mounts(self) -> tuple[Mount, ...]:
        """Every read-only mount of the environment."""
        return _mounts(self.closure_paths, self.manifest)


def _mounts(closure_paths: tuple[str, ...], manifest: Manifest) -> tuple[Mount, ...]:
    return tuple(Mount(p, p) for p in closure_paths) + tuple(manifest.mounts)


def host_path(mounts: tuple[Mount, ...], path: str) -> Path:
    """Where a path inside a job (a script) lies on the host, through the mounts that show it."""
    for mount in mounts:
        if path == mount.target or path.startswith(mount.target.rstrip("/") + "/"):
            return Path(mount.source + path[len(mount.target.rstrip("/")):])
    raise ManifestError(f"{path} is not inside any mount of the environment")


def load_environments(paths: list[str]) -> dict[str, Environment]:
    """Load every ``<id>.json`` in the given directories; the first definition of an id wins."""
    environments: dict[str, Environment] = {}
    for directory in paths:
        try:
            entries = sorted(Path(directory).iterdir())
        except OSError as e:
            raise ManifestError(f"cannot read environments directory {directory}: {e.strerror}") from None
        for entry in entries:
            if not entry.name.endswith(".json"):
                continue
            env_id = entry.name.removesuffix(".json")
            if env_id in environments:
                log.warning("environment %s in %s ignored: already defined", env_id, directory)
                continue
            environments[env_id] = load_environment(env_id, entry)
    return environments


def load_environment(env_id: str, path: Path) -> Environment:
    """Load one manifest and the files it names."""
    try:
        raw = path.read_bytes()
        manifest = msgspec.json.decode(raw, type=Manifest)
        closure = Path(manifest.closure).read_text()
        closure_paths = tuple(line.strip() for line in closure.splitlines() if line.strip())
        mounts = _mounts(closure_paths, manifest)
        scripts = [host_path(mounts, manifest.run_script).read_bytes()]
        if manifest.compile_script is not None:
            scripts.append(host_path(mounts, manifest.compile_script).read_bytes())
    except (OSError, ManifestError, msgspec.ValidationError, msgspec.DecodeError) as e:
        raise ManifestError(f"environment {env_id} ({path}): {e}") from None
    if manifest.sandkasten_version != __version__:
        log.warning("environment %s was built for version %s, this is %s",
                    env_id, manifest.sandkasten_version, __version__)
    digest = hashlib.sha256(raw)
    for part in (*scripts, closure.encode()):
        digest.update(hashlib.sha256(part).digest())
    return Environment(
        id=env_id,
        manifest=manifest,
        closure_paths=closure_paths,
        identity=digest.hexdigest(),
    )
