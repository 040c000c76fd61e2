"""Reads for customers: lists with value annotations, one customer, families of merged records,
value aggregates, identities, the review queue and segments. Permission is decided by
``customers.access``; these functions only read."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Count,
    DateTimeField,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from apiary.core.times import assume_utc
from apiary.customers.models import (
    ConsentRecord,
    Customer,
    CustomFieldDefinition,
    IdentitySuggestion,
    Order,
    Organisation,
    Segment,
    SocialIdentity,
)
from apiary.customers.segments import orders_count_expr, orders_total_expr, search_q, segment_apply
from apiary.customers.timeline import TimelineEvent, customer_timeline

CENT = Decimal("0.01")
# A merge chain longer than this is a data error (a cycle); stop instead of looping forever.
_MAX_MERGE_DEPTH = 50


def _live_customers() -> QuerySet[Customer]:
    return Customer.objects.filter(
        deleted_at__isnull=True, merged_into__isnull=True, erased_at__isnull=True
    )


def customer_list(
    *, search: str | None = None, filters: dict | None = None, segment: Segment | str | None = None
) -> QuerySet[Customer]:
    """Live customers (not deleted, merged or erased), narrowed by a segment (instance or slug),
    then by ``filters`` (a SegmentFilters dict) and ``search``. Each row is annotated with
    ``orders_count``, ``orders_total``, ``last_order_at`` and ``identity_count`` (active
    identities) as correlated subqueries, so one row never multiplies into many."""
    qs = _live_customers().select_related("organisation")
    if segment is not None:
        if isinstance(segment, str):
            segment = Segment.objects.filter(slug=segment).first()
            if segment is None:
                raise Http404
        qs = segment_apply(qs, segment.filters)
    if filters:
        qs = segment_apply(qs, filters)
    if search and search.strip():
        qs = qs.filter(search_q(search))
    last_order = (
        Order.objects.filter(customer_id=OuterRef("pk"))
        .order_by("-ordered_at")
        .values("ordered_at")[:1]
    )
    identities = (
        SocialIdentity.objects.filter(customer_id=OuterRef("pk"), withdrawn_at__isnull=True)
        .order_by()
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(
        orders_count=orders_count_expr(),
        orders_total=orders_total_expr(),
        last_order_at=Subquery(last_order, output_field=DateTimeField()),
        identity_count=Coalesce(Subquery(identities, output_field=IntegerField()), Value(0)),
    ).order_by("name", "pk")


CUSTOMER_SORTS = {
    "name": ("name", "pk"),
    "created_at": ("created_at", "pk"),
    "-created_at": ("-created_at", "-pk"),
    "orders_total": ("orders_total", "pk"),
    "-orders_total": ("-orders_total", "-pk"),
    "last_order_at": ("last_order_at", "pk"),
    "-last_order_at": ("-last_order_at", "-pk"),
}


def customer_list_sort(qs: QuerySet[Customer], sort: str) -> QuerySet[Customer]:
    """Order a :func:`customer_list` queryset by one of ``CUSTOMER_SORTS`` (unknown → name)."""
    fields = []
    for name in CUSTOMER_SORTS.get(sort, CUSTOMER_SORTS["name"]):
        if name.lstrip("-") == "last_order_at":
            # Customers without orders sort last in both directions, on every database.
            expr = F("last_order_at")
            desc = name.startswith("-")
            fields.append(expr.desc(nulls_last=True) if desc else expr.asc(nulls_last=True))
        else:
            fields.append(name)
    return qs.order_by(*fields)


def customer_get(*, customer_id: int) -> Customer:
    """One customer record. Missing or soft-deleted → Http404. A merged record is returned as it
    is (``merged_into_id`` set) so callers can redirect; see :func:`customer_resolve_merged`."""
    customer = (
        Customer.objects.select_related("organisation", "user").filter(pk=customer_id).first()
    )
    if customer is None:
        raise Http404
    if customer.merged_into_id is None and customer.deleted_at is not None:
        raise Http404
    return customer


def customer_resolve_merged(customer: Customer) -> Customer:
    """Follow ``merged_into`` to the record that lives on; Http404 if that one is deleted."""
    seen = {customer.pk}
    while customer.merged_into_id is not None:
        customer = Customer.objects.select_related("organisation", "user").get(
            pk=customer.merged_into_id
        )
        if customer.pk in seen or len(seen) > _MAX_MERGE_DEPTH:
            raise Http404
        seen.add(customer.pk)
    if customer.deleted_at is not None:
        raise Http404
    return customer


def customer_family_ids(*, customer: Customer) -> list[int]:
    """The customer and every record merged into it, recursively (one query per merge level)."""
    family = [customer.pk]
    seen = {customer.pk}
    frontier = [customer.pk]
    for _level in range(_MAX_MERGE_DEPTH):
        children = [
            pk
            for pk in Customer.objects.filter(merged_into_id__in=frontier).values_list(
                "pk", flat=True
            )
            if pk not in seen
        ]
        if not children:
            break
        family.extend(children)
        seen.update(children)
        frontier = children
    return family


def customer_value(*, customer_ids: list[int]) -> dict:
    """Orders count, totals and average order value per currency, first and last order time —
    one grouped aggregate query."""
    rows = list(
        Order.objects.filter(customer_id__in=customer_ids)
        .order_by()
        .values("currency")
        .annotate(
            n=Count("pk"), total=Sum("total"), first=Min("ordered_at"), last=Max("ordered_at")
        )
        .order_by("currency")
    )
    by_currency = []
    for row in rows:
        total = Decimal(row["total"] or 0).quantize(CENT, rounding=ROUND_HALF_UP)
        by_currency.append(
            {
                "currency": row["currency"],
                "orders": row["n"],
                "total": total,
                "aov": (total / row["n"]).quantize(CENT, rounding=ROUND_HALF_UP),
            }
        )
    by_currency.sort(key=lambda r: (-r["total"], r["currency"]))
    return {
        "orders": sum(r["n"] for r in rows),
        "by_currency": by_currency,
        "first_order_at": min((r["first"] for r in rows), default=None),
        "last_order_at": max((r["last"] for r in rows), default=None),
    }


def customer_identities(*, customer: Customer, include_withdrawn: bool = True):
    """The customer's identities, active first, each with its consent records (newest first)."""
    qs = SocialIdentity.objects.filter(customer=customer)
    if not include_withdrawn:
        qs = qs.filter(withdrawn_at__isnull=True)
    return qs.prefetch_related(
        Prefetch("consents", queryset=ConsentRecord.objects.order_by("-at", "-pk"))
    ).order_by(F("withdrawn_at").asc(nulls_first=True), "platform", "handle", "pk")


