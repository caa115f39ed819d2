"""The host builder: environment descriptions + Debian packages -> manifests the daemon reads.

For an environment `<id>` it writes, under the output folder:

* `roots/<id>/usr/`: the files of the Debian package closure (mounted at /usr in the job);
* `scripts/<id>/{compile.sh,run.sh,closure}` (the scripts are mounted at /sandkasten; the
  closure file, Nix's list of store paths, is empty);
* `share/sandkasten/packages/<id>.json`: the manifest;
* `roots/<id>.stamp`: what the build was made from, so unchanged environments are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import sandkasten_py
from sandkasten_py.hostbuild import debian, files, npm, sources, tree
from sandkasten_py.hostbuild.description import (
    Description,
    DescriptionError,
    description_files,
    load_all,
)
from sandkasten_py.jobvars import JOB_VARIABLES

# Bump when the output for the same inputs changes, so old builds are redone.
BUILDER_VERSION = "4"
# Scripts run with /usr/bin/bash, every job expects the basic tools, and launchers of many
# toolchains are `#!/bin/sh` scripts (dash provides /usr/bin/sh).
ALWAYS_PACKAGES = ("bash", "coreutils", "dash")
DEFAULT_PATH = "/usr/bin"
MERGED_USR_SYMLINKS = (("/lib", "/usr/lib"), ("/lib64", "/usr/lib64"),
                       ("/bin", "/usr/bin"), ("/sbin", "/usr/sbin"))
MANIFEST_DIR = Path("share/sandkasten/packages")
# Where a job sees the environment's scripts. A fixed place, not the host path: the host path
# may lie under /tmp or /box, and its mount point would then show up in the job's own /tmp.
JAIL_SCRIPTS = "/sandkasten"



@dataclass(frozen=True)
class Layout:
    """Where the outputs of an environment go, all absolute."""

    out: Path

    def root(self, env_id: str) -> Path:
        """Folder holding the environment's `usr/` (and extra paths)."""
        return self.out / "roots" / env_id

    def stamp(self, env_id: str) -> Path:
        """File recording the inputs of the last complete build."""
        return self.out / "roots" / f"{env_id}.stamp"

    def scripts(self, env_id: str) -> Path:
        """Folder with compile.sh, run.sh and closure."""
        return self.out / "scripts" / env_id

    def manifest(self, env_id: str) -> Path:
        """The manifest the daemon reads."""
        return self.out / MANIFEST_DIR / f"{env_id}.json"


@dataclass
class HostState:
    """What the host's dpkg says, read once per run."""

    installed: dict[str, debian.Package]
    diversions: dict[str, tuple[str, str]]
    alternatives: list[tuple[str, str]]
    merged: frozenset[str]
    file_cache: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def read(cls) -> HostState:
        """Ask dpkg about installed packages, diversions and alternatives."""
        return cls(debian.query_installed(), debian.read_diversions(), debian.read_alternatives(),
                   debian.merged_dirs())

    def files(self, package: debian.Package) -> list[str]:
        """The dpkg file list of an installed package (cached: environments share packages)."""
        if package.name not in self.file_cache:
            self.file_cache[package.name] = debian.package_files(package)
        return self.file_cache[package.name]


class Skip(Exception):
    """An environment cannot be built on this host; the message says why."""


# ------------------------------------------------------------------ pure parts


def host_packages(desc: Description) -> list[str]:
    """The Debian packages an environment's /usr is made from."""
    assert desc.host is not None
    return list(dict.fromkeys([*desc.host.packages, *ALWAYS_PACKAGES]))


def apt_packages(descs: list[Description]) -> list[str]:
    """Every Debian package the host builds of `descs` need, without duplicates."""
    names: list[str] = []
    for desc in descs:
        if desc.host is not None:
            names += host_packages(desc)
            if desc.build is not None:
                names += desc.build.host_packages
            if desc.version is None and desc.host.version:
                names.append(desc.host.version)
    return list(dict.fromkeys(names))


