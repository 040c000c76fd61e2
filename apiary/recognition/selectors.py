"""Recognition reads: trust levels and flag weight (moderation's contract), standings, leaderboards,
badges. Everything that shows another member's activity is filtered through ``access``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.community import access as community_access
from apiary.community.models import Post
from apiary.recognition import access, ranks
from apiary.recognition import badges as badge_rules
from apiary.recognition.conf import conf
from apiary.recognition.models import Badge, MemberStanding, Reason, TrustLevel

# --- the contract apiary.moderation relies on ------------------------------------------------

_LEVEL_ATTR = "_recognition_trust_level"


def trust_level(*, user) -> int:
    """The member's trust level, 0 (new) … 4 (leader); 0 for visitors.

    One primary-key read of ``MemberStanding`` (kept by the recognition job), cached on the user
    object, so it costs one query per request however often moderation asks. A pinned level
    (``level_locked``) wins over the computed one."""
    if user is None or not getattr(user, "is_authenticated", False):
        return TrustLevel.NEW
    cached = getattr(user, _LEVEL_ATTR, None)
    if cached is None:
        row = (
            MemberStanding.objects.filter(user_id=user.pk)
            .values_list("trust_level", "level_locked")
            .first()
        )
        cached = int(TrustLevel.NEW) if row is None else ranks.level_in_force(*row)
        setattr(user, _LEVEL_ATTR, cached)
    return cached


def trust_level_forget(user) -> None:
    """Services call this after changing the member's standing within the same request."""
    if user is not None and hasattr(user, _LEVEL_ATTR):
        delattr(user, _LEVEL_ATTR)


def flag_weight(*, user, space) -> int:
    """How much the user's flag on content in ``space`` (a Space or its id) counts.

    1 by default, more for trusted members and leaders (``conf("flag_weights")``: 2 and 3), and
    for the space's moderators/owners and staff community managers a weight that reaches any
    hide threshold on its own (``conf("moderator_flag_weight")``, 1000). Visitors: 0.
    Cost: the membership map access already caches per request plus ``trust_level``."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    if community_access.can_moderate(user=user, space=space):
        return int(conf("moderator_flag_weight"))
    weights = conf("flag_weights")
    level = trust_level(user=user)
    return int(weights.get(level, weights.get(str(level), 1)))


def has_privilege(*, user, code: str) -> bool:
    """Does the member's level grant this privilege (``ranks.PRIVILEGES``)?"""
    level = trust_level(user=user)
    return any(p.code == code for p in ranks.privileges_for(level))


# --- leaderboards -----------------------------------------------------------------------------

PERIODS = ("week", "month", "all")
PERIOD_DAYS = {"week": 7, "month": 30}


def period_start(period: str, now=None):
    """Rolling windows: the last 7 / 30 days, or None for all time."""
    if period not in PERIODS:
        raise ValidationError({"period": [_("Choose week, month or all.")]})
    days = PERIOD_DAYS.get(period)
    return None if days is None else (now or timezone.now()) - timedelta(days=days)


@dataclass
class LeaderRow:
    position: int
    user: object
    points: int
    level: int
    level_name: str


@dataclass
class Leaderboard:
    period: str
    space: object | None
    rows: list[LeaderRow]
    me: LeaderRow | None = None  # the viewer's own line when outside the top rows


def _board_qs(*, viewer, space, since):
    # All time: the job's per-space totals (a few rows per member); a period: the ledger by date.
    qs = access.board_rows(viewer, since=since)
    return qs if space is None else qs.filter(space_id=space.pk)


