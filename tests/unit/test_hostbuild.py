"""Unit tests of the host builder's pure parts: descriptions, dpkg data, paths, scripts, manifests."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

import sandkasten_py
from sandkasten_py.hostbuild import builder, debian, npm, sources, tree
from sandkasten_py.hostbuild.description import DescriptionError, NpmPackage, load_all, load_description

REPO = Path(__file__).resolve().parents[2]

PYTHON_TOML = """\
name = "Python"
default_main_file_name = "code.py"
example = "example.py"

[env]
HOME = "/tmp"
GREETING = "it's here"

[meta]
homepage = "https://www.python.org/"

[test]
main_file = "test/code.py"
files = ["test/foo.py"]

[nix]
packages = ["python311"]
version = "python311"

[host]
packages = ["python3"]
version = "python3.11"
"""


def make_env(root: Path, env_id: str = "python", toml: str = PYTHON_TOML,
             compile_script: str | None = None) -> Path:
    directory = root / env_id
    (directory / "test").mkdir(parents=True)
    (directory / "package.toml").write_text(toml)
    (directory / "run.sh").write_text('#!/usr/bin/env bash\npython3 /program/"$@"\n')
    if compile_script is not None:
        (directory / "compile.sh").write_text(compile_script)
    (directory / "example.py").write_text("print(f'Hello, {input()}!')\n")
    (directory / "test" / "code.py").write_text("import foo\n")
    (directory / "test" / "foo.py").write_text("print('OK')\n")
    return directory


# ------------------------------------------------------------------ descriptions


def test_description_is_parsed_and_files_resolved(tmp_path: Path) -> None:
    desc = load_description(make_env(tmp_path))
    assert desc.id == "python"
    assert desc.name == "Python"
    assert desc.default_main_file_name == "code.py"
    assert desc.version is None
    assert desc.example == "print(f'Hello, {input()}!')\n"
    assert desc.env == {"HOME": "/tmp", "GREETING": "it's here"}
    assert desc.meta == {"homepage": "https://www.python.org/"}
    assert desc.test.main_file.name == "code.py"
    assert desc.test.main_file.content == "import foo\n"
    assert [(f.name, f.content) for f in desc.test.files] == [("foo.py", "print('OK')\n")]
    assert desc.test.expected is None and desc.test.expected_output == "OK"
    assert desc.compile_script is None
    assert desc.run_script.startswith("#!/usr/bin/env bash")
    assert desc.nix is not None and desc.nix.packages == ("python311",)
    assert desc.host is not None and desc.host.packages == ("python3",)
    assert desc.host.version == "python3.11" and desc.host.extra_paths == ()


def test_missing_required_key_names_file_and_key(tmp_path: Path) -> None:
    directory = make_env(tmp_path, toml=PYTHON_TOML.replace('name = "Python"\n', ""))
    with pytest.raises(DescriptionError) as info:
        load_description(directory)
    message = str(info.value)
    assert str(directory / "package.toml") in message
    assert "`name`" in message


@pytest.mark.parametrize(("change", "key"), [
    (('[test]\n', '[test]\nmain = 1\n'), "test.main"),
    (('name = "Python"', 'name = 3'), "name"),
    (('files = ["test/foo.py"]', 'files = ["test/missing.py"]'), "test.files[0]"),
    (('main_file = "test/code.py"', 'main_file = "../code.py"'), "test.main_file"),
    (('HOME = "/tmp"', '"A-B" = "x"'), "env.A-B"),
    (('version = "python3.11"', 'path = "/usr/bin"'), "host.version"),
    (('packages = ["python3"]', 'packages = []'), "host.packages"),
    (('default_main_file_name', 'flavour = "x"\ndefault_main_file_name'), "flavour"),
])
def test_invalid_descriptions_are_rejected(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    directory = make_env(tmp_path, toml=PYTHON_TOML.replace(*change, 1))
    with pytest.raises(DescriptionError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_description(directory)


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    directory = make_env(tmp_path, toml="name = \n")
    with pytest.raises(DescriptionError, match="invalid TOML"):
        load_description(directory)


def test_fixed_version_and_extra_host_keys(tmp_path: Path) -> None:
    toml = PYTHON_TOML.replace('example = "example.py"', 'version = "17"') \
        .replace('version = "python3.11"', 'path = "/usr/bin:/usr/local/bin"\nextra_paths = ["/etc/java"]') \
        .replace('version = "python311"', "")
    desc = load_description(make_env(tmp_path, toml=toml, compile_script="gcc x\n"))
    assert desc.version == "17" and desc.example is None
    assert desc.compile_script == "gcc x\n"
    assert desc.host is not None
    assert desc.host.path == "/usr/bin:/usr/local/bin" and desc.host.extra_paths == ("/etc/java",)


def test_load_all_finds_folders_with_a_description(tmp_path: Path) -> None:
    make_env(tmp_path, "python")
    make_env(tmp_path, "bash")
    (tmp_path / "README.md").write_text("docs")
    (tmp_path / "empty").mkdir()
    assert [d.id for d in load_all(tmp_path)] == ["bash", "python"]
    assert [d.id for d in load_all(tmp_path, ["python"])] == ["python"]
    with pytest.raises(DescriptionError, match="no such environment: go"):
        load_all(tmp_path, ["go"])


def test_the_repository_descriptions_are_valid() -> None:
    descs = {d.id: d for d in load_all(REPO / "nix" / "packages")}
    assert {"python", "bash", "c", "cpp", "rust"} <= set(descs)
    for desc in descs.values():
        # SQL has no example (a query cannot read a name); swift and uiua exist only for Nix.
        assert (desc.example is None) == (desc.id == "sql"), desc.id
        assert (desc.host is None) == (desc.id in ("swift", "uiua")), desc.id
        assert desc.test.files, f"{desc.id}: the conformance program needs a second file"
        assert desc.default_main_file_name.startswith("code."), desc.id


# ------------------------------------------------------------------ dpkg data

STATUS = """\
Package: app
Status: install ok installed
Architecture: amd64
Version: 1:2.0-1
Depends: libfoo (>= 1.0), alt-missing | alt-present, virtual-thing, tool:any
Recommends: recommended
Description: an application
 with a long description
 .
 spanning lines

