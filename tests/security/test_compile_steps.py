"""Compile steps are untrusted code (CC-05), and what they write must not harm the host.

Build env vars run the user's code inside the compile jail in every compiled environment:
`BASH_ENV` (every compile script is a bash script), `SHELLOPTS=xtrace` with a `PS4` that
expands a command, `NODE_OPTIONS=--require` (TypeScript's compiler runs on node); so do Nim's
`staticExec` and Template Haskell. Here a `BASH_ENV` hook compiles and runs a C attacker with
the environment's own gcc, then the real compile script goes on. What it attempts, each as
seen in other engines' incidents: reserve host disk with `fallocate(FALLOC_FL_KEEP_SIZE)`
(Piston's fallocate test), make 130,000 files, a 1,500-level tree, setuid and world-writable
modes, links and fifos for the daemon to follow (Judge0's CVEs). Each test checks the answer
(a `compile_error` naming the cap, or a program within the caps) and what is left on the host:
bytes and inodes under the daemon's programs and jobs directories, and no mount.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sandkasten_py.sandbox import tmpfs
from tests.conftest import settled
from tests.security.jobs import expect_error

pytestmark = pytest.mark.sandbox

MB = 1_000_000

# The attacker: `attack MODE PLACE N`, run by the hook during the compile step.
ATTACKER = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argv[1], *place = argv[2];
    long n = atol(argv[3]);
    int dir = open(place, O_RDONLY | O_DIRECTORY);
    if (dir < 0) { printf("open %s: %d\n", place, errno); return 0; }
    if (strcmp(mode, "fallocate") == 0) {
        /* n MB in files of 10 MB (under the per-file limit), reserved without growing them */
        long reserved = 0;
        for (int i = 0; reserved < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "reserve%d", i);
            int fd = openat(dir, name, O_WRONLY | O_CREAT, 0644);
            if (fd < 0) break;
            int r = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 10000000L);
            close(fd);
            if (r != 0) { printf("fallocate: errno %d\n", errno); break; }
            reserved += 10;
        }
        printf("reserved %ld MB\n", reserved);
    } else if (strcmp(mode, "files") == 0) {
        long made = 0;
        for (; made < n; made++) {
            char name[32];
            snprintf(name, sizeof name, "f%ld", made);
            int fd = openat(dir, name, O_WRONLY | O_CREAT, 0644);
            if (fd < 0) { printf("file %ld: errno %d\n", made, errno); break; }
            close(fd);
        }
        printf("made %ld files\n", made);
    } else if (strcmp(mode, "deep") == 0) {
        long made = 0;
        for (; made < n; made++) {
            if (mkdirat(dir, "d", 0755) != 0) { printf("level %ld: errno %d\n", made, errno); break; }
            int child = openat(dir, "d", O_RDONLY | O_DIRECTORY);
            close(dir);
            dir = child;
        }
        printf("made %ld levels\n", made);
    }
    return 0;
}
"""
C_MAIN = "int main(void) { return 0; }\n"


def hooked_build(daemon: Any, hook: str, environment: str = "c", main: str = C_MAIN, **build: Any) -> Any:
    """POST /programs with a BASH_ENV hook (and the attacker at /box/attack.c)."""
    return daemon.post("/programs", json={
        "environment": environment,
        "main_file": {"content": f"// {uuid.uuid4()}\n{main}"},
        "files": [{"name": "hook.sh", "content": hook}, {"name": "attack.c", "content": ATTACKER}],
        "env_vars": [{"name": "BASH_ENV", "value": "/box/hook.sh"}],
        **build,
    })


def attack_hook(*commands: str) -> str:
    """A hook that builds the attacker once, runs `commands`, then lets the compile go on."""
    lines = "\n".join(commands)
    return f"""if [ -z "$HOOKED" ]; then
export HOOKED=1 PATH=/usr/bin
gcc -O0 -o /tmp/attack /box/attack.c || echo "attacker did not compile" >&2
{lines}
fi
"""


