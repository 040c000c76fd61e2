"""Whole anonymous topic pages from the cache, before sessions, CSRF, auth and the ORM run.

Anonymous visitors are most of a community's traffic and all see the same topic page. Once a
topic page has been rendered for one of them by the full stack (``views_posts.post_view``,
after ``access.post_for_view`` allowed it), ``AnonymousTopicCacheMiddleware`` keeps the whole
answer: body and headers, with the per-visitor CSRF token and the live view/share counters cut
out. The next anonymous request for the same address costs one indexed read of the topic's
*stamp* and one cache read.

Why this cannot leak closed content: the stamp is every column that decides what an anonymous
visitor may read and what the page shows — the post's row (state, audience, ``render_version``,
which database triggers bump for replies, reactions, tags, files and the rest: migration
0004), its space's and parent space's rows (visibility, archive, names), the author's name —
read fresh on every request. Which of those columns decide access is ``access``'s rule
(``access.anonymous_topic_stamp``, which refuses a stamp without them); ``STAMP_SHAPE`` adds
what the page shows. The cache key is a digest of that stamp plus the language, time
zone, host and address. Any change that could turn the answer into a 403/404 (a space made
closed or secret, a post hidden, removed or made members-only, a parent space's visibility) is
a different key: the request misses and goes through the full stack and its access check. A
deleted topic has no stamp and misses too. Entries are only written after the chokepoint said
yes for an anonymous visitor. Time-driven changes (a poll closing, a contest phase) are covered
by each entry's ``valid_until``: the earliest such moment after it was rendered.

Only plain page views qualify (``eligible``): GET, ``/community/p/<id>/`` with no query or only
``?page=``, no session or messages cookie (a logged-in member, or a visitor with a pending
flash message, takes the full stack), no htmx request. A hit still counts the visit and the
view (``VisitMiddleware``, ``view_once``, ``services.post_view_record``) and still sets the
CSRF cookie, so the activity log and the language form behave exactly as on a miss.
"""

from __future__ import annotations

import hashlib
import re
import time

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache as django_cache
from django.http import HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils import timezone, translation

from apiary.community import access

PATH_RE = re.compile(r"^/community/p/(\d{1,18})/$")
QUERY_RE = re.compile(r"^(?:page=(?:\d{1,6}|last))?$")
TTL = 600  # seconds; a stamp change makes a new key long before that
# Placeholders the view renders where per-request values go (see views_posts.post_view).
VIEWS_MARK = "\x01apiary-views\x01"
SHARES_MARK = "\x01apiary-shares\x01"
CSRF_MARK = "\x01apiary-csrf\x01"
# Post fields that change without changing the page (the live counters are spliced in; the
# page shows the rendered HTML, not the sources). The fragment key (views_posts) uses it too.
UNCACHED_POST_FIELDS = {"views_count", "shares_count", "body", "official_response"}
# What the page shows beyond what decides access: every post field but those above, every
# space field but its counters, what ``User.name`` and the page use; the live counters last.
STAMP_SHAPE = access.StampShape(
    post_ignored=frozenset(UNCACHED_POST_FIELDS),
    space_ignored=frozenset({"members_count", "posts_count", "last_activity_at"}),
    author_columns=("display_name", "email", "is_active"),
    live_columns=("views_count", "shares_count"),
)
# The post's moments at which the clock alone changes the page: the poll closes, contest
# entries close, voting opens, voting ends. A moment has passed once ``moment <= now`` (the
# rule of ``access.poll_is_closed`` and ``access.contest_votes_visible``). Both uses read them
# through ``clock_passed`` / ``next_clock_change``: the fragment key's flags and the whole
# page's expiry cannot disagree about which fields matter or when they turn.
CLOCK_FIELDS = (
    "poll_closes_at",
    "contest_entries_until",
    "contest_voting_from",
    "contest_voting_until",
)


def eligible(request) -> bool:
    """A request whose answer may come from, or go into, the shared anonymous cache."""
    if request.method != "GET" or request.headers.get("HX-Request"):
        return False
    if not PATH_RE.match(request.path_info) or not QUERY_RE.match(
        request.META.get("QUERY_STRING", "")
    ):
        return False
    cookies = request.COOKIES
    return (
        settings.SESSION_COOKIE_NAME not in cookies
        and "messages" not in cookies
        and "HTTP_AUTHORIZATION" not in request.META
    )


def stamp(post_id: int) -> tuple | None:
    """The topic's stamp row (raw database values; the last two are views and shares). Which
    columns decide what an anonymous visitor may see is ``access``'s rule
    (``access.anonymous_topic_stamp``); this module adds what the page shows."""
    return access.anonymous_topic_stamp(post_id, STAMP_SHAPE)


