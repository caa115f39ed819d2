"""The seccomp policy of every job (nsjail's kafel language): deny what no program needs.

The calls below either reach kernel code that has been a rich source of privilege escalations
(new user namespaces, which hand the job a full capability set inside them; keyrings; BPF;
perf; userfaultfd; io_uring), or let one process inspect another (ptrace, process_vm_*), or
administer the machine (mounts, modules, kexec, reboot, the kernel log). They fail with EPERM.

`clone` is allowed for threads and processes but not with any CLONE_NEW* flag. `clone3` passes
its flags in memory, which seccomp cannot read, so it fails with ENOSYS and the C libraries fall
back to `clone`, which is checked.
"""

from __future__ import annotations

# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
CLONE_NEW_NAMESPACE_FLAGS = 0x7E020000

EPERM = 1
ENOSYS = 38

DENIED_SYSCALLS = (
    "unshare", "setns",
    "mount", "umount", "pivot_root",  # kafel names umount2 "umount"
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "syslog",
)

POLICY = (
    f"ERRNO({EPERM}) {{ {', '.join(DENIED_SYSCALLS)}, "
    f"clone {{ (clone_flags & {CLONE_NEW_NAMESPACE_FLAGS:#x}) != 0 }} }} "
    f"ERRNO({ENOSYS}) {{ clone3 }} "
    "DEFAULT ALLOW"
)
