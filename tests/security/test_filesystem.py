"""Filesystem escapes (catalogue cases FS-01 to FS-12), against the real daemon over HTTP.

Two layers are exercised, and each test says which:

* **inside the jail**: a hostile program (Python, C, Bash) sent with `POST /run` tries to plant
  links, write read-only mounts, reach other jobs' or the daemon's directories, keep files for
  the next job, or open devices and /proc files it must not have;
* **the daemon's host-side file handling** (FS-01 to FS-03, the Judge0 symlink CVEs). No job
  can put a symlink where the daemon writes, reads or deletes in the program store: compile
  steps write `/program` into a tmpfs of their job directory, and the daemon copies regular
  files and directories out of it without following links (test_compile_steps.py). So these
  tests do what a malicious compile step would have done if it could, as root on the host: they
  plant symlinks in the compile step's `/program` tmpfs while it runs, and in a real program's
  directory in the store, which no job can reach, then drive the daemon over HTTP so that it
  writes, reads and deletes there, and check that nothing outside was touched. Each of these
  tests first shows, where it can, that the planted content would matter if followed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.security.jobs import expect_error, json_stdout, run

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
POLL_DEADLINE_S = 20
INVALID_FILE_NAMES = {"error": "invalid_file_names"}


# ------------------------------------------------------------------------------------ helpers


def build(daemon: Any, environment: str, code: str, **build_: Any) -> str:
    """POST /programs and return the new program's id (the build must succeed)."""
    response = daemon.post("/programs", json={
        "environment": environment, "main_file": {"content": code}, **build_,
    })
    assert response.status_code == 201, response.text
    program_id: str = response.json()["program_id"]
    return program_id


def run_program(daemon: Any, program_id: str, **run_: Any) -> dict[str, Any]:
    response = daemon.post(f"/programs/{program_id}/run", json=run_)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def c_results(stdout: str) -> dict[str, int]:
    """Parse the `label value` lines that the C programs below print."""
    results = {}
    for line in stdout.splitlines():
        label, _, value = line.rpartition(" ")
        results[label] = int(value)
    return results


# C programs report `label errno` (0 for success); `errno` is read after the call, not in the
# same argument list (whose evaluation order is unspecified).
C_PRELUDE = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
static void report(const char *label, long result) {
    printf("%s %d\n", label, result < 0 ? errno : 0);
}
#define TRY(label, expr) do { errno = 0; report(label, (long)(expr)); } while (0)
"""


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = POLL_DEADLINE_S) -> None:
    """Poll `condition` until it holds (bounded); fail with `what` otherwise."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(0.01)  # poll interval, not a wait for a fixed time


def snapshot(path: Path) -> dict[str, tuple[int, int, int, int, bytes | str]]:
    """Everything about a host tree that a followed link could change: each entry's mode, owner,
    group, mtime and content (or link target)."""
    entries = {}
    for entry in [path, *sorted(path.rglob("*"))]:
        st = entry.lstat()
        if entry.is_symlink():
            content: bytes | str = os.readlink(entry)
        elif entry.is_file():
            content = entry.read_bytes()
        else:
            content = ""
        entries[str(entry.relative_to(path))] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, content)
    return entries


@pytest.fixture
def canary() -> Iterator[Path]:
    """A host directory that no job may touch: a secret file in it, and a subdirectory.

    It is world-traversable and the secret world-readable on purpose, so that a daemon that
    followed a planted link would really reach it (mounting it for a job included)."""
    top = Path(tempfile.mkdtemp(prefix="sandkasten-canary-", dir="/tmp"))
    try:
        os.chmod(top, 0o755)
        (top / "secret").write_text(f"SECRET-{uuid.uuid4()}\n")
        os.chmod(top / "secret", 0o644)
        (top / "sub").mkdir(mode=0o755)
        (top / "sub" / "keep").write_text("keep me\n")
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def job_count(daemon: Any) -> float:
    """Jobs the daemon has run so far (compile and run steps), from /metrics."""
    text = daemon.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sandkasten_job_duration_seconds_count"))


def plant(link: Path, target: Path | str) -> None:
    """Make a symlink as a job would have made it (owned by the job's uid)."""
    link.symlink_to(target)
    os.lchown(link, NOBODY, NOBODY)


def compile_output_dir(daemon: Any, compiling: Any) -> Path:
    """Wait until the build running in `compiling` has started its compile step and return the
    host side of its `/program` (a tmpfs in its job directory); the step must still be running."""

    def found() -> list[Path]:
        return [d / "program" for d in daemon.jobs_dir.iterdir() if os.path.ismount(d / "program")]

    wait_until(lambda: bool(found()) or compiling.done(), "the compile step started")
    assert not compiling.done(), "the compile step ended before links could be planted"
    [directory] = found()
    return directory


def remove_program(daemon: Any, program_id: str) -> None:
    """Clean up a program directory a test has tampered with (rmtree does not follow links)."""
    shutil.rmtree(daemon.programs_dir / program_id, ignore_errors=True)


# A C program whose compilation succeeds after a couple of seconds (10^6 tokens to fold), long
# enough to plant links while the compile step runs.
def slow_c_program() -> str:
    levels = "\n".join(f"#define L{i} " + " ".join([f"L{i - 1}"] * 10) for i in range(1, 7))
    return (f"/* {uuid.uuid4()} */\n#include <stdio.h>\n#define L0 +1\n{levels}\n"
            "int main(void) { printf(\"%d\\n\", (0 L6) == 1000000); return 0; }\n")


# ------------------------------------------------------------------------------------ FS-01..03
# The daemon's host-side writes, reads and deletes in directories a job could have written to.


@pytest.fixture(scope="module")
def pruning_daemon(daemon_factory: Callable[..., Any]) -> Any:
    """A daemon that deletes programs 3 s after their last use and sweeps every second."""
    return daemon_factory(PROGRAM_TTL="3", PRUNE_PROGRAMS_INTERVAL="1", RUN_LIMITS__TIME="10")


@pytest.mark.catalogue("FS-02")
def test_pruner_does_not_follow_links_planted_in_program_files(pruning_daemon: Any, canary: Path) -> None:
    """Host layer, a case no job can bring about any more (a compile step's links are refused at
    the copy into the store): a compiled program's `files/` is filled with links to a host
    directory: absolute and relative, to the directory, to a file, nested in subdirectories (one
    of them mode 000), and a loop. When the program expires the pruner deletes the tree; it must
    unlink the links, not what they point to, and must not change the owner or mode of anything
    behind them (Judge0 CVE-2024-28189)."""
    before = snapshot(canary)
    program_id = build(pruning_daemon, "c", f"/* {uuid.uuid4()} */ int main(void) {{ return 0; }}\n")
    program_dir = pruning_daemon.programs_dir / program_id
    files = program_dir / "files"
    assert files.stat().st_uid == 0, "files/ is the daemon's copy of the build output"
    plant(files / "to-dir", canary)
    plant(files / "to-file", canary / "secret")
    plant(files / "relative-to-dir", os.path.relpath(canary, files))
    plant(files / "loop", "loop")
    for name in ("nested", "locked"):
        (files / name).mkdir()
        plant(files / name / "deeper", canary / "sub")
        plant(files / name / "secret", canary / "secret")
        os.chown(files / name, NOBODY, NOBODY)
    os.chmod(files / "locked", 0)

    wait_until(lambda: not os.path.lexists(program_dir), "the expired program was pruned")
    assert snapshot(canary) == before, "the pruner changed what a planted link points to"


