"""Attacks on the sandbox: resource exhaustion (catalogue cases RES-01 to RES-13) and compile-time
attacks (CC-01 to CC-06), after Sandkasten's tests/attacks.rs and the peers' catalogue; also the
network and kernel-surface attacks that came with Sandkasten's suite.

Each test sends a hostile program to the real daemon over HTTP (literal JSON) and checks that the
attack is contained: the response comes back, the limit that stopped it is reported in `exceeded`,
and nothing of the job is left on the host. Limits are kept small so that bombs end quickly. The
attacks run in Python, C and Bash (and C++ or Rust where the attack belongs to that language),
wherever they make sense.
"""

from __future__ import annotations

import errno
import json
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.security.jobs import error_parts, expect_error, host_processes_with, json_stdout, run

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
MB = 1_000_000
KB = 1024
POLL_DEADLINE_S = 20

# ----------------------------------------------------------------------------- helpers


def timed_run(daemon: Any, environment: str, code: str, **run_: Any) -> tuple[dict[str, Any], float]:
    """`run`, plus how long the request took in seconds (for generous safety bounds only)."""
    started = time.monotonic()
    result = run(daemon, environment, code, **run_)
    return result, time.monotonic() - started


def memory_limit_kb(memory_mb: int) -> int:
    return memory_mb * MB // KB


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = POLL_DEADLINE_S) -> None:
    """Poll `condition` until it holds (bounded); fail with `what` otherwise."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(0.01)  # poll interval, not a wait for a fixed time


# ------------------------------------------------------------------- RES-01 fork bombs


@pytest.mark.catalogue("RES-01")
def test_fork_bomb_bash(daemon: Any) -> None:
    """`:(){ :|:& };:` with the shell kept alive: stopped by the pids limit, then by the time limit."""
    marker = f"forkbomb-{uuid.uuid4()}"
    code = ":(){ :|:& };:\nwhile :; do :; done\n"
    result, elapsed = timed_run(daemon, "bash", code, args=[marker],
                                run_limits={"time": 2, "processes": 16, "memory": 64})
    assert result["status"] == 137, result
    assert "processes" in result["exceeded"], result
    assert "time" in result["exceeded"], result
    assert "Resource temporarily unavailable" in result["stderr"]
    assert elapsed < 2 + 8, "the response did not come back soon after the time limit"
    assert host_processes_with(marker) == [], "a fork bomb process outlived its job"


@pytest.mark.catalogue("RES-01")
def test_fork_bomb_python(daemon: Any) -> None:
    """Every process forks forever and ignores the errors: contained until the time limit."""
    marker = f"forkbomb-{uuid.uuid4()}"
    code = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
    result, elapsed = timed_run(daemon, "python", code, args=[marker],
                                run_limits={"time": 2, "processes": 16, "memory": 64})
    assert result["status"] == 137, result
    assert "processes" in result["exceeded"], result
    assert "time" in result["exceeded"], result
    assert elapsed < 2 + 8, "the response did not come back soon after the time limit"
    assert host_processes_with(marker) == [], "a fork bomb process outlived its job"


@pytest.mark.catalogue("RES-01")
def test_fork_loop_python_gets_eagain(daemon: Any) -> None:
    """As in Sandkasten: fork() fails with EAGAIN at the processes limit, well before the time limit."""
    code = """
import os
while True:
    try:
        os.fork()
    except OSError as e:
        print(e.errno, flush=True)
        os._exit(0)
"""
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "processes": 16, "memory": 64})
    assert result["status"] == 0, result
    assert "processes" in result["exceeded"], result
    assert "time" not in result["exceeded"], result
    assert str(errno.EAGAIN) in result["stdout"].split(), result
    assert result["resource_usage"]["time"] < 2000, result
    assert elapsed < 4, "the response took longer than the time limit"


@pytest.mark.catalogue("RES-01")
def test_fork_bomb_c_ignoring_errors_leaves_the_host_responsive(daemon: Any) -> None:
    """A C fork loop that ignores every failure: held at the pids limit until the time limit. While
    it runs, another job is served; afterwards no process of it is left on the host."""
    marker = f"forkbomb-{uuid.uuid4()}"
    code = "#include <unistd.h>\nint main(void) {\n    for (;;) fork();\n}\n"
    with ThreadPoolExecutor(max_workers=1) as pool:
        bomb = pool.submit(timed_run, daemon, "c", code, args=[marker],
                           run_limits={"time": 3, "processes": 16, "memory": 64})
        wait_until(lambda: len(host_processes_with(marker)) >= 8 or bomb.done(), "the fork bomb runs")
        assert not bomb.done(), "the fork bomb ended early"
        other, other_elapsed = timed_run(daemon, "python", "print('still served')", run_limits={"time": 5})
        assert not bomb.done(), "the other job was not served while the fork bomb ran"
        result, elapsed = bomb.result()
    assert other["stdout"] == "still served\n", other
    assert result["status"] == 137, result
    assert "processes" in result["exceeded"] and "time" in result["exceeded"], result
    assert elapsed < 3 + 8, "the response did not come back soon after the time limit"
    assert host_processes_with(marker) == [], "a fork bomb process outlived its job"


# ----------------------------------------------------------------- RES-02 thread bombs


THREAD_BOMB_C = r"""
#include <pthread.h>
static void *spawn(void *arg) {
    for (;;) {
        pthread_t thread;
        (void)pthread_create(&thread, NULL, spawn, arg);  /* failures are ignored */
    }
    return NULL;
}
int main(void) { spawn(NULL); }
"""


@pytest.mark.catalogue("RES-02")
def test_thread_bomb_c(daemon: Any) -> None:
    """Every thread starts threads forever and ignores the failures: threads count against the
    processes limit; the job is held there until the time limit and leaves nothing behind."""
    marker = f"threadbomb-{uuid.uuid4()}"
    result, elapsed = timed_run(daemon, "c", THREAD_BOMB_C, args=[marker],
                                run_limits={"time": 2, "processes": 16, "memory": 64})
    assert result["status"] == 137, result
    assert "processes" in result["exceeded"] and "time" in result["exceeded"], result
    assert elapsed < 2 + 8
    assert host_processes_with(marker) == [], "a thread bomb process outlived its job"


@pytest.mark.catalogue("RES-02")
def test_thread_bomb_python_gets_an_error(daemon: Any) -> None:
    """Python's threading.Thread.start fails ("can't start new thread") at the processes limit."""
    code = """
import json, threading, time
count = 0
try:
    while True:
        threading.Thread(target=time.sleep, args=(100,), daemon=True).start()
        count += 1
except RuntimeError as e:
    print(json.dumps({"count": count, "error": str(e)}))
"""
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "processes": 16, "memory": 64})
    out = json_stdout(result)
    assert "processes" in result["exceeded"] and "time" not in result["exceeded"], result
    assert 1 <= out["count"] < 16 and "can't start new thread" in out["error"], out
    assert elapsed < 4


# ----------------------------------------------------------------- RES-03 memory bombs


@pytest.mark.catalogue("RES-03")
def test_memory_flood_python(daemon: Any) -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(b'x' * 1_000_000)\n"
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "memory": 64})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["memory"], result
    memory = result["resource_usage"]["memory"]
    assert memory_limit_kb(64) // 2 <= memory <= memory_limit_kb(64) + 1024, result
    assert elapsed < 4, "the memory flood was not stopped before the time limit"


