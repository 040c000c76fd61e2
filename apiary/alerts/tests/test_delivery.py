"""Delivery: webhooks signed and verified by a local receiving server, retries with back-off,
the failing state, e-mail to opted-in viewers (locmem), deduplication per level."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.alerts import delivery
from apiary.alerts.models import AlertDelivery, WebhookEndpoint
from apiary.alerts.services import (
    Signal,
    alerts_raise,
    subscription_set,
    webhook_endpoint_create,
    webhook_endpoint_test,
)

pytestmark = pytest.mark.django_db


class Receiver:
    """A tiny local webhook receiver that checks the signature like a real chat tool would."""

    def __init__(self, secret: str, status: int = 200):
        self.secret, self.status, self.got = secret, status, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers["X-Apiary-Timestamp"]
                expected = (
                    "sha256="
                    + hmac.new(
                        outer.secret.encode(), f"{ts}.".encode() + body, hashlib.sha256
                    ).hexdigest()
                )
                ok = hmac.compare_digest(expected, self.headers["X-Apiary-Signature"])
                outer.got.append(
                    {
                        "ok": ok,
                        "body": json.loads(body),
                        "event": self.headers["X-Apiary-Event"],
                        "delivery": self.headers["X-Apiary-Delivery"],
                    }
                )
                self.send_response(outer.status if ok else 401)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(secret="s3cret-s3cret-s3cret", status=200):  # noqa: S107 (a test secret)
        r = Receiver(secret, status)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def _signal(key="spike:test", level=1, severity="high"):
    return Signal(
        kind="crisis_spike",
        dedup_key=key,
        severity=severity,
        title="Crisis: negative spike about Northwind",
        at=timezone.now(),
        explanation={"observed": 40, "baseline": 6.0, "z_score": 9.1, "window_minutes": 5},
        level=level,
        replace_explanation=True,
    )


def test_a_webhook_is_signed_and_verified_by_the_receiver(receiver):
    # given
    r = receiver()
    webhook_endpoint_create(name="Chat", url=r.url, secret=r.secret)
    # when
    alerts_raise([_signal()])
    counts = delivery.deliveries_send_due()
    # then
    assert counts == {"sent": 1}
    (got,) = r.got
    assert got["ok"] and got["event"] == "alert.opened"
    assert got["body"]["alert"]["title"].startswith("Crisis")
    assert got["body"]["alert"]["explanation"]["z_score"] == 9.1
    d = AlertDelivery.objects.get()
    assert d.status == "sent" and d.response_status == 200 and got["delivery"] == str(d.pk)


def test_one_delivery_per_alert_endpoint_and_level(receiver):
    r = receiver()
    webhook_endpoint_create(name="Chat", url=r.url, secret=r.secret)
    alerts_raise([_signal(level=1)])
    alerts_raise([_signal(level=1)])  # the same again: an update, no new delivery
    alerts_raise([_signal(level=2, severity="critical")])  # escalated: one more
    delivery.deliveries_send_due()
    assert [g["event"] for g in r.got] == ["alert.opened", "alert.escalated"]
    assert AlertDelivery.objects.count() == 2


def test_filters_by_kind_and_severity(receiver):
    r = receiver()
    webhook_endpoint_create(name="Leads only", url=r.url, secret=r.secret, kinds=["lead"])
    webhook_endpoint_create(name="Critical", url=r.url, secret=r.secret, min_severity="critical")
    alerts_raise([_signal(severity="high")])
    assert AlertDelivery.objects.count() == 0


def test_a_receiver_that_is_down_is_retried_with_backoff_then_marked_failing(receiver):
    # given: a receiver answering 500
    r = receiver(status=500)
    ep = webhook_endpoint_create(name="Down", url=r.url, secret=r.secret)
    alerts_raise([_signal()])
    # when: attempts as they fall due
    waits = []
    for _attempt in range(delivery.MAX_ATTEMPTS):
        d = AlertDelivery.objects.get()
        assert d.status == "pending"
        delivery.deliveries_send_due(now=(d.next_attempt_at or timezone.now()))
        d.refresh_from_db()
        if d.next_attempt_at:
            waits.append(round((d.next_attempt_at - timezone.now()).total_seconds()))
    # then
    d = AlertDelivery.objects.get()
    assert d.status == "failed" and d.attempts == delivery.MAX_ATTEMPTS
    assert "HTTP 500" in d.last_error
    assert len(r.got) == delivery.MAX_ATTEMPTS
    assert waits == sorted(waits) and waits[1] >= 2 * waits[0] - 1  # exponential back-off
    ep.refresh_from_db()
    assert ep.failing and ep.consecutive_failures == delivery.MAX_ATTEMPTS


def test_a_connection_refused_is_a_failure_not_a_crash(db):
    ep = webhook_endpoint_create(name="Nowhere", url="http://127.0.0.1:9/hook")
    alerts_raise([_signal()])
    for _ in range(delivery.FAILING_AFTER):
        d = AlertDelivery.objects.get()
        delivery.deliveries_send_due(now=d.next_attempt_at)
    ep.refresh_from_db()
    assert ep.failing and ep.failing_since is not None
    assert "ConnectError" in ep.last_error or "Connect" in ep.last_error


def test_a_success_clears_the_failing_state(receiver):
    r = receiver()
    ep = webhook_endpoint_create(name="Flaky", url=r.url, secret=r.secret)
    WebhookEndpoint.objects.filter(pk=ep.pk).update(
        failing=True, consecutive_failures=5, failing_since=timezone.now()
    )
    result = webhook_endpoint_test(endpoint_id=ep.pk)
    assert result["ok"] and result["status"] == 200
    assert r.got[0]["event"] == "test" and r.got[0]["ok"]
    ep.refresh_from_db()
    assert not ep.failing and ep.consecutive_failures == 0


def test_the_test_delivery_reports_a_failure_clearly(receiver):
    r = receiver(secret="another-secret-entirely")
    ep = webhook_endpoint_create(name="Wrong secret", url=r.url, secret="s3cret-s3cret-s3cret")
    result = webhook_endpoint_test(endpoint_id=ep.pk)
    assert not result["ok"] and result["status"] == 401
    assert "401" in result["message"]


def test_email_goes_to_opted_in_viewers_only(make_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    agent = make_user(Role.CARE_AGENT, email="agent@example.com")
    quiet = make_user(Role.CARE_AGENT, email="quiet@example.com")
    member = make_user(Role.MEMBER, email="member@example.com")
    subscription_set(user=agent, email=True, min_severity="medium")
    subscription_set(user=quiet, email=False)
    subscription_set(user=member, email=True, min_severity="low")  # no alerts.view: never
    alerts_raise([_signal(severity="high")])
    delivery.deliveries_send_due()
    assert [m.to for m in mail.outbox] == [["agent@example.com"]]
    assert "Crisis" in mail.outbox[0].subject and "/alerts/" in mail.outbox[0].body


def test_delivery_rows_never_block_detection(receiver, django_assert_max_num_queries):
    # Scheduling is one insert per batch of alerts, whatever the receivers' state.
    r = receiver(status=500)
    for i in range(3):
        webhook_endpoint_create(name=f"Down {i}", url=r.url, secret=r.secret)
    delivery.targets_invalidate()
    alerts_raise([_signal(key="warm")])
    with django_assert_max_num_queries(12):
        alerts_raise([_signal(key=f"k{i}") for i in range(20)])
    assert AlertDelivery.objects.filter(status="pending").count() == 63
    assert not r.got  # nothing was sent from the detector's transaction


def test_backoff_grows_and_is_capped():
    assert delivery.backoff_seconds(1) == delivery.BACKOFF_BASE
    assert delivery.backoff_seconds(2) == 2 * delivery.BACKOFF_BASE
    assert delivery.backoff_seconds(50) == delivery.BACKOFF_MAX
    assert timedelta(seconds=delivery.backoff_seconds(3)) == timedelta(seconds=40)
