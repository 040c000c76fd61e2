"""Alerts: rules, detectors, alerts with their evidence and next actions, deliveries.

Writes go through ``services.py`` (rules, endpoints, alert state) — the detectors in
``detectors/`` raise alerts through ``services.alert_raise`` —, reads through ``selectors.py``,
permission through ``access.py``; ``actions.py`` performs the suggested next actions and
``delivery.py`` sends e-mail and webhooks.

Why these shapes:

- **One alert per thing.** ``dedup_key`` names what an alert is about (``spike:r3:q7:ES``,
  ``lead:r2:bluesky:ana.bsky.social``, ``sla:c41``) and is unique among alerts that are not
  resolved (a partial unique index), so a retried batch, two detector processes or a spike
  that keeps growing update one alert instead of making new ones. A resolved alert frees the
  key; the rule's ``cooldown_minutes`` then decides when the same thing may alert again.
- **It explains itself.** ``explanation`` holds the numbers that made it fire (observed,
  baseline, z-score, window, thresholds) and ``mention_ids`` the evidence; ``escalation_history``
  lists each change of level with its numbers.
- **AlertEvent** is the in-app live feed (every change appends a row; pages poll ``id >
  last seen``), in the database so any number of server processes see the same feed.
- **AlertDelivery** is one e-mail or webhook send: unique per alert × target × event × level,
  so an escalation notifies once per level and a retry never sends twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    CRISIS_SPIKE = "crisis_spike", _("Crisis spike")
    COMPETITOR_MOVE = "competitor_move", _("Competitor move")
    LEAD = "lead", _("Lead")
    ADVOCATE = "advocate", _("Advocate opportunity")
    SLA_BREACH = "sla_breach", _("SLA breach")
    VIP_WAITING = "vip_waiting", _("VIP waiting")
    CUSTOM = "custom", _("Custom mention rule")


RATE_KINDS = frozenset({Kind.CRISIS_SPIKE, Kind.COMPETITOR_MOVE})
MENTION_KINDS = frozenset({Kind.LEAD, Kind.ADVOCATE, Kind.CUSTOM})
CARE_KINDS = frozenset({Kind.SLA_BREACH, Kind.VIP_WAITING})


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}
SEVERITIES = ["low", "medium", "high", "critical"]


def severity_raise(severity: str, steps: int) -> str:
    """``severity`` moved up ``steps`` levels, capped at critical."""
    return SEVERITIES[min(len(SEVERITIES) - 1, max(0, SEVERITY_ORDER[severity] + steps))]


class Status(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


LIVE_STATUSES = ("open", "acknowledged")


class AlertRule(models.Model):
    """What raises alerts. ``conditions`` (filters and thresholds in one dict) is validated by
    ``services.rule_conditions_validate(kind, conditions)``; see the docs for every key."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    conditions = models.JSONField(default=dict, blank=True)
    cooldown_minutes = models.PositiveIntegerField(default=60)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.MEDIUM)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    kind = models.CharField(max_length=20, choices=Kind.choices)
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    title = models.CharField(max_length=300)
    dedup_key = models.CharField(max_length=300)
    # The numbers that caused it: {"observed", "baseline", "z_score", "window_minutes", …}.
    explanation = models.JSONField(default=dict, blank=True)
    mention_ids = models.JSONField(default=list, blank=True)  # evidence, newest last (capped)
    mention_count = models.PositiveIntegerField(default=0)  # evidence seen, beyond the cap too
    # What it is about (each optional): filters and the next actions read these.
    query_id = models.BigIntegerField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    mention = models.ForeignKey(
        "listening.Mention", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        "care.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalation_level = models.PositiveSmallIntegerField(default=1)
    # [{"level", "severity", "at", "observed", "z_score"}, …]
    escalation_history = models.JSONField(default=list, blank=True)
    suggested_actions = models.JSONField(default=list, blank=True)  # action keys, best first
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    auto_resolved = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=models.Q(status__in=LIVE_STATUSES),
                name="alerts_alert_live_key",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-last_seen_at"], name="alerts_alert_status"),
            models.Index(fields=["kind", "status", "-last_seen_at"], name="alerts_alert_kind"),
            # Cooldown: "did this thing alert since t?"
            models.Index(fields=["dedup_key", "first_seen_at"], name="alerts_alert_key_time"),
        ]

    def __str__(self) -> str:
        return self.title


class AlertEvent(models.Model):
    """The in-app live feed: opened, updated, escalated, acknowledged, resolved, action.
    ``data`` is small and never holds mention text (who may read it is decided on read)."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["alert", "id"], name="alerts_event_alert")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.alert_id}"


class AlertAction(models.Model):
    """One performed next action (who, what, with which outcome), shown on the alert."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="actions")
    action_key = models.CharField(max_length=40)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    params = models.JSONField(default=dict, blank=True)
    ok = models.BooleanField(default=True)
    message = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action_key} on #{self.alert_id}"


class Coupon(models.Model):
    """A discount code or a store credit offered through an alert's next action."""

    class CouponKind(models.TextChoices):
        PERCENT = "percent", _("Percent off")
        CREDIT = "credit", _("Store credit")

    code = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=8, choices=CouponKind.choices)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, blank=True)  # credits only
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="coupons"
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mention = models.ForeignKey(
        "listening.Mention", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.code


class AlertSubscription(models.Model):
    """A staff user's alert e-mails: off unless they opt in; from ``min_severity`` up, of
    ``kinds`` (empty = every kind)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_subscription"
    )
    email = models.BooleanField(default=False)
    min_severity = models.CharField(max_length=8, choices=Severity.choices, default="high")
    kinds = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"alerts e-mail for {self.user_id}"


class WebhookEndpoint(models.Model):
    """An outgoing webhook (a chat tool, an incident system). Signed with ``secret``;
    ``kinds`` empty = every kind. After ``delivery.FAILING_AFTER`` failed attempts in a row it
    is marked ``failing`` (shown on the page; deliveries keep retrying with back-off) until one
    succeeds."""

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=128)
    kinds = models.JSONField(default=list, blank=True)
    min_severity = models.CharField(max_length=8, choices=Severity.choices, default="low")
    active = models.BooleanField(default=True)
    failing = models.BooleanField(default=False)
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Webhook")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class AlertDelivery(models.Model):
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # "webhook:<endpoint id>" | "email:<user id>": NULLs are distinct in unique indexes, so the
    # dedup key needs one non-null column naming the target.
    target = models.CharField(max_length=40)
    event = models.CharField(max_length=20)  # opened | escalated | resolved | test
    level = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "target", "event", "level"],
                condition=models.Q(alert__isnull=False),
                name="alerts_delivery_once",
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="alerts_delivery_due",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="alerts_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.target} #{self.alert_id} L{self.level}"


class DetectorState(models.Model):
    """Per-detector state shared by processes: a lease (one process runs the rate and care
    detectors at a time) and watermarks (``data``, e.g. the last inbox event read)."""

    name = models.CharField(max_length=40, unique=True)
    holder = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
