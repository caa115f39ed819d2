"""The seccomp policy of every job (sandkasten_py/sandbox/seccomp.py), tested from inside jobs.

Most calls are probed by one C program (one compile, one run) that prints a JSON table
`probe -> errno` (0 = the call succeeded); the tests assert per probe over that table. The
arguments are chosen so that the kernel, without the filter, would give another answer than
EPERM wherever it can (a bad pointer gives EFAULT, a bad descriptor EBADF, an empty
process_vm_readv or unshare(0) succeeds): `test_without_the_filter_the_kernel_answers_otherwise`
runs the same program on the host, unconfined, as uid 65534, and checks that these probes really
get another answer there, so the EPERMs in the job are the policy's. clone with a CLONE_NEW* flag
is probed together with CLONE_THREAD but without CLONE_SIGHAND, which the kernel refuses with
EINVAL before it looks at namespaces: nothing is ever created.

A few calls are probed from Python as well (ctypes and the socket module), the 32-bit ABIs
(int 0x80, x32) are probed separately, and a positive control checks that threads, fork, vfork,
posix_spawn and subprocess still work under the policy.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.security.jobs import clean_json_stdout as json_stdout
from tests.security.jobs import run

pytestmark = pytest.mark.sandbox

NOBODY = 65534
ENOSYS = errno.ENOSYS
EPERM = errno.EPERM
SIGSYS_STATUS = 128 + 31


# ------------------------------------------------------------------------------------ helpers


# ------------------------------------------------------------------------------------ the C table

PROBES_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#define X32_SYSCALL_BIT 0x40000000L
#define SYSLOG_ACTION_SIZE_BUFFER 10

static int first = 1;

static void report(const char *name, long result, int error) {
    printf("%s\"%s\": %d", first ? "{" : ", ", name, result < 0 ? error : 0);
    first = 0;
    if (result >= 0 && strncmp(name, "socket", 6) == 0) close((int)result);
}
#define PROBE(name, expr) do { errno = 0; long r_ = (long)(expr); report(name, r_, errno); } while (0)

int main(void) {
    PROBE("keyctl", syscall(SYS_keyctl, 9999, 0, 0, 0, 0));
    PROBE("add_key", syscall(SYS_add_key, NULL, NULL, NULL, 0, 0));
    PROBE("request_key", syscall(SYS_request_key, NULL, NULL, NULL, 0));
    PROBE("bpf", syscall(SYS_bpf, 0, (void *)1, 8));
    PROBE("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    PROBE("userfaultfd", syscall(SYS_userfaultfd, 3));
    PROBE("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
    PROBE("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
    PROBE("io_uring_register", syscall(SYS_io_uring_register, -1, 0, NULL, 0));
    PROBE("mount", syscall(SYS_mount, NULL, NULL, NULL, 0, NULL));
    PROBE("umount2", syscall(SYS_umount2, "/", 0x80000000));
    PROBE("pivot_root", syscall(SYS_pivot_root, NULL, NULL));
    PROBE("chroot", syscall(SYS_chroot, NULL));
    PROBE("setns", syscall(SYS_setns, -1, 0));
    PROBE("clone3", syscall(SYS_clone3, NULL, 0));
    PROBE("ptrace", syscall(SYS_ptrace, PTRACE_PEEKDATA, 0x7fffffff, NULL, NULL));
    PROBE("ptrace_seize_parent", syscall(SYS_ptrace, PTRACE_SEIZE, getppid(), NULL, NULL));
    PROBE("process_vm_readv", syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0));
    PROBE("process_vm_writev", syscall(SYS_process_vm_writev, getpid(), NULL, 0, NULL, 0, 0));
    PROBE("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    PROBE("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0));
    PROBE("init_module", syscall(SYS_init_module, NULL, 0, NULL));
    PROBE("finit_module", syscall(SYS_finit_module, -1, NULL, 0));
    PROBE("delete_module", syscall(SYS_delete_module, NULL, 0));
    PROBE("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
    PROBE("syslog", syscall(SYS_syslog, SYSLOG_ACTION_SIZE_BUFFER, NULL, 0));
    PROBE("personality_query", syscall(SYS_personality, 0xffffffffUL));
    PROBE("personality_reset", syscall(SYS_personality, 0));
    PROBE("personality_addr_no_randomize", syscall(SYS_personality, ADDR_NO_RANDOMIZE));
    PROBE("personality_read_implies_exec", syscall(SYS_personality, READ_IMPLIES_EXEC));
    PROBE("socket_netlink", socket(AF_NETLINK, SOCK_RAW, 0));
    PROBE("socket_netlink_bad_type", socket(AF_NETLINK, 99, 0));
    PROBE("socket_packet", socket(AF_PACKET, SOCK_RAW, 0));
    PROBE("socket_packet_bad_type", socket(AF_PACKET, 99, 0));
    PROBE("socket_vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
    PROBE("socket_vsock_bad_type", socket(AF_VSOCK, 99, 0));
    PROBE("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
    PROBE("socket_inet_udp", socket(AF_INET, SOCK_DGRAM, 0));
    PROBE("socket_inet6", socket(AF_INET6, SOCK_STREAM, 0));
    PROBE("socket_unix", socket(AF_UNIX, SOCK_STREAM, 0));
    PROBE("socket_unix_bad_type", socket(AF_UNIX, 99, 0));
    PROBE("clone_thread_only", syscall(SYS_clone, CLONE_THREAD, 0, 0, 0, 0));
    PROBE("clone_newns", syscall(SYS_clone, CLONE_THREAD | CLONE_NEWNS, 0, 0, 0, 0));
    PROBE("clone_newcgroup", syscall(SYS_clone, CLONE_THREAD | CLONE_NEWCGROUP, 0, 0, 0, 0));
    PROBE("clone_newuts", syscall(SYS_clone, CLONE_THREAD | CLONE_NEWUTS, 0, 0, 0, 0));
    PROBE("clone_newipc", syscall(SYS_clone, CLONE_THREAD | CLONE_NEWIPC, 0, 0, 0, 0));
    PROBE("clone_newuser", syscall(SYS_clone, CLONE_THREAD | CLONE_NEWUSER, 0, 0, 0, 0));
    PROBE("clone_newpid", syscall(SYS_clone, CLONE_THREAD | CLONE_NEWPID, 0, 0, 0, 0));
    PROBE("clone_newnet", syscall(SYS_clone, CLONE_THREAD | CLONE_NEWNET, 0, 0, 0, 0));
    PROBE("inotify_init", syscall(SYS_inotify_init));
    PROBE("inotify_init1", syscall(SYS_inotify_init1, 0));
    PROBE("inotify_add_watch", syscall(SYS_inotify_add_watch, -1, "/", 0x20));
    PROBE("inotify_rm_watch", syscall(SYS_inotify_rm_watch, -1, 0));
    PROBE("fanotify_init", syscall(SYS_fanotify_init, 0, 0));
    PROBE("fanotify_mark", syscall(SYS_fanotify_mark, -1, 0, 0, -1, NULL));
    PROBE("x32_getpid", syscall(39 | X32_SYSCALL_BIT));
    PROBE("x32_unshare", syscall(272 | X32_SYSCALL_BIT, 0));
    /* last: if the filter let them through, they would change this process's namespaces */
    PROBE("unshare_nothing", syscall(SYS_unshare, 0));
    PROBE("unshare_newuser", syscall(SYS_unshare, CLONE_NEWUSER));
    PROBE("unshare_newns", syscall(SYS_unshare, CLONE_NEWNS));
    PROBE("unshare_newnet", syscall(SYS_unshare, CLONE_NEWNET));
    printf("}\n");
    return 0;
}
"""

