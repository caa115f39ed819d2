"""Run one WASI command module with wasmtime, within a job's limits, and say how it ended.

This is guest code running: it belongs in a jailed worker process (nobody, seccomp, no network,
its own memory cgroup), never in the daemon, which runs as root (a wasmtime miscompilation must
not reach it). The limits map as follows:

* `time`: an epoch deadline. A ticker thread advances the engine's epoch every `TICK_S`, and a
  store may run `time / TICK_S` ticks; a guest that passes it traps (`INTERRUPT`).
* `fuel`: wasmtime's instruction budget (one unit is about one WebAssembly instruction: most
  cost 1, some control instructions 0); running out (`OUT_OF_FUEL`) is reported as the time
  limit, as it stands in for CPU time that wall time cannot measure fairly on a busy machine.
* `memory`: the store's limit on linear memory; `memory.grow` past it returns -1, which is the
  guest's out-of-memory (a C `malloc` returns NULL). A failure (a trap, a nonzero exit) with
  memory within a sixteenth of the limit is reported as the memory limit (wasmtime does not
  tell a refused growth). Table growth is limited too (`TABLE_ELEMENTS`).
* output caps: stdout and stderr go to files in the job's private directory; more than the cap
  is cut and reported like every job's (`stdout_max_size`, `stderr_max_size`).

A trap's message names the trap, like a native crash does on stderr. `exit(n)` is status n; a
trap is status 128 + SIGKILL or SIGSEGV-like 134 (abort), as the nsjail path would report it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
import time
from dataclasses import dataclass, field

import wasmtime

from sandkasten_py.wasm.protocol import MODULES_KEPT, STATUS_KILLED, STATUS_TRAPPED

TICK_S = 0.01
MEMORY_RESERVATION = 64 * 1024 * 1024
MEMORY_GUARD = 64 * 1024
WASM_STACK = 2 * 1024 * 1024  # at most wasmtime's async_stack_size (2 MiB), which wasmtime-py cannot set
TABLE_ELEMENTS = 100_000


@dataclass(frozen=True)
class WasiJob:
    """One run of a module: what a run step gives any job, and its limits."""

    module: bytes | bytearray
    """The module's binary (or text) format."""
    directory: str
    """The job's working directory, already holding its files; preopened as `.`."""
    module_key: bytes | None = None
    """A digest of `module` by which the compiled module is kept (None: computed here)."""
    compiled: bytes = b""
    """The module as `Executor.serialize` made it (used instead of `module` when given)."""
    program_directory: str | None = None
    """The program's files, preopened read-only as `/program` (None: no `/program`)."""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    stdin: bytes = b""
    time_s: float = 5.0
    memory_bytes: int = 256 * 1_000_000
    fuel: int = 10**10
    stdout_max: int = 65536
    stderr_max: int = 65536


