"""Starting a process without holding the GIL while the kernel makes it.

`os.posix_spawn` keeps the GIL for the whole call (CPython 3.11-3.13), and the clone inside it
can wait: a fork waits whenever some process on the host is being moved between cgroups (the
kernel's cgroup_threadgroup_rwsem; the move waits for an RCU grace period, 5-10 ms when the
machine is quiet, hundreds under load). The daemon moves gates into cgroups all the time, so a
gate spawned by one worker thread while another moves the previous gate held the GIL, and with
it the event loop, for up to 0.75 s under CPU load.

glibc's posix_spawn called through ctypes releases the GIL for the call (ctypes does for every
foreign function of a CDLL); the spawning thread may wait, the event loop does not.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from collections.abc import Iterable, Sequence

POSIX_SPAWN_SETSIGDEF = 0x04  # glibc's <spawn.h>
POSIX_SPAWN_SETSID = 0x80
# The opaque glibc types, with room to spare: posix_spawn_file_actions_t is 80 bytes and
# posix_spawnattr_t 336 on x86_64 and aarch64; sigset_t 128.
_OPAQUE_BYTES = 1024

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_char_pp = ctypes.POINTER(ctypes.c_char_p)


def spawn(path: str, argv: Sequence[str], env: dict[str, str], dup2: Sequence[tuple[int, int]],
          *, setsid: bool, default_signals: Sequence[signal.Signals]) -> int:
    """posix_spawn `path`: `dup2` holds (descriptor, number in the child) pairs; the child starts
    a new session if `setsid`, with the default action for `default_signals`. Its pid; OSError
    when it cannot be started."""
    actions = ctypes.create_string_buffer(_OPAQUE_BYTES)
    attributes = ctypes.create_string_buffer(_OPAQUE_BYTES)
    _check(_libc.posix_spawn_file_actions_init(actions))
    try:
        _check(_libc.posix_spawnattr_init(attributes))
        try:
            for fd, target in dup2:
                _check(_libc.posix_spawn_file_actions_adddup2(actions, fd, target))
            flags = POSIX_SPAWN_SETSIGDEF if default_signals else 0
            if setsid:
                flags |= POSIX_SPAWN_SETSID
            if default_signals:
                signals = ctypes.create_string_buffer(_OPAQUE_BYTES)
                _check(_libc.sigemptyset(signals), errno_set=True)
                for number in default_signals:
                    _check(_libc.sigaddset(signals, int(number)), errno_set=True)
                _check(_libc.posix_spawnattr_setsigdefault(attributes, signals))
            _check(_libc.posix_spawnattr_setflags(attributes, ctypes.c_short(flags)))
            pid = ctypes.c_int(0)
            _check(_libc.posix_spawn(ctypes.byref(pid), os.fsencode(path), actions, attributes,
                                     _strings(argv), _strings(f"{k}={v}" for k, v in env.items())))
            return pid.value
        finally:
            _libc.posix_spawnattr_destroy(attributes)
    finally:
        _libc.posix_spawn_file_actions_destroy(actions)


def _strings(values: Iterable[str]) -> ctypes.Array[ctypes.c_char_p]:
    """A NULL-terminated array of C strings (kept alive by the array)."""
    encoded = [os.fsencode(value) for value in values]
    return (ctypes.c_char_p * (len(encoded) + 1))(*encoded, None)


def _check(result: int, *, errno_set: bool = False) -> None:
    """posix_spawn* return an error number; sigemptyset and sigaddset return -1 and set errno."""
    if result != 0:
        number = ctypes.get_errno() if errno_set else result
        raise OSError(number, os.strerror(number))