# Denied probes by group: probe -> errno in the job. Each group has its own test below, which
# claims the group's catalogue cases.
KEYRINGS = {"keyctl": EPERM, "add_key": EPERM, "request_key": EPERM}
KERNEL_SURFACE = {
    "bpf": EPERM, "perf_event_open": EPERM, "userfaultfd": EPERM,
    "kexec_load": EPERM, "kexec_file_load": EPERM, "init_module": EPERM, "finit_module": EPERM,
    "delete_module": EPERM, "reboot": EPERM, "syslog": EPERM,
    "personality_addr_no_randomize": EPERM, "personality_read_implies_exec": EPERM,
}
IO_URING = {"io_uring_setup": EPERM, "io_uring_enter": EPERM, "io_uring_register": EPERM}
NAMESPACES_AND_MOUNTS = {
    "mount": EPERM, "umount2": EPERM, "pivot_root": EPERM, "chroot": EPERM, "setns": EPERM,
    "unshare_nothing": EPERM, "unshare_newuser": EPERM, "unshare_newns": EPERM, "unshare_newnet": EPERM,
    "clone_newns": EPERM, "clone_newcgroup": EPERM, "clone_newuts": EPERM, "clone_newipc": EPERM,
    "clone_newuser": EPERM, "clone_newpid": EPERM, "clone_newnet": EPERM,
    "clone3": ENOSYS,  # flags in memory, which seccomp cannot read: the C library falls back to clone
}
TRACING = {"ptrace": EPERM, "ptrace_seize_parent": EPERM, "process_vm_readv": EPERM, "process_vm_writev": EPERM}
NETWORK_SOCKETS = {"socket_netlink": EPERM, "socket_netlink_bad_type": EPERM,
                   "socket_packet": EPERM, "socket_packet_bad_type": EPERM}
