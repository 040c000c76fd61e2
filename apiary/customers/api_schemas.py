"""Input and output schemas of the customers API (``customers.api``). Inputs are strict: an
unknown field is a 422, never silently ignored. Money goes out as strings, never floats."""

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import field_validator

from apiary.core.schemas import StrictIn
from apiary.customers.models import (
    CustomFieldType,
    LifecycleStage,
    Platform,
    Touchpoint,
)
from apiary.customers.segments import SegmentFilters


def money(value: Decimal | None) -> str:
    return f"{Decimal(value or 0).quantize(Decimal('0.01'))}"


# --- Customers -----------------------------------------------------------------------------------

Sort = Literal[
    "name",
    "created_at",
    "-created_at",
    "orders_total",
    "-orders_total",
    "last_order_at",
    "-last_order_at",
]


class CustomerListQuery(SegmentFilters):
    """Query parameters of GET /customers: every segment filter, a saved segment, a sort.
    List filters take repeated parameters (``?platforms=x&platforms=bluesky``)."""

    # Enum lists are re-validated by segments.segment_filters_validate, whose errors name the
    # parameter itself ("platforms") rather than ninja's nested location of the bad item.
    platforms: list[str] | None = Field(None, description="Active identity on any of these.")
    lifecycle_stage: list[str] | None = None
    segment: str | None = Field(None, max_length=120, description="A saved segment's slug.")
    sort: Sort = "name"

    @field_validator("platforms", "country", "lifecycle_stage", "tags", mode="before")
    @classmethod
    def _comma_lists(cls, value):
        # Also accept one comma-separated parameter: ?platforms=x,bluesky
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            value = [p.strip() for v in value for p in str(v).split(",") if p.strip()] or None
        return value


class OrganisationOut(Schema):
    id: int
    name: str
    domain: str
    country: str
    city: str
    created_at: datetime


class CustomerOut(Schema):
    id: int
    external_id: str | None
    email: str | None
    name: str
    phone: str
    country: str
    region: str
    city: str
    language: str
    tags: list[str]
    lifecycle_stage: str
    custom_fields: dict[str, Any]
    organisation: OrganisationOut | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None
    merged_into_id: int | None


class CustomerListOut(CustomerOut):
    orders_count: int
    orders_total: str
    last_order_at: datetime | None
    identity_count: int

    @staticmethod
    def resolve_orders_total(obj) -> str:
        return money(obj.orders_total)


class CustomerIn(StrictIn):
    email: str | None = Field(None, max_length=254)
    name: str = Field("", max_length=200)
    external_id: str | None = Field(None, max_length=120)
    phone: str = Field("", max_length=40)
    country: str = Field("", max_length=2)
    region: str = Field("", max_length=120)
    city: str = Field("", max_length=120)
    language: str = Field("", max_length=8)
    tags: list[str] = Field(default_factory=list)
    lifecycle_stage: LifecycleStage = LifecycleStage.CUSTOMER
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    organisation_id: int | None = None


class CustomerPatch(StrictIn):
    """Only the fields sent change; ``custom_fields`` merge (send a key as null to remove it)."""

    email: str | None = Field(None, max_length=254)
    name: str | None = Field(None, max_length=200)
    external_id: str | None = Field(None, max_length=120)
    phone: str | None = Field(None, max_length=40)
    country: str | None = Field(None, max_length=2)
    region: str | None = Field(None, max_length=120)
    city: str | None = Field(None, max_length=120)
    language: str | None = Field(None, max_length=8)
    tags: list[str] | None = None
    lifecycle_stage: LifecycleStage | None = None
    custom_fields: dict[str, Any] | None = None
    organisation_id: int | None = None


class CurrencyValueOut(Schema):
    currency: str
    orders: int
    total: str
    aov: str


class CustomerValueOut(Schema):
    orders: int
    by_currency: list[CurrencyValueOut]
    first_order_at: datetime | None
    last_order_at: datetime | None


class EraseIn(StrictIn):
    confirm: str = Field(..., max_length=40, description="The customer's id, to avoid accidents.")


class MergeIn(StrictIn):
    into: int = Field(..., description="The id of the customer that lives on.")


# --- Identities ----------------------------------------------------------------------------------


class ConsentOut(Schema):
    id: int
    action: str
    touchpoint: str
    text: str
    at: datetime


class IdentityOut(Schema):
    id: int
    customer_id: int
    platform: str
    handle: str
    display_name: str
    profile_url: str
    followers: int | None
    verified: bool
    created_at: datetime
    withdrawn_at: datetime | None
    is_active: bool
    consents: list[ConsentOut]

    @staticmethod
    def resolve_consents(obj) -> list:
        return list(obj.consents.all())


class IdentityIn(StrictIn):
    platform: Platform
    handle: str = Field(..., min_length=1, max_length=500)
    touchpoint: Touchpoint = Touchpoint.API
    consent_text: str = Field(..., min_length=1, max_length=5000)
    display_name: str = Field("", max_length=200)
    profile_url: str = Field("", max_length=500)
    followers: int | None = Field(None, ge=0)
    verified: bool = False


# --- Timeline ------------------------------------------------------------------------------------


class TimelineEventOut(Schema):
    kind: str
    at: datetime
    title: str
    body: str
    url: str
    ref: str
    data: dict[str, Any]


class TimelineOut(Schema):
    items: list[TimelineEventOut]
    next_before: datetime | None


class TimelineQuery(Schema):
    kinds: str | None = Field(None, description="Comma-separated event kinds; all when empty.")
    before: datetime | None = Field(None, description="Cursor: events strictly before this.")
    limit: int = Field(50, ge=1, le=200)


# --- Segments ------------------------------------------------------------------------------------


class SegmentOut(Schema):
    id: int
    name: str
    slug: str
    description: str
    filters: dict[str, Any]
    created_at: datetime
    count: int


class SegmentIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=120)
    description: str = Field("", max_length=300)
    filters: dict[str, Any] = Field(default_factory=dict)


class SegmentPatch(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=300)
    filters: dict[str, Any] | None = None


# --- Suggestions, organisations, custom fields ---------------------------------------------------


class CustomerRefOut(Schema):
    id: int
    name: str
    email: str | None
    city: str
    country: str


class SuggestionOut(Schema):
    id: int
    customer: CustomerRefOut
    platform: str
    handle: str
    display_name: str
    profile_url: str
    location: str
    reason: str
    score: float
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by_id: int | None


class SuggestionAcceptIn(StrictIn):
    consent_text: str = Field(..., min_length=1, max_length=5000)


class OrganisationIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=200)
    domain: str = Field("", max_length=200)
    country: str = Field("", max_length=2)
    city: str = Field("", max_length=120)


class CustomFieldOut(Schema):
    id: int
    key: str
    label: str
    type: str
    choices: list[str]
    required: bool


class CustomFieldIn(StrictIn):
    key: str = Field(..., min_length=1, max_length=50)
    label: str = Field(..., min_length=1, max_length=120)
    type: CustomFieldType
    choices: list[str] = Field(default_factory=list)
    required: bool = False