@pytest.mark.catalogue("FS-02")
def test_pruner_unlinks_links_in_place_of_the_programs_own_entries(pruning_daemon: Any, canary: Path) -> None:
    """Host layer, a case no job can bring about: `files` itself and the daemon's `last_run` are
    symlinks to a host directory and file. `last_run` is read without following the link (so the
    program counts as expired), and the program directory is deleted without touching the
    canary."""
    before = snapshot(canary)
    program_id = build(pruning_daemon, "python", f"# {uuid.uuid4()}\nprint(1)\n")
    program_dir = pruning_daemon.programs_dir / program_id
    shutil.rmtree(program_dir / "files")
    plant(program_dir / "files", canary)
    (program_dir / "last_run").unlink()
    plant(program_dir / "last_run", canary / "secret")

    wait_until(lambda: not os.path.lexists(program_dir), "the program with planted links was pruned")
    assert snapshot(canary) == before


@pytest.mark.catalogue("FS-02")
def test_failed_compile_removes_links_planted_during_it(daemon: Any, canary: Path) -> None:
    """Host layer, on the error path: while a compile step runs (it reads /dev/urandom until its
    time limit), links to a host directory and file are planted in its `/program` tmpfs, as the
    compile step could. The failed build leaves nothing (the tmpfs is unmounted, the job
    directory deleted); no program is stored; the canary is untouched."""
    before = snapshot(canary)
    existing = set(os.listdir(daemon.programs_dir))
    code = f"/* {uuid.uuid4()} */\n#include </dev/urandom>\nint main(void) {{ return 0; }}\n"
    with ThreadPoolExecutor(max_workers=1) as pool:
        compiling = pool.submit(daemon.post, "/programs", json={
            "environment": "c", "main_file": {"content": code}, "compile_limits": {"time": 2},
        })
        output = compile_output_dir(daemon, compiling)
        plant(output / "to-dir", canary)
        plant(output / "to-file", canary / "secret")
        response = compiling.result()
    assert response.status_code == 400 and response.json()["error"] == "compile_error", response.text
    assert set(os.listdir(daemon.programs_dir)) - existing == set(), "the failed build left something"
    wait_until(lambda: os.listdir(daemon.jobs_dir) == [".lock"], "the job directory was removed")
    assert snapshot(canary) == before


@pytest.mark.catalogue("FS-02", "FS-03")
def test_links_planted_in_a_successful_compile_output_are_refused_not_followed(daemon: Any, canary: Path) -> None:
    """Host layer: while a C program compiles (about two seconds), links to a host directory and
    file are planted in its `/program` tmpfs. The compile step succeeds, but the daemon copies
    only regular files and directories: the build is a compile_error naming the link, nothing
    is stored, and nothing behind the links was read or changed."""
    before = snapshot(canary)
    existing = set(os.listdir(daemon.programs_dir))
    with ThreadPoolExecutor(max_workers=1) as pool:
        compiling = pool.submit(daemon.post, "/programs", json={
            "environment": "c", "main_file": {"content": slow_c_program()},
        })
        output = compile_output_dir(daemon, compiling)
        (output / "sub").mkdir()
        plant(output / "sub" / "to-dir", canary)
        response = compiling.result()
    assert response.status_code == 400, response.text
    assert response.json()["message"] == ("/program/sub/to-dir is a symbolic link: a build may only "
                                          "leave regular files and directories"), response.text
    assert set(os.listdir(daemon.programs_dir)) - existing == set()
    assert snapshot(canary) == before


@pytest.mark.catalogue("FS-02")
def test_rebuild_over_an_unfinished_program_with_a_linked_files_dir(daemon: Any, canary: Path) -> None:
    """Host layer: a program directory left unfinished (no `ok` marker, as an older version could
    leave it after a crash) whose `files` is a symlink to a root-owned host directory. Building
    it again puts a complete new directory in its place; taking the old one away must not follow
    the link (Judge0 CVE-2024-28189: `chown` and deletion through a planted link)."""
    os.chmod(canary, 0o700)
    before = snapshot(canary)
    code = f"/* {uuid.uuid4()} */\n#include <stdio.h>\nint main(void) {{ puts(\"rebuilt\"); return 0; }}\n"
    program_id = build(daemon, "c", code)
    program_dir = daemon.programs_dir / program_id
    try:
        (program_dir / "ok").unlink()
        shutil.rmtree(program_dir / "files")
        plant(program_dir / "files", canary)

        assert build(daemon, "c", code) == program_id
        assert not (program_dir / "files").is_symlink()
        assert (program_dir / "files").stat().st_uid == 0
        assert run_program(daemon, program_id, run_limits={"time": 5})["stdout"] == "rebuilt\n"
        assert snapshot(canary) == before, "the rebuild changed the directory behind the link"
    finally:
        remove_program(daemon, program_id)


@pytest.mark.catalogue("FS-01")
def test_daemon_writes_replace_planted_links_instead_of_following_them(daemon: Any, canary: Path) -> None:
    """Host layer (Judge0 CVE-2024-28185: the host wrote through a link planted in the box).

    A build puts its directory in place whole (made aside, then renamed), so the daemon's later
    writes are to `last_run` on every run. Symlinks to host files are planted, as no job could,
    at `last_run` and its temporary name in a built program's directory, and at the path of a
    program about to be built. Runs and the build must succeed, leave regular files of their
    own at those names, and leave the host files unchanged."""
    for name in ("last_run", ".last_run.tmp", "program"):
        (canary / f"target{name}").write_text(f"host file {name}\n")
    before = snapshot(canary)
    program_id = build(daemon, "c", f"/* {uuid.uuid4()} */\nint main(void) {{ return 0; }}\n")
    program_dir = daemon.programs_dir / program_id
    code = f"/* {uuid.uuid4()} */\nint main(void) {{ return 0; }}\n"
    try:
        for name in ("last_run", ".last_run.tmp"):
            (program_dir / name).unlink(missing_ok=True)
            plant(program_dir / name, canary / f"target{name}")
        assert run_program(daemon, program_id, run_limits={"time": 5})["status"] == 0
        assert stat.S_ISREG((program_dir / "last_run").lstat().st_mode), "last_run is still a link"
        assert not os.path.lexists(program_dir / ".last_run.tmp"), ".last_run.tmp was left behind"

        # the next program's directory is a link before it is built (the build is new: not cached)
        response = daemon.post("/programs", json={"environment": "c", "main_file": {"content": code}})
        assert response.status_code == 201, response.text
        new_dir = daemon.programs_dir / response.json()["program_id"]
        remove_program(daemon, new_dir.name)
        plant(new_dir, canary / "targetprogram")
        response = daemon.post("/programs", json={"environment": "c", "main_file": {"content": code}})
        assert response.status_code == 201, response.text
        assert not new_dir.is_symlink() and (new_dir / "ok").is_file()
        assert snapshot(canary) == before, "the daemon wrote through a planted link"
    finally:
        remove_program(daemon, program_id)


