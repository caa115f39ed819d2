"""The nsjail command line of a job: a pure function, one flag per line with its unit."""

from __future__ import annotations

from sandkasten_py.jobvars import JOB_VARIABLES
from sandkasten_py.sandbox.job import JobSpec
from sandkasten_py.sandbox.seccomp import POLICY

MB = 1_000_000  # limits are in decimal megabytes, as in Sandkasten
MIB = 1024 * 1024  # except `filesize`: nsjail reads --rlimit_fsize in MiB

# Inside the job everything runs as nobody, mapped to the *real* outside uid/gid 65534. The short
# form `--user 65534` would map it to the daemon's uid (root) outside.
NOBODY = "65534:65534:1"

# The daemon enforces the wall-clock limit itself; nsjail's coarse whole-second timer is only
# a backstop in case the daemon's deadline is missed.
TIME_LIMIT_BACKSTOP_S = 2

# Devices and links every job gets (Sandkasten's set plus /dev/zero, which many runtimes map).
DEVICES = ("/dev/null", "/dev/urandom", "/dev/zero")
LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("/dev/null", "/etc/passwd"),
)

LOG_FD = 4
"""nsjail writes its own messages to this descriptor, apart from the job's stderr."""


def nsjail_argv(nsjail: str, spec: JobSpec, *, use_cgroup: bool, resolv_conf: str | None = None) -> list[str]:
    """Build the nsjail command line for `spec`.

    With `use_cgroup` the daemon has put nsjail into a cgroup that limits memory and processes,
    so the matching rlimits are lifted; otherwise rlimits are all there is. `resolv_conf` is
    given when the daemon starts nsjail inside a network namespace it prepared for a job with
    network access (see network.py); nsjail then stays in it instead of making an empty one.
    """
    limits = spec.limits
    argv = [
        nsjail,
        "--mode", "o",                                 # run once, in the foreground
        "--log_fd", str(LOG_FD), "--quiet",            # warnings and errors only, on their own pipe
        "--user", NOBODY, "--group", NOBODY,
        "--hostname", "box",
        "--cwd", "/box",
        "--max_cpus", str(limits.cpus),                # CPU affinity to this many CPUs
        "--time_limit", str(limits.time + TIME_LIMIT_BACKSTOP_S),  # seconds
        "--rlimit_fsize", str(limits.filesize),        # MB (nsjail: MiB)
        "--rlimit_nofile", str(limits.file_descriptors),
        "--rlimit_core", "0",
        "--seccomp_string", POLICY,
    ]
    if use_cgroup:
        argv += ["--rlimit_as", "max", "--rlimit_nproc", "max"]
    else:
        argv += [
            "--rlimit_as", str(limits.memory),         # MB (nsjail: MiB)
            "--rlimit_nproc", str(limits.processes),
        ]
    argv += ["--env", f"SANDKASTEN_MEMORY_MB={limits.memory}", "--env", f"SANDKASTEN_CPUS={limits.cpus}",
             "--env", "SANDKASTEN_COMPILE_ARGS=" + "\n".join(spec.compile_args)]
    for name, value in spec.env:
        if name not in JOB_VARIABLES:  # the daemon's values win over a request's
            argv += ["--env", f"{name}={value}"]
    argv += ["--bindmount" if spec.program_writable else "--bindmount_ro", f"{spec.program_dir}:/program"]
    argv += ["--bindmount_ro", f"{spec.box_dir}:/box"]
    if spec.tmp_dir is not None:
        argv += ["--bindmount", f"{spec.tmp_dir}:/tmp"]  # a tmpfs of `limits.tmpfs` MB
    for mount in spec.mounts:
        argv += ["--bindmount_ro", _bind(mount.source, mount.target)]
    for link in spec.symlinks:
        argv += ["--symlink", f"{link.target}:{link.path}"]
    for device in DEVICES:
        argv += ["--bindmount_ro", device]
    # /dev/random blocks on nothing since Linux 5.6; runtimes (the JVM's SecureRandom) expect it.
    argv += ["--bindmount_ro", "/dev/urandom:/dev/random"]
    for target, path in LINKS:
        argv += ["--symlink", f"{target}:{path}"]
    if resolv_conf is not None:
        argv += ["--disable_clone_newnet", "--bindmount_ro", f"{resolv_conf}:/etc/resolv.conf"]
    # Otherwise nsjail makes the job a network namespace of its own with only a loopback
    # interface. Never the host's namespace: no -N/--disable_clone_newnet without the daemon's
    # own namespace around it.
    argv += ["--", *spec.argv]
    return argv


def _bind(source: str, target: str) -> str:
    return source if source == target else f"{source}:{target}"
