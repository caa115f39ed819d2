"""What a job can see and touch, and what is left of it afterwards (catalogue INFO-01..09).

A job must not see the host's secrets, the daemon's files and environment, or other jobs; it runs
as the real outside uid 65534 without capabilities, on read-only mounts except /tmp (and /program
while compiling); nothing of it outlives its response (processes, cgroups); and its stdin and
output are carried in full and promptly. All through the real daemon over HTTP.

What is *not* hidden, because the job shares the host's kernel, is asserted as it is and listed
under "Residual risks" in CATALOGUE.md: /proc/cpuinfo, /proc/meminfo, /proc/stat, /proc/loadavg,
the kernel's command line and version, the host paths of the job's mounts in
/proc/self/mountinfo, and a covert channel through flock() on the shared read-only files of an
environment (INFO-07). Those tests say so in their docstrings; if one of them starts failing
because the leak was closed, update the test and the residual list together.
"""

from __future__ import annotations

import errno
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from sandkasten_py.hostbuild.description import load_description
from tests.conftest import settled, standing
from tests.security.jobs import (
    host_process_with_argv0,
    host_processes_with,
    json_stdout,
    run,
)

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
MB = 1_000_000
NOBODY = 65534
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpuacct")
JOB_CGROUP_PARENT = CGROUP_ROOT / "memory" / "sandkasten"
# Variables bash itself puts into the environment of what it execs (the run scripts are bash).
SHELL_VARIABLES = {"PWD", "SHLVL", "_", "OLDPWD"}
DAEMON_VARIABLES = ("CONFIG_PATH", "HOST", "PORT", "PROGRAMS_DIR", "JOBS_DIR", "ENVIRONMENTS_PATH",
                    "ENABLE_METRICS", "RUN_LIMITS__TIME", "RUN_LIMITS__STDOUT_MAX_SIZE", "CGROUP_PARENT")
POLL_DEADLINE_S = 10


# ------------------------------------------------------------------------------------ helpers


def status_field(pid: int, name: str) -> list[str]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.split()
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def job_cgroup_dirs(pid: int) -> dict[str, Path]:
    """The v1 cgroup directories (memory, pids, cpuacct) of a host process."""
    dirs = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            if controller in CGROUP_CONTROLLERS:
                dirs[controller] = CGROUP_ROOT / controllers / path.lstrip("/")
    return dirs


# ------------------------------------------------------------------------------------ one C probe

C_PROBE = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        if ((unsigned char)*s < 0x20) printf("\\u%04x", *s); else putchar(*s);
    }
    putchar('"');
}