@pytest.mark.catalogue("FS-01")
def test_link_at_the_compilers_output_resolves_inside_the_jail(daemon: Any, canary: Path) -> None:
    """Host layer, then the jail: while a C program compiles, `binary` in its `/program` tmpfs
    (where the compiler writes its output) becomes a symlink to a host file. The compile step
    runs in the jail, where that absolute path does not exist; the linker fails, nothing is
    stored, and the host file is unchanged."""
    (canary / "binary-target").write_text("host file binary\n")
    before = snapshot(canary)
    existing = set(os.listdir(daemon.programs_dir))
    with ThreadPoolExecutor(max_workers=1) as pool:
        compiling = pool.submit(daemon.post, "/programs", json={
            "environment": "c", "main_file": {"content": slow_c_program()},
        })
        plant(compile_output_dir(daemon, compiling) / "binary", canary / "binary-target")
        assert not compiling.done(), "the compile step ended while the link was planted"
        response = compiling.result()
    assert response.status_code == 400, response.text
    assert "cannot open output file /program/binary" in response.json()["details"]["stderr"], response.text
    assert set(os.listdir(daemon.programs_dir)) - existing == set(), "the failed build left something"
    assert snapshot(canary) == before, "the compile step wrote through a planted link"


@pytest.mark.catalogue("FS-03")
def test_daemon_does_not_read_a_planted_program_description(daemon: Any, canary: Path) -> None:
    """Host layer. `program.json` says what a run mounts. First, as a control, the test rewrites it
    in place with one more mount (the canary directory at /canary) and shows that a run then
    sees the secret: this file is worth attacking. Then it becomes a symlink to a host file with
    that same content; the daemon must refuse to read through the link (CE #6026, go-judge
    #176: the host read a file through a link the program made)."""
    secret = (canary / "secret").read_text().strip()
    code = (f"# {uuid.uuid4()}\nimport os\n"
            "if os.path.isdir('/canary'):\n    print(os.listdir('/canary'), open('/canary/secret').read())\n"
            "else:\n    print('none')\n")
    program_id = build(daemon, "python", code)
    program_dir = daemon.programs_dir / program_id
    try:
        description = json.loads((program_dir / "program.json").read_text())
        description["mounts"].append({"source": str(canary), "target": "/canary"})
        (program_dir / "program.json").write_text(json.dumps(description))
        control = run_program(daemon, program_id, run_limits={"time": 5})
        assert secret in control["stdout"], f"control: the extra mount did not work: {control}"

        (canary / "program.json").write_text(json.dumps(description))
        (program_dir / "program.json").unlink()
        plant(program_dir / "program.json", canary / "program.json")
        response = daemon.post(f"/programs/{program_id}/run", json={"run_limits": {"time": 5}})
        assert secret not in response.text, "the daemon read a program description through a link"
        assert response.status_code != 200 or "none" in response.json()["stdout"], response.text
        assert run(daemon, "python", "print('alive')", run_limits={"time": 5})["stdout"] == "alive\n"
    finally:
        remove_program(daemon, program_id)


@pytest.mark.catalogue("FS-03")
def test_daemon_does_not_read_a_planted_compile_result(daemon: Any, canary: Path) -> None:
    """Host layer. A cached build returns the stored `compile_result`. Control: rewritten in place
    with the secret as its stdout, a second build request returns the secret. As a symlink to a
    host file with the same content, it must not be read through."""
    secret = (canary / "secret").read_text().strip()
    code = f"/* {uuid.uuid4()} */ int main(void) {{ return 0; }}\n"
    program_id = build(daemon, "c", code)
    program_dir = daemon.programs_dir / program_id
    request = {"environment": "c", "main_file": {"content": code}}
    try:
        stored = json.loads((program_dir / "compile_result").read_text())
        stored["stdout"] = secret
        (program_dir / "compile_result").write_text(json.dumps(stored))
        control = daemon.post("/programs", json=request)
        assert control.status_code == 201 and secret in control.text, f"control: {control.text}"

        (canary / "compile_result").write_text(json.dumps(stored))
        (program_dir / "compile_result").unlink()
        plant(program_dir / "compile_result", canary / "compile_result")
        response = daemon.post("/programs", json=request)
        assert secret not in response.text, "the daemon read a compile result through a link"
        assert run(daemon, "python", "print('alive')", run_limits={"time": 5})["stdout"] == "alive\n"
    finally:
        remove_program(daemon, program_id)


@pytest.mark.catalogue("FS-01", "FS-03")
def test_program_directory_entries_are_outside_every_mount(daemon: Any) -> None:
    """Inside the jail: why the daemon's own files cannot be planted by a job. At run time (and
    at compile time, see CC-05 in test_attacks.py) the only mount from the programs directory is
    the program's own `files/` at /program; `/program/..` is the jail's read-only root, so `ok`,
    `last_run`, `program.json` and `compile_result` are out of reach."""
    code = C_PRELUDE + r"""
int main(void) {
    const char *names[] = {"ok", "last_run", "program.json", "compile_result", ".ok.tmp", "x"};
    char path[64];
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "/program/../%s", names[i]);
        TRY(names[i], open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
        snprintf(path, sizeof path, "/program/../link-%s", names[i]);
        TRY(path + 12, symlink("/etc/passwd", path));
    }
    FILE *mounts = fopen("/proc/self/mountinfo", "r");
    char line[4096], root[4096], point[4096];
    while (fgets(line, sizeof line, mounts))
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) == 2)
            printf("mount:%s:%s 0\n", point, root);
    return 0;
}
"""
    program_id = build(daemon, "c", f"/* {uuid.uuid4()} */\n" + code)
    out = c_results(run_program(daemon, program_id, run_limits={"time": 5})["stdout"])
    attempts = {k: v for k, v in out.items() if not k.startswith("mount:")}
    assert attempts and set(attempts.values()) == {errno.EROFS}, attempts
    mounts = dict(k.split(":")[1:] for k in out if k.startswith("mount:"))
    programs_dir = str(daemon.programs_dir)
    from_programs = {point: root for point, root in mounts.items() if root.startswith(programs_dir)}
    assert from_programs == {"/program": f"{programs_dir}/{program_id}/files"}, mounts


