"""The sandbox: runs one command in a jail with mounts and limits, and reports how it ended.

Imports nothing above it (programs, api, schemas); it only knows `JobSpec` in and `JobOutcome`
out, through the `Runner` protocol that each sandbox implements (`NsjailRunner`, `GVisorRunner`).
"""

from sandkasten_py.sandbox import tmpfs
from sandkasten_py.sandbox.argv import MB
from sandkasten_py.sandbox.cgroup import CgroupError, Cgroups, setup_cgroups
from sandkasten_py.sandbox.job import (
    DEFAULT_RUNNER, JobControl, JobIO, JobLimits, JobOutcome, JobSpec, JobStatus, Mount, Runner, SandboxError,
    Symlink,
)
from sandkasten_py.sandbox.gvisor import GVISOR_RUNNER, GVisorRunner
from sandkasten_py.sandbox.network import Networks
from sandkasten_py.sandbox.runner import NsjailRunner

__all__ = [
    "DEFAULT_RUNNER", "GVISOR_RUNNER", "GVisorRunner", "MB", "CgroupError", "Cgroups", "JobControl", "JobIO", "JobLimits", "JobOutcome", "JobSpec", "JobStatus", "Mount", "Networks",
    "NsjailRunner", "Runner", "SandboxError", "Symlink", "setup_cgroups", "tmpfs",
]
