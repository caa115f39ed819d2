"""Whether a jail can bind-mount a host directory.

nsjail bind-mounts a job's directories (and a WASI worker's packages) as the job's outside uid,
65534, which must be able to traverse every directory on the way; otherwise the job fails with a
bare mount error ("try 'chmod o+x' on source path").
"""

from __future__ import annotations

import os
import stat


def closed_to_jobs(directory: str) -> str | None:
    """The first of `directory` and its ancestors that others cannot traverse, or None."""
    path = os.path.abspath(directory)
    while True:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return path
        if path == "/":
            return None
        path = os.path.dirname(path)
