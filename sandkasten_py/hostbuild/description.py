"""Reading environment descriptions (`nix/packages/<id>/package.toml`).

Nothing here knows about Debian or Nix beyond keeping their tables as plain
data, so the daemon's tooling can list and inspect environments with it too.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

DESCRIPTION_FILE = "package.toml"
RUN_SCRIPT = "run.sh"
COMPILE_SCRIPT = "compile.sh"
BUILD_SCRIPT = "build.sh"
DEFAULT_EXPECTED = "OK"

_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TOP_KEYS = {"name", "default_main_file_name", "version", "example", "env", "meta", "test", "nix", "host",
             "npm", "runner", "compile_args", "build"}
_BUILD_KEYS = {"nix_packages", "host_packages", "sources"}
_SOURCE_KEYS = {"url", "sha256"}
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_SOURCE_URL_RE = re.compile(r"https://[^\s/]+/[^\s]*[^/\s]")
_TEST_KEYS = {"main_file", "files", "expected", "checks_inputs"}
_HOST_KEYS = {"packages", "version", "path", "extra_paths"}
_NPM_KEYS = {"name", "version", "integrity"}
_NPM_NAME_RE = re.compile(r"(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*")
_NPM_VERSION_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?")
_INTEGRITY_RE = re.compile(r"sha512-[A-Za-z0-9+/]{86}==")
NPM_REGISTRY = "https://registry.npmjs.org"


class DescriptionError(Exception):
    """A description is missing, malformed or refers to files that do not exist."""


@dataclass(frozen=True)
class SourceFile:
    """A file of the conformance program: the name it is sent under and its text."""

    name: str
    content: str


@dataclass(frozen=True)
class TestProgram:
    """The conformance program: main file (sent without a name), more files, expected stdout."""

    main_file: SourceFile
    files: tuple[SourceFile, ...]
    expected: str | None = None  # None: not given, the daemon's default "OK" applies
    checks_inputs: bool = True
    """Whether the program checks stdin, args and test.txt (false where the language cannot
    see them, such as SQL, whose program only prints its expected output)."""

    @property
    def expected_output(self) -> str:
        """The stdout (trimmed) that counts as success."""
        return DEFAULT_EXPECTED if self.expected is None else self.expected


@dataclass(frozen=True)
class NixSpec:
    """The `[nix]` table: nixpkgs attributes and the attribute giving the version."""

    packages: tuple[str, ...]
    version: str | None


@dataclass(frozen=True)
class HostSpec:
    """The `[host]` table: Debian packages, the version package, PATH and extra host paths."""

    packages: tuple[str, ...]
    version: str | None
    path: str | None = None
    extra_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class NpmPackage:
    """A package of the npm registry the environment carries (`[[npm]]`), pinned by its hash.

    Both builders put it at `$SANDKASTEN_NPM/<name>` (a variable of the scripts' header)."""

    name: str
    version: str
    integrity: str
    """The registry's `dist.integrity`: `sha512-` and the base64 SHA-512 of the tarball."""

    @property
    def tarball_url(self) -> str:
        """Where the registry serves the tarball."""
        return f"{NPM_REGISTRY}/{self.name}/-/{self.name.rpartition('/')[2]}-{self.version}.tgz"


@dataclass(frozen=True)
class Source:
    """A source archive that `build.sh` uses, checked by its SHA-256."""

    url: str
    sha256: str

    @property
    def file_name(self) -> str:
        """The name `build.sh` finds it under, in its working directory."""
        return self.url.rpartition("/")[2]


@dataclass(frozen=True)
class BuildSpec:
    """`build.sh` and the `[build]` table: files made once, when the environment is built, into
    `$out`, which the scripts find as `$SANDKASTEN_BUILT`."""

    script: str
    nix_packages: tuple[str, ...] = ()
    """nixpkgs attributes on PATH while it runs (not in the jobs' environment)."""
    host_packages: tuple[str, ...] = ()
    """Debian packages it needs on the host (installed by `make setup`, not in the jobs' /usr)."""
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class Description:
    """One environment as described in its folder."""

    id: str
    directory: Path
    name: str
    default_main_file_name: str
    version: str | None
    example: str | None
    env: dict[str, str]
    meta: dict[str, Any]
    test: TestProgram
    run_script: str
    compile_script: str | None
    nix: NixSpec | None
    host: HostSpec | None
    npm: tuple[NpmPackage, ...] = ()
    runner: str | None = None
    """The sandbox that runs the environment's steps (the manifest's `runner`); None: nsjail."""
    compile_args: str | None = None
    """The policy for a build's `compile_args` (the manifest's `compile_args`); None: none allowed."""
    build: BuildSpec | None = None
    """`build.sh` and its `[build]` table; None: nothing is made at build time."""


def load_description(directory: Path) -> Description:
    """Read and validate the description in `directory` (its name is the environment id)."""
    directory = Path(directory)
    toml_path = directory / DESCRIPTION_FILE
    try:
        text = toml_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DescriptionError(f"{toml_path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DescriptionError(f"{toml_path}: invalid TOML: {exc}") from exc
    return parse_description(data, directory)


def load_all(packages_dir: Path, ids: list[str] | None = None) -> list[Description]:
    """Read the descriptions of `ids` (default: every folder with a package.toml), sorted by id."""
    packages_dir = Path(packages_dir)
    if ids:
        missing = [i for i in ids if not (packages_dir / i / DESCRIPTION_FILE).is_file()]
        if missing:
            raise DescriptionError(
                f"{packages_dir}: no such environment: {', '.join(missing)}")
        names = list(dict.fromkeys(ids))
    else:
        names = sorted(p.name for p in packages_dir.iterdir()
                       if (p / DESCRIPTION_FILE).is_file())
    return [load_description(packages_dir / name) for name in names]


def parse_description(data: dict[str, Any], directory: Path) -> Description:
    """Validate parsed TOML `data` of the folder `directory` and resolve its files."""
    directory = Path(directory)
    where = str(directory / DESCRIPTION_FILE)
    env_id = directory.name
    if not _ID_RE.fullmatch(env_id):
        raise DescriptionError(f"{directory}: folder name {env_id!r} is not a valid environment id")
    _reject_unknown(data, _TOP_KEYS, where, "")

    name = _req_str(data, "name", where)
    main_name = _req_str(data, "default_main_file_name", where)
    if "/" in main_name:
        raise DescriptionError(f"{where}: `default_main_file_name` must be a plain file name")
    version = _opt_str(data, "version", where)
    runner = _opt_str(data, "runner", where)
    compile_args = _opt_str(data, "compile_args", where)
    example_file = _opt_str(data, "example", where)
    example = _read_rel(directory, example_file, where, "example") if example_file else None

    env = _table(data, "env", where)
    for key, value in env.items():
        if not _ENV_NAME_RE.fullmatch(key):
            raise DescriptionError(f"{where}: `env.{key}` is not a valid variable name")
        if not isinstance(value, str):
            raise DescriptionError(f"{where}: `env.{key}` must be a string")
    meta = _table(data, "meta", where)

    test = _parse_test(data, directory, where)
    nix = _parse_nix(data, where) if "nix" in data else None
    host = _parse_host(data, where) if "host" in data else None
    npm = _parse_npm(data, where)
    if version is None:
        # Without a fixed version each builder needs its own way to find one.
        for section, spec in (("nix", nix), ("host", host)):
            if spec is not None and spec.version is None:
                raise DescriptionError(
                    f"{where}: missing key `{section}.version` (there is no fixed `version`)")

    run_script = _read_rel(directory, RUN_SCRIPT, where, "run script")
    build = _parse_build(data, directory, where)
    compile_path = directory / COMPILE_SCRIPT
    compile_script = _read_rel(directory, COMPILE_SCRIPT, where, "compile script") \
        if compile_path.exists() else None

    return Description(
        id=env_id, directory=directory, name=name, default_main_file_name=main_name,
        version=version, example=example, env=dict(env), meta=dict(meta), test=test,
        run_script=run_script, compile_script=compile_script, nix=nix, host=host, npm=npm,
        runner=runner, compile_args=compile_args, build=build,
    )


def description_files(directory: Path) -> list[Path]:
    """Every regular file of a description folder, sorted (used to detect changes)."""
    return sorted(p for p in Path(directory).rglob("*") if p.is_file())


# ------------------------------------------------------------------ helpers


def _parse_test(data: dict[str, Any], directory: Path, where: str) -> TestProgram:
    test = _table(data, "test", where, required=True)
    _reject_unknown(test, _TEST_KEYS, where, "test.")
    main_path = _req_str(test, "main_file", where, "test.")
    main = SourceFile(PurePosixPath(main_path).name,
                      _read_rel(directory, main_path, where, "test.main_file"))
    files = []
    for index, rel in enumerate(_str_list(test, "files", where, "test.")):
        content = _read_rel(directory, rel, where, f"test.files[{index}]")
        files.append(SourceFile(PurePosixPath(rel).name, content))
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise DescriptionError(f"{where}: `test.files` has two files with the same base name")
    expected = _opt_str(test, "expected", where, "test.")
    checks_inputs = test.get("checks_inputs", True)
    if not isinstance(checks_inputs, bool):
        raise DescriptionError(f"{where}: `test.checks_inputs` must be true or false")
    return TestProgram(main_file=main, files=tuple(files), expected=expected,
                       checks_inputs=checks_inputs)


def _parse_nix(data: dict[str, Any], where: str) -> NixSpec:
    nix = _table(data, "nix", where)
    # Unknown [nix] keys are left to the Nix builder, which owns that table.
    return NixSpec(packages=tuple(_str_list(nix, "packages", where, "nix.")),
                   version=_opt_str(nix, "version", where, "nix."))


def _parse_host(data: dict[str, Any], where: str) -> HostSpec:
    host = _table(data, "host", where)
    _reject_unknown(host, _HOST_KEYS, where, "host.")
    packages = tuple(_str_list(host, "packages", where, "host."))
    if not packages:
        raise DescriptionError(f"{where}: `host.packages` must list at least one Debian package")
    extra = tuple(_str_list(host, "extra_paths", where, "host."))
    for index, path in enumerate(extra):
        if not path.startswith("/") or ".." in PurePosixPath(path).parts or path.rstrip("/") == "":
            raise DescriptionError(f"{where}: `host.extra_paths[{index}]` must be an absolute path")
    return HostSpec(packages=packages, version=_opt_str(host, "version", where, "host."),
                    path=_opt_str(host, "path", where, "host."), extra_paths=extra)


def _parse_npm(data: dict[str, Any], where: str) -> tuple[NpmPackage, ...]:
    entries = data.get("npm", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise DescriptionError(f"{where}: `npm` must be an array of tables (`[[npm]]`)")
    packages = []
    for index, entry in enumerate(entries):
        prefix = f"npm[{index}]."
        _reject_unknown(entry, _NPM_KEYS, where, prefix)
        package = NpmPackage(name=_req_str(entry, "name", where, prefix),
                             version=_req_str(entry, "version", where, prefix),
                             integrity=_req_str(entry, "integrity", where, prefix))
        for key, pattern in (("name", _NPM_NAME_RE), ("version", _NPM_VERSION_RE),
                             ("integrity", _INTEGRITY_RE)):
            if not pattern.fullmatch(getattr(package, key)):
                raise DescriptionError(f"{where}: `{prefix}{key}` is not a valid npm {key}: "
                                       f"{getattr(package, key)!r}")
        packages.append(package)
    if len({p.name for p in packages}) != len(packages):
        raise DescriptionError(f"{where}: `npm` names a package twice")
    return tuple(packages)


def _parse_build(data: dict[str, Any], directory: Path, where: str) -> BuildSpec | None:
    has_script = (directory / BUILD_SCRIPT).exists()
    if "build" in data and not has_script:
        raise DescriptionError(f"{where}: a `[build]` table needs {BUILD_SCRIPT} in the folder")
    if not has_script:
        return None
    table = _table(data, "build", where)
    _reject_unknown(table, _BUILD_KEYS, where, "build.")
    entries = table.get("sources", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise DescriptionError(f"{where}: `build.sources` must be an array of tables (`[[build.sources]]`)")
    sources = []
    for index, entry in enumerate(entries):
        prefix = f"build.sources[{index}]."
        _reject_unknown(entry, _SOURCE_KEYS, where, prefix)
        source = Source(url=_req_str(entry, "url", where, prefix), sha256=_req_str(entry, "sha256", where, prefix))
        if not _SOURCE_URL_RE.fullmatch(source.url):
            raise DescriptionError(f"{where}: `{prefix}url` must be an https URL of a file: {source.url!r}")
        if not _SHA256_RE.fullmatch(source.sha256):
            raise DescriptionError(f"{where}: `{prefix}sha256` must be 64 lower-case hex digits")
        sources.append(source)
    if len({s.file_name for s in sources}) != len(sources):
        raise DescriptionError(f"{where}: two `build.sources` have the same file name")
    return BuildSpec(script=_read_rel(directory, BUILD_SCRIPT, where, "build script"),
                     nix_packages=tuple(_str_list(table, "nix_packages", where, "build.")),
                     host_packages=tuple(_str_list(table, "host_packages", where, "build.")),
                     sources=tuple(sources))


def _reject_unknown(table: dict[str, Any], known: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            raise DescriptionError(f"{where}: unknown key `{prefix}{key}`")


def _table(data: dict[str, Any], key: str, where: str, required: bool = False) -> dict[str, Any]:
    if key not in data:
        if required:
            raise DescriptionError(f"{where}: missing required table `[{key}]`")
        return {}
    value = data[key]
    if not isinstance(value, dict):
        raise DescriptionError(f"{where}: `{key}` must be a table")
    return value


def _req_str(data: dict[str, Any], key: str, where: str, prefix: str = "") -> str:
    if key not in data:
        raise DescriptionError(f"{where}: missing required key `{prefix}{key}`")
    value = _opt_str(data, key, where, prefix)
    if not value:
        raise DescriptionError(f"{where}: `{prefix}{key}` must not be empty")
    return value


def _opt_str(data: dict[str, Any], key: str, where: str, prefix: str = "") -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise DescriptionError(f"{where}: `{prefix}{key}` must be a string")
    return value


def _str_list(data: dict[str, Any], key: str, where: str, prefix: str = "") -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DescriptionError(f"{where}: `{prefix}{key}` must be a list of non-empty strings")
    return value


def _read_rel(directory: Path, rel: str, where: str, what: str) -> str:
    rel_path = PurePosixPath(rel)
    # Files must stay inside the folder: both builders only ever see the folder.
    if rel_path.is_absolute() or ".." in rel_path.parts:
        raise DescriptionError(f"{where}: `{what}` must be a path inside {directory}")
    path = directory / rel_path
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DescriptionError(f"{where}: `{what}`: file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DescriptionError(f"{where}: `{what}`: cannot read {path}: {exc}") from exc
