"""Time helpers. Storage is timezone-aware UTC; a time given without a zone is read as UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def assume_utc(value: datetime | None) -> datetime | None:
    """Attach UTC to a naive time; aware times and None pass through unchanged."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