VSOCK_SOCKETS = {"socket_vsock": EPERM, "socket_vsock_bad_type": EPERM}
# The x32 ABI is not in the kernel, so the x32 variants of denied calls cannot bypass the 64-bit
# filter (x32 numbers carry bit 30 and would not match its rules).
X32 = {"x32_getpid": ENOSYS, "x32_unshare": ENOSYS}
# A watch on a file of the shared, read-only environment tells when a concurrent job opens it.
WATCHES = {"inotify_init": ENOSYS, "inotify_init1": ENOSYS, "inotify_add_watch": ENOSYS,
           "inotify_rm_watch": ENOSYS, "fanotify_init": ENOSYS, "fanotify_mark": ENOSYS}
DENIED = {**KEYRINGS, **KERNEL_SURFACE, **IO_URING, **NAMESPACES_AND_MOUNTS, **TRACING, **NETWORK_SOCKETS,
          **VSOCK_SOCKETS, **X32, **WATCHES}

# What the policy must leave alone: probe -> errno in the job.
ALLOWED = {
    "personality_query": 0,          # personality(0xffffffff) only reads the persona
    "personality_reset": 0,
    "socket_inet": 0,
    "socket_inet_udp": 0,
    "socket_inet6": 0,
    "socket_unix": 0,
    "socket_unix_bad_type": errno.EINVAL,   # the kernel's own answer: the filter let it through
    "clone_thread_only": errno.EINVAL,      # plain clone reaches the kernel
}

# Probes whose arguments make the unconfined kernel answer something other than the job's errno.
# (pivot_root, ptrace of the parent, kexec, modules, reboot, syslog and AF_PACKET need a capability
# the job does not have anyway, so the kernel alone also says EPERM or ENOSYS there.)
DISCRIMINATING = sorted(set(DENIED) - {
    "pivot_root", "ptrace_seize_parent", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "syslog", "socket_packet", "x32_getpid", "x32_unshare",
})


@pytest.fixture(scope="module")
def c_table(daemon: Any) -> dict[str, int]:
    """The probe table of the C program, from one build and one run."""
    table: dict[str, int] = json_stdout(run(daemon, "c", PROBES_C, run_limits={"time": 5}))
    return table


def test_the_table_has_every_probe(c_table: dict[str, int]) -> None:
    assert set(c_table) == set(DENIED) | set(ALLOWED)


def check(table: dict[str, int], probe: str, expected: int) -> None:
    got = table[probe]
    assert got == expected, f"{probe}: {os.strerror(got) if got else 'succeeded'} instead of {os.strerror(expected)}"


@pytest.mark.catalogue("INFO-05", "PRIV-06")
@pytest.mark.parametrize(("probe", "expected"), KEYRINGS.items())
def test_keyrings_denied_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.mark.catalogue("PRIV-06", "INFO-03")
@pytest.mark.parametrize(("probe", "expected"), KERNEL_SURFACE.items())
def test_kernel_surface_denied_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    """bpf, perf, userfaultfd, kexec, modules, reboot, syslog (dmesg: INFO-03), personality."""
    check(c_table, probe, expected)


