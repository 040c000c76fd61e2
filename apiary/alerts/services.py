"""Alert writes: rules, raising and updating alerts (the detectors' one way in), acknowledging
and resolving, e-mail subscriptions and webhook endpoints.

``alerts_raise`` is the chokepoint every detector goes through: it turns *signals* into alerts,
deduplicated by ``dedup_key`` among live alerts (a partial unique index backs it), honours the
rule's cooldown, escalates severity, appends evidence, writes the live-feed events and schedules
the e-mail/webhook deliveries — all in the caller's transaction, in a few bulk statements, so it
is cheap enough for the ingestion hook and harmless when a batch is retried.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.services import audit_record

from . import conditions as cond
from .models import (
    LIVE_STATUSES,
    SEVERITY_ORDER,
    Alert,
    AlertEvent,
    AlertRule,
    AlertSubscription,
    Kind,
    Severity,
    Status,
    WebhookEndpoint,
)

MAX_EVIDENCE = 50  # mention ids kept on an alert (mention_count keeps counting)
MAX_COOLDOWN_MINUTES = 7 * 24 * 60


class AlertStateError(Exception):
    """An acknowledge/resolve that does not fit the alert's state (the API answers 409)."""


# --- Rules ---------------------------------------------------------------------------------


def rule_conditions_validate(kind: str, conditions) -> dict:
    """Cleaned conditions or ``ValidationError`` with per-field messages (see ``conditions``)."""
    return cond.conditions_validate(kind, conditions)


def _rule_clean(*, name, kind, conditions, cooldown_minutes, severity, active, exclude_pk=None):
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip():
        errors["name"] = [_("A rule needs a name.")]
    elif len(name.strip()) > 120:
        errors["name"] = [_("At most 120 characters.")]
    elif AlertRule.objects.filter(name__iexact=name.strip()).exclude(pk=exclude_pk).exists():
        errors["name"] = [_("Another rule already has this name.")]
    if kind not in Kind.values:
        errors["kind"] = [_("Unknown kind; use one of: %(names)s.") % {"names": ", ".join(Kind)}]
    if (
        isinstance(cooldown_minutes, bool)
        or not isinstance(cooldown_minutes, int)
        or not 0 <= cooldown_minutes <= MAX_COOLDOWN_MINUTES
    ):
        errors["cooldown_minutes"] = [
            _("Must be a whole number of minutes from 0 to %(max)s.")
            % {"max": MAX_COOLDOWN_MINUTES}
        ]
    if severity not in Severity.values:
        errors["severity"] = [_("Must be one of: %(names)s.") % {"names": ", ".join(Severity)}]
    if not isinstance(active, bool):
        errors["active"] = [_("Must be true or false.")]
    cleaned = {}
    if "kind" not in errors:
        try:
            cleaned = cond.conditions_validate(kind, conditions)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(f"conditions.{key}" if key != "conditions" else key, []).extend(
                    messages
                )
    if errors:
        raise ValidationError(errors)
    return name.strip(), cleaned


def rule_create(
    *,
    name: str,
    kind: str,
    conditions: dict | None = None,
    cooldown_minutes: int = 60,
    severity: str = "medium",
    active: bool = True,
    actor=None,
) -> AlertRule:
    name, cleaned = _rule_clean(
        name=name,
        kind=kind,
        conditions=conditions,
        cooldown_minutes=cooldown_minutes,
        severity=severity,
        active=active,
    )
    rule = AlertRule.objects.create(
        name=name,
        kind=kind,
        conditions=cleaned,
        cooldown_minutes=cooldown_minutes,
        severity=severity,
        active=active,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        action="alerts.rule_create",
        target_type="alert_rule",
        target_id=rule.pk,
        summary=rule.name,
    )
    _rules_changed()
    return rule


def _rule_get(rule=None, rule_id=None) -> AlertRule:
    if rule is not None:
        return rule
    try:
        return AlertRule.objects.get(pk=rule_id)
    except (AlertRule.DoesNotExist, ValueError, TypeError):
        from django.http import Http404

        raise Http404("alert rule") from None


_RULE_FIELDS = ("name", "kind", "conditions", "cooldown_minutes", "severity", "active")