@pytest.mark.catalogue("RES-03")
def test_memory_flood_c(daemon: Any) -> None:
    code = r"""
#include <stdlib.h>
#include <string.h>
int main(void) {
    for (;;) {
        char *block = malloc(1 << 20);
        if (block == NULL) return 3;
        memset(block, 1, 1 << 20);
    }
}
"""
    result = run(daemon, "c", code, run_limits={"time": 4, "memory": 64})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["memory"], result
    memory = result["resource_usage"]["memory"]
    assert memory_limit_kb(64) // 2 <= memory <= memory_limit_kb(64) + 1024, result


MEMORY_BOMBS = {
    "python": "x = [0]\nwhile True:\n    x = x + x\n",
    "bash": "x=x\nwhile :; do x=$x$x; done\n",
    "cpp": """#include <cstdio>
int main() {
    auto *cube = new int[512][512][512];  // 512 MiB
    long sum = 0;
    for (int i = 0; i < 512; i++) {
        for (int j = 0; j < 512; j++) {  // one int in every 2 KiB row: every page is touched
            cube[i][j][0] = i + j;
            sum += cube[i][j][0];
        }
    }
    std::printf("%ld\\n", sum);
}
""",
}


@pytest.mark.catalogue("RES-03")
@pytest.mark.parametrize("environment", sorted(MEMORY_BOMBS))
def test_memory_bomb_doubling(daemon: Any, environment: str) -> None:
    """List doubling, string doubling in Bash and C++'s `new int[512][512][512]` (touched): the
    cgroup OOM-kills the job at 64 MB, reported as the memory limit, long before the time limit."""
    result, elapsed = timed_run(daemon, environment, MEMORY_BOMBS[environment], run_limits={"time": 4, "memory": 64})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["memory"], result
    assert result["resource_usage"]["memory"] <= memory_limit_kb(64) + 1024, result
    assert elapsed < 4


# ------------------------------------------------------------- RES-04 fork plus memory


@pytest.mark.catalogue("RES-04")
def test_fork_plus_memory(daemon: Any) -> None:
    """Ten children each grow their memory: the cgroup OOM-kills them; the memory is reported."""
    code = """
import json, os
children, fork_errors = [], []
for _ in range(10):
    try:
        pid = os.fork()
    except OSError as e:
        fork_errors.append(e.errno)
        break
    if pid == 0:
        chunks = []
        while True:
            chunks.append(b"x" * 1_000_000)
    children.append(pid)
ends = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
print(json.dumps({"ends": ends, "fork_errors": fork_errors}))
"""
    result, elapsed = timed_run(daemon, "python", code,
                                run_limits={"time": 4, "memory": 64, "processes": 16})
    assert "memory" in result["exceeded"], result
    assert "time" not in result["exceeded"], result
    assert result["resource_usage"]["memory"] <= memory_limit_kb(64) + 1024, result
    assert elapsed < 4, "the response took longer than the time limit"
    if result["status"] == 0:  # the parent survived: every child was killed or never forked
        out = json.loads(result["stdout"])
        assert all(end == -9 for end in out["ends"]), out
        assert out["ends"] or out["fork_errors"], out
    else:
        assert result["status"] == 137, result


FORK_MEMORY_C = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int children = 0, killed = 0, status;
    for (int i = 0; i < 10; i++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) {
            for (;;) {
                char *block = malloc(1 << 20);
                if (block != NULL) memset(block, 1, 1 << 20);
            }
        }
        children++;
    }
    while (wait(&status) > 0)
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) killed++;
    printf("%d %d\n", children, killed);
    return 0;
}
"""


@pytest.mark.catalogue("RES-04")
def test_fork_plus_memory_c(daemon: Any) -> None:
    """Ten C children grow their memory: OOM kills, reported as the memory limit, before the time
    limit; the memory reported stays within the limit."""
    result, elapsed = timed_run(daemon, "c", FORK_MEMORY_C, run_limits={"time": 4, "memory": 64, "processes": 16})
    assert "memory" in result["exceeded"] and "time" not in result["exceeded"], result
    assert result["resource_usage"]["memory"] <= memory_limit_kb(64) + 1024, result
    assert elapsed < 4
    if result["status"] == 0:  # the parent survived: every child it made was killed
        children, killed = map(int, result["stdout"].split())
        assert children >= 1 and killed == children, result
    else:
        assert result["status"] == 137, result


# ---------------------------------------------------------------- RES-05 output floods


@pytest.mark.catalogue("RES-05")
def test_stdout_bomb(daemon: Any) -> None:
    code = 'while True:\n    print("x" * 100)\n'
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "stdout_max_size": 1000})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["stdout_max_size"], result
    assert result["stdout"] == (("x" * 100 + "\n") * 10)[:1000]
    assert result["resource_usage"]["time"] < 2000, result
    assert elapsed < 2, "the stdout bomb was not stopped well before the time limit"


@pytest.mark.catalogue("RES-05")
def test_stderr_bomb(daemon: Any) -> None:
    code = 'import sys\nwhile True:\n    sys.stderr.write("y" * 100)\n'
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "stderr_max_size": 1000})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["stderr_max_size"], result
    assert result["stderr"] == "y" * 1000
    assert result["stdout"] == ""
    assert result["resource_usage"]["time"] < 2000, result
    assert elapsed < 2, "the stderr bomb was not stopped well before the time limit"


@pytest.mark.catalogue("RES-05")
def test_stdout_bomb_binary_without_newlines_c(daemon: Any) -> None:
    """Raw invalid UTF-8 without newlines is cut at the byte cap and decoded lossily."""
    code = r"""
#include <string.h>
#include <unistd.h>
int main(void) {
    char buffer[4096];
    memset(buffer, 0xff, sizeof buffer);
    for (;;) {
        if (write(1, buffer, sizeof buffer) < 0) return 1;
    }
}
"""
    result = run(daemon, "c", code, run_limits={"time": 4, "stdout_max_size": 1000})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["stdout_max_size"], result
    assert result["stdout"] == "\ufffd" * 1000
    assert result["resource_usage"]["time"] < 2000, result


@pytest.mark.catalogue("RES-05")
def test_stdout_bomb_bash_yes(daemon: Any) -> None:
    result, elapsed = timed_run(daemon, "bash", "yes\n", run_limits={"time": 4, "stdout_max_size": 1000})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["stdout_max_size"], result
    assert result["stdout"] == "y\n" * 500
    assert elapsed < 2, "the flood was not stopped well before the time limit"


@pytest.mark.catalogue("RES-05")
def test_output_caps_are_independent(daemon: Any) -> None:
    """900 bytes on each stream fit caps of 1000 each (the caps are not shared); a flood on stdout
    ends the job and keeps what was written to stderr."""
    both = "import sys\nsys.stdout.write('o' * 900)\nsys.stderr.write('e' * 900)\n"
    result = run(daemon, "python", both, run_limits={"time": 4, "stdout_max_size": 1000, "stderr_max_size": 1000})
    assert (result["status"], result["exceeded"]) == (0, []), result
    assert (result["stdout"], result["stderr"]) == ("o" * 900, "e" * 900)
    flood = "import sys\nsys.stderr.write('e' * 100)\nsys.stderr.flush()\nwhile True:\n    sys.stdout.write('o' * 100)\n"
    result = run(daemon, "python", flood, run_limits={"time": 4, "stdout_max_size": 1000, "stderr_max_size": 1000})
    assert (result["status"], result["exceeded"]) == (137, ["stdout_max_size"]), result
    assert (result["stdout"], result["stderr"]) == ("o" * 1000, "e" * 100)


# ---------------------------------------------------------------- RES-06 one huge file


@pytest.mark.catalogue("RES-06")
def test_large_file_python(daemon: Any) -> None:
    """Writing past filesize=1 fails with EFBIG (Python ignores SIGXFSZ); the file stops at the
    limit, and the daemon, finding a file at the limit in /tmp, reports `filesize`."""
    code = """
