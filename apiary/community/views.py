"""Community pages: the home page, space pages and the roadmap, plus the helpers every community
view shares (views_posts.py, views_manage.py, views_people.py).

Views only translate HTTP. Every read goes through ``community.access`` (single objects) or
``community.selectors`` (lists, already filtered by ``access.posts_visible``); every write goes
through ``community.services``. A denied read becomes one of two answers:

- ``access.NotAvailable`` → the outsider page (403) built from the decision alone: the space and
  the ways in, never the content that was asked for;
- ``Http404`` → Django's normal 404 page, so secret content looks exactly like a missing page.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy

from apiary.community import access, feed, selectors, views_support
from apiary.community.models import IdeaStatus, PostType, SpaceRole
from apiary.community.services import RateLimited

PER_PAGE = 30
RECENT = 20
FEED_ON_HOME = 8
# Type filters on a space page, in the order of the issue.
TYPE_FILTERS = [
    ("", gettext_lazy("All")),
    (PostType.DISCUSSION, gettext_lazy("Discussions")),
    (PostType.QUESTION, gettext_lazy("Questions")),
    (PostType.IDEA, gettext_lazy("Ideas")),
    (PostType.BLOG, gettext_lazy("Blog")),
    (PostType.DOCUMENT, gettext_lazy("Documents")),
    (PostType.POLL, gettext_lazy("Polls")),
    (PostType.CONTEST, gettext_lazy("Contests")),
]
ROADMAP_COLUMNS = [
    IdeaStatus.UNDER_REVIEW,
    IdeaStatus.PLANNED,
    IdeaStatus.IN_PROGRESS,
    IdeaStatus.SHIPPED,
    IdeaStatus.DECLINED,
]


# --- shared helpers ---------------------------------------------------------------------------


def not_available_response(request: HttpRequest, decision: access.Decision) -> HttpResponse:
    """The outsider page. It receives only the decision (space + ways in), never the post."""
    contacts = []
    if decision.space is not None and request.user.is_authenticated:
        # A closed space's owners may be named: its existence is not secret (access.py).
        contacts = selectors.space_contacts(space=decision.space)
    response = render(
        request,
        "community/not_available.html",
        {
            "decision": decision,
            "space": decision.space,
            "ways": [str(way) for way in decision.ways],
            "contacts": contacts,
            "section": "community",
        },
        status=403,
    )
    response["X-Robots-Tag"] = "noindex"
    return response


def community_view(view):
    """Turn ``access.NotAvailable`` into the outsider page (``Http404`` stays Django's 404) and
    a rate limit into a 429 page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except access.NotAvailable as exc:
            return not_available_response(request, exc.decision)
        except RateLimited as exc:
            # Posting limits (services._common.rate_check): say so, keep what was typed by
            # letting the browser go back.
            return render(request, "web/error.html", {"title": exc.detail}, status=429)

    return wrapped


def show_errors(request: HttpRequest, exc: ValidationError) -> None:
    """A service's ValidationError as flash messages (field names are not shown to members)."""
    for msg in exc.messages:
        messages.error(request, msg)


def safe_next(request: HttpRequest, fallback: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, {request.get_host()}, request.is_secure()):
        return nxt
    return fallback


def session_key(request: HttpRequest) -> str:
    """The visit id (community/middleware.py) that groups a visitor's events into a session."""
    from apiary.community.middleware import visit_sid

    return visit_sid(request) or getattr(request.session, "session_key", None) or ""


def anonymous_may_see_post(post) -> bool:
    """Open Graph tags and link previews only for what an anonymous visitor may read."""
    return access.post_decision(user=AnonymousUser(), post=post).allowed


def htmx_aware(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ["HX-Request"])
    return response


MAX_PAGE = 500  # deeper pages are what search and tags are for (an OFFSET walks every row)


class LookaheadPage:
    """A page that knows whether another follows by reading one row more, instead of counting
    every row (``Paginator`` counts: 200,000 posts of a big space, on every page view). It has
    what ``_pager.html`` uses: ``object_list``, ``number``, ``has_next`` / ``has_previous`` /
    ``has_other_pages``, ``next_page_number`` / ``previous_page_number``."""

    def __init__(self, qs, number: int, per_page: int) -> None:
        rows = list(qs[(number - 1) * per_page : number * per_page + 1])
        self.number = number
        self.object_list = rows[:per_page]
        self._more = len(rows) > per_page

    def has_next(self) -> bool:
        return self._more and self.number < MAX_PAGE

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_next() or self.has_previous()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)


