"""npm packages an environment carries (`[[npm]]`): fetched from the registry, checked, unpacked.

The Nix side fetches the same tarball with `fetchurl` and the same hash, so both worlds get the
same files. Tarballs are cached in `<out>/npm/cache/` and checked against their integrity hash
every time they are used; a mismatch is an error, never a silent re-download.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path

from sandkasten_py.hostbuild import files
from sandkasten_py.hostbuild.description import NpmPackage

TIMEOUT_S = 60
# Where a job finds the packages (`$SANDKASTEN_NPM/<name>`): inside the environment's /usr.
JAIL_DIRECTORY = "/usr/lib/sandkasten-npm"


class NpmError(Exception):
    """A package could not be fetched, or is not what its integrity hash says."""


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise NpmError unless `data` has the SHA-512 that `integrity` (`sha512-<base64>`) names."""
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != integrity:
        raise NpmError(f"integrity mismatch: expected {integrity}, got {digest}")


def fetch(package: NpmPackage, cache: Path) -> bytes:
    """The package's tarball, from the cache or the registry, checked."""
    path = cache / f"{package.name.replace('/', '__')}-{package.version}.tgz"

    def check(data: bytes) -> None:
        try:
            check_integrity(data, package.integrity)
        except NpmError as e:
            raise NpmError(f"{package.name}@{package.version}: {e}") from None

    try:
        return files.fetch_cached(package.tarball_url, path, check, TIMEOUT_S)
    except OSError as e:
        raise NpmError(f"cannot fetch {package.tarball_url}: {e}") from e


def unpack(tarball: Path | bytes, destination: Path) -> None:
    """Unpack an npm tarball (whose entries lie under `package/`) into `destination`."""
    source = io.BytesIO(tarball) if isinstance(tarball, bytes) else open(tarball, "rb")
    with source, tarfile.open(fileobj=source, mode="r:gz") as archive:
        members = []
        for member in archive.getmembers():
            _, _, rest = member.name.partition("/")
            if not rest or not (member.isfile() or member.isdir()):
                continue  # the top folder itself; npm tarballs hold no links
            member.name = rest
            members.append(member)
        destination.mkdir(parents=True, exist_ok=True)
        # The "data" filter refuses absolute paths, `..` and special files, and drops modes
        # that are unsafe (setuid, group/other write).
        archive.extractall(destination, members=members, filter="data")