import json, os
error = None
try:
    with open("/tmp/big", "wb") as f:
        for _ in range(100):
            f.write(b"x" * 65536)
            f.flush()
except OSError as e:
    error = e.errno
print(json.dumps({"errno": error, "size": os.path.getsize("/tmp/big")}))
"""
    result = run(daemon, "python", code, run_limits={"time": 4, "filesize": 1})
    if result["status"] == 153:  # killed by SIGXFSZ, as a C program would be
        assert "filesize" in result["exceeded"], result
        return
    out = json_stdout(result)
    assert out["errno"] == errno.EFBIG, out
    # nsjail's RLIMIT_FSIZE is in MiB (as in Sandkasten); the file must not grow past it
    assert 1 * MB <= out["size"] <= 1 * 1024 * 1024, out
    assert result["exceeded"] == ["filesize"], result


@pytest.mark.catalogue("RES-06")
def test_large_file_bash_dd_is_killed_by_sigxfsz(daemon: Any) -> None:
    """As in Sandkasten's test_large_file: dd past filesize=1 is killed by SIGXFSZ (exit 153)."""
    # dd is the script's last command, so its status is the job's
    code = "dd if=/dev/urandom of=/tmp/big bs=100k count=100\n"
    result = run(daemon, "bash", code, run_limits={"time": 4, "filesize": 1})
    assert result["status"] == 153, result
    assert "File size limit exceeded" in result["stderr"], result
    assert "filesize" in result["exceeded"], result


@pytest.mark.catalogue("RES-06")
def test_job_does_not_inherit_ignored_sigxfsz_or_sigpipe(daemon: Any) -> None:
    """The job's signal dispositions are the defaults (not SIG_IGN inherited from the daemon)."""
    code = "grep SigIgn /proc/self/status\n"
    result = run(daemon, "bash", code, run_limits={"time": 4})
    assert result["status"] == 0, result
    ignored = int(result["stdout"].split()[1], 16)
    ignored_signals = {n for n in range(1, 65) if ignored & (1 << (n - 1))}
    assert 25 not in ignored_signals, f"SIGXFSZ is ignored in the job: SigIgn={ignored:#x}"
    assert 13 not in ignored_signals, f"SIGPIPE is ignored in the job: SigIgn={ignored:#x}"


@pytest.mark.catalogue("RES-06")
def test_large_file_c_stops_at_the_limit(daemon: Any) -> None:
    """A C program writes 64 MB to /tmp, ignoring write errors, with filesize=1: the file stops
    at 1 MiB (nsjail's unit). The program is PID 1 of its namespace, and the kernel does not
    deliver signals with the default action to a namespace's init (SIGXFSZ is sent with
    send_sig, not forced), so instead of being killed (exit 153, as `dd` in a shell is, see
    above) it gets EFBIG; if it is ever killed, the limit must be reported."""
    code = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
int main(void) {
    static char block[65536];
    int error = 0;
    struct stat st;
    memset(block, 'x', sizeof block);
    FILE *f = fopen("/tmp/big", "wb");
    if (f == NULL) return 2;
    for (int i = 0; i < 1000; i++)  /* errors are ignored */
        if (fwrite(block, 1, sizeof block, f) < sizeof block) error = errno;
    fclose(f);
    if (stat("/tmp/big", &st) != 0) return 3;
    printf("%d %ld\n", error, (long)st.st_size);
    return 0;
}
"""
    result = run(daemon, "c", code, run_limits={"time": 4, "filesize": 1})
    if result["status"] == 153:
        assert result["exceeded"] == ["filesize"], result
        return
    assert result["status"] == 0, result
    assert result["stdout"] == f"{errno.EFBIG} {1024 * 1024}\n", result
    assert result["exceeded"] == ["filesize"], result


@pytest.mark.catalogue("RES-06")
@pytest.mark.parametrize("command", [
    pytest.param("dd if=/dev/zero of=/tmp/big bs=100k count=100 2>/dev/null; echo done", id="dd-then-more"),
    pytest.param("head -c 5000000 /dev/zero > /tmp/big; echo done", id="redirection"),
])
def test_large_file_bash_reports_filesize_even_when_the_script_goes_on(daemon: Any, command: str) -> None:
    """`dd` (or a redirection) is killed by SIGXFSZ, but the script carries on and exits 0: the
    exit status says nothing, the file left at the limit does."""
    result = run(daemon, "bash", command + "\n", run_limits={"time": 4, "filesize": 1})
    assert (result["status"], result["stdout"], result["exceeded"]) == (0, "done\n", ["filesize"]), result


@pytest.mark.catalogue("RES-06")
def test_large_file_in_a_compile_step_is_reported(daemon: Any) -> None:
    """The compile step's /program counts as well: a compile writing past its filesize."""
    response = daemon.post("/programs", json={
        "environment": "c",
        "main_file": {"content": f"/* {uuid.uuid4()} */ int main(void) {{ return 0; }}\n"},
        "files": [{"name": "hook.sh", "content": "head -c 3000000 /dev/zero > /program/big\n"}],
        "env_vars": [{"name": "BASH_ENV", "value": "/box/hook.sh"}],
        "compile_limits": {"filesize": 1},
    })
    assert response.status_code == 201, response.text
    assert response.json()["compile_result"]["exceeded"] == ["filesize"], response.text


def test_a_file_under_the_limit_is_not_reported(daemon: Any) -> None:
    result = run(daemon, "bash", "head -c 1000000 /dev/zero > /tmp/f; echo ok\n",
                 run_limits={"time": 4, "filesize": 1})
    assert (result["status"], result["exceeded"]) == (0, []), result


# ------------------------------------------------------------------- RES-07 many files


@pytest.mark.catalogue("RES-07")
def test_many_files_fill_tmpfs(daemon: Any) -> None:
    """Creating files in /tmp ends with ENOSPC at the tmpfs size; the response comes back."""
    code = """
import json
count = 0
try:
    while True:
        with open(f"/tmp/f{count}", "wb") as f:
            f.write(b"x" * 1000)
        count += 1
except OSError as e:
    print(json.dumps({"errno": e.errno, "count": count}))
"""
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "tmpfs": 1, "memory": 64})
    out = json_stdout(result)
    assert out["errno"] == errno.ENOSPC, out
    assert 50 <= out["count"] <= 1000, out  # 1 MB of 4 KiB pages
    assert elapsed < 4


@pytest.mark.catalogue("RES-07")
def test_many_large_files_hit_the_memory_limit(daemon: Any) -> None:
    """As in Sandkasten's test_many_files: tmpfs pages count as the job's memory."""
    code = """
count = 0
while True:
    with open(f"/tmp/f{count}", "wb") as f:
        f.write(b"x" * 1_000_000)
    count += 1
"""
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "memory": 64, "tmpfs": 256})
    assert result["status"] == 137, result
    assert "memory" in result["exceeded"], result
    assert result["resource_usage"]["memory"] <= memory_limit_kb(64) + 1024, result
    assert elapsed < 4


