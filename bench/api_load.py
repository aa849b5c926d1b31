"""A light HTTP/1.1 load generator: raw asyncio streams, keep-alive connections, requests
encoded before the run, responses read by Content-Length.

``paced`` is open loop: request i is due at ``t0 + i / rate`` whatever happened before. Each
connection takes the next due request, waits for its time, sends it and reads the answer; when
every connection is busy a due request waits for one, and its latency still counts from the
time it was due, so a slow server cannot hide its queueing (no coordinated omission).
``closed`` is closed loop: each connection sends its next request as soon as the last one is
answered, for the highest rate the server reaches with that many requests in flight.
"""

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    kind: str  # "paced" or "closed"
    connections: int
    target_rate: float | None
    seconds: float  # from the first due time to the last answer
    latencies_ms: list[float]  # paced: from the due time; closed: from the send
    service_ms: list[float]  # from the actual send to the answer
    send_lag_ms: list[float]  # paced: actual send - due time (queueing in the client)
    statuses: Counter[int] = field(default_factory=Counter)
    bytes_in: int = 0
    reconnects: int = 0
    client_cpu_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # cores per process, filled by caller

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else math.nan

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.client_cpu_s / self.requests * 1e6 if self.requests else math.nan


def request(path: str, host: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Connection:
    """One keep-alive connection. The server closes a connection idle for its keep-alive
    timeout (uvicorn: 5 s); the next request then reconnects once, as any client would, and
    ``reconnects`` counts it."""

    def __init__(
        self, host: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.host, self.port = host, port
        self.reader, self.writer = reader, writer
        self.reconnects = 0
        self.last_head = b""  # the status line and headers of the last answer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(host, port, reader, writer)

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; return the status and the body."""
        if self.reader.at_eof():
            await self._reconnect()
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise
            # Closed by the server while idle: nothing of an answer arrived; send again.
            await self._reconnect()
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
        self.last_head = head
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
        end = lower.index(b"\r\n", at + 2)
        length = int(lower[at + 17 : end])
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    async def _reconnect(self) -> None:
        await self.close()
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, limit=1 << 20
        )
        self.reconnects += 1

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def _connections(host: str, port: int, n: int) -> list[Connection]:
    return list(await asyncio.gather(*(Connection.open(host, port) for _ in range(n))))


async def paced(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    rate: float,
    seconds: float,
    connections: int,
) -> LoadResult:
    """Open loop at ``rate`` requests/s for ``seconds``; ``requests`` is cycled."""
    loop = asyncio.get_running_loop()
    conns = await _connections(host, port, connections)
    total = int(rate * seconds)
    latencies = [math.nan] * total
    service = [math.nan] * total
    lag = [math.nan] * total
    statuses: Counter[int] = Counter()
    received = 0
    next_index = 0
    t0 = loop.time() + 0.05

    async def run(conn: Connection) -> None:
        nonlocal next_index, received
        while next_index < total:
            i = next_index
            next_index += 1
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = loop.time()
            status, body = await conn.exchange(requests[i % len(requests)])
            done = loop.time()
            latencies[i], service[i], lag[i] = done - due, done - sent, sent - due
            statuses[status] += 1
            received += len(body)

    cpu0 = time.process_time()
    try:
        await asyncio.gather(*(run(c) for c in conns))
        elapsed = loop.time() - t0
    finally:
        cpu = time.process_time() - cpu0
        for c in conns:
            await c.close()
    return LoadResult(
        kind="paced",
        connections=connections,
        target_rate=rate,
        seconds=elapsed,
        latencies_ms=[x * 1000 for x in latencies],
        service_ms=[x * 1000 for x in service],
        send_lag_ms=[x * 1000 for x in lag],
        statuses=statuses,
        bytes_in=received,
        reconnects=sum(c.reconnects for c in conns),
        client_cpu_s=cpu,
    )


async def closed(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    seconds: float,
    connections: int,
) -> LoadResult:
    """Each connection sends back to back for ``seconds``; ``requests`` is cycled."""
    loop = asyncio.get_running_loop()
    conns = await _connections(host, port, connections)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    received = 0
    counter = 0
    t0 = loop.time()
    stop_at = t0 + seconds

    async def run(conn: Connection) -> None:
        nonlocal counter, received
        while loop.time() < stop_at:
            raw = requests[counter % len(requests)]
            counter += 1
            sent = loop.time()
            status, body = await conn.exchange(raw)
            latencies.append(loop.time() - sent)
            statuses[status] += 1
            received += len(body)

    cpu0 = time.process_time()
    try:
        await asyncio.gather(*(run(c) for c in conns))
        elapsed = loop.time() - t0
    finally:
        cpu = time.process_time() - cpu0
        for c in conns:
            await c.close()
    ms = [x * 1000 for x in latencies]
    return LoadResult(
        kind="closed",
        connections=connections,
        target_rate=None,
        seconds=elapsed,
        latencies_ms=ms,
        service_ms=ms,
        send_lag_ms=[],
        statuses=statuses,
        bytes_in=received,
        reconnects=sum(c.reconnects for c in conns),
        client_cpu_s=cpu,
    )


async def client_overhead(requests: Sequence[bytes], n: int = 20_000) -> float:
    """CPU µs per request of this client against a trivial server in the same process that
    answers every request with a fixed 1 KiB body: an upper bound of the generator's own cost
    per request (the trivial server's share is included), without the API."""
    body = b"x" * 1024
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(response)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        conns = await _connections("127.0.0.1", port, 4)
        per_conn = n // len(conns)

        async def run(conn: Connection) -> None:
            for i in range(per_conn):
                await conn.exchange(requests[i % len(requests)])

        cpu0 = time.process_time()
        await asyncio.gather(*(run(c) for c in conns))
        cpu = time.process_time() - cpu0
        for c in conns:
            await c.close()
    finally:
        server.close()
        await server.wait_closed()
    return cpu / (per_conn * len(conns)) * 1e6
