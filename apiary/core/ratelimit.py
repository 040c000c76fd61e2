"""A small fixed-window rate limiter stored in the database, so every server process and every
worker sees the same counts without a cache server. For public forms and endpoints."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone


def rate_limit_hit(*, bucket: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit for ``key`` in ``bucket``; return True when the caller is over the limit
    (the hit that goes over is not stored, so a flood does not grow the table)."""
    return rate_limit_count(bucket=bucket, key=key, limit=limit, window_seconds=window_seconds) < 0


def rate_limit_count(*, bucket: str, key: str, limit: int, window_seconds: int) -> int:
    """Like ``rate_limit_hit``, for callers with a softer second threshold: the number of hits
    in the window including this one, or -1 when over ``limit`` (this hit not stored)."""
    from apiary.accounts.models import RateEvent

    now = timezone.now()
    since = now - timedelta(seconds=window_seconds)
    key = key[:200]
    recent = RateEvent.objects.filter(bucket=bucket, key=key, at__gte=since).count()
    if recent >= limit:
        return -1
    RateEvent.objects.create(bucket=bucket, key=key, at=now)
    # Prune lazily; old rows never count again.
    RateEvent.objects.filter(bucket=bucket, at__lt=since).delete()
    return recent + 1