def leaderboard(*, viewer, space=None, period: str = "all", limit: int | None = None, now=None):
    """The top members by points earned in the period, counted only from content the viewer may
    read (``access.entries_visible``). The caller has checked the viewer may read ``space``
    (``community.access.space_for_view``). Sums in the database: the readable spaces' ids, one
    grouped query on the ledger alone for the board, one for the people on it, and two for the
    viewer's own line when not on it."""
    since = period_start(period, now)
    limit = max(1, min(int(limit or conf("leaderboard_size")), 100))
    qs = _board_qs(viewer=viewer, space=space, since=since)
    totals = list(
        qs.values("user_id")
        .annotate(total=Sum("points"))
        .filter(total__gt=0)
        .order_by("-total", "user_id")
        .values_list("user_id", "total")[:limit]
    )
    people = {
        u.pk: u
        for u in get_user_model()
        .objects.filter(pk__in=[uid for uid, _t in totals])
        .select_related("community_profile", "recognition_standing")
    }
    rows = []
    for position, (user_id, total) in enumerate(totals, start=1):
        person = people.get(user_id)
        if person is None or not person.is_active:
            continue
        level = _level_of(person)
        rows.append(LeaderRow(position, person, int(total), level, ranks.level_name(level)))
    me = None
    if viewer is not None and viewer.is_authenticated and viewer.pk not in people:
        mine = qs.filter(user_id=viewer.pk).aggregate(s=Sum("points"))["s"] or 0
        if mine > 0:
            ahead = (
                qs.values("user_id").annotate(total=Sum("points")).filter(total__gt=mine).count()
            )
            level = trust_level(user=viewer)
            me = LeaderRow(ahead + 1, viewer, int(mine), level, ranks.level_name(level))
    return Leaderboard(period=period, space=space, rows=rows, me=me)


def _level_of(person) -> int:
    """``trust_level`` for a person whose standing came with them (``select_related``)."""
    try:
        standing = person.recognition_standing
    except MemberStanding.DoesNotExist:
        return int(TrustLevel.NEW)
    return ranks.level_in_force(standing.trust_level, standing.level_locked)


def leaderboard_spaces(*, viewer):
    """Spaces whose board the viewer may open (the space picker)."""
    return community_access.space_readable_queryset(viewer).filter(archived_at__isnull=True)


# --- a member's standing ----------------------------------------------------------------------


@dataclass
class Standing:
    user: object
    level: int
    level_name: str
    level_description: str
    privileges: list
    next_level: int | None
    next_requirements: list  # (label, threshold) for the next level
    points: int  # from content the viewer may read
    posts: int
    replies: int
    accepted_answers: int
    likes_received: int
    badges: list = field(default_factory=list)  # visible grants, newest first
    badges_count: int = 0
    new_badges: list = field(default_factory=list)  # only when viewers look at themselves

    def as_dict(self) -> dict:
        return {
            "user_id": self.user.pk,
            "level": self.level,
            "level_name": self.level_name,
            "points": self.points,
            "posts": self.posts,
            "replies": self.replies,
            "accepted_answers": self.accepted_answers,
            "likes_received": self.likes_received,
            "badges_count": self.badges_count,
            "badges": [grant_dict(g) for g in self.badges],
            "next_level": self.next_level,
        }

    def summary(self) -> str:
        """One line for the care sidebar."""
        return _(
            "%(rank)s · %(points)s points · %(badges)s badges · %(posts)s posts · "
            "%(accepted)s accepted answers"
        ) % {
            "rank": self.level_name,
            "points": self.points,
            "badges": self.badges_count,
            "posts": self.posts,
            "accepted": self.accepted_answers,
        }


def member_standing(*, user, viewer=None, badges_limit: int = 12) -> Standing:
    """Rank, points, badges and counts of ``user`` as ``viewer`` may see them (``None``: an
    anonymous visitor, i.e. public content only). Points and counts are sums over the ledger
    rows the viewer may read (one grouped query); badges through ``access.grants_visible``."""
    from django.contrib.auth.models import AnonymousUser

    viewer = viewer if viewer is not None else AnonymousUser()
    by_reason = {
        reason: (int(p or 0), int(f or 0))
        for reason, p, f in access.entries_visible(viewer)
        .filter(user_id=user.pk)
        .values("reason")
        .annotate(p=Sum("points"), f=Sum("facts"))
        .values_list("reason", "p", "f")
    }

    def live(reason):
        return max(by_reason.get(reason, (0, 0))[1], 0)

    grants = access.grants_visible(viewer).filter(user_id=user.pk)
    badges = _named(grants.select_related("badge").order_by("-granted_at", "-pk")[:badges_limit])
    count = len(badges) if len(badges) < badges_limit else grants.count()
    level = trust_level(user=user)
    upcoming = ranks.next_level(level)
    return Standing(
        user=user,
        level=level,
        level_name=ranks.level_name(level),
        level_description=str(ranks.LEVEL_DESCRIPTIONS.get(level, "")),
        privileges=ranks.privileges_for(level),
        next_level=upcoming[0] if upcoming else None,
        next_requirements=ranks.requirement_lines(upcoming[1]) if upcoming else [],
        points=max(sum(p for p, _f in by_reason.values()), 0),
        posts=live(Reason.POST),
        replies=live(Reason.REPLY),
        accepted_answers=live(Reason.ACCEPTED_ANSWER),
        likes_received=live(Reason.LIKE_RECEIVED),
        badges=badges,
        badges_count=count,
        new_badges=new_badges(user=user) if getattr(viewer, "pk", None) == user.pk else [],
    )


