"""shellcheck finds nothing in any shell script of the repository.

The scripts: every `*.sh` file and every file whose shebang names bash or sh, outside
`.git`, `.venv`, `pkgs` (host-built environments: Debian's files), `node_modules` and caches.

The environment scripts (`nix/packages/<id>/compile.sh`, `run.sh`) are bash bodies: the builders
prepend a header (PATH, [env]), so they are checked with `--shell=bash` (this also settles SC2148,
the missing shebang, for the ones without one). The same holds for the bash environment's example
and test programs. In the environment scripts one check is excluded:

* SC2145 ("argument mixes string and array"): `exec python3 /program/"$@"` is the environments'
  idiom for "the main file, under /program, followed by the program's arguments": the prefix is
  meant to apply to the first word only, which is what bash does.

`source` is followed relative to the script's folder (`-x -P SCRIPTDIR`), as the scripts do.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EXCLUDED_DIRS = {".git", ".venv", "pkgs", "node_modules", "build", ".mypy_cache", ".ruff_cache",
                 ".pytest_cache", ".hypothesis", "__pycache__"}
SHEBANG = re.compile(rb"^#!\s*(/usr/bin/env\s+(-S\s+)?)?(/usr)?(/bin/)?(ba)?sh(\s|$)")
# Checks excluded in the environment scripts, with the reason in the module docstring.
ENVIRONMENT_EXCLUDES = ["SC2145"]


def shell_scripts() -> list[Path]:
    scripts = []
    stack = [ROOT]
    while stack:
        folder = stack.pop()
        for entry in folder.iterdir():
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name not in EXCLUDED_DIRS:
                    stack.append(entry)
            elif entry.is_file():
                if entry.suffix == ".sh":
                    scripts.append(entry)
                else:
                    with entry.open("rb") as f:
                        if SHEBANG.match(f.readline(200)):
                            scripts.append(entry)
    return sorted(scripts)


def is_environment_script(path: Path) -> bool:
    rel = path.relative_to(ROOT).parts
    return len(rel) >= 4 and rel[:2] == ("nix", "packages")


def shellcheck_args(path: Path) -> list[str]:
    args = ["shellcheck", "--format=gcc", "--external-sources", "--source-path=SCRIPTDIR"]
    if is_environment_script(path):
        args += ["--shell=bash", f"--exclude={','.join(ENVIRONMENT_EXCLUDES)}"]
    return [*args, str(path)]


SCRIPTS = shell_scripts()


def test_scripts_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in SCRIPTS}
    for expected in ["install-vm.sh", "scripts/setup.sh", "nix/packages/c/compile.sh", "nix/packages/python/run.sh"]:
        assert expected in names
    assert not any(n.startswith(("pkgs/", ".venv/")) for n in names)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (Debian: shellcheck)")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck(script: Path) -> None:
    result = subprocess.run(shellcheck_args(script), capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 0 and result.stdout == "", "\n" + result.stdout + result.stderr