def identity_get(*, identity_id: int) -> SocialIdentity:
    return SocialIdentity.objects.prefetch_related(
        Prefetch("consents", queryset=ConsentRecord.objects.order_by("-at", "-pk"))
    ).get(pk=identity_id)


def customer_orders(*, customer_ids: list[int]) -> QuerySet[Order]:
    return Order.objects.filter(customer_id__in=customer_ids).order_by("-ordered_at", "-pk")


def timeline_page(
    *,
    customer_ids: list[int],
    kinds: list[str] | None = None,
    before: datetime | None = None,
    limit: int = 50,
) -> tuple[list[TimelineEvent], datetime | None]:
    """One page of the timeline and the cursor for the next (None on the last page).

    The cursor is "strictly before this time", so events sharing the page's oldest instant with
    events that did not fit are held back for the next page: no duplicates and no gaps even when
    several events carry the same timestamp."""
    events = customer_timeline(
        customer_ids=customer_ids, kinds=kinds, before=before, limit=limit + 1
    )
    if len(events) <= limit:
        return events, None
    page, cut = events[:limit], events[limit].at
    head = [e for e in page if e.at > cut]
    if head:
        return head, head[-1].at
    # More than `limit` events at one instant: return that instant whole (a longer page).
    size = limit * 2
    while True:
        events = customer_timeline(
            customer_ids=customer_ids, kinds=kinds, before=before, limit=size + 1
        )
        same = [e for e in events if e.at == cut]
        if len(events) <= size:
            return same, (cut if len(events) > len(same) else None)
        if events[-1].at < cut:
            return same, cut
        size *= 2


def suggestion_list(*, status: str | None = IdentitySuggestion.Status.PENDING):
    """The review queue: best-scored first. Pending suggestions of records that are gone
    (deleted, merged away, erased) are hidden — there is nothing to link them to."""
    qs = IdentitySuggestion.objects.select_related("customer", "decided_by")
    if status:
        qs = qs.filter(status=status)
    if status == IdentitySuggestion.Status.PENDING:
        qs = qs.filter(
            customer__deleted_at__isnull=True,
            customer__merged_into__isnull=True,
            customer__erased_at__isnull=True,
        )
        return qs.order_by("-score", "-created_at", "-pk")
    return qs.order_by("-created_at", "-pk")


def organisation_list(*, search: str | None = None) -> QuerySet[Organisation]:
    qs = Organisation.objects.filter(deleted_at__isnull=True).order_by("name", "pk")
    if search and search.strip():
        qs = qs.filter(name__icontains=search.strip())
    return qs


def custom_field_list() -> QuerySet[CustomFieldDefinition]:
    return CustomFieldDefinition.objects.order_by("key")


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.order_by("name", "pk")


def segment_count(*, segment: Segment) -> int:
    """Live count of the customers in a segment (computed on read, never stored)."""
    return segment_apply(_live_customers(), segment.filters).count()


def customer_segments(*, customer: Customer) -> list[Segment]:
    """The segments this customer currently falls in (one EXISTS query per segment)."""
    out = []
    for segment in segment_list():
        if segment_apply(_live_customers().filter(pk=customer.pk), segment.filters).exists():
            out.append(segment)
    return out


# --- Orders ---------------------------------------------------------------------------------


def order_list(
    *,
    customer_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    currency: str | None = None,
    referral_code: str | None = None,
    min_total: Decimal | None = None,
) -> QuerySet[Order]:
    qs = Order.objects.order_by("-ordered_at", "-pk")
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if since is not None:
        qs = qs.filter(ordered_at__gte=assume_utc(since))
    if until is not None:
        qs = qs.filter(ordered_at__lt=assume_utc(until))
    if channel:
        qs = qs.filter(channel=channel)
    if currency:
        qs = qs.filter(currency=currency.upper())
    if referral_code:
        qs = qs.filter(referral_code=referral_code)
    if min_total is not None:
        qs = qs.filter(total__gte=min_total)
    return qs
