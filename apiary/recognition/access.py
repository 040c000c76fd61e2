"""What of someone's recognition a viewer may see. The one chokepoint for ledger rows and grants.

Points and badges describe activity, so they follow the content they came from:

- a **ledger row** counts for a viewer only if the viewer may read its post (the rule of
  ``community.access.posts_visible``, on the row's own space, audience and post columns:
  ``community.access.post_copies_visible_q``, the author's own posts included): a closed
  or secret space's points, a members-only post's likes, a removed post's history are simply
  absent — from leaderboards (global and per space), profiles, the API and the care sidebar.
  The global leaderboard is therefore per viewer: an outsider's board is built from public
  content only, a member's also from their spaces;
- a **badge grant** is shown only if its evidence is readable: a grant tied to a post needs that
  post visible, one tied to a space (helpful moderator) needs the space readable; community-wide
  count badges carry no space because they only ever count open evidence (``badges.py``).

Trust levels are the exception, by design: a member's rank is one coarse public number (like
Discourse's trust level) computed from all activity, and says nothing about where it happened.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from apiary.community import access as community_access
from apiary.community.models import Post
from apiary.recognition.models import BadgeGrant, PointEntry, PointTotal


def visible_q(viewer) -> Q | None:
    """The condition on a ledger row's ``space_id``, ``audience`` and ``post_id`` that
    ``community.access.posts_visible`` would decide for its post; None = everything. It *is*
    community's rule for rows that copy a post's columns
    (``community.access.post_copies_visible_q``): the space readable, and the audience
    admitting the viewer ("registered" a logged-in viewer, "members" a member of that space) or
    the post the viewer's own — an author reads their own members-only post after leaving the
    space, so its points count on their boards too.

    Post state needs no condition: the job reverses the points of anything unpublished with
    entries dated like the original, so such a source sums to 0 in every period."""
    return community_access.post_copies_visible_q(viewer)


def entries_visible(viewer, qs: QuerySet | None = None) -> QuerySet:
    """Ledger rows whose post the viewer may read, decided on the ledger's own columns (no join
    to posts, so a leaderboard is one indexed aggregate)."""
    qs = PointEntry.objects.all() if qs is None else qs
    cond = visible_q(viewer)
    return qs if cond is None else qs.filter(cond)


def totals_visible(viewer, qs: QuerySet | None = None) -> QuerySet:
    """All-time totals (per member, space, audience) the viewer may see: the same rule but the
    author clause, which needs a post id the totals do not carry — so exact only while
    ``community.access.authored_only_post_ids(viewer)`` is empty. Leaderboards ask
    :func:`board_rows`, which falls back to the ledger otherwise."""
    qs = PointTotal.objects.all() if qs is None else qs
    cond = community_access.post_copies_visible_q(viewer, post_field=None)
    return qs if cond is None else qs.filter(cond)


def board_rows(viewer, *, since=None) -> QuerySet:
    """The rows a leaderboard sums for the viewer (``user_id``, ``points``, ``space_id``): for
    all time the job's totals (a few rows per member), for a period — or for a viewer who reads
    some posts only as their author (rare: one indexed query says) — the visible ledger."""
    if since is None and not community_access.authored_only_post_ids(viewer):
        return totals_visible(viewer)
    qs = entries_visible(viewer)
    return qs if since is None else qs.filter(at__gte=since)


def grants_visible(viewer, qs: QuerySet | None = None) -> QuerySet:
    """Live (not revoked) grants of enabled badges whose evidence the viewer may read."""
    qs = BadgeGrant.objects.all() if qs is None else qs
    readable_spaces = community_access.space_readable_queryset(viewer).values("pk")
    # Correlated, not ``post_id__in=posts_visible(viewer)``: that would list every visible post
    # first (SQLite materialises it) for the handful of grants earned for a post.
    visible_post = Exists(
        community_access.posts_visible(viewer, Post.objects.filter(pk=OuterRef("post_id")))
    )
    evidence = (
        Q(space_id__isnull=True, post_id__isnull=True)
        | Q(post_id__isnull=True, space_id__in=readable_spaces)
        | Q(visible_post)
    )
    return qs.filter(evidence, revoked_at__isnull=True, badge__enabled=True)
