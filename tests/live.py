"""A real server process for tests that need real HTTP and real concurrency."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(base: str, process: subprocess.Popen[bytes], within: float = 120) -> None:
    """Until `base`/readyz answers 200; fails at once if the process has exited. Generous: a loaded
    2-core CI machine can take a while to import the app (a deadline, not a speed check)."""
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server at {base} did not start")
        time.sleep(0.1)


@contextmanager
def serve(env: dict[str, str], workers: int = 1, app: str = "services.asgi:app") -> Iterator[str]:
    """Run `uvicorn <app>` in its own process; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--workers", str(workers),
               "--timeout-graceful-shutdown", "2", "--log-level", "warning"]  # fmt: skip
    with running(command, env, port) as base:
        yield base


@contextmanager
def backstride_serve(env: dict[str, str]) -> Iterator[str]:
    """Run `backstride serve`, as production runs it (its uvicorn options: proxy headers, logging);
    yields its base URL."""
    port = free_port()
    with running([str(Path(sys.executable).with_name("backstride")), "serve", "--port", str(port)], env, port) as base:
        yield base


@contextmanager
def running(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """`command`, serving on 127.0.0.1:`port`, until the block ends."""
    process = subprocess.Popen(command, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
