"""Badges as declarative rules (Discourse's badge queries, in the Django ORM).

Each rule is a query returning rows ``(user_id, granted_at, target, space_id, post_id)``:

- ``target`` is ``""`` for a badge earned once, or names the thing it was earned for
  (``"post:12"``, ``"space:3"``) for badges earned once per thing;
- ``space_id`` / ``post_id`` say where the evidence lives: the grant is shown only to viewers who
  may read that space — and that post, for badges earned for a post (``access.grants_visible``).
  "First …" badges keep only the space: the first post may be removed later, the badge stays.
  Count badges that add evidence up across spaces (likes received, accepted answers) count only
  **open** evidence — published posts any logged-in member may read (public and registered
  spaces, not members-only posts) — and carry no space, so they reveal nothing about closed or
  secret spaces.

Rules never grant anything themselves: ``services.badges_award`` runs them (for a set of members
or everybody), drops rows already granted or revoked, and inserts the rest with
``ignore_conflicts`` on the unique (badge, user, target). Running a rule twice, or again after
the history changed, grants nothing twice. Grants are not taken back when evidence disappears
(earned is earned, and a badge that comes and goes would notify twice); staff revoke by hand
and the revoked row stays as a tombstone so the rule does not grant it again.

``users`` restricts a rule to some members (the incremental job); ``None`` is a full backfill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import Count, F, Max, OuterRef, QuerySet, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apiary.community import access as community_access
from apiary.community.models import (
    Comment,
    CommentState,
    Flag,
    FlagState,
    Post,
    PostState,
    Profile,
)
from apiary.recognition import ranks
from apiary.recognition.conf import conf
from apiary.recognition.models import BadgeLevel, MemberStanding, PointEntry, Reason, TrustLevel


@dataclass(frozen=True)
class Row:
    user_id: int
    granted_at: datetime
    target: str = ""
    space_id: int | None = None
    post_id: int | None = None


@dataclass(frozen=True)
class BadgeRule:
    slug: str
    name: str
    description: str
    level: str
    position: int
    query: Callable[[list[int] | None], Iterable[Row]]
    per_target: bool = False


def open_post_ids() -> QuerySet:
    """Published posts any logged-in member may read: the evidence count badges may add up
    (the rule is community's: ``community.access.open_posts``)."""
    return community_access.open_posts().values("pk")


def _users(qs: QuerySet, field: str, users: list[int] | None) -> QuerySet:
    return qs if users is None else qs.filter(**{f"{field}__in": users})


# --- "first" badges: the member's earliest qualifying row (one correlated subquery) -----------


def _first_post(users):
    base = Post.objects.filter(
        state=PostState.PUBLISHED, author_id__isnull=False, reshare_of__isnull=True
    )
    first = (
        base.filter(author_id=OuterRef("author_id"))
        .order_by(F("published_at").asc(nulls_last=True), "pk")
        .values("pk")[:1]
    )
    qs = _users(base, "author_id", users).filter(pk=Subquery(first))
    for user_id, space_id, at, created in qs.values_list(
        "author_id", "space_id", "published_at", "created_at"
    ):
        yield Row(user_id, at or created, "", space_id)


def _first_reply(users):
    base = Comment.objects.filter(
        state=CommentState.PUBLISHED, post__state=PostState.PUBLISHED, author_id__isnull=False
    )
    first = base.filter(author_id=OuterRef("author_id")).order_by("created_at", "pk").values("pk")
    qs = _users(base, "author_id", users).filter(pk=Subquery(first[:1]))
    for user_id, space_id, at in qs.values_list("author_id", "post__space_id", "created_at"):
        yield Row(user_id, at, "", space_id)


def _first_from_ledger(reason: str):
    """The member's earliest live fact of a reason, from the ledger (already filtered for
    self-dealing and dated at the fact)."""

    def query(users):
        live = (
            _users(PointEntry.objects.filter(reason=reason), "user_id", users)
            .values("source", "user_id", "space_id", "post_id")
            .annotate(live=Sum("facts"), when=Max("at"))
            .filter(live__gt=0)
            .order_by("user_id", "when")
        )
        seen: set[int] = set()
        for row in live:
            if row["user_id"] in seen:
                continue
            seen.add(row["user_id"])
            yield Row(row["user_id"], row["when"], "", row["space_id"])

    return query


# --- count badges over open evidence ---------------------------------------------------------


def _count_of(reason: str, threshold: int):
    """Members with at least ``threshold`` live facts of ``reason`` on open posts, dated by their
    ``threshold``-th one (a window function over the ledger's first entries)."""

    def query(users):
        entries = _users(
            PointEntry.objects.filter(reason=reason, post_id__in=open_post_ids()), "user_id", users
        )
        qualified = list(
            entries.values("user_id")
            .annotate(n=Sum("facts"))
            .filter(n__gte=threshold)
            .values_list("user_id", flat=True)
        )
        if not qualified:
            return
        nth = (
            entries.filter(user_id__in=qualified, seq=0)
            .annotate(
                rn=Window(RowNumber(), partition_by=[F("user_id")], order_by=[F("at"), F("pk")])
            )
            .filter(rn=threshold)
            .values_list("user_id", "at")
        )
        dates = dict(nth)
        now = timezone.now()
        for user_id in qualified:
            yield Row(user_id, dates.get(user_id) or now)

    return query


# --- badges per thing ------------------------------------------------------------------------


def _per_fact(reason: str):
    """One grant per live fact of ``reason`` (per post), from the ledger."""

    def query(users):
        live = (
            _users(PointEntry.objects.filter(reason=reason), "user_id", users)
            .values("user_id", "space_id", "post_id")
            .annotate(live=Sum("facts"), when=Max("at"))
            .filter(live__gt=0)
        )
        for row in live:
            yield Row(
                row["user_id"],
                row["when"],
                f"post:{row['post_id']}",
                row["space_id"],
                row["post_id"],
            )

    return query


def _popular_post(users, threshold: int = 10):
    """A post that ``threshold`` different members reacted to."""
    live = (
        _users(
            PointEntry.objects.filter(reason=Reason.LIKE_RECEIVED, source__startswith="like:p"),
            "user_id",
            users,
        )
        .values("user_id", "space_id", "post_id")
        .annotate(n=Sum("facts"), when=Max("at"))
        .filter(n__gte=threshold)
    )
    for row in live:
        yield Row(
            row["user_id"], row["when"], f"post:{row['post_id']}", row["space_id"], row["post_id"]
        )


def _helpful_moderator(users):
    """Handled ``conf("helpful_moderator_actions")`` queue items in one space: decisions in
    apiary.moderation's audit trail when it is installed, else resolved community flags."""
    threshold = int(conf("helpful_moderator_actions"))
    if apps.is_installed("apiary.moderation"):
        from apiary.moderation.models import ModerationAction

        qs = ModerationAction.objects.filter(
            actor_id__isnull=False,
            item__isnull=False,
            space_id__isnull=False,
            action__in=("approve", "dismiss", "remove", "restore"),
        )
        rows = (
            _users(qs, "actor_id", users)
            .values("actor_id", "space_id")
            .annotate(n=Count("pk"), when=Max("at"))
            .filter(n__gte=threshold)
            .values_list("actor_id", "space_id", "when")
        )
    else:
        qs = Flag.objects.filter(
            resolved_by_id__isnull=False, state__in=(FlagState.UPHELD, FlagState.DISMISSED)
        ).annotate(sid=Coalesce("post__space_id", "comment__post__space_id"))
        rows = (
            _users(qs, "resolved_by_id", users)
            .values("resolved_by_id", "sid")
            .annotate(n=Count("pk"), when=Max("resolved_at"))
            .filter(n__gte=threshold)
            .values_list("resolved_by_id", "sid", "when")
        )
    for user_id, space_id, at in rows:
        yield Row(user_id, at or timezone.now(), f"space:{space_id}", space_id, None)


def _autobiographer(users):
    qs = _users(Profile.objects.exclude(bio=""), "user_id", users)
    now = timezone.now()
    for user_id in qs.values_list("user_id", flat=True):
        yield Row(user_id, now)


def _level(level: int):
    def query(users):
        qs = _users(MemberStanding.objects.all(), "user_id", users).filter(
            ranks.level_at_least_q(level)
        )
        for user_id, since in qs.values_list("user_id", "level_since"):
            yield Row(user_id, since)

    return query


RULES: tuple[BadgeRule, ...] = (
    BadgeRule(
        "first-post",
        _("First post"),
        _("Published a first post."),
        BadgeLevel.BRONZE,
        10,
        _first_post,
    ),
    BadgeRule(
        "first-reply",
        _("First reply"),
        _("Replied in a conversation for the first time."),
        BadgeLevel.BRONZE,
        20,
        _first_reply,
    ),
    BadgeRule(
        "first-accepted-answer",
        _("Solved it"),
        _("Gave a first answer the asker accepted."),
        BadgeLevel.BRONZE,
        30,
        _first_from_ledger(Reason.ACCEPTED_ANSWER),
    ),
    BadgeRule(
        "autobiographer",
        _("Autobiographer"),
        _("Wrote a few words about themselves on their profile."),
        BadgeLevel.BRONZE,
        40,
        _autobiographer,
    ),
    BadgeRule(
        "liked",
        _("Liked"),
        _("Received 10 reactions from other members."),
        BadgeLevel.BRONZE,
        50,
        _count_of(Reason.LIKE_RECEIVED, 10),
    ),
    BadgeRule(
        "well-liked",
        _("Well liked"),
        _("Received 100 reactions from other members."),
        BadgeLevel.SILVER,
        51,
        _count_of(Reason.LIKE_RECEIVED, 100),
    ),
    BadgeRule(
        "beloved",
        _("Beloved"),
        _("Received 1,000 reactions from other members."),
        BadgeLevel.GOLD,
        52,
        _count_of(Reason.LIKE_RECEIVED, 1000),
    ),
    BadgeRule(
        "popular-post",
        _("Popular post"),
        _("Wrote a post ten different members reacted to."),
        BadgeLevel.BRONZE,
        55,
        _popular_post,
        per_target=True,
    ),
    BadgeRule(
        "solver",
        _("Solver"),
        _("Ten accepted answers."),
        BadgeLevel.SILVER,
        60,
        _count_of(Reason.ACCEPTED_ANSWER, 10),
    ),
    BadgeRule(
        "idea-shipped",
        _("Idea shipped"),
        _("Suggested an idea that was shipped."),
        BadgeLevel.SILVER,
        70,
        _per_fact(Reason.IDEA_SHIPPED),
        per_target=True,
    ),
    BadgeRule(
        "contest-winner",
        _("Contest winner"),
        _("Won first place in a contest."),
        BadgeLevel.GOLD,
        80,
        _per_fact(Reason.CONTEST_WIN),
        per_target=True,
    ),
    BadgeRule(
        "helpful-moderator",
        _("Helpful moderator"),
        _("Handled many items of a space's moderation queue."),
        BadgeLevel.SILVER,
        90,
        _helpful_moderator,
        per_target=True,
    ),
    BadgeRule(
        "trusted",
        _("Trusted"),
        _("Reached the trusted rank."),
        BadgeLevel.SILVER,
        100,
        _level(TrustLevel.TRUSTED),
    ),
    BadgeRule(
        "leader",
        _("Leader"),
        _("Reached the leader rank."),
        BadgeLevel.GOLD,
        110,
        _level(TrustLevel.LEADER),
    ),
)

RULES_BY_SLUG = {rule.slug: rule for rule in RULES}