@pytest.mark.catalogue("INFO-08")
@pytest.mark.parametrize(("probe", "expected"), IO_URING.items())
def test_io_uring_denied_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.mark.catalogue("PRIV-05")
@pytest.mark.parametrize(("probe", "expected"), NAMESPACES_AND_MOUNTS.items())
def test_namespaces_and_mounts_denied_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.mark.catalogue("PRIV-02")
@pytest.mark.parametrize(("probe", "expected"), TRACING.items())
def test_tracing_denied_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.mark.catalogue("NET-02")
@pytest.mark.parametrize(("probe", "expected"), NETWORK_SOCKETS.items())
def test_netlink_and_packet_sockets_denied_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.mark.catalogue("INFO-06")
@pytest.mark.parametrize(("probe", "expected"), VSOCK_SOCKETS.items())
def test_vsock_sockets_denied_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.mark.catalogue("INFO-07")
@pytest.mark.parametrize(("probe", "expected"), WATCHES.items())
def test_inotify_and_fanotify_denied_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.mark.catalogue("PRIV-04")
@pytest.mark.parametrize(("probe", "expected"), X32.items())
def test_x32_abi_absent_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.mark.parametrize(("probe", "expected"), ALLOWED.items())
def test_allowed_in_c(c_table: dict[str, int], probe: str, expected: int) -> None:
    check(c_table, probe, expected)


@pytest.fixture(scope="module")
def unconfined_table() -> dict[str, int]:
    """The same program compiled on the host and run there as uid 65534, without any filter."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc on the host for the unconfined control run")
    with tempfile.TemporaryDirectory(prefix="sandkasten-seccomp-") as top:
        os.chmod(top, 0o755)
        source, binary = Path(top) / "probes.c", Path(top) / "probes"
        source.write_text(PROBES_C)
        subprocess.run([gcc, "-O2", "-o", str(binary), str(source)], check=True, timeout=60)
        binary.chmod(0o755)
        done = subprocess.run([str(binary)], user=NOBODY, group=NOBODY, extra_groups=[],
                              capture_output=True, timeout=30, check=True, cwd=top)
    table: dict[str, int] = json.loads(done.stdout)
    return table


def test_without_the_filter_the_kernel_answers_otherwise(c_table: dict[str, int],
                                                        unconfined_table: dict[str, int]) -> None:
    """The EPERMs (and clone3's ENOSYS) in the job come from the policy, not from missing
    privileges: unconfined, the same calls fail differently or succeed."""
    same = {probe: c_table[probe] for probe in DISCRIMINATING if unconfined_table[probe] == c_table[probe]}
    assert same == {}, f"these probes do not show the filter at work: {same}"
    # and the allowed probes behave the same with and without the filter
    assert {p: unconfined_table[p] for p in ALLOWED} == ALLOWED


# ------------------------------------------------------------------------------------ from Python

PROBES_PY = r"""
import ctypes, json, os, signal, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}

def call(name, function, *args):
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]  # full 64-bit registers
    ctypes.set_errno(0)
    result = function(*args)
    out[name] = 0 if result >= 0 else ctypes.get_errno()

call("unshare_newuser", libc.unshare, 0x10000000)
call("unshare_newns", libc.unshare, 0x00020000)
call("unshare_newnet", libc.unshare, 0x40000000)
call("ptrace_seize_parent", libc.syscall, 101, 0x4206, os.getppid(), 0, 0)
child = os.fork()
if child == 0:
    signal.pause()
    os._exit(0)
call("ptrace_attach_own_child", libc.syscall, 101, 16, child, 0, 0)
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
call("process_vm_readv_self", libc.syscall, 310, os.getpid(), 0, 0, 0, 0, 0)
call("add_key", libc.syscall, 248, b"user", b"sandkasten-probe", b"secret", 6, -4)  # user keyring
call("keyctl_get_user_keyring", libc.syscall, 250, 0, -4, 0)   # KEYCTL_GET_KEYRING_ID
call("io_uring_setup", libc.syscall, 425, 1, 0)
call("personality_query", libc.syscall, 135, 0xFFFFFFFF)
call("inotify_init1", libc.inotify_init1, 0)
call("fanotify_init", libc.syscall, 300, 0, 0)
call("personality_addr_no_randomize", libc.syscall, 135, 0x0040000)
for name, family, kind in (("netlink", socket.AF_NETLINK, socket.SOCK_RAW),
                           ("packet", socket.AF_PACKET, socket.SOCK_RAW),
                           ("vsock", socket.AF_VSOCK, socket.SOCK_STREAM),
                           ("inet", socket.AF_INET, socket.SOCK_STREAM),
                           ("unix", socket.AF_UNIX, socket.SOCK_STREAM)):
    try:
        socket.socket(family, kind).close()
        out["socket_" + name] = 0
    except OSError as e:
        out["socket_" + name] = e.errno
