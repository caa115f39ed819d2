"""The sandbox: runs one command in nsjail with mounts and limits, and reports how it ended.

Imports nothing above it (programs, api); it only knows `JobSpec` in and `JobOutcome` out.
"""

from sandkasten_py.sandbox import tmpfs
from sandkasten_py.sandbox.argv import MB
from sandkasten_py.sandbox.cgroup import CgroupError, Cgroups, setup_cgroups
from sandkasten_py.sandbox.job import JobOutcome, JobSpec, JobStatus, Mount, Symlink
from sandkasten_py.sandbox.network import Networks
from sandkasten_py.sandbox.runner import NsjailRunner, SandboxError

__all__ = [
    "MB", "CgroupError", "Cgroups", "JobOutcome", "JobSpec", "JobStatus", "Mount", "Networks", "NsjailRunner",
    "SandboxError", "Symlink", "setup_cgroups", "tmpfs",
]
