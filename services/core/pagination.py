"""Opaque keyset cursors: the sort key of the last row of a page, base64url-encoded JSON."""

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from services.core.errors import Unprocessable

RowT = TypeVar("RowT")
# Anything outside these is not a cursor this API gave out, and must not reach the database.
_INT_RANGE = range(-(2**31), 2**31)
_YEARS = range(1970, 3000)


class InvalidCursor(Unprocessable):
    title, slug = "Invalid cursor", "invalid-cursor"


def encode_cursor(*values: int | datetime | uuid.UUID) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _value(kind: type, value: Any) -> Any:
    if kind is int and type(value) is int and value in _INT_RANGE:
        return value
    if kind is datetime and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        parsed = parsed.astimezone(UTC)
        if parsed.year not in _YEARS:
            raise ValueError("time out of range")
        return parsed
    if kind is uuid.UUID and isinstance(value, str):
        return uuid.UUID(value)
    raise ValueError("wrong type")


def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """Decode a cursor whose values have the given types (int, datetime or uuid.UUID)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError("wrong length")
        return tuple(_value(kind, value) for kind, value in zip(kinds, raw, strict=True))
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API gave out") from exc


def page(
    rows: Sequence[RowT], limit: int, key: Callable[[RowT], tuple[int | datetime | uuid.UUID, ...]]
) -> tuple[list[RowT], str | None]:
    """Cut `limit + 1` fetched rows to a page and the cursor for the next one (None when last)."""
    items = list(rows[:limit])
    return items, encode_cursor(*key(items[-1])) if len(rows) > limit and items else None
