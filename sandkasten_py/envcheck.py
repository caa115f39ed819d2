"""`sandkasten envs`: check environments by running their conformance program and example.

Every environment's manifest carries its conformance program (`test`) and its example. This
builds and runs both through the real sandbox, in-process (no HTTP), exactly as a request would:
the conformance program with stdin `stdin`, args `foo bar baz` and a file `test.txt` containing
`hello world`, which must print the expected output (default `OK`); the example with stdin
`World`, which must print `Hello, World!`. Programs and jobs live in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import msgspec

from sandkasten_py.config import Config, ConfigError, load_config
from sandkasten_py.environments import Environment, ManifestError, load_environments
from sandkasten_py.programs import CompileError, ProgramService, StoreError
from sandkasten_py.sandbox import CgroupError
from sandkasten_py.wiring import wire
from sandkasten_py.schemas import BuildRequest, BuildRunRequest, File, MainFile, RunRequest, RunResult

CONFORMANCE_RUN = RunRequest(stdin="stdin", args=["foo", "bar", "baz"],
                             files=[File(name="test.txt", content="hello world")])
EXAMPLE_STDIN = "World"
EXAMPLE_OUTPUT = "Hello, World!"
PARALLEL = 2


@dataclass
class Check:
    """The outcome for one environment."""

    environment: Environment
    build_ms: int | None = None
    run_ms: int | None = None
    failures: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def ok(self) -> bool:
        """Whether everything passed."""
        return self.done and not self.failures


async def check_environment(service: ProgramService, environment: Environment) -> Check:
    """Run the conformance program and the example of one environment."""
    check = Check(environment)
    test = environment.manifest.test
    request = BuildRunRequest(
        build=BuildRequest(environment=environment.id, main_file=test.main_file, files=test.files),
        run=CONFORMANCE_RUN)
    expected = test.expected if test.expected is not None else "OK"
    try:
        result = await service.build_and_run(request)
    except CompileError as e:
        check.failures.append(f"conformance program does not compile:\n{_describe(e.result)}")
    else:
        check.build_ms = result.build.resource_usage.time if result.build else 0
        check.run_ms = result.run.resource_usage.time
        if (result.run.status, result.run.stdout.strip()) != (0, expected):
            check.failures.append(f"conformance program failed (expected {expected!r}):\n"
                                  f"{_describe(result.run)}")
    if environment.manifest.example is not None:
        example = BuildRunRequest(
            build=BuildRequest(environment=environment.id,
                               main_file=MainFile(content=environment.manifest.example)),
            run=RunRequest(stdin=EXAMPLE_STDIN))
        try:
            result = await service.build_and_run(example)
        except CompileError as e:
            check.failures.append(f"example does not compile:\n{_describe(e.result)}")
        else:
            if (result.run.status, result.run.stdout.strip()) != (0, EXAMPLE_OUTPUT):
                check.failures.append(f"example failed:\n{_describe(result.run)}")
    check.done = True
    return check


def _describe(result: RunResult) -> str:
    parts = [f"status {result.status}"]
    if result.exceeded:
        parts.append(f"limits hit: {', '.join(result.exceeded)}")
    text = "; ".join(parts)
    for name, stream in (("stdout", result.stdout), ("stderr", result.stderr)):
        if stream.strip():
            text += f"\n{name}:\n" + "\n".join("  " + line for line in stream.strip().splitlines()[-20:])
    return text


async def check_all(service: ProgramService, environments: list[Environment],
                    on_update: Callable[[list[Check]], None]) -> list[Check]:
    """Check environments, a few at a time, calling `on_update` whenever one finishes."""
    checks = [Check(env) for env in environments]
    slots = asyncio.Semaphore(PARALLEL)

    async def one(index: int) -> None:
        async with slots:
            checks[index] = await check_environment(service, environments[index])
            on_update(checks)

    on_update(checks)
    await asyncio.gather(*(one(i) for i in range(len(environments))))
    return checks


def table(checks: list[Check]) -> str:
    """The final table: environment, version, build time, run time, result."""
    rows = [("environment", "version", "build", "run", "result")]
    for check in checks:
        manifest = check.environment.manifest
        rows.append((
            check.environment.id,
            manifest.version,
            "-" if check.build_ms is None else ("-" if not manifest.compile_script else f"{check.build_ms} ms"),
            "-" if check.run_ms is None else f"{check.run_ms} ms",
            "ok" if check.ok else "FAILED",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)


class Progress:
    """A one-line live status on a terminal; nothing in between on anything else."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self.started = time.monotonic()

    def __call__(self, checks: list[Check]) -> None:
        if not self.live:
            return
        done = sum(c.done for c in checks)
        failed = sum(c.done and not c.ok for c in checks)
        running = [c.environment.id for c in checks if not c.done][:4]
        line = (f"\r[{done}/{len(checks)}] {failed} failed, {time.monotonic() - self.started:.0f} s"
                f"  {' '.join(running)}")
        self.out.write(line.ljust(79)[:79])
        self.out.flush()

    def finish(self) -> None:
        if self.live:
            self.out.write("\r" + " " * 79 + "\r")


def main(argv: list[str]) -> int:
    """`sandkasten envs [--list] [ids...]`."""
    parser = argparse.ArgumentParser(prog="sandkasten envs",
                                     description="List environments, or check them by running "
                                                 "their conformance program and example.")
    parser.add_argument("ids", nargs="*", help="environments to check (default: all)")
    parser.add_argument("--list", action="store_true", help="only list the environments")
    options = parser.parse_args(argv)
    try:
        config = load_config()
        environments = load_environments(config.environments_path)
    except (ConfigError, ManifestError) as e:
        print(f"sandkasten envs: {e}", file=sys.stderr)
        return 2
    unknown = [i for i in options.ids if i not in environments]
    if unknown:
        print(f"sandkasten envs: unknown environments: {', '.join(unknown)} "
              f"(known: {', '.join(sorted(environments))})", file=sys.stderr)
        return 2
    chosen = [environments[i] for i in (options.ids or sorted(environments))]
    if options.list:
        for env in chosen:
            print(f"{env.id:14s} {env.manifest.name} {env.manifest.version}")
        return 0
    try:
        return asyncio.run(_check(config, environments, chosen))
    except (StoreError, CgroupError) as e:
        print(f"sandkasten envs: {e}", file=sys.stderr)
        return 2


async def _check(config: Config, environments: dict[str, Environment], chosen: list[Environment]) -> int:
    with tempfile.TemporaryDirectory(prefix="sandkasten-envs-") as work:
        os.chmod(work, 0o711)  # the jobs' uid must reach their mounts
        config = msgspec.structs.replace(config, programs_dir=os.path.join(work, "programs"),
                                         jobs_dir=os.path.join(work, "jobs"))
        service = wire(config, environments)
        progress = Progress(sys.stdout)
        try:
            async with service.running():
                checks = await check_all(service.programs, chosen, progress)
        finally:
            progress.finish()
    print(table(checks))
    for check in checks:
        for failure in check.failures:
            print(f"\n{check.environment.id}: {failure}", file=sys.stderr)
    failed = [c.environment.id for c in checks if not c.ok]
    if failed:
        print(f"\n{len(failed)} of {len(checks)} environments failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nall {len(checks)} environments passed")
    return 0
