"""Priority: a 0..100 score from influence, customer value, sentiment, intent and the rule's
boost, with the factors that explain every point (the inbox shows them on hover).

Pure functions: the hook and the services gather the inputs in bulk and call ``priority_score``.
The weights are module constants so a test (and a reader) can see why a conversation is urgent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from .models import PRIORITY_ORDER, Priority

# Influence: 0 points up to 100 followers, then 7.5 per factor of ten, at most 30 (1M+).
INFLUENCE_FLOOR = 100
INFLUENCE_PER_DECADE = 7.5
INFLUENCE_MAX = 30
# Customer value: 10 for a linked customer, plus 6 per factor of ten of lifetime order value
# (any currency, summed), at most 25 in all; a repeat buyer (3+ orders) adds 5.
CUSTOMER_LINKED = 10
VALUE_PER_DECADE = 6
VALUE_MAX = 25
REPEAT_ORDERS = 3
REPEAT_POINTS = 5
SENTIMENT_POINTS = {"negative": 20, "neutral": 5, "positive": 0}
INTENT_POINTS = {"support": 15, "purchase": 10}
QUESTION_POINTS = 5
# Levels by score.
LEVELS = [(70, Priority.URGENT), (45, Priority.HIGH), (20, Priority.NORMAL), (0, Priority.LOW)]


@dataclass(frozen=True)
class CustomerValue:
    orders: int
    total: Decimal


def customer_values(customer_ids) -> dict[int, CustomerValue]:
    """Orders count and lifetime total per customer: one grouped query for a whole batch (the
    batch form of ``customers.selectors.customer_value``; currencies are summed as numbers, which
    is enough to rank conversations)."""
    from apiary.customers.models import Order

    ids = {int(i) for i in customer_ids if i}
    if not ids:
        return {}
    rows = (
        Order.objects.filter(customer_id__in=ids)
        .order_by()
        .values("customer_id")
        .annotate(n=Count("pk"), total=Sum("total"))
    )
    out = {i: CustomerValue(0, Decimal(0)) for i in ids}
    for r in rows:
        out[r["customer_id"]] = CustomerValue(r["n"], Decimal(r["total"] or 0))
    return out


def level_for(score: int) -> str:
    for threshold, level in LEVELS:
        if score >= threshold:
            return str(level)
    return str(Priority.LOW)


def priority_score(
    *,
    followers: int | None,
    customer_linked: bool,
    value: CustomerValue | None,
    sentiment: str,
    intent: str,
    is_question: bool = False,
    boost: int = 0,
    boost_rule: str = "",
) -> tuple[int, str, list[dict]]:
    """``(score, level, factors)``; the factors' points add up to the score (before the clamp to
    0..100, which is itself a factor when it applies)."""
    factors: list[dict] = []

    def add(factor: str, points: int, detail: str) -> None:
        if points:
            factors.append({"factor": factor, "points": int(points), "detail": detail})

    if followers and followers > INFLUENCE_FLOOR:
        points = min(
            INFLUENCE_MAX,
            round((math.log10(followers) - math.log10(INFLUENCE_FLOOR)) * INFLUENCE_PER_DECADE),
        )
        add("influence", points, _("%(n)s followers") % {"n": f"{followers:,}"})
    if customer_linked:
        points = CUSTOMER_LINKED
        detail = _("known customer")
        if value is not None and value.total > 0:
            points += round(math.log10(float(value.total) + 1) * VALUE_PER_DECADE)
            detail = _("known customer: %(n)d orders, %(total)s in all") % {
                "n": value.orders,
                "total": f"{value.total:,.2f}",
            }
        add("customer_value", min(VALUE_MAX, points), detail)
        if value is not None and value.orders >= REPEAT_ORDERS:
            add("repeat_customer", REPEAT_POINTS, _("%(n)d orders") % {"n": value.orders})
    add(
        "sentiment",
        SENTIMENT_POINTS.get(sentiment, 0),
        _("sentiment: %(s)s") % {"s": sentiment or "?"},
    )
    add("intent", INTENT_POINTS.get(intent, 0), _("intent: %(i)s") % {"i": intent})
    if is_question:
        add("question", QUESTION_POINTS, _("asks a question"))
    if boost:
        add("rule", int(boost), _("rule “%(name)s”") % {"name": boost_rule or "?"})
    raw = sum(f["points"] for f in factors)
    score = max(0, min(100, raw))
    if score != raw:
        add("clamp", score - raw, _("kept within 0–100"))
    return score, level_for(score), factors


def higher(a: str, b: str) -> str:
    return a if PRIORITY_ORDER.get(a, 0) >= PRIORITY_ORDER.get(b, 0) else b