@pytest.mark.catalogue("RES-07")
def test_tmp_of_the_next_job_is_empty(daemon: Any) -> None:
    marker = f"left-behind-{uuid.uuid4()}"
    first = run(daemon, "python", f"""
import os
open("/tmp/{marker}", "w").write("x")
os.mkdir("/tmp/dir-{marker}")
print(sorted(os.listdir("/tmp")))
""", run_limits={"time": 4})
    assert first["stdout"].strip() == str(sorted([marker, f"dir-{marker}"])), first
    second = run(daemon, "python", "import os\nprint(os.listdir('/tmp'))\n", run_limits={"time": 4})
    assert (second["status"], second["stdout"]) == (0, "[]\n"), second


@pytest.mark.catalogue("RES-07")
def test_tmpfs_zero_means_no_writable_tmp(daemon: Any) -> None:
    code = """
import json, os
out = {"is_dir": os.path.isdir("/tmp")}
try:
    os.makedirs("/tmp", exist_ok=True)
    with open("/tmp/x", "w") as f:
        f.write("x")
    out["write"] = "ok"
except OSError as e:
    out["write"] = e.errno
print(json.dumps(out))
"""
    without = json_stdout(run(daemon, "python", code, run_limits={"time": 4, "tmpfs": 0}))
    assert without["write"] in (errno.ENOENT, errno.EROFS, errno.EACCES), without
    with_tmp = json_stdout(run(daemon, "python", code, run_limits={"time": 4, "tmpfs": 1}))
    assert with_tmp == {"is_dir": True, "write": "ok"}


INODE_BOMBS = {
    "python": """
import json, os
n = 0
try:
    while True:
        os.close(os.open(f"/tmp/{n}", os.O_CREAT | os.O_WRONLY))
        n += 1
except OSError as e:
    print(json.dumps({"errno": e.errno, "files": n}))
""",
    "c": r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char path[64];
    for (long n = 0;; n++) {
        snprintf(path, sizeof path, "/tmp/%ld", n);
        int fd = open(path, O_CREAT | O_WRONLY, 0600);
        if (fd < 0) {
            printf("{\"errno\": %d, \"files\": %ld}\n", errno, n);
            return 0;
        }
        close(fd);
    }
}
""",
}


@pytest.mark.catalogue("RES-07")
@pytest.mark.parametrize("environment", sorted(INODE_BOMBS))
def test_empty_files_exhaust_tmp_and_the_next_job_is_unaffected(daemon: Any, environment: str) -> None:
    """Empty files cost no tmpfs blocks, only inodes and kernel memory: the job is stopped by the
    memory limit (or gets ENOSPC); the next job starts with an empty /tmp that works."""
    result, elapsed = timed_run(daemon, environment, INODE_BOMBS[environment],
                                run_limits={"time": 3, "memory": 64, "tmpfs": 1})
    if result["status"] == 0:
        assert json.loads(result["stdout"])["errno"] == errno.ENOSPC, result
    else:
        assert result["status"] == 137 and set(result["exceeded"]) & {"memory", "time"}, result
    assert elapsed < 3 + 5
    after = run(daemon, "python", "import os\nopen('/tmp/x', 'w').write('x')\nprint(os.listdir('/tmp'))\n",
                run_limits={"time": 4, "tmpfs": 1})
    assert (after["status"], after["stdout"]) == (0, "['x']\n"), after


@pytest.mark.catalogue("RES-07")
def test_many_files_in_the_working_directory_fail(daemon: Any) -> None:
    """/box, the working directory, is read-only: the first file fails with EROFS."""
    code = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
int main(void) {
    char path[64];
    for (int n = 0; n < 100000; n++) {
        snprintf(path, sizeof path, "f%d", n);
        if (open(path, O_CREAT | O_WRONLY, 0600) < 0) {
            printf("%d %d\n", n, errno);
            return 0;
        }
    }
    return 1;
}
"""
    result = run(daemon, "c", code, run_limits={"time": 4})
    assert (result["status"], result["stdout"]) == (0, f"0 {errno.EROFS}\n"), result


# ------------------------------------------------------------------------- RES-08 time


@pytest.mark.catalogue("RES-08")
def test_time_limit_busy_loop(daemon: Any) -> None:
    result, elapsed = timed_run(daemon, "python", "while True:\n    pass\n", run_limits={"time": 1})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["time"], result
    assert result["resource_usage"]["time"] >= 1000, result
    assert elapsed < 1 + 5, "the job was not stopped soon after its time limit"


@pytest.mark.catalogue("RES-08")
def test_time_limit_is_wall_clock(daemon: Any) -> None:
    """A job that sleeps (uses no CPU) is stopped by the wall-clock limit too."""
    result, elapsed = timed_run(daemon, "bash", "sleep 100\n", run_limits={"time": 1})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["time"], result
    assert result["resource_usage"]["time"] >= 1000, result
    assert result["resource_usage"]["cpu_time"] < 500, result
    assert elapsed < 1 + 5


SPIN_AND_BLOCK = [
    ("c", "#define _GNU_SOURCE\n#include <time.h>\nint main(void) {\n    struct timespec t;\n"
          "    for (;;) clock_gettime(CLOCK_MONOTONIC, &t);\n}\n", True),
    ("bash", "while :; do :; done\n", True),
    ("python", "import os\nr, w = os.pipe()\nos.read(r, 1)  # blocks forever: nobody writes\n", False),
    ("c", "#include <unistd.h>\nint main(void) {\n    int p[2];\n    char c;\n"
          "    if (pipe(p) != 0) return 2;\n    return (int)read(p[0], &c, 1);\n}\n", False),
]


@pytest.mark.catalogue("RES-08")
@pytest.mark.parametrize("environment, code, spins", SPIN_AND_BLOCK,
                         ids=["c-clock-gettime-poll", "bash-spin", "python-blocked-read", "c-blocked-read"])
def test_time_limit_ends_spinning_and_blocked_jobs(daemon: Any, environment: str, code: str, spins: bool) -> None:
    """Busy-polling the clock (DMOJ cpp_wall_clock), a shell spin, and reads that never return
    all end at the wall-clock limit; spinning uses the CPU, blocking does not."""
    result, elapsed = timed_run(daemon, environment, code, run_limits={"time": 1})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["time"], result
    assert result["resource_usage"]["time"] >= 1000, result
    if spins:
        assert result["resource_usage"]["cpu_time"] >= 500, result
    else:
        assert result["resource_usage"]["cpu_time"] < 500, result
    assert elapsed < 1 + 5


# ------------------------------------------------------------- RES-09 file descriptors


@pytest.mark.catalogue("RES-09")
def test_file_descriptor_limit(daemon: Any) -> None:
    """With file_descriptors=16 the descriptors 0..15 can be open; the 17th open fails with EMFILE."""
    code = """
import json, os
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    print(json.dumps({"errno": e.errno, "highest": max(fds), "opened": len(fds)}))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 4, "file_descriptors": 16}))
    assert out["errno"] == errno.EMFILE, out
    assert out["highest"] == 15, out


@pytest.mark.catalogue("RES-09")
def test_file_descriptor_limit_c_keeps_trying(daemon: Any) -> None:
    """A C program opens /dev/null 100000 times, ignoring EMFILE: descriptors stop at 15."""
    code = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
int main(void) {
    int highest = -1, error = 0;
    for (int i = 0; i < 100000; i++) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) error = errno;
        else highest = fd;
    }
    printf("%d %d\n", error, highest);
    return 0;
}
"""
    result = run(daemon, "c", code, run_limits={"time": 4, "file_descriptors": 16})
    assert (result["status"], result["stdout"]) == (0, f"{errno.EMFILE} 15\n"), result