def rule_update(
    *, rule: AlertRule | None = None, rule_id: int | None = None, actor=None, **changes
):
    rule = _rule_get(rule, rule_id)
    unknown = set(changes) - set(_RULE_FIELDS)
    if unknown:
        raise ValidationError({k: [_("This field cannot be changed.")] for k in sorted(unknown)})
    values = {f: changes.get(f, getattr(rule, f)) for f in _RULE_FIELDS}
    name, cleaned = _rule_clean(**values, exclude_pk=rule.pk)
    rule.name = name
    rule.kind = values["kind"]
    rule.conditions = cleaned
    rule.cooldown_minutes = values["cooldown_minutes"]
    rule.severity = values["severity"]
    rule.active = values["active"]
    rule.save()
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        action="alerts.rule_update",
        target_type="alert_rule",
        target_id=rule.pk,
        summary=rule.name,
        data={"fields": sorted(changes)},
    )
    _rules_changed()
    return rule


def rule_delete(*, rule: AlertRule | None = None, rule_id: int | None = None, actor=None) -> None:
    rule = _rule_get(rule, rule_id)
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        action="alerts.rule_delete",
        target_type="alert_rule",
        target_id=rule.pk,
        summary=rule.name,
    )
    rule.delete()  # its alerts stay (rule = NULL): history is not rewritten
    _rules_changed()


def _rules_changed() -> None:
    from .detectors import rulebook

    rulebook.invalidate()


def rule_preview(*, kind: str, conditions, cooldown_minutes: int = 60, days: int = 7) -> dict:
    """ "This rule would have fired N times in the last ``days`` days": see ``preview.py``."""
    from .preview import preview

    return preview(kind=kind, conditions=conditions, cooldown_minutes=cooldown_minutes, days=days)


# --- Raising alerts ------------------------------------------------------------------------


@dataclass
class Signal:
    """What a detector saw: one alert to open, or to update if it is already open."""

    kind: str
    dedup_key: str
    severity: str
    title: str
    at: datetime
    rule_id: int | None = None
    cooldown_minutes: int = 0
    explanation: dict = field(default_factory=dict)
    mention_ids: list[int] = field(default_factory=list)
    query_id: int | None = None
    country: str = ""
    mention_id: int | None = None
    customer_id: int | None = None
    conversation_id: int | None = None
    level: int = 1
    suggested_actions: list[str] = field(default_factory=list)
    # Rate detectors send their latest numbers on every update; mention detectors keep the
    # first explanation and only add evidence.
    replace_explanation: bool = False


@dataclass
class Raised:
    alert: Alert
    outcome: str  # "opened" | "updated" | "escalated"


def _merge(signals: list[Signal]) -> dict[str, Signal]:
    merged: dict[str, Signal] = {}
    for s in signals:
        first = merged.get(s.dedup_key)
        if first is None:
            merged[s.dedup_key] = Signal(**{**s.__dict__, "mention_ids": list(s.mention_ids)})
            continue
        first.mention_ids.extend(i for i in s.mention_ids if i not in first.mention_ids)
        if SEVERITY_ORDER[s.severity] > SEVERITY_ORDER[first.severity]:
            first.severity = s.severity
        first.level = max(first.level, s.level)
        first.at = max(first.at, s.at)
        if s.replace_explanation:
            first.explanation = s.explanation
    return merged


def _in_cooldown(merged: dict[str, Signal], live_keys: set[str]) -> set[str]:
    """Keys whose thing alerted (and was resolved) within its cooldown: suppressed.

    Measured on the signal's own time (the mention's, the detector's minute), so replaying
    stored history decides exactly as the live stream did, and the preview agrees."""
    candidates = {k: s for k, s in merged.items() if k not in live_keys and s.cooldown_minutes}
    if not candidates:
        return set()
    oldest = min(s.at - timedelta(minutes=s.cooldown_minutes) for s in candidates.values())
    rows = (
        Alert.objects.filter(dedup_key__in=list(candidates), first_seen_at__gt=oldest)
        .values("dedup_key")
        .annotate(last=Max("first_seen_at"))
    )
    out = set()
    for row in rows:
        s = candidates[row["dedup_key"]]
        # A clock that went backwards leaves "last" after s.at: still suppressed, never a
        # negative wait that lets a storm through.
        if row["last"] > s.at - timedelta(minutes=s.cooldown_minutes):
            out.add(row["dedup_key"])
    return out


def _history_entry(level: int, severity: str, at: datetime, explanation: dict) -> dict:
    entry = {"level": level, "severity": severity, "at": at.isoformat()}
    for k in ("observed", "baseline", "z_score"):
        if k in explanation:
            entry[k] = explanation[k]
    return entry