int main(void) {
    printf("{\"environ\": [");
    for (char **e = environ; *e; e++) { if (e != environ) printf(", "); json_string(*e); }
    printf("], \"pids\": [");
    DIR *proc = opendir("/proc");
    int first = 1;
    for (struct dirent *d; (d = readdir(proc)) != NULL;) {
        if (d->d_name[0] >= '0' && d->d_name[0] <= '9') { printf("%s%s", first ? "" : ", ", d->d_name); first = 0; }
    }
    closedir(proc);
    char host[256] = "";
    gethostname(host, sizeof host);
    printf("], \"pid\": %d, \"ppid\": %d, \"hostname\": ", getpid(), getppid());
    json_string(host);
    const char *paths[] = {"/sys", "/sys/fs/cgroup", "/etc/hostname", "/etc/shadow", "/dev/kmsg", "/root", NULL};
    printf(", \"exists\": {");
    for (int i = 0; paths[i]; i++) {
        struct stat st;
        printf("%s\"%s\": %d", i ? ", " : "", paths[i], lstat(paths[i], &st) == 0);
    }
    struct stat passwd;
    char buffer[64];
    errno = 0;
    int klog = klogctl(3, buffer, sizeof buffer);   /* SYSLOG_ACTION_READ_ALL, i.e. dmesg */
    printf("}, \"passwd_size\": %lld, \"klogctl\": %d}\n",
           stat("/etc/passwd", &passwd) == 0 ? (long long)passwd.st_size : -1LL, klog < 0 ? errno : 0);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_probe(daemon: Any) -> dict[str, Any]:
    """What a C program sees of its environment, processes and host (one build, one run)."""
    out: dict[str, Any] = json_stdout(run(daemon, "c", C_PROBE, run_limits={"time": 5},
                                          env_vars=[{"name": "C_PROBE", "value": "1"}]))
    return out


# ------------------------------------------------------------------------------------ environment (INFO-01, INFO-02)


@pytest.mark.catalogue("INFO-01", "INFO-02")
def test_environment_has_only_the_requested_variables(daemon: Any) -> None:
    code = """
import json, os
with open("/proc/1/environ", "rb") as f:
    pid1 = dict(item.split("=", 1) for item in f.read().decode().split("\\0") if item)
print(json.dumps({"environ": dict(os.environ), "pid1": pid1}))
"""
    requested = {"FOO": "bar", "SANDKASTEN_TEST_VALUE": "a value with spaces"}
    result = run(daemon, "python", code, run_limits={"time": 5},
                 env_vars=[{"name": k, "value": v} for k, v in requested.items()])
    out = json_stdout(result)
    environment_env = load_description(ROOT / "nix" / "packages" / "python").env
    allowed = set(requested) | {"PATH"} | set(environment_env) | SHELL_VARIABLES
    daemon_environ = dict(
        item.split(b"=", 1) for item in Path(f"/proc/{daemon.process.pid}/environ").read_bytes().split(b"\0")
        if b"=" in item)
    for view in ("environ", "pid1"):
        env = out[view]
        assert set(env) <= allowed, f"{view}: unexpected variables {sorted(set(env) - allowed)}"
        assert {k: env.get(k) for k in requested} == requested, view
        assert "PATH" in env, view
        assert not set(env) & set(DAEMON_VARIABLES), f"{view}: daemon variables leaked"
        for key, value in env.items():
            if key not in requested:
                assert daemon_environ.get(key.encode()) != value.encode(), \
                    f"{view}: the daemon's {key} leaked into the job"


@pytest.mark.catalogue("INFO-01")
def test_proc_environ_and_cmdline_carry_nothing_of_the_daemon(daemon: Any) -> None:
    """/proc/self/environ, /proc/1/environ and the command lines hold no value of the daemon's
    (its directories, configuration, port, code) - Deno's CVE-2024-34346 read /proc/self/environ."""
    code = """
import json
out = {}
for path in ("/proc/self/environ", "/proc/1/environ", "/proc/self/cmdline", "/proc/1/cmdline"):
    with open(path, "rb") as f:
        out[path] = f.read().decode(errors="replace")
print(json.dumps(out))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5},
                          env_vars=[{"name": "SANDKASTEN_PROBE", "value": "visible"}]))
    daemon_values = [str(daemon.programs_dir), str(daemon.jobs_dir), str(daemon.programs_dir.parent),
                     str(ROOT), "sandkasten_py", f":{urlsplit(daemon.url).port}",
                     f"PORT={urlsplit(daemon.url).port}"]
    for path, text in out.items():
        assert not [v for v in daemon_values if v in text], f"{path} shows the daemon's values: {text!r}"
    assert "SANDKASTEN_PROBE=visible" in out["/proc/self/environ"]  # the probe reads what it should
    assert out["/proc/1/cmdline"].split("\0")[:2] == ["python3", "/program/code.py"], out


@pytest.mark.catalogue("INFO-02")
def test_bash_printenv_shows_only_the_requested_variables(daemon: Any) -> None:
    """`BASH_FUNC_xq%%` is the environment's own: its run script exports an `xq` function."""
    result = run(daemon, "bash", "env -0\n", run_limits={"time": 5}, env_vars=[{"name": "FOO", "value": "bar"}])
    assert result["status"] == 0, result
    names = {item.split("=", 1)[0] for item in result["stdout"].split("\0") if item}
    allowed = ({"FOO", "PATH", "BASH_FUNC_xq%%"} | set(load_description(ROOT / "nix" / "packages" / "bash").env)
               | SHELL_VARIABLES)
    assert "FOO" in names and "PATH" in names, names
    assert names <= allowed, f"unexpected variables {sorted(names - allowed)}"


@pytest.mark.catalogue("INFO-02")
def test_c_environ_shows_only_the_requested_variables(c_probe: dict[str, Any]) -> None:
    names = {item.split("=", 1)[0] for item in c_probe["environ"]}
    assert "C_PROBE=1" in c_probe["environ"], c_probe["environ"]
    assert names <= {"C_PROBE", "PATH"} | SHELL_VARIABLES, f"unexpected variables {sorted(names)}"


# ------------------------------------------------------------------------------------ host information (INFO-03)


@pytest.mark.catalogue("INFO-03")
def test_cannot_read_etc_shadow(daemon: Any) -> None:
    code = """
import json
try:
    open("/etc/shadow").read()
    print(json.dumps("read"))
except OSError as e:
    print(json.dumps(e.errno))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out in (errno.ENOENT, errno.EACCES), out


@pytest.mark.catalogue("INFO-03")
def test_cannot_see_root_home(daemon: Any) -> None:
    code = """
import json, os
try:
    print(json.dumps(os.listdir("/root")))
except OSError as e:
    print(json.dumps(e.errno))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out in (errno.ENOENT, errno.EACCES), out


@pytest.mark.catalogue("INFO-03")
def test_cannot_see_the_daemons_files(daemon: Any) -> None:
    paths = [str(daemon.programs_dir), str(daemon.jobs_dir), str(daemon.log_path),
             str(ROOT / "config.toml"), str(ROOT / "sandkasten_py"), "/sys/fs/cgroup", "/etc/hostname"]
    assert Path(paths[0]).is_dir() and Path(paths[1]).is_dir()  # they exist on the host
    code = f"import json, os\nprint(json.dumps([p for p in {paths!r} if os.path.lexists(p)]))\n"
    assert json_stdout(run(daemon, "python", code, run_limits={"time": 5})) == []


@pytest.mark.catalogue("INFO-03")
def test_etc_passwd_is_empty(daemon: Any) -> None:
    code = "import json\nprint(json.dumps(open('/etc/passwd').read()))\n"
    assert json_stdout(run(daemon, "python", code, run_limits={"time": 5})) == ""


@pytest.mark.catalogue("INFO-03")
def test_hostname_is_box(daemon: Any) -> None:
    code = "import json, socket\nprint(json.dumps([socket.gethostname(), open('/proc/sys/kernel/hostname').read().strip()]))\n"
    assert json_stdout(run(daemon, "python", code, run_limits={"time": 5})) == ["box", "box"]


@pytest.mark.catalogue("INFO-03")
def test_no_sys_no_kernel_log_and_only_the_jobs_own_network_state(daemon: Any) -> None:
    """No /sys (so no /sys/fs/cgroup, no device or firmware details), an /etc with nothing but an
    empty passwd, no kernel log (syslog() is denied by the seccomp policy, /proc/kmsg is root's,
    /dev/kmsg is not there), /proc/net shows only the job's own loopback, and kernel pointers are
    hidden."""
    code = """
import ctypes, json, os
out = {"exists": {p: os.path.lexists(p) for p in (
    "/sys", "/sys/fs/cgroup", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/shadow",
    "/etc/group", "/dev/kmsg", "/dev/mem", "/run", "/var", "/home", "/root")}}
out["etc"] = sorted(os.listdir("/etc"))
libc = ctypes.CDLL(None, use_errno=True)
buffer = ctypes.create_string_buffer(4096)
ctypes.set_errno(0)
out["klogctl"] = ctypes.get_errno() if libc.klogctl(3, buffer, 4096) < 0 else "read"
try:
    open("/proc/kmsg", "rb").read(1)
    out["proc_kmsg"] = "read"
except OSError as e:
    out["proc_kmsg"] = e.errno
out["proc_net"] = {name: open(f"/proc/net/{name}").read().splitlines()[1:]
                   for name in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix", "packet", "route")}
out["proc_net_dev"] = [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]]
with open("/proc/kallsyms") as f:
    out["kallsyms_addresses"] = sorted({line.split()[0] for line, _ in zip(f, range(2000))})
out["proc_keys"] = open("/proc/keys").read()
print(json.dumps(out))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out["exists"] == {p: False for p in out["exists"]}, out["exists"]
    assert out["etc"] == ["passwd"]
    assert out["klogctl"] == errno.EPERM
    assert out["proc_kmsg"] == errno.EACCES
    assert out["proc_net"] == {name: [] for name in out["proc_net"]}, out["proc_net"]
    assert out["proc_net_dev"] == ["lo"]
    assert out["kallsyms_addresses"] == ["0" * 16], "kernel addresses are visible (KASLR bypass)"
    assert out["proc_keys"] == ""


@pytest.mark.catalogue("INFO-03")
def test_bash_sees_no_host_identity(daemon: Any) -> None:
    code = """
uname -n
ls -A /etc
wc -c < /etc/passwd
for p in /sys /etc/hostname /etc/hosts /root /home; do [[ -e $p ]] && echo "$p exists"; done
echo done
"""
    result = run(daemon, "bash", code, run_limits={"time": 5})
    assert (result["status"], result["stdout"]) == (0, "box\npasswd\n0\ndone\n"), result


@pytest.mark.catalogue("INFO-03")
def test_c_sees_no_host_identity(c_probe: dict[str, Any]) -> None:
    assert c_probe["hostname"] == "box"
    assert c_probe["exists"] == {p: 0 for p in c_probe["exists"]}, c_probe["exists"]
    assert c_probe["passwd_size"] == 0
    assert c_probe["klogctl"] == errno.EPERM


def host_field(path: str, key: str) -> str:
    for line in Path(path).read_text().splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    raise AssertionError(f"no {key} in {path}")


@pytest.mark.catalogue("INFO-03")
def test_what_a_job_still_learns_about_the_host(daemon: Any) -> None:
    """Documents a residual risk (CATALOGUE.md): the job shares the host's kernel, and /proc is
    not sanitised. It reads the host's CPU model and memory size, the kernel's version and
    command line, and in /proc/self/mountinfo the host paths behind its mounts (the daemon's
    programs and jobs directories and the environment's root) - paths it cannot reach (see
    test_cannot_see_the_daemons_files). Nothing of this is a secret of the service; the test
    asserts the current state so that the residual list stays true."""
    code = """
import json
def field(path, key):
    for line in open(path):
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
print(json.dumps({
    "model": field("/proc/cpuinfo", "model name"), "memtotal": field("/proc/meminfo", "MemTotal"),
    "cmdline": open("/proc/cmdline").read(), "version": open("/proc/version").read(),
    "mountinfo": open("/proc/self/mountinfo").read(),
}))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out["model"] == host_field("/proc/cpuinfo", "model name")
    assert out["memtotal"] == host_field("/proc/meminfo", "MemTotal")
    assert out["cmdline"] == Path("/proc/cmdline").read_text()
    assert out["version"] == Path("/proc/version").read_text()
    assert str(daemon.programs_dir) in out["mountinfo"] and str(daemon.jobs_dir) in out["mountinfo"]


# ------------------------------------------------------------------------------------ processes (INFO-04)


@pytest.mark.catalogue("INFO-04")
def test_pid_1_is_the_jobs_own_process(daemon: Any) -> None:
    code = """
import json, os
print(json.dumps({
    "pid": os.getpid(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "cmdline": open("/proc/1/cmdline").read().split("\\0"),
}))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out["pid"] == 1
    assert out["pids"] == [1]
    assert "/program/code.py" in out["cmdline"], out


@pytest.mark.catalogue("INFO-04")
def test_jobs_cannot_see_each_other(daemon: Any) -> None:
    """While one job sleeps, another sees only its own processes. On the host the sleeping job
    runs as the real uid/gid 65534 in a job cgroup of the daemon, and both are gone afterwards.

    The second request goes over a connection opened before the first job started (see
    test_another_request_during_a_job_does_not_break_it for what a new connection does)."""
    marker = f"isolation-marker-{uuid.uuid4()}"
    sleeper = f"exec -a {marker} sleep 1000\n"
    looker = f"""
import json, os
seen = []
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            if {marker!r}.encode() in open(f"/proc/{{p}}/cmdline", "rb").read():
                seen.append(int(p))
        except OSError:
            pass
print(json.dumps({{"seen": seen, "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                  "pid1": open("/proc/1/cmdline").read().split("\\0")}}))
"""
    with requests.Session() as session, ThreadPoolExecutor(max_workers=1) as pool:
        assert session.get(daemon.url + "/config", timeout=10).status_code == 200
        sleeping = pool.submit(run, daemon, "bash", sleeper, run_limits={"time": 3, "memory": 64})
        pid = host_process_with_argv0(marker, lambda: not sleeping.done())
        uids, gids = status_field(pid, "Uid"), status_field(pid, "Gid")
        cgroups = job_cgroup_dirs(pid)
        limit = (cgroups["memory"] / "memory.limit_in_bytes").read_text().strip()
        other = json_stdout(run(daemon, "python", looker, session=session, run_limits={"time": 5}))
        assert not sleeping.done(), "the sleeping job ended before the other job looked"
        sleeper_result = sleeping.result()

    assert other["seen"] == [], other
    assert other["pids"] == [1], other
    assert "/program/code.py" in other["pid1"], other
    assert uids == [str(NOBODY)] * 4, f"outside uid of the job: {uids}"
    assert gids == [str(NOBODY)] * 4, f"outside gid of the job: {gids}"
    assert set(cgroups) == set(CGROUP_CONTROLLERS), cgroups
    assert JOB_CGROUP_PARENT in cgroups["memory"].parents, cgroups
    assert limit == str(64 * MB)
    assert sleeper_result["status"] == 137 and sleeper_result["exceeded"] == ["time"], sleeper_result
    assert host_processes_with(marker) == [], "the job's process outlived its response"
    left = [str(d) for d in cgroups.values() if d.exists()]
    assert left == [], f"job cgroups left behind: {left}"


def test_another_request_during_a_job_does_not_break_it(daemon: Any) -> None:
    """A job's response must not depend on other HTTP requests arriving while it runs.

    (Found: the job's stdin pipe is closed early and later "stopped" again with
    loop.remove_writer(fd) on the same fd number, which by then belongs to the new connection's
    socket: RuntimeError "File descriptor N is used by transport" -> 500 for the running job.)"""
    marker = f"concurrent-marker-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        sleeping = pool.submit(daemon.post, "/run", json={
            "build": {"environment": "bash", "main_file": {"content": f"exec -a {marker} sleep 1000\n"}},
            "run": {"run_limits": {"time": 2}},
        })
        host_process_with_argv0(marker, lambda: not sleeping.done())
        assert daemon.get("/config").status_code == 200  # a new connection while the job runs
        other = run(daemon, "python", "print('other')", run_limits={"time": 5})
        response = sleeping.result()
    assert other["stdout"] == "other\n"
    assert response.status_code == 200, response.text
    assert response.json()["run"]["exceeded"] == ["time"], response.text


@pytest.mark.catalogue("INFO-04")
def test_bash_sees_only_its_own_process(daemon: Any) -> None:
    result = run(daemon, "bash", "echo /proc/[0-9]*\necho $$ $PPID\n", run_limits={"time": 5})
    assert (result["status"], result["stdout"]) == (0, "/proc/1\n1 0\n"), result


@pytest.mark.catalogue("INFO-04")
def test_c_sees_only_its_own_process(c_probe: dict[str, Any]) -> None:
    assert (c_probe["pids"], c_probe["pid"], c_probe["ppid"]) == ([1], 1, 0), c_probe


# ------------------------------------------------------------------------------------ channels between jobs


@pytest.mark.catalogue("INFO-05")
def test_keyrings_cannot_carry_data_from_one_run_to_the_next(daemon: Any) -> None:
    """Keyrings are per (real) uid and outlive processes, and every job runs as uid 65534: a key
    stored by one job would be readable by the next. The keyring calls are denied (isolate 2.4)."""
    store = """
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ctypes.set_errno(0)
key = libc.syscall(ctypes.c_long(248), b"user", b"sandkasten-probe", b"secret", ctypes.c_long(6),
                   ctypes.c_long(-4))  # add_key(..., KEY_SPEC_USER_KEYRING)
print(json.dumps({"add_key": ctypes.get_errno() if key < 0 else 0, "proc_keys": open("/proc/keys").read()}))
"""
    fetch = """
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ctypes.set_errno(0)
key = libc.syscall(ctypes.c_long(249), b"user", b"sandkasten-probe", None, ctypes.c_long(0))  # request_key
print(json.dumps({"request_key": ctypes.get_errno() if key < 0 else 0, "proc_keys": open("/proc/keys").read()}))
"""
    stored = json_stdout(run(daemon, "python", store, run_limits={"time": 5}))
    fetched = json_stdout(run(daemon, "python", fetch, run_limits={"time": 5}))
    assert stored == {"add_key": errno.EPERM, "proc_keys": ""}, stored
    assert fetched == {"request_key": errno.EPERM, "proc_keys": ""}, fetched


@pytest.mark.catalogue("INFO-06")
def test_vsock_sockets_cannot_be_created(daemon: Any) -> None:
    """AF_VSOCK reaches the hypervisor and, under some hypervisors, other guests' sandboxes."""
    code = """
import json, socket
out = {}
for kind in ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_SEQPACKET"):
    try:
        socket.socket(socket.AF_VSOCK, getattr(socket, kind)).close()
        out[kind] = "created"
    except OSError as e:
        out[kind] = e.errno
print(json.dumps(out))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out == {"SOCK_STREAM": errno.EPERM, "SOCK_DGRAM": errno.EPERM, "SOCK_SEQPACKET": errno.EPERM}


FLOCK_PYTHON = """
import fcntl, json, os
ROLE = {role!r}
FLAG, ANSWER = os.path.realpath("/usr/bin/python3"), os.path.realpath(os.__file__)

def locked_by_someone_else(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)  # drops our own lock again

out = {{"paths": [FLAG, ANSWER]}}
if ROLE == "sender":
    flag = os.open(FLAG, os.O_RDONLY)
    fcntl.flock(flag, fcntl.LOCK_EX)                # raise the flag ...
    while not locked_by_someone_else(ANSWER):       # ... until the receiver answers
        pass
    out["answered"] = True
else:
    while not (seen := locked_by_someone_else(FLAG)):
        pass
    out["seen"] = seen
    answer = os.open(ANSWER, os.O_RDONLY)
    fcntl.flock(answer, fcntl.LOCK_EX)              # answer ...
    while locked_by_someone_else(FLAG):             # ... until the sender has gone
        pass
print(json.dumps(out))
"""


@pytest.mark.catalogue("INFO-07")
def test_flock_on_shared_read_only_files_is_a_channel_between_concurrent_jobs(daemon: Any) -> None:
    """Documents a residual risk (CATALOGUE.md). The environment's files are bind-mounted
    read-only into every job from the same host inodes, and flock() works on read-only
    descriptors, so two jobs that run at the same time can signal each other: the sender locks
    /usr/bin/python3 and waits, the receiver sees that lock (EWOULDBLOCK) and answers with a lock
    on os.py. Only jobs that overlap in time can talk, both run as nobody without network, and
    the channel is a few bits per scheduling round; isolate closes it with a seccomp rule for
    flock/fcntl locks, which we have not (yet) taken over. Were the channel closed, each job
    would spin until its time limit and this test would fail: update it and the residual list."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        sender = pool.submit(run, daemon, "python", FLOCK_PYTHON.format(role="sender"), run_limits={"time": 4})
        receiver = pool.submit(run, daemon, "python", FLOCK_PYTHON.format(role="receiver"), run_limits={"time": 4})
        sent, received = sender.result(), receiver.result()
    paths = ["/usr/bin/python3.11", "/usr/lib/python3.11/os.py"]
    assert json_stdout(sent) == {"paths": paths, "answered": True}, sent
    assert json_stdout(received) == {"paths": paths, "seen": errno.EWOULDBLOCK}, received


@pytest.mark.catalogue("INFO-09")
def test_no_cgroup_statistics_of_other_jobs(daemon: Any) -> None:
    """The cgroup file system is not mounted (no memory/CPU counters of other jobs or of the
    daemon), the job's cgroup namespace shows its own cgroup as the root, and it cannot mount
    one. Residual (CATALOGUE.md): system-wide /proc/stat, /proc/loadavg and /proc/pressure, and
    CPU contention itself, still let concurrent jobs observe each other's load."""
    code = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
ctypes.set_errno(0)
mounted = libc.mount(b"cgroup", b"/tmp", b"cgroup", 0, b"memory")
print(json.dumps({"sys": os.path.lexists("/sys"), "cgroup": open("/proc/self/cgroup").read().splitlines(),
                  "mount": ctypes.get_errno() if mounted < 0 else "mounted",
                  "stat": open("/proc/stat").readline().split()[0]}))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out["sys"] is False
    assert out["cgroup"] and all(line.endswith(":/") for line in out["cgroup"]), out["cgroup"]
    assert out["mount"] == errno.EPERM
    assert out["stat"] == "cpu"  # the documented residual: host-wide CPU counters


# ------------------------------------------------------------------------------------ identity (PRIV-01)


@pytest.mark.catalogue("PRIV-01")
def test_runs_as_nobody(daemon: Any) -> None:
    code = """
import json, os
print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()]))
"""
    uid, euid, gid, egid, groups = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert (uid, euid, gid, egid) == (NOBODY,) * 4
    assert groups in ([], [NOBODY])


@pytest.mark.catalogue("PRIV-01")
def test_no_capabilities_and_no_new_privs(daemon: Any) -> None:
    code = """
import json
fields = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    fields[key] = value.strip()
print(json.dumps({k: fields[k] for k in ("CapInh", "CapPrm", "CapEff", "CapAmb", "NoNewPrivs")}))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert {k: int(v, 16) for k, v in out.items() if k.startswith("Cap")} == \
        {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapAmb": 0}, out
    assert out["NoNewPrivs"] == "1", out


# ------------------------------------------------------------------------------------ mounts


def test_read_only_mounts_at_run_time(daemon: Any) -> None:
    code = """
import json, os
out = {}
for path in ("/box/x", "/usr/x", "/program/x", "/x", "/etc/x"):
    try:
        with open(path, "w") as f:
            f.write("x")
        out[path] = "written"
    except OSError as e:
        out[path] = e.errno
try:
    os.mkdir("/newdir")
    out["mkdir /newdir"] = "made"
except OSError as e:
    out["mkdir /newdir"] = e.errno
print(json.dumps(out))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5},
                          files=[{"name": "data.txt", "content": "x"}]))
    assert out == {"/box/x": errno.EROFS, "/usr/x": errno.EROFS, "/program/x": errno.EROFS,
                   "/x": errno.EROFS, "/etc/x": errno.EROFS, "mkdir /newdir": errno.EROFS}, out


def test_program_dir_writable_only_while_compiling(daemon: Any) -> None:
    """The C compile step writes /program/binary; at run time /program is read-only."""
    code = r"""
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    FILE *f = fopen("/program/extra", "w");
    printf("%d %d\n", access("/program/binary", X_OK) == 0, f == NULL ? errno : 0);
    return 0;
}
"""
    response = daemon.post("/run", json={
        "build": {"environment": "c", "main_file": {"content": code}},
        "run": {"run_limits": {"time": 5}},
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["build"] is not None and body["build"]["status"] == 0, body
    assert body["run"]["stdout"] == f"1 {errno.EROFS}\n", body["run"]


# ------------------------------------------------------------------------------------ file descriptors


def test_no_leaked_file_descriptors(daemon: Any) -> None:
    """Only stdin, stdout and stderr are open in the job (no gate, log or daemon descriptors)."""
    code = """
import json, os
open_fds = []
for fd in range(1024):
    try:
        os.fstat(fd)
        open_fds.append(fd)
    except OSError:
        pass
print(json.dumps(open_fds))
"""
    assert json_stdout(run(daemon, "python", code, run_limits={"time": 5})) == [0, 1, 2]


# ------------------------------------------------------------------------------------ leftovers

ORPHAN_PYTHON = """
import os, signal, sys, time
MARKER = {marker!r}
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.execv(sys.executable, [MARKER, "-c", "import time\\nwhile True: time.sleep(1000)"])
    os._exit(0)
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                argv0 = open(f"/proc/{{p}}/cmdline", "rb").read().split(b"\\0")[0]
            except OSError:
                continue
            if argv0 == MARKER.encode():
                print("started")
                sys.exit(0)
print("not started")
sys.exit(1)
"""

ORPHAN_BASH = """
M={marker}
( ( trap '' TERM HUP; exec -a "$M" sleep 1000 ) & )
while (( SECONDS < 5 )); do
    for f in /proc/[0-9]*/cmdline; do
        if IFS= read -r -d '' argv0 < "$f" 2> /dev/null && [[ $argv0 == "$M" ]]; then
            echo started
            exit 0
        fi
    done
done
echo "not started"
exit 1
"""


@pytest.mark.parametrize("environment", ["python", "bash"])
def test_no_process_outlives_its_response(daemon: Any, environment: str) -> None:
    """A detached, double-forked child that ignores SIGTERM/SIGHUP dies with its job."""
    marker = f"orphan-marker-{uuid.uuid4()}"
    template = ORPHAN_PYTHON if environment == "python" else ORPHAN_BASH
    result = run(daemon, environment, template.format(marker=marker), run_limits={"time": 8})
    assert (result["status"], result["stdout"]) == (0, "started\n"), result
    assert host_processes_with(marker) == [], "a detached child outlived its job"


# A daemon whose job cgroups live under a parent of their own, so that leftovers are ours.
@pytest.fixture(scope="module")
def private_cgroup_daemon(daemon_factory: Callable[..., Any]) -> Iterator[tuple[Any, str]]:
    if not JOB_CGROUP_PARENT.is_dir():
        pytest.skip("no v1 job cgroup parent")
    parent = f"sandkasten/test-{uuid.uuid4().hex[:12]}"
    made = []
    for controller in CGROUP_CONTROLLERS:
        directory = CGROUP_ROOT / controller / parent
        directory.mkdir()
        made.append(directory)
    daemon = None
    try:
        daemon = daemon_factory(RUN_LIMITS__TIME="10", CGROUP_PARENT=parent)
        yield daemon, parent
    finally:
        if daemon is not None:
            daemon.stop()
        for directory in made:  # deepest first; cgroup directories go with rmdir alone
            for child in sorted((c for c in directory.rglob("*") if c.is_dir()),
                                key=lambda c: len(c.parts), reverse=True):
                try:
                    child.rmdir()
                except OSError:
                    pass
            try:
                directory.rmdir()
            except OSError:
                pass


@pytest.mark.catalogue("API-06")
def test_no_job_cgroup_is_left_behind(private_cgroup_daemon: tuple[Any, str]) -> None:
    """Jobs ending every way (exit, error, time, memory, output, processes, orphans) leave no
    job cgroup under the daemon's parent once all their responses are in."""
    daemon, parent = private_cgroup_daemon
    parents = {c: CGROUP_ROOT / c / parent for c in CGROUP_CONTROLLERS}

    def cgroup_dirs() -> dict[str, set[Path]]:
        return {c: {p for p in d.rglob("*") if p.is_dir()} for c, d in parents.items()}

    marker = f"cgroup-marker-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        sleeping = pool.submit(run, daemon, "bash", f"exec -a {marker} sleep 1000\n", run_limits={"time": 2})
        pid = host_process_with_argv0(marker, lambda: not sleeping.done())
        during = cgroup_dirs()
        own = job_cgroup_dirs(pid)
        assert sleeping.result()["exceeded"] == ["time"]
    for controller in CGROUP_CONTROLLERS:  # the job ran in a cgroup of its own under the parent
        assert parents[controller] in own[controller].parents, own
        assert own[controller] in during[controller], (own, during)
    # what may stay while the daemon runs: the directories above the job cgroups (the daemon's)
    allowed = {c: set(own[c].parents) for c in CGROUP_CONTROLLERS}

    cases = [
        ("python", "print('ok')", {}, 0, []),
        ("python", "import sys\nsys.exit(3)", {}, 3, []),
        ("python", "while True:\n    pass", {"time": 1}, 137, ["time"]),
        ("python", "a = []\nwhile True:\n    a.append(b'x' * 1_000_000)", {"memory": 64}, 137, ["memory"]),
        ("python", "while True:\n    print('x' * 100)", {"stdout_max_size": 1000}, 137, ["stdout_max_size"]),
        ("bash", ":(){ :|:& };:\nwhile :; do :; done", {"time": 1, "processes": 16}, 137, ["time", "processes"]),
        ("python", ORPHAN_PYTHON.format(marker=f"orphan-{uuid.uuid4()}"), {}, 0, []),
    ]
    for environment, code, limits, status, exceeded in cases:
        result = run(daemon, environment, code, run_limits={"time": 4, **limits})
        assert (result["status"], result["exceeded"]) == (status, exceeded), (code, result)

    def left() -> dict[str, list[str]]:  # ready gates and WASI workers have cgroups of their own
        return {c: sorted(str(d) for d in dirs - allowed[c] if not standing(d)) for c, dirs in cgroup_dirs().items()}

    nothing: dict[str, list[str]] = {c: [] for c in CGROUP_CONTROLLERS}
    assert settled(left, nothing) == nothing, "job cgroups left behind"


# ------------------------------------------------------------------------------------ streams


@pytest.fixture(scope="module")
def big_output_daemon(daemon_factory: Callable[..., Any]) -> Any:
    return daemon_factory(RUN_LIMITS__TIME="10", RUN_LIMITS__STDOUT_MAX_SIZE="2000000")


def test_one_mib_of_output_takes_about_its_own_time(big_output_daemon: Any) -> None:
    """1 MiB (16 pipe buffers) is received in full, and the job is not held up by the pipe."""
    lines = 1024 * 1024 // 8
    code = f"import sys\nsys.stdout.write(''.join(f'{{i:07d}}\\n' for i in range({lines})))\n"
    quiet = run(big_output_daemon, "python", "pass\n")
    started = time.monotonic()
    loud = run(big_output_daemon, "python", code)
    elapsed = time.monotonic() - started
    assert loud["limits"]["time"] == 10 and loud["limits"]["stdout_max_size"] == 2_000_000
    assert (loud["status"], loud["exceeded"]) == (0, []), {k: v for k, v in loud.items() if k != "stdout"}
    assert len(loud["stdout"]) == 1024 * 1024
    assert loud["stdout"] == "".join(f"{i:07d}\n" for i in range(lines))
    assert loud["resource_usage"]["time"] < 3000, loud["resource_usage"]
    assert loud["resource_usage"]["time"] < 5 * quiet["resource_usage"]["time"] + 2000, \
        (loud["resource_usage"], quiet["resource_usage"])
    assert elapsed < 5


def test_endless_printer_is_cut_off_promptly(daemon: Any) -> None:
    started = time.monotonic()
    result = run(daemon, "python", "while True:\n    print('spam' * 20)\n")
    elapsed = time.monotonic() - started
    assert result["limits"]["time"] == 10
    cap = result["limits"]["stdout_max_size"]
    assert (result["status"], result["exceeded"]) == (137, ["stdout_max_size"])
    assert len(result["stdout"].encode()) == cap
    assert result["resource_usage"]["time"] < 5000, result["resource_usage"]
    assert elapsed < 5, "the endless printer was not cut off well before the 10 s time limit"


def test_stdin_of_64_kib_is_delivered_in_full(daemon: Any) -> None:
    stdin = "".join(chr(ord("a") + i % 26) for i in range(65535)) + "\n"
    assert len(stdin.encode()) == 65536
    code = """
import hashlib, json, sys
data = sys.stdin.buffer.read()
print(json.dumps([len(data), hashlib.sha256(data).hexdigest()]))
"""
    out = json_stdout(run(daemon, "python", code, stdin=stdin, run_limits={"time": 5}))
    assert out == [65536, hashlib.sha256(stdin.encode()).hexdigest()]


@pytest.mark.parametrize(("environment", "code"), [
    ("python", "print('did not read')\n"),
    ("bash", "echo 'did not read'\n"),
    ("python", "import sys\nsys.stdin.read(1)\nprint('did not read')\n"),
])
def test_stdin_never_read_still_returns(daemon: Any, environment: str, code: str) -> None:
    started = time.monotonic()
    result = run(daemon, environment, code, stdin="z" * 65536, run_limits={"time": 5})
    elapsed = time.monotonic() - started
    assert (result["status"], result["stdout"], result["exceeded"]) == (0, "did not read\n", []), result
    assert elapsed < 2.5, "a job that does not read its stdin was held up"