# --- badges -----------------------------------------------------------------------------------


def badge_text(badge) -> tuple[str, str]:
    """(name, description), translated for built-in badges."""
    rule = badge_rules.RULES_BY_SLUG.get(badge.slug)
    if rule is not None:
        return str(rule.name), str(rule.description)
    return badge.name, badge.description


def grant_dict(grant) -> dict:
    name, _description = badge_text(grant.badge)
    return {
        "id": grant.pk,
        "badge": grant.badge.slug,
        "name": name,
        "level": grant.badge.level,
        "granted_at": grant.granted_at,
        "post_id": grant.post_id,
    }


@dataclass
class BadgeCard:
    badge: object
    name: str
    description: str
    holders: int  # members holding it, as far as the viewer may see


def badge_list(*, viewer) -> list[BadgeCard]:
    """Every enabled badge with how many members the viewer can see holding it (two queries)."""
    counts = dict(
        access.grants_visible(viewer)
        .values("badge_id")
        .annotate(n=Count("user_id", distinct=True))
        .values_list("badge_id", "n")
    )
    out = []
    for badge in Badge.objects.filter(enabled=True).order_by("position", "slug"):
        name, description = badge_text(badge)
        out.append(BadgeCard(badge, name, description, int(counts.get(badge.pk, 0))))
    return out


def badge_get(*, slug: str):
    badge = Badge.objects.filter(slug=slug, enabled=True).first()
    if badge is None:
        raise Http404
    return badge


def badge_grants(*, viewer, badge):
    """Who earned the badge, newest first, as far as the viewer may see; holder and profile
    preloaded, safe to paginate."""
    return (
        access.grants_visible(viewer)
        .filter(badge=badge)
        .select_related("user", "user__community_profile", "badge")
        .order_by("-granted_at", "-pk")
    )


def grant_posts(*, viewer, grants) -> dict:
    """post id → Post for the grants that were earned for a post, only those the viewer may
    read (grants_visible already requires it; checked again so a template never guesses)."""
    ids = {g.post_id for g in grants if g.post_id}
    if not ids:
        return {}
    return {
        p.pk: p
        for p in community_access.posts_visible(viewer, Post.objects.filter(pk__in=sorted(ids)))
    }


def new_badges(*, user) -> list:
    """The member's grants they have not seen yet (the badge notification), newest first."""
    if user is None or not user.is_authenticated:
        return []
    return _named(
        access.grants_visible(user)
        .filter(user_id=user.pk, seen_at__isnull=True)
        .select_related("badge")
        .order_by("-granted_at", "-pk")[:20]
    )


def _named(grants) -> list:
    """Grants with ``.name``: the badge's translated name, for templates."""
    out = list(grants)
    for grant in out:
        grant.name = badge_text(grant.badge)[0]
    return out


def weights_table() -> list[tuple[str, str, int]]:
    """(reason, label, points) for the "how points work" table."""
    from apiary.recognition import points

    w = points.weights()
    return [(value, str(label), w.get(value, 0)) for value, label in Reason.choices]


def levels_table() -> list[dict]:
    """The ranks with their requirements and privileges (the "how ranks work" table)."""
    reqs = ranks.requirements()
    out = []
    for level, label in TrustLevel.choices:
        out.append(
            {
                "level": level,
                "name": str(label),
                "description": str(ranks.LEVEL_DESCRIPTIONS.get(level, "")),
                "requirements": ranks.requirement_lines(reqs.get(level, {})),
                "privileges": [p for p in ranks.PRIVILEGES if p.level == level],
            }
        )
    return out
