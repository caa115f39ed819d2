"""The pipes of interactive jobs (sandbox/pipes.py): output handed to a sink that may hold it,
and stdin buffered with a bound. Real pipes, no job."""

from __future__ import annotations

import asyncio
import os

from sandkasten_py.sandbox.pipes import StdinWriter, Stream


def test_a_held_stream_reads_nothing_until_resumed_and_never_after_it_is_detached() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        got: list[bytes] = []

        def hold(data: bytes) -> bool:
            got.append(data)
            return False  # hold at once

        stream = Stream(read_end, 10, None, sink=hold)
        loop.add_reader(read_end, stream.on_readable)
        os.write(write_end, b"abc")
        await asyncio.sleep(0.05)
        os.write(write_end, b"def")
        await asyncio.sleep(0.05)
        assert got == [b"abc"] and stream.held  # held: "def" waits in the pipe
        stream.resume()
        await asyncio.sleep(0.05)
        assert got == [b"abc", b"def"]
        stream.detach()
        stream.resume()  # the job is over: its descriptor is not watched again
        os.close(read_end)
        os.close(write_end)
        other_read, other_write = os.pipe()  # may get the old number: it must not be read here
        os.write(other_write, b"not for the stream")
        await asyncio.sleep(0.05)
        assert got == [b"abc", b"def"]
        os.close(other_read)
        os.close(other_write)

    asyncio.run(scenario())


def test_stdin_is_buffered_up_to_a_bound_and_the_writer_waits_past_it() -> None:
    async def scenario() -> None:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        os.set_blocking(read_end, False)

        def drain() -> bytes | None:
            try:
                return os.read(read_end, 1 << 20)
            except BlockingIOError:
                return None

        stdin = StdinWriter(write_end, lambda: os.close(write_end))
        done = asyncio.ensure_future(stdin.write(b"x" * (StdinWriter.HIGH + 200_000)))
        await asyncio.sleep(0.05)
        assert not done.done()  # the job reads nothing: the caller waits
        total = 0
        while not done.done():
            total += len(drain() or b"")
            await asyncio.sleep(0.01)
        stdin.close()
        while (chunk := drain()) != b"":  # b"": end of file, once all is written
            total += len(chunk or b"")
            await asyncio.sleep(0.01)
        assert total == StdinWriter.HIGH + 200_000 and stdin.closed  # all written, then end of file
        await stdin.write(b"after the end")  # ignored
        os.close(read_end)

    asyncio.run(scenario())
