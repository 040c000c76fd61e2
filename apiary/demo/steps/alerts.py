"""Demo alerts: the default rules, tuned to the live replay source, and a few days of past lead
and advocate alerts replayed from the mention history.

What the live demo shows (``make demo``): the replay source (``listening.py``: 20 mentions a
minute, a negative spike of 8× for 3 minutes every 20 minutes, the first 5 minutes after it
starts) makes the **crisis** rule fire within seconds of the spike's start (about 3 negative
brand mentions a minute normally, over a hundred during the spike), escalate while it grows
and resolve itself a few minutes after; the two-minute competitor stories raise **competitor
moves**; purchase-intent posts of authors with an audience raise **leads** every few minutes.
Idempotent: rules are created by name, the history only once.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apiary.alerts.models import Alert, AlertRule
from apiary.alerts.services import rule_create

RULES = [
    (
        "Crisis: negative spike about the brand",
        "crisis_spike",
        {
            "query_kinds": ["brand"],
            "per_country": True,
            "z_score": 4.0,
            "min_volume": 15,
            "window_minutes": 3,
            "baseline_minutes": 15,
            "quiet_minutes": 3,
        },
        15,
        "high",
    ),
    (
        "Competitor move",
        "competitor_move",
        {
            "query_kinds": ["competitor"],
            "measure": ["volume", "negative"],
            "z_score": 4.0,
            "min_volume": 15,
            "window_minutes": 3,
            "baseline_minutes": 15,
            "quiet_minutes": 3,
        },
        30,
        "medium",
    ),
    (
        "Lead: purchase intent",
        "lead",
        {"min_followers": 100, "customer_bypasses_followers": True, "boost_followers": 2000},
        240,
        "low",
    ),
    (
        "Advocate: influential fans and valuable customers",
        "advocate",
        {"min_followers": 2000, "min_customer_value": "300", "boost_followers": 20000},
        1440,
        "medium",
    ),
    ("SLA breach", "sla_breach", {}, 0, "high"),
    (
        "VIP waiting",
        "vip_waiting",
        {"min_customer_value": "300", "wait_minutes": 10},
        60,
        "high",
    ),
    (
        "Unhappy customer",
        "custom",
        {"sentiments": ["negative"], "customer_linked": True},
        120,
        "medium",
    ),
]

HISTORY_DAYS = 3
HISTORY_OPEN = 6  # the newest past alerts stay open; the rest were dealt with


def run(ctx) -> str:
    created = 0
    for name, kind, conditions, cooldown, severity in RULES:
        if not AlertRule.objects.filter(name=name).exists():
            rule_create(
                name=name,
                kind=kind,
                conditions=conditions,
                cooldown_minutes=cooldown,
                severity=severity,
            )
            created += 1
    past = 0 if Alert.objects.exists() else _history()
    return f"{len(RULES)} alert rules ({created} new), {past} past alerts"


def _history() -> int:
    """Past lead/advocate/custom alerts: the live hook's own code over the stored history."""
    from apiary.alerts.detectors import rulebook
    from apiary.alerts.detectors.mention import MentionView, evaluate
    from apiary.alerts.services import alerts_raise
    from apiary.listening.models import Mention

    rulebook.invalidate()
    book = rulebook.get()
    since = timezone.now() - timedelta(days=HISTORY_DAYS)
    rows = Mention.objects.filter(created_at__gte=since).order_by("created_at", "pk")
    raised = 0
    batch: list = []
    for m in rows.iterator(chunk_size=2000):
        batch.append(MentionView.from_row(m))
        if len(batch) >= 2000:
            raised += len(alerts_raise(evaluate(book.mention_rules, batch, book)))
            batch = []
    if batch:
        raised += len(alerts_raise(evaluate(book.mention_rules, batch, book)))
    # Older ones were handled; resolving frees each author for the next (cooldown permitting).
    keep = list(
        Alert.objects.filter(status="open")
        .order_by("-first_seen_at")
        .values_list("pk", flat=True)[:HISTORY_OPEN]
    )
    now = timezone.now()
    Alert.objects.filter(status="open").exclude(pk__in=keep).update(
        status="resolved", resolved_at=now, resolution_note="Handled (demo history)."
    )
    return Alert.objects.count()
