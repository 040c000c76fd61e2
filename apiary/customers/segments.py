"""Segments: saved customer filters usable in the UI, the API and analytics.

:class:`SegmentFilters` is the one filter vocabulary (the customer list's query parameters use it
too); :func:`segment_apply` turns it into pure database filters — ``Exists()`` and aggregate
subqueries, no Python loops — so a segment's count is always live and cheap to compute.
"""

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pydantic
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from ninja import Field, Schema
from pydantic import ConfigDict, field_validator

from apiary.accounts.services import audit_record
from apiary.core.errors import validation_errors
from apiary.core.times import assume_utc
from apiary.customers.countries import COUNTRY_CODES
from apiary.customers.models import LifecycleStage, Order, Platform, Segment, SocialIdentity


class SegmentFilters(Schema):
    """Every field is optional; the given ones are combined with AND."""

    model_config = ConfigDict(extra="forbid")

    search: str | None = Field(None, max_length=200)
    social: bool | None = Field(None, description="Has at least one active (consented) identity.")
    platforms: list[Platform] | None = Field(None, description="Active identity on any of these.")
    country: list[str] | None = Field(None, description="ISO 3166-1 alpha-2 codes, any of.")
    city: str | None = Field(None, max_length=120)
    lifecycle_stage: list[LifecycleStage] | None = None
    tags: list[str] | None = Field(None, description="Has all of these tags.")
    ordered_within_days: int | None = Field(None, ge=1, le=36500)
    not_ordered_within_days: int | None = Field(None, ge=1, le=36500)
    min_orders: int | None = Field(None, ge=0)
    min_total: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    has_email: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    @field_validator("country")
    @classmethod
    def _countries(cls, value):
        if value is None:
            return value
        codes = [c.strip().upper() for c in value]
        unknown = [c for c in codes if c not in COUNTRY_CODES]
        if unknown:
            raise ValueError(
                _("Unknown country code %(code)s; use ISO 3166-1 alpha-2 such as DE.")
                % {"code": unknown[0]}
            )
        return codes

    @field_validator("tags")
    @classmethod
    def _tags(cls, value):
        if value is None:
            return value
        return [" ".join(t.split()).lower() for t in value if t.strip()]

    @field_validator("created_after", "created_before")
    @classmethod
    def _aware(cls, value):
        # Times are UTC in storage; a time without a zone is read as UTC.
        return assume_utc(value)


