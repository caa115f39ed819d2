"""What `build.sh` makes when an environment is built (`[build]`, see nix/packages/README.md).

The source archives are fetched once into `<out>/sources-cache/` and checked against their
SHA-256 every time they are used (a mismatch is an error, never a silent re-download); the Nix
side fetches the same URLs with the same hashes. `build.sh` runs with the host's own tools (the
`[build].host_packages`, which `make setup` installs), in a fresh working directory holding the
archives, and writes into `$out`: the folder a job finds as `$SANDKASTEN_BUILT`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sandkasten_py.hostbuild import files
from sandkasten_py.hostbuild.description import Description, Source

TIMEOUT_S = 60
BUILD_TIMEOUT_S = 1800
JAIL_DIRECTORY = "/usr/lib/sandkasten-built"
"""Where a job finds what `build.sh` made (`$SANDKASTEN_BUILT`): inside the environment's /usr."""
OUTPUT_KEPT = 4000  # characters of a failed build's output in the error


class SourceError(Exception):
    """A source could not be fetched, is not what its hash says, or `build.sh` failed."""


def fetch(source: Source, cache: Path) -> Path:
    """The archive, from the cache or its URL, checked."""
    path = cache / f"{source.sha256}-{source.file_name}"
    try:
        files.fetch_cached(source.url, path, lambda data: _check(data, source), TIMEOUT_S)
    except OSError as e:
        raise SourceError(f"cannot fetch {source.url}: {e}") from e
    return path


def _check(data: bytes, source: Source) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise SourceError(f"{source.url}: SHA-256 mismatch: expected {source.sha256}, got {digest}")


def run_build(desc: Description, archives: list[Path], out: Path) -> None:
    """Run the environment's `build.sh` into `out` (SourceError with its output if it fails)."""
    assert desc.build is not None
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"sandkasten-build-{desc.id}-") as work:
        for source, archive in zip(desc.build.sources, archives, strict=True):
            shutil.copyfile(archive, os.path.join(work, source.file_name))
        script = os.path.join(work, ".build.sh")
        Path(script).write_text(desc.build.script)
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LC_ALL": "C.UTF-8",
               "out": str(out), "SANDKASTEN_PACKAGE": str(desc.directory.resolve())}
        try:
            done = subprocess.run(["bash", "-euo", "pipefail", script], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SourceError(f"{desc.id}: build.sh did not finish in {BUILD_TIMEOUT_S} s") from None
        if done.returncode != 0:
            output = done.stdout.decode(errors="replace")[-OUTPUT_KEPT:]
            raise SourceError(f"{desc.id}: build.sh failed with status {done.returncode}:\n{output}")
