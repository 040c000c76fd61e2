"""Analytics reads over the activity log (``ActivityEvent``), computed in the database.

One function per metric, each a single aggregate query (the median: a count and one ordered
row), so a dashboard never loads events into Python. Periods are half-open ``[start, end)`` in
UTC; days are UTC calendar days. "Active" means any event with a user (views, writes, sessions,
log-ins): anonymous visitors are counted in sessions and views, not in DAU/MAU.

Indexes: ``(at, user_id)`` for the active-user counts, ``(kind, at)`` for the per-kind counts and
the session lengths (``session.end`` events carry ``duration_ms``).

Event kinds (``kind``; ids in ``user_id``, ``space_id``, ``post_id``, ``comment_id``;
``session_key`` is the visit id):

- visits: ``session.start`` (data: landing URL name, referrer host), ``session.end``
  (``duration_ms``; data.reason: idle / logout / user_changed), ``login`` (data.method),
  ``logout``;
- views, at most once per visit per object per 30 minutes: ``post.view``, ``space.view``,
  ``profile.view`` (data.user_id), ``tag.view`` (data.tag), ``search`` (data: words, filtered,
  results — never the words themselves), ``share.open``;
- content: ``post.create`` (data.type, data.published), ``post.publish``, ``post.edit``,
  ``post.delete``, ``comment.create`` (data.reply, data.answer), ``comment.edit``,
  ``comment.delete``;
- reactions and votes: ``reaction`` / ``reaction.remove`` (data.kind), ``idea.vote`` /
  ``idea.unvote``, ``poll.vote`` / ``poll.unvote``, ``contest.entry``, ``contest.vote`` /
  ``contest.unvote``, ``answer.accept`` / ``answer.unaccept``;
- ``share`` (data.kind internal/external), ``flag`` (data.reason), ``follow``;
- spaces and moderation: ``space.create``, ``space.join``, ``space.leave``, ``membership.*``,
  ``invitation.*``, ``post.pin``, ``post.lock``, ``post.moderate``, ``idea.status``,
  ``contest.decide``;
- e-mail: ``mail.sent`` (data.type immediate/daily/weekly, data.items), ``mail.unsubscribe``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate

from apiary.community.models import ActivityEvent

CREATE_KINDS = ("post.create", "comment.create")


def _range(start: datetime, end: datetime, kinds=None):
    qs = ActivityEvent.objects.filter(at__gte=start, at__lt=end)
    if kinds:
        qs = qs.filter(kind__in=list(kinds))
    return qs


def active_users(*, start: datetime, end: datetime, kinds=None) -> int:
    """Distinct users with at least one event in the period (MAU: a 30-day period)."""
    return (
        _range(start, end, kinds)
        .filter(user_id__isnull=False)
        .aggregate(n=Count("user_id", distinct=True))["n"]
    )


def daily_active_users(*, start: datetime, end: datetime) -> list[tuple[date, int]]:
    """``[(day, distinct users)]`` for the days that had any (missing days had none)."""
    rows = (
        _range(start, end)
        .filter(user_id__isnull=False)
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("user_id", distinct=True))
        .order_by("day")
    )
    return [(r["day"], r["n"]) for r in rows]


def stickiness(*, end: datetime, days: int = 30) -> float:
    """Average DAU over the ``days`` before ``end`` divided by the users active in that period
    (DAU/MAU; 1.0 = everyone every day)."""
    start = end - timedelta(days=days)
    mau = active_users(start=start, end=end)
    if not mau:
        return 0.0
    total = sum(n for _day, n in daily_active_users(start=start, end=end))
    return total / days / mau


def session_length_median(*, start: datetime, end: datetime) -> float | None:
    """Median visit length in ms of the visits that ended in the period (None: no visits).
    Portable: the count, then the middle one or two rows by ``ORDER BY … OFFSET``."""
    qs = _range(start, end, ["session.end"]).filter(duration_ms__isnull=False)
    n = qs.count()
    if not n:
        return None
    ordered = qs.order_by("duration_ms").values_list("duration_ms", flat=True)
    middle = list(ordered[(n - 1) // 2 : n // 2 + 1])
    return sum(middle) / len(middle)


def session_count(*, start: datetime, end: datetime) -> int:
    return _range(start, end, ["session.start"]).count()


def event_counts_by_day(
    *, start: datetime, end: datetime, kinds=None
) -> list[tuple[date, str, int]]:
    """``[(day, kind, events)]`` ordered by day then kind."""
    rows = (
        _range(start, end, kinds)
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .values("day", "kind")
        .annotate(n=Count("pk"))
        .order_by("day", "kind")
    )
    return [(r["day"], r["kind"], r["n"]) for r in rows]


def content_mix(*, start: datetime, end: datetime) -> dict:
    """What members did in the period, for the UGC and ratio tiles: posts, comments,
    reactions, shares, votes, views, and the share of active users who created something."""
    counts = dict(
        _range(start, end)
        .filter(
            kind__in=[
                *CREATE_KINDS,
                "reaction",
                "share",
                "post.view",
                "idea.vote",
                "poll.vote",
                "contest.vote",
            ]
        )
        .values("kind")
        .annotate(n=Count("pk"))
        .values_list("kind", "n")
    )
    creators = active_users(start=start, end=end, kinds=CREATE_KINDS)
    active = active_users(start=start, end=end)
    return {
        "posts": counts.get("post.create", 0),
        "comments": counts.get("comment.create", 0),
        "reactions": counts.get("reaction", 0),
        "shares": counts.get("share", 0),
        "votes": sum(counts.get(k, 0) for k in ("idea.vote", "poll.vote", "contest.vote")),
        "views": counts.get("post.view", 0),
        "creators": creators,
        "active_users": active,
        "creator_share": creators / active if active else 0.0,
    }