Package: libfoo
Status: install ok installed
Architecture: amd64
Version: 1.2-3
Pre-Depends: libc6 (>= 2.36)

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u14

Package: alt-present
Status: install ok installed
Architecture: all
Version: 1

Package: alt-missing
Status: deinstall ok config-files
Architecture: amd64
Version: 1

Package: provider-b
Status: install ok installed
Architecture: amd64
Version: 1
Provides: virtual-thing (= 1)

Package: provider-a
Status: install ok installed
Architecture: amd64
Version: 1
Provides: virtual-thing

Package: tool
Status: install ok installed
Architecture: amd64
Version: 1
Depends: libc6

Package: recommended
Status: install ok installed
Architecture: amd64
Version: 1

Package: foreign
Status: install ok installed
Architecture: i386
Version: 1

Package: broken
Status: install ok installed
Architecture: amd64
Version: 1
Depends: nowhere (>= 2) | gone
"""


def test_parse_relation_field() -> None:
    field = "libc6 (>= 2.34), a | b:any (<< 3) | c [amd64], python3:any, d <!nocheck>"
    assert debian.parse_relation_field(field) == (("libc6",), ("a", "b", "c"), ("python3",), ("d",))
    assert debian.parse_relation_field("") == ()


def test_parse_status_keeps_installed_native_packages() -> None:
    installed = debian.parse_status(STATUS, native_arch="amd64")
    assert "alt-missing" not in installed  # only config files left
    assert "foreign" not in installed
    assert "alt-present" in installed  # Architecture: all
    app = installed["app"]
    assert app.version == "1:2.0-1"
    assert app.depends == (("libfoo",), ("alt-missing", "alt-present"), ("virtual-thing",), ("tool",))
    assert installed["libfoo"].depends == (("libc6",),)
    assert installed["provider-b"].provides == ("virtual-thing",)
    assert "foreign" in debian.parse_status(STATUS)


def test_parse_stanzas_joins_continuation_lines() -> None:
    stanzas = debian.parse_stanzas(STATUS)
    assert stanzas[0]["Description"].startswith("an application\nwith a long description")


def test_closure_follows_depends_alternatives_and_provides() -> None:
    installed = debian.parse_status(STATUS, native_arch="amd64")
    closure, unresolved = debian.resolve_closure(["app"], installed)
    assert [p.name for p in closure] == ["alt-present", "app", "libc6", "libfoo", "provider-a", "tool"]
    assert unresolved == []  # Recommends are not followed, so "recommended" is absent too


def test_closure_reports_what_cannot_be_satisfied() -> None:
    installed = debian.parse_status(STATUS, native_arch="amd64")
    closure, unresolved = debian.resolve_closure(["broken", "missing-root"], installed)
    assert [p.name for p in closure] == ["broken"]
    assert unresolved == ["missing-root", "nowhere | gone (needed by broken)"]
    assert debian.missing_packages(["app", "virtual-thing", "gone"], installed) == ["gone"]


@pytest.mark.parametrize(("version", "upstream"), [
    ("1:2.3.4-5", "2.3.4"),
    ("1.96.0+dfsg1-1~deb12u2", "1.96.0"),
    ("3.11.2-6+deb12u6", "3.11.2"),
    ("5.2.15-2+b8", "5.2.15"),
    ("4:12.2.0-3", "12.2.0"),
    ("1.6-2.1+deb12u1", "1.6"),
    ("0.67-1", "0.67"),
    ("2.36", "2.36"),
    ("1.2.dfsg-1", "1.2"),
    ("1.0~rc1-2", "1.0~rc1"),
    ("9.1-1~bpo11+1", "9.1"),
])
def test_upstream_version(version: str, upstream: str) -> None:
    assert debian.upstream_version(version) == upstream


@pytest.mark.parametrize(("path", "normalised"), [
    ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
    ("/lib64/ld-linux-x86-64.so.2", "/usr/lib64/ld-linux-x86-64.so.2"),
    ("/bin/bash", "/usr/bin/bash"),
    ("/sbin/ldconfig", "/usr/sbin/ldconfig"),
    ("/lib", "/usr/lib"),
    ("/library/x", "/library/x"),
    ("/usr/bin/../lib/./x", "/usr/lib/x"),
    ("/.", "/"),
    ("/etc/passwd", "/etc/passwd"),
])
def test_normalise_path(path: str, normalised: str) -> None:
    assert debian.normalise_path(path) == normalised


def test_is_under() -> None:
    assert debian.is_under("/usr/bin/x", "/usr")
    assert debian.is_under("/usr", "/usr")
    assert not debian.is_under("/usrx/bin", "/usr")


def test_diversions_and_alternative_files() -> None:
    diversions = debian.parse_diversions("/bin/sh\n/bin/sh.distrib\ndash\n/usr/bin/x\n/usr/bin/x.real\n:\n")
    assert diversions == {"/bin/sh": ("/bin/sh.distrib", "dash"), "/usr/bin/x": ("/usr/bin/x.real", ":")}
    assert debian.divert("/bin/sh", "bash", diversions) == "/bin/sh.distrib"
    assert debian.divert("/bin/sh", "dash", diversions) == "/bin/sh"
    assert debian.divert("/bin/ls", "coreutils", diversions) == "/bin/ls"
    text = "auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\n\n/usr/bin/gawk\n10\n"
    assert debian.parse_alternative("awk", text) == [
        ("awk", "/usr/bin/awk"), ("awk.1.gz", "/usr/share/man/man1/awk.1.gz")]


# ------------------------------------------------------------------ builder parts


def test_closure_entries_keep_usr_and_normalise() -> None:
    packages = [debian.Package("libc6", "amd64", "2.36", ()), debian.Package("dash", "amd64", "1", ())]
    files = {
        "libc6": ["/.", "/etc", "/etc/ld.so.conf", "/lib", "/lib/x86_64-linux-gnu/libc.so.6", "/usr",
                  "/usr/share/doc/libc6"],
        "dash": ["/bin/sh", "/usr/bin/dash"],
    }
    diversions = {"/bin/sh": ("/bin/sh.distrib", "dash")}
    entries = builder.closure_entries(packages, lambda p: files[p.name], diversions,
                                      merged=frozenset({"lib"}))
    assert entries == {
        "/usr/lib": "/usr/lib",
        "/usr/lib/x86_64-linux-gnu/libc.so.6": "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/share/doc/libc6": "/usr/share/doc/libc6",
        "/usr/bin/sh": "/bin/sh",  # the diverting package keeps the name
        "/usr/bin/dash": "/usr/bin/dash",
    }
    # Unmerged host: files come from where dpkg put them.
    entries = builder.closure_entries(packages, lambda p: files[p.name], {})
    assert entries["/usr/lib/x86_64-linux-gnu/libc.so.6"] == "/lib/x86_64-linux-gnu/libc.so.6"


def test_script_text_sets_path_and_env_and_drops_shebang() -> None:
    text = builder.script_text("#!/usr/bin/env bash\nshift\nexec /program/binary \"$@\"\n",
                               "/usr/bin", {"HOME": "/tmp", "MSG": "it's a $test"})
    assert text == (
        "#!/usr/bin/bash\n"
        "export PATH=/usr/bin\n"
        "export -n SANDKASTEN_MEMORY_MB SANDKASTEN_CPUS SANDKASTEN_COMPILE_ARGS\n"
        "export HOME=/tmp\n"
        "export MSG='it'\"'\"'s a $test'\n"
        "shift\nexec /program/binary \"$@\"\n"
    )
    assert builder.script_text("echo hi\n", "/a b", {}) == (
        "#!/usr/bin/bash\nexport PATH='/a b'\nexport -n SANDKASTEN_MEMORY_MB SANDKASTEN_CPUS SANDKASTEN_COMPILE_ARGS\necho hi\n")


def test_apt_packages_adds_bash_coreutils_and_version_package(tmp_path: Path) -> None:
    descs = [load_description(make_env(tmp_path, "python"))]
    assert builder.apt_packages(descs) == ["python3", "bash", "coreutils", "dash", "python3.11"]


def test_manifest_shape(tmp_path: Path) -> None:
    toml = PYTHON_TOML.replace('version = "python3.11"',
                               'version = "python3.11"\nextra_paths = ["/etc/java-17-openjdk/"]') \
        .replace('files = ["test/foo.py"]', 'files = ["test/foo.py"]\nexpected = "fine"')
    desc = load_description(make_env(tmp_path / "src", toml=toml))
    layout = builder.Layout(Path("/srv/pkgs"))
    data = builder.manifest_data(desc, "3.11.2", layout)
    assert list(data) == ["sandkasten_version", "name", "version", "meta", "default_main_file_name",
                          "example", "test", "compile_script", "run_script", "closure", "mounts",
                          "symlinks"]
    assert data["sandkasten_version"] == sandkasten_py.__version__
    assert data["version"] == "3.11.2"
    assert data["test"] == {"main_file": {"content": "import foo\n"},
                            "files": [{"name": "foo.py", "content": "print('OK')\n"}],
                            "expected": "fine"}
    assert data["compile_script"] is None
    assert data["run_script"] == "/sandkasten/run.sh"  # a fixed place inside the job
    assert data["closure"] == "/srv/pkgs/scripts/python/closure"
    assert data["mounts"] == [
        {"source": "/srv/pkgs/roots/python/usr", "target": "/usr"},
        {"source": "/srv/pkgs/scripts/python", "target": "/sandkasten"},
        {"source": "/srv/pkgs/roots/python/etc/java-17-openjdk", "target": "/etc/java-17-openjdk"},
    ]
    assert data["symlinks"] == [{"path": "/lib", "target": "/usr/lib"},
                                {"path": "/lib64", "target": "/usr/lib64"},
                                {"path": "/bin", "target": "/usr/bin"},
                                {"path": "/sbin", "target": "/usr/sbin"}]


def test_a_runner_named_in_the_description_reaches_the_manifest(tmp_path: Path) -> None:
    """Absent, the manifest has no `runner` (the daemon's default, nsjail); given, it is copied."""
    layout = builder.Layout(Path("/srv/pkgs"))
    plain = load_description(make_env(tmp_path / "a"))
    assert plain.runner is None and "runner" not in builder.manifest_data(plain, "3.11.2", layout)
    named = load_description(make_env(tmp_path / "b", toml='runner = "wasm-pool"\n' + PYTHON_TOML))
    assert builder.manifest_data(named, "3.11.2", layout)["runner"] == "wasm-pool"


def test_print_apt_packages(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_env(tmp_path, "python")
    assert builder.main(["--packages-dir", str(tmp_path), "--print-apt-packages"]) == 0
    assert capsys.readouterr().out == "python3 bash coreutils dash python3.11\n"


# ------------------------------------------------------------------ trees


def test_build_tree_links_files_and_recreates_symlinks(tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "bin").mkdir(parents=True)
    (host / "bin" / "tool").write_text("#!tool\n")
    os.chmod(host / "bin" / "tool", 0o755)
    (host / "bin" / "secret").write_text("x")
    os.chmod(host / "bin" / "secret", 0o4750)
    os.symlink("tool", host / "bin" / "alias")
    os.symlink("/usr/share", host / "bin" / "dirlink")
    root = tmp_path / "root"
    root.mkdir()
    h = str(host)
    entries = {
        "/usr/bin": f"{h}/bin",
        "/usr/bin/tool": f"{h}/bin/tool",
        "/usr/bin/secret": f"{h}/bin/secret",
        "/usr/bin/alias": f"{h}/bin/alias",
        "/usr/bin/dirlink": f"{h}/bin/dirlink",
        "/usr/bin/dirlink/escape": f"{h}/bin/tool",  # below a symlink: must be skipped
        "/usr/bin/gone": f"{h}/bin/gone",
    }
    stats = tree.build_tree(str(root), entries, [("/usr/bin/cc", "/usr/bin/tool"),
                                                   ("/usr/bin/nope", "/usr/bin/absent")])
    tool = root / "usr" / "bin" / "tool"
    assert os.stat(tool).st_ino == os.stat(host / "bin" / "tool").st_ino  # hard link
    secret = root / "usr" / "bin" / "secret"
    assert os.stat(secret).st_ino != os.stat(host / "bin" / "secret").st_ino  # copied
    assert oct(os.stat(secret).st_mode & 0o7777) == oct(0o755)
    assert os.readlink(root / "usr" / "bin" / "alias") == "tool"
    assert os.readlink(root / "usr" / "bin" / "dirlink") == "/usr/share"
    assert os.readlink(root / "usr" / "bin" / "cc") == "/usr/bin/tool"
    assert not os.path.lexists(root / "usr" / "bin" / "nope")
    assert not os.path.lexists(root / "usr" / "bin" / "gone")
    assert oct(os.stat(root / "usr").st_mode & 0o777) == oct(0o755)
    assert (stats.files, stats.symlinks) == (2, 3)


def test_pycache_companions(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (lib / "__pycache__").mkdir(parents=True)
    for name in ("os.cpython-311.pyc", "os.cpython-311.opt-1.pyc", "other.cpython-311.pyc"):
        (lib / "__pycache__" / name).write_text("")
    companions = tree.pycache_companions({"/usr/lib/os.py": f"{lib}/os.py"})
    assert sorted(os.path.basename(p) for p in companions.values()) == [
        "os.cpython-311.opt-1.pyc", "os.cpython-311.pyc"]


# ------------------------------------------------------------------ [[npm]] packages (no network)


def tarball(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """An npm-style .tgz: every entry under `package/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o4777 if name.endswith(".sh") else 0o644
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


NPM_TOML = PYTHON_TOML + """
[[npm]]
name = "@types/node"
version = "18.15.11"
integrity = "sha512-E5Kwq2n4SbMzQOn6wnmBjuK9ouqlURrcZDVfbo9ftDDTFt3nk7ZKK4GMOzoYgnpQJKcxwQw+lGaBvvlMo0qN/Q=="
"""


def test_npm_packages_are_described_with_the_registry_url(tmp_path: Path) -> None:
    desc = load_description(make_env(tmp_path, toml=NPM_TOML))
    [package] = desc.npm
    assert package.tarball_url == "https://registry.npmjs.org/@types/node/-/node-18.15.11.tgz"
    unscoped = NpmPackage(name="left-pad", version="1.3.0", integrity=package.integrity)
    assert unscoped.tarball_url == "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"


@pytest.mark.parametrize(("change", "key"), [
    (('name = "@types/node"', 'name = "../etc"'), "npm[0].name"),
    (('version = "18.15.11"', 'version = "latest"'), "npm[0].version"),
    (('integrity = "sha512-', 'integrity = "sha1-'), "npm[0].integrity"),
    (('version = "18.15.11"', 'version = "18.15.11"\ntag = "x"'), "npm[0].tag"),
])
def test_bad_npm_entries_are_rejected(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    with pytest.raises(DescriptionError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_description(make_env(tmp_path, toml=NPM_TOML.replace(*change, 1)))


def test_a_tarball_must_match_its_integrity_hash_also_from_the_cache(tmp_path: Path) -> None:
    data = tarball({"package/index.d.ts": b"export {};\n"})
    package = NpmPackage(name="@types/x", version="1.0.0", integrity=integrity(data))
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / "@types__x-1.0.0.tgz"
    cached.write_bytes(data)
    assert npm.fetch(package, cache) == data  # from the cache, no network
    cached.write_bytes(data + b"tampered")
    with pytest.raises(npm.NpmError, match="integrity mismatch"):
        npm.fetch(package, cache)


def test_unpacking_strips_the_top_folder_and_keeps_only_safe_files(tmp_path: Path) -> None:
    data = tarball({"package/index.d.ts": b"declare const x: number;\n", "package/sub/a.d.ts": b"",
                    "package/run.sh": b"#!/bin/sh\n"},
                   links={"package/passwd": "/etc/passwd"})
    npm.unpack(data, tmp_path / "out")
    found = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert found == ["index.d.ts", "run.sh", "sub", "sub/a.d.ts"]
    assert (tmp_path / "out" / "run.sh").stat().st_mode & 0o7022 == 0  # no setuid, no group/other write


def test_a_path_outside_the_folder_is_refused(tmp_path: Path) -> None:
    data = tarball({"package/../../escaped": b"x"})
    with pytest.raises(tarfile.OutsideDestinationError):
        npm.unpack(data, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()


def test_the_script_header_names_the_npm_folder_without_exporting_it() -> None:
    text = builder.script_text("echo hi\n", "/usr/bin", {}, npm_dir="/usr/lib/sandkasten-npm")
    assert text.splitlines()[3] == "SANDKASTEN_NPM=/usr/lib/sandkasten-npm"


# ------------------------------------------------------------------ build.sh and [build] (no network)


ARCHIVE = b"the source archive\n"
BUILD_TOML = PYTHON_TOML + f"""
[build]
host_packages = ["gcc"]
nix_packages = ["gcc"]

[[build.sources]]
url = "https://example.org/files/source-1.0.tar.gz"
sha256 = "{hashlib.sha256(ARCHIVE).hexdigest()}"
"""


def with_build_script(directory: Path, script: str) -> Path:
    (directory / "build.sh").write_text(script)
    return directory


def test_build_sh_and_its_table_are_described(tmp_path: Path) -> None:
    desc = load_description(with_build_script(make_env(tmp_path, toml=BUILD_TOML), "echo built\n"))
    assert desc.build is not None and desc.build.script == "echo built\n"
    [source] = desc.build.sources
    assert source.file_name == "source-1.0.tar.gz"
    assert desc.build.host_packages == ("gcc",) and "gcc" in builder.apt_packages([desc])
    # Without build.sh there is nothing to build, and a [build] table is a mistake.
    assert load_description(make_env(tmp_path / "plain")).build is None
    with pytest.raises(DescriptionError, match="needs build.sh"):
        load_description(make_env(tmp_path / "table-only", toml=BUILD_TOML))


@pytest.mark.parametrize(("change", "key"), [
    (("https://example.org/files/source-1.0.tar.gz", "http://example.org/x.tgz"), "url"),
    (("https://example.org/files/source-1.0.tar.gz", "https://example.org/dir/"), "url"),
    (('sha256 = "', 'sha256 = "ABC'), "sha256"),
    (('host_packages = ["gcc"]', 'host_packages = ["gcc"]\nsteps = 2'), "build.steps"),
])
def test_bad_build_tables_are_rejected(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    with pytest.raises(DescriptionError, match=key):
        load_description(with_build_script(make_env(tmp_path, toml=BUILD_TOML.replace(*change, 1)), "true\n"))


def test_a_source_must_match_its_hash_also_from_the_cache(tmp_path: Path) -> None:
    desc = load_description(with_build_script(make_env(tmp_path, toml=BUILD_TOML), "true\n"))
    assert desc.build is not None
    [source] = desc.build.sources
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / f"{source.sha256}-{source.file_name}"
    cached.write_bytes(ARCHIVE)
    assert sources.fetch(source, cache) == cached  # from the cache, no network
    cached.write_bytes(ARCHIVE + b"tampered")
    with pytest.raises(sources.SourceError, match="SHA-256 mismatch"):
        sources.fetch(source, cache)


def test_build_sh_runs_with_its_sources_and_fills_out(tmp_path: Path) -> None:
    script = 'cat source-1.0.tar.gz > "$out/copy"\nls "$SANDKASTEN_PACKAGE" > "$out/folder"\n'
    desc = load_description(with_build_script(make_env(tmp_path, toml=BUILD_TOML), script))
    archive = tmp_path / "archive"
    archive.write_bytes(ARCHIVE)
    sources.run_build(desc, [archive], tmp_path / "out")
    assert (tmp_path / "out" / "copy").read_bytes() == ARCHIVE
    assert "build.sh" in (tmp_path / "out" / "folder").read_text().split()
    failing = load_description(with_build_script(make_env(tmp_path / "f", toml=BUILD_TOML), "echo broken >&2\nfalse\n"))
    with pytest.raises(sources.SourceError, match="(?s)status 1.*broken"):
        sources.run_build(failing, [archive], tmp_path / "out2")


def test_the_script_header_names_the_built_folder_without_exporting_it() -> None:
    text = builder.script_text("echo hi\n", "/usr/bin", {}, built_dir="/usr/lib/sandkasten-built")
    assert text.splitlines()[3] == "SANDKASTEN_BUILT=/usr/lib/sandkasten-built"
