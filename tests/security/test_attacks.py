"""Attacks on the sandbox, after Sandkasten's tests/attacks.rs and the peers' catalogue.

Each test sends a hostile program to the real daemon over HTTP (literal JSON) and checks that the
attack is contained: the response comes back, the limit that stopped it is reported in `exceeded`,
and nothing of the job is left on the host. Limits are kept small so that bombs end quickly.
"""

from __future__ import annotations

import errno
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.sandbox

MB = 1_000_000
KB = 1024


# ------------------------------------------------------------------------------------ helpers


def run(daemon: Any, environment: str, code: str, **run: Any) -> dict[str, Any]:
    """POST /run and return the run result (the build must succeed)."""
    response = daemon.post("/run", json={
        "build": {"environment": environment, "main_file": {"content": code}},
        "run": run,
    })
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["run"]
    return result


def timed_run(daemon: Any, environment: str, code: str, **run_: Any) -> tuple[dict[str, Any], float]:
    """`run`, plus how long the request took in seconds (for generous safety bounds only)."""
    started = time.monotonic()
    result = run(daemon, environment, code, **run_)
    return result, time.monotonic() - started


def json_stdout(result: dict[str, Any]) -> Any:
    assert result["status"] == 0, result
    return json.loads(result["stdout"])


def host_processes_with(marker: str) -> list[int]:
    """Pids of host processes whose command line contains `marker`."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def memory_limit_kb(memory_mb: int) -> int:
    return memory_mb * MB // KB


# ------------------------------------------------------------------------------------ network


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
    assert response.status_code == 400
    assert response.json() == {"error": "run_limits_exceeded",
                               "details": [{"name": "network", "max_value": 0}]}


def test_network_true_is_refused_for_compile(daemon: Any) -> None:
    # a program that was never built, so the compile limits are really checked
    response = daemon.post("/programs", json={
        "environment": "c",
        "main_file": {"content": f"/* {uuid.uuid4()} */ int main(void) {{ return 0; }}"},
        "compile_limits": {"network": True},
    })
    assert response.status_code == 400
    assert response.json() == {"error": "compile_limits_exceeded",
                               "details": [{"name": "network", "max_value": 0}]}


# ------------------------------------------------------------------------------------ processes


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


# ------------------------------------------------------------------------------------ output


def test_stdout_bomb(daemon: Any) -> None:
    code = 'while True:\n    print("x" * 100)\n'
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "stdout_max_size": 1000})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["stdout_max_size"], result
    assert result["stdout"] == (("x" * 100 + "\n") * 10)[:1000]
    assert result["resource_usage"]["time"] < 2000, result
    assert elapsed < 2, "the stdout bomb was not stopped well before the time limit"


def test_stderr_bomb(daemon: Any) -> None:
    code = 'import sys\nwhile True:\n    sys.stderr.write("y" * 100)\n'
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "stderr_max_size": 1000})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["stderr_max_size"], result
    assert result["stderr"] == "y" * 1000
    assert result["stdout"] == ""
    assert result["resource_usage"]["time"] < 2000, result
    assert elapsed < 2, "the stderr bomb was not stopped well before the time limit"


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


# ------------------------------------------------------------------------------------ memory


def test_memory_flood_python(daemon: Any) -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(b'x' * 1_000_000)\n"
    result, elapsed = timed_run(daemon, "python", code, run_limits={"time": 4, "memory": 64})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["memory"], result
    memory = result["resource_usage"]["memory"]
    assert memory_limit_kb(64) // 2 <= memory <= memory_limit_kb(64) + 1024, result
    assert elapsed < 4, "the memory flood was not stopped before the time limit"


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


# ------------------------------------------------------------------------------------ files


def test_large_file_python(daemon: Any) -> None:
    """Writing past filesize=1 fails with EFBIG (Python ignores SIGXFSZ); the file stops at the limit."""
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


def test_large_file_bash_dd_is_killed_by_sigxfsz(daemon: Any) -> None:
    """As in Sandkasten's test_large_file: dd past filesize=1 is killed by SIGXFSZ (exit 153)."""
    code = "dd if=/dev/urandom of=/tmp/big bs=100k count=100\n"
    result = run(daemon, "bash", code, run_limits={"time": 4, "filesize": 1})
    assert result["status"] == 153, result
    assert "File size limit exceeded" in result["stderr"], result
    assert "filesize" in result["exceeded"], result


def test_job_does_not_inherit_ignored_sigxfsz_or_sigpipe(daemon: Any) -> None:
    """The job's signal dispositions are the defaults (not SIG_IGN inherited from the daemon)."""
    code = "grep SigIgn /proc/self/status\n"
    result = run(daemon, "bash", code, run_limits={"time": 4})
    assert result["status"] == 0, result
    ignored = int(result["stdout"].split()[1], 16)
    ignored_signals = {n for n in range(1, 65) if ignored & (1 << (n - 1))}
    assert 25 not in ignored_signals, f"SIGXFSZ is ignored in the job: SigIgn={ignored:#x}"
    assert 13 not in ignored_signals, f"SIGPIPE is ignored in the job: SigIgn={ignored:#x}"


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


# ------------------------------------------------------------------------------------ time, cpus


def test_time_limit_busy_loop(daemon: Any) -> None:
    result, elapsed = timed_run(daemon, "python", "while True:\n    pass\n", run_limits={"time": 1})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["time"], result
    assert result["resource_usage"]["time"] >= 1000, result
    assert elapsed < 1 + 5, "the job was not stopped soon after its time limit"


def test_time_limit_is_wall_clock(daemon: Any) -> None:
    """A job that sleeps (uses no CPU) is stopped by the wall-clock limit too."""
    result, elapsed = timed_run(daemon, "bash", "sleep 100\n", run_limits={"time": 1})
    assert result["status"] == 137, result
    assert result["exceeded"] == ["time"], result
    assert result["resource_usage"]["time"] >= 1000, result
    assert result["resource_usage"]["cpu_time"] < 500, result
    assert elapsed < 1 + 5


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


def test_cpus_limit(daemon: Any) -> None:
    code = "import json, os\nprint(json.dumps(sorted(os.sched_getaffinity(0))))\n"
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 4, "cpus": 1}))
    assert len(out) == 1, out


# ------------------------------------------------------------------------------------ kernel surface


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
