"""The signed orders webhook: ``POST /api/v1/orders/webhook``.

Signature scheme (what a shop must send)::

    X-Apiary-Timestamp: <unix seconds, e.g. 1717171717>
    X-Apiary-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body bytes>" keyed with
                        APIARY_ORDERS_WEBHOOK_SECRET>

In Python: ``hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()``.

Checks, in order: the secret is configured (else 503 ``webhook_disabled``); both headers are
present (401 ``missing_signature``); the timestamp is within
``APIARY_WEBHOOK_TOLERANCE_SECONDS`` (300) of our clock (401 ``stale_timestamp``); the signature
matches, compared in constant time (401 ``bad_signature``); the body is JSON (400
``malformed_body``); the exact delivery (timestamp + body) was not accepted before (409
``replayed``). Receipts older than a day are pruned: by then the timestamp check refuses them.

Body: one order object, or ``{"orders": [...]}``. The answer is 200 with one result per order,
in order: ``{"results": [{"external_id", "status": "created"|"updated"|"rejected",
"reason"?}]}`` — a rejected order does not stop the others. Orders are upserted by external id,
so a shop that re-sends an order with a new timestamp updates it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.services import audit_record
from apiary.core.errors import ApiError
from apiary.customers.models import WebhookReceipt
from apiary.customers.services.orders import order_row_validate, orders_upsert, validation_reason

SOURCE = "orders"
RECEIPT_MAX_AGE = timedelta(days=1)
MAX_ORDERS = 1000


def webhook_sign(*, secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Apiary-Signature`` value for a body (used by senders and by the tests)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook_verify(
    *, secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """Raise ApiError unless the delivery is signed with ``secret`` and fresh."""
    if not secret:
        raise ApiError(
            503,
            "webhook_disabled",
            _("The orders webhook is not configured: set APIARY_ORDERS_WEBHOOK_SECRET."),
        )
    if not timestamp or not signature:
        raise ApiError(
            401,
            "missing_signature",
            _("Send the X-Apiary-Timestamp and X-Apiary-Signature headers."),
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise ApiError(
            401, "stale_timestamp", _("X-Apiary-Timestamp must be unix seconds.")
        ) from None
    if abs(now - sent_at) > settings.APIARY_WEBHOOK_TOLERANCE_SECONDS:
        raise ApiError(401, "stale_timestamp", _("timestamp outside tolerance"))
    expected = webhook_sign(secret=secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise ApiError(401, "bad_signature", _("The signature does not match the body."))


def _orders_from(body: bytes) -> list:
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "malformed_body", _("The request body is not valid JSON. (%s)") % exc
        ) from None
    if isinstance(data, dict) and "orders" in data:
        data = data["orders"]
        if not isinstance(data, list):
            raise ApiError(400, "malformed_body", _('"orders" must be a list of order objects.'))
        if len(data) > MAX_ORDERS:
            raise ApiError(
                400,
                "too_many_orders",
                _("Send at most %(n)d orders per delivery.") % {"n": MAX_ORDERS},
            )
        return data
    if isinstance(data, dict):
        return [data]
    raise ApiError(400, "malformed_body", _('Send one order object or {"orders": [order, ...]}.'))


def orders_webhook_receive(*, body: bytes, timestamp: str | None, signature: str | None) -> dict:
    """Verify, de-duplicate and apply one delivery; returns the per-order results."""
    webhook_verify(
        secret=settings.APIARY_ORDERS_WEBHOOK_SECRET,
        timestamp=timestamp,
        signature=signature,
        body=body,
        now=time.time(),
    )
    orders = _orders_from(body)
    digest = hashlib.sha256(f"{timestamp}.".encode() + body).hexdigest()
    results: list[dict] = []
    valid = []
    for raw in orders:
        ext = raw.get("external_id") if isinstance(raw, dict) else None
        known = isinstance(ext, str | int) and not isinstance(ext, bool)
        result = {"external_id": str(ext) if known else None}
        try:
            valid.append((result, order_row_validate(raw)))
        except ValidationError as exc:
            result.update(status="rejected", reason=validation_reason(exc))
        results.append(result)
    # The receipt and the orders commit together: a delivery that failed may be retried.
    with transaction.atomic():
        try:
            with transaction.atomic():
                WebhookReceipt.objects.create(source=SOURCE, digest=digest)
        except IntegrityError:
            raise ApiError(
                409, "replayed", _("This delivery was already accepted (same timestamp and body).")
            ) from None
        upserted = orders_upsert(rows=[row for _r, row in valid], source="webhook")
        audit_record(
            actor=None,
            action="orders.webhook",
            target_type="webhook",
            target_id=digest[:16],
            summary=f"{len(valid)} accepted, {len(results) - len(valid)} rejected",
        )
    for (result, row), outcome in zip(valid, upserted.outcomes, strict=True):
        result.update(external_id=row.external_id, status=outcome)
    WebhookReceipt.objects.filter(
        source=SOURCE, received_at__lt=timezone.now() - RECEIPT_MAX_AGE
    ).delete()
    return {"results": results}
