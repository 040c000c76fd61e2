"""Per-mention detectors: lead, advocate opportunity and custom mention rules.

``on_store`` is the listening ``after_store`` hook: it runs inside the storage transaction for
every stored batch, looks only at the mentions that batch actually inserted (a retried batch
inserts nothing again, and a rolled-back one takes its alerts with it), matches every active
mention rule in memory (customer value and segment membership are read once per batch for the
batch's linked customers) and raises the alerts through ``services.alerts_raise``. A lead alert
therefore exists the moment its mention is committed.

``mention_matches`` is the one matcher: the hook and the rule preview both call it, on
``MentionView`` built from an enriched mention or from a stored row.

Dedup and cooldown are per rule and author: while an author's alert is open, their further
matching posts join it as evidence; after it is resolved, the rule's cooldown keeps the same
author from alerting again too soon.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from ..models import Kind, severity_raise
from . import rulebook

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MentionView:
    id: int
    platform: str
    created_at: datetime
    author_handle: str
    author_name: str
    followers: int
    language: str
    sentiment: str
    intent: str
    query_ids: tuple[int, ...]
    country: str
    city: str
    customer_id: int | None

    @classmethod
    def from_enriched(cls, mention_id: int, e) -> MentionView:
        r, p = e.raw, e.place
        return cls(
            id=mention_id,
            platform=r.platform,
            created_at=r.created_at,
            author_handle=r.author_handle,
            author_name=r.author_name,
            followers=r.author_followers or 0,
            language=e.language,
            sentiment=e.sentiment,
            intent=e.intent,
            query_ids=tuple(e.query_ids),
            country=p.country if p is not None else "",
            city=p.city if p is not None else "",
            customer_id=e.customer_id,
        )

    @classmethod
    def from_row(cls, m) -> MentionView:
        return cls(
            id=m.pk,
            platform=m.platform,
            created_at=m.created_at,
            author_handle=m.author_handle,
            author_name=m.author_name,
            followers=m.author_followers or 0,
            language=m.language,
            sentiment=m.sentiment,
            intent=m.intent,
            query_ids=tuple(m.query_ids or ()),
            country=m.country,
            city=m.city,
            customer_id=m.customer_id,
        )


@dataclass
class Facts:
    """What the matcher needs beyond the mention: from the rule book and the batch's customers."""

    query_kind: dict[int, str]
    query_name: dict[int, str]
    values: dict[int, tuple[int, Decimal]]  # customer → (orders, lifetime total)
    segments: dict[int, set[int]]  # segment → its customers among the batch's


def customer_facts(customer_ids: set[int], segment_ids: set[int]) -> tuple[dict, dict]:
    """Orders/value of the given customers (one grouped query) and which of them are in each
    segment (one query per segment, limited to these customers)."""
    from apiary.customers.models import Customer, Order, Segment
    from apiary.customers.segments import segment_apply

    values: dict[int, tuple[int, Decimal]] = {}
    if customer_ids:
        values = {i: (0, Decimal(0)) for i in customer_ids}
        for row in (
            Order.objects.filter(customer_id__in=customer_ids)
            .order_by()
            .values("customer_id")
            .annotate(n=Count("pk"), total=Sum("total"))
        ):
            values[row["customer_id"]] = (
                row["n"],
                Decimal(row["total"] or 0).quantize(Decimal("0.01")),
            )
    segments: dict[int, set[int]] = {}
    for seg in Segment.objects.filter(pk__in=segment_ids):
        if not customer_ids:
            segments[seg.pk] = set()
            continue
        qs = Customer.objects.filter(pk__in=customer_ids, deleted_at__isnull=True)
        try:
            segments[seg.pk] = set(segment_apply(qs, seg.filters).values_list("pk", flat=True))
        except Exception:  # a segment saved with filters that no longer validate
            logger.warning(
                "Segment %s cannot be applied; alert rules using it match nothing", seg.pk
            )
            segments[seg.pk] = set()
    return values, segments


def _value(m: MentionView, facts: Facts) -> Decimal:
    if m.customer_id is None:
        return Decimal(0)
    return facts.values.get(m.customer_id, (0, Decimal(0)))[1]


def mention_matches(kind: str, c: dict, m: MentionView, facts: Facts) -> bool:
    """Does the mention satisfy the rule's effective conditions ``c``?"""
    if "query_ids" in c and not set(c["query_ids"]) & set(m.query_ids):
        return False
    if "query_kinds" in c:
        kinds = {facts.query_kind.get(q) for q in m.query_ids}
        if not kinds & set(c["query_kinds"]):
            return False
    if kind in (Kind.LEAD, Kind.ADVOCATE) and not m.query_ids:
        return False  # "about our category, brand or a competitor": some query matched
    for key, attr in (
        ("sentiments", "sentiment"),
        ("intents", "intent"),
        ("platforms", "platform"),
        ("languages", "language"),
        ("countries", "country"),
    ):
        if key in c and getattr(m, attr) not in c[key]:
            return False
    if "cities" in c and m.city.casefold() not in c["cities"]:
        return False
    if "max_followers" in c and m.followers > c["max_followers"]:
        return False
    if "customer_linked" in c and (m.customer_id is not None) != c["customer_linked"]:
        return False
    if "segment_id" in c and m.customer_id not in facts.segments.get(c["segment_id"], set()):
        return False
    if kind == Kind.ADVOCATE:
        # An influential author OR a valuable customer (either criterion the rule names).
        influential = m.followers >= c.get("min_followers", 0) if "min_followers" in c else False
        valuable = (
            m.customer_id is not None and _value(m, facts) >= Decimal(c["min_customer_value"])
            if "min_customer_value" in c
            else False
        )
        return influential or valuable
    if "min_customer_value" in c and (
        m.customer_id is None or _value(m, facts) < Decimal(c["min_customer_value"])
    ):
        return False
    if "min_followers" in c and m.followers < c["min_followers"]:
        if not (c.get("customer_bypasses_followers") and m.customer_id is not None):
            return False
    return True