def host_usage(directory: Path) -> tuple[int, int]:
    """(bytes allocated, inodes) under `directory`, links not followed; what the pruner deletes
    meanwhile is not counted."""
    allocated = inodes = 0
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            try:
                info = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            allocated += info.st_blocks * 512
            inodes += 1
    return allocated, inodes


def assert_nothing_left(daemon: Any, program_id: str | None = None) -> None:
    """No job directory and no mount of the daemon's is left (a moment after the response: the
    daemon removes them in the background); a failed build left no program."""
    assert settled(lambda: sorted(os.listdir(daemon.jobs_dir)), [".lock"]) == [".lock"]
    assert settled(lambda: tmpfs.mounts_below(str(daemon.jobs_dir)), []) == []
    assert tmpfs.mounts_below(str(daemon.programs_dir)) == []
    if program_id is not None:
        assert not (daemon.programs_dir / program_id).exists()


def error_of(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body.get("error", ""), body.get("message", "")


# ------------------------------------------------------------------- code runs at compile time


@pytest.mark.catalogue("CC-05")
@pytest.mark.parametrize(("environment", "main", "env_vars"), [
    pytest.param("c", C_MAIN, [{"name": "BASH_ENV", "value": "/box/hook.sh"}], id="BASH_ENV"),
    pytest.param("rust", "fn main() {}\n", [{"name": "SHELLOPTS", "value": "xtrace"},
                                             {"name": "PS4", "value": "$(. /box/hook.sh)"}],
                 id="SHELLOPTS+PS4"),
    pytest.param("typescript", "console.log(1);\n",
                 [{"name": "NODE_OPTIONS", "value": "--require /box/hook.js"}], id="NODE_OPTIONS"),
])
def test_env_var_hooks_run_code_in_the_compile_step_which_writes_only_capped_places(
        daemon: Any, environment: str, main: str, env_vars: list[dict[str, str]]) -> None:
    """The hook runs (it is the compile jail's job to contain it): it can write /program and
    /tmp, both capped tmpfs mounts, and nothing else; the program it leaves is copied in."""
    probe = ("for p in /program /tmp /box /usr /etc /; do "
             "if : > \"$p/.probe\" 2>/dev/null; then echo \"writable $p\" >&2; fi; done; "
             "echo hooked > /program/hooked\n")
    hook_js = ("const fs = require('fs');\n"
               "for (const p of ['/program', '/tmp', '/box', '/usr', '/etc', '/']) {\n"
               "  try { fs.writeFileSync(p + '/.probe', ''); process.stderr.write('writable ' + p + '\\n'); }"
               " catch (e) {}\n}\nfs.writeFileSync('/program/hooked', 'hooked\\n');\n")
    response = daemon.post("/programs", json={
        "environment": environment,
        "main_file": {"content": f"// {uuid.uuid4()}\n{main}"},
        "files": [{"name": "hook.sh", "content": probe}, {"name": "hook.js", "content": hook_js}],
        "env_vars": env_vars,
    })
    assert response.status_code == 201, response.text
    stderr = response.json()["compile_result"]["stderr"]
    writable = {line.split()[1] for line in stderr.splitlines() if line.startswith("writable ")}
    assert writable == {"/program", "/tmp"}, stderr
    program = daemon.programs_dir / response.json()["program_id"] / "files"
    assert (program / "hooked").read_text() == "hooked\n"
    assert_nothing_left(daemon)


@pytest.mark.catalogue("CC-05")
def test_nim_static_exec_runs_in_the_compile_jail(daemon: Any) -> None:
    """DMOJ #318: Nim's `staticExec` runs a shell command at compile time. It runs in the
    compile jail, and can write only the two capped tmpfs mounts."""
    code = (f"# {uuid.uuid4()}\n"
            'const probe = staticExec("for p in /program /tmp /box /usr /etc /; do '
            'if (: > $p/.probe) 2>/dev/null; then echo writable $p; fi; done")\n'
            "echo probe\n")
    response = daemon.post("/run", json={"build": {"environment": "nim", "main_file": {"content": code}}})
    assert response.status_code == 200, response.text
    assert response.json()["run"]["stdout"] == "writable /program\nwritable /tmp\n", response.text
    assert_nothing_left(daemon)


# ------------------------------------------------------------------- disk and inode exhaustion


@pytest.mark.catalogue("RES-06", "CC-05")
def test_fallocate_in_a_compile_step_cannot_reserve_host_disk(daemon: Any) -> None:
    """1 GB reserved with FALLOC_FL_KEEP_SIZE (on a disk file system, RLIMIT_FSIZE does not
    count reserved blocks) in /program and in /tmp, in files of 10 MB: both tmpfs mounts refuse
    at their size, and what is stored is the program, the reserved files empty."""
    response = hooked_build(daemon, attack_hook("/tmp/attack fallocate /program 1000 >&2",
                                                "/tmp/attack fallocate /tmp 1000 >&2"))
    assert response.status_code == 201, response.text
    stderr = response.json()["compile_result"]["stderr"]
    assert stderr.count("fallocate: errno 28") == 2, stderr  # ENOSPC, in both places
    reserved = [int(line.split()[1]) for line in stderr.splitlines() if line.startswith("reserved ")]
    assert all(200 <= r <= 256 for r in reserved) and len(reserved) == 2, stderr
    program_dir = daemon.programs_dir / response.json()["program_id"]
    allocated, inodes = host_usage(program_dir)
    assert allocated < 1 * MB and inodes < 40, (allocated, inodes)  # the program and 26 empty files
    assert_nothing_left(daemon)


@pytest.mark.catalogue("RES-07", "CC-05")
def test_130000_files_in_a_compile_step_are_refused_at_the_file_cap(daemon: Any) -> None:
    response = hooked_build(daemon, attack_hook("/tmp/attack files /program 130000 >&2"))
    status, error, message = error_of(response)
    assert (status, error) == (400, "compile_error"), response.text
    assert message == ("the compile step filled /program, which holds 10000 files and directories "
                       "(storage_limits.program_files)"), message
    details = response.json()["details"]
    assert "made 9999 files" in details["stderr"] or "made 10000 files" in details["stderr"], details
    assert details["stderr"].endswith(f"sandkasten: {message}\n")
    assert_nothing_left(daemon)


@pytest.mark.catalogue("RES-07", "CC-05")
def test_hard_links_pass_the_inode_cap_but_not_the_copys_file_cap(daemon_factory: Any) -> None:
    """60 names of one file take one inode of the tmpfs (50 + 1 here), but the copy would make
    60 files of them: a compile_error naming the cap."""
    small = daemon_factory(STORAGE_LIMITS__PROGRAM_FILES="50")
    response = hooked_build(small, attack_hook(
        "echo x > /program/f", "for i in $(seq 60); do ln /program/f /program/link$i; done"))
    status, error, message = error_of(response)
    assert (status, error) == (400, "compile_error"), response.text
    assert "storage_limits.program_files" in message and "50" in message, message
    assert_nothing_left(small)
    assert [p for p in os.listdir(small.programs_dir) if p not in (".lock", ".key", ".cache")] == []


@pytest.mark.catalogue("RES-06", "CC-05")
def test_many_files_under_the_size_limit_are_refused_at_the_size_cap(daemon_factory: Any) -> None:
    """12 files of 8 MB pass any per-file cap; a program_size of 64 MB stops them."""
    small = daemon_factory(STORAGE_LIMITS__PROGRAM_SIZE="64")
    hook = attack_hook("for i in $(seq 12); do head -c 8000000 /dev/zero > /program/big$i 2>/dev/null; done")
    response = hooked_build(small, hook)
    status, error, message = error_of(response)
    assert (status, error) == (400, "compile_error"), response.text
    assert message in (
        "the compile step filled /program, which holds 64 MB (storage_limits.program_size)",
        "the build output is larger than 64 MB (storage_limits.program_size)",
    ), message
    assert_nothing_left(small)


@pytest.mark.catalogue("RES-07", "CC-05")
def test_a_1500_level_tree_is_refused_at_the_depth_cap_and_breaks_nothing(daemon: Any) -> None:
    """The tree the recursive delete used to fail on (RecursionError, a 500, and a pruner that
    died there): a compile_error naming the depth cap, nothing left, the daemon fine."""
    response = hooked_build(daemon, attack_hook("/tmp/attack deep /program 1500 >&2",
                                                "/tmp/attack deep /tmp 1500 >&2"))
    status, error, message = error_of(response)
    assert (status, error) == (400, "compile_error"), response.text
    assert message == ("the build output is more than 32 directories deep at /program/"
                       + "d/" * 32 + "d (storage_limits.program_depth)"), message
    assert response.json()["details"]["stderr"].count("made 1500 levels") == 2
    assert_nothing_left(daemon)
    assert daemon.get("/config").status_code == 200


# ------------------------------------------------------------------- modes, links, fifos


@pytest.mark.catalogue("FS-01", "CC-05")
def test_setuid_and_world_writable_modes_do_not_reach_the_store(daemon: Any) -> None:
    hook = attack_hook("cp /tmp/attack /program/suid", "chmod 6755 /program/suid",
                       "mkdir /program/shared", "chmod 1777 /program/shared", "chmod 0777 /program",
                       "touch /program/shared/x", "chmod 0666 /program/shared/x")
    response = hooked_build(daemon, hook)
    assert response.status_code == 201, response.text
    files = daemon.programs_dir / response.json()["program_id"] / "files"
    modes = {str(p.relative_to(files)): stat.S_IMODE(p.lstat().st_mode) for p in files.rglob("*")}
    assert modes == {"suid": 0o755, "shared": 0o755, "shared/x": 0o644, "binary": 0o755}, modes
    assert stat.S_IMODE(files.stat().st_mode) == 0o755
    assert all(p.lstat().st_uid == 0 for p in [files, *files.rglob("*")])


@pytest.mark.catalogue("FS-01", "FS-03", "CC-05")
@pytest.mark.parametrize(("command", "kind"), [
    ("ln -s /etc/shadow /program/x", "symbolic link"),
    ("ln -s /etc /program/x", "symbolic link"),
    ("mkfifo /program/x", "named pipe"),
])
def test_links_and_fifos_in_the_output_are_refused_not_followed(daemon: Any, command: str, kind: str) -> None:
    response = hooked_build(daemon, attack_hook(command))
    status, error, message = error_of(response)
    assert (status, error) == (400, "compile_error"), response.text
    assert message == f"/program/x is a {kind}: a build may only leave regular files and directories"
    assert_nothing_left(daemon)


@pytest.mark.catalogue("RES-06", "API-07")
def test_many_builds_cannot_fill_the_disk_either(daemon_factory: Any) -> None:
    """Each build within its caps, but many of them: all programs together stay within
    `programs_size` (1 MB here, builds of 300 KB), the least recently used going first."""
    small = daemon_factory(STORAGE_LIMITS__PROGRAMS_SIZE="1", STORAGE_LIMITS__PROGRAM_SIZE="1")
    hook = "head -c 300000 /dev/urandom > /program/data\n"
    ids = []
    for _ in range(8):
        response = hooked_build(small, hook)
        assert response.status_code == 201, response.text
        ids.append(response.json()["program_id"])

    def stored() -> int:
        return host_usage(small.programs_dir)[0]

    deadline = time.monotonic() + 30
    while stored() > 1 * MB or (small.programs_dir / ids[0]).exists():
        assert time.monotonic() < deadline, (stored(), sorted(os.listdir(small.programs_dir)))
        time.sleep(0.1)
    message = expect_error(small.post(f"/programs/{ids[0]}/run", json={}), 404, {"error": "program_not_found"})
    assert f"`{ids[0]}`" in message
    assert small.post(f"/programs/{ids[-1]}/run", json={}).status_code == 200
    assert "deleted program" in small.log() and "to keep the store within its budget" in small.log()
