"""Demo recognition: run the job over the demo community (points, ranks, badges), so the
leaderboards, badge pages and profiles have something to show. Idempotent: a second run finds
the ledger in agreement and grants nothing twice.

Two touches of demo data first, because ranks need time: the demo creates its members "now"
but dates their posts over the past two months, so each member's join date is moved to a few
days before their first post or reply (nobody writes before joining, and "days since joining"
is a rank threshold); and the community manager pins the leading contributor at the leader
rank, as Discourse's top trust level is given by staff.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Min

from apiary.accounts.models import User
from apiary.community.models import Comment, Post
from apiary.recognition import ranks, services
from apiary.recognition.models import BadgeGrant, MemberStanding, TrustLevel

MANAGER_EMAIL = "community@apiary.local"


def _join_before_first_activity() -> int:
    first: dict[int, object] = {}
    for model in (Post, Comment):
        for user_id, at in (
            model.objects.filter(author_id__isnull=False)
            .values("author_id")
            .annotate(first=Min("created_at"))
            .values_list("author_id", "first")
        ):
            if user_id not in first or at < first[user_id]:
                first[user_id] = at
    changed = []
    for user in User.objects.filter(pk__in=list(first)).only("pk", "date_joined"):
        joined = first[user.pk] - timedelta(days=3)
        if user.date_joined > joined:
            user.date_joined = joined
            changed.append(user)
    User.objects.bulk_update(changed, ["date_joined"], batch_size=500)
    return len(changed)


def run(ctx) -> str:
    _join_before_first_activity()
    out = services.recognition_rebuild()
    manager = User.objects.filter(email=MANAGER_EMAIL).first()
    top = MemberStanding.objects.filter(user__role="member").order_by("-points", "user_id").first()
    if manager is not None and top is not None and top.level_locked is None:
        services.trust_level_lock(actor=manager, user=top.user, level=TrustLevel.LEADER)
        services.badges_award(user_ids=[top.user_id])
    levels = dict.fromkeys(range(5), 0)
    for standing in MemberStanding.objects.only("trust_level", "level_locked"):
        levels[ranks.level_in_force(standing.trust_level, standing.level_locked)] += 1
    grants = BadgeGrant.objects.filter(revoked_at__isnull=True).count()
    return (
        f"{out['entries']} ledger entries over {out['posts']} posts, {out['members']} standings "
        f"(levels 0–4: {', '.join(str(levels[k]) for k in range(5))}), {grants} badges"
    )
