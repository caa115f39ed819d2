"""gVisor's view of a job: the OCI bundle (`config.json` and a root directory) and the `runsc`
command line. Pure functions, apart from `make_bundle`, which writes the bundle.

The job sees what nsjail shows it: the same mounts at the same places, `/box` as its working
directory, uid and gid 65534, no capabilities, no network but loopback, hostname `box`, the
same environment variables and rlimits. Differences, and why:

- `/dev` is gVisor's own (null, zero, full, random, urandom, tty, ptmx, pts, shm and the fd
  links), made by its kernel, not the host's device nodes.
- No seccomp policy of ours: gVisor's kernel (the Sentry) implements the job's system calls
  itself, and the host sees only the Sentry's, under gVisor's own filter.
- Processes are limited by RLIMIT_NPROC, which gVisor's kernel enforces for its tasks. The
  job's cgroup counts host threads, and the Sentry and its platform use many for few guest
  processes (155 for 20 sleeping processes here): its process limit is only a backstop.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sandkasten_py.jobvars import JOB_VARIABLES
from sandkasten_py.sandbox.argv import MIB
from sandkasten_py.sandbox.job import JobSpec, Symlink

NOBODY = 65534
ROOT = "root"  # the bundle's root directory, holding only the spec's symlinks and mount points
STATE = "state"  # runsc's state of the container (`--root`)
LOG = "runsc.log"

# Files of /etc the job finds, as under nsjail (a passwd that is empty).
ETC_LINKS = (Symlink("/etc/passwd", "/dev/null"),)


def oci_config(spec: JobSpec, root_dir: str) -> dict[str, Any]:
    """The OCI runtime configuration of `spec`, with `root_dir` as its (read-only) root."""
    limits = spec.limits
    env = [f"SANDKASTEN_MEMORY_MB={limits.memory}", f"SANDKASTEN_CPUS={limits.cpus}",
           "SANDKASTEN_COMPILE_ARGS=" + "\n".join(spec.compile_args)]
    env += [f"{name}={value}" for name, value in spec.env if name not in JOB_VARIABLES]
    mounts: list[dict[str, Any]] = [{"destination": "/proc", "type": "proc", "source": "proc"}]
    mounts += [_bind(m.source, m.target, writable=False) for m in spec.mounts]
    mounts.append(_bind(spec.program_dir, "/program", writable=spec.program_writable))
    mounts.append(_bind(spec.box_dir, "/box", writable=False))
    if spec.tmp_dir is not None:
        mounts.append(_bind(spec.tmp_dir, "/tmp", writable=True))
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": NOBODY, "gid": NOBODY, "additionalGids": []},
            "args": list(spec.argv),
            "env": env,
            "cwd": "/box",
            "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [],
                             "ambient": []},
            "noNewPrivileges": True,
            "rlimits": [
                _rlimit("RLIMIT_FSIZE", limits.filesize * MIB),
                _rlimit("RLIMIT_NOFILE", limits.file_descriptors),
                _rlimit("RLIMIT_NPROC", limits.processes),
                _rlimit("RLIMIT_CORE", 0),
            ],
        },
        "root": {"path": root_dir, "readonly": True},
        "hostname": "box",
        "mounts": mounts,
        "linux": {"namespaces": [{"type": kind} for kind in ("pid", "ipc", "uts", "mount", "network")]},
    }


def runsc_argv(runsc: str, bundle: str, container_id: str) -> list[str]:
    """`runsc run` of the bundle in `bundle`, with its state and log inside it too."""
    return [
        runsc,
        "--root", os.path.join(bundle, STATE),
        "--log", os.path.join(bundle, LOG),
        "--network=none",       # a network stack of gVisor's own with loopback only
        "--ignore-cgroups",     # stay in the job's cgroup, which the daemon made, limits and reads
        "--overlay2=none",      # the root is read-only and every writable place is a host tmpfs
                                # (newer runsc would put an overlay's file store into the root)
        "run", "--bundle", bundle, container_id,
    ]


def runsc_kill_argv(runsc: str, bundle: str, container_id: str, number: int) -> list[str]:
    """`runsc kill --all`: signal `number` to every process of the running container (`runsc
    run` itself passes a signal on to the container's first process only)."""
    return [runsc, "--root", os.path.join(bundle, STATE), "kill", "--all", container_id, str(number)]


def make_bundle(spec: JobSpec, bundle: str) -> None:
    """Write the bundle of `spec` into the new directory `bundle` (blocking: call it from a thread)."""
    root = os.path.join(bundle, ROOT)
    os.mkdir(bundle, 0o700)
    os.mkdir(root, 0o755)
    for link in (*spec.symlinks, *ETC_LINKS):
        if ".." in link.path.split("/"):
            raise ValueError(f"symlink path {link.path!r} goes up a directory")
        inside = os.path.join(root, link.path.lstrip("/"))
        os.makedirs(os.path.dirname(inside), mode=0o755, exist_ok=True)
        os.symlink(link.target, inside)
    with open(os.path.join(bundle, "config.json"), "w") as file:
        json.dump(oci_config(spec, root), file)


def runsc_errors(bundle: str) -> list[str]:
    """The errors runsc logged for the bundle (its processes log JSON objects, one after the
    other; runsc itself plain lines)."""
    try:
        with open(os.path.join(bundle, LOG), "rb") as file:
            text = file.read(1 << 20).decode(errors="replace")
    except OSError:
        return []
    decoder = json.JSONDecoder()
    errors = []
    position = text.find("{")
    while position >= 0:
        try:
            entry, end = decoder.raw_decode(text, position)
        except ValueError:
            end = position + 1
        else:
            if isinstance(entry, dict) and entry.get("level") == "error":
                errors.append(str(entry.get("msg", "")))
        position = text.find("{", end)
    return errors


def _bind(source: str, target: str, *, writable: bool) -> dict[str, Any]:
    return {"destination": target, "type": "bind", "source": source,
            "options": ["rbind", "rw" if writable else "ro", "nosuid", "nodev"]}


def _rlimit(kind: str, value: int) -> dict[str, Any]:
    return {"type": kind, "hard": value, "soft": value}