def alerts_raise(signals: list[Signal], *, now: datetime | None = None) -> list[Raised]:
    """Open or update one alert per ``dedup_key`` (call inside a transaction)."""
    if not signals:
        return []
    now = now or timezone.now()
    merged = _merge(signals)
    live = {
        a.dedup_key: a
        for a in Alert.objects.select_for_update()
        .filter(dedup_key__in=list(merged), status__in=LIVE_STATUSES)
        .order_by("pk")  # one lock order for every process: no deadlocks between batches
    }
    suppressed = _in_cooldown(merged, set(live))
    raised: list[Raised] = []
    events: list[AlertEvent] = []
    fresh = [s for k, s in merged.items() if k not in live and k not in suppressed]
    opened, lost = _open_many(fresh, now)
    for alert in opened:
        raised.append(Raised(alert, "opened"))
        events.append(
            AlertEvent(
                alert=alert,
                kind="opened",
                data={"severity": alert.severity, "level": alert.escalation_level},
                at=now,
            )
        )
    # Keys another process opened a moment ago: update those alerts instead.
    for alert in Alert.objects.filter(dedup_key__in=lost, status__in=LIVE_STATUSES):
        live[alert.dedup_key] = alert
    for key, s in merged.items():
        alert = live.get(key)
        if alert is None:
            continue
        outcome = _update(alert, s, now)
        raised.append(Raised(alert, outcome))
        events.append(
            AlertEvent(
                alert=alert,
                kind=outcome,
                data={
                    "severity": alert.severity,
                    "level": alert.escalation_level,
                    "mention_count": alert.mention_count,
                },
                at=now,
            )
        )
    AlertEvent.objects.bulk_create(events)
    from . import delivery

    delivery.deliveries_schedule(
        [(r.alert, r.outcome) for r in raised if r.outcome in ("opened", "escalated")], now=now
    )
    return raised


def _open_many(signals: list[Signal], now: datetime) -> tuple[list[Alert], list[str]]:
    """Insert the new alerts in one statement; if a concurrent process opened one of them
    first (the live-key index refuses it), insert one by one and report the keys lost."""
    if not signals:
        return [], []
    rows = [_new_alert(s, now) for s in signals]
    try:
        # A savepoint: a refused insert undoes only itself, never the caller's transaction
        # (the ingestion batch).
        with transaction.atomic():
            Alert.objects.bulk_create(rows)
        if all(a.pk for a in rows):
            return rows, []
        keys = [a.dedup_key for a in rows]  # a backend without RETURNING: read the ids back
        return list(Alert.objects.filter(dedup_key__in=keys, status__in=LIVE_STATUSES)), []
    except IntegrityError:
        pass
    opened, lost = [], []
    for s in signals:
        alert = _open(s, now)
        if alert is None:
            lost.append(s.dedup_key)
        else:
            opened.append(alert)
    return opened, lost


def _open(s: Signal, now: datetime) -> Alert | None:
    alert = _new_alert(s, now)
    try:
        with transaction.atomic():
            alert.save(force_insert=True)
    except IntegrityError:
        return None
    return alert


def _new_alert(s: Signal, now: datetime) -> Alert:
    return Alert(
        kind=s.kind,
        rule_id=s.rule_id,
        severity=s.severity,
        status=Status.OPEN,
        title=s.title[:300],
        dedup_key=s.dedup_key,
        explanation=s.explanation,
        mention_ids=s.mention_ids[-MAX_EVIDENCE:],
        mention_count=len(s.mention_ids),
        query_id=s.query_id,
        country=s.country,
        mention_id=s.mention_id,
        customer_id=s.customer_id,
        conversation_id=s.conversation_id,
        escalation_level=s.level,
        escalation_history=[_history_entry(s.level, s.severity, s.at, s.explanation)],
        suggested_actions=s.suggested_actions,
        first_seen_at=s.at,
        last_seen_at=s.at,
        created_at=now,
        updated_at=now,
    )


