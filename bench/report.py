"""What every benchmark prints and cleans up the same way: the machine line, the table, the
working directory (with any tmpfs a killed job left mounted in it)."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from sandkasten_py.sandbox import tmpfs
from tests.conftest import sandbox_missing


def machine() -> str:
    """Date, host, CPUs, kernel and cgroup version, for the line above a table."""
    cgroup = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    return (f"{datetime.date.today()}, {platform.node()}: {os.cpu_count()} CPUs, "
            f"Linux {platform.release()}, cgroup {cgroup}")


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    """Columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def remove_workspace(work: Path) -> None:
    """Unmount what is mounted below `work` (deepest first), then delete it."""
    for point in tmpfs.mounts_below(str(work)):
        tmpfs.unmount(point)
    shutil.rmtree(work, ignore_errors=True)


def in_workspace(name: str, measure: Callable[[Path], int]) -> int:
    """`measure(work)` in a fresh working directory that the jail's user can pass through (its
    daemons' directories go below it), removed afterwards; 2 where the sandbox cannot run."""
    reason = sandbox_missing()
    if reason:
        print(f"{name}: cannot run here: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix=f"sandkasten-{name}-bench-"))
    try:
        os.chmod(work, 0o711)
        return measure(work)
    finally:
        remove_workspace(work)