@pytest.mark.catalogue("FS-01", "FS-02", "FS-03")
def test_links_made_by_a_job_stay_in_the_job(daemon: Any, canary: Path) -> None:
    """Inside the jail, then on the host: a C program plants links to host paths in /tmp (a
    tmpfs of its own, allowed), /box and /program (read-only: EROFS), then exits. Nothing of it
    shows up on the host: the jobs directory is empty again and the canary is untouched."""
    before = snapshot(canary)
    code = C_PRELUDE + f"""
int main(void) {{
    TRY("tmp", symlink("{canary}/secret", "/tmp/to-secret"));
    TRY("tmp-dir", symlink("{canary}", "/tmp/to-dir"));
    TRY("box", symlink("{canary}/secret", "/box/to-secret"));
    TRY("program", symlink("{canary}/secret", "/program/to-secret"));
    TRY("follow", open("/tmp/to-secret", O_RDONLY));
    return 0;
}}
"""
    out = c_results(run(daemon, "c", code, run_limits={"time": 5},
                        files=[{"name": "data.txt", "content": "x"}])["stdout"])
    assert out == {"tmp": 0, "tmp-dir": 0, "box": errno.EROFS, "program": errno.EROFS,
                   "follow": errno.ENOENT}, out
    wait_until(lambda: os.listdir(daemon.jobs_dir) == [".lock"], "the job directory was removed")
    assert snapshot(canary) == before


# ------------------------------------------------------------------------------------ FS-04


HARDLINK_PY = """
import errno, json, os
out = {}
for source in ["/usr/bin/bash", "/box/data.txt", "/program/code.py", "/etc/passwd", "/dev/null"]:
    try:
        os.link(source, "/tmp/hardlink")
        out[source] = 0
        os.unlink("/tmp/hardlink")
    except OSError as e:
        out[source] = e.errno
print(json.dumps(out))
"""

HARDLINK_C = C_PRELUDE + r"""
int main(void) {
    const char *sources[] = {"/usr/bin/bash", "/box/data.txt", "/program/binary", "/dev/null"};
    for (int i = 0; i < 4; i++) {
        TRY(sources[i], linkat(AT_FDCWD, sources[i], AT_FDCWD, "/tmp/hardlink", 0));
        unlink("/tmp/hardlink");
    }
    return 0;
}
"""


@pytest.mark.catalogue("FS-04")
@pytest.mark.parametrize("environment", ["python", "c"])
def test_no_hardlinks_to_files_outside_the_jobs_tmp(daemon: Any, environment: str) -> None:
    """Inside the jail: the only writable place at run time is /tmp, a tmpfs; a hard link from it
    to any other file (all on other mounts) fails with EXDEV. /etc/passwd is a symlink to
    /dev/null, so linking it is linking /dev/null."""
    code, parse = (HARDLINK_PY, json.loads) if environment == "python" else (HARDLINK_C, c_results)
    result = run(daemon, environment, code, run_limits={"time": 5},
                 files=[{"name": "data.txt", "content": "x"}])
    assert result["status"] == 0, result
    out = parse(result["stdout"])
    assert out and set(out.values()) == {errno.EXDEV}, out


@pytest.mark.catalogue("FS-04")
def test_host_protects_hardlinks() -> None:
    """On the host: with fs.protected_hardlinks=1 a process cannot hard-link files it does not own
    (the second defence the catalogue asks for). The daemon does not check this at startup;
    this test checks the machine the suite runs on."""
    assert Path("/proc/sys/fs/protected_hardlinks").read_text().strip() == "1"


# ------------------------------------------------------------------------------------ FS-05

BAD_NAMES_422 = [
    "../x", "/abs", "a/b", "a/../../x", "", "a\x00b", "a" * 33, "code.py\n", " code.py", "code.py/",
    "x\\y", "~", "*", "a:b",
    "\uff43ode.py",  # FULLWIDTH LATIN SMALL LETTER C
    "\u0441ode.py",  # CYRILLIC SMALL LETTER ES
    "code\u2024py",  # ONE DOT LEADER
    "\u2025",  # TWO DOT LEADER (looks like "..")
    "a\u2215b",  # DIVISION SLASH (looks like "/")
    "a\u2044b",  # FRACTION SLASH
    "e\u0301.py",  # combining acute accent
]
BAD_NAMES_400 = [".", "..", "...", "...."]


def request_with_file_name(where: str, name: str) -> dict[str, Any]:
    build_: dict[str, Any] = {"environment": "python", "main_file": {"content": "print(1)"}}
    run_: dict[str, Any] = {"run_limits": {"time": 5}}
    if where == "main_file":
        build_["main_file"]["name"] = name
    elif where == "build_files":
        build_["files"] = [{"name": name, "content": "x"}]
    else:
        run_["files"] = [{"name": name, "content": "x"}]
    return {"build": build_, "run": run_}


@pytest.mark.catalogue("FS-05")
@pytest.mark.parametrize("where", ["main_file", "build_files", "run_files"])
def test_file_names_that_are_paths_are_refused(daemon: Any, where: str) -> None:
    """API layer: names with separators, traversal, control or look-alike characters, empty or
    longer than 32 characters fail validation (422); names made only of dots are refused with
    400 invalid_file_names. No job runs for any of them."""
    jobs_before = job_count(daemon)
    for name in BAD_NAMES_422:
        response = daemon.post("/run", json=request_with_file_name(where, name))
        assert response.status_code == 422, (name, response.text)
        body = response.json()
        assert set(body) == {"error", "reason"} and body["error"] == "unprocessable_content", (name, body)
    for name in BAD_NAMES_400:
        response = daemon.post("/run", json=request_with_file_name(where, name))
        message = expect_error(response, 400, INVALID_FILE_NAMES)
        assert f"file name `{name}`" in message, (name, message)
    assert job_count(daemon) == jobs_before, "a job ran for a request with a bad file name"