def _update(alert: Alert, s: Signal, now: datetime) -> str:
    outcome = "updated"
    new_ids = [i for i in s.mention_ids if i not in alert.mention_ids]
    alert.mention_ids = (alert.mention_ids + new_ids)[-MAX_EVIDENCE:]
    alert.mention_count += len(new_ids)
    alert.last_seen_at = max(alert.last_seen_at, s.at)
    if s.replace_explanation:
        alert.explanation = {**alert.explanation, **s.explanation}
    escalated = s.level > alert.escalation_level or (
        SEVERITY_ORDER[s.severity] > SEVERITY_ORDER[alert.severity]
    )
    if escalated:
        alert.escalation_level = max(alert.escalation_level + 1, s.level)
        if SEVERITY_ORDER[s.severity] > SEVERITY_ORDER[alert.severity]:
            alert.severity = s.severity
        alert.escalation_history = [
            *alert.escalation_history,
            _history_entry(alert.escalation_level, alert.severity, s.at, s.explanation),
        ]
        if alert.status == Status.ACKNOWLEDGED:
            # It got worse after someone looked: put it back in front of people.
            alert.status = Status.OPEN
        outcome = "escalated"
    alert.updated_at = now
    alert.save()
    return outcome


def alert_auto_resolve(*, alert: Alert, numbers: dict | None = None, note: str = "") -> Alert:
    """A detector saw the thing end (volume back to normal, the customer answered)."""
    if alert.status == Status.RESOLVED:
        return alert
    now = timezone.now()
    alert.status = Status.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = None
    alert.auto_resolved = True
    alert.resolution_note = note
    if numbers:
        alert.explanation = {**alert.explanation, "at_resolution": numbers}
    alert.updated_at = now
    alert.save()
    AlertEvent.objects.create(
        alert=alert, kind="resolved", data={"auto": True, "severity": alert.severity}, at=now
    )
    from . import delivery

    delivery.deliveries_schedule([(alert, "resolved")], now=now)
    return alert


# --- People acting on alerts ---------------------------------------------------------------


def _alert_locked(alert_id: int) -> Alert:
    try:
        return Alert.objects.select_for_update().get(pk=alert_id)
    except (Alert.DoesNotExist, ValueError, TypeError):
        from django.http import Http404

        raise Http404("alert") from None


@transaction.atomic
def alert_acknowledge(*, alert_id: int, user) -> Alert:
    alert = _alert_locked(alert_id)
    if alert.status == Status.RESOLVED:
        raise AlertStateError(_("This alert is already resolved."))
    if alert.status == Status.ACKNOWLEDGED:
        return alert  # idempotent: a double click is not an error
    now = timezone.now()
    alert.status = Status.ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.acknowledged_by = user
    alert.updated_at = now
    alert.save()
    AlertEvent.objects.create(alert=alert, kind="acknowledged", user=user, at=now)
    return alert


@transaction.atomic
def alert_resolve(*, alert_id: int, user, note: str = "") -> Alert:
    alert = _alert_locked(alert_id)
    if not isinstance(note, str):
        raise ValidationError({"note": [_("Must be a string.")]})
    if len(note) > 2000:
        raise ValidationError({"note": [_("At most 2,000 characters.")]})
    if alert.status == Status.RESOLVED:
        raise AlertStateError(_("This alert is already resolved."))
    now = timezone.now()
    alert.status = Status.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = user
    alert.resolution_note = note.strip()
    alert.updated_at = now
    alert.save()
    AlertEvent.objects.create(alert=alert, kind="resolved", user=user, data={"auto": False}, at=now)
    from . import delivery

    delivery.deliveries_schedule([(alert, "resolved")], now=now)
    return alert


# --- E-mail subscriptions ------------------------------------------------------------------


def subscription_set(
    *, user, email: bool, min_severity: str = "high", kinds: list[str] | None = None
) -> AlertSubscription:
    errors = {}
    if not isinstance(email, bool):
        errors["email"] = [_("Must be true or false.")]
    if min_severity not in Severity.values:
        errors["min_severity"] = [_("Must be one of: %(n)s.") % {"n": ", ".join(Severity)}]
    kinds = kinds or []
    if not isinstance(kinds, list) or any(k not in Kind.values for k in kinds):
        errors["kinds"] = [_("Must be a list of: %(n)s.") % {"n": ", ".join(Kind)}]
    if errors:
        raise ValidationError(errors)
    sub, _created = AlertSubscription.objects.update_or_create(
        user=user, defaults={"email": email, "min_severity": min_severity, "kinds": kinds}
    )
    from . import delivery

    delivery.targets_invalidate()
    return sub


# --- Webhook endpoints ---------------------------------------------------------------------


