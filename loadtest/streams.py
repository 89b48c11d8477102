"""Many `GET /api/presence/stream` clients on one page at once, for the big-page benchmark:
each reads its stream to the end and counts what it got, so the report can say how many
snapshots a second each stream received (the service sends at most four) and how many
joins and leaves, while wrk changes the page.

The clients run on an asyncio loop in a thread of their own; every connection is on
loopback and every wait is bounded.
"""

import asyncio
import threading
import time

CONNECT_AT_ONCE = 64  # connects in flight at a time, well within the listen backlog
OPEN_TIMEOUT_S = 30  # the most opening all the streams may take


class StreamCounts:
    def __init__(self):
        self.snapshots = []  # monotonic time of each snapshot event
        self.people = 0  # join and leave events
        self.bytes = 0


class Streams:
    """`count` streams of `page`, stream i signed in with `tokens[i]`, open until `stop()`."""

    def __init__(self, port, tokens, page, count):
        self.port, self.page = port, page
        self.tokens = tokens[:count]
        self.counts = [StreamCounts() for _ in self.tokens]
        self.loop = asyncio.new_event_loop()
        self.opened = threading.Event()
        self.failures = []
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(),), daemon=True)
        self.stopping = None

    def __enter__(self):
        self.thread.start()
        if not self.opened.wait(OPEN_TIMEOUT_S + 5):
            raise SystemExit(f"{len(self.tokens)} streams did not open within {OPEN_TIMEOUT_S} s")
        if self.failures:
            raise SystemExit(f"{len(self.failures)} streams failed to open: {self.failures[0]}")
        self.started = time.monotonic()
        return self

    def __exit__(self, *_):
        self.ended = time.monotonic()
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(timeout=30)

    async def main(self):
        self.stopping = asyncio.Event()
        gate = asyncio.Semaphore(CONNECT_AT_ONCE)
        ready = [asyncio.Event() for _ in self.tokens]
        tasks = [asyncio.create_task(self.read(i, gate, ready[i])) for i in range(len(self.tokens))]
        try:
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), OPEN_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.failures.append("timed out opening")
        self.opened.set()
        await self.stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def read(self, i, gate, ready):
        counts = self.counts[i]
        try:
            async with gate:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 10)
                writer.write((f"GET /api/presence/stream?pagePath={self.page} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              f"Authorization: Bearer {self.tokens[i]}\r\nAccept: text/event-stream\r\n\r\n").encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.split(b"\r\n")[0].decode())
        except Exception as error:  # noqa: BLE001 - reported as a failure to open
            self.failures.append(repr(error))
            ready.set()
            return
        ready.set()
        previous = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                counts.bytes += len(chunk)

                # With one byte less than the name from the read before: a name cut in two by
                # the reads is counted once, and no name twice.
                def seen(name):
                    return (previous[-(len(name) - 1):] + chunk).count(name)

                counts.snapshots.extend([time.monotonic()] * seen(b"event: snapshot"))
                counts.people += seen(b"event: join") + seen(b"event: leave")
                previous = chunk
        finally:
            writer.close()

    def figures(self):
        """Over the time the streams were open: snapshots a second a stream (mean, and the most
        any stream got in one second), the smallest gap between two of a stream's snapshots,
        and joins and leaves a second a stream."""
        seconds = max(self.ended - self.started, 1e-6)
        within = [[t for t in c.snapshots if self.started <= t <= self.ended] for c in self.counts]
        most_in_a_second = max((sum(1 for u in times if t <= u < t + 1) for times in within for t in times), default=0)
        gaps = [b - a for times in within for a, b in zip(times, times[1:])]
        streams = len(self.counts)
        return {
            "streams": streams,
            "snapshots_per_s": sum(len(times) for times in within) / streams / seconds,
            "most_snapshots_in_1s": most_in_a_second,
            "smallest_gap_ms": min(gaps) * 1000 if gaps else None,
            "people_per_s": sum(c.people for c in self.counts) / streams / seconds,
            "mb_per_s": sum(c.bytes for c in self.counts) / seconds / 1e6,
        }
