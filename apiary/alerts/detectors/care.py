"""Care detectors: SLA breach and VIP waiting, in the ``alerts-detectors`` loop.

- **SLA breach** reads the inbox's ``sla.breached`` events (care's ``sla_breach_check`` emits one
  per conversation, once) after a watermark kept in ``DetectorState("sla")``: each tick reads
  only events it has not seen. A breach alert resolves itself once the conversation gets its
  first response or is resolved.
- **VIP waiting**: an open conversation of a customer whose lifetime order value reaches the
  rule's ``min_customer_value``, whose latest inbound message has waited more than
  ``wait_minutes`` with no reply since. Checked every ``VIP_EVERY`` seconds over open
  conversations waiting longer than the shortest rule's wait (the inbox's status index);
  resolves itself when someone answers.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import LIVE_STATUSES, Alert, DetectorState, Kind, severity_raise
from . import rulebook
from .mention import customer_facts

logger = logging.getLogger(__name__)

SLA_EVERY = 1.0
VIP_EVERY = 15.0
RESOLVE_EVERY = 10.0
EVENTS_PER_TICK = 2000
VIP_SCAN = 500

SUGGESTED = {
    Kind.SLA_BREACH: ["escalate_manager", "reply_template", "offer_credit"],
    Kind.VIP_WAITING: ["escalate_manager", "reply_template", "offer_credit"],
}


def _conversation_matches(c: dict, conv, values) -> bool:
    if "platforms" in c and conv.platform not in c["platforms"]:
        return False
    if "customer_linked" in c and (conv.customer_id is not None) != c["customer_linked"]:
        return False
    if "min_customer_value" in c:
        if conv.customer_id is None:
            return False
        if values.get(conv.customer_id, (0, Decimal(0)))[1] < Decimal(c["min_customer_value"]):
            return False
    return True


def _segments_ok(c: dict, conv, segments) -> bool:
    return "segment_id" not in c or conv.customer_id in segments.get(c["segment_id"], set())


def _who(conv) -> str:
    return (
        conv.author_name
        or (f"@{conv.author_handle}" if conv.author_handle else "")
        or _("a customer")
    )


class CareDetector:
    def __init__(self, *, clock=None, mono=None) -> None:
        self.clock = clock or timezone.now
        self.mono = mono or time.monotonic
        self.last = {"sla": -1e9, "vip": -1e9, "resolve": -1e9}

    def tick(self) -> list:
        book = rulebook.get()
        rules = book.care_rules
        out = []
        clock = self.mono()
        sla_rules = [r for r in rules if r.kind == Kind.SLA_BREACH]
        vip_rules = [r for r in rules if r.kind == Kind.VIP_WAITING]
        if clock - self.last["sla"] >= SLA_EVERY:
            self.last["sla"] = clock
            out += self.sla_tick(sla_rules)
        if vip_rules and clock - self.last["vip"] >= VIP_EVERY:
            self.last["vip"] = clock
            out += self.vip_tick(vip_rules)
        if clock - self.last["resolve"] >= RESOLVE_EVERY:
            self.last["resolve"] = clock
            out += self.resolve_answered()
        return out

    def sla_tick(self, rules) -> list:
        from apiary.care.models import Conversation, InboxEvent

        state, _c = DetectorState.objects.get_or_create(name="sla")
        watermark = state.data.get("event_id")
        if watermark is None:
            # First run: start at the newest event — breaches from before alerts existed are
            # history, not news (no storm of old alerts on the first start).
            last = InboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
            state.data = {"event_id": last or 0}
            state.save(update_fields=["data", "updated_at"])
            return []
        rows = list(
            InboxEvent.objects.filter(pk__gt=watermark)
            .order_by("pk")
            .values_list("pk", "kind", "conversation_id", "data")[:EVENTS_PER_TICK]
        )
        if not rows:
            return []
        new_watermark = rows[-1][0]
        breaches = {cid: data for _pk, kind, cid, data in rows if kind == "sla.breached" and cid}
        out = []
        with transaction.atomic():
            if breaches and rules:
                convs = list(Conversation.objects.filter(pk__in=list(breaches)))
                out = self._raise(rules, convs, breaches, kind=Kind.SLA_BREACH)
            DetectorState.objects.filter(name="sla").update(data={"event_id": new_watermark})
        return out

    def vip_tick(self, rules) -> list:
        from apiary.care.models import Conversation, Direction, Message

        now = self.clock()
        shortest = min(int(r.conditions.get("wait_minutes", 15)) for r in rules)
        replied = Message.objects.filter(
            conversation_id=OuterRef("pk"),
            direction=Direction.OUTBOUND,
            created_at__gte=OuterRef("last_inbound_at"),
        )
        convs = list(
            Conversation.objects.filter(
                status="open",
                customer__isnull=False,
                last_inbound_at__isnull=False,
                last_inbound_at__lte=now - timedelta(minutes=shortest),
            )
            .exclude(Exists(replied))
            .order_by("-last_message_at")[:VIP_SCAN]
        )
        if not convs:
            return []
        waiting = {}
        for conv in convs:
            waited = (now - conv.last_inbound_at).total_seconds() / 60.0
            # A clock set back can make the wait negative: never alert on that.
            if waited > 0:
                waiting[conv.pk] = {"waited_minutes": int(waited)}
        convs = [c for c in convs if c.pk in waiting]
        with transaction.atomic():
            return self._raise(rules, convs, waiting, kind=Kind.VIP_WAITING, now=now)

    def _raise(self, rules, convs, extra: dict, *, kind: str, now=None) -> list:
        from ..services import Signal, alerts_raise

        now = now or self.clock()
        customer_ids = {c.customer_id for c in convs if c.customer_id}
        segment_ids = {r.conditions["segment_id"] for r in rules if "segment_id" in r.conditions}
        values, segments = customer_facts(customer_ids, segment_ids)
        signals = []
        for rule in rules:
            c = rule.conditions
            for conv in convs:
                info = extra.get(conv.pk, {})
                if kind == Kind.VIP_WAITING and info.get("waited_minutes", 0) < int(
                    c.get("wait_minutes", 15)
                ):
                    continue
                if not _conversation_matches(c, conv, values) or not _segments_ok(
                    c, conv, segments
                ):
                    continue
                value = values.get(conv.customer_id, (0, Decimal(0)))
                steps = 1 if conv.priority in ("high", "urgent") else 0
                if kind == Kind.SLA_BREACH:
                    title = _("SLA breached: %(who)s is still waiting for a first reply") % {
                        "who": _who(conv)
                    }
                    key = f"sla:r{rule.id}:c{conv.pk}"
                else:
                    title = _("VIP waiting: %(who)s (%(value)s in orders) waited %(m)s min") % {
                        "who": _who(conv),
                        "value": f"{value[1]:,.2f}",
                        "m": info.get("waited_minutes"),
                    }
                    key = f"vip:r{rule.id}:c{conv.pk}"
                signals.append(
                    Signal(
                        kind=kind,
                        dedup_key=key,
                        severity=severity_raise(rule.severity, steps),
                        title=title,
                        at=now,
                        rule_id=rule.id,
                        cooldown_minutes=rule.cooldown_minutes,
                        explanation={
                            "rule": rule.name,
                            "priority": conv.priority,
                            "platform": conv.platform,
                            "sla_due_at": conv.sla_due_at.isoformat() if conv.sla_due_at else None,
                            "overdue_seconds": info.get("overdue_seconds"),
                            "waited_minutes": info.get("waited_minutes"),
                            "customer_orders": value[0] if conv.customer_id else None,
                            "customer_value": str(value[1]) if conv.customer_id else None,
                        },
                        customer_id=conv.customer_id,
                        conversation_id=conv.pk,
                        mention_id=_first_mention(conv.pk),
                        suggested_actions=SUGGESTED[kind],
                    )
                )
        return alerts_raise(signals, now=now)

    def resolve_answered(self) -> list:
        """Breach / VIP alerts whose conversation has been answered or closed."""
        from apiary.care.models import Conversation, Direction, Message

        from ..services import alert_auto_resolve

        live = list(
            Alert.objects.filter(
                kind__in=[Kind.SLA_BREACH, Kind.VIP_WAITING],
                status__in=LIVE_STATUSES,
                conversation__isnull=False,
            ).only("pk", "kind", "conversation_id", "first_seen_at")[:500]
        )
        if not live:
            return []
        convs = Conversation.objects.in_bulk([a.conversation_id for a in live])
        out = []
        for alert in live:
            conv = convs.get(alert.conversation_id)
            if conv is None:
                continue
            answered = conv.status == "resolved"
            if alert.kind == Kind.SLA_BREACH:
                answered = answered or conv.first_response_at is not None
            else:
                answered = (
                    answered
                    or Message.objects.filter(
                        conversation_id=conv.pk,
                        direction=Direction.OUTBOUND,
                        created_at__gte=conv.last_inbound_at or conv.created_at,
                    ).exists()
                )
            if answered:
                with transaction.atomic():
                    fresh = Alert.objects.select_for_update().get(pk=alert.pk)
                    if fresh.status in LIVE_STATUSES:
                        alert_auto_resolve(alert=fresh, note=_("The customer has been answered."))
                        out.append(fresh)
        return out


def _first_mention(conversation_id: int) -> int | None:
    from apiary.care.models import Message

    return (
        Message.objects.filter(conversation_id=conversation_id, mention__isnull=False)
        .order_by("-created_at")
        .values_list("mention_id", flat=True)
        .first()
    )
