"""Variables the daemon gives every job's compile and run script.

They tell a script the job's limits, so that runtimes can size themselves (a JVM heap from the
memory limit). The builders' script header un-exports them, so the program itself sees only the
variables its request asked for. Plain data, importable without the daemon's dependencies.
"""

JOB_VARIABLES = ("SANDKASTEN_MEMORY_MB", "SANDKASTEN_CPUS")
