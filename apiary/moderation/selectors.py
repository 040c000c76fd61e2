"""Moderation reads: effective settings, suspensions (the write chokepoint's question), the queue,
an item with its flags and the author's history, the audit trail and the statistics.

Every queue read is filtered by ``moderation.access.items_visible``; the statistics are computed in
the database (counts with conditional aggregates, medians by ordering on the stored timestamps'
difference and reading the middle row), so they cost the same few queries at any volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from apiary.community.models import Comment, Flag, Post, PostState, Space
from apiary.moderation import access, trust
from apiary.moderation.models import (
    HiddenBy,
    ItemState,
    MemberSanction,
    ModerationAction,
    ModerationItem,
    ModerationSettings,
    SanctionKind,
)

# --- settings ---------------------------------------------------------------------------------

DEFAULTS = {
    "flag_threshold": 3,  # weighted open flags that hide content
    "first_post_hold": True,  # hold a new member's first posts for approval
    "first_post_count": 1,  # … this many, while they have no approved post
    "spam_check": True,
    "posts_per_minute": 3,
    "posts_per_hour": 20,
    "comments_per_minute": 6,
    "comments_per_hour": 60,
}
FIELDS = tuple(DEFAULTS)


@dataclass(frozen=True)
class EffectiveSettings:
    flag_threshold: int
    first_post_hold: bool
    first_post_count: int
    spam_check: bool
    posts_per_minute: int
    posts_per_hour: int
    comments_per_minute: int
    comments_per_hour: int
    # where each value came from: "space", "community", "default"
    sources: dict = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in FIELDS}


def moderation_settings(*, space: Space | None = None) -> EffectiveSettings:
    """Space row → community row → ``settings.APIARY_MODERATION`` → :data:`DEFAULTS`."""
    base = {**DEFAULTS, **getattr(django_settings, "APIARY_MODERATION", {})}
    rows = {
        row.space_id: row
        for row in ModerationSettings.objects.filter(
            Q(space__isnull=True) | Q(space_id=getattr(space, "pk", -1))
        )
    }
    layers = [(rows.get(None), "community")]
    if space is not None:
        layers.append((rows.get(space.pk), "space"))
    values, sources = {}, {}
    for name in FIELDS:
        values[name], sources[name] = base[name], "default"
        for row, label in layers:
            if row is not None and getattr(row, name) is not None:
                values[name], sources[name] = getattr(row, name), label
    return EffectiveSettings(**values, sources=sources)


def settings_row(*, space: Space | None = None) -> ModerationSettings | None:
    return ModerationSettings.objects.filter(space=space).first()


# --- suspensions (asked by community.access on every write) ----------------------------------

_CACHE_ATTR = "_moderation_suspensions"


def active_suspensions_q(now: datetime | None = None) -> Q:
    """The database side of ``MemberSanction.is_active``."""
    now = now or timezone.now()
    return Q(kind=SanctionKind.SUSPEND, lifted_at__isnull=True) & (
        Q(until__isnull=True) | Q(until__gt=now)
    )


def _suspensions(user) -> list[tuple[int | None, datetime | None]]:
    """(space_id or None for community-wide, until) of the user's active suspensions; one query
    per request, cached on the user object like community memberships."""
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        cached = list(
            MemberSanction.objects.filter(active_suspensions_q(), user_id=user.pk).values_list(
                "space_id", "until"
            )
        )
        setattr(user, _CACHE_ATTR, cached)
    return cached


def suspensions_forget(user) -> None:
    if user is not None and hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def suspension_until(user, space) -> tuple[bool, datetime | None]:
    """(suspended?, until) for writing into ``space`` (an id or a Space)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False, None
    space_id = space if isinstance(space, int) or space is None else space.pk
    now = timezone.now()
    found = [
        until
        for sid, until in _suspensions(user)
        if (sid is None or sid == space_id) and (until is None or until > now)
    ]
    if not found:
        return False, None
    return True, None if any(u is None for u in found) else max(found)


def is_suspended(user, space) -> bool:
    return suspension_until(user, space)[0]


# --- the queue --------------------------------------------------------------------------------


