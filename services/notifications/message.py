"""What a notification says, and how a webhook is signed. Deliberately little: the urgency, the
due time and a link to the referral page. Never a name, age, answers, red flags or notes: the
message leaves Backstride for inboxes and chat tools that are not a clinical record, and a
person who may read the referral signs in to do so."""

import hashlib
import hmac
import json
import uuid
from datetime import datetime
from typing import Any

from services.core.mail import Mail


def link(public_base_url: str, referral_id: uuid.UUID) -> str:
    return f"{public_base_url}/ui/referrals/{referral_id}"


def event_type(kind: str, urgency: str) -> str:
    return "referral.overdue" if kind == "overdue" else f"referral.{urgency}"


def mail(item_id: uuid.UUID, to: str, kind: str, urgency: str, due_at: datetime, url: str) -> Mail:
    """The e-mail, with the item's id as its Message-ID: a re-send after a lost answer is the same message."""
    label = urgency.replace("_", " ")
    if kind == "overdue":
        subject = f"Overdue {label} referral: not yet taken"
        opening = f"An {label} referral was due at {due_at:%Y-%m-%d %H:%M} UTC and no one has taken it yet."
    else:
        subject = f"New {label} referral"
        opening = f"A new referral was triaged as {label}. It is due by {due_at:%Y-%m-%d %H:%M} UTC."
    text = (
        f"{opening}\n\nOpen it: {url}\n\n"
        "This message carries no patient details. Sign in to Backstride to read the referral.\n"
    )
    return Mail(to=to, subject=subject, text=text, message_id=f"<{item_id}@backstride>")


def webhook_body(
    item_id: uuid.UUID,
    clinic_id: uuid.UUID,
    referral_id: uuid.UUID,
    kind: str,
    urgency: str,
    due_at: datetime,
    url: str,
    sent_at: datetime,
) -> bytes:
    body: dict[str, Any] = {
        "id": str(item_id),
        "type": event_type(kind, urgency),
        "clinic_id": str(clinic_id),
        "referral_id": str(referral_id),
        "urgency": urgency,
        "due_at": due_at.isoformat(),
        "link": url,
        "sent_at": sent_at.isoformat(),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}` under the clinic's secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def headers(item_id: uuid.UUID, secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Backstride-Delivery": str(item_id),
        "X-Backstride-Timestamp": str(timestamp),
        "X-Backstride-Signature": signature(secret, timestamp, body),
    }