@pytest.mark.catalogue("RES-09")
def test_file_descriptor_limit_bash(daemon: Any) -> None:
    code = ('ulimit -n\nfor i in $(seq 1 40); do\n    exec {fd}</dev/null || { echo "failed at $i"; break; }\n'
            'done\n')
    result = run(daemon, "bash", code, run_limits={"time": 4, "file_descriptors": 16})
    lines = result["stdout"].splitlines()
    assert lines[0] == "16" and lines[-1].startswith("failed at "), result
    assert int(lines[-1].split()[-1]) < 16, result
    assert "Too many open files" in result["stderr"], result


# ---------------------------------------------------------------------- RES-10 orphans


ORPHAN_C = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    int ready[2];
    char c;
    if (pipe(ready) != 0) return 2;
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            signal(SIGTERM, SIG_IGN);
            signal(SIGHUP, SIG_IGN);
            if (write(ready[1], "x", 1) != 1) _exit(3);
            for (;;) pause();
        }
        _exit(0);
    }
    close(ready[1]);
    if (read(ready[0], &c, 1) == 1) puts("started");
    return 0;
}
"""

ORPHAN_BASH = """
( trap '' TERM HUP; exec -a "$1" sleep 1000 ) &
disown
running() {  # is there a process whose argv[0] is $1?
    local file argv0
    for file in /proc/[0-9]*/cmdline; do
        IFS= read -r -d '' argv0 < "$file" 2> /dev/null && [[ $argv0 == "$1" ]] && return 0
    done
    return 1
}
until running "$1"; do :; done
echo started
"""


@pytest.mark.catalogue("RES-10")
@pytest.mark.parametrize("environment", ["c", "bash"])
def test_orphans_die_with_their_job(daemon: Any, environment: str) -> None:
    """A grandchild in its own session (C: setsid and double fork) or disowned (Bash), ignoring
    SIGTERM and SIGHUP, is running when the main process exits; none of it is alive after the
    response."""
    marker = f"orphan-{uuid.uuid4()}"
    code = ORPHAN_C if environment == "c" else ORPHAN_BASH
    result = run(daemon, environment, code, args=[marker], run_limits={"time": 5})
    assert (result["status"], result["stdout"]) == (0, "started\n"), result
    assert host_processes_with(marker) == [], "an orphan outlived its job"


# ------------------------------------------------------------ RES-11 stopped processes


@pytest.mark.catalogue("RES-11")
def test_time_limit_with_a_stopped_child(daemon: Any) -> None:
    """SIGSTOP tricks do not dodge the wall clock: a parent waiting on a stopped child is killed."""
    code = """
import os, signal
pid = os.fork()
if pid == 0:
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
while True:
    os.waitpid(pid, 0)
"""
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 1})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["time"], result
    assert elapsed < 1 + 5


STOPPED_C = r"""
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) {
        raise(SIGSTOP);
        _exit(0);
    }
    char path[64], stat_line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
    for (;;) {  /* until the child is stopped */
        FILE *f = fopen(path, "r");
        char *end = NULL;
        if (f != NULL && fgets(stat_line, sizeof stat_line, f) != NULL) end = strrchr(stat_line, ')');
        if (f != NULL) fclose(f);
        if (end != NULL && end[2] == 'T') break;
    }
    puts("child stopped");
    fflush(stdout);
    raise(SIGSTOP);  /* pid 1 of its namespace: ignored */
    waitpid(child, NULL, 0);  /* never returns while the child is stopped */
    puts("not reached");
    return 0;
}
"""

STOPPED_BASH = """( kill -STOP $BASHPID; echo resumed ) &
child=$!
until [[ $(cut -d" " -f3 /proc/$child/stat) == T ]]; do :; done
echo "child stopped"
kill -STOP $$
wait $child
echo "not reached"
"""


@pytest.mark.catalogue("RES-11")
@pytest.mark.parametrize("environment", ["c", "bash"])
def test_stopped_processes_do_not_dodge_the_wall_clock(daemon: Any, environment: str) -> None:
    """A child stops itself with SIGSTOP (seen in state T), the main process tries to stop itself
    too and then waits for the child: no CPU is used, yet the wall clock ends the job."""
    code = STOPPED_C if environment == "c" else STOPPED_BASH
    result, elapsed = timed_run(daemon, environment, code, run_limits={"time": 1})
    assert result["stdout"] == "child stopped\n", result
    assert result["status"] == 137, result
    assert result["exceeded"] == ["time"], result
    assert result["resource_usage"]["cpu_time"] < 1000, result
    assert elapsed < 1 + 5


# ------------------------------------------------------------ RES-12 CPUs and fairness


@pytest.mark.catalogue("RES-12")
def test_cpus_limit(daemon: Any) -> None:
    code = "import json, os\nprint(json.dumps(sorted(os.sched_getaffinity(0))))\n"
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 4, "cpus": 1}))
    assert len(out) == 1, out


@pytest.mark.catalogue("RES-12")
def test_parallel_spinners_share_the_cpus_fairly(daemon: Any) -> None:
    """Four jobs spin on one CPU each (more jobs than this machine has CPUs) for 2 s: each gets a
    fair share of CPU time (more than 20 % of the mean of the others), and a small job sent
    meanwhile is answered while they still run."""
    markers = [f"spinner-{uuid.uuid4()}" for _ in range(4)]
    code = "while True:\n    pass\n"
    with ThreadPoolExecutor(max_workers=len(markers)) as pool:
        spinners = [pool.submit(timed_run, daemon, "python", code, args=[marker],
                                run_limits={"time": 2, "cpus": 1}) for marker in markers]
        wait_until(lambda: all(host_processes_with(m) for m in markers) or any(s.done() for s in spinners),
                   "all spinners run")
        assert not any(s.done() for s in spinners), "a spinner ended early"
        hello, hello_elapsed = timed_run(daemon, "python", "print('hello')", run_limits={"time": 5})
        results = [s.result()[0] for s in spinners]
    assert hello["stdout"] == "hello\n", hello
    assert hello_elapsed < 2, f"a small job took {hello_elapsed:.2f} s next to the spinners"
    for result in results:
        assert (result["status"], result["exceeded"]) == (137, ["time"]), result
    cpu = [result["resource_usage"]["cpu_time"] for result in results]
    for i, mine in enumerate(cpu):
        others = cpu[:i] + cpu[i + 1:]
        assert mine > 0.2 * sum(others) / len(others), f"unfair CPU shares (ms): {cpu}"


# --------------------------------------------------------------------- RES-13 API caps


CAP = 65536


def job_count(daemon: Any) -> float:
    """Jobs the daemon has run so far (compile and run steps), from /metrics."""
    text = daemon.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sandkasten_job_duration_seconds_count"))


CAPS_PY = """
import json, os, sys
def texts(directory):
    return {name: len(open(os.path.join(directory, name), encoding="utf-8").read()) for name in os.listdir(directory)}
