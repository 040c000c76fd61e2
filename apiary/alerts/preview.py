"""Rule preview: "this rule would have fired N times in the last week", from stored data, with
the same code the live detectors run.

- **Mention kinds**: the window's mentions that pass the conditions the database can check
  (newest ``MENTION_SCAN`` at most), then the detector's own matcher
  (``detectors.mention.mention_matches``) and the cooldown per rule and author. It counts as
  if each alert were dealt with before the same author posted again (an alert left open
  absorbs later posts of its author instead).
- **Rate kinds**: per-minute counts of the watched queries' mentions from the mention matches
  (one ``GROUP BY`` minute), fed minute by minute to the same ``SpikeTracker`` the live loop
  uses, with the seasonal floor of the ``SEASONAL_DAYS`` days before the window. The window is
  shortened when it holds more than ``RATE_SCAN`` matches (``truncated``), so the cost is bounded.
- **Care kinds**: conversations breached (SLA) or whose customer waited longer than the wait
  (VIP) in the window.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.translation import gettext as _

from . import conditions as cond
from .detectors import rulebook
from .detectors.mention import Facts, MentionView, customer_facts, mention_matches, signal_for
from .detectors.rate import (
    SEASONAL_DAYS,
    minute_of,
    minute_start,
    params_for,
    series_keys,
    title_for,
)
from .detectors.rulebook import CompiledRule
from .detectors.spike import SpikeTracker
from .models import MENTION_KINDS, RATE_KINDS, Kind, Severity

MAX_DAYS = 31
MENTION_SCAN = 20_000
RATE_SCAN = 1_000_000
EXAMPLES = 5


def _days_list(start: datetime, end: datetime) -> list[str]:
    d = start.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    while d < end:
        out.append(d.date().isoformat())
        d += timedelta(days=1)
    return out


def _answer(fires: list[dict], start: datetime, end: datetime, **extra) -> dict:
    by_day: dict[str, int] = defaultdict(int)
    for f in fires:
        by_day[f["at"][:10]] += 1
    return {
        "fires": len(fires),
        "examples": fires[-EXAMPLES:][::-1],
        "by_day": [{"day": d, "fires": by_day.get(d, 0)} for d in _days_list(start, end)],
        "start": start.isoformat(),
        "end": end.isoformat(),
        **extra,
    }


def preview(*, kind: str, conditions, cooldown_minutes: int = 60, days: int = 7, now=None) -> dict:
    cleaned = cond.conditions_validate(kind, conditions)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError({"days": [_("Must be from 1 to %(n)s.") % {"n": MAX_DAYS}]})
    if (
        isinstance(cooldown_minutes, bool)
        or not isinstance(cooldown_minutes, int)
        or not 0 <= cooldown_minutes <= 7 * 24 * 60
    ):
        raise ValidationError({"cooldown_minutes": [_("Must be from 0 to 10080 minutes.")]})
    rule = CompiledRule(
        id=0,
        name=_("Preview"),
        kind=kind,
        severity=Severity.MEDIUM,
        cooldown_minutes=cooldown_minutes,
        conditions=cond.effective(kind, cleaned),
    )
    now = now or timezone.now()
    start = now - timedelta(days=days)
    book = rulebook.compile_book()  # fresh: a preview must see a query created a second ago
    if kind in MENTION_KINDS:
        return _mentions(rule, book, start, now)
    if kind in RATE_KINDS:
        return _rates(rule, book, start, now)
    return _care(rule, start, now)


# --- Mention kinds -------------------------------------------------------------------------


def _mentions(rule, book, start, end) -> dict:
    from apiary.listening.models import Mention, MentionMatch

    c = rule.conditions
    qs = Mention.objects.filter(created_at__gte=start, created_at__lt=end)
    for key, field in (
        ("sentiments", "sentiment"),
        ("intents", "intent"),
        ("platforms", "platform"),
        ("languages", "language"),
        ("countries", "country"),
    ):
        if key in c:
            qs = qs.filter(**{f"{field}__in": c[key]})
    if "max_followers" in c:
        qs = qs.filter(author_followers__lte=c["max_followers"])
    if c.get("customer_linked") is True or "segment_id" in c:
        qs = qs.filter(customer__isnull=False)
    elif c.get("customer_linked") is False:
        qs = qs.filter(customer__isnull=True)
    query_ids = None
    if "query_ids" in c:
        query_ids = c["query_ids"]
    elif "query_kinds" in c:
        query_ids = [q for q, k in book.query_kind.items() if k in c["query_kinds"]]
    if query_ids is not None:
        qs = qs.filter(
            Exists(MentionMatch.objects.filter(mention_id=OuterRef("pk"), query_id__in=query_ids))
        )
    rows = list(
        qs.order_by("-created_at", "-pk").only(
            "pk",
            "platform",
            "created_at",
            "author_handle",
            "author_name",
            "author_followers",
            "language",
            "sentiment",
            "intent",
            "query_ids",
            "country",
            "city",
            "customer_id",
        )[: MENTION_SCAN + 1]
    )
    truncated = len(rows) > MENTION_SCAN
    rows = rows[:MENTION_SCAN]
    rows.reverse()  # oldest first, as the stream saw them
    views = [MentionView.from_row(m) for m in rows]
    segment_ids = {c["segment_id"]} if "segment_id" in c else set()
    values, segments = customer_facts(
        {v.customer_id for v in views if v.customer_id is not None}, segment_ids
    )
    facts = Facts(book.query_kind, book.query_name, values, segments)
    last_fire: dict[str, datetime] = {}
    fires = []
    cooldown = timedelta(minutes=rule.cooldown_minutes)
    for v in views:
        if not mention_matches(rule.kind, c, v, facts):
            continue
        s = signal_for(rule, v, facts)
        last = last_fire.get(s.dedup_key)
        if last is not None and v.created_at - last < cooldown:
            continue  # within the cooldown: the live detector suppresses (or appends) it
        last_fire[s.dedup_key] = v.created_at
        fires.append(
            {
                "at": v.created_at.isoformat(),
                "title": s.title,
                "severity": s.severity,
                "mention_id": v.id,
            }
        )
    return _answer(fires, start, end, scanned=len(views), truncated=truncated)


# --- Rate kinds ----------------------------------------------------------------------------


def _rates(rule, book, start, end) -> dict:
    from apiary.listening.models import MentionMatch, MentionRollupDay

    queries = book.watched_queries(rule)
    if not queries:
        return _answer([], start, end, truncated=False, note=_("No active query to watch."))
    # Bounded cost: shorten the window (from its start) until it holds at most RATE_SCAN.
    truncated = False
    day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
    per_day = dict(
        MentionRollupDay.objects.filter(query_id__in=queries, day__gte=day0)
        .values_list("day")
        .annotate(n=Sum("count"))
    )
    total = sum(per_day.values())
    if total > RATE_SCAN:
        kept, acc = end, 0
        for day in sorted(per_day, reverse=True):
            if acc + per_day[day] > RATE_SCAN:
                break
            acc += per_day[day]
            kept = day
        start, truncated = max(start, kept), True
    c = rule.conditions
    measures = set(c["measure"])
    qs = MentionMatch.objects.filter(
        query_id__in=queries, created_at__gte=start, created_at__lt=end
    )
    if measures == {"negative"}:
        qs = qs.filter(mention__sentiment="negative")
    if c.get("countries"):
        qs = qs.filter(mention__country__in=c["countries"])
    rows = (
        qs.annotate(minute=Trunc("created_at", "minute", tzinfo=UTC))
        .values("query_id", "minute", "mention__country", "mention__sentiment")
        .annotate(n=Count("pk"))
    )
    counts: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        for key in series_keys(rule, r["query_id"], r["mention__country"], r["mention__sentiment"]):
            counts[key][minute_of(r["minute"])] += r["n"]
    profile = _seasonal_profile(rule, queries, start)
    params = params_for(rule)
    first, last = minute_of(start), minute_of(end)
    fires = []
    for key, by_minute in counts.items():
        t = SpikeTracker(
            params,
            since=first,
            seasonal=lambda m, key=key: profile.get((key, minute_start(m).hour), 0.0),
        )
        for m in range(first, last + 1):
            n = by_minute.get(m, 0)
            if n:
                t.add(m, n)
            if not n and not t.firing and not t.counts:
                continue  # nothing in the window and nothing firing: no decision possible
            d = t.evaluate(m, final=m < last)
            if d is not None and d.action == "fire":
                numbers = {**d.numbers, "query": book.query_name.get(key[0], str(key[0]))}
                fires.append(
                    {
                        "at": minute_start(m).isoformat(),
                        "title": title_for(rule, key, numbers, numbers["query"]),
                        "numbers": numbers,
                    }
                )
    fires.sort(key=lambda f: f["at"])
    return _answer(fires, start, end, truncated=truncated, series=len(counts))


def _seasonal_profile(rule, queries, start) -> dict:
    """(series, hour of day) → median mentions per minute over the SEASONAL_DAYS before."""
    from apiary.listening.models import MentionRollup

    since = start - timedelta(days=SEASONAL_DAYS)
    per: dict[tuple, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        MentionRollup.objects.filter(query_id__in=queries, hour__gte=since, hour__lt=start)
        .values("query_id", "hour", "country", "sentiment")
        .annotate(n=Sum("count"))
    )
    for r in rows:
        for key in series_keys(rule, r["query_id"], r["country"], r["sentiment"]):
            per[key][r["hour"]] += r["n"]
    out = {}
    base = since.replace(minute=0, second=0, microsecond=0)
    for key, by_hour in per.items():
        for hod in range(24):
            first = base + timedelta(hours=(hod - base.hour) % 24)
            hours = [
                first + timedelta(days=d)
                for d in range(SEASONAL_DAYS)
                if first + timedelta(days=d) < start
            ]
            if hours:
                out[(key, hod)] = statistics.median(by_hour.get(h, 0) for h in hours) / 60.0
    return out


# --- Care kinds ----------------------------------------------------------------------------


def _care(rule, start, end) -> dict:
    from apiary.care.models import Conversation

    from .detectors.care import _conversation_matches, _segments_ok, _who

    c = rule.conditions
    if rule.kind == Kind.SLA_BREACH:
        qs = Conversation.objects.filter(sla_breached_at__gte=start, sla_breached_at__lt=end)
        at_field = "sla_breached_at"
    else:
        wait = timedelta(minutes=int(c.get("wait_minutes", 15)))
        qs = Conversation.objects.filter(
            customer__isnull=False, created_at__gte=start - wait, created_at__lt=end - wait
        ).filter(
            Q(first_response_at__isnull=True) | Q(first_response_at__gt=F("created_at") + wait)
        )
        at_field = "created_at"
    convs = list(qs.order_by(at_field)[:MENTION_SCAN])
    segment_ids = {c["segment_id"]} if "segment_id" in c else set()
    values, segments = customer_facts({x.customer_id for x in convs if x.customer_id}, segment_ids)
    fires = []
    for conv in convs:
        if not _conversation_matches(c, conv, values) or not _segments_ok(c, conv, segments):
            continue
        at = getattr(conv, at_field)
        if rule.kind == Kind.VIP_WAITING:
            at = at + timedelta(minutes=int(c.get("wait_minutes", 15)))
        fires.append(
            {
                "at": at.isoformat(),
                "title": (
                    _("SLA breached: %(who)s")
                    if rule.kind == Kind.SLA_BREACH
                    else _("VIP waiting: %(who)s")
                )
                % {"who": _who(conv)},
                "conversation_id": conv.pk,
                "customer_value": str(values.get(conv.customer_id, (0, Decimal(0)))[1])
                if conv.customer_id
                else None,
            }
        )
    return _answer(fires, start, end, truncated=len(convs) >= MENTION_SCAN)
