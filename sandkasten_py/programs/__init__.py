"""Programs: ids, the store, locks and job slots, building, running and pruning.

Imports the sandbox and the environments below it, never the API above it.
"""

from sandkasten_py.programs.errors import (
    ArtifactNotFound, Busy, CompileError, CompileLimitsExceeded, EnvironmentNotFound, InvalidCompileArgs, InvalidEnvVars,
    InvalidFileNames, InvalidPipeline, LimitsExceeded, NotInteractive, ProgramError, ProgramNotFound, RunLimitsExceeded,
)
from sandkasten_py.programs.jobdirs import JobDirs
from sandkasten_py.programs.prune import Pruner
from sandkasten_py.programs.service import ProgramService
from sandkasten_py.programs.store import ProgramStore, StoreError

__all__ = [
    "ArtifactNotFound", "Busy", "CompileError", "CompileLimitsExceeded", "EnvironmentNotFound", "InvalidCompileArgs",
    "InvalidEnvVars", "InvalidFileNames", "InvalidPipeline", "JobDirs", "LimitsExceeded", "NotInteractive", "ProgramError", "ProgramNotFound", "ProgramService",
    "ProgramStore", "Pruner", "RunLimitsExceeded", "StoreError",
]
