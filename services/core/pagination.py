"""Opaque keyset cursors: the sort key of the last row of a page, base64url-encoded JSON."""

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from services.core.errors import Unprocessable


class InvalidCursor(Unprocessable):
    title, slug = "Invalid cursor", "invalid-cursor"


def encode_cursor(*values: int | datetime | uuid.UUID) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """Decode a cursor whose values have the given types (int, datetime or uuid.UUID)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError("wrong length")
        values: list[Any] = []
        for kind, value in zip(kinds, raw, strict=True):
            if kind is int and type(value) is int:
                values.append(value)
            elif kind is datetime and isinstance(value, str):
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError("naive time")
                values.append(parsed)
            elif kind is uuid.UUID and isinstance(value, str):
                values.append(uuid.UUID(value))
            else:
                raise ValueError("wrong type")
        return tuple(values)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API gave out") from exc
