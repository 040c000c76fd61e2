"""Recognition API under /api/v1/community/recognition/ (thin: reads through ``selectors``,
which filter through ``access``; writes through ``services``)."""

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from apiary.accounts.access import api_user
from apiary.accounts.models import User
from apiary.community import access as community_access
from apiary.community.api import READ_AUTH, chokepoint
from apiary.community.api_schemas import PageQuery
from apiary.core.errors import ApiError
from apiary.recognition import selectors, services

router = Router(tags=["community recognition"])


class BoardQuery(Schema):
    space: str | None = Field(None, max_length=80)
    period: str = Field("all", max_length=8)
    limit: int = Field(20, ge=1, le=100)


class WeightIn(Schema):
    points: int | None = Field(None, ge=-1000, le=1000)


def _iso(dt):
    return dt.isoformat() if dt else None


def _row(row) -> dict:
    return {
        "position": row.position,
        "user": {"id": row.user.pk, "name": row.user.name},
        "points": row.points,
        "level": row.level,
        "level_name": row.level_name,
    }


def _standing(standing) -> dict:
    out = standing.as_dict()
    for badge in out["badges"]:
        badge["granted_at"] = _iso(badge["granted_at"])
    return out


@router.get("/community/recognition/leaderboard", auth=READ_AUTH)
@chokepoint
def leaderboard(request, q: Query[BoardQuery]):
    viewer = api_user(request)
    space = community_access.space_for_view(user=viewer, slug=q.space) if q.space else None
    board = selectors.leaderboard(viewer=viewer, space=space, period=q.period, limit=q.limit)
    return {
        "period": board.period,
        "space": space.slug if space else None,
        "items": [_row(r) for r in board.rows],
        "me": _row(board.me) if board.me else None,
    }


@router.get("/community/recognition/badges", auth=READ_AUTH)
def badge_list(request):
    viewer = api_user(request)
    return [
        {
            "slug": c.badge.slug,
            "name": c.name,
            "description": c.description,
            "level": c.badge.level,
            "holders": c.holders,
        }
        for c in selectors.badge_list(viewer=viewer)
    ]


@router.get("/community/recognition/badges/{slug}", auth=READ_AUTH)
def badge_detail(request, slug: str, page: Query[PageQuery]):
    viewer = api_user(request)
    badge = selectors.badge_get(slug=slug)
    qs = selectors.badge_grants(viewer=viewer, badge=badge)
    grants = list(qs[page.offset : page.offset + page.limit])
    posts = selectors.grant_posts(viewer=viewer, grants=grants)
    name, description = selectors.badge_text(badge)
    return {
        "slug": badge.slug,
        "name": name,
        "description": description,
        "level": badge.level,
        "items": [
            {
                "user": {"id": g.user.pk, "name": g.user.name},
                "granted_at": _iso(g.granted_at),
                "post": (
                    {"id": g.post_id, "title": posts[g.post_id].title}
                    if g.post_id in posts
                    else None
                ),
            }
            for g in grants
        ],
        "count": qs.count(),
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get("/community/recognition/members/{user_id}", auth=READ_AUTH)
def member_standing(request, user_id: int):
    viewer = api_user(request)
    person = User.objects.filter(pk=user_id, is_active=True).first()
    if person is None:
        raise ApiError(404, "not_found", _("Not found."))
    return _standing(selectors.member_standing(user=person, viewer=viewer))


@router.get("/community/recognition/me")
def my_standing(request):
    user = api_user(request)
    out = _standing(selectors.member_standing(user=user, viewer=user))
    out["new_badges"] = [
        selectors.grant_dict(g) | {"granted_at": _iso(g.granted_at)}
        for g in selectors.new_badges(user=user)
    ]
    return out


@router.post("/community/recognition/me/badges/seen")
def my_badges_seen(request):
    return {"marked": services.badge_grants_mark_seen(user=api_user(request))}


@router.get("/community/recognition/weights", auth=READ_AUTH)
def weights(request):
    return [
        {"reason": reason, "label": label, "points": pts}
        for reason, label, pts in selectors.weights_table()
    ]


@router.put("/community/recognition/weights/{reason}")
@chokepoint
def weight_set(request, reason: str, payload: WeightIn):
    """Community managers: set a reason's weight (``{"points": null}`` restores the default)."""
    services.point_weight_set(actor=api_user(request), reason=reason, points_value=payload.points)
    return weights(request)