@pytest.mark.catalogue("FS-05")
def test_duplicate_and_colliding_file_names(daemon: Any) -> None:
    """API layer: duplicates within a list, and a build file named like the main file, are refused
    (400 invalid_file_names). Names differing only in case are different files (as on Linux),
    and a run file named like the main file lands in /box without touching /program."""
    main = {"content": "print(1)"}
    for body, name in [
        ({"build": {"environment": "python", "main_file": main,
                    "files": [{"name": "a", "content": "1"}, {"name": "a", "content": "2"}]}}, "a"),
        ({"build": {"environment": "python", "main_file": main},
          "run": {"files": [{"name": "a", "content": "1"}, {"name": "a", "content": "2"}]}}, "a"),
        ({"build": {"environment": "python", "main_file": main,
                    "files": [{"name": "code.py", "content": "1"}]}}, "code.py"),
        ({"build": {"environment": "python", "main_file": {"name": "x.py", "content": "print(1)"},
                    "files": [{"name": "x.py", "content": "1"}]}}, "x.py"),
    ]:
        response = daemon.post("/run", json=body)
        message = expect_error(response, 400, INVALID_FILE_NAMES)
        assert f"file name `{name}`" in message, (body, message)

    code = f"""# {uuid.uuid4()}
import json, os
print(json.dumps({{d: {{n: open(f"{{d}}/{{n}}").read() for n in sorted(os.listdir(d))}}
                  for d in ("/program", "/box")}}))
"""
    response = daemon.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": code},
                  "files": [{"name": "A.txt", "content": "upper"}, {"name": "a.txt", "content": "lower"}]},
        "run": {"files": [{"name": "code.py", "content": "run file"}, {"name": "b" * 32, "content": "32"}],
                "run_limits": {"time": 5}},
    })
    assert response.status_code == 200, response.text
    out = json_stdout(response.json()["run"])
    assert out == {"/program": {"A.txt": "upper", "a.txt": "lower", "code.py": code},
                   "/box": {"b" * 32: "32", "code.py": "run file"}}, out


# ------------------------------------------------------------------------------------ FS-06

PEEK_PY = """
import json, os, sys
paths = json.loads(sys.argv[1])
out = {"visible": [p for p in paths if os.path.lexists(p)], "root": sorted(os.listdir("/")),
       "program": sorted(os.listdir("/program")), "box": sorted(os.listdir("/box")), "mounts": {}}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    out["mounts"][fields[4]] = fields[3]
print(json.dumps(out))
"""


@pytest.mark.catalogue("FS-06")
def test_job_sees_only_its_own_program_and_box(daemon: Any) -> None:
    """Inside the jail: the programs and jobs directories, another program's files, another
    job's box (one running at the same time) and the daemon's own files are not mounted. The
    only mounts from the daemon's directories are this program's `files/` and this job's box."""
    other_id = build(daemon, "python", f"# other program {uuid.uuid4()}\nprint(1)\n")
    program_id = build(daemon, "python", f"# {uuid.uuid4()}\n" + PEEK_PY)
    with ThreadPoolExecutor(max_workers=1) as pool:
        marker = f"fs06-{uuid.uuid4().hex[:16]}"
        sleeping = pool.submit(run, daemon, "bash", "sleep 1000\n", run_limits={"time": 3},
                               files=[{"name": marker, "content": "x"}])

        def other_box() -> str | None:
            boxes = [daemon.jobs_dir / job / "box" for job in os.listdir(daemon.jobs_dir)]
            return next((str(box) for box in boxes if (box / marker).exists()), None)

        wait_until(lambda: other_box() is not None or sleeping.done(), "the other job started")
        box = other_box()
        assert box is not None, "the other job ended before this one looked"
        paths = [str(daemon.programs_dir), str(daemon.jobs_dir), str(daemon.programs_dir / other_id),
                 str(daemon.programs_dir / other_id / "files"), box, f"{box}/{marker}",
                 str(daemon.programs_dir / program_id / "program.json"), str(daemon.log_path),
                 str(ROOT), str(ROOT / "config.toml")]
        result = run_program(daemon, program_id, args=[json.dumps(paths)], run_limits={"time": 5},
                             files=[{"name": "mine.txt", "content": "x"}])
        assert not sleeping.done(), "the other job ended before this one looked"
        sleeping.result()
    out = json_stdout(result)
    assert out["visible"] == [], out
    assert out["root"] == sorted(["bin", "box", "dev", "etc", "lib", "lib64", "proc", "program",
                                  "sandkasten", "sbin", "tmp", "usr"]), out
    assert out["program"] == ["code.py"] and out["box"] == ["mine.txt"], out
    programs_dir, jobs_dir = str(daemon.programs_dir), str(daemon.jobs_dir)
    ours = {point: root for point, root in out["mounts"].items()
            if root.startswith((programs_dir, jobs_dir))}
    assert set(ours) == {"/program", "/box"}, out["mounts"]
    assert ours["/program"] == f"{programs_dir}/{program_id}/files", ours
    assert ours["/box"].startswith(jobs_dir + "/") and ours["/box"].endswith("/box"), ours
    assert ours["/box"] != box, ours


@pytest.mark.catalogue("FS-06")
@pytest.mark.parametrize("environment", ["c", "bash"])
def test_daemon_directories_are_not_reachable(daemon: Any, environment: str) -> None:
    """Inside the jail, in C and Bash: the programs directory, the jobs directory and the
    repository are absent (ENOENT), also through /proc/self/root and /proc/1/cwd."""
    paths = [str(daemon.programs_dir), str(daemon.jobs_dir), str(ROOT),
             f"/proc/self/root{daemon.programs_dir}", f"/proc/1/cwd/..{daemon.jobs_dir}"]
    if environment == "c":
        checks = "\n".join(f'    TRY("{p}", open("{p}", O_RDONLY | O_DIRECTORY));' for p in paths)
        code = C_PRELUDE + f"int main(void) {{\n{checks}\n    return 0;\n}}\n"
        out = c_results(run(daemon, "c", code, run_limits={"time": 5})["stdout"])
        assert out == {p: errno.ENOENT for p in paths}, out
    else:
        code = "".join(f'if [ -e "{p}" ]; then echo "visible {p}"; fi\nls "{p}"\n' for p in paths)
        result = run(daemon, "bash", code, run_limits={"time": 5})
        assert result["stdout"] == "", result
        assert result["stderr"].count("No such file or directory") == len(paths), result


# ------------------------------------------------------------------------------------ FS-07

NEW_FILES = ["/usr/x", "/program/x", "/box/x", "/sandkasten/x", "/x", "/etc/x", "/dev/x"]
READ_ONLY_MOUNTS = {"/", "/usr", "/program", "/box", "/sandkasten", "/proc"}

WRITE_PY = """
import json, os, sys
out = {}
for path in sys.argv[1:]:
    try:
        with open(path, "a") as f:
            f.write("x")
        out[path] = 0
    except OSError as e:
        out[path] = e.errno
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    out["options " + fields[4]] = fields[5].split(",")[0]
print(json.dumps(out))
"""

WRITE_C = C_PRELUDE + r"""
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) TRY(argv[i], open(argv[i], O_WRONLY | O_APPEND | O_CREAT, 0644));
    TRY("chmod /program/binary", chmod("/program/binary", 0777));
    TRY("unlink /program/binary", unlink("/program/binary"));
    TRY("rename /program/binary", rename("/program/binary", "/program/b"));
    TRY("mkdir /usr/x", mkdir("/usr/x", 0755));
    TRY("utime /box/data.txt", utimensat(AT_FDCWD, "/box/data.txt", NULL, 0));
    return 0;
}
"""

WRITE_BASH = 'for path in "$@"; do printf x >> "$path" || true; done\n'


