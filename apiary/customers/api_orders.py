"""Orders API, mounted at ``/api/v1/orders``: list, read, create-or-update, and the webhook."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from apiary.accounts.access import Perm, api_require
from apiary.core.pagination import LimitOffset
from apiary.core.schemas import StrictIn
from apiary.customers import selectors
from apiary.customers.models import Order
from apiary.customers.services.orders import order_row_validate, order_upsert_one
from apiary.customers.webhooks import orders_webhook_receive

router = Router(tags=["orders"])


class OrderItem(Schema):
    sku: str
    name: str = ""
    quantity: int
    price: str


class OrderOut(Schema):
    id: int
    external_id: str
    customer_id: int | None
    ordered_at: datetime
    currency: str
    total: str = Field(..., description='Decimal as a string, exact (e.g. "12.50").')
    items: list[OrderItem]
    channel: str
    referral_code: str

    @staticmethod
    def resolve_total(obj: Order) -> str:
        return f"{obj.total:.2f}"


class OrderIn(StrictIn):
    """Loosely typed on purpose: the one row validator (shared with files and the webhook)
    checks every value and names the field in its 422."""

    external_id: str | int
    customer_external_id: str | int | None = None
    customer_email: str | None = None
    ordered_at: str = Field(..., description="ISO 8601 date or date-time; naive means UTC.")
    currency: str = Field(..., description="ISO 4217 code, e.g. EUR.")
    total: str | int | float = Field(
        ..., description="≥ 0, at most 2 decimals; a string keeps it exact."
    )
    items: list[dict[str, Any]] = Field(default_factory=list)
    channel: str = ""
    referral_code: str = ""


class WebhookResult(Schema):
    external_id: str | None
    status: str
    reason: str | None = None


class WebhookOut(Schema):
    results: list[WebhookResult]


@router.get("", response=list[OrderOut], summary="List orders")
@paginate(LimitOffset)
def order_list(
    request,
    customer_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    currency: str | None = None,
    referral_code: str | None = None,
    min_total: Decimal | None = None,
):
    """Newest first. ``since`` is inclusive, ``until`` exclusive; naive times are UTC."""
    api_require(request, Perm.CUSTOMERS_VIEW)
    return selectors.order_list(
        customer_id=customer_id,
        since=since,
        until=until,
        channel=channel,
        currency=currency,
        referral_code=referral_code,
        min_total=min_total,
    )


@router.get("/{int:order_id}", response=OrderOut, summary="One order")
def order_get(request, order_id: int):
    api_require(request, Perm.CUSTOMERS_VIEW)
    return get_object_or_404(Order, pk=order_id)


@router.post(
    "", response={200: OrderOut, 201: OrderOut}, summary="Create or update an order by external id"
)
def order_upsert(request, payload: OrderIn):
    """201 when the external id is new, 200 when it updated an existing order."""
    user = api_require(request, Perm.CUSTOMERS_EDIT)
    row = order_row_validate(payload.dict())  # ValidationError → 422 naming each field
    order, created = order_upsert_one(row=row, source="api", actor=user)
    return Status(201 if created else 200, order)


@router.post(
    "/webhook",
    auth=None,
    response={200: WebhookOut},
    summary="Signed orders webhook (HMAC-SHA256)",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": 'One order object, or {"orders": [order, ...]}.',
        }
    },
)
def order_webhook(request):
    """Headers: ``X-Apiary-Timestamp`` (unix seconds) and ``X-Apiary-Signature:
    sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the shared secret>``.
    401 bad/missing/stale signature, 409 ``replayed``, 503 when no secret is configured."""
    return orders_webhook_receive(
        body=request.body,
        timestamp=request.headers.get("X-Apiary-Timestamp"),
        signature=request.headers.get("X-Apiary-Signature"),
    )
