"""What dpkg knows: installed packages, their dependency closure and their files."""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path

DPKG_INFO_DIR = Path("/var/lib/dpkg/info")
DPKG_DIVERSIONS = Path("/var/lib/dpkg/diversions")
DPKG_ALTERNATIVES_DIR = Path("/var/lib/dpkg/alternatives")
ETC_ALTERNATIVES = "/etc/alternatives"

# The output of this format is itself a dpkg status file, so one parser reads
# both dpkg-query's answer and a literal status text (handy in tests).
_QUERY_FORMAT = (
    "Package: ${Package}\\nArchitecture: ${Architecture}\\nVersion: ${Version}\\n"
    "Status: ${Status}\\nProvides: ${Provides}\\nDepends: ${Depends}\\n"
    "Pre-Depends: ${Pre-Depends}\\n\\n"
)

# Package states in which the package's files are on disk.
_PRESENT_STATES = {"installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending"}

_RELATION_NOISE_RE = re.compile(r"\(.*?\)|\[.*?\]|<.*?>")

# Top-level directories that are symlinks into /usr on a merged-/usr system.
_MERGED_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Package:
    """An installed Debian package with the relations the closure follows."""

    name: str
    arch: str
    version: str
    depends: tuple[tuple[str, ...], ...]  # Depends + Pre-Depends; each group lists alternatives
    provides: tuple[str, ...] = ()