def queue_list(
    *,
    user,
    state: str | None = ItemState.PENDING,
    reason: str | None = None,
    space: Space | None = None,
) -> QuerySet:
    access.require_queue(user)
    qs = access.items_visible(user)
    if state:
        qs = qs.filter(state=state)
    if reason:
        qs = qs.filter(reason=reason)
    if space is not None:
        qs = qs.filter(space=space)
    order = ["-opened_at", "-id"] if state == ItemState.PENDING else ["-resolved_at", "-id"]
    # Pending: the heaviest-flagged and hidden first, then the oldest waiting.
    if state == ItemState.PENDING:
        order = [F("hidden_at").desc(nulls_last=True), "-flags_weight", "opened_at", "id"]
    related = ("space", "post", "comment", "comment__post", "author", "resolved_by")
    return qs.select_related(*related).order_by(*order)


def queue_counts(*, user) -> dict[str, int]:
    """Pending items per reason (the filter's badges), one grouped query."""
    if not access.can_use_queue(user):
        return {}
    rows = (
        access.items_visible(user)
        .filter(state=ItemState.PENDING)
        .values("reason")
        .annotate(n=Count("id"))
    )
    counts = {r["reason"]: r["n"] for r in rows}
    counts["all"] = sum(counts.values())
    return counts


def queue_spaces(*, user) -> QuerySet:
    """Spaces for the queue's filter: the ones the user moderates."""
    ids = access.moderated_space_ids(user)
    qs = Space.objects.all() if ids is None else Space.objects.filter(pk__in=ids)
    return qs.order_by("name")


@dataclass
class FlagView:
    flag: Flag
    trust_level: int
    weight: int


@dataclass
class AuthorHistory:
    sanctions: list  # MemberSanction, newest first
    removed_count: int  # earlier items resolved as removed
    approved_count: int
    suspended: bool
    suspended_until: datetime | None
    trust_level: int


def item_flags(item: ModerationItem) -> QuerySet:
    if item.comment_id:
        return Flag.objects.filter(comment_id=item.comment_id)
    return Flag.objects.filter(post_id=item.post_id)


def item_actions(item: ModerationItem) -> list[ModerationAction]:
    """The item's audit trail, newest first (the item's page; call with an item from
    ``access.item_for_moderation``, its row itself comes from :func:`queue_page`)."""
    return list(ModerationAction.objects.filter(item=item).select_related("actor").order_by("-at"))


def action_list(*, user, space: Space | None = None, target_user=None) -> QuerySet:
    """The audit trail, newest first: what the user may see (their spaces; staff: everything,
    community-wide sanctions included)."""
    access.require_queue(user)
    qs = ModerationAction.objects.select_related("actor", "target_user")
    ids = access.moderated_space_ids(user)
    if ids is not None:
        qs = qs.filter(space_id__in=ids)
    if space is not None:
        qs = qs.filter(space_id=space.pk)
    if target_user is not None:
        qs = qs.filter(target_user=target_user)
    return qs.order_by("-at", "-id")


def sanction_list(*, user, target_user=None, active_only: bool = False) -> QuerySet:
    access.require_queue(user)
    qs = MemberSanction.objects.select_related("user", "space", "by")
    ids = access.moderated_space_ids(user)
    if ids is not None:
        # A space moderator sees the sanctions of their spaces and community-wide ones (they
        # explain why a member cannot post there).
        qs = qs.filter(Q(space_id__in=ids) | Q(space__isnull=True))
    if target_user is not None:
        qs = qs.filter(user=target_user)
    if active_only:
        qs = qs.filter(active_suspensions_q())
    return qs.order_by("-created_at", "-id")


# --- statistics -------------------------------------------------------------------------------


@dataclass
class Stats:
    since: datetime
    until: datetime
    posts: int
    comments: int
    flags: int  # on posts and comments
    # "posts" as in Discourse: topics and replies together (flags land on both)
    flags_per_1000_posts: float | None
    items_opened: int
    items_resolved: int
    handled_by_community: int
    handled_by_staff: int
    community_share: float | None  # of resolved items
    hidden_by_flags: int
    median_seconds_to_hide: float | None
    median_seconds_to_resolve: float | None
    pending: int
    spaces: list = field(default_factory=list)  # per-space rows (dicts)


