"""People, tags and notifications: author profiles (what the viewer may see of what a person
wrote), follow buttons for people, spaces and tags, the tag page and the in-app notifications.

Profiles and tag pages list posts through ``selectors.profile_feed`` / ``tag_posts``, which filter
with ``access.posts_visible``; notifications through ``selectors.notification_list``, which
re-checks access (``access.notifications_visible``) and renders wording only at read time."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apiary.accounts.access import Perm, user_has_permission
from apiary.community import access, selectors, services
from apiary.community.views import community_view, paginate, safe_next, show_errors

PROFILE_COMMENTS = 10


def _person(user_id: int):
    """Active accounts only; an unknown or deactivated id is a plain 404."""
    person = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if person is None:
        raise Http404
    return person


def _linked_customer(viewer, person):
    """Staff with customers.view see a link to the CRM customer behind the member's account,
    read through customers' own access chokepoint (which also writes its audit entry)."""
    if not user_has_permission(viewer, Perm.CUSTOMERS_VIEW):
        return None
    from apiary.customers.services.members import member_customer_get

    return member_customer_get(user=person)


def _view_event(request, key: str, kind: str, data: dict, own: bool = False) -> None:
    """A profile or tag page seen: once per visit per page per 30 minutes (not your own)."""
    from apiary.community.middleware import view_once
    from apiary.community.views import session_key

    if not own and not getattr(request, "htmx", False) and view_once(request, key):
        services.activity_record(
            kind=kind, user=request.user, session_key=session_key(request), data=data
        )


def _standing(viewer, person):
    from django.apps import apps

    if not apps.is_installed("apiary.recognition"):
        return None
    from apiary.recognition.selectors import member_standing

    return member_standing(user=person, viewer=viewer)


@community_view
def profile_view(request: HttpRequest, user_id: int) -> HttpResponse:
    viewer = request.user
    person = _person(user_id)
    posts = selectors.profile_feed(viewer=viewer, user=person)
    page = paginate(request, posts)
    comments = list(selectors.profile_comments(viewer=viewer, user=person)[:PROFILE_COMMENTS])
    profile = services.profile_ensure(user=person)
    _view_event(request, f"u{person.pk}", "profile.view", {"user_id": person.pk}, viewer == person)
    return render(
        request,
        "community/profile.html",
        {
            "person": person,
            "profile": profile,
            "posts": page.object_list,
            "page_obj": page,
            "comments": comments,
            "following": viewer.is_authenticated
            and viewer.pk != person.pk
            and selectors.is_following(user=viewer, user_target=person),
            "customer": _linked_customer(viewer, person),
            # apiary.recognition: rank, points and badges as far as the viewer may see them
            "standing": _standing(viewer, person),
            "standing_is_me": viewer.is_authenticated and viewer.pk == person.pk,
            "section": "community",
        },
    )


def profile_by_handle_view(request: HttpRequest, handle: str) -> HttpResponse:
    """@mentions link to /community/people/<handle>/; the profile lives at /community/u/<id>/."""
    profile = selectors.profile_get(handle=handle)
    return redirect("community:profile", user_id=profile.user_id)


def _follow(request: HttpRequest, fallback: str, **target) -> HttpResponse:
    user = request.user
    try:
        if request.POST.get("follow") == "0":
            services.follow_remove(follower=user, **target)
        else:
            services.follow_add(follower=user, **target)
    except ValidationError as exc:
        show_errors(request, exc)
    return redirect(safe_next(request, fallback))


@login_required
@require_POST
@community_view
def user_follow_view(request: HttpRequest, user_id: int) -> HttpResponse:
    person = _person(user_id)
    return _follow(request, reverse("community:profile", args=[person.pk]), user=person)


@login_required
@require_POST
@community_view
def space_follow_view(request: HttpRequest, slug: str) -> HttpResponse:
    space = access.space_for_join(user=request.user, slug=slug)
    return _follow(request, reverse("community:space", args=[space.slug]), space=space)


@login_required
@require_POST
@community_view
def tag_follow_view(request: HttpRequest, slug: str) -> HttpResponse:
    tag = selectors.tag_get(slug=slug)
    return _follow(request, reverse("community:tag", args=[tag.slug]), tag=tag)


@community_view
def tag_view(request: HttpRequest, slug: str) -> HttpResponse:
    viewer = request.user
    tag = selectors.tag_get(slug=slug)
    page = paginate(request, selectors.PostPages(user=viewer, tag=tag.slug))
    _view_event(request, f"t{tag.pk}", "tag.view", {"tag": tag.slug})
    return render(
        request,
        "community/tag.html",
        {
            "tag": tag,
            "posts": page.object_list,
            "page_obj": page,
            "following": viewer.is_authenticated and selectors.is_following(user=viewer, tag=tag),
            "section": "community",
        },
    )


@login_required
def notifications_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    unread_only = request.GET.get("unread") == "1"
    page = paginate(request, selectors.notification_list(user=user, unread_only=unread_only))
    items = [selectors.notification_render(n) | {"pk": n.pk} for n in page.object_list]
    return render(
        request,
        "community/notifications.html",
        {
            "items": items,
            "page_obj": page,
            "unread_only": unread_only,
            "query_prefix": "unread=1&" if unread_only else "",
            "unread_count": selectors.notification_unread_count(user=user),
            "section": "community",
        },
    )


@login_required
@require_POST
def notifications_read_view(request: HttpRequest) -> HttpResponse:
    ids = None
    if request.POST.get("id"):
        try:
            ids = [int(request.POST["id"])]
        except ValueError:
            ids = []
    count = services.notifications_mark_read(user=request.user, ids=ids)
    if ids is None and count:
        messages.success(request, _("All notifications are marked as read."))
    return redirect(safe_next(request, reverse("community:notifications")))
