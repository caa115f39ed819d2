"""Privileges and the kernel surface (catalogue PRIV-01..08), through the real daemon over HTTP.

Every job runs as the real outside uid 65534 in a user namespace of its own, without
capabilities and with no_new_privs, under the seccomp policy (whose per-syscall tests are in
test_seccomp.py: PRIV-02, PRIV-04, PRIV-05, PRIV-06). Here: setuid binaries are powerless
(PRIV-01), the supervisor cannot be traced or read (PRIV-02) or signalled (PRIV-03), there is no
terminal to inject input into (PRIV-07) and the cgroup files are out of reach (PRIV-08).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.security.jobs import clean_json_stdout as json_stdout
from tests.security.jobs import host_process_with_argv0, run

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ROOT / "pkgs" / "share" / "sandkasten" / "packages"
NOBODY = 65534
POLL_DEADLINE_S = 10
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpuacct")


# ------------------------------------------------------------------------------------ helpers


def daemon_still_serves(daemon: Any) -> None:
    assert daemon.process.poll() is None, "the daemon died"
    assert daemon.get("/config").status_code == 200
    after = run(daemon, "bash", "echo still here\n", run_limits={"time": 4})
    assert after["stdout"] == "still here\n", after


# ------------------------------------------------------------------------------------ PRIV-01

SCAN_PYTHON = r"""
import json, os, stat
found = []
for top, dirs, files in os.walk("/"):
    if top == "/":
        dirs[:] = [d for d in dirs if d != "proc"]
    for name in dirs + files:
        path = os.path.join(top, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        capabilities = None
        try:
            capabilities = os.getxattr(path, "security.capability", follow_symlinks=False)
        except OSError:
            pass
        if st.st_mode & 0o6000 or capabilities:
            found.append([path, oct(st.st_mode), bool(capabilities)])
print(json.dumps({"found": found, "files": sum(1 for _ in os.scandir("/usr/bin"))}))
"""

SCAN_BASH = "find / -path /proc -prune -o -perm /6000 -print\necho scanned\n"

SCAN_C = r"""
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static long files;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)ftw;
    if (strncmp(path, "/proc", 5) == 0) return FTW_SKIP_SUBTREE;
    files++;
    if (type != FTW_SL && (st->st_mode & 06000)) printf("%s %o\n", path, st->st_mode);
    return FTW_CONTINUE;
}

