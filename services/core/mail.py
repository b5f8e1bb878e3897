"""E-mail out: one plain-text message over SMTP, to the server the deployment names (SMTP_*).

smtplib is blocking, so each message is sent in a thread. Failures come back as MailFailed with
the words the export uses ("could not connect", "timed out", or the server's reply code), never
network detail; callers decide whether to retry (the notification outbox does).
"""

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from services.core.config import Settings


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    # Sent as the Message-ID: the same notification re-sent after a lost answer has the same id,
    # so a mail system (and a person) can tell it is one message.
    message_id: str | None = None


class MailNotConfigured(Exception):
    """SMTP_HOST is not set: this deployment sends no e-mail."""


class MailFailed(Exception):
    """The message was not accepted. `retry` says whether trying again may help."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


async def send(settings: Settings, mail: Mail) -> None:
    if not settings.smtp_host:
        raise MailNotConfigured("no SMTP server is configured (SMTP_HOST)")
    await asyncio.to_thread(_send, settings, _message(settings, mail))


def _message(settings: Settings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id or make_msgid(domain="backstride")
    message.set_content(mail.text)
    return message


def _send(settings: Settings, message: EmailMessage) -> None:
    host, port, timeout = settings.smtp_host or "", settings.smtp_port, settings.smtp_timeout_seconds
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if settings.smtp_security == "tls"
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except TimeoutError as exc:
        raise MailFailed("timed out", retry=True) from exc
    except smtplib.SMTPResponseException as exc:
        # 4xx is "try again later"; 5xx is a refusal (a bad address, authentication).
        raise MailFailed(f"SMTP {exc.smtp_code}", retry=400 <= exc.smtp_code < 500) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise MailFailed(f"SMTP {codes[0] if codes else 550}: recipient refused", retry=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailFailed("could not connect", retry=True) from exc