print(json.dumps({
    "stdin": len(sys.stdin.read()), "args": [len(a) for a in sys.argv[1:]],
    "env": sorted(len(v) for k, v in os.environ.items() if k.startswith("RUN_")),
    "box": texts("/box"), "program": texts("/program"),
}))
"""


def request_at_the_caps(char: str) -> dict[str, Any]:
    """A build-and-run request with every size at its maximum, in characters of `char`."""
    code = f"# {uuid.uuid4()}\n{CAPS_PY}\n"
    code += "#" + char * (CAP - len(code) - 1)
    return {
        "build": {
            "environment": "python", "main_file": {"content": code},
            "files": [{"name": f"build{i}", "content": char * CAP} for i in range(10)],
            "env_vars": [{"name": f"BUILD_{i}" + "_" * 56, "value": char * 256} for i in range(10, 26)],
        },
        "run": {
            "stdin": char * CAP, "args": [char * 4096] * 100,
            "files": [{"name": f"run{i}", "content": char * CAP} for i in range(10)],
            "env_vars": [{"name": f"RUN_{i}", "value": char * 256} for i in range(16)],
            "run_limits": {"time": 10},
        },
    }


@pytest.mark.catalogue("RES-13")
@pytest.mark.parametrize("char", ["a", "\U0001f600"], ids=["ascii", "four-byte-utf8"])
def test_request_at_the_api_caps_is_run_in_full(daemon: Any, char: str) -> None:
    """stdin of 65536 characters, 100 arguments of 4096, 16 variables of 256, 10 files of 65536
    (and the same for the build) are accepted and reach the job in full, also when every
    character takes four bytes."""
    body = request_at_the_caps(char)
    assert len(body["build"]["main_file"]["content"]) == CAP
    response = daemon.post("/run", json=body)
    assert response.status_code == 200, response.text[:1000]
    out = json_stdout(response.json()["run"])
    assert out["stdin"] == CAP and out["args"] == [4096] * 100 and out["env"] == [256] * 16, out
    assert out["box"] == {f"run{i}": CAP for i in range(10)}, out
    assert out["program"] == {"code.py": CAP, **{f"build{i}": CAP for i in range(10)}}, out


OVER_THE_CAPS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "stdin": lambda b, c: b["run"].update(stdin=c * (CAP + 1)),
    "args count": lambda b, c: b["run"].update(args=[c] * 101),
    "arg length": lambda b, c: b["run"]["args"].__setitem__(0, c * 4097),
    "run env count": lambda b, c: b["run"]["env_vars"].append({"name": "RUN_X", "value": c}),
    "run env value": lambda b, c: b["run"]["env_vars"][0].update(value=c * 257),
    "run files count": lambda b, c: b["run"]["files"].append({"name": "run10", "content": c}),
    "run file size": lambda b, c: b["run"]["files"][0].update(content=c * (CAP + 1)),
    "main file size": lambda b, c: b["build"]["main_file"].update(content=b["build"]["main_file"]["content"] + c),
    "build files count": lambda b, c: b["build"]["files"].append({"name": "build10", "content": c}),
    "build file size": lambda b, c: b["build"]["files"][0].update(content=c * (CAP + 1)),
    "build env count": lambda b, c: b["build"]["env_vars"].append({"name": "BUILD_X", "value": c}),
    "build env name": lambda b, c: b["build"]["env_vars"][0].update(name="N" * 65),
}


@pytest.mark.catalogue("RES-13")
@pytest.mark.parametrize("char", ["a", "\U0001f600"], ids=["ascii", "four-byte-utf8"])
def test_request_over_an_api_cap_is_refused_before_any_job(daemon: Any, char: str) -> None:
    """One size just over its cap (and everything else at the cap) gives 422; no job runs (the
    daemon's job counter does not move) and no program directory is made."""
    jobs_before, programs_before = job_count(daemon), sorted(os.listdir(daemon.programs_dir))
    for what, push_over in OVER_THE_CAPS.items():
        body = request_at_the_caps(char)  # a program never built: a build would need a job
        push_over(body, char)
        response = daemon.post("/run", json=body)
        assert response.status_code == 422, (what, response.text[:500])
        assert response.json()["error"] == "unprocessable_content", (what, response.text[:500])
    assert job_count(daemon) == jobs_before, "a job ran for a request over a cap"
    assert set(os.listdir(daemon.programs_dir)) - set(programs_before) == set()


# ------------------------------------------------------------- CC compile-time attacks


CC_LIMITS = {"time": 2, "memory": 256, "filesize": 1, "stdout_max_size": 4096, "stderr_max_size": 4096}


def compile_attempt(daemon: Any, environment: str, code: str, name: str | None = None,
                    files: list[dict[str, str]] | None = None,
                    compile_limits: dict[str, Any] | None = None) -> tuple[Any, float]:
    """POST /run with a build that is expected to fail; returns the response and its duration."""
    main_file: dict[str, str] = {"content": code}
    if name is not None:
        main_file["name"] = name
    build_: dict[str, Any] = {"environment": environment, "main_file": main_file}
    if files is not None:
        build_["files"] = files
    if compile_limits is not None:
        build_["compile_limits"] = compile_limits
    started = time.monotonic()
    response = daemon.post("/run", json={"build": build_, "run": {"run_limits": {"time": 5}}})
    return response, time.monotonic() - started


def compile_error(response: Any) -> dict[str, Any]:
    """The compile step's result from a compile_error response."""
    assert response.status_code == 400, response.text[:2000]
    body = response.json()
    assert body["error"] == "compile_error", body
    details: dict[str, Any] = body["details"]
    return details


# -------------------------------------------------------------- CC-01 endless includes


@pytest.mark.catalogue("CC-01")
@pytest.mark.parametrize("device", ["/dev/urandom", "/dev/random", "/dev/zero"])
def test_include_of_an_endless_device_is_stopped(daemon: Any, device: str) -> None:
    """`#include </dev/urandom>` (or /dev/random, /dev/zero) never ends by itself: it is stopped
    by its time or memory limit, the request returns, and no compiler process is left."""
    name = f"cc01-{uuid.uuid4().hex[:16]}.c"
    existing = set(os.listdir(daemon.programs_dir))
    response, elapsed = compile_attempt(daemon, "c", f"#include <{device}>\nint main(void) {{ return 0; }}\n",
                                        name=name, compile_limits={"time": 3})
    details = compile_error(response)
    assert details["status"] != 0 and set(details["exceeded"]) & {"time", "memory"}, details
    assert elapsed < 3 + 8, "the request did not come back soon after the compile time limit"
    assert host_processes_with(name) == [], "a compiler process outlived the compile step"
    assert set(os.listdir(daemon.programs_dir)) - existing == set(), "the failed build was left behind"


# ---------------------------------------------------------------- CC-02 compiler bombs


STRAY = "\n".join(f"#define {b} " + " ".join([a] * 10) for a, b in zip("@ABCDE", "ABCDEF"))
TOKENS = "\n".join(f"#define {b} " + " ".join([a] * 10) for a, b in zip("xABCDEFGH", "ABCDEFGHI"))
COMPILER_BOMBS = {
    # name: (environment, code, limits that may show in `exceeded`, message that may show in stderr)
    "include-self-twice": ("c", "#include __FILE__\n#include __FILE__\nint main(void) { return 0; }\n",
                           {"stderr_max_size"}, None),
    "stray-token-explosion": ("c", STRAY + "\nint main(void) { F F F F F F F F F F }\n", {"stderr_max_size"}, None),
    "token-explosion": ("c", TOKENS + "\nint main(void) { int x; I; }\n", {"memory", "time"}, None),
    "static-array-1gib": ("c", "char a[1 << 30] = {1};\nint main(void) { return a[0]; }\n",
                          {"filesize"}, "File size limit exceeded"),
    "main-minus-one": ("c", "int main[-1u] = {1};\n", {"filesize"}, "File size limit exceeded"),
    "template-type-explosion": (
        "cpp", "template <class A, class B> struct P {};\n"
               "template <class T, int N> struct D { using t = typename D<P<T, T>, N - 1>::t; };\n"
               "template <class T> struct D<T, 0> { using t = typename T::missing; };\n"
               "int main() { D<int, 60>::t x; }\n", {"time", "memory", "stderr_max_size"}, None),
}


@pytest.mark.catalogue("CC-02")
@pytest.mark.parametrize("bomb", sorted(COMPILER_BOMBS))
def test_compiler_bombs_hit_a_compile_limit(daemon: Any, bomb: str) -> None:
    """Compiler bombs (vijos, DMOJ cpp_compiler_ole) with small compile limits (2 s, 256 MB, 1 MB
    files, 4096 bytes of output): each ends as a compile_error that shows the limit (in
    `exceeded`, or, when the assembler or linker is the one killed by SIGXFSZ, in the compiler's
    message), within the cap of compiler output, soon, without leftovers."""
    environment, code, limits, message = COMPILER_BOMBS[bomb]
    name = f"cc02-{uuid.uuid4().hex[:16]}.{'cpp' if environment == 'cpp' else 'c'}"
    existing = set(os.listdir(daemon.programs_dir))
    response, elapsed = compile_attempt(daemon, environment, code, name=name, compile_limits=CC_LIMITS)
    details = compile_error(response)
    shown = set(details["exceeded"]) & limits or (message is not None and message in details["stderr"])
    assert shown, f"no limit shows in the compile result: {details}"
    assert len(details["stderr"].encode()) <= 4096 and len(details["stdout"].encode()) <= 4096, details
    if "stderr_max_size" in details["exceeded"]:
        assert len(details["stderr"].encode()) == 4096, details
    assert elapsed < 2 + 8
    assert host_processes_with(name) == [], "a compiler process outlived the compile step"
    assert set(os.listdir(daemon.programs_dir)) - existing == set(), "the failed build was left behind"


# -------------------------------------------------------- CC-03 includes of host files


INCLUDE_FORMS = {
    "include-quotes": '#include "{path}"\n',
    "include-angle": "#include <{path}>\n",
    "digraph": '%:include "{path}"\n',
    "trigraph": '??=include "{path}"\n',  # -std=c17 enables trigraphs
    "line-continuation": '#inc\\\nlude "{path}"\n',
    "macro": '#define TARGET "{path}"\n#include TARGET\n',
}


def host_file(daemon: Any, which: str) -> Path:
    paths = {"shadow": Path("/etc/shadow"), "config": ROOT / "config.toml", "daemon-log": Path(daemon.log_path)}
    return paths[which]


def first_line(path: Path) -> str:
    return next(line for line in path.read_text(errors="replace").splitlines() if line.strip())


@pytest.mark.catalogue("CC-03")
@pytest.mark.parametrize("form", sorted(INCLUDE_FORMS))
@pytest.mark.parametrize("which", ["shadow", "config", "daemon-log"])
def test_include_of_host_files_finds_nothing(daemon: Any, form: str, which: str) -> None:
    """`#include` of host files in the spellings that beat filters (CE #419: `%:include`,
    `??=include`, line continuation, a macro): the files are not in the compile jail, so the
    compiler says "No such file or directory" and nothing of their content comes back."""
    path = host_file(daemon, which)
    secret = first_line(path)
    code = INCLUDE_FORMS[form].format(path=path) + "int main(void) { return 0; }\n"
    response, _ = compile_attempt(daemon, "c", code, compile_limits=CC_LIMITS)
    details = compile_error(response)
    assert f"{path}: No such file or directory" in details["stderr"], details
    assert secret not in response.text


@pytest.mark.catalogue("CC-03")
def test_include_of_etc_passwd_is_the_jails_empty_file(daemon: Any) -> None:
    """/etc/passwd exists in the jail as a link to /dev/null: included inside an array
    initializer it adds nothing (the host's file would not even compile there), in C and C++."""
    secret = first_line(Path("/etc/passwd"))
    for environment in ("c", "cpp"):
        code = ('#include <stdio.h>\nstatic const char passwd[] = {\n#include "/etc/passwd"\n0};\n'
                'int main(void) { printf("%d\\n", (int)sizeof passwd); return 0; }\n')
        result = run(daemon, environment, code, run_limits={"time": 5})
        assert (result["status"], result["stdout"]) == (0, "1\n"), result
        assert secret not in json.dumps(result)


@pytest.mark.catalogue("CC-03")
def test_include_of_host_files_in_cpp(daemon: Any) -> None:
    secret = first_line(ROOT / "config.toml")
    response, _ = compile_attempt(daemon, "cpp", f'#include "{ROOT / "config.toml"}"\nint main() {{}}\n',
                                  compile_limits=CC_LIMITS)
    details = compile_error(response)
    assert "No such file or directory" in details["stderr"] and secret not in response.text, details


# ---------------------------------------------------------- CC-04 embedding host files


EMBEDS = {
    "c-incbin": ("c", '__asm__(".section .rodata\\n.incbin \\"{path}\\"\\n.previous");\n'
                      "int main(void) {{ return 0; }}\n", "file not found: {path}"),
    "rust-include-str": ("rust", 'const S: &str = include_str!("{path}");\nfn main() {{ println!("{{}}", S); }}\n',
                         "couldn't read `{path}`"),
    "rust-include-bytes": ("rust", 'const B: &[u8] = include_bytes!("{path}");\n'
                                   'fn main() {{ println!("{{}}", B.len()); }}\n', "couldn't read `{path}`"),
}


@pytest.mark.catalogue("CC-04")
@pytest.mark.parametrize("embed", sorted(EMBEDS))
@pytest.mark.parametrize("which", ["shadow", "config"])
def test_embedding_host_files_finds_nothing(daemon: Any, embed: str, which: str) -> None:
    """`.incbin` through inline assembly (ejudge #122) and Rust's `include_str!` and
    `include_bytes!` of absolute host paths: not found in the compile jail, nothing leaks."""
    environment, template, message = EMBEDS[embed]
    path = host_file(daemon, which)
    response, _ = compile_attempt(daemon, environment, template.format(path=path),
                                  compile_limits={**CC_LIMITS, "time": 10})
    details = compile_error(response)
    assert message.format(path=path) in details["stderr"], details
    assert first_line(path) not in response.text


@pytest.mark.catalogue("CC-04")
def test_rust_include_str_of_etc_passwd_is_empty(daemon: Any) -> None:
    code = 'const S: &str = include_str!("/etc/passwd");\nfn main() { println!("{}", S.len()); }\n'
    result = run(daemon, "rust", code, run_limits={"time": 5})
    assert (result["status"], result["stdout"]) == (0, "0\n"), result


# ------------------------------------------------------------- CC-05 compile-time code


@pytest.mark.catalogue("CC-05")
def test_network_true_is_refused_for_compile(daemon: Any) -> None:
    # a program that was never built, so the compile limits are really checked
    response = daemon.post("/programs", json={
        "environment": "c",
        "main_file": {"content": f"/* {uuid.uuid4()} */ int main(void) {{ return 0; }}"},
        "compile_limits": {"network": True},
    })
    message = expect_error(response, 400, {"error": "compile_limits_exceeded",
                                           "details": [{"name": "network", "max_value": 0}]})
    assert "`network`" in message


@pytest.mark.catalogue("CC-05")
def test_compiler_runs_inside_the_jail(daemon: Any) -> None:
    """Compile steps run the user's code: build env vars (`BASH_ENV`, `SHELLOPTS` with `PS4`,
    `NODE_OPTIONS`), Nim's staticExec and Template Haskell all do (test_compile_steps.py). So
    what matters is where the compiler runs, whatever it is made to do: rustc embeds its own
    /proc files at compile time (`include_str!` reads at compile time), which show that it runs
    as the unprivileged uid 65534 with no capabilities, no_new_privs and seccomp, sees only the
    loopback interface, and can write only /program and /tmp, both capped tmpfs mounts of the
    daemon's (nothing of the program store is mounted while compiling)."""
    code = """
const STATUS: &str = include_str!("/proc/self/status");
const NET: &str = include_str!("/proc/net/dev");
const MOUNTS: &str = include_str!("/proc/self/mountinfo");
fn main() { print!("{}\\n=====\\n{}\\n=====\\n{}", STATUS, NET, MOUNTS); }
"""
    response = daemon.post("/run", json={
        "build": {"environment": "rust", "main_file": {"content": f"// {uuid.uuid4()}\n{code}"}},
        "run": {"run_limits": {"time": 5}},
    })
    assert response.status_code == 200, response.text
    body = response.json()
    status_text, net, mounts = body["run"]["stdout"].split("\n=====\n")
    status = dict(line.split(":", 1) for line in status_text.splitlines() if ":" in line)
    status = {key: value.split() for key, value in status.items()}
    assert status["Name"] == ["rustc"], status
    assert status["Uid"] == ["65534"] * 4 and status["Gid"] == ["65534"] * 4, status
    assert all(int(status[cap][0], 16) == 0 for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")), status
    assert status["NoNewPrivs"] == ["1"] and status["Seccomp"] == ["2"], status
    interfaces = [line.split(":")[0].strip() for line in net.splitlines()[2:] if line.strip()]
    assert interfaces == ["lo"], net
    writable = {}
    for line in mounts.splitlines():
        fields = line.split()
        writable[fields[4]] = (fields[5].split(",")[0] == "rw", fields[3])
    assert {point for point, (rw, _) in writable.items() if rw} == {"/program", "/tmp"}, mounts
    sources = {line.split()[4]: line.split(" - ")[1].split()[:2] for line in mounts.splitlines()}
    assert sources["/program"] == sources["/tmp"] == ["tmpfs", "sandkasten"], mounts
    assert str(daemon.programs_dir) not in mounts


# ---------------------------------------------------------------- CC-06 compiler flags


@pytest.mark.catalogue("CC-06")
@pytest.mark.parametrize("environment, name", [("c", "-B.c"), ("cpp", "-B.cpp")])
def test_main_file_name_is_not_a_compiler_option(daemon: Any, environment: str, name: str) -> None:
    """We accept no compiler flags, but the compile scripts hand the main file's name to the
    compiler as `"$1"`, and file names may begin with `-`. A main file named `-B.c` is a valid C
    file; it must be compiled as such (or the name refused with invalid_file_names), not parsed
    as the option `-B .c` (gcc then compiles nothing: "no input files"). With `-B.` and a build
    file named `specs`, gcc even reads a user-supplied specs file from /box."""
    code = '#include <stdio.h>\nint main(void) { puts("compiled"); return 0; }\n'
    response = daemon.post("/run", json={
        "build": {"environment": environment, "main_file": {"name": name, "content": code}},
        "run": {"run_limits": {"time": 5}},
    })
    if response.status_code == 400 and error_parts(response)[1] == {"error": "invalid_file_names"}:
        return
    assert response.status_code == 200, f"the name was taken as a compiler option: {response.text}"
    assert response.json()["run"]["stdout"] == "compiled\n", response.text


# ---------------------------- network (NET cases, left to whoever claims the NET part)


def test_no_internet_tcp_connect(daemon: Any) -> None:
    code = """
import json, socket
try:
    socket.create_connection(("1.1.1.1", 53), timeout=5).close()
    print(json.dumps("connected"))
except OSError as e:
    print(json.dumps(e.errno))
"""
    assert json_stdout(run(daemon, "python", code, run_limits={"time": 10})) == errno.ENETUNREACH


def test_no_internet_udp_and_ipv6(daemon: Any) -> None:
    code = """
import json, socket
out = {}
try:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("1.1.1.1", 53))
    out["udp"] = "sent"
except OSError as e:
    out["udp"] = e.errno
try:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(("2606:4700:4700::1111", 53))
    out["ipv6"] = "connected"
except OSError as e:
    out["ipv6"] = e.errno
print(json.dumps(out))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 10}))
    assert out["udp"] == errno.ENETUNREACH
    assert out["ipv6"] in (errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT), out


def test_no_internet_dns_resolution(daemon: Any) -> None:
    code = """
import json, socket
try:
    print(json.dumps(socket.getaddrinfo("example.com", 80)[0][4][0]))
except socket.gaierror as e:
    print(json.dumps("gaierror"))
"""
    assert json_stdout(run(daemon, "python", code, run_limits={"time": 10})) == "gaierror"


def test_no_internet_only_loopback_interface(daemon: Any) -> None:
    code = """
import json, socket
with open("/proc/net/dev") as f:
    dev = [line.split(":")[0].strip() for line in f.read().splitlines()[2:]]
try:
    names = [name for _, name in socket.if_nameindex()]
except OSError as e:  # if_nameindex asks the kernel over netlink, which the seccomp policy denies
    names = e.errno
print(json.dumps({"if_nameindex": names, "proc_net_dev": dev}))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 10}))
    assert out == {"if_nameindex": errno.EPERM, "proc_net_dev": ["lo"]}