int main(void) {
    nftw("/", visit, 64, FTW_PHYS | FTW_ACTIONRETVAL);
    printf("scanned %d\n", files > 1000);
    return 0;
}
"""


@pytest.mark.catalogue("PRIV-01")
def test_no_setuid_or_capability_binaries_inside_jobs(daemon: Any) -> None:
    """Scanned from inside a job of the python, bash and C environments: no file with the setuid
    or setgid bit or with file capabilities is visible (so no sudo as in Piston #62)."""
    out = json_stdout(run(daemon, "python", SCAN_PYTHON, run_limits={"time": 10}))
    assert out["files"] > 10 and out["found"] == [], out
    bash = run(daemon, "bash", SCAN_BASH, run_limits={"time": 10})
    assert (bash["status"], bash["stdout"]) == (0, "scanned\n"), bash
    c = run(daemon, "c", SCAN_C, run_limits={"time": 10})
    assert (c["status"], c["stdout"]) == (0, "scanned 1\n"), c


@pytest.mark.catalogue("PRIV-01")
def test_no_setuid_binaries_in_any_environment_mount() -> None:
    """The same, for every environment (cpp and rust included), on the host sources of the
    environments' mounts."""
    found, files = [], 0
    for manifest in sorted(ENVIRONMENTS.glob("*.json")):
        for mount in json.loads(manifest.read_text()).get("mounts", []):
            for top, _, names in os.walk(mount["source"]):
                for name in names:
                    files += 1
                    mode = os.lstat(os.path.join(top, name)).st_mode
                    if not stat.S_ISLNK(mode) and mode & 0o6000:
                        found.append(os.path.join(top, name))
    assert files > 1000, "the environments' roots were not found"
    assert found == []


@pytest.fixture(scope="module")
def setuid_daemon(daemon_factory: Callable[..., Any]) -> Iterator[Any]:
    """A daemon whose bash environment has one more mount, /suid, holding a setuid- and
    setgid-root copy of the environment's own `id`."""
    top = Path(tempfile.mkdtemp(prefix="sandkasten-setuid-"))
    try:
        os.chmod(top, 0o755)
        suid, environments = top / "suid", top / "environments"
        suid.mkdir(mode=0o755)
        environments.mkdir(mode=0o755)
        manifest = json.loads((ENVIRONMENTS / "bash.json").read_text())
        usr = next(m["source"] for m in manifest["mounts"] if m["target"] == "/usr")
        shutil.copy(Path(usr) / "bin" / "id", suid / "id")
        os.chown(suid / "id", 0, 0)
        os.chmod(suid / "id", 0o6755)
        manifest["mounts"].append({"source": str(suid), "target": "/suid"})
        (environments / "bash.json").write_text(json.dumps(manifest))
        yield daemon_factory(ENVIRONMENTS_PATH=str(environments), RUN_LIMITS__TIME="10"), suid / "id"
    finally:
        shutil.rmtree(top)


@pytest.mark.catalogue("PRIV-01")
def test_a_setuid_root_binary_does_not_give_root(setuid_daemon: tuple[Any, Path]) -> None:
    """Even where a setuid-root binary is mounted, running it leaves the job at uid/gid 65534:
    no_new_privs makes exec ignore the setuid/setgid bits, and root is not even mapped into the
    job's user namespace. (The bind mounts are not `nosuid`; these two make that moot.)"""
    daemon, binary = setuid_daemon
    host = binary.stat()
    assert (host.st_uid, host.st_gid, stat.S_IMODE(host.st_mode)) == (0, 0, 0o6755)
    code = "stat -c %a /suid/id\n/suid/id -u\n/suid/id -g\n/suid/id -G\ngrep NoNewPrivs /proc/self/status\n"
    result = run(daemon, "bash", code, run_limits={"time": 5})
    assert (result["status"], result["stdout"]) == (0, "6755\n65534\n65534\n65534\nNoNewPrivs:\t1\n"), result


# ------------------------------------------------------------------------------------ PRIV-02

SUPERVISOR_PYTHON = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(*args):
    ctypes.set_errno(0)
    result = libc.syscall(*[ctypes.c_long(a) for a in args])
    return ctypes.get_errno() if result < 0 else 0
buffer = ctypes.create_string_buffer(64)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local, remote = iovec(ctypes.addressof(buffer), 64), iovec(0x400000, 64)
out = {"ppid": os.getppid(), "daemon_in_proc": os.path.exists(f"/proc/{DAEMON}")}
for name, pid in (("parent", os.getppid()), ("daemon", DAEMON), ("init", 1)):
    out[f"seize_{name}"] = call(101, 0x4206, pid, 0, 0)     # PTRACE_SEIZE
    out[f"attach_{name}"] = call(101, 16, pid, 0, 0)        # PTRACE_ATTACH
    ctypes.set_errno(0)
    read = libc.syscall(ctypes.c_long(310), ctypes.c_long(pid), ctypes.byref(local), ctypes.c_long(1),
                        ctypes.byref(remote), ctypes.c_long(1), ctypes.c_long(0))  # process_vm_readv
    out[f"vm_read_{name}"] = ctypes.get_errno() if read < 0 else 0
print(json.dumps(out))
"""


@pytest.mark.catalogue("PRIV-02")
def test_the_supervisor_cannot_be_traced_or_read(daemon: Any) -> None:
    """The job's parent (nsjail) is outside its pid namespace (getppid() is 0), the daemon's pid
    does not exist in it, and ptrace and process_vm_readv are denied outright - on those pids and
    even on the job's own pid 1."""
    code = SUPERVISOR_PYTHON.replace("DAEMON", str(daemon.process.pid))
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out.pop("ppid") == 0
    assert out.pop("daemon_in_proc") is False
    assert out == {k: errno.EPERM for k in out}, out
    daemon_still_serves(daemon)


# ------------------------------------------------------------------------------------ PRIV-03

KILL_C = r"""
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t child = fork();
    if (child == 0) { pause(); _exit(0); }
    printf("{\"visible\": [");
    for (pid_t pid = 1, n = 0; pid <= 32768; pid++)
        if (kill(pid, 0) == 0) printf("%s%d", n++ ? ", " : "", pid);
    errno = 0;
    int all = kill(-1, SIGKILL) == 0 ? 0 : errno;
    int status = 0;
    waitpid(child, &status, 0);
    errno = 0;
    int daemon = kill(DAEMON, SIGKILL) == 0 ? 0 : errno;
    errno = 0;
    int daemon_group = kill(-DAEMON, SIGKILL) == 0 ? 0 : errno;
    printf("], \"kill_all\": %d, \"child_signal\": %d, \"kill_daemon\": %d, \"kill_daemon_group\": %d, "
           "\"ppid\": %d}\n", all, WIFSIGNALED(status) ? WTERMSIG(status) : 0, daemon, daemon_group, getppid());
    return 0;
}
"""

KILL_BASH = """
sleep 1000 &
kill -KILL -1
wait $!
echo "child $?"
kill -KILL DAEMON 2> /dev/null
echo "daemon $?"
echo "ppid $PPID"
"""


@pytest.mark.catalogue("PRIV-03")
def test_c_kill_all_and_kill_the_daemon_reach_only_the_job(daemon: Any) -> None:
    """kill(-1, SIGKILL) kills the job's own child and nothing else; the daemon's pid (and
    process group) does not exist in the job's pid namespace; the parent is pid 0."""
    pid = daemon.process.pid
    out = json_stdout(run(daemon, "c", KILL_C.replace("DAEMON", str(pid)), run_limits={"time": 5}))
    assert out == {"visible": [1, 2], "kill_all": 0, "child_signal": 9, "kill_daemon": errno.ESRCH,
                   "kill_daemon_group": errno.ESRCH, "ppid": 0}, out
    daemon_still_serves(daemon)
    assert daemon.process.pid == pid


@pytest.mark.catalogue("PRIV-03")
def test_bash_kill_all_and_kill_the_daemon_reach_only_the_job(daemon: Any) -> None:
    result = run(daemon, "bash", KILL_BASH.replace("DAEMON", str(daemon.process.pid)), run_limits={"time": 5})
    assert (result["status"], result["stdout"]) == (0, "child 137\ndaemon 1\nppid 0\n"), result
    daemon_still_serves(daemon)


# ------------------------------------------------------------------------------------ PRIV-07

TTY_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void) {
    char c = 'x';
    printf("{");
    for (int fd = 0; fd < 3; fd++) {
        errno = 0;
        int injected = ioctl(fd, TIOCSTI, &c);
        printf("\"isatty_%d\": %d, \"tiocsti_%d\": %d, ", fd, isatty(fd), fd, injected == 0 ? 0 : errno);
    }
    errno = 0;
    int tty = open("/dev/tty", O_RDWR);
    int tty_error = tty < 0 ? errno : 0;
    errno = 0;
    int pty = posix_openpt(O_RDWR);
    printf("\"dev_tty\": %d, \"posix_openpt\": %d, \"dev_pts\": %d}\n", tty_error, pty < 0 ? errno : 0,
           access("/dev/pts", F_OK) == 0);
    return 0;
}
"""


@pytest.mark.catalogue("PRIV-07")
def test_no_terminal_to_inject_input_into(daemon: Any) -> None:
    """stdin, stdout and stderr are pipes, there is no /dev/tty, /dev/ptmx or /dev/pts, so
    TIOCSTI has no terminal to push characters into. (To revisit with PTY sessions.)"""
    out = json_stdout(run(daemon, "c", TTY_C, run_limits={"time": 5}))
    assert out == {"isatty_0": 0, "tiocsti_0": errno.ENOTTY, "isatty_1": 0, "tiocsti_1": errno.ENOTTY,
                   "isatty_2": 0, "tiocsti_2": errno.ENOTTY, "dev_tty": errno.ENOENT,
                   "posix_openpt": errno.ENOENT, "dev_pts": 0}, out


@pytest.mark.catalogue("PRIV-07")
def test_python_tiocsti_finds_no_terminal(daemon: Any) -> None:
    code = """