def paginate(request: HttpRequest, qs, per_page: int = PER_PAGE) -> LookaheadPage:
    try:
        number = min(MAX_PAGE, max(1, int(request.GET.get("page") or 1)))
    except ValueError:
        number = 1
    page = LookaheadPage(qs, number, per_page)
    if number > 1 and not page.object_list:
        # past the end (an old link, a shrunk list): back to the first page
        return LookaheadPage(qs, 1, per_page)
    return page


# --- home -------------------------------------------------------------------------------------


@community_view
def home_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    recent = selectors.recent_posts(user=user, limit=RECENT)
    unread = selectors.notification_unread_count(user=user) if user.is_authenticated else 0
    return render(
        request,
        "community/home.html",
        {
            "spaces": views_support.space_tree(user=user),
            "recent": recent,
            # The ranked "For you" feed (feed.py: follows, interests, freshness, engagement);
            # each item carries the reason it is shown.
            "feed": feed.feed_page(user=user, limit=FEED_ON_HOME).items,
            "unread_count": unread,
            "section": "community",
        },
    )


# --- space ------------------------------------------------------------------------------------


@community_view
def space_view(request: HttpRequest, slug: str) -> HttpResponse:
    user = request.user
    space = access.space_for_view(user=user, slug=slug)
    post_type = request.GET.get("type", "")
    if post_type not in PostType.values:
        post_type = ""
    answered_param = request.GET.get("answered", "")
    answered = {"yes": True, "no": False}.get(answered_param) if post_type == "question" else None
    posts = selectors.post_list(
        user=user, space=space, type=post_type or None, answered=answered, pinned_first=False
    )
    # Pinned posts head the first page; the rest walk the (space, state, activity) index.
    # One query sorted "pinned first" would sort every post of the space for each page.
    page = paginate(request, posts.filter(pinned_at__isnull=True))
    if page.number == 1:
        pinned = list(posts.filter(pinned_at__isnull=False).order_by("-pinned_at", "-id")[:10])
        page.object_list = pinned + page.object_list
    query = []
    if post_type:
        query.append(f"type={post_type}")
    if answered is not None:
        query.append(f"answered={answered_param}")
    membership = None
    found = access.membership_state(user, space)
    if found:
        role, state = found
        membership = {"role": role, "state": state, "label": SpaceRole(role).label}
    children = [card.space for card in selectors.space_children(user=user, space=space)]
    og = None
    if access.space_read_decision(user=AnonymousUser(), space=space).allowed:
        og = {
            "title": space.name,
            "description": space.description[:200],
            "url": request.build_absolute_uri(),
        }
    from apiary.community.middleware import view_once

    if not request.htmx and view_once(request, f"s{space.pk}"):
        from apiary.community import services

        services.space_view_record(user=user, space=space, session_key=session_key(request))
    return render(
        request,
        "community/space.html",
        {
            "space": space,
            "posts": page.object_list,
            "page_obj": page,
            "query_prefix": "&".join(query) + ("&" if query else ""),
            "type_filters": TYPE_FILTERS,
            "current_type": post_type,
            "answered": answered_param if answered is not None else "",
            "membership": membership,
            "is_member": access.is_member(user, space),
            "following": user.is_authenticated and selectors.is_following(user=user, space=space),
            "can_post": access.can_post(user=user, space=space).allowed,
            "can_manage": access.can_moderate(user=user, space=space),
            "children": children,
            "og": og,
            "noindex": og is None,
            "section": "community",
        },
    )


# --- roadmap ----------------------------------------------------------------------------------


@community_view
def roadmap_view(request: HttpRequest) -> HttpResponse:
    by_status = selectors.roadmap(user=request.user)
    labels = dict(IdeaStatus.choices)
    columns = [
        {"status": status, "label": labels[status], "ideas": by_status.get(status, [])}
        for status in ROADMAP_COLUMNS
    ]
    return render(
        request,
        "community/roadmap.html",
        {"columns": columns, "section": "community"},
    )


def redirect_back(request: HttpRequest, fallback: str) -> HttpResponse:
    return redirect(safe_next(request, fallback))
