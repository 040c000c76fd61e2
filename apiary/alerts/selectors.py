"""Alert reads: the list (keyset pages, newest first), one alert with its evidence, numbers,
chart series, next actions and history, the live feed, counts, rules and endpoints.

Permission is the caller's, through ``access`` (``alert_for_view`` / ``alerts_require``); the
one rule applied here is that mention *text* is included only for users who may read listening.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.access import Perm, user_has_permission

from .access import alerts_require
from .models import (
    LIVE_STATUSES,
    RATE_KINDS,
    SEVERITY_ORDER,
    Alert,
    AlertAction,
    AlertDelivery,
    AlertEvent,
    AlertRule,
    AlertSubscription,
    Kind,
    Severity,
    Status,
    WebhookEndpoint,
)

MAX_LIMIT = 200
SERIES_HOURS = 24


def _choices(value, allowed, name: str) -> list[str] | None:
    if value in (None, "", []):
        return None
    values = value.split(",") if isinstance(value, str) else list(value)
    values = [v.strip() for v in values if v and v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValidationError(
            {
                name: [
                    _("Unknown value %(v)r; use: %(names)s.")
                    % {"v": bad[0], "names": ", ".join(allowed)}
                ]
            }
        )
    return values or None


def alert_summary(a: Alert) -> dict:
    return {
        "id": a.pk,
        "kind": a.kind,
        "kind_label": str(Kind(a.kind).label),
        "severity": a.severity,
        "status": a.status,
        "title": a.title,
        "rule_id": a.rule_id,
        "query_id": a.query_id,
        "country": a.country,
        "level": a.escalation_level,
        "mention_count": a.mention_count,
        "first_seen_at": a.first_seen_at,
        "last_seen_at": a.last_seen_at,
        "acknowledged_at": a.acknowledged_at,
        "resolved_at": a.resolved_at,
        "auto_resolved": a.auto_resolved,
    }


def alert_list(
    *, user, status=None, kind=None, severity=None, cursor=None, limit: int = 50
) -> dict:
    """``{"items": [summary…], "next_cursor"}``, newest alert first. ``status`` may be a status,
    a list, or ``live`` (open + acknowledged); ``kind`` and ``severity`` a value or a list;
    ``cursor`` is the ``next_cursor`` of the previous page."""
    alerts_require(user, Perm.ALERTS_VIEW)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": [_("Must be from 1 to %(n)s.") % {"n": MAX_LIMIT}]})
    qs = Alert.objects.all()
    if status == "live":
        qs = qs.filter(status__in=LIVE_STATUSES)
    else:
        statuses = _choices(status, Status.values, "status")
        if statuses:
            qs = qs.filter(status__in=statuses)
    kinds = _choices(kind, Kind.values, "kind")
    if kinds:
        qs = qs.filter(kind__in=kinds)
    severities = _choices(severity, Severity.values, "severity")
    if severities:
        qs = qs.filter(severity__in=severities)
    if cursor not in (None, ""):
        try:
            before = int(cursor)
            if before < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise ValidationError({"cursor": [_("Not a cursor from a previous page.")]}) from None
        qs = qs.filter(pk__lt=before)
    rows = list(qs.order_by("-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [alert_summary(a) for a in rows],
        "next_cursor": str(rows[-1].pk) if more and rows else None,
    }


def _evidence(alert: Alert, user) -> list[dict]:
    from apiary.listening.models import Mention

    ids = list(alert.mention_ids or [])
    if alert.mention_id and alert.mention_id not in ids:
        ids.insert(0, alert.mention_id)
    if not ids:
        return []
    can_read = user_has_permission(user, Perm.LISTENING_VIEW)
    rows = Mention.objects.in_bulk(ids)
    out = []
    for i in reversed(ids):  # newest evidence first
        m = rows.get(i)
        if m is None:
            continue  # erased or deleted since
        item = {
            "id": m.pk,
            "platform": m.platform,
            "created_at": m.created_at,
            "sentiment": m.sentiment,
            "intent": m.intent,
            "language": m.language,
            "country": m.country,
            "author_followers": m.author_followers,
            "customer_id": m.customer_id,
        }
        if can_read:
            item.update(
                text=m.text,
                url=m.url,
                author_handle=m.author_handle,
                author_name=m.author_name,
            )
        out.append(item)
    return out


def _series(alert: Alert) -> list[dict]:
    """The alerted series by hour over the last day (rate alerts), from the hourly rollups."""
    if alert.kind not in RATE_KINDS or alert.query_id is None:
        return []
    from apiary.listening.models import MentionRollup

    end = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=SERIES_HOURS)
    qs = MentionRollup.objects.filter(query_id=alert.query_id, hour__gte=start, hour__lt=end)
    if (alert.explanation or {}).get("measure", "negative") == "negative":
        qs = qs.filter(sentiment="negative")
    if alert.country:
        qs = qs.filter(country=alert.country)
    counts = dict(qs.values_list("hour").annotate(n=Sum("count")))
    return [
        {"at": start + timedelta(hours=i), "count": counts.get(start + timedelta(hours=i), 0)}
        for i in range(SERIES_HOURS)
    ]


def alert_history(alert: Alert) -> list[dict]:
    events = [
        {
            "at": e.at,
            "kind": e.kind,
            "user": (e.user.display_name or e.user.email) if e.user else None,
            "data": e.data,
        }
        for e in AlertEvent.objects.filter(alert=alert).select_related("user").order_by("pk")[:500]
    ]
    actions = [
        {
            "at": a.at,
            "kind": "action_performed" if a.ok else "action_refused",
            "user": (a.user.display_name or a.user.email) if a.user else None,
            "data": {"action": a.action_key, "message": a.message, "result": a.result},
        }
        for a in AlertAction.objects.filter(alert=alert).select_related("user")[:500]
    ]
    return sorted(events + actions, key=lambda x: x["at"])


def alert_detail(*, alert: Alert, user) -> dict:
    from . import actions

    return {
        "alert": {
            **alert_summary(alert),
            "rule_name": alert.rule.name if alert.rule else None,
            "customer_id": alert.customer_id,
            "conversation_id": alert.conversation_id,
            "resolution_note": alert.resolution_note,
            "acknowledged_by": _name(alert.acknowledged_by),
            "resolved_by": _name(alert.resolved_by),
        },
        "numbers": alert.explanation,
        "escalation": alert.escalation_history,
        "evidence": _evidence(alert, user),
        "can_read_mentions": user_has_permission(user, Perm.LISTENING_VIEW),
        "series": _series(alert),
        "actions": actions.suggested(alert, user),
        "history": alert_history(alert),
    }


def _name(user) -> str | None:
    return (user.display_name or user.email) if user else None


def alert_events_after(*, after_id, user, limit: int = 200) -> dict:
    """The live feed: events after ``after_id`` with their alert's summary. ``after_id`` 0/None
    starts at the newest event (a fresh page shows the list, then only what is new)."""
    alerts_require(user, Perm.ALERTS_VIEW)
    limit = max(1, min(int(limit), 500))
    if after_id in (None, ""):
        after_id = None
    else:
        try:
            after_id = max(0, int(after_id))
        except (TypeError, ValueError):
            raise ValidationError({"after": [_("Must be an event id.")]}) from None
    if after_id is None:
        last = AlertEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        return {"events": [], "last_id": last}
    rows = list(
        AlertEvent.objects.filter(pk__gt=after_id).select_related("alert").order_by("pk")[:limit]
    )
    return {
        "events": [
            {
                "id": e.pk,
                "kind": e.kind,
                "at": e.at,
                "data": e.data,
                "alert": alert_summary(e.alert),
            }
            for e in rows
        ],
        "last_id": rows[-1].pk if rows else after_id,
    }


def latest_event_id() -> int:
    return AlertEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def open_alert_counts(user) -> dict:
    """Counts of live alerts (for the menu badge and the list's header)."""
    if not user_has_permission(user, Perm.ALERTS_VIEW):
        return {"open": 0, "acknowledged": 0, "live": 0, "by_severity": {}, "by_kind": {}}
    rows = list(
        Alert.objects.filter(status__in=LIVE_STATUSES)
        .values("status", "severity", "kind")
        .annotate(n=Count("pk"))
    )
    out = {"open": 0, "acknowledged": 0, "by_severity": {}, "by_kind": {}}
    for r in rows:
        out[r["status"]] += r["n"]
        out["by_severity"][r["severity"]] = out["by_severity"].get(r["severity"], 0) + r["n"]
        out["by_kind"][r["kind"]] = out["by_kind"].get(r["kind"], 0) + r["n"]
    out["live"] = out["open"] + out["acknowledged"]
    out["highest"] = max(out["by_severity"], key=SEVERITY_ORDER.get, default=None)
    return out


def rule_list() -> list[dict]:
    since = timezone.now() - timedelta(days=7)
    stats = {
        r["rule_id"]: r
        for r in Alert.objects.filter(rule__isnull=False)
        .values("rule_id")
        .annotate(
            week=Count("pk", filter=Q(first_seen_at__gte=since)),
            live=Count("pk", filter=Q(status__in=LIVE_STATUSES)),
        )
    }
    out = []
    for rule in AlertRule.objects.select_related("created_by").order_by("kind", "name"):
        s = stats.get(rule.pk, {})
        out.append(
            {
                "id": rule.pk,
                "name": rule.name,
                "kind": rule.kind,
                "kind_label": str(Kind(rule.kind).label),
                "conditions": rule.conditions,
                "cooldown_minutes": rule.cooldown_minutes,
                "severity": rule.severity,
                "active": rule.active,
                "created_by": _name(rule.created_by),
                "created_at": rule.created_at,
                "updated_at": rule.updated_at,
                "alerts_last_7_days": s.get("week", 0),
                "alerts_live": s.get("live", 0),
            }
        )
    return out


def rule_get(rule_id) -> AlertRule:
    from django.http import Http404

    try:
        return AlertRule.objects.get(pk=int(rule_id))
    except (AlertRule.DoesNotExist, ValueError, TypeError):
        raise Http404("alert rule") from None


def endpoint_list() -> list[dict]:
    from .delivery import FAILING_AFTER, endpoint_stats

    endpoints = list(WebhookEndpoint.objects.order_by("name", "pk"))
    stats = endpoint_stats([e.pk for e in endpoints])
    return [
        {
            "id": e.pk,
            "name": e.name,
            "url": e.url,
            "kinds": e.kinds,
            "min_severity": e.min_severity,
            "active": e.active,
            "failing": e.failing,
            "failing_since": e.failing_since,
            "consecutive_failures": e.consecutive_failures,
            "failing_after": FAILING_AFTER,
            "last_success_at": e.last_success_at,
            "last_failure_at": e.last_failure_at,
            "last_error": e.last_error,
            "deliveries_7_days": stats.get(e.pk, {}),
            "secret_hint": e.secret[:10] + "…",
        }
        for e in endpoints
    ]


def endpoint_get(endpoint_id) -> WebhookEndpoint:
    from django.http import Http404

    try:
        return WebhookEndpoint.objects.get(pk=int(endpoint_id))
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
        raise Http404("webhook endpoint") from None


def subscription_get(user) -> dict:
    sub = AlertSubscription.objects.filter(user=user).first()
    if sub is None:
        return {"email": False, "min_severity": "high", "kinds": []}
    return {"email": sub.email, "min_severity": sub.min_severity, "kinds": sub.kinds}


def alert_list_extras(ids: list[int]) -> dict[int, dict]:
    """What the list rows show beyond the selectors' summaries: the explanation and who
    acknowledged or resolved (one query for the whole page)."""
    if not ids:
        return {}
    rows = Alert.objects.filter(pk__in=ids).values(
        "pk",
        "explanation",
        "acknowledged_by__display_name",
        "acknowledged_by__email",
        "resolved_by__display_name",
        "resolved_by__email",
    )
    out = {}
    for r in rows:
        out[r["pk"]] = {
            "explanation": r["explanation"] or {},
            "acknowledged_by": r["acknowledged_by__display_name"] or r["acknowledged_by__email"],
            "resolved_by": r["resolved_by__display_name"] or r["resolved_by__email"],
        }
    return out


def alert_deliveries(*, alert_id: int) -> list[dict]:
    """The e-mails and webhooks sent (or trying) for one alert."""
    rows = (
        AlertDelivery.objects.filter(alert_id=alert_id)
        .select_related("endpoint", "user")
        .order_by("created_at", "pk")[:200]
    )
    out = []
    for d in rows:
        if d.endpoint is not None:
            target = d.endpoint.name
        elif d.user is not None:
            target = d.user.display_name or d.user.email
        else:
            target = d.target
        out.append(
            {
                "channel": d.channel,
                "channel_label": d.get_channel_display(),
                "target_label": target,
                "event": d.event,
                "level": d.level,
                "status": d.status,
                "status_label": d.get_status_display(),
                "attempts": d.attempts,
                "last_error": d.last_error,
                "response_status": d.response_status,
                "sent_at": d.sent_at,
                "next_attempt_at": d.next_attempt_at,
            }
        )
    return out
