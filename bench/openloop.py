"""An open-loop load generator: requests leave at a constant rate whether or not earlier ones
have been answered (as wrk2 does), so a slow server meets a queue, not a politely waiting client.
Each latency is measured from when its request was due to leave, not from when it did: time a
request spent waiting for a free connection counts (no coordinated omission).

    python -m bench.openloop URL RATE SECONDS [--body FILE] [--auth TOKEN] [--max-connections 512]

Prints one JSON line: requests, ok, not_ok, socket_errors, throughput_rps, p50/p95/p99/max ms.
"""

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; answers are read by Content-Length (what our server sends)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiting: asyncio.Future[int] | None = None
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiting is None:
            return
        head = self.buffer[:end].decode("latin-1").lower()
        length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.startswith("content-length:"))
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length :]
        waiting, self.waiting = self.waiting, None
        waiting.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(ConnectionError("closed"))

    async def exchange(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiting


async def run(url: str, rate: float, seconds: float, body: bytes, auth: str, max_connections: int) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json",
               f"Content-Length: {len(body)}"] + ([f"Authorization: Bearer {auth}"] if auth else [])  # fmt: skip
    request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
    loop = asyncio.get_running_loop()
    idle: list[Connection] = []
    opened = 0
    free = asyncio.Condition()
    latencies: list[float] = []
    counts = {"ok": 0, "not_ok": 0, "socket_errors": 0}

    async def connection() -> Connection:
        nonlocal opened
        async with free:
            while True:
                while idle and idle[-1].closed:  # the server closed it while idle (keep-alive timeout)
                    idle.pop()
                    opened -= 1
                if idle or opened < max_connections:
                    break
                await free.wait()
            if idle:
                return idle.pop()
            opened += 1
        _, protocol = await loop.create_connection(Connection, host, port)
        return protocol

    async def fire(due: float) -> None:
        nonlocal opened
        conn = await connection()
        try:
            status = await conn.exchange(request)
        except (ConnectionError, OSError, RuntimeError):  # (uvloop: a write on a closed transport)
            counts["socket_errors"] += 1
            async with free:
                opened -= 1
                free.notify()
            return
        latencies.append(time.perf_counter() - due)
        counts["ok" if 200 <= status < 300 else "not_ok"] += 1
        async with free:
            idle.append(conn)
            free.notify()

    # perf_counter, not loop.time(): uvloop's clock moves in whole milliseconds.
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        if due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
        tasks.append(loop.create_task(fire(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    latencies.sort()

    def percentile(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3) if latencies else 0.0

    return {
        "requests": total,
        **counts,
        "offered_rps": rate,
        "throughput_rps": round(counts["ok"] / elapsed, 1),
        "connections_opened": opened,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "max_ms": round(1000 * latencies[-1], 3) if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--body", help="file with the JSON body to POST")
    parser.add_argument("--auth", default="")
    parser.add_argument("--max-connections", type=int, default=512)
    args = parser.parse_args()
    body = Path(args.body).read_bytes() if args.body else b"{}"
    started = time.monotonic()
    result = uvloop.run(run(args.url, args.rate, args.seconds, body, args.auth, args.max_connections))
    result["wall_seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
