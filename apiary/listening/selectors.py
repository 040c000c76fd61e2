"""Listening reads: sources with their status, queries, stream health (mention search is
``search.py``)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet, Sum
from django.utils import timezone

from .models import ListeningQuery, Mention, OutboxEntry, Source, SourceMinute


def source_list(*, include_deleted: bool = False) -> QuerySet[Source]:
    qs = Source.objects.all()
    if not include_deleted:
        qs = qs.filter(deleted_at__isnull=True)
    return qs.order_by("name", "pk")


def source_get(source_id: int) -> Source | None:
    return Source.objects.filter(pk=source_id, deleted_at__isnull=True).first()


def source_events_per_minute(source_ids: list[int], *, minutes: int = 5) -> dict[int, float]:
    since = timezone.now() - timedelta(minutes=minutes)
    rows = (
        SourceMinute.objects.filter(source_id__in=source_ids, minute__gte=since)
        .values("source_id")
        .annotate(n=Sum("received"))
    )
    return {r["source_id"]: round(r["n"] / minutes, 1) for r in rows}


def source_health(source: Source) -> str:
    """ok / paused / error / stale / idle — what the status badge says."""
    if source.status == "paused":
        return "paused"
    if source.last_error and (
        source.last_event_at is None
        or (source.last_error_at and source.last_error_at >= source.last_event_at)
    ):
        return "error"
    if source.last_event_at is None:
        return "idle"
    return "ok"


def query_list(*, kind: str | None = None) -> QuerySet[ListeningQuery]:
    qs = ListeningQuery.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def stream_status() -> dict:
    from django.conf import settings

    from .stream import get_stream

    stream = get_stream()
    pending = None
    try:
        pending = stream.pending()
    except Exception:  # broker unreachable: the page says so instead of failing
        pending = None
    return {
        "stream": settings.APIARY_STREAM_URL,
        "kind": stream.name,
        "pending": pending,
        "failed": OutboxEntry.objects.filter(failed_at__isnull=False).count(),
        "mentions": Mention.objects.count(),
    }