@pytest.mark.catalogue("FS-07")
@pytest.mark.parametrize("environment", ["python", "c", "bash"])
def test_read_only_mounts_refuse_writes(daemon: Any, environment: str) -> None:
    """Inside the jail: creating files anywhere but /tmp fails with EROFS (/usr, /program at run
    time, /box, /sandkasten with the environment's scripts, the root, /etc, /dev). Appending to
    existing files there fails with EROFS or, for root-owned files, EACCES (permission is checked
    first) or, for the running C binary, ETXTBSY. The C program's own binary (owned by the job's
    uid) cannot be chmodded, unlinked or renamed either (EROFS)."""
    scripts = {"python": "/program/code.py", "c": "/program/binary", "bash": "/program/code.sh"}
    existing = ["/usr/bin/bash", "/sandkasten/run.sh", "/box/data.txt", scripts[environment]]
    code = {"python": WRITE_PY, "c": WRITE_C, "bash": WRITE_BASH}[environment]
    result = run(daemon, environment, code, args=NEW_FILES + existing, run_limits={"time": 5},
                 files=[{"name": "data.txt", "content": "x"}])
    if environment == "bash":
        lines = result["stderr"].splitlines()
        assert len(lines) == len(NEW_FILES + existing), result
        assert all(line.endswith(": Read-only file system") or line.endswith(": Permission denied")
                   for line in lines), result
        for path in NEW_FILES:
            assert any(f"{path}: Read-only file system" in line for line in lines), (path, result)
        return
    assert result["status"] == 0, result
    out = json.loads(result["stdout"]) if environment == "python" else c_results(result["stdout"])
    assert {p: out[p] for p in NEW_FILES} == {p: errno.EROFS for p in NEW_FILES}, out
    for path in existing:
        assert out[path] in (errno.EROFS, errno.EACCES, errno.ETXTBSY), (path, out)
    if environment == "python":
        options = {k.split(" ", 1)[1]: v for k, v in out.items() if k.startswith("options ")}
        assert {m: options[m] for m in READ_ONLY_MOUNTS} == {m: "ro" for m in READ_ONLY_MOUNTS}, options
        assert options["/tmp"] == "rw", options
    else:
        assert {k: v for k, v in out.items() if " " in k} == {
            "chmod /program/binary": errno.EROFS, "unlink /program/binary": errno.EROFS,
            "rename /program/binary": errno.EROFS, "mkdir /usr/x": errno.EROFS,
            "utime /box/data.txt": errno.EROFS}, out


@pytest.mark.catalogue("FS-07")
def test_kernel_is_past_dirty_pipe() -> None:
    """On the host: read-only mounts share page cache pages with the host; Dirty Pipe
    (CVE-2022-0847, 5.8 <= kernel < 5.16.11 / 5.15.25 / 5.10.102) let any process write to
    them. The kernel the daemon runs on must be outside that range."""
    release = os.uname().release
    version = tuple(int(part) for part in release.split("-")[0].split(".")[:3] + ["0"] * 2)[:3]
    vulnerable = (5, 8, 0) <= version < (5, 16, 11) and not (
        (version[:2] == (5, 15) and version >= (5, 15, 25)) or (version[:2] == (5, 10) and version >= (5, 10, 102)))
    assert not vulnerable, f"kernel {release} is vulnerable to Dirty Pipe"


# ------------------------------------------------------------------------------------ FS-08

FDS_PY = """
import json, os
fds = os.listdir("/proc/self/fd")  # the directory itself is open (and listed) while it is read
targets = {fd: os.readlink(f"/proc/self/fd/{fd}") if os.path.lexists(f"/proc/self/fd/{fd}") else None
           for fd in fds}
print(json.dumps(targets))
"""

FDS_C = C_PRELUDE + r"""
int main(void) {
    char path[64], target[4096];
    for (int fd = 0; fd < 65536; fd++) {
        if (fcntl(fd, F_GETFD) == -1) continue;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = 0;
        printf("%d %s\n", fd, target);
    }
    return 0;
}
"""

# `ls` runs in a child and lists the shell's descriptors (a glob would list its own directory fd)
FDS_BASH = 'ls -l /proc/$$/fd\n'


@pytest.mark.catalogue("FS-08")
@pytest.mark.parametrize("environment", ["python", "c", "bash"])
def test_only_standard_descriptors_are_open(daemon: Any, environment: str) -> None:
    """Inside the jail: the job's open descriptors are stdin, stdout and stderr (pipes), plus
    what the language opens itself: Python's descriptor for the listing, Bash's 255 (its own
    script). No host directory or daemon descriptor leaks in (runc CVE-2024-21626)."""
    code = {"python": FDS_PY, "c": FDS_C, "bash": FDS_BASH}[environment]
    result = run(daemon, environment, code, run_limits={"time": 5})
    assert result["status"] == 0, result
    if environment == "bash":
        links = [line.split()[-3:] for line in result["stdout"].splitlines() if " -> " in line]
        fds = {int(fd): target for fd, _, target in links}
        assert sorted(fds) == [0, 1, 2, 255] and fds.pop(255) == "/program/code.sh", result
    elif environment == "python":
        fds = {int(k): v for k, v in json.loads(result["stdout"]).items()}
        assert sorted(fds) == [0, 1, 2, 3] and fds.pop(3) is None, fds  # 3: the listing's own, closed
    else:
        fds = {int(line.split(" ", 1)[0]): line.split(" ", 1)[1] for line in result["stdout"].splitlines()}
    assert sorted(fds) == [0, 1, 2], fds
    assert all(target.startswith("pipe:[") for target in fds.values()), fds


# ------------------------------------------------------------------------------------ FS-09

PROC_PY = """
import json, os
out = {}
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.read(r, 1)
    os._exit(0)
for path in ["/proc/self/exe", "/proc/1/exe", "/proc/self/mem", f"/proc/{child}/mem",
             f"/proc/{child}/exe", "/proc/self/cwd/../../../etc/shadow"]:
    try:
        os.close(os.open(path, os.O_RDWR))
        out[path.replace(str(child), "CHILD")] = 0
    except OSError as e:
        out[path.replace(str(child), "CHILD")] = e.errno
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["child"] = child
out["root"] = sorted(os.listdir("/proc/1/root")) == sorted(os.listdir("/"))
out["cwd"] = os.readlink("/proc/1/cwd")
os.write(w, b"x")
os.waitpid(child, 0)
print(json.dumps(out))
"""

PROC_C = C_PRELUDE + r"""
int main(void) {
    int gate[2];
    if (pipe(gate) != 0) return 2;
    pid_t child = fork();
    if (child == 0) { char c; read(gate[0], &c, 1); _exit(0); }
    char path[64];
    TRY("/proc/self/exe", open("/proc/self/exe", O_RDWR));
    TRY("/proc/1/exe", open("/proc/1/exe", O_RDWR));
    TRY("/proc/self/mem", open("/proc/self/mem", O_RDWR));
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    TRY("/proc/CHILD/mem", open(path, O_RDWR));
    TRY("/proc/self/cwd/../../../etc/shadow", open("/proc/self/cwd/../../../etc/shadow", O_RDONLY));
    char cwd[256] = {0};
    TRY("readlink /proc/1/cwd", readlink("/proc/1/cwd", cwd, sizeof cwd - 1));
    printf("cwd-is-box %d\n", strcmp(cwd, "/box") != 0);
    write(gate[1], "x", 1);
    waitpid(child, NULL, 0);
    return 0;
}
"""


