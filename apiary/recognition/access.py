"""What of someone's recognition a viewer may see. The one chokepoint for ledger rows and grants.

Points and badges describe activity, so they follow the content they came from:

- a **ledger row** counts for a viewer only if the viewer may read its post
  (``community.access.posts_visible``): a closed or secret space's points, a members-only post's
  likes, a removed post's history are simply absent — from leaderboards (global and per space),
  profiles, the API and the care sidebar alike. The global leaderboard is therefore per viewer:
  an outsider's board is built from public content only, a member's also from their spaces;
- a **badge grant** is shown only if its evidence is readable: a grant tied to a post needs that
  post visible, one tied to a space (helpful moderator) needs the space readable; community-wide
  count badges carry no space because they only ever count open evidence (``badges.py``).

Trust levels are the exception, by design: a member's rank is one coarse public number (like
Discourse's trust level) computed from all activity, and says nothing about where it happened.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apiary.community import access as community_access
from apiary.recognition.models import BadgeGrant, PointEntry


def entries_visible(viewer, qs: QuerySet | None = None) -> QuerySet:
    """Ledger rows whose post the viewer may read."""
    qs = PointEntry.objects.all() if qs is None else qs
    return qs.filter(post_id__in=community_access.posts_visible(viewer).values("pk"))


def grants_visible(viewer, qs: QuerySet | None = None) -> QuerySet:
    """Live (not revoked) grants of enabled badges whose evidence the viewer may read."""
    qs = BadgeGrant.objects.all() if qs is None else qs
    readable_spaces = community_access.space_readable_queryset(viewer).values("pk")
    visible_posts = community_access.posts_visible(viewer).values("pk")
    evidence = (
        Q(space_id__isnull=True, post_id__isnull=True)
        | Q(post_id__isnull=True, space_id__in=readable_spaces)
        | Q(post_id__in=visible_posts)
    )
    return qs.filter(evidence, revoked_at__isnull=True, badge__enabled=True)