def test_no_internet_cannot_reach_daemon_on_host_loopback(daemon: Any) -> None:
    """The job's 127.0.0.1 is its own loopback, not the host's: the daemon's port is closed."""
    port = urlsplit(daemon.url).port
    code = f"""
import json, socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
    print(json.dumps("connected"))
except OSError as e:
    print(json.dumps(e.errno))
"""
    assert json_stdout(run(daemon, "python", code, run_limits={"time": 10})) == errno.ECONNREFUSED


def test_no_internet_bash_dev_tcp(daemon: Any) -> None:
    code = "if exec 3<>/dev/tcp/1.1.1.1/53; then echo connected; else echo blocked; fi"
    result = run(daemon, "bash", code, run_limits={"time": 10})
    assert result["stdout"] == "blocked\n", result


def test_network_true_is_refused(daemon: Any) -> None:
    response = daemon.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": "print(1)"}},
        "run": {"run_limits": {"network": True}},
    })
    message = expect_error(response, 400, {"error": "run_limits_exceeded",
                                           "details": [{"name": "network", "max_value": 0}]})
    assert "`network`" in message


# ------------------- kernel surface (PRIV cases, left to whoever claims the PRIV part)


def test_kill_all_cannot_reach_the_daemon(daemon: Any) -> None:
    """kill(-1, SIGKILL) only reaches the job's own processes; the daemon keeps serving."""
    code = """
import os, signal
try:
    os.kill(-1, signal.SIGKILL)
    print("sent")
except OSError as e:
    print("errno", e.errno)
"""
    run(daemon, "python", code, run_limits={"time": 4})
    assert daemon.process.poll() is None, "the daemon died"
    after = run(daemon, "python", "print('still here')", run_limits={"time": 4})
    assert after["stdout"] == "still here\n"


def test_no_nested_user_namespaces(daemon: Any) -> None:
    """unshare(CLONE_NEWUSER) would give the job a full capability set in a new user namespace
    (and with it mount, more kernel surface). A seccomp policy should refuse it (peers PRIV-05)."""
    code = """
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
result = libc.unshare(0x10000000)  # CLONE_NEWUSER
print(json.dumps({"result": result, "errno": ctypes.get_errno()}))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 4}))
    assert out["result"] == -1, f"the job could create a nested user namespace: {out}"
    assert out["errno"] in (errno.EPERM, errno.ENOSYS, errno.EACCES, errno.EINVAL), out