def _median_seconds(qs: QuerySet, start: str, end: str) -> float | None:
    """Median of ``end - start`` in seconds, computed by the database: order by the difference
    and read the middle one or two rows (works the same on SQLite and PostgreSQL)."""
    qs = qs.filter(**{f"{start}__isnull": False, f"{end}__isnull": False}).annotate(
        _took=ExpressionWrapper(F(end) - F(start), output_field=DurationField())
    )
    n = qs.count()
    if not n:
        return None
    ordered = qs.order_by("_took", "id").values_list("_took", flat=True)
    middle = list(ordered[(n - 1) // 2 : n // 2 + 1])
    seconds = [d.total_seconds() if isinstance(d, timedelta) else d / 1e6 for d in middle]
    return round(sum(seconds) / len(seconds), 1)


def stats(*, user, space: Space | None = None, since: datetime | None = None, until=None) -> Stats:
    """Flags per 1,000 posts, who handled what, median time to hide and to resolve, for the
    spaces the user moderates (or one of them) over a period (default: the last 30 days)."""
    access.require_queue(user)
    until = until or timezone.now()
    since = since or until - timedelta(days=30)
    ids = access.moderated_space_ids(user)
    if space is not None:
        # a space the user does not moderate gives empty figures, never its numbers
        ids = [] if ids is not None and space.pk not in ids else [space.pk]

    def scoped(qs, path):
        return qs if ids is None else qs.filter(**{f"{path}__in": ids})

    posts_qs = scoped(
        Post.objects.filter(created_at__gte=since, created_at__lt=until).exclude(
            state=PostState.DRAFT
        ),
        "space_id",
    )
    comments_qs = scoped(
        Comment.objects.filter(created_at__gte=since, created_at__lt=until), "post__space_id"
    )
    flags_qs = Flag.objects.filter(created_at__gte=since, created_at__lt=until)
    flags_qs = (
        flags_qs
        if ids is None
        else flags_qs.filter(Q(post__space_id__in=ids) | Q(comment__post__space_id__in=ids))
    )
    items = scoped(ModerationItem.objects.all(), "space_id")
    opened = items.filter(opened_at__gte=since, opened_at__lt=until)
    resolved = items.filter(resolved_at__gte=since, resolved_at__lt=until)
    hidden = items.filter(
        hidden_at__gte=since,
        hidden_at__lt=until,
        hidden_by__in=[HiddenBy.COMMUNITY, HiddenBy.STAFF],
    )
    agg = resolved.aggregate(
        total=Count("id"), community=Count("id", filter=Q(handled_by_community=True))
    )
    posts_n = posts_qs.count()
    comments_n = comments_qs.count()
    contributions = posts_n + comments_n
    flags_n = flags_qs.count()
    spaces = _per_space(posts_qs, comments_qs, flags_qs, opened, resolved)
    return Stats(
        since=since,
        until=until,
        posts=posts_n,
        comments=comments_n,
        flags=flags_n,
        flags_per_1000_posts=round(1000 * flags_n / contributions, 1) if contributions else None,
        items_opened=opened.count(),
        items_resolved=agg["total"],
        handled_by_community=agg["community"],
        handled_by_staff=agg["total"] - agg["community"],
        community_share=round(agg["community"] / agg["total"], 3) if agg["total"] else None,
        hidden_by_flags=hidden.count(),
        median_seconds_to_hide=_median_seconds(hidden, "opened_at", "hidden_at"),
        median_seconds_to_resolve=_median_seconds(resolved, "opened_at", "resolved_at"),
        pending=items.filter(state=ItemState.PENDING).count(),
        spaces=spaces,
    )


def _per_space(posts_qs, comments_qs, flags_qs, opened, resolved) -> list[dict]:
    """Counts per space, one grouped query each (medians stay overall: per space they are one
    call of :func:`stats` with ``space=``)."""
    posts = dict(posts_qs.values_list("space_id").annotate(n=Count("id")))
    comments = dict(comments_qs.values_list("post__space_id").annotate(n=Count("id")))
    flags = dict(
        flags_qs.annotate(sid=Coalesce("post__space_id", "comment__post__space_id"))
        .values_list("sid")
        .annotate(n=Count("id"))
    )
    res = {
        r["space_id"]: r
        for r in resolved.values("space_id").annotate(
            total=Count("id"), community=Count("id", filter=Q(handled_by_community=True))
        )
    }
    opened_n = dict(opened.values_list("space_id").annotate(n=Count("id")))
    ids = set(posts) | set(comments) | set(flags) | set(res) | set(opened_n)
    spaces = {
        pk: (slug, name)
        for pk, slug, name in Space.objects.filter(pk__in=ids).values_list("pk", "slug", "name")
    }
    rows = []
    for sid in sorted(ids, key=lambda i: spaces.get(i, ("", ""))[1]):
        p, f = posts.get(sid, 0) + comments.get(sid, 0), flags.get(sid, 0)
        r = res.get(sid, {"total": 0, "community": 0})
        rows.append(
            {
                "space": spaces.get(sid, ("", ""))[0],
                "name": spaces.get(sid, ("", ""))[1],
                "posts": posts.get(sid, 0),
                "comments": comments.get(sid, 0),
                "flags": f,
                "flags_per_1000_posts": round(1000 * f / p, 1) if p else None,
                "items_opened": opened_n.get(sid, 0),
                "items_resolved": r["total"],
                "handled_by_community": r["community"],
                "community_share": round(r["community"] / r["total"], 3) if r["total"] else None,
            }
        )
    return rows


def suspension_message(user, space) -> str | None:
    """What a suspended member is told when they try to write into ``space``; None when they
    are not suspended. ``community.access`` asks this for every write (its one hook here)."""
    suspended, until = suspension_until(user, space)
    if not suspended:
        return None
    if until is None:
        return _("Your account is suspended: you cannot post, reply or react here.")
    return _("Your account is suspended until %(date)s: you cannot post, reply or react here.") % {
        "date": date_format(timezone.localtime(until), "DATETIME_FORMAT")
    }


def queue_page(items) -> list[ModerationItem]:
    """Attach what each queue row shows, in a fixed number of queries for the whole page:
    ``.flag_views`` (flags with the flaggers' trust and weight), ``.history`` (the author's
    earlier sanctions and decided items) and ``.target_post`` / ``.target_comment``."""
    items = list(items)
    if not items:
        return items
    post_ids = [i.post_id for i in items if i.post_id]
    comment_ids = [i.comment_id for i in items if i.comment_id]
    flags = Flag.objects.filter(Q(post_id__in=post_ids) | Q(comment_id__in=comment_ids))
    by_target: dict[tuple[str, int], list[Flag]] = {}
    for f in flags.select_related("user").order_by("created_at", "id"):
        key = ("c", f.comment_id) if f.comment_id else ("p", f.post_id)
        by_target.setdefault(key, []).append(f)
    author_ids = {i.author_id for i in items if i.author_id}
    sanctions: dict[int, list[MemberSanction]] = {}
    for s in MemberSanction.objects.filter(user_id__in=author_ids).select_related("space"):
        sanctions.setdefault(s.user_id, []).append(s)
    decided = {
        r["author_id"]: r
        for r in ModerationItem.objects.filter(author_id__in=author_ids)
        .values("author_id")
        .annotate(
            removed=Count("id", filter=Q(state=ItemState.REMOVED)),
            approved=Count("id", filter=Q(state=ItemState.APPROVED)),
        )
    }
    levels: dict[int, int] = {}

    def level(user) -> int:
        if user.pk not in levels:
            levels[user.pk] = trust.trust_level(user=user)
        return levels[user.pk]

    for item in items:
        key = ("c", item.comment_id) if item.comment_id else ("p", item.post_id)
        item.flag_views = [
            FlagView(
                flag=f,
                trust_level=level(f.user),
                weight=trust.flag_weight(user=f.user, space=item.space),
            )
            for f in by_target.get(key, [])
        ]
        item.target_comment = item.comment
        item.target_post = item.comment.post if item.comment_id else item.post
        mine = sanctions.get(item.author_id, [])
        active = [s for s in mine if s.is_active]
        counts = decided.get(item.author_id, {"removed": 0, "approved": 0})
        own = 1 if item.state != ItemState.PENDING else 0  # this item, once decided
        item.history = (
            AuthorHistory(
                sanctions=mine,
                removed_count=counts["removed"] - (own if item.state == ItemState.REMOVED else 0),
                approved_count=counts["approved"]
                - (own if item.state == ItemState.APPROVED else 0),
                suspended=bool(active),
                suspended_until=(
                    max(s.until for s in active)
                    if active and all(s.until for s in active)
                    else None
                ),
                trust_level=level(item.author),
            )
            if item.author_id
            else None
        )
    return items
