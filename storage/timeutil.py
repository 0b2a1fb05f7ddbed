"""One time convention for the whole store: naive UTC datetimes.

SQLite has no time zone type and PostgreSQL ``timestamp`` columns behave the
same way when we never hand them an offset, so every value is converted to UTC
and stripped of its tzinfo before it reaches the database.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_utc(value: datetime) -> datetime:
    """Aware values are converted; naive ones are taken as UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
