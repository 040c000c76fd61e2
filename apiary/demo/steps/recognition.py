"""Demo recognition: run the job over the demo community (points, ranks, badges), so the
leaderboards, badge pages and profiles have something to show. Idempotent: a second run finds
the ledger in agreement and grants nothing twice."""

from __future__ import annotations

from apiary.recognition import services
from apiary.recognition.models import BadgeGrant, MemberStanding


def run(ctx) -> str:
    out = services.recognition_rebuild()
    trusted = MemberStanding.objects.filter(trust_level__gte=3).count()
    grants = BadgeGrant.objects.filter(revoked_at__isnull=True).count()
    return (
        f"{out['entries']} ledger entries over {out['posts']} posts, "
        f"{out['members']} standings ({trusted} trusted or leaders), {grants} badges"
    )
