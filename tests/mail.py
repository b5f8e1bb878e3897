"""The test SMTP server (tests/smtp_server.py) as a context manager, and its mailbox."""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live import free_port


@dataclass
class SmtpServer:
    port: int
    mailbox: Path

    def messages(self) -> list[dict[str, Any]]:
        lines = self.mailbox.read_text(encoding="utf-8").splitlines() if self.mailbox.exists() else []
        return [json.loads(line) for line in lines if line.strip()]

    def clear(self) -> None:
        self.mailbox.write_text("", encoding="utf-8")

    def wait_for(self, count: int, within: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while len(found := self.messages()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} messages, not {count}")
            time.sleep(0.05)
        return found


@contextmanager
def smtp_server(tmp_dir: Path, fail_every: int = 0) -> Iterator[SmtpServer]:
    port = free_port()
    mailbox = tmp_dir / f"mailbox-{port}.jsonl"
    command = [sys.executable, "-m", "tests.smtp_server", "--port", str(port), "--mailbox", str(mailbox)]
    process = subprocess.Popen([*command, "--fail-every", str(fail_every)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the SMTP server did not start") from None
                time.sleep(0.05)
        yield SmtpServer(port, mailbox)
    finally:
        process.terminate()
        process.wait(timeout=10)