print(json.dumps(out))
"""

PY_NAMESPACES = {"unshare_newuser": EPERM, "unshare_newns": EPERM, "unshare_newnet": EPERM}
PY_TRACING = {"ptrace_seize_parent": EPERM, "ptrace_attach_own_child": EPERM, "process_vm_readv_self": EPERM}
PY_KEYRINGS = {"add_key": EPERM, "keyctl_get_user_keyring": EPERM}
PY_IO_URING = {"io_uring_setup": EPERM}
PY_PERSONALITY = {"personality_query": 0, "personality_addr_no_randomize": EPERM}
PY_SOCKETS = {"socket_netlink": EPERM, "socket_packet": EPERM, "socket_inet": 0, "socket_unix": 0}
PY_VSOCK = {"socket_vsock": EPERM}
PY_WATCHES = {"inotify_init1": ENOSYS, "fanotify_init": ENOSYS}
PY_EXPECTED = {**PY_NAMESPACES, **PY_TRACING, **PY_KEYRINGS, **PY_IO_URING, **PY_PERSONALITY, **PY_SOCKETS, **PY_VSOCK,
               **PY_WATCHES}


@pytest.fixture(scope="module")
def python_table(daemon: Any) -> dict[str, int]:
    table: dict[str, int] = json_stdout(run(daemon, "python", PROBES_PY, run_limits={"time": 5}))
    assert set(table) == set(PY_EXPECTED)
    return table


@pytest.mark.catalogue("PRIV-05")
@pytest.mark.parametrize(("probe", "expected"), PY_NAMESPACES.items())
def test_python_unshare_denied(python_table: dict[str, int], probe: str, expected: int) -> None:
    check(python_table, probe, expected)


@pytest.mark.catalogue("PRIV-02")
@pytest.mark.parametrize(("probe", "expected"), PY_TRACING.items())
def test_python_ptrace_denied(python_table: dict[str, int], probe: str, expected: int) -> None:
    check(python_table, probe, expected)


@pytest.mark.catalogue("INFO-05")
@pytest.mark.parametrize(("probe", "expected"), PY_KEYRINGS.items())
def test_python_keyrings_denied(python_table: dict[str, int], probe: str, expected: int) -> None:
    check(python_table, probe, expected)


@pytest.mark.catalogue("INFO-08")
@pytest.mark.parametrize(("probe", "expected"), PY_IO_URING.items())
def test_python_io_uring_denied(python_table: dict[str, int], probe: str, expected: int) -> None:
    check(python_table, probe, expected)


@pytest.mark.catalogue("PRIV-06")
@pytest.mark.parametrize(("probe", "expected"), PY_PERSONALITY.items())
def test_python_personality_query_only(python_table: dict[str, int], probe: str, expected: int) -> None:
    check(python_table, probe, expected)


@pytest.mark.catalogue("NET-02")
@pytest.mark.parametrize(("probe", "expected"), PY_SOCKETS.items())
def test_python_socket_families(python_table: dict[str, int], probe: str, expected: int) -> None:
    check(python_table, probe, expected)


@pytest.mark.catalogue("INFO-06")
@pytest.mark.parametrize(("probe", "expected"), PY_VSOCK.items())
def test_python_vsock_denied(python_table: dict[str, int], probe: str, expected: int) -> None:
    check(python_table, probe, expected)


@pytest.mark.catalogue("INFO-07")
@pytest.mark.parametrize(("probe", "expected"), PY_WATCHES.items())
def test_python_inotify_and_fanotify_denied(python_table: dict[str, int], probe: str, expected: int) -> None:
    check(python_table, probe, expected)


# ------------------------------------------------------------------------------------ 32-bit ABI

INT80_C = r"""
#include <stdio.h>
int main(void) {
    long result;
    printf("before\n");
    fflush(stdout);
    /* i386 getpid (20) through the 32-bit entry point, from a 64-bit process */
    __asm__ volatile ("int $0x80" : "=a"(result) : "a"(20L) : "memory");
    printf("after %ld\n", result);
    return 0;
}
"""


@pytest.mark.catalogue("PRIV-04")
def test_int_0x80_is_killed_with_sigsys(daemon: Any) -> None:
    """The filter checks the architecture first: a syscall through the i386 entry point (which
    this kernel does have, CONFIG_IA32_EMULATION) kills the process with SIGSYS instead of
    reaching a 32-bit syscall table that the 64-bit rules do not describe."""
    result = run(daemon, "c", INT80_C, run_limits={"time": 5})
    assert (result["status"], result["stdout"], result["exceeded"]) == (SIGSYS_STATUS, "before\n", []), result


# ------------------------------------------------------------------------------------ positive control

NORMAL_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void *thread_main(void *arg) { return (void *)((uintptr_t)arg + 1); }

static int wait_status(pid_t pid) {
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -errno;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int spawn(const char *path, char *const argv[]) {
    pid_t pid;
    int error = posix_spawn(&pid, path, NULL, NULL, argv, environ);
    return error ? -error : wait_status(pid);
}

int main(int argc, char **argv) {
    if (argc > 1) return atoi(argv[1]);   /* as a spawned child: exit with the given code */
    pthread_t threads[4];
    int threads_ok = 1;
    for (uintptr_t i = 0; i < 4; i++) threads_ok &= pthread_create(&threads[i], NULL, thread_main, (void *)i) == 0;
    for (uintptr_t i = 0; i < 4; i++) {
        void *result = NULL;
        threads_ok &= pthread_join(threads[i], &result) == 0 && (uintptr_t)result == i + 1;
    }
    pid_t child = fork();
    if (child == 0) _exit(7);
    int fork_status = wait_status(child);
    pid_t vchild = vfork();
    if (vchild == 0) _exit(8);
    int vfork_status = wait_status(vchild);
    char *self_argv[] = {argv[0], "9", NULL};
    char *true_argv[] = {"true", NULL};
    printf("{\"threads\": %d, \"fork\": %d, \"vfork\": %d, \"posix_spawn\": %d, \"posix_spawn_true\": %d}\n",
           threads_ok, fork_status, vfork_status, spawn("/proc/self/exe", self_argv),
           spawn("/usr/bin/true", true_argv));
    return 0;
}
"""