# ------------------------------------------------------------------ parsing


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Split a dpkg control text (status file format) into field dictionaries."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last_key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last_key = {}, None
        elif line[0] in " \t":
            if last_key is not None:  # continuation of a multi-line field
                current[last_key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            last_key = key.strip()
            current[last_key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_relation_field(value: str) -> tuple[tuple[str, ...], ...]:
    """Parse a Depends-style field into groups of alternative package names.

    Version constraints, architecture qualifiers (`:any`, `:amd64`), architecture
    restrictions (`[amd64]`) and build profiles (`<!nocheck>`) are dropped.
    """
    groups: list[tuple[str, ...]] = []
    for group in value.split(","):
        names = []
        for alternative in group.split("|"):
            alternative = _RELATION_NOISE_RE.sub(" ", alternative).strip()
            if not alternative:
                continue
            name = alternative.split()[0].split(":")[0]
            names.append(name)
        if names:
            groups.append(tuple(names))
    return tuple(groups)


def parse_status(text: str, native_arch: str | None = None) -> dict[str, Package]:
    """Installed packages, by name, from status-format text.

    With `native_arch`, packages of foreign architectures are ignored: a job's
    /usr is built for the machine's own architecture.
    """
    packages: dict[str, Package] = {}
    for fields in parse_stanzas(text):
        name = fields.get("Package")
        if not name:
            continue
        status = fields.get("Status", "").split()
        if not status or status[-1] not in _PRESENT_STATES:
            continue
        arch = fields.get("Architecture", "")
        if native_arch is not None and arch not in (native_arch, "all"):
            continue
        depends = parse_relation_field(fields.get("Pre-Depends", "")) \
            + parse_relation_field(fields.get("Depends", ""))
        provides = tuple(group[0] for group in parse_relation_field(fields.get("Provides", "")))
        packages[name] = Package(name=name, arch=arch, version=fields.get("Version", ""),
                                 depends=depends, provides=provides)
    return packages


def parse_diversions(text: str) -> dict[str, tuple[str, str]]:
    """Diversions from /var/lib/dpkg/diversions: path -> (diverted-to path, diverting package)."""
    lines = text.splitlines()
    return {lines[i]: (lines[i + 1], lines[i + 2]) for i in range(0, len(lines) - 2, 3)}


def parse_alternative(name: str, text: str) -> list[tuple[str, str]]:
    """The (alternative name, link path) pairs of /var/lib/dpkg/alternatives/<name>: master, then slaves."""
    lines = text.splitlines()
    if len(lines) < 2:
        return []
    pairs = [(name, lines[1])]
    # After the mode and master link come (slave name, slave link) pairs up to a blank line.
    index = 2
    while index + 1 < len(lines) and lines[index]:
        pairs.append((lines[index], lines[index + 1]))
        index += 2
    return pairs


# ------------------------------------------------------------------ queries


def native_architecture() -> str:
    """The machine's dpkg architecture (`amd64`)."""
    return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True,
                          text=True).stdout.strip()


def query_installed() -> dict[str, Package]:
    """Installed packages of the native architecture, asked from dpkg-query."""
    result = subprocess.run(["dpkg-query", "-W", "-f", _QUERY_FORMAT], capture_output=True,
                            text=True, check=False)
    if result.returncode not in (0, 1):  # 1: some package had no info, which is fine
        raise RuntimeError(f"dpkg-query failed: {result.stderr.strip()}")
    return parse_status(result.stdout, native_architecture())


def read_diversions(path: Path = DPKG_DIVERSIONS) -> dict[str, tuple[str, str]]:
    """The host's dpkg diversions (empty when there are none)."""
    try:
        return parse_diversions(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def read_alternatives(directory: Path = DPKG_ALTERNATIVES_DIR) -> list[tuple[str, str]]:
    """Every alternative link as (link path, fully resolved target), sorted by link."""
    links: list[tuple[str, str]] = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    for name in names:
        try:
            text = (directory / name).read_text(encoding="utf-8")
        except OSError:
            continue
        for alt_name, link in parse_alternative(name, text):
            # The link points at /etc/alternatives/<alt_name>, which points at the choice.
            etc_link = posixpath.join(ETC_ALTERNATIVES, alt_name)
            if os.path.islink(etc_link):
                links.append((link, os.path.realpath(etc_link)))
    return sorted(links)


def package_files(package: Package, info_dir: Path = DPKG_INFO_DIR) -> list[str]:
    """The paths dpkg recorded for `package` (directories included)."""
    for list_name in (f"{package.name}.list", f"{package.name}:{package.arch}.list"):
        try:
            text = (info_dir / list_name).read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            continue
        return [line for line in text.splitlines() if line]
    result = subprocess.run(["dpkg-query", "-L", f"{package.name}:{package.arch}"],
                            capture_output=True, text=True, check=True)
    return [line for line in result.stdout.splitlines() if line.startswith("/")]


# ------------------------------------------------------------------ closure


def providers_index(installed: dict[str, Package]) -> dict[str, list[str]]:
    """Virtual package name -> installed packages that provide it (sorted)."""
    index: dict[str, list[str]] = {}
    for package in installed.values():
        for virtual in package.provides:
            index.setdefault(virtual, []).append(package.name)
    for names in index.values():
        names.sort()
    return index


def resolve_name(name: str, installed: dict[str, Package],
                 providers: dict[str, list[str]]) -> str | None:
    """The installed package that satisfies `name`: itself, else its first provider."""
    if name in installed:
        return name
    candidates = providers.get(name)
    return candidates[0] if candidates else None


def missing_packages(names: list[str] | tuple[str, ...], installed: dict[str, Package]) -> list[str]:
    """The names that no installed package satisfies."""
    providers = providers_index(installed)
    return [n for n in names if resolve_name(n, installed, providers) is None]


def resolve_closure(roots: list[str] | tuple[str, ...],
                    installed: dict[str, Package]) -> tuple[list[Package], list[str]]:
    """Packages reachable from `roots` through Depends and Pre-Depends, sorted by name.

    Of alternatives `a | b` the first installed one is taken. Recommends are not
    followed. The second result lists what could not be satisfied.
    """
    providers = providers_index(installed)
    seen: dict[str, Package] = {}
    unresolved: list[str] = []
    queue: deque[str] = deque()
    for root in roots:
        found = resolve_name(root, installed, providers)
        if found is None:
            unresolved.append(root)
        else:
            queue.append(found)
    while queue:
        name = queue.popleft()
        if name in seen:
            continue
        package = installed[name]
        seen[name] = package
        for group in package.depends:
            found = next((f for f in (resolve_name(a, installed, providers) for a in group)
                          if f is not None), None)
            if found is None:
                unresolved.append(f"{' | '.join(group)} (needed by {name})")
            elif found not in seen:
                queue.append(found)
    return sorted(seen.values(), key=lambda p: p.name), unresolved


# ------------------------------------------------------------------ paths and versions


def normalise_path(path: str) -> str:
    """Map a path to its merged-/usr location (`/lib/x` -> `/usr/lib/x`) and normalise it."""
    path = posixpath.normpath("/" + path.lstrip("/"))
    parts = path.split("/", 2)  # ["", first component, rest]
    if parts[1] in _MERGED_DIRS:
        path = "/usr/" + "/".join(parts[1:])
    return path


def merged_dirs(root: str = "/") -> frozenset[str]:
    """The top-level directories that are symlinks into /usr on this host (`lib`, `bin`, ...)."""
    return frozenset(d for d in _MERGED_DIRS if os.path.islink(posixpath.join(root, d)))


def is_under(path: str, directory: str) -> bool:
    """Whether normalised `path` is `directory` or lies below it."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def divert(path: str, package: str, diversions: dict[str, tuple[str, str]]) -> str:
    """Where `package`'s file `path` really lives, given dpkg diversions."""
    entry = diversions.get(path)
    if entry is None:
        return path
    target, diverter = entry
    # The diverting package keeps the original name; everyone else's copy is moved.
    return path if diverter == package else target


def upstream_version(version: str) -> str:
    """The upstream part of a Debian version: `1:2.3.4-5` -> `2.3.4`, `1.96.0+dfsg1-1~deb12u2` -> `1.96.0`."""
    version = version.strip()
    if re.match(r"\d+:", version):
        version = version.split(":", 1)[1]
    if "-" in version:
        version = version.rsplit("-", 1)[0]
    version = version.split("+", 1)[0]
    # Repacking and backport markers are Debian's, not upstream's.
    version = re.sub(r"[.~](dfsg|ds|repack)\d*$", "", version)
    version = re.sub(r"~(deb|bpo|ubuntu)[^~]*$", "", version)
    return version