@dataclass
class WasiOutcome:
    """How a run ended."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    exceeded: list[str] = field(default_factory=list)
    wall_time_ms: int = 0
    memory_kb: int = 0


class Executor:
    """An engine and its epoch ticker, for many runs (compiled modules are kept by content)."""

    def __init__(self, modules_kept: int = MODULES_KEPT) -> None:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        # The default reserves 4 GiB of address space (and a 2 GiB guard) per linear memory, which
        # a worker under an address-space limit cannot have; small reservations make bounds-checked
        # memories that move as they grow.
        config.memory_reservation = MEMORY_RESERVATION
        config.memory_guard_size = MEMORY_GUARD
        # Room for interpreters compiled to wasm (QuickJS nests a few wasm frames per JavaScript
        # call): four times the default; the worker's thread has 8 MiB.
        config.max_wasm_stack = WASM_STACK
        self.engine = wasmtime.Engine(config)
        self.settings = (f"wasmtime {wasmtime_version()}; consume_fuel, epoch_interruption, "
                         f"memory_reservation {MEMORY_RESERVATION}, memory_guard_size {MEMORY_GUARD}, "
                         f"max_wasm_stack {WASM_STACK}")
        """What a serialized module depends on: the version and the settings above."""
        self.linker = wasmtime.Linker(self.engine)  # WASI's definitions hold for every store
        self.linker.define_wasi()
        self._modules: dict[bytes, wasmtime.Module] = {}
        self._modules_kept = modules_kept
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="epoch", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self.engine.increment_epoch()

    def module(self, binary: bytes | bytearray, key: bytes | None = None, compiled: bytes = b"") -> wasmtime.Module:
        """The compiled module: one of those kept (by `key`, a digest of `binary` that the
        caller computed, or its SHA-256), else `compiled` deserialized, else `binary` compiled.
        Kept afterwards, most recently used last (the rule protocol.py describes)."""
        key = key or hashlib.sha256(binary).digest()
        module = self._modules.pop(key, None)
        if module is None:
            if compiled:
                # Only ever bytes of `serialize` that the daemon kept under its keyed hash: a
                # serialized module is native code, loaded as it is.
                module = wasmtime.Module.deserialize(self.engine, compiled)
            elif binary:
                module = wasmtime.Module(self.engine, bytes(binary))
            else:
                raise _NotSent()
        self._modules[key] = module
        while len(self._modules) > self._modules_kept:
            del self._modules[next(iter(self._modules))]
        return module

    def keeps(self, key: bytes) -> bool:
        """Whether the module of `key` is kept."""
        return key in self._modules

    def serialize(self, binary: bytes) -> bytes:
        """`binary` compiled for this engine, as bytes that `module(compiled=...)` loads."""
        return bytes(wasmtime.Module(self.engine, binary).serialize())

    def run(self, job: WasiJob) -> WasiOutcome:
        """Run `job.module`'s `_start`; never raises for anything the guest does."""
        start = time.monotonic()
        stdout_path = os.path.join(job.directory, "..", ".stdout")
        stderr_path = os.path.join(job.directory, "..", ".stderr")
        stdin_path = os.path.join(job.directory, "..", ".stdin")
        with open(stdin_path, "wb") as f:
            f.write(job.stdin)
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=job.memory_bytes, table_elements=TABLE_ELEMENTS, instances=1)
        store.set_fuel(job.fuel)
        store.set_epoch_deadline(max(1, round(job.time_s / TICK_S)))
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["main.wasm", *job.args]
        wasi.env = [list(pair) for pair in job.env]
        wasi.stdin_file = stdin_path
        wasi.stdout_file = stdout_path
        wasi.stderr_file = stderr_path
        wasi.preopen_dir(job.directory, ".")
        if job.program_directory is not None:
            _preopen_read_only(wasi, job.program_directory, "/program")
        store.set_wasi(wasi)
        exceeded: list[str] = []
        message = ""
        instance = None
        trap: wasmtime.Trap | None = None
        try:
            module = self.module(job.module, job.module_key, job.compiled)
            instance = self.linker.instantiate(store, module)
            start_function = instance.exports(store).get("_start")
            if not isinstance(start_function, wasmtime.Func):
                raise _NotACommand("the module exports no `_start` function: it is not a WASI command")
            start_function(store)
            exit_code = 0
        except wasmtime.ExitTrap as e:
            exit_code = e.code
        except wasmtime.Trap as e:
            trap, exit_code = e, STATUS_TRAPPED
        except (_NotACommand, _NotSent) as e:
            exit_code, message = 1, f"{e}\n"
        except wasmtime.WasmtimeError as e:  # invalid module, missing import, too little memory
            if any(words in str(e) for words in _LIMITS_REFUSED):  # a minimum size over the limit
                exit_code, message = STATUS_KILLED, f"the module needs more than its limits allow: {e}\n"
                exceeded.append("memory")
            else:
                exit_code, message = 1, f"cannot run the module: {e}\n"
        memory = _memory_bytes(store, instance)  # as the guest left it: the store runs no more
        if trap is not None:
            exit_code, cause = _trap_status(trap, memory, job.memory_bytes)
            if cause:
                exceeded.append(cause)
            message = f"wasm trap: {_trap_name(trap)}\n{trap.message}\n"
        elif exit_code not in (0, STATUS_KILLED) and not exceeded and _near(memory, job.memory_bytes):
            exceeded.append("memory")
        wall_ms = int((time.monotonic() - start) * 1000)
        stdout, over_out = _read_capped(stdout_path, job.stdout_max)
        stderr, over_err = _read_capped(stderr_path, job.stderr_max)
        if over_out:
            exceeded.append("stdout_max_size")
        if over_err:
            exceeded.append("stderr_max_size")
        if message:
            room = max(0, job.stderr_max - len(stderr))
            stderr += message.encode()[:room]
        store.close()
        return WasiOutcome(exit_code=exit_code, stdout=stdout, stderr=stderr, exceeded=exceeded,
                           wall_time_ms=wall_ms, memory_kb=memory // 1024)


_LIMITS_REFUSED = ("exceeds memory limits", "exceeds table limits")  # wasmtime's, for a minimum refused


class _NotACommand(Exception):
    pass


class _NotSent(Exception):
    def __init__(self) -> None:
        super().__init__("internal error: the worker was sent neither the module nor its compiled form")


def wasmtime_version() -> str:
    """The installed wasmtime-py's version."""
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _preopen_read_only(wasi: wasmtime.WasiConfig, path: str, guest_path: str) -> None:
    try:
        wasi.preopen_dir(path, guest_path, fs_mutable=False)
    except TypeError:  # wasmtime-py before 31 has no read-only preopens: the worker made the
        wasi.preopen_dir(path, guest_path)  # files read-only, and the job's copy is its own anyway


def _trap_code(trap: wasmtime.Trap) -> wasmtime.TrapCode | None:
    try:
        return trap.trap_code
    except ValueError:  # a code this release's enum does not know
        return None


def _trap_name(trap: wasmtime.Trap) -> str:
    code = _trap_code(trap)
    if code is not None:
        return str(code.name).lower().replace("_", " ")
    return "out of fuel" if "all fuel consumed" in trap.message else "trap"


# Older wasmtime-py releases have no OUT_OF_FUEL trap code (the trap's code is then None, and
# its message says "all fuel consumed").
_TIME_TRAPS = {code for code in (getattr(wasmtime.TrapCode, "INTERRUPT", None),
                                 getattr(wasmtime.TrapCode, "OUT_OF_FUEL", None)) if code is not None}


def _trap_status(trap: wasmtime.Trap, memory: int, limit: int) -> tuple[int, str | None]:
    """(status, the limit that caused it or None)."""
    if _trap_code(trap) in _TIME_TRAPS or "all fuel consumed" in trap.message:
        return STATUS_KILLED, "time"
    if _near(memory, limit):
        return STATUS_KILLED, "memory"
    return STATUS_TRAPPED, None


def _near(memory: int, limit: int) -> bool:
    """Whether a guest's memory is within a sixteenth of its limit. wasmtime does not say that a
    memory.grow was refused; a guest that fails there (a trap, or an exit after malloc gave it
    NULL or QuickJS its out-of-memory error) is taken as having run out of memory (guests grow
    in steps, so one that ran out stopped short of the limit)."""
    return memory + max(65536, limit // 16) > limit


def _memory_bytes(store: wasmtime.Store, instance: wasmtime.Instance | None) -> int:
    if instance is None:
        return 0
    memory = instance.exports(store).get("memory")
    return memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0


def _read_capped(path: str, cap: int) -> tuple[bytes, bool]:
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except FileNotFoundError:
        return b"", False
    return data[:cap], len(data) > cap