SUGGESTED = {
    Kind.LEAD: ["reply_template", "offer_discount", "open_conversation"],
    Kind.ADVOCATE: ["invite_community", "invite_referral", "reply_template"],
    Kind.CUSTOM: ["open_conversation", "reply_template", "escalate_manager"],
}


def _who(m: MentionView) -> str:
    handle = m.author_handle or m.author_name or _("an author")
    return handle if handle.startswith("@") or " " in handle else f"@{handle}"


def signal_for(rule, m: MentionView, facts: Facts):
    """The alert signal of one matching mention (severity boosted by influence / customer)."""
    from ..services import Signal

    c = rule.conditions
    steps, reasons = 0, []
    boost = c.get("boost_followers")
    if boost is not None and m.followers >= boost:
        steps += 1
        reasons.append("influential")
    value = _value(m, facts)
    if m.customer_id is not None and rule.kind == Kind.LEAD:
        steps += 1
        reasons.append("known_customer")
    elif (
        rule.kind == Kind.ADVOCATE
        and m.customer_id is not None
        and "min_customer_value" in c
        and value >= Decimal(c["min_customer_value"])
    ):
        steps += 1
        reasons.append("valuable_customer")
    queries = [facts.query_name.get(q, str(q)) for q in m.query_ids]
    about = ", ".join(queries[:2]) or _("your queries")
    if rule.kind == Kind.LEAD:
        title = _("Lead: %(who)s wants to buy (%(about)s)") % {"who": _who(m), "about": about}
    elif rule.kind == Kind.ADVOCATE:
        title = _("Advocate: %(who)s (%(n)s followers) speaks well of %(about)s") % {
            "who": _who(m),
            "n": f"{m.followers:,}",
            "about": about,
        }
    else:
        title = _("%(rule)s: %(who)s") % {"rule": rule.name, "who": _who(m)}
    subject = (m.author_handle or f"mention{m.id}").lower()
    return Signal(
        kind=rule.kind,
        dedup_key=f"{rule.kind}:r{rule.id}:{m.platform}:{subject}",
        severity=severity_raise(rule.severity, steps),
        title=title,
        at=m.created_at,
        rule_id=rule.id,
        cooldown_minutes=rule.cooldown_minutes,
        explanation={
            "rule": rule.name,
            "reasons": reasons,
            "followers": m.followers,
            "sentiment": m.sentiment,
            "intent": m.intent,
            "language": m.language,
            "platform": m.platform,
            "country": m.country,
            "queries": queries,
            "customer_orders": facts.values.get(m.customer_id, (0, 0))[0]
            if m.customer_id
            else None,
            "customer_value": str(value) if m.customer_id else None,
        },
        mention_ids=[m.id],
        query_id=m.query_ids[0] if m.query_ids else None,
        country=m.country,
        mention_id=m.id,
        customer_id=m.customer_id,
        suggested_actions=list(SUGGESTED.get(rule.kind, [])),
    )


def evaluate(rules, views: list[MentionView], book) -> list:
    """Signals of every (rule, mention) match; customer facts read once for the batch."""
    if not rules or not views:
        return []
    need_values = any("min_customer_value" in r.conditions or r.kind == Kind.LEAD for r in rules)
    segment_ids = {r.conditions["segment_id"] for r in rules if "segment_id" in r.conditions}
    customer_ids = {v.customer_id for v in views if v.customer_id is not None}
    values, segments = customer_facts(
        customer_ids if (need_values or segment_ids) else set(), segment_ids
    )
    facts = Facts(book.query_kind, book.query_name, values, segments)
    signals = []
    for rule in rules:
        for v in views:
            if mention_matches(rule.kind, rule.conditions, v, facts):
                signals.append(signal_for(rule, v, facts))
    return signals


def on_store(enriched, result) -> None:
    """The listening ``after_store`` hook (inside the storage transaction)."""
    if not result.ids:
        return
    book = rulebook.get()
    rules = book.mention_rules
    if not rules:
        return
    views = [
        MentionView.from_enriched(result.ids[e.raw.key], e)
        for e in enriched
        if e.raw.key in result.ids
    ]
    signals = evaluate(rules, views, book)
    if signals:
        from ..services import alerts_raise

        alerts_raise(signals)
