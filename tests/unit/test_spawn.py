"""Unit tests of sandkasten_py.sandbox.spawn: glibc's posix_spawn through ctypes (the GIL is
released while the kernel makes the process). Real processes, no root needed."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from sandkasten_py.sandbox.spawn import spawn

SIGNAL_BIT = {signal.SIGPIPE: 1 << (signal.SIGPIPE - 1), signal.SIGXFSZ: 1 << (signal.SIGXFSZ - 1)}


def run(argv: list[str], env: dict[str, str] | None = None, **options: object) -> tuple[int, bytes]:
    """Spawn `argv` with stdout on a pipe; its exit code and output."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        pid = spawn(argv[0], argv, env or {}, [(write_end, 1)],
                    setsid=bool(options.get("setsid", False)),
                    default_signals=options.get("default_signals", ()))  # type: ignore[arg-type]
    finally:
        os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


def test_argv_env_and_descriptors_arrive() -> None:
    code, out = run(["/bin/sh", "-c", 'printf "%s|%s|%s" "$0" "$1" "$GREETING"', "zero", "one two"],
                    {"GREETING": "hallo welt"})
    assert (code, out) == (0, b"zero|one two|hallo welt")


def test_a_new_session_when_asked() -> None:
    code, out = run(["/bin/sh", "-c", "cut -d' ' -f6 /proc/self/stat; echo $$"], setsid=True)
    session, pid = out.split()
    assert code == 0 and session == pid  # the shell leads its own session

    code, out = run(["/bin/sh", "-c", "cut -d' ' -f6 /proc/self/stat"])
    assert int(out) == os.getsid(0)


def test_signals_python_ignores_get_their_default_action() -> None:
    """Python ignores SIGPIPE (and the daemon SIGXFSZ); a job must not inherit that."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        status = "grep SigIgn /proc/self/status"
        _, inherited = run(["/bin/sh", "-c", status])
        _, reset = run(["/bin/sh", "-c", status],
                       default_signals=(signal.SIGPIPE, signal.SIGXFSZ))
    finally:
        signal.signal(signal.SIGXFSZ, previous)
    ignored = int(inherited.split()[1], 16)
    assert ignored & SIGNAL_BIT[signal.SIGPIPE] and ignored & SIGNAL_BIT[signal.SIGXFSZ]
    ignored = int(reset.split()[1], 16)
    assert not ignored & SIGNAL_BIT[signal.SIGPIPE] and not ignored & SIGNAL_BIT[signal.SIGXFSZ]


def test_a_missing_program_is_an_oserror() -> None:
    with pytest.raises(OSError) as caught:
        spawn("/nonexistent/program", ["x"], {}, [], setsid=False, default_signals=())
    assert caught.value.errno == errno.ENOENT


def test_a_bad_descriptor_is_an_oserror() -> None:
    with pytest.raises(OSError) as caught:
        spawn("/bin/true", ["true"], {}, [(-1, 1)], setsid=False, default_signals=())
    assert caught.value.errno == errno.EBADF
