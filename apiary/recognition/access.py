"""What of someone's recognition a viewer may see. The one chokepoint for ledger rows and grants.

Points and badges describe activity, so they follow the content they came from:

- a **ledger row** counts for a viewer only if the viewer may read its post (the rule of
  ``community.access.posts_visible``, on the row's own space and audience columns): a closed
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
    """The condition on a row's ``space_id`` and ``audience`` (ledger rows, all-time totals)
    that ``community.access.posts_visible`` would decide for its post; None = everything.

    - the space must be readable (``space_readable_queryset``: a short list of ids);
    - the post's audience (``community.access.audience_q``, the very rule of ``posts_visible``):
      "registered" needs a logged-in viewer, "members" a member of that space.

    Post state needs no condition: the job reverses the points of anything unpublished with
    entries dated like the original, so such a source sums to 0 in every period."""
    if community_access.is_manager(viewer):
        return None
    readable = list(community_access.space_readable_queryset(viewer).values_list("pk", flat=True))
    return community_access.audience_q(viewer) & Q(space_id__in=readable)


def entries_visible(viewer, qs: QuerySet | None = None) -> QuerySet:
    """Ledger rows whose post the viewer may read, decided on the ledger's own columns (no join
    to posts, so a leaderboard is one indexed aggregate)."""
    qs = PointEntry.objects.all() if qs is None else qs
    cond = visible_q(viewer)
    return qs if cond is None else qs.filter(cond)


def totals_visible(viewer, qs: QuerySet | None = None) -> QuerySet:
    """All-time totals (per member, space, audience) the viewer may see: the same rule."""
    qs = PointTotal.objects.all() if qs is None else qs
    cond = visible_q(viewer)
    return qs if cond is None else qs.filter(cond)


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
