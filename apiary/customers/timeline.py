"""The customer interaction timeline: one chronological feed assembled from *providers*.

Each domain plugs its event kind in with :func:`register` (in its AppConfig.ready), never by
editing this module:

    @timeline.register("mention", label=_("Mentions"))
    def mention_events(*, customer_ids, before, limit):
        return [TimelineEvent(...), ...]   # newest first, at < before, at most `limit`

``customer_ids`` holds the customer and every record merged into it. Pagination is a cursor on
time (``before``): each provider returns its newest ``limit`` events before the cursor, the feed
merges them and keeps the newest ``limit`` — so every page costs one indexed query per kind.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class TimelineEvent:
    kind: str
    at: datetime
    title: str
    body: str = ""
    url: str = ""
    ref: str = ""  # a stable id of the source record, e.g. "order:123"
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The event as the API and the privacy export show it (lazy strings made plain)."""
        return {
            "kind": self.kind,
            "at": self.at,
            "title": str(self.title),
            "body": str(self.body),
            "url": self.url,
            "ref": self.ref,
            "data": self.data,
        }


Provider = Callable[..., Iterable[TimelineEvent]]


@dataclass(frozen=True)
class Kind:
    name: str
    label: str | Promise
    provider: Provider


_KINDS: dict[str, Kind] = {}


def register(name: str, *, label: str | Promise) -> Callable[[Provider], Provider]:
    def decorator(provider: Provider) -> Provider:
        _KINDS[name] = Kind(name=name, label=label, provider=provider)
        return provider

    return decorator


def kinds() -> list[Kind]:
    return list(_KINDS.values())


def customer_timeline(
    *,
    customer_ids: list[int],
    kinds: list[str] | None = None,
    before: datetime | None = None,
    limit: int = 50,
) -> list[TimelineEvent]:
    """Newest-first events of the given kinds (all when None) strictly before ``before``."""
    unknown = set(kinds or []) - set(_KINDS)
    if unknown:
        raise ValueError(f"unknown timeline kinds: {', '.join(sorted(unknown))}")
    selected = [k for k in _KINDS.values() if kinds is None or k.name in kinds]
    streams = [
        list(k.provider(customer_ids=customer_ids, before=before, limit=limit)) for k in selected
    ]
    merged = heapq.merge(*streams, key=lambda e: e.at, reverse=True)
    out = []
    for event in merged:
        out.append(event)
        if len(out) >= limit:
            break
    return out


# --- Built-in kinds of this app ---------------------------------------------------------------


@register("order", label=_("Orders"))
def _order_events(*, customer_ids, before, limit):
    from apiary.customers.models import Order

    qs = Order.objects.filter(customer_id__in=customer_ids).order_by("-ordered_at", "-pk")
    if before is not None:
        qs = qs.filter(ordered_at__lt=before)
    for order in qs[:limit]:
        yield TimelineEvent(
            kind="order",
            at=order.ordered_at,
            title=_("Order %(id)s: %(total)s %(currency)s")
            % {"id": order.external_id, "total": order.total, "currency": order.currency},
            body=", ".join(str(i.get("name") or i.get("sku", "")) for i in order.items[:5]),
            ref=f"order:{order.pk}",
            data={"channel": order.channel, "referral_code": order.referral_code},
        )


@register("consent", label=_("Consent changes"))
def _consent_events(*, customer_ids, before, limit):
    from apiary.customers.models import ConsentRecord

    qs = (
        ConsentRecord.objects.filter(identity__customer_id__in=customer_ids)
        .select_related("identity")
        .order_by("-at", "-pk")
    )
    if before is not None:
        qs = qs.filter(at__lt=before)
    for record in qs[:limit]:
        identity = record.identity
        if record.action == record.Action.GIVEN:
            title = _("Linked %(platform)s account %(handle)s") % {
                "platform": identity.get_platform_display(),
                "handle": identity.handle,
            }
        else:
            title = _("Withdrew consent for %(platform)s account %(handle)s") % {
                "platform": identity.get_platform_display(),
                "handle": identity.handle,
            }
        yield TimelineEvent(
            kind="consent",
            at=record.at,
            title=str(title),
            body=record.get_touchpoint_display(),
            ref=f"consent:{record.pk}",
            data={"touchpoint": record.touchpoint, "action": record.action},
        )
