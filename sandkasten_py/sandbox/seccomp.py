"""The seccomp policy of every job (nsjail's kafel language): deny what no program needs.

The calls below either reach kernel code that has been a rich source of privilege escalations
(new user namespaces, which hand the job a full capability set inside them; keyrings; BPF;
perf; userfaultfd; io_uring), or let one process inspect another (ptrace, process_vm_*), or
administer the machine (mounts, modules, kexec, reboot, the kernel log). They fail with EPERM.

`clone` is allowed for threads and processes but not with any CLONE_NEW* flag. `clone3` passes
its flags in memory, which seccomp cannot read, so it fails with ENOSYS and the C libraries fall
back to `clone`, which is checked. Sockets of the families AF_NETLINK (kernel interfaces such as
routing), AF_PACKET (raw frames) and AF_VSOCK (a channel to the hypervisor and, via io_uring
tricks, between sandboxes) cannot be created; `personality` may only be queried or reset, so a
job cannot switch off address-space randomisation.

inotify and fanotify fail with ENOSYS, as on a kernel built without them (runtimes then fall
back to polling): a watch on a file of the shared, read-only environment would tell a job when
a concurrent job opens or reads it, a channel between jobs.

The 32-bit ABIs: kafel's filter first checks the architecture and kills a process that enters
the kernel through `int 0x80` (i386) with SIGSYS; the x32 ABI is not compiled into our kernels
(ENOSYS). Both are covered by tests.
"""

from __future__ import annotations

# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
CLONE_NEW_NAMESPACE_FLAGS = 0x7E020000

EPERM = 1
ENOSYS = 38
AF_NETLINK, AF_PACKET, AF_VSOCK = 16, 17, 40
PER_QUERY = 0xFFFFFFFF

DENIED_SYSCALLS = (
    "unshare", "setns",
    "mount", "umount", "pivot_root",  # kafel names umount2 "umount"
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "syslog", "chroot",
)

WATCH_SYSCALLS = (
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    "fanotify_init", "fanotify_mark",
)

POLICY = (
    f"ERRNO({EPERM}) {{ {', '.join(DENIED_SYSCALLS)}, "
    f"clone {{ (clone_flags & {CLONE_NEW_NAMESPACE_FLAGS:#x}) != 0 }}, "
    f"socket(domain, type, protocol) {{ domain == {AF_NETLINK} || domain == {AF_PACKET} "
    f"|| domain == {AF_VSOCK} }}, "
    f"personality(persona) {{ persona != 0 && persona != {PER_QUERY:#x} }} }} "
    f"ERRNO({ENOSYS}) {{ clone3, {', '.join(WATCH_SYSCALLS)} }} "
    "DEFAULT ALLOW"
)