@pytest.mark.catalogue("FS-09")
@pytest.mark.parametrize("environment", ["python", "c"])
def test_proc_cannot_be_used_to_write_executables_or_memory(daemon: Any, environment: str) -> None:
    """Inside the jail: /proc/self/exe and /proc/1/exe (the interpreter, or the program's binary)
    cannot be opened for writing (runc CVE-2019-5736); /proc/<pid>/mem of the job itself or of its
    child cannot be opened for writing (/proc is mounted read-only: EROFS); /proc/1/cwd is /box
    and leads nowhere but the jail; only the job's own processes are in /proc."""
    code = PROC_PY if environment == "python" else PROC_C
    result = run(daemon, environment, code, run_limits={"time": 5})
    assert result["status"] == 0, result
    denied = (errno.EACCES, errno.ETXTBSY, errno.EROFS, errno.EPERM)
    if environment == "python":
        out = json.loads(result["stdout"])
        assert out["pids"] == [1, out["child"]], out
        assert out["root"] is True and out["cwd"] == "/box", out
    else:
        out = c_results(result["stdout"])
        assert out["readlink /proc/1/cwd"] == 0 and out["cwd-is-box"] == 0, out
    assert out["/proc/self/exe"] in denied and out["/proc/1/exe"] in denied, out
    assert out["/proc/self/mem"] == errno.EROFS and out["/proc/CHILD/mem"] == errno.EROFS, out
    assert out["/proc/self/cwd/../../../etc/shadow"] == errno.ENOENT, out


# ------------------------------------------------------------------------------------ FS-10

PERSIST_DIRS = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/run/shm", "/root", "/home/nobody",
                "/box", "/program", "/usr/local", "/sandkasten", "/etc", "/dev", "/"]

PERSIST_PY = """
import json, os, sys
marker, mode = sys.argv[1], sys.argv[2]
out = {}
for directory in sys.argv[3:]:
    path = os.path.join(directory, marker)
    if mode == "write":
        try:
            os.makedirs(directory, exist_ok=True)
            with open(path, "w") as f:
                f.write(marker)
            out[directory] = "written"
        except OSError as e:
            out[directory] = e.errno
    else:
        out[directory] = os.path.lexists(path)
print(json.dumps(out))
"""

PERSIST_BASH = """
marker=$1 mode=$2
shift 2
for dir in "$@"; do
    if [ "$mode" = write ]; then
        if { mkdir -p "$dir" && echo "$marker" > "$dir/$marker"; } 2> /dev/null; then
            echo "$dir written"
        else
            echo "$dir failed"
        fi
    elif [ -e "$dir/$marker" ]; then
        echo "$dir found"
    else
        echo "$dir absent"
    fi
done
"""


@pytest.mark.catalogue("FS-10")
@pytest.mark.parametrize("environment", ["python", "bash"])
def test_nothing_persists_into_the_next_job(daemon: Any, environment: str) -> None:
    """Inside the jail, twice: the first job writes a marker wherever it can (/tmp, /var/tmp,
    /dev/shm, /run/lock, a home directory, /box, /program, ...); only /tmp works, and it is the
    job's own tmpfs. The next job (another run of the same program) finds none of the markers."""
    marker = f"persist-{uuid.uuid4().hex}"
    code = PERSIST_PY if environment == "python" else PERSIST_BASH
    program_id = build(daemon, environment, code)
    first = run_program(daemon, program_id, args=[marker, "write", *PERSIST_DIRS], run_limits={"time": 5})
    second = run_program(daemon, program_id, args=[marker, "read", *PERSIST_DIRS], run_limits={"time": 5})
    if environment == "python":
        written = json_stdout(first)
        found = json_stdout(second)
        assert [d for d, v in written.items() if v == "written"] == ["/tmp"], written
        assert [d for d, v in found.items() if v] == [], found
    else:
        assert first["status"] == 0 and second["status"] == 0, (first, second)
        assert [line for line in first["stdout"].splitlines() if line.endswith(" written")] == ["/tmp written"], first
        assert [line for line in second["stdout"].splitlines() if not line.endswith(" absent")] == [], second
        assert len(second["stdout"].splitlines()) == len(PERSIST_DIRS), second


# ------------------------------------------------------------------------------------ FS-11

MALFORMED_C = C_PRELUDE + r"""
int main(void) {
    char name[300], path[5000];
    memset(name, 'a', sizeof name); name[sizeof name - 1] = 0;
    memcpy(name, "/tmp/", 5);
    TRY("long component", open(name, O_WRONLY | O_CREAT, 0644));
    memset(path, 'b', sizeof path); path[sizeof path - 1] = 0;
    for (int i = 0; i < (int)sizeof path - 1; i += 100) path[i] = '/';
    TRY("long path", open(path, O_RDONLY));
    name[5 + 255] = 0;
    TRY("255 characters", mkdir(name, 0755));
    name[5 + 255] = 'a'; name[5 + 256] = 0;
    TRY("256 characters", mkdir(name, 0755));
    TRY("NULL path", syscall(SYS_openat, AT_FDCWD, NULL, O_RDONLY));
    TRY("bad pointer", syscall(SYS_openat, AT_FDCWD, (char *)1, O_RDONLY));
    TRY("empty path", open("", O_RDONLY));
    TRY("format string", open("%s%s%s%n%n%n", O_RDONLY));
    TRY("invalid utf-8", open("/tmp/\xff\xfe", O_WRONLY | O_CREAT, 0644));
    TRY("loop a", symlink("/tmp/loop-b", "/tmp/loop-a"));
    TRY("loop b", symlink("/tmp/loop-a", "/tmp/loop-b"));
    TRY("loop", open("/tmp/loop-a", O_RDONLY));
    DIR *tmp = opendir("/tmp");
    struct dirent *entry;
    while ((entry = readdir(tmp)) != NULL)
        if ((unsigned char)entry->d_name[0] == 0xff) printf("listed %s\n", entry->d_name);
    return 0;
}
"""


