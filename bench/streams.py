"""Server-Sent Events under load: many open streams, latency from worker to client.

Each stream follows a ``replicast/echo`` prediction asked to stamp every token
with the server's clock when the worker produced it; the client notes when the
token arrives. Tokens produced before the stream was connected (replayed, not
live) are left out of the latency.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

SKIP = 5  # tokens per stream left out: produced while it was still connecting


@dataclass(frozen=True)
class StreamLoad:
    streams: int
    events: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def _follow(url: str, latencies: list[float], arrivals: list[float]) -> int:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    count = 0
    event = ""
    try:
        while True:
            line = await reader.readline()
            if not line:
                return count
            text = line.decode().rstrip("\r\n")
            if text.startswith("event: "):
                event = text[7:]
            elif text.startswith("data: ") and event == "output":
                now = time.time()
                stamp = float(text[6:].split(" ", 1)[0])
                count += 1
                arrivals.append(now)
                if count > SKIP:
                    latencies.append(now - stamp)
            elif text.startswith("data: ") and event == "done":
                return count
    finally:
        writer.close()


async def _measure(base_url: str, token: str, streams: int, tokens: int,
                   delay: float) -> StreamLoad:
    prompt = " ".join(f"t{i}" for i in range(tokens))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        created = await asyncio.gather(*(
            client.post("/v1/models/replicast/echo/predictions", json={
                "input": {"prompt": prompt, "delay": delay, "timestamps": True}})
            for _ in range(streams)
        ))
    latencies: list[float] = []
    arrivals: list[float] = []
    counts = await asyncio.gather(*(
        _follow(r.json()["urls"]["stream"], latencies, arrivals) for r in created
    ))
    assert all(count == tokens for count in counts), counts
    latencies.sort()
    return StreamLoad(
        streams=streams, events=sum(counts), seconds=max(arrivals) - min(arrivals),
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
    )


def measure(base_url: str, token: str, streams: int = 100, tokens: int = 200,
            delay: float = 0.01) -> StreamLoad:
    """Open ``streams`` streams of ``tokens`` tokens, one every ``delay`` seconds."""
    return asyncio.run(_measure(base_url, token, streams, tokens, delay))
