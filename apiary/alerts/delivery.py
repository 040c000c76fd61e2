"""Alert delivery: in-app (the ``AlertEvent`` feed, written by ``services``), e-mail and
outgoing webhooks.

**Scheduling** (``deliveries_schedule``) runs inside the transaction that opened or escalated an
alert: one ``AlertDelivery`` row per alert × target × event × level, inserted with ``ON CONFLICT
DO NOTHING`` on that unique key, so a retried batch or a second detector process never sends
twice. Targets are the active webhook endpoints whose kind and severity filters match, and the
staff users with ``alerts.view`` who opted in to e-mail (``AlertSubscription``).

**Sending** (``deliveries_send_due``) happens in the ``alerts-delivery`` worker, never in the
detectors: a receiver that is down costs that worker a timeout, not a late alert. Each attempt
claims the row (pushes ``next_attempt_at`` out as a lease), sends, and records the outcome. A
failure is retried with exponential back-off (``BACKOFF_BASE`` × 2^(attempt−1), at most
``BACKOFF_MAX``) up to ``MAX_ATTEMPTS``, then the delivery is ``failed``. An endpoint that failed
``FAILING_AFTER`` attempts in a row is marked ``failing`` (shown on the page) until one succeeds.

**Webhook wire format** — ``POST`` with a JSON body::

    {"event": "alert.opened" | "alert.escalated" | "alert.resolved" | "test",
     "delivery_id": 17, "sent_at": "…Z", "alert": {"id", "kind", "severity", "status", "title",
     "level", "url", "explanation", "first_seen_at", "last_seen_at", "mention_count"}}

and the headers ``X-Apiary-Event``, ``X-Apiary-Delivery`` (the same id on every retry: receivers
deduplicate on it), ``X-Apiary-Timestamp: <unix seconds>`` and ``X-Apiary-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the endpoint's secret>`` — the
scheme of the orders webhook (``customers.webhooks.webhook_sign``). Any 2xx is success.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import (
    SEVERITY_ORDER,
    Alert,
    AlertDelivery,
    AlertSubscription,
    Channel,
    DeliveryStatus,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = 10.0  # seconds before the 2nd attempt
BACKOFF_MAX = 3600.0
FAILING_AFTER = 3  # failed attempts in a row → the endpoint is shown as failing
TIMEOUT_SECONDS = 5.0
LEASE_SECONDS = 60.0  # a claimed delivery is not claimed again for this long
BATCH = 50
TARGETS_TTL = 5.0  # seconds the endpoint/subscriber lists are cached per process

_targets_lock = threading.Lock()
_targets: dict = {"at": 0.0, "endpoints": [], "subscribers": []}


def targets_invalidate() -> None:
    with _targets_lock:
        _targets["at"] = 0.0


def _targets_now() -> tuple[list[WebhookEndpoint], list[tuple[int, str, list]]]:
    """(active endpoints, [(user id, min severity, kinds)] of opted-in viewers), cached briefly:
    the ingestion hook schedules deliveries for every new alert and must not re-read these."""
    from apiary.accounts.access import Perm, user_has_permission

    clock = time.monotonic()
    with _targets_lock:
        if clock - _targets["at"] < TARGETS_TTL:
            return _targets["endpoints"], _targets["subscribers"]
    endpoints = list(WebhookEndpoint.objects.filter(active=True))
    subscribers = [
        (s.user_id, s.min_severity, s.kinds)
        for s in AlertSubscription.objects.filter(email=True, user__is_active=True).select_related(
            "user"
        )
        if s.user.email and user_has_permission(s.user, Perm.ALERTS_VIEW)
    ]
    with _targets_lock:
        _targets.update(at=clock, endpoints=endpoints, subscribers=subscribers)
    return endpoints, subscribers


def _wants(kinds: list, min_severity: str, alert: Alert) -> bool:
    if kinds and alert.kind not in kinds:
        return False
    return SEVERITY_ORDER[alert.severity] >= SEVERITY_ORDER[min_severity]


def deliveries_schedule(items: list[tuple[Alert, str]], *, now: datetime | None = None) -> int:
    """Queue e-mail/webhook deliveries for ``(alert, event)`` pairs; returns rows written."""
    if not items:
        return 0
    now = now or timezone.now()
    endpoints, subscribers = _targets_now()
    rows = []
    for alert, event in items:
        for ep in endpoints:
            if _wants(ep.kinds, ep.min_severity, alert):
                rows.append(
                    AlertDelivery(
                        alert=alert,
                        channel=Channel.WEBHOOK,
                        endpoint_id=ep.pk,
                        target=f"webhook:{ep.pk}",
                        event=event,
                        level=alert.escalation_level,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        if event == "resolved":
            continue  # people read resolutions in the app; chat tools get the webhook
        for user_id, min_severity, kinds in subscribers:
            if _wants(kinds, min_severity, alert):
                rows.append(
                    AlertDelivery(
                        alert=alert,
                        channel=Channel.EMAIL,
                        user_id=user_id,
                        target=f"email:{user_id}",
                        event=event,
                        level=alert.escalation_level,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
    if rows:
        AlertDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --- Sending -------------------------------------------------------------------------------


def sign(*, secret: str, timestamp: int | str, body: bytes) -> str:
    from apiary.customers.webhooks import webhook_sign

    return webhook_sign(secret=secret, timestamp=timestamp, body=body)


def alert_url(alert_id: int) -> str:
    base = getattr(settings, "APIARY_BASE_URL", "") or ""
    return f"{base.rstrip('/')}/alerts/{alert_id}/"


def alert_payload(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "level": alert.escalation_level,
        "url": alert_url(alert.pk),
        "explanation": alert.explanation,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "mention_count": alert.mention_count,
    }


def _webhook_body(d: AlertDelivery) -> bytes:
    body = {
        "event": "test" if d.event == "test" else f"alert.{d.event}",
        "delivery_id": d.pk,
        "sent_at": timezone.now().isoformat(),
    }
    if d.alert is not None:
        body["alert"] = alert_payload(d.alert)
    else:
        body["message"] = "Test delivery from Apiary alerts."
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _post_webhook(d: AlertDelivery, endpoint: WebhookEndpoint) -> tuple[bool, int | None, str]:
    import httpx

    body = _webhook_body(d)
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Apiary-Alerts/1",
        "X-Apiary-Event": "test" if d.event == "test" else f"alert.{d.event}",
        "X-Apiary-Delivery": str(d.pk),
        "X-Apiary-Timestamp": str(ts),
        "X-Apiary-Signature": sign(secret=endpoint.secret, timestamp=ts, body=body),
    }
    try:
        response = httpx.post(
            endpoint.url,
            content=body,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return False, None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return True, response.status_code, ""
    return False, response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


def _send_email(d: AlertDelivery) -> tuple[bool, int | None, str]:
    alert, user = d.alert, d.user
    if user is None or not user.email or not user.is_active:
        return False, None, "recipient has no e-mail address or is inactive"
    verb = {"opened": _("New alert"), "escalated": _("Alert escalated")}.get(d.event, _("Alert"))
    subject = f"[Apiary] {verb} ({alert.get_severity_display()}): {alert.title}"[:250]
    lines = [alert.title, ""]
    for key in ("observed", "baseline", "z_score", "window_minutes"):
        if key in alert.explanation:
            lines.append(f"{key}: {alert.explanation[key]}")
    lines += ["", _("Open it: %(url)s") % {"url": alert_url(alert.pk)}]
    try:
        send_mail(subject, "\n".join(lines), None, [user.email])
    except Exception as exc:  # SMTP errors of every kind: retried like a webhook
        return False, None, f"{type(exc).__name__}: {exc}"[:500]
    return True, None, ""


def backoff_seconds(attempts: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1))


def _claim(now: datetime, limit: int) -> list[int]:
    with transaction.atomic():
        qs = AlertDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).order_by("next_attempt_at", "pk")
        if connection.vendor == "postgresql":
            qs = qs.select_for_update(skip_locked=True)
        ids = list(qs.values_list("pk", flat=True)[:limit])
        if ids:
            AlertDelivery.objects.filter(pk__in=ids).update(
                next_attempt_at=now + timedelta(seconds=LEASE_SECONDS)
            )
    return ids


def deliver(*, delivery_id: int) -> str:
    """One attempt of one delivery: ``sent`` | ``retry`` | ``failed`` | ``skipped``."""
    d = (
        AlertDelivery.objects.select_related("alert", "endpoint", "user")
        .filter(pk=delivery_id)
        .first()
    )
    if d is None or d.status != DeliveryStatus.PENDING:
        return "skipped"
    endpoint = d.endpoint
    if d.channel == Channel.WEBHOOK:
        if endpoint is None or not endpoint.active:
            AlertDelivery.objects.filter(pk=d.pk).update(
                status=DeliveryStatus.FAILED, last_error="endpoint inactive or deleted"
            )
            return "failed"
        ok, code, error = _post_webhook(d, endpoint)
    else:
        ok, code, error = _send_email(d)
    now = timezone.now()
    attempts = d.attempts + 1
    if ok:
        AlertDelivery.objects.filter(pk=d.pk).update(
            status=DeliveryStatus.SENT,
            attempts=attempts,
            sent_at=now,
            response_status=code,
            last_error="",
            next_attempt_at=None,
        )
        if endpoint is not None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                failing=False,
                failing_since=None,
                consecutive_failures=0,
                last_success_at=now,
            )
        return "sent"
    final = attempts >= MAX_ATTEMPTS
    AlertDelivery.objects.filter(pk=d.pk).update(
        status=DeliveryStatus.FAILED if final else DeliveryStatus.PENDING,
        attempts=attempts,
        response_status=code,
        last_error=error,
        next_attempt_at=None if final else now + timedelta(seconds=backoff_seconds(attempts)),
    )
    if endpoint is not None:
        _endpoint_failed(endpoint.pk, error, now)
    logger.info("Alert delivery %s attempt %s failed: %s", d.pk, attempts, error)
    return "failed" if final else "retry"


def _endpoint_failed(endpoint_id: int, error: str, now: datetime) -> None:
    from django.db.models import F

    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1, last_failure_at=now, last_error=error
    )
    WebhookEndpoint.objects.filter(
        pk=endpoint_id, failing=False, consecutive_failures__gte=FAILING_AFTER
    ).update(failing=True, failing_since=now)


def deliveries_send_due(*, now: datetime | None = None, limit: int = BATCH, pool=None) -> dict:
    """Send what is due (the worker's tick; tests call it directly). Returns outcome counts."""
    now = now or timezone.now()
    ids = _claim(now, limit)
    counts: dict[str, int] = {}
    if not ids:
        return counts

    def one(i: int) -> str:
        try:
            return deliver(delivery_id=i)
        finally:
            if pool is not None:
                connection.close()

    results = list(pool.map(one, ids)) if pool is not None else [one(i) for i in ids]
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    return counts


def endpoint_test(*, endpoint: WebhookEndpoint) -> dict:
    """One signed test event, sent now (not queued): the page shows the answer at once."""
    now = timezone.now()
    d = AlertDelivery.objects.create(
        alert=None,
        channel=Channel.WEBHOOK,
        endpoint=endpoint,
        target=f"webhook:{endpoint.pk}",
        event="test",
        status=DeliveryStatus.PENDING,
        created_at=now,
        next_attempt_at=None,  # not picked up by the worker: tests are never retried
    )
    ok, code, error = _post_webhook(d, endpoint)
    AlertDelivery.objects.filter(pk=d.pk).update(
        status=DeliveryStatus.SENT if ok else DeliveryStatus.FAILED,
        attempts=1,
        sent_at=now if ok else None,
        response_status=code,
        last_error=error,
    )
    if ok:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            failing=False, failing_since=None, consecutive_failures=0, last_success_at=now
        )
        message = _("The endpoint answered %(code)s.") % {"code": code}
    else:
        message = _("The test delivery failed: %(error)s") % {"error": error}
    return {"ok": ok, "status": code, "error": error, "message": message, "delivery_id": d.pk}


def delivery_worker():
    """``WORKER_FACTORIES`` entry ``alerts-delivery``: send due deliveries about every second,
    a few at a time in parallel so one slow receiver does not hold up the others."""
    stop = threading.Event()

    def run() -> None:
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="apiary-alert-send") as pool:
            while not stop.is_set():
                try:
                    counts = deliveries_send_due(pool=pool)
                except Exception:
                    logger.exception("Alert delivery tick failed")
                    counts = {}
                finally:
                    connection.close()
                if not counts:
                    stop.wait(1.0)

    return run, stop.set


def endpoint_stats(endpoint_ids: list[int], *, days: int = 7) -> dict[int, dict]:
    """Sent / failed / pending deliveries per endpoint over the last ``days`` days."""
    from django.db.models import Count

    since = timezone.now() - timedelta(days=days)
    out = {i: {"sent": 0, "failed": 0, "pending": 0} for i in endpoint_ids}
    rows = (
        AlertDelivery.objects.filter(endpoint_id__in=endpoint_ids, created_at__gte=since)
        .filter(~Q(event="test"))
        .values("endpoint_id", "status")
        .annotate(n=Count("pk"))
    )
    for r in rows:
        out[r["endpoint_id"]][r["status"]] = r["n"]
    return out
