"""Privacy: export everything we hold about a customer, and erase a customer.

Later apps keep their own copies of personal data (mentions' author links, community profiles,
support conversations). They plug into export and erasure here instead of this module knowing
about them — register once, in the app's ``AppConfig.ready()``::

    from apiary.customers.services import privacy

    @privacy.register_eraser
    def erase_mention_authors(*, customer, customer_ids, actor):
        # Runs inside the erasure transaction; raise to abort the whole erasure.
        Mention.objects.filter(customer_id__in=customer_ids).update(customer=None, author="")

    @privacy.register_exporter("mentions")
    def export_mentions(*, customer, customer_ids):
        return [...]  # anything JSON-serialisable (Decimal/datetime are converted)

``customer_ids`` is the customer plus every record merged into it: a person's data may still sit
on the records that were merged away.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.models import AuditEntry
from apiary.accounts.services import audit_record
from apiary.customers import selectors
from apiary.customers.models import Customer, IdentitySuggestion, SocialIdentity

Eraser = Callable[..., None]
Exporter = Callable[..., object]

_ERASERS: list[Eraser] = []
_EXPORTERS: dict[str, Exporter] = {}

_TIMELINE_PAGE = 500


def register_eraser(fn: Eraser) -> Eraser:
    """Add ``fn(*, customer, customer_ids, actor)``; usable as a decorator; idempotent."""
    if fn not in _ERASERS:
        _ERASERS.append(fn)
    return fn


def register_exporter(name: str, fn: Exporter | None = None):
    """Add ``fn(*, customer, customer_ids)`` under ``name`` in the export's ``extra`` section;
    usable as ``register_exporter(name, fn)`` or as the decorator ``@register_exporter(name)``."""

    def add(fn: Exporter) -> Exporter:
        _EXPORTERS[name] = fn
        return fn

    return add(fn) if fn is not None else add


def _profile(customer: Customer) -> dict:
    return {
        "id": customer.pk,
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "phone": customer.phone,
        "country": customer.country,
        "region": customer.region,
        "city": customer.city,
        "language": customer.language,
        "tags": customer.tags,
        "lifecycle_stage": customer.lifecycle_stage,
        "custom_fields": customer.custom_fields,
        "user_id": customer.user_id,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        "merged_into_id": customer.merged_into_id,
    }


def _identities(customer_ids: list[int]) -> list[dict]:
    identities = (
        SocialIdentity.objects.filter(customer_id__in=customer_ids)
        .prefetch_related("consents")
        .order_by("pk")
    )
    return [
        {
            "id": i.pk,
            "customer_id": i.customer_id,
            "platform": i.platform,
            "handle": i.handle,
            "display_name": i.display_name,
            "profile_url": i.profile_url,
            "followers": i.followers,
            "verified": i.verified,
            "created_at": i.created_at,
            "withdrawn_at": i.withdrawn_at,
            "consents": [
                {
                    "action": c.action,
                    "touchpoint": c.touchpoint,
                    "text": c.text,
                    "at": c.at,
                }
                for c in sorted(i.consents.all(), key=lambda c: (c.at, c.pk))
            ],
        }
        for i in identities
    ]


def _full_timeline(customer_ids: list[int]) -> list[dict]:
    events, before = [], None
    while True:
        page, before = selectors.timeline_page(
            customer_ids=customer_ids, before=before, limit=_TIMELINE_PAGE
        )
        events.extend(page)
        if before is None:
            break
    return [e.as_dict() for e in events]


def customer_export(*, customer: Customer, actor) -> dict:
    """Everything we hold about the customer (and records merged into it), JSON-serialisable:
    Decimals as strings, times as ISO 8601."""
    ids = selectors.customer_family_ids(customer=customer)
    organisation = customer.organisation
    data = {
        "exported_at": timezone.now(),
        "customer": _profile(customer),
        "merged_records": [
            _profile(c) for c in Customer.objects.filter(pk__in=ids[1:]).order_by("pk")
        ],
        "organisation": None
        if organisation is None
        else {
            "id": organisation.pk,
            "name": organisation.name,
            "domain": organisation.domain,
            "country": organisation.country,
            "city": organisation.city,
        },
        "identities": _identities(ids),
        "orders": [
            {
                "id": o.pk,
                "external_id": o.external_id,
                "ordered_at": o.ordered_at,
                "currency": o.currency,
                "total": o.total,
                "items": o.items,
                "channel": o.channel,
                "referral_code": o.referral_code,
            }
            for o in selectors.customer_orders(customer_ids=ids)
        ],
        "value": selectors.customer_value(customer_ids=ids),
        "suggestions": [
            {
                "platform": s.platform,
                "handle": s.handle,
                "display_name": s.display_name,
                "profile_url": s.profile_url,
                "location": s.location,
                "reason": s.reason,
                "status": s.status,
                "created_at": s.created_at,
                "decided_at": s.decided_at,
            }
            for s in IdentitySuggestion.objects.filter(customer_id__in=ids).order_by("pk")
        ],
        "segments": [
            {"slug": s.slug, "name": s.name} for s in selectors.customer_segments(customer=customer)
        ],
        "audit": [
            {"action": a.action, "at": a.at, "actor_id": a.actor_id, "summary": a.summary}
            for a in AuditEntry.objects.filter(
                target_type="customer", target_id__in=[str(i) for i in ids]
            ).order_by("at", "pk")
        ],
        "timeline": _full_timeline(ids),
        "extra": {name: fn(customer=customer, customer_ids=ids) for name, fn in _EXPORTERS.items()},
    }
    audit_record(
        actor=actor, action="customer.export", target_type="customer", target_id=customer.pk
    )
    # Round-trip through JSON so the caller gets plain types it can hand to any serialiser.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def customer_erase(*, customer: Customer, actor) -> Customer:
    """Irreversibly remove the customer's personal data everywhere it was copied. Orders stay
    (linked to the anonymised record) so revenue totals do not change. Already-erased → error."""
    if customer.erased_at is not None:
        raise ValidationError({"customer": [_("This customer has already been erased.")]})
    with transaction.atomic():
        ids = selectors.customer_family_ids(customer=customer)
        locked = list(Customer.objects.select_for_update().filter(pk__in=ids))
        if any(c.pk == customer.pk and c.erased_at is not None for c in locked):
            raise ValidationError({"customer": [_("This customer has already been erased.")]})
        now = timezone.now()
        # Consent records hold the exact handles: they go with their identities (cascade).
        identities = SocialIdentity.objects.filter(customer_id__in=ids).delete()[1]
        suggestions = IdentitySuggestion.objects.filter(customer_id__in=ids).delete()[0]
        Customer.objects.filter(pk__in=ids).update(
            name="",
            email=None,
            phone="",
            external_id=None,
            region="",
            city="",
            custom_fields={},
            tags=[],
            user=None,
            erased_at=now,
            updated_at=now,
        )
        for eraser in _ERASERS:
            eraser(customer=customer, customer_ids=ids, actor=actor)
        # Earlier audit entries quote handles, names and e-mails in summary/data: keep who did
        # what and when, drop the quoted personal data.
        scrubbed = AuditEntry.objects.filter(
            target_type="customer", target_id__in=[str(i) for i in ids]
        ).update(summary="", data={"erased": True})
        audit_record(
            actor=actor,
            action="customer.erase",
            target_type="customer",
            target_id=customer.pk,
            # The log must not hold what was erased: ids and counts only.
            summary=f"Customer #{customer.pk} erased",
            data={
                "customer_ids": ids,
                "identities_deleted": identities.get("customers.SocialIdentity", 0),
                "suggestions_deleted": suggestions,
                "audit_entries_scrubbed": scrubbed,
            },
        )
    customer.refresh_from_db()
    return customer
