"""E-mail goes to a real SMTP server process; its failures read in words, and say whether to retry."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core import mail
from services.core.config import Settings
from tests.factories import TEST_SETTINGS
from tests.live import free_port
from tests.mail import SmtpServer, smtp_server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def settings_for(port: int) -> Settings:
    update = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "Clinic <c@example.org>"}
    return TEST_SETTINGS.model_copy(update=update)


async def test_a_message_arrives_as_sent(smtp: SmtpServer) -> None:
    sent = mail.Mail(to="lead@example.org", subject="Hello", text="Open the queue", message_id="<n-1@backstride>")
    await mail.send(settings_for(smtp.port), sent)
    [got] = smtp.wait_for(1)
    assert got["to"] == ["lead@example.org"] and got["subject"] == "Hello" and got["message_id"] == "<n-1@backstride>"
    assert got["text"].strip() == "Open the queue" and got["from"] == "c@example.org"


async def test_a_temporary_refusal_is_worth_retrying(tmp_path: Path) -> None:
    with smtp_server(tmp_path, fail_every=1) as server, pytest.raises(mail.MailFailed) as failed:
        await mail.send(settings_for(server.port), mail.Mail(to="a@example.org", subject="s", text="t"))
    assert str(failed.value) == "SMTP 451" and failed.value.retry


async def test_nothing_listening_could_not_connect() -> None:
    with pytest.raises(mail.MailFailed) as failed:
        await mail.send(settings_for(free_port()), mail.Mail(to="a@example.org", subject="s", text="t"))
    assert str(failed.value) == "could not connect" and failed.value.retry


async def test_without_smtp_host_no_mail_is_sent() -> None:
    with pytest.raises(mail.MailNotConfigured):
        await mail.send(TEST_SETTINGS, mail.Mail(to="a@example.org", subject="s", text="t"))
