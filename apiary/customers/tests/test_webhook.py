"""The signed orders webhook: signature, freshness, replay, per-order results."""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apiary.customers.models import Order, WebhookReceipt
from apiary.customers.webhooks import webhook_sign

URL = "/api/v1/orders/webhook"
SECRET = "test-webhook-secret"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.APIARY_ORDERS_WEBHOOK_SECRET = SECRET


def order(external_id="H-1", **changes):
    return {
        "external_id": external_id,
        "customer_email": "hook@example.com",
        "ordered_at": "2024-04-01T12:00:00Z",
        "currency": "EUR",
        "total": "30.00",
        **changes,
    }


def deliver(payload, *, timestamp=None, secret=SECRET, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "X-Apiary-Timestamp": timestamp,
        "X-Apiary-Signature": signature
        or webhook_sign(secret=secret, timestamp=timestamp, body=body),
    }
    return Client(headers=headers).post(URL, data=body, content_type="application/json")


def test_a_signed_delivery_creates_the_order():
    # when
    res = deliver(order())
    # then
    assert res.status_code == 200, res.content
    assert res.json() == {"results": [{"external_id": "H-1", "status": "created", "reason": None}]}
    assert Order.objects.get(external_id="H-1").total == Decimal("30.00")
    assert WebhookReceipt.objects.filter(source="orders").count() == 1


def test_a_batch_with_good_and_bad_orders_answers_per_order():
    # when
    res = deliver(
        {
            "orders": [
                order("H-1"),
                order("H-2", total="-3"),
                order("H-3", currency="XXX", ordered_at="someday"),
                {"external_id": 17},
                "not an object",
                order("H-1", total="31.00"),
            ]
        }
    )
    # then
    assert res.status_code == 200, res.content
    results = res.json()["results"]
    assert [(r["external_id"], r["status"]) for r in results] == [
        ("H-1", "created"),
        ("H-2", "rejected"),
        ("H-3", "rejected"),
        ("17", "rejected"),
        (None, "rejected"),
        ("H-1", "updated"),
    ]
    assert results[1]["reason"] == "total: must not be negative (got -3)"
    assert "ordered_at:" in results[2]["reason"]
    assert "currency:" in results[2]["reason"]
    assert results[4]["reason"] == "body: must be an object"
    assert list(Order.objects.values_list("external_id", "total")) == [("H-1", Decimal("31.00"))]


def test_the_same_order_in_a_new_delivery_is_updated_not_duplicated():
    deliver(order(total="10.00"))
    res = deliver(order(total="12.00", channel="pos"), timestamp=int(time.time()) + 1)
    assert res.json()["results"][0]["status"] == "updated"
    assert Order.objects.get().total == Decimal("12.00")


def test_a_replayed_delivery_is_a_409_and_changes_nothing():
    # given
    timestamp = int(time.time())
    deliver(order(total="10.00"), timestamp=timestamp)
    Order.objects.update(total=Decimal("99.00"))
    # when
    res = deliver(order(total="10.00"), timestamp=timestamp)
    # then
    assert res.status_code == 409
    assert res.json()["code"] == "replayed"
    assert Order.objects.get().total == Decimal("99.00")


def test_a_wrong_signature_is_a_401_and_writes_nothing():
    res = deliver(order(), secret="not-the-secret")
    assert res.status_code == 401
    assert res.json()["code"] == "bad_signature"
    res = deliver(order(), signature="sha256=" + "0" * 64)
    assert res.status_code == 401
    assert not Order.objects.exists()
    assert not WebhookReceipt.objects.exists()


def test_a_body_changed_after_signing_is_refused():
    body = json.dumps(order()).encode()
    timestamp = str(int(time.time()))
    signature = webhook_sign(secret=SECRET, timestamp=timestamp, body=body)
    res = deliver(
        None, raw=body.replace(b"30.00", b"0.01"), timestamp=timestamp, signature=signature
    )
    assert res.status_code == 401


def test_missing_headers_are_a_401():
    res = Client().post(URL, data=json.dumps(order()), content_type="application/json")
    assert res.status_code == 401
    assert res.json()["code"] == "missing_signature"
    assert "X-Apiary-Signature" in res.json()["detail"]


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_stale_or_future_timestamp_is_a_401(offset):
    res = deliver(order(), timestamp=int(time.time()) + offset)
    assert res.status_code == 401
    assert res.json() == {"detail": "timestamp outside tolerance", "code": "stale_timestamp"}


def test_a_timestamp_that_is_not_a_number_is_a_401():
    res = deliver(order(), timestamp="yesterday")
    assert res.status_code == 401


def test_malformed_json_with_a_valid_signature_is_a_400():
    res = deliver(None, raw=b'{"external_id": ')
    assert res.status_code == 400
    assert res.json()["code"] == "malformed_body"


@pytest.mark.parametrize("payload", [[order()], {"orders": {"a": 1}}, "text"])
def test_a_body_of_the_wrong_shape_is_a_400(payload):
    res = deliver(payload)
    assert res.status_code == 400
    assert res.json()["code"] == "malformed_body"


def test_without_a_configured_secret_every_call_is_a_503(settings):
    settings.APIARY_ORDERS_WEBHOOK_SECRET = ""
    res = deliver(order(), secret="")
    assert res.status_code == 503
    assert res.json()["code"] == "webhook_disabled"
    assert "APIARY_ORDERS_WEBHOOK_SECRET" in res.json()["detail"]
    assert not Order.objects.exists()


def test_old_receipts_are_pruned_on_the_next_delivery():
    # given
    old = WebhookReceipt.objects.create(source="orders", digest="a" * 64)
    WebhookReceipt.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=2))
    # when
    deliver(order())
    # then
    assert not WebhookReceipt.objects.filter(pk=old.pk).exists()
    assert WebhookReceipt.objects.count() == 1


def test_each_accepted_delivery_leaves_an_audit_entry():
    # given
    from apiary.accounts.models import AuditEntry

    # when
    res = deliver({"orders": [order("AUD-1"), {"external_id": "AUD-2"}]})
    # then
    assert res.status_code == 200, res.content
    entry = AuditEntry.objects.get(action="orders.webhook")
    assert entry.summary == "1 accepted, 1 rejected"