def segment_filters_validate(data: dict | None) -> SegmentFilters:
    """Validate a filter dict; errors name the filter field (``ValidationError``)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError({"filters": [_("Must be an object.")]})
    try:
        return SegmentFilters.model_validate(data)
    except pydantic.ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for err in validation_errors(exc.errors()):
            field = err["field"].split(".")[0]
            errors.setdefault(field, []).append(err["message"])
        raise ValidationError(errors) from None


def filters_to_json(filters: SegmentFilters) -> dict:
    return filters.model_dump(mode="json", exclude_none=True)


def _orders_of_customer():
    return Order.objects.filter(customer_id=OuterRef("pk")).order_by()


def _active_identities(platforms=None):
    qs = SocialIdentity.objects.filter(customer_id=OuterRef("pk"), withdrawn_at__isnull=True)
    if platforms:
        qs = qs.filter(platform__in=[str(p) for p in platforms])
    return qs


def orders_count_expr():
    sub = _orders_of_customer().values("customer_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0))


def orders_total_expr():
    """Sum of order totals in their own currencies (no conversion; most shops use one)."""
    money = DecimalField(max_digits=16, decimal_places=2)
    sub = _orders_of_customer().values("customer_id").annotate(t=Sum("total")).values("t")
    return Coalesce(Subquery(sub, output_field=money), Value(Decimal("0")), output_field=money)


def search_q(search: str) -> Q:
    """Name, e-mail, external id, or the handle of an active identity."""
    search = search.strip()
    handle = search.lstrip("@").lower()
    matches_identity = Exists(_active_identities().filter(handle__icontains=handle))
    return (
        Q(name__icontains=search)
        | Q(email__icontains=search)
        | Q(external_id__iexact=search)
        | Q(matches_identity)
    )


def _has_tag(tag: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(tags__contains=[tag])  # jsonb containment
    # SQLite has no JSON containment lookup; tags are restricted to characters that need no JSON
    # escaping beyond json.dumps' own, so the quoted tag is an exact element match.
    return Q(**{"_tags_text__contains": json.dumps(tag)})


def segment_apply(qs: QuerySet, filters: SegmentFilters | dict | None) -> QuerySet:
    """Narrow a Customer queryset by the filters (already validated, or a dict to validate)."""
    if filters is None:
        return qs
    if isinstance(filters, dict):
        filters = segment_filters_validate(filters)
    f = filters
    now = timezone.now()
    if f.search:
        qs = qs.filter(search_q(f.search))
    if f.social is True:
        qs = qs.filter(Exists(_active_identities()))
    elif f.social is False:
        qs = qs.filter(~Exists(_active_identities()))
    if f.platforms:
        qs = qs.filter(Exists(_active_identities(f.platforms)))
    if f.country:
        qs = qs.filter(country__in=f.country)
    if f.city:
        qs = qs.filter(city__iexact=f.city.strip())
    if f.lifecycle_stage:
        qs = qs.filter(lifecycle_stage__in=[str(s) for s in f.lifecycle_stage])
    if f.tags:
        if connection.vendor != "postgresql":
            qs = qs.alias(_tags_text=Cast("tags", TextField()))
        for tag in f.tags:
            qs = qs.filter(_has_tag(tag))
    if f.ordered_within_days:
        since = now - timedelta(days=f.ordered_within_days)
        qs = qs.filter(Exists(_orders_of_customer().filter(ordered_at__gte=since)))
    if f.not_ordered_within_days:
        since = now - timedelta(days=f.not_ordered_within_days)
        qs = qs.filter(~Exists(_orders_of_customer().filter(ordered_at__gte=since)))
    if f.min_orders is not None:
        qs = qs.alias(_seg_orders=orders_count_expr()).filter(_seg_orders__gte=f.min_orders)
    if f.min_total is not None:
        qs = qs.alias(_seg_total=orders_total_expr()).filter(_seg_total__gte=f.min_total)
    if f.has_email is True:
        qs = qs.filter(email__isnull=False).exclude(email="")
    elif f.has_email is False:
        qs = qs.filter(Q(email__isnull=True) | Q(email=""))
    if f.created_after:
        qs = qs.filter(created_at__gte=f.created_after)
    if f.created_before:
        qs = qs.filter(created_at__lt=f.created_before)
    return qs


# --- Services ----------------------------------------------------------------------------------


def _clean_name(name) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationError({"name": [_("This field is required.")]})
    if len(name) > 120:
        raise ValidationError({"name": [_("Must be at most %(n)s characters long.") % {"n": 120}]})
    return name


def _clean_description(description) -> str:
    description = str(description or "").strip()
    if len(description) > 300:
        raise ValidationError(
            {"description": [_("Must be at most %(n)s characters long.") % {"n": 300}]}
        )
    return description


def _validated_filters(filters) -> dict:
    try:
        return filters_to_json(segment_filters_validate(filters))
    except ValidationError as exc:
        # Saved segments name the nested field, e.g. "filters.platforms".
        raise ValidationError(
            {f"filters.{k}" if k != "filters" else k: v for k, v in exc.message_dict.items()}
        ) from None


def _unique_slug(name: str, exclude_pk=None) -> str:
    base = slugify(name)[:100] or "segment"
    slug, n = base, 2
    others = Segment.objects.exclude(pk=exclude_pk) if exclude_pk else Segment.objects.all()
    while others.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def segment_create(*, name, filters, description="", actor) -> Segment:
    name = _clean_name(name)
    segment = Segment.objects.create(
        name=name,
        slug=_unique_slug(name),
        description=_clean_description(description),
        filters=_validated_filters(filters),
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    audit_record(actor=actor, action="segment.create", target_type="segment", target_id=segment.pk)
    return segment


def segment_update(
    *, segment: Segment, actor, name=None, filters=None, description=None
) -> Segment:
    """Change the given parts; the slug stays, so links and API clients keep working."""
    if name is not None:
        segment.name = _clean_name(name)
    if description is not None:
        segment.description = _clean_description(description)
    if filters is not None:
        segment.filters = _validated_filters(filters)
    segment.save()
    audit_record(actor=actor, action="segment.update", target_type="segment", target_id=segment.pk)
    return segment


def segment_delete(*, segment: Segment, actor) -> None:
    audit_record(actor=actor, action="segment.delete", target_type="segment", target_id=segment.pk)
    segment.delete()


DEFAULT_SEGMENTS = [
    (
        "social-customers",
        gettext_noop("Social customers"),
        gettext_noop("Customers with at least one consented social identity."),
        {"social": True},
    ),
    (
        "customers-on-bluesky",
        gettext_noop("Customers on Bluesky"),
        gettext_noop("Customers with a consented Bluesky account."),
        {"platforms": ["bluesky"]},
    ),
    (
        "ordered-90-days-no-social",
        gettext_noop("Ordered in the last 90 days, no social identity"),
        gettext_noop("Recent buyers we cannot recognise on social networks yet."),
        {"ordered_within_days": 90, "social": False},
    ),
    (
        "churn-risk",
        gettext_noop("Churn risk: no order in 180 days"),
        gettext_noop("Customers who ordered before but not in the last 180 days."),
        {"not_ordered_within_days": 180, "min_orders": 1},
    ),
]


def segments_ensure_defaults() -> list[Segment]:
    """Create the built-in segments that are missing (by slug); never overwrites edits."""
    out = []
    for slug, name, description, filters in DEFAULT_SEGMENTS:
        segment, _created = Segment.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "description": description,
                "filters": filters_to_json(segment_filters_validate(filters)),
            },
        )
        out.append(segment)
    return out