def _endpoint_clean(*, name, url, kinds, min_severity, active) -> dict:
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 120:
        errors["name"] = [_("A name of 1 to 120 characters is required.")]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = [_("Must be an http:// or https:// address.")]
    elif len(url) > 2000:
        errors["url"] = [_("At most 2,000 characters.")]
    elif parts.username or parts.password:
        errors["url"] = [_("Put no user name or password in the address; the body is signed.")]
    if not isinstance(kinds, list) or any(k not in Kind.values for k in kinds):
        errors["kinds"] = [
            _("Must be a list of alert kinds (%(n)s); empty = all.") % {"n": ", ".join(Kind)}
        ]
    if min_severity not in Severity.values:
        errors["min_severity"] = [_("Must be one of: %(n)s.") % {"n": ", ".join(Severity)}]
    if not isinstance(active, bool):
        errors["active"] = [_("Must be true or false.")]
    if errors:
        raise ValidationError(errors)
    return {
        "name": name.strip(),
        "url": url,
        "kinds": sorted(set(kinds)),
        "min_severity": min_severity,
        "active": active,
    }


def webhook_endpoint_create(
    *,
    name: str,
    url: str,
    kinds: list[str] | None = None,
    min_severity: str = "low",
    active: bool = True,
    secret: str | None = None,
    actor=None,
) -> WebhookEndpoint:
    """The secret is generated unless given (at least 16 characters); managers can read it on
    the endpoints page to configure the receiver."""
    values = _endpoint_clean(
        name=name, url=url, kinds=kinds or [], min_severity=min_severity, active=active
    )
    if secret is None:
        secret = "whsec_" + secrets.token_urlsafe(24)
    elif not isinstance(secret, str) or not 16 <= len(secret) <= 128:
        raise ValidationError({"secret": [_("A secret of 16 to 128 characters is required.")]})
    endpoint = WebhookEndpoint.objects.create(
        **values, secret=secret, created_by=actor if getattr(actor, "pk", None) else None
    )
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        action="alerts.webhook_create",
        target_type="webhook_endpoint",
        target_id=endpoint.pk,
        summary=endpoint.name,
    )
    from . import delivery

    delivery.targets_invalidate()
    return endpoint


def _endpoint_get(endpoint=None, endpoint_id=None) -> WebhookEndpoint:
    if endpoint is not None:
        return endpoint
    try:
        return WebhookEndpoint.objects.get(pk=endpoint_id)
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
        from django.http import Http404

        raise Http404("webhook endpoint") from None


_ENDPOINT_FIELDS = ("name", "url", "kinds", "min_severity", "active")


def webhook_endpoint_update(
    *, endpoint=None, endpoint_id: int | None = None, actor=None, rotate_secret=False, **changes
) -> WebhookEndpoint:
    endpoint = _endpoint_get(endpoint, endpoint_id)
    unknown = set(changes) - set(_ENDPOINT_FIELDS)
    if unknown:
        raise ValidationError({k: [_("This field cannot be changed.")] for k in sorted(unknown)})
    values = _endpoint_clean(**{f: changes.get(f, getattr(endpoint, f)) for f in _ENDPOINT_FIELDS})
    for k, v in values.items():
        setattr(endpoint, k, v)
    if rotate_secret:
        endpoint.secret = "whsec_" + secrets.token_urlsafe(24)
    if values["active"] and "url" in changes:
        # A new address deserves a fresh start: not "failing" because the old one was.
        endpoint.failing = False
        endpoint.failing_since = None
        endpoint.consecutive_failures = 0
    endpoint.save()
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        action="alerts.webhook_update",
        target_type="webhook_endpoint",
        target_id=endpoint.pk,
        summary=endpoint.name,
        data={"fields": sorted(changes) + (["secret"] if rotate_secret else [])},
    )
    from . import delivery

    delivery.targets_invalidate()
    return endpoint


def webhook_endpoint_delete(*, endpoint=None, endpoint_id: int | None = None, actor=None) -> None:
    endpoint = _endpoint_get(endpoint, endpoint_id)
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        action="alerts.webhook_delete",
        target_type="webhook_endpoint",
        target_id=endpoint.pk,
        summary=endpoint.name,
    )
    endpoint.delete()
    from . import delivery

    delivery.targets_invalidate()


def webhook_endpoint_test(*, endpoint_id: int) -> dict:
    """Send one signed ``test`` event now and say how it went (the page shows it)."""
    from . import delivery

    return delivery.endpoint_test(endpoint=_endpoint_get(None, endpoint_id))
