"""Listening reads: mentions, sources with their status, queries, stream health."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet, Sum
from django.utils import timezone

from .models import ListeningQuery, Mention, MentionMatch, OutboxEntry, Source, SourceMinute


def mention_list(
    *,
    platform: str | None = None,
    language: str | None = None,
    sentiment: str | None = None,
    intent: str | None = None,
    query_id: int | None = None,
    customer_id: int | None = None,
    source_id: int | None = None,
    created_after=None,
    created_before=None,
    after_id: int | None = None,
) -> QuerySet[Mention]:
    qs = Mention.objects.all()
    if query_id is not None:
        qs = qs.filter(pk__in=MentionMatch.objects.filter(query_id=query_id).values("mention_id"))
    for field, value in (
        ("platform", platform),
        ("language", language),
        ("sentiment", sentiment),
        ("intent", intent),
        ("customer_id", customer_id),
        ("source_id", source_id),
    ):
        if value is not None:
            qs = qs.filter(**{field: value})
    if created_after is not None:
        qs = qs.filter(created_at__gte=created_after)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    if after_id is not None:
        qs = qs.filter(pk__gt=after_id)
    return qs.order_by("-created_at", "-pk")


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