import fcntl, json, os, termios
out = {}
for fd in (0, 1, 2):
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        out[fd] = "injected"
    except OSError as e:
        out[fd] = e.errno
print(json.dumps([out, os.isatty(0), os.path.exists("/dev/tty")]))
"""
    out = json_stdout(run(daemon, "python", code, run_limits={"time": 5}))
    assert out == [{"0": errno.ENOTTY, "1": errno.ENOTTY, "2": errno.ENOTTY}, False, False]


# ------------------------------------------------------------------------------------ PRIV-08


@pytest.mark.catalogue("PRIV-08")
def test_cgroup_files_are_out_of_reach(daemon: Any) -> None:
    """No cgroup file system is mounted in the job (so neither its limits nor a release_agent can
    be written), it cannot mount one, and on the host the job's cgroup files and the hierarchy's
    release_agent belong to root and are not writable by anyone else."""
    marker = f"cgroup-files-marker-{uuid.uuid4()}"
    code = f"""
mounts=$(sed 's/.* - //' /proc/self/mountinfo | cut -d' ' -f1 | sort -u | tr '\\n' ' ')
echo "$mounts"
[[ -e /sys ]] && echo "/sys exists"
exec -a {marker} sleep 1000
"""
    with ThreadPoolExecutor(max_workers=1) as pool:
        sleeping = pool.submit(run, daemon, "bash", code, run_limits={"time": 2})
        pid = host_process_with_argv0(marker, lambda: not sleeping.done())
        directories = {}
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers in CGROUP_CONTROLLERS:
                directories[controllers] = CGROUP_ROOT / controllers / path.lstrip("/")
        files = [d / name for d in directories.values() for name in ("cgroup.procs", "tasks", "notify_on_release")]
        files += [directories["memory"] / "memory.limit_in_bytes", directories["pids"] / "pids.max"]
        files += [CGROUP_ROOT / c / "release_agent" for c in CGROUP_CONTROLLERS
                  if (CGROUP_ROOT / c / "release_agent").exists()]
        modes = {str(f): f.stat() for f in files}
        result = sleeping.result()
    assert set(directories) == set(CGROUP_CONTROLLERS), directories
    assert result["exceeded"] == ["time"], result
    assert result["stdout"] == "devtmpfs ext4 proc tmpfs \n", result
    for path, st in modes.items():
        assert st.st_uid == 0 and st.st_mode & 0o022 == 0, f"{path}: uid {st.st_uid} mode {oct(st.st_mode)}"