@pytest.mark.catalogue("FS-11")
def test_malformed_paths_give_the_right_errno(daemon: Any) -> None:
    """Inside the jail (DMOJ's sandbox_c_* tests): over-long names and paths fail with
    ENAMETOOLONG, NULL and wild pointers with EFAULT, empty and format-string paths with ENOENT,
    a link loop with ELOOP; a file name of invalid UTF-8 is fine and comes back lossily decoded.
    The daemon answers the next request as usual."""
    result = run(daemon, "c", MALFORMED_C, run_limits={"time": 5})
    assert result["status"] == 0, result
    lines = result["stdout"].splitlines()
    assert lines[-1] == "listed \ufffd\ufffd", result
    out = c_results("\n".join(lines[:-1]))
    assert out == {
        "long component": errno.ENAMETOOLONG, "long path": errno.ENAMETOOLONG,
        "255 characters": 0, "256 characters": errno.ENAMETOOLONG,
        "NULL path": errno.EFAULT, "bad pointer": errno.EFAULT,
        "empty path": errno.ENOENT, "format string": errno.ENOENT, "invalid utf-8": 0,
        "loop a": 0, "loop b": 0, "loop": errno.ELOOP,
    }, out
    assert run(daemon, "python", "print('alive')", run_limits={"time": 5})["stdout"] == "alive\n"


@pytest.mark.catalogue("FS-11")
@pytest.mark.parametrize("environment", ["python", "bash"])
def test_over_long_names_in_scripts(daemon: Any, environment: str) -> None:
    """Inside the jail: the same ENAMETOOLONG from Python and Bash; Python refuses a NUL in a path
    before any system call."""
    long_name = "/tmp/" + "a" * 256
    if environment == "python":
        code = f"""
import json
out = {{}}
for label, path in [("long", {long_name!r}), ("nul", "/tmp/a\\0b")]:
    try:
        open(path, "w")
        out[label] = "opened"
    except OSError as e:
        out[label] = e.errno
    except ValueError:
        out[label] = "ValueError"
print(json.dumps(out))
"""
        assert json_stdout(run(daemon, "python", code, run_limits={"time": 5})) == {
            "long": errno.ENAMETOOLONG, "nul": "ValueError"}
    else:
        result = run(daemon, "bash", f"echo x > {long_name}\n", run_limits={"time": 5})
        assert result["status"] == 1 and result["stderr"].endswith(": File name too long\n"), result


@pytest.mark.catalogue("FS-11")
def test_nul_and_invalid_unicode_through_the_api(daemon: Any) -> None:
    """API layer: NUL in arguments or environment values is refused (422), as is JSON with a lone
    surrogate; NUL in stdin and in file contents is data and is delivered byte for byte."""
    base = {"build": {"environment": "python", "main_file": {"content": "print(1)"}}}
    for run_ in [{"args": ["a\x00b"]}, {"env_vars": [{"name": "A", "value": "a\x00b"}]}]:
        response = daemon.post("/run", json={**base, "run": run_})
        assert response.status_code == 422 and response.json()["error"] == "unprocessable_content", response.text
    response = daemon.post("/run", data=b'{"build": {"environment": "python", "main_file": '
                                        b'{"content": "print(1)\\ud800"}}}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    code = "import sys\nprint(list(sys.stdin.buffer.read()), list(open('/box/f', 'rb').read()))\n"
    result = run(daemon, "python", code, stdin="a\x00b", files=[{"name": "f", "content": "\x00\x01"}],
                 run_limits={"time": 5})
    assert result["stdout"] == "[97, 0, 98] [0, 1]\n", result


# ------------------------------------------------------------------------------------ FS-12

DEVICES = ["/dev/full", "/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/tty",
           "/dev/console", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/loop0", "/dev/loop-control",
           "/dev/fuse", "/dev/net/tun", "/dev/kvm", "/dev/shm", "/dev/ptmx", "/dev/pts"]
DEV_ENTRIES = ["fd", "null", "random", "stderr", "stdin", "stdout", "urandom", "zero"]

DEVICES_PY = """
import json, os, sys
out = {"dev": sorted(os.listdir("/dev"))}
for path in sys.argv[1:]:
    try:
        os.close(os.open(path, os.O_RDWR))
        out[path] = 0
    except OSError as e:
        out[path] = e.errno
for label, kind, device in [("mknod mem", 0o020000, (1, 1)), ("mknod sda", 0o060000, (8, 0))]:
    try:
        os.mknod(f"/tmp/{label[6:]}", 0o666 | kind, os.makedev(*device))
        out[label] = 0
    except OSError as e:
        out[label] = e.errno
with open("/dev/null", "w") as f:
    f.write("x")
out["zero"] = open("/dev/zero", "rb").read(4).hex()
out["urandom"] = len(open("/dev/urandom", "rb").read(16))
print(json.dumps(out))
"""

DEVICES_C = C_PRELUDE + r"""
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) TRY(argv[i], open(argv[i], O_RDWR));
    TRY("mknod mem", mknod("/tmp/mem", S_IFCHR | 0666, makedev(1, 1)));
    TRY("mknod sda", mknod("/tmp/sda", S_IFBLK | 0666, makedev(8, 0)));
    DIR *dev = opendir("/dev");
    struct dirent *entry;
    struct stat st;
    char path[300];
    while ((entry = readdir(dev)) != NULL) {
        snprintf(path, sizeof path, "/dev/%s", entry->d_name);
        if (lstat(path, &st) == 0 && S_ISBLK(st.st_mode)) printf("block %s 1\n", path);
    }
    return 0;
}
"""


@pytest.mark.catalogue("FS-12")
@pytest.mark.parametrize("environment", ["python", "c", "bash"])
def test_only_harmless_devices_exist(daemon: Any, environment: str) -> None:
    """Inside the jail: /dev holds null, zero, urandom (also as random) and the fd links, nothing else; /dev/full,
    /dev/mem, /dev/kmsg, block devices, ttys and the rest are absent (ENOENT), and no device
    node can be made (EPERM). The three devices that exist work."""
    if environment == "bash":
        code = ('ls /dev\nfor path in "$@"; do if [ -e "$path" ]; then echo "present $path"; fi; done\n'
                'mknod /tmp/mem c 1 1 2>&1 || true\nhead -c 4 /dev/zero | od -An -tx1\n')
        result = run(daemon, "bash", code, args=DEVICES, run_limits={"time": 5})
        lines = result["stdout"].splitlines()
        assert lines[:len(DEV_ENTRIES)] == DEV_ENTRIES, result
        assert not any(line.startswith("present ") for line in lines), result
        assert "Operation not permitted" in result["stdout"], result
        assert lines[-1].split() == ["00", "00", "00", "00"], result
        return
    code = DEVICES_PY if environment == "python" else DEVICES_C
    result = run(daemon, environment, code, args=DEVICES, run_limits={"time": 5})
    assert result["status"] == 0, result
    if environment == "python":
        out = json.loads(result["stdout"])
        assert out.pop("dev") == DEV_ENTRIES, out
        assert (out.pop("zero"), out.pop("urandom")) == ("00000000", 16), out
    else:
        out = c_results(result["stdout"])
    assert out == {**{p: errno.ENOENT for p in DEVICES}, "mknod mem": errno.EPERM, "mknod sda": errno.EPERM}, out
