"""Shared API shapes: clinics, keys and pieces every service reuses."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _plain_text(value: str) -> str:
    # NUL is refused by PostgreSQL text/JSONB and lone surrogates cannot be stored as UTF-8:
    # both must be a 422 here, not a database error later.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


# Free text that can be stored on both databases; lengths are per field.
PlainText = AfterValidator(_plain_text)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), PlainText]
Note1000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), PlainText]
Note2000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), PlainText]


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(StrictModel):
    """Query parameters of a paginated list; unknown parameters are a 422, not ignored."""

    limit: int = Field(default=50, ge=1, le=100, description="Page size, at most 100")
    cursor: str | None = Field(
        default=None, min_length=1, max_length=500, description="`next_cursor` of the previous page"
    )
