"""A real SMTP server for the tests (aiosmtpd), run as its own process: every message it accepts
is appended to a JSON-lines mailbox file. `--fail-every N` answers every Nth message with 451
(try again later) after reading it, as a mail server under load does.

    python -m tests.smtp_server --port P --mailbox FILE [--fail-every N]
"""

import argparse
import asyncio
import json
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Mailbox:
    def __init__(self, path: Path, fail_every: int) -> None:
        self.path = path
        self.fail_every = fail_every
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received += 1
        if self.fail_every and self.received % self.fail_every == 0:
            return "451 Requested action aborted: try again later"
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = message_from_bytes(content, policy=default)
        body = message.get_body(preferencelist=("plain",))
        record: dict[str, Any] = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "text": body.get_content() if body is not None else "",
        }
        with self.path.open("a", encoding="utf-8") as mailbox:
            mailbox.write(json.dumps(record) + "\n")
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description="An SMTP server for Backstride's tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mailbox", type=Path, required=True)
    parser.add_argument("--fail-every", type=int, default=0)
    args = parser.parse_args()
    args.mailbox.touch()
    controller = Controller(Mailbox(args.mailbox, args.fail_every), hostname="127.0.0.1", port=args.port)
    controller.start()
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