def script_text(body: str, path: str, env: dict[str, str], npm_dir: str | None = None,
                built_dir: str | None = None) -> str:
    """A job script: bash shebang, PATH and `[env]` exports, where the `[[npm]]` packages and
    what `build.sh` made are (variables the script's own programs do not inherit), then the body
    without its shebang."""
    lines = ["#!/usr/bin/bash", f"export PATH={shlex.quote(path)}",
             # The daemon tells the script the job's limits; the program does not inherit them.
             f"export -n {' '.join(JOB_VARIABLES)}"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    if npm_dir is not None:
        lines.append(f"SANDKASTEN_NPM={shlex.quote(npm_dir)}")
    if built_dir is not None:
        lines.append(f"SANDKASTEN_BUILT={shlex.quote(built_dir)}")
    if body.startswith("#!"):
        body = body.partition("\n")[2]
    return "\n".join(lines) + "\n" + body


def closure_entries(packages: list[debian.Package], files_of: Callable[[debian.Package], list[str]],
                    diversions: dict[str, tuple[str, str]],
                    merged: frozenset[str] = frozenset()) -> dict[str, str]:
    """Jail path -> host path for every path of `packages` that belongs under /usr.

    `merged` names the host's top-level directories that are symlinks into /usr;
    their files are taken from the /usr side, so that `/lib` itself is never
    mistaken for a file of the tree.
    """
    entries: dict[str, str] = {}
    for package in packages:
        for listed in files_of(package):
            diverted = debian.divert(listed, package.name, diversions)
            target = debian.normalise_path(diverted)
            if target == "/usr" or not debian.is_under(target, "/usr"):
                continue
            top = diverted.lstrip("/").split("/", 1)[0]
            entries[target] = target if top in merged else diverted
    return entries


def manifest_data(desc: Description, version: str, layout: Layout) -> dict[str, Any]:
    """The manifest of a host-built environment, in the field order of the format."""
    assert desc.host is not None
    scripts = layout.scripts(desc.id)
    root = layout.root(desc.id)
    test: dict[str, Any] = {
        "main_file": {"content": desc.test.main_file.content},
        "files": [{"name": f.name, "content": f.content} for f in desc.test.files],
    }
    if desc.test.expected is not None:
        test["expected"] = desc.test.expected
    mounts = [{"source": str(root / "usr"), "target": "/usr"},
              {"source": str(scripts), "target": JAIL_SCRIPTS}]
    mounts += [{"source": str(root) + path.rstrip("/"), "target": path.rstrip("/")}
               for path in desc.host.extra_paths]
    manifest = {
        "sandkasten_version": sandkasten_py.__version__,
        "name": desc.name,
        "version": version,
        "meta": desc.meta,
        "default_main_file_name": desc.default_main_file_name,
        "example": desc.example,
        "test": test,
        "compile_script": f"{JAIL_SCRIPTS}/compile.sh" if desc.compile_script is not None else None,
        "run_script": f"{JAIL_SCRIPTS}/run.sh",
        "closure": str(scripts / "closure"),
        "mounts": mounts,
        "symlinks": [{"path": path, "target": target} for path, target in MERGED_USR_SYMLINKS],
    }
    if desc.runner is not None:
        manifest["runner"] = desc.runner
    if desc.compile_args is not None:
        manifest["compile_args"] = desc.compile_args
    return manifest


def compute_stamp(desc: Description, closure: list[debian.Package], layout: Layout,
                  host: HostState) -> str:
    """A hash of everything a build depends on."""
    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        digest.update(json.dumps(parts).encode() + b"\n")

    add("builder", BUILDER_VERSION, sandkasten_py.__version__, str(layout.out))
    add("job variables", list(JOB_VARIABLES))  # the scripts' header un-exports them
    for path in description_files(desc.directory):
        add("file", str(path.relative_to(desc.directory)),
            hashlib.sha256(path.read_bytes()).hexdigest())
    for package in closure:
        add("package", package.name, package.arch, package.version)
    add("diversions", sorted(host.diversions.items()))
    add("alternatives", host.alternatives)
    add("merged", sorted(host.merged))
    assert desc.host is not None
    for extra in desc.host.extra_paths:
        for extra_file, info in files.walk_stats(extra):
            add("extra", extra_file, info.st_mode, info.st_size, info.st_mtime_ns)
    return digest.hexdigest()


# ------------------------------------------------------------------ building


def prepare(desc: Description, host: HostState) -> tuple[list[debian.Package], str]:
    """The package closure and the version of an environment, or Skip."""
    assert desc.host is not None
    roots = host_packages(desc)
    build_tools = list(desc.build.host_packages) if desc.build is not None else []
    missing = debian.missing_packages(roots + build_tools, host.installed)
    if missing:
        raise Skip(f"Debian packages not installed: {' '.join(missing)} "
                   f"(apt-get install {' '.join(missing)})")
    closure, unresolved = debian.resolve_closure(roots, host.installed)
    if unresolved:
        raise Skip(f"unsatisfied Debian dependencies: {'; '.join(unresolved)}")
    if desc.version is not None:
        version = desc.version
    else:
        version_package = host.installed.get(desc.host.version or "")
        if version_package is None:
            raise Skip(f"Debian package {desc.host.version} (which gives the version) is not installed")
        version = debian.upstream_version(version_package.version)
    for extra in desc.host.extra_paths:
        if not os.path.lexists(extra):
            raise Skip(f"extra path {extra} does not exist on this host")
    return closure, version


def fetch_npm(desc: Description, layout: Layout) -> list[bytes]:
    """The tarballs of the environment's `[[npm]]` packages (cached), or Skip."""
    try:
        return [npm.fetch(package, layout.out / "npm-cache") for package in desc.npm]
    except npm.NpmError as exc:
        raise Skip(str(exc)) from None


def fetch_sources(desc: Description, layout: Layout) -> list[Path]:
    """The archives of the environment's `[[build.sources]]` (cached), or Skip."""
    if desc.build is None:
        return []
    try:
        return [sources.fetch(source, layout.out / "sources-cache") for source in desc.build.sources]
    except sources.SourceError as exc:
        raise Skip(str(exc)) from None


def build_environment(desc: Description, layout: Layout, host: HostState,
                      force: bool = False) -> str | None:
    """Build one environment; returns the line to print, or None when it was up to date."""
    closure, version = prepare(desc, host)
    tarballs = fetch_npm(desc, layout)
    archives = fetch_sources(desc, layout)
    stamp = compute_stamp(desc, closure, layout, host)
    stamp_path = layout.stamp(desc.id)
    if not force and files.read(stamp_path) == stamp and layout.manifest(desc.id).is_file() \
            and layout.root(desc.id).is_dir() and layout.scripts(desc.id).is_dir():
        return None

    started = time.monotonic()
    with contextlib.suppress(FileNotFoundError):
        stamp_path.unlink()  # a half-done rebuild must not look complete
    for folder in (layout.out / "roots", layout.out / "scripts", layout.out / MANIFEST_DIR):
        folder.mkdir(parents=True, exist_ok=True, mode=tree.DIR_MODE)

    _build_scripts(desc, layout)
    stats = _build_root(desc, closure, layout, host, tarballs, archives)
    files.write_file(layout.manifest(desc.id),
                json.dumps(manifest_data(desc, version, layout), indent=2, ensure_ascii=False) + "\n")
    files.write_file(stamp_path, stamp + "\n")
    seconds = time.monotonic() - started
    return (f"{desc.id}: built {desc.name} {version} from {len(closure)} Debian packages "
            f"({stats.files} files, {stats.bytes / 1e6:.1f} MB) in {seconds:.1f} s")


def build(descs: list[Description], out: Path, force: bool = False) -> int:
    """Build `descs` into `out`; prints one line per built or skipped environment."""
    layout = Layout(Path(os.path.abspath(out)))
    layout.out.mkdir(parents=True, exist_ok=True, mode=tree.DIR_MODE)
    status = 0
    built = False
    nix_only = []
    with files.umask(0o022), files.locked(layout.out / ".hostbuild.lock"):
        host = HostState.read()
        for desc in descs:
            if desc.host is None:
                nix_only.append(f"{desc.id}: skipped: no [host] section in {desc.directory}/package.toml")
                continue
            try:
                line = build_environment(desc, layout, host, force)
            except Skip as exc:
                print(f"{desc.id}: skipped: {exc}", flush=True)
                continue
            except Exception as exc:  # one broken environment must not stop the others
                print(f"{desc.id}: build failed: {exc!r}", file=sys.stderr)
                status = 1
                continue
            finally:
                _remove_leftovers(layout, desc.id)
            if line is not None:
                print(line, flush=True)
                built = True
    if built:
        files.warn_if_unreachable(layout.out)
    # Environments that exist only for Nix are named when something was built, so that a run
    # with nothing to do stays silent (`make setup` is quiet when nothing changed).
    if built or len(descs) == len(nix_only):
        for line in nix_only:
            print(line)
    return status


def _build_scripts(desc: Description, layout: Layout) -> None:
    assert desc.host is not None
    final = layout.scripts(desc.id)
    temp = files.temp_sibling(final)
    temp.mkdir(mode=tree.DIR_MODE)
    path = desc.host.path or DEFAULT_PATH
    scripts = {"run.sh": desc.run_script}
    if desc.compile_script is not None:
        scripts["compile.sh"] = desc.compile_script
    npm_dir = npm.JAIL_DIRECTORY if desc.npm else None
    built_dir = sources.JAIL_DIRECTORY if desc.build is not None else None
    for name, body in scripts.items():
        files.write_plain(temp / name, script_text(body, path, desc.env, npm_dir, built_dir), 0o755)
    # Nothing is mounted at its host path (the format's "closure"); see `manifest_data` mounts.
    files.write_plain(temp / "closure", "", 0o644)
    files.swap_in(temp, final)


def _build_root(desc: Description, closure: list[debian.Package], layout: Layout,
                host: HostState, tarballs: list[bytes], archives: list[Path]) -> tree.TreeStats:
    assert desc.host is not None
    final = layout.root(desc.id)
    temp = files.temp_sibling(final)
    temp.mkdir(mode=tree.DIR_MODE)
    (temp / "usr").mkdir(mode=tree.DIR_MODE)
    entries = closure_entries(closure, host.files, host.diversions, host.merged)
    entries.update(tree.pycache_companions(entries))
    stats = tree.build_tree(str(temp), entries, host.alternatives)
    for extra in desc.host.extra_paths:
        tree.copy_host_path(extra, str(temp) + extra.rstrip("/"))
    for package, tarball in zip(desc.npm, tarballs, strict=True):
        npm.unpack(tarball, temp / npm.JAIL_DIRECTORY.lstrip("/") / package.name)
    if desc.build is not None:
        sources.run_build(desc, archives, temp / sources.JAIL_DIRECTORY.lstrip("/"))
    files.swap_in(temp, final)
    return stats


def _remove_leftovers(layout: Layout, env_id: str) -> None:
    # Left by an interrupted build; the lock makes sure no other build owns them.
    for parent in (layout.out / "roots", layout.out / "scripts"):
        for leftover in glob.glob(str(parent / f".{glob.escape(env_id)}.tmp-*")):
            shutil.rmtree(leftover, ignore_errors=True)


# ------------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None, prog: str = "sandkasten host-build") -> argparse.Namespace:
    """The command line of the host builder."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Build environments from nix/packages descriptions using the host's "
                    "Debian packages, and write manifests the daemon reads.")
    parser.add_argument("ids", nargs="*", help="environments to build (default: all)")
    parser.add_argument("--packages-dir", type=Path, default=Path("nix/packages"),
                        help="folder of environment descriptions (default: nix/packages)")
    parser.add_argument("--out", type=Path, default=Path("pkgs"),
                        help="output folder (default: pkgs); manifests go to "
                             "<out>/share/sandkasten/packages")
    parser.add_argument("--print-apt-packages", action="store_true",
                        help="print the Debian packages the environments need, on one line, and exit")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even when nothing changed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, prog: str = "sandkasten host-build") -> int:
    """Entry point of the host builder; returns the exit status."""
    args = parse_args(argv, prog)
    try:
        descs = load_all(args.packages_dir, args.ids)
    except (DescriptionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.print_apt_packages:
        print(" ".join(apt_packages(descs)))
        return 0
    return build(descs, args.out, args.force)
