"""The personalised home feed ("For you"): recent posts ranked by what the member follows, what
they read, freshness and engagement, each with the reason it is there.

**Bounded candidates, never the whole table.** Only posts active in the last ``WINDOW_DAYS``
are candidates, and they come from a few indexed queries, each with a limit:

- the newest ``POOL`` active posts the viewer may read (fresh and popular; the only source for
  anonymous visitors), walked on ``(state, -last_activity_at)``;
- up to ``PER_SOURCE`` newest active posts of the followed and most-read spaces
  (``(space, state, -last_activity_at)``), of followed people (``(author, state, …)``) and
  newest posts with a followed or most-read tag (``(tag, post)``, one ``UNION ALL`` of
  per-tag limits);

then one query keeps those the viewer may read (:func:`access.posts_visible`, published, in the
window). Interests are the member's newest ``INTEREST_EVENTS`` ``post.view`` / ``space.view``
events of the last ``INTEREST_DAYS`` (``ActivityEvent (user_id, at)``), aggregated by space and
by the viewed posts' tags: a bounded read per request, no stored profile to keep up to date.

**Score** (at most a few hundred candidates, in Python): the sum of ``WEIGHTS`` times follow
(person, space, tag), interest (share of recent reads in the space / on the tag), membership,
freshness (halving every ``HALF_LIFE_HOURS`` of inactivity) and engagement (log of comments,
reactions, votes, views), minus a little for posts the member has already opened. The biggest
personal part is the explanation ("Because you follow #espresso"); without one the post is
"Popular" or "New". A space shows at most ``MAX_PER_SPACE`` times in every ``DIVERSITY_RUN``
posts, so one busy space cannot fill the feed. Pages are offsets into the ranked list, which
is capped at ``FEED_MAX``. The member's own posts are left out.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.community import access
from apiary.community.models import (
    ActivityEvent,
    Follow,
    Post,
    PostState,
    PostTag,
)
from apiary.community.search import in_ids

WINDOW_DAYS = 30
POOL = 300
PER_SOURCE = 100
TAG_SOURCE = 60  # per tag
MAX_SOURCE_SPACES = 30
MAX_SOURCE_TAGS = 12
MAX_SOURCE_PEOPLE = 200
INTEREST_EVENTS = 300
INTEREST_DAYS = 60
HALF_LIFE_HOURS = 36.0
FEED_MAX = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 50
MAX_PER_SPACE = 3
DIVERSITY_RUN = 10
ENGAGEMENT_SCALE = math.log1p(200)
POPULAR_AT = 0.5  # engagement (0..1) from which a post without a personal reason is "Popular"
WEIGHTS = {
    "follow_user": 4.0,
    "follow_space": 3.0,
    "follow_tag": 3.0,
    "read_space": 2.0,
    "read_tag": 2.0,
    "member_space": 1.0,
    "fresh": 3.0,
    "engagement": 1.5,
    "seen": -3.0,
}
# What scoring reads of each candidate (no publication date: freshness is last activity, and
# each date loaded costs ~4 µs, for up to ~1,000 candidates).
_FIELDS = (
    "pk",
    "space_id",
    "author_id",
    "last_activity_at",
    "comments_count",
    "reactions_count",
    "votes_count",
    "views_count",
)


@dataclass(frozen=True)
class Reason:
    code: str  # follow_user, follow_space, follow_tag, read_space, read_tag, member_space,
    # popular, new
    text: str  # translated sentence, built only from what the viewer may see
    tag: str | None = None  # tag slug for follow_tag / read_tag


@dataclass
class FeedItem:
    post: Post
    score: float
    reason: Reason
    parts: dict  # score components, for tests and the API's "why"


@dataclass
class FeedPage:
    items: list[FeedItem]
    offset: int
    limit: int
    total: int  # ranked items available (≤ FEED_MAX)

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + self.limit
        return nxt if nxt < self.total else None


@dataclass
class _Signals:
    users: set
    spaces: set
    tags: set
    member_spaces: set  # active memberships (read once from the request's cache)
    read_spaces: dict  # space id → 0..1 share of recent reads (max = 1)
    read_tags: dict
    seen: set


def _normalised(counts: Counter) -> dict:
    top = max(counts.values(), default=0)
    return {k: v / top for k, v in counts.items()} if top else {}


def _signals(user, now) -> _Signals:
    """What the member follows and reads (three small indexed queries)."""
    if not access.is_authenticated(user):
        return _Signals(set(), set(), set(), set(), {}, {}, set())
    users, spaces, tags = set(), set(), set()
    for uid, sid, tid in Follow.objects.filter(follower_id=user.pk).values_list(
        "user_id", "space_id", "tag_id"
    ):
        if uid:
            users.add(uid)
        elif sid:
            spaces.add(sid)
        elif tid:
            tags.add(tid)
    events = list(
        ActivityEvent.objects.filter(
            user_id=user.pk,
            at__gte=now - timedelta(days=INTEREST_DAYS),
            kind__in=("post.view", "space.view"),
        )
        .order_by("-at")
        .values_list("space_id", "post_id")[:INTEREST_EVENTS]
    )
    read_spaces = Counter(sid for sid, _pid in events if sid)
    seen = {pid for _sid, pid in events if pid}
    read_tags: Counter = Counter()
    if seen:
        for tag_id, n in (
            PostTag.objects.filter(in_ids('"community_posttag"."post_id"', seen))
            .values("tag_id")
            .annotate(n=Count("pk"))
            .order_by("-n")
            .values_list("tag_id", "n")[:MAX_SOURCE_TAGS]
        ):
            read_tags[tag_id] = n
    return _Signals(
        users=users,
        spaces=spaces,
        tags=tags,
        member_spaces=access.member_space_ids(user),
        read_spaces=_normalised(read_spaces),
        read_tags=_normalised(read_tags),
        seen=seen,
    )


def _top(weights: dict, n: int) -> list:
    return [k for k, _w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _tagged_post_ids(tag_ids: list[int]) -> list[int]:
    """The newest ``TAG_SOURCE`` post ids of each tag, in one query: a ``UNION ALL`` of one
    backwards walk of ``(tag, post)`` per tag (Django's SQLite backend refuses a sliced union,
    and a single ``tag IN (…)`` would sort every post of a big tag)."""
    table = PostTag._meta.db_table
    part = (
        f"SELECT post_id FROM (SELECT post_id FROM {table} WHERE tag_id = %s "  # noqa: S608
        f"ORDER BY post_id DESC LIMIT {int(TAG_SOURCE)}) AS t{{i}}"
    )
    sql = " UNION ALL ".join(part.format(i=i) for i in range(len(tag_ids)))
    with connection.cursor() as cur:
        cur.execute(sql, list(tag_ids))
        return [int(r[0]) for r in cur.fetchall()]


def _fresh_pool(user, since) -> list[tuple]:
    """The ``POOL`` most recently active posts since ``since`` the viewer may read.

    Asked first over the last day, then the last week, then the whole window: the newest
    ``POOL`` of a shorter span are the newest of the longer one whenever the span holds that
    many, so the answer is the same, but the database reads a day's posts instead of a month's.
    (With the visibility join the planners walk each readable space's posts of the span and
    sort them; on a million posts a month of them is ~65,000 rows and 100 ms on SQLite.)"""
    end = since + timedelta(days=WINDOW_DAYS)
    rows: list[tuple] = []
    for days in (1, 7, WINDOW_DAYS):
        start = max(since, end - timedelta(days=days))
        span = Post.objects.filter(state=PostState.PUBLISHED, last_activity_at__gte=start)
        rows = list(
            access.posts_visible(user, span)
            .order_by("-last_activity_at", "-pk")
            .values_list(*_FIELDS)[:POOL]
        )
        if len(rows) >= POOL or start <= since:
            break
    return rows


def _candidates(user, sig: _Signals, since) -> dict[int, tuple]:
    """pk → row (``_FIELDS``) of every candidate the viewer may read."""
    recent = Post.objects.filter(state=PostState.PUBLISHED, last_activity_at__gte=since)
    rows = {r[0]: r for r in _fresh_pool(user, since)}
    ids: set[int] = set()
    spaces = list(sig.spaces | set(_top(sig.read_spaces, MAX_SOURCE_SPACES)))[:MAX_SOURCE_SPACES]
    if spaces:
        ids.update(
            recent.filter(space_id__in=spaces)
            .order_by("-last_activity_at")
            .values_list("pk", flat=True)[:PER_SOURCE]
        )
    if sig.users:
        ids.update(
            recent.filter(author_id__in=list(sig.users)[:MAX_SOURCE_PEOPLE])
            .order_by("-last_activity_at")
            .values_list("pk", flat=True)[:PER_SOURCE]
        )
    tags = list(sig.tags | set(_top(sig.read_tags, MAX_SOURCE_TAGS)))[:MAX_SOURCE_TAGS]
    if tags:
        ids.update(_tagged_post_ids(tags))
    ids -= set(rows)
    if ids:
        listed = recent.filter(in_ids('"community_post"."id"', ids))
        for r in access.posts_visible(user, listed).values_list(*_FIELDS):
            rows[r[0]] = r
    return rows


def _engagement(row) -> float:
    _pk, _s, _a, _l, comments, reactions, votes, views = row
    raw = comments * 3 + reactions * 2 + votes * 2 + views / 10
    return min(1.0, math.log1p(raw) / ENGAGEMENT_SCALE)


def _score(row, tags: list[tuple[int, str]], sig: _Signals, now) -> tuple[float, dict, tuple]:
    """(score, components, best personal reason as (code, detail) or None)."""
    pk, space_id, author_id, active, *_counts = row
    w = WEIGHTS
    parts: dict[str, float] = {}
    personal: list[tuple[float, str, object]] = []
    if author_id in sig.users:
        parts["follow_user"] = w["follow_user"]
        personal.append((parts["follow_user"], "follow_user", None))
    if space_id in sig.spaces:
        parts["follow_space"] = w["follow_space"]
        personal.append((parts["follow_space"], "follow_space", None))
    followed = [t for t in tags if t[0] in sig.tags]
    if followed:
        parts["follow_tag"] = w["follow_tag"]
        personal.append((parts["follow_tag"], "follow_tag", followed[0]))
    if sig.read_spaces.get(space_id):
        parts["read_space"] = w["read_space"] * sig.read_spaces[space_id]
        personal.append((parts["read_space"], "read_space", None))
    read = sorted((sig.read_tags.get(t[0], 0.0), t) for t in tags if sig.read_tags.get(t[0]))
    if read:
        parts["read_tag"] = w["read_tag"] * read[-1][0]
        personal.append((parts["read_tag"], "read_tag", read[-1][1]))
    if space_id in sig.member_spaces:
        parts["member_space"] = w["member_space"]
        personal.append((parts["member_space"], "member_space", None))
    hours = max(0.0, (now - active).total_seconds() / 3600)
    parts["fresh"] = w["fresh"] * 0.5 ** (hours / HALF_LIFE_HOURS)
    parts["engagement"] = w["engagement"] * _engagement(row)
    if pk in sig.seen:
        parts["seen"] = w["seen"]
    best = max(personal, key=lambda p: p[0]) if personal else None
    return sum(parts.values()), parts, best


def _reason(best, parts: dict, post: Post) -> Reason:
    if best is None:
        if parts["engagement"] >= WEIGHTS["engagement"] * POPULAR_AT:
            return Reason("popular", _("Popular in the community"))
        return Reason("new", _("New"))
    _w, code, detail = best
    if code == "follow_user":
        return Reason(code, _("Because you follow %(name)s") % {"name": post.author.name})
    if code == "follow_space":
        return Reason(code, _("Because you follow %(space)s") % {"space": post.space.name})
    if code == "follow_tag":
        return Reason(code, _("Because you follow #%(tag)s") % {"tag": detail[2]}, detail[1])
    if code == "read_space":
        return Reason(code, _("Because you read %(space)s") % {"space": post.space.name})
    if code == "read_tag":
        return Reason(code, _("Because you read about #%(tag)s") % {"tag": detail[2]}, detail[1])
    return Reason(code, _("From %(space)s, a space you belong to") % {"space": post.space.name})


def _diversified(ranked: list) -> list:
    """At most MAX_PER_SPACE posts of one space in every run of DIVERSITY_RUN (stable)."""
    out, waiting = [], list(ranked)
    while waiting:
        run_start = len(out) - len(out) % DIVERSITY_RUN
        in_run = Counter(item[1][1] for item in out[run_start:])
        for i, item in enumerate(waiting):
            if in_run[item[1][1]] < MAX_PER_SPACE:
                out.append(waiting.pop(i))
                break
        else:
            out.append(waiting.pop(0))  # only crowded spaces left: keep the order
    return out


def feed_page(*, user, limit: int = DEFAULT_LIMIT, offset: int = 0, now=None) -> FeedPage:
    """The viewer's ranked feed, ``limit`` items from ``offset``. Anonymous visitors get the
    fresh and popular posts they may read."""
    now = now or timezone.now()
    sig = _signals(user, now)
    rows = _candidates(user, sig, now - timedelta(days=WINDOW_DAYS))
    if access.is_authenticated(user):
        rows = {pk: r for pk, r in rows.items() if r[2] != user.pk}
    tags: dict[int, list[tuple[int, str, str]]] = {}
    if rows:
        for pid, tid, slug, name in (
            PostTag.objects.filter(in_ids('"community_posttag"."post_id"', rows))
            .order_by("tag__slug")
            .values_list("post_id", "tag_id", "tag__slug", "tag__name")
        ):
            tags.setdefault(pid, []).append((tid, slug, name))
    scored = []
    for pk, row in rows.items():
        score, parts, best = _score(row, tags.get(pk, []), sig, now)
        scored.append(((score, pk), row, parts, best))
    scored.sort(key=lambda s: s[0], reverse=True)
    ranked = _diversified(scored[:FEED_MAX])
    chosen = ranked[offset : offset + limit]
    posts = (
        Post.objects.filter(pk__in=[c[1][0] for c in chosen])
        .select_related("space", "author")
        .in_bulk()
    )
    items = []
    for (score, pk), _row, parts, best in chosen:
        post = posts.get(pk)
        if post is not None:
            items.append(FeedItem(post, round(score, 4), _reason(best, parts, post), parts))
    return FeedPage(items=items, offset=offset, limit=limit, total=len(ranked))
