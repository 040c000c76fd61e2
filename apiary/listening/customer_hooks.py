"""Mentions on the customer's side: a "mention" timeline kind, and mentions in the privacy
export and erasure. Registered from ``ListeningConfig.ready`` (customers/ is not edited)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from apiary.customers import timeline
from apiary.customers.services.privacy import register_eraser, register_exporter

from .consumer import register_after_store
from .tasks import enqueue_identity_suggestions

# Near-match identity suggestions for new mentions' unknown authors, in the background.
register_after_store(enqueue_identity_suggestions)


@timeline.register("mention", label=_("Mentions"))
def _mention_events(*, customer_ids, before, limit):
    from .models import Mention

    qs = Mention.objects.filter(customer_id__in=customer_ids).order_by("-created_at", "-pk")
    if before is not None:
        qs = qs.filter(created_at__lt=before)
    for m in qs.only(
        "id", "platform", "external_id", "text", "url", "created_at", "sentiment", "intent",
        "language", "author_handle",
    )[:limit]:  # fmt: skip
        yield timeline.TimelineEvent(
            kind="mention",
            at=m.created_at,
            title=_("Mention on %(platform)s by %(handle)s")
            % {"platform": m.platform, "handle": m.author_handle or "?"},
            body=m.text[:500],
            url=m.url,
            ref=f"mention:{m.pk}",
            data={"sentiment": m.sentiment, "intent": m.intent, "language": m.language},
        )


@register_exporter("mentions")
def _export_mentions(*, customer, customer_ids):
    from .models import Mention

    return [
        {
            "platform": m.platform,
            "external_id": m.external_id,
            "created_at": m.created_at.isoformat(),
            "text": m.text,
            "url": m.url,
            "author_handle": m.author_handle,
            "author_name": m.author_name,
            "author_location": m.author_location,
            "sentiment": m.sentiment,
            "intent": m.intent,
            "country": m.country,
            "city": m.city,
        }
        for m in Mention.objects.filter(customer_id__in=customer_ids).order_by("created_at")
    ]


@register_eraser
def _erase_mentions(*, customer, customer_ids, actor):
    """Public posts are not ours to delete, but our copy of who wrote them is: unlink and
    strip the author's personal data and place from every mention linked to the customer."""
    from .models import Mention

    Mention.objects.filter(customer_id__in=customer_ids).update(
        customer=None,
        author_handle="",
        author_name="",
        author_url="",
        author_location="",
        author_followers=None,
        lat=None,
        lon=None,
        city="",
        raw={},
        text="[erased]",
    )