NORMAL_PY = r"""
import json, os, subprocess, sys, threading
results = []
threads = [threading.Thread(target=results.append, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
child = os.fork()
if child == 0:
    os._exit(7)
_, status = os.waitpid(child, 0)
done = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True)
spawned = os.posix_spawn(sys.executable, [sys.executable, "-c", "raise SystemExit(9)"], dict(os.environ))
_, spawn_status = os.waitpid(spawned, 0)
print(json.dumps({"threads": sorted(results), "fork": os.waitstatus_to_exitcode(status),
                  "subprocess": [done.returncode, done.stdout],
                  "posix_spawn": os.waitstatus_to_exitcode(spawn_status)}))
"""

NORMAL_BASH = r"""
a=$(echo sub | tr a-z A-Z)
( exit 3 ); b=$?
sleep 0 & wait $!; c=$?
d=$(printf '%s\n' 3 1 2 | sort | head -n 1)
echo "$a $b $c $d"
"""


def test_normal_c_programs_still_work(daemon: Any) -> None:
    out = json_stdout(run(daemon, "c", NORMAL_C, run_limits={"time": 5}))
    assert out == {"threads": 1, "fork": 7, "vfork": 8, "posix_spawn": 9, "posix_spawn_true": 0}


def test_normal_python_programs_still_work(daemon: Any) -> None:
    out = json_stdout(run(daemon, "python", NORMAL_PY, run_limits={"time": 5}))
    assert out == {"threads": [0, 1, 2, 3], "fork": 7, "subprocess": [0, "42\n"], "posix_spawn": 9}


def test_normal_bash_scripts_still_work(daemon: Any) -> None:
    result = run(daemon, "bash", NORMAL_BASH, run_limits={"time": 5})
    assert (result["status"], result["stdout"]) == (0, "SUB 3 0 1\n"), result
