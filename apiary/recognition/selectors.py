"""Recognition reads: trust levels and flag weight (moderation's contract), standings, leaderboards,
badges. Everything that shows another member's activity is filtered through ``access``.
"""

from __future__ import annotations

from apiary.community import access as community_access
from apiary.recognition.conf import conf
from apiary.recognition.models import MemberStanding, TrustLevel

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
        if row is None:
            cached = int(TrustLevel.NEW)
        else:
            cached = int(row[1] if row[1] is not None else row[0])
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
