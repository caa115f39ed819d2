"""Pipelines: programs running at the same time, each in its own jail with its own limits, whose
streams feed each other's stdin (an interactor and a solution, in both directions).

Each process is an interactive job (the sandbox's `JobIO`): what a piped stream carries is
written to its reader's stdin as it comes, through a `Feed` that holds the writer's output
while the reader is behind (so nothing is buffered without bound); the writer's end closes the
reader's stdin once all it wrote is delivered. Streams that are not piped are collected into
the process's result, within its output caps; a process whose stdin no pipe feeds gets its
request's `stdin` and then end of file.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import msgspec

from sandkasten_py.programs.errors import InvalidPipeline
from sandkasten_py.offloop import sized
from sandkasten_py.programs.jobs import Steps, output_text
from sandkasten_py.programs.locks import Lease
from sandkasten_py.programs.run import run_program
from sandkasten_py.sandbox import JobControl
from sandkasten_py.schemas import Limits, PipelineRequest, RunRequest, RunResult

FEED_HIGH = 256 * 1024  # bytes of a pipe in flight before its writer's output is held


def check_pipes(request: PipelineRequest) -> None:
    """InvalidPipeline unless every pipe joins two existing, different processes, each stream
    and each stdin in at most one pipe."""
    count = len(request.processes)
    sources: set[tuple[int, str]] = set()
    readers: set[int] = set()
    for index, pipe in enumerate(request.pipes):
        (writer, stream), (reader, _) = pipe.from_, pipe.to
        for end, process in (("from", writer), ("to", reader)):
            if not 0 <= process < count:
                raise InvalidPipeline(f"pipes[{index}].{end}: there is no process {process} "
                                      f"(the processes are 0 to {count - 1})")
        if writer == reader:
            raise InvalidPipeline(f"pipes[{index}]: process {writer} would feed itself")
        if (writer, stream) in sources:
            raise InvalidPipeline(f"pipes[{index}]: the {stream} of process {writer} is in another pipe")
        if reader in readers:
            raise InvalidPipeline(f"pipes[{index}]: the stdin of process {reader} is fed by another pipe")
        sources.add((writer, stream))
        readers.add(reader)


@dataclass
class Process:
    """One process's `JobIO`: its piped streams go to feeds, the others are collected."""

    feeds: dict[str, Feed] = field(default_factory=dict)
    collected: dict[str, list[bytes]] = field(default_factory=lambda: {"stdout": [], "stderr": []})
    control: JobControl | None = None
    running: asyncio.Event = field(default_factory=asyncio.Event)

    def started(self, control: JobControl) -> None:
        self.control = control
        self.running.set()

    def output(self, stream: str, data: bytes) -> bool:
        feed = self.feeds.get(stream)
        if feed is None:
            self.collected[stream].append(data)
            return True
        return feed.put(data)


class Feed:
    """A pipe from `writer`'s stream to `reader`'s stdin."""

    def __init__(self, writer: Process, reader: Process) -> None:
        self.writer = writer
        self.reader = reader
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.in_flight = 0
        self.holding = False

    def put(self, data: bytes) -> bool:
        self.in_flight += len(data)
        self.queue.put_nowait(data)
        self.holding = self.in_flight > FEED_HIGH
        return not self.holding

    def end(self) -> None:
        """The writer is done: close the reader's stdin after what is in flight."""
        self.queue.put_nowait(None)

    async def deliver(self) -> None:
        await self.reader.running.wait()
        control = self.reader.control
        assert control is not None
        while (data := await self.queue.get()) is not None:
            await control.write_stdin(data)
            self.in_flight -= len(data)
            if self.holding and self.in_flight <= FEED_HIGH // 2 and self.writer.control is not None:
                self.holding = False
                self.writer.control.resume_output()
        control.close_stdin()


async def run_pipeline(request: PipelineRequest, runs: list[RunRequest], limits: list[Limits],
                       leases: list[Lease], *, steps: Steps) -> list[RunResult]:
    """Run the processes of `request` (already checked; their slots and read leases held) and
    return their results in order."""
    processes = [Process() for _ in request.processes]
    feeds: list[Feed] = []
    for pipe in request.pipes:
        (writer, stream), (reader, _) = pipe.from_, pipe.to
        feed = Feed(processes[writer], processes[reader])
        processes[writer].feeds[stream] = feed
        feeds.append(feed)
    fed = {pipe.to[0] for pipe in request.pipes}
    deliveries = [asyncio.ensure_future(feed.deliver()) for feed in feeds]

    async def run_one(index: int) -> RunResult:
        process, run = processes[index], runs[index]
        own_stdin = None if index in fed else asyncio.ensure_future(_give_stdin(process, run.stdin))
        try:
            result = await run_program(uuid.UUID(request.processes[index].program_id), leases[index],
                                       msgspec.structs.replace(run, stdin=None), limits[index],
                                       steps=steps, io=process)
        finally:
            for feed in process.feeds.values():
                feed.end()
            if own_stdin is not None:
                own_stdin.cancel()
        return await _with_output(result, process, bool(run.base64_output))

    try:
        return list(await asyncio.gather(*(run_one(i) for i in range(len(processes)))))
    finally:
        for delivery in deliveries:
            delivery.cancel()
        await asyncio.gather(*deliveries, return_exceptions=True)


async def _give_stdin(process: Process, stdin: str | None) -> None:
    await process.running.wait()
    assert process.control is not None
    if stdin:
        await process.control.write_stdin(stdin.encode())
    process.control.close_stdin()


async def _with_output(result: RunResult, process: Process, base64_output: bool) -> RunResult:
    """The result with the streams that were not piped (a piped one stays empty), converted as
    a plain run's output is (in a thread when large)."""
    stdout, stderr = (b"".join(process.collected[name]) for name in ("stdout", "stderr"))
    return msgspec.structs.replace(
        result, stdout=await sized(len(stdout), output_text, stdout, base64_output),
        stderr=await sized(len(stderr), output_text, stderr, base64_output))
