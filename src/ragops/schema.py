"""Building blocks of the API shapes every domain shares, so that the contract holds the same
way on every route:

- `RequestModel`: the base of request bodies. Every string in it (nested ones too) must be
  valid Unicode: a lone surrogate such as `\\ud800`, which JSON can spell but no encoder can
  encode, is refused with a 422 naming the field, before any library sees it. A NUL character
  (`\\u0000`), valid JSON that no PostgreSQL text column can store, becomes U+FFFD (the
  replacement character), on either database.
- `JsonInt`: an integer field that refuses JSON's `true` and `false`.
- `UtcDatetime`: a timestamp that is always timezone-aware UTC (SQLite hands back naive
  datetimes), so `format: date-time` in the schema is true of every answer.
- `IsoDate`, `IsoDatetime`: a date or timestamp a client must send as an ISO 8601 string; a
  number (which pydantic would read as a Unix time) or a boolean is refused as the wrong type.
- `MAX_DB_INT`: the largest integer a query parameter may carry to the database (the range of
  the 32-bit `INTEGER` columns both SQLite and PostgreSQL hold).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationInfo, field_validator

MAX_DB_INT = 2**31 - 1


def aware(value: datetime | None) -> datetime | None:
    """`value` as timezone-aware UTC (SQLite hands back naive datetimes)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _aware_required(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_aware_required)]


def _iso_text(value: Any) -> Any:
    if isinstance(value, str | date):  # a datetime is a date too (callers in Python)
        return value
    raise ValueError("must be an ISO 8601 string")


IsoDate = Annotated[date, BeforeValidator(_iso_text)]
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text)]


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a code point that is not valid Unicode text (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


NUL = "\x00"
REPLACEMENT = "\ufffd"
"""What a NUL character of a request becomes: U+FFFD, the replacement character."""


def _valid_text(value: Any) -> Any:
    """`value` with every string in it (keys and items of dicts and lists too) checked: a lone
    surrogate is refused, a NUL character replaced by U+FFFD."""
    if isinstance(value, str):
        if has_lone_surrogate(value):
            raise ValueError("must be valid Unicode text (it holds a lone surrogate code point)")
        return value.replace(NUL, REPLACEMENT) if NUL in value else value
    if isinstance(value, dict):
        return {_valid_text(key): _valid_text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_valid_text(item) for item in value)
    return value


def _no_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


NOT_BOOLEAN = BeforeValidator(_no_boolean)
JsonInt = Annotated[int, NOT_BOOLEAN]
"""An integer of a request body as JSON Schema means one: 3 or 3.0, never `true` or `false`
(pydantic's lax mode reads them as 1 and 0). Bounds of an optional one go before the
validator, `Annotated[int, Field(ge=1), NOT_BOOLEAN] | None`, or the schema would spell them
`ge`/`le` instead of `minimum`/`maximum`."""


class RequestModel(BaseModel):
    """Base of request bodies: every string must be valid Unicode text; a NUL becomes U+FFFD."""

    @field_validator("*", mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any, info: ValidationInfo) -> Any:
        return _valid_text(value)
