"""Recognition pages: the leaderboard (global or per space, by period), the badge list, a badge's
holders, and "I've seen my new badges". Views only translate HTTP; reads go through
``selectors`` (filtered by ``access``), spaces through ``community.access.space_for_view`` (so a
closed space's board answers like its other pages and a secret one is a plain 404)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apiary.community import access as community_access
from apiary.community.views import community_view, paginate, safe_next
from apiary.recognition import selectors, services


def _periods():
    from django.utils.translation import gettext as _

    return [("week", _("Last 7 days")), ("month", _("Last 30 days")), ("all", _("All time"))]


def _bad_request(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return render(request, "web/error.html", {"title": " ".join(exc.messages)}, status=400)


@community_view
def leaderboard_view(request: HttpRequest) -> HttpResponse:
    viewer = request.user
    period = request.GET.get("period") or "all"
    slug = (request.GET.get("space") or "").strip()
    space = community_access.space_for_view(user=viewer, slug=slug) if slug else None
    try:
        board = selectors.leaderboard(viewer=viewer, space=space, period=period)
    except ValidationError as exc:
        return _bad_request(request, exc)
    return render(
        request,
        "recognition/leaderboard.html",
        {
            "board": board,
            "periods": _periods(),
            "period": period,
            "space": space,
            "spaces": list(selectors.leaderboard_spaces(viewer=viewer).only("slug", "name")),
            "new_badges": selectors.new_badges(user=viewer),
            "weights": selectors.weights_table(),
            "section": "community",
        },
    )


@community_view
def badges_view(request: HttpRequest) -> HttpResponse:
    viewer = request.user
    return render(
        request,
        "recognition/badges.html",
        {
            "cards": selectors.badge_list(viewer=viewer),
            "new_badges": selectors.new_badges(user=viewer),
            "levels": selectors.levels_table(),
            "section": "community",
        },
    )


@community_view
def badge_view(request: HttpRequest, slug: str) -> HttpResponse:
    viewer = request.user
    badge = selectors.badge_get(slug=slug)
    page = paginate(request, selectors.badge_grants(viewer=viewer, badge=badge))
    name, description = selectors.badge_text(badge)
    grants = list(page.object_list)
    posts = selectors.grant_posts(viewer=viewer, grants=grants)
    for grant in grants:
        grant.earned_for = posts.get(grant.post_id)
    return render(
        request,
        "recognition/badge.html",
        {
            "badge": badge,
            "name": name,
            "description": description,
            "grants": grants,
            "page_obj": page,
            "section": "community",
        },
    )


@login_required
@require_POST
def badges_seen_view(request: HttpRequest) -> HttpResponse:
    services.badge_grants_mark_seen(user=request.user)
    return redirect(safe_next(request, reverse("recognition:badges")))