def key_for(request, row: tuple) -> str:
    parts = (
        row[:-2],
        translation.get_language_from_request(request),
        settings.TIME_ZONE,
        request.get_host(),
        request.scheme,
        request.get_full_path(),
    )
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return f"community:topicpage:{digest}"


def clock_passed(post, now) -> tuple[bool, ...]:
    """What the clock decides on the page now, one flag per ``CLOCK_FIELDS`` moment: has it
    passed (poll closed, entries closed, voting open, voting ended)?"""
    return tuple(m is not None and m <= now for m in (getattr(post, f) for f in CLOCK_FIELDS))


def next_clock_change(post, now) -> float:
    """The first ``CLOCK_FIELDS`` moment still to come (a timestamp), when ``clock_passed``
    next changes; +inf when none is."""
    moments = (getattr(post, f) for f in CLOCK_FIELDS)
    return min((m.timestamp() for m in moments if m is not None and m > now), default=float("inf"))


def valid_until(post) -> float:
    """The first moment after now at which the clock alone changes the page (or +inf)."""
    return next_clock_change(post, timezone.now())


def view_mark(request, post) -> dict | None:
    """Called by the topic view for an anonymous visitor after the access check allowed the
    page: the cache entry's details, or None when this answer must not be shared. The stamp
    was read by the middleware *before* the view read the post, so a change in between files
    the newer page under the older key, which no later request asks for."""
    row = getattr(request, "apiary_topic_stamp", None)  # set only for eligible requests
    if row is None:
        return None
    return {
        "key": key_for(request, row),
        "valid_until": valid_until(post),
        "views": row[-2],
        "shares": row[-1],
        "space_id": post.space_id,
    }


def _splice(body: bytes, token: str, views, shares) -> bytes:
    return (
        body.replace(CSRF_MARK.encode(), token.encode())
        .replace(VIEWS_MARK.encode(), str(views).encode())
        .replace(SHARES_MARK.encode(), str(shares).encode())
    )


class AnonymousTopicCacheMiddleware:
    """Serve a cached anonymous topic page when the stamp still matches; store the full
    stack's answer when the view marked it cacheable (``response.apiary_topic_cache``).
    Sits before the session, CSRF and auth middleware; runs CSRF's cookie handling and the
    visit log itself on a hit."""

    def __init__(self, get_response):
        from apiary.community.middleware import VisitMiddleware

        self.get_response = get_response
        self.csrf = CsrfViewMiddleware(get_response)
        # A hit still passes through the visit log, wrapped around the cached answer.
        self.visit = VisitMiddleware(self._serve)

    def __call__(self, request):
        if not eligible(request):
            return self.get_response(request)
        post_id = int(PATH_RE.match(request.path_info).group(1))
        row = stamp(post_id)
        entry = None
        if row is not None:
            entry = django_cache.get(key_for(request, row))
            if entry is not None and entry["valid_until"] <= time.time():
                entry = None
        if entry is None:
            request.apiary_topic_stamp = row
            return self._miss(request)
        request.user = AnonymousUser()
        request.apiary_topic_hit = (post_id, row, entry)
        self.csrf.process_request(request)
        response = self.visit(request)
        return self.csrf.process_response(request, response)

    def _serve(self, request) -> HttpResponse:
        from apiary.community import services
        from apiary.community.middleware import view_once
        from apiary.community.models import Post
        from apiary.community.views import session_key

        post_id, row, entry = request.apiary_topic_hit
        if view_once(request, f"p{post_id}"):
            services.post_view_record(
                user=request.user,
                post=Post(pk=post_id, space_id=entry["space_id"]),
                session_key=session_key(request),
            )
        body = _splice(entry["body"], get_token(request), row[-2], row[-1])
        response = HttpResponse(body)
        for name, value in entry["headers"]:
            response.headers[name] = value
        response["Content-Length"] = str(len(body))
        response["X-Apiary-Cache"] = "hit"
        return response

    def _miss(self, request):
        response = self.get_response(request)
        mark = getattr(response, "apiary_topic_cache", None)
        if mark is None or response.status_code != 200:
            return response
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "set-cookie", "x-apiary-cache")
        ]
        entry = {
            "body": response.content,
            "headers": headers,
            "valid_until": mark["valid_until"],
            "space_id": mark["space_id"],
        }
        django_cache.set(mark["key"], entry, TTL)
        # The view rendered placeholders; this answer gets this visitor's token and counts,
        # and CSRF's cookie handling runs again for the token asked for only now.
        response.content = _splice(entry["body"], get_token(request), mark["views"], mark["shares"])
        response["Content-Length"] = str(len(response.content))
        response["X-Apiary-Cache"] = "miss"
        return self.csrf.process_response(request, response)
