"""Variables the daemon gives every job's compile and run script.

They tell a script the job's limits, so that runtimes can size themselves (a JVM heap from the
memory limit), and a compile script the build's accepted `compile_args`, one per line (empty
without any; always set, so that a request's own variables cannot). The builders' script header un-exports them, so the program itself sees only the
variables its request asked for. Plain data, importable without the daemon's dependencies.
"""

JOB_VARIABLES = ("SANDKASTEN_MEMORY_MB", "SANDKASTEN_CPUS", "SANDKASTEN_COMPILE_ARGS")
