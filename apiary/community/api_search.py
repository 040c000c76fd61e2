"""Community search and the personalised feed in the API: ``GET /api/v1/community/search`` and
``GET /api/v1/community/feed``. Mounted on the community router (``api.py``), so the paths,
tags and authentication are the community's: anonymous callers read what anonymous visitors
may read.

Search takes the same GET parameters as the search page (``search.params_from_query``), so a
page's address and an API call give the same answer. Bad input is a 422 with ``field`` and a
sentence (``invalid_query``, ``unknown_filter``, ``empty_query``), never a 500."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext as _
from ninja import Router

from apiary.accounts.access import api_user
from apiary.community import feed, search
from apiary.core.auth import API_AUTH
from apiary.core.errors import ApiError


def _anonymous(request):
    return AnonymousUser()  # truthy: the handler runs; access decides what may be read


READ_AUTH = [*API_AUTH, _anonymous]

router = Router(tags=["community"])


def _row(post) -> dict:
    from apiary.community.api import _post_row  # the same post shape as /community/posts

    return _post_row(post)


def _hit(hit: search.Hit) -> dict:
    out = _row(hit.post)
    out.update(
        space_name=hit.post.space.name,
        title_html=str(hit.title_html),
        snippet_html=str(hit.snippet_html),
        tags=[t.slug for t in hit.tags],
        matched_in="comment" if hit.comment is not None else "post",
        comment_id=hit.comment.pk if hit.comment is not None else None,
        rank=hit.rank,
    )
    return out


def _facets(result: search.SearchResult) -> dict:
    return {
        kind: [
            {"key": f.key, "label": f.label, "count": f.count, "selected": f.selected}
            for f in items
        ]
        for kind, items in result.facets.items()
    }


@router.get("/community/search", auth=READ_AUTH)
def community_search(request):
    """Full text and filters over the posts (and replies) the caller may read.

    ``q`` takes words, ``"phrases"``, ``prefix*``, ``-excluded`` and the filters ``in:space``,
    ``tag:x`` / ``#x``, ``type:idea``, ``status:answered`` (or an idea status), ``@handle``,
    ``before:YYYY-MM-DD``, ``after:YYYY-MM-DD``, ``order:latest``; the same filters are also
    parameters (``space``, ``tag``, ``type``, ``author``, ``status``, ``before``, ``after``,
    ``sort``). Counts and facets are over the newest 1,000 matches (``count_capped``)."""
    user = api_user(request)
    try:
        params, limit, offset = search.params_from_query(request.GET)
    except search.SearchError as exc:
        raise ApiError(422, exc.code, exc.message, errors=exc.errors) from None
    if params.is_empty:
        raise ApiError(
            422,
            "empty_query",
            _("Give words to look for (q) or a filter (space, tag, type, author, status)."),
            errors=[{"field": "q", "message": _("Nothing to search for."), "type": "empty_query"}],
        )
    result = search.search(user=user, params=params, limit=limit, offset=offset)
    return {
        "items": [_hit(h) for h in result.hits],
        "count": result.count,
        "count_capped": result.count_capped,
        "facets": _facets(result),
        "sort": result.sort,
        "limit": result.limit,
        "offset": result.offset,
        "next_offset": result.next_offset,
    }


@router.get("/community/feed", auth=READ_AUTH)
def community_feed(request, limit: int = feed.DEFAULT_LIMIT, offset: int = 0):
    """The caller's personalised feed (anonymous: fresh and popular public posts), each item
    with the reason it is there."""
    if not 1 <= limit <= feed.MAX_LIMIT:
        raise ApiError(
            422, "validation_error", _("limit must be between 1 and %(n)d.") % {"n": feed.MAX_LIMIT}
        )
    if not 0 <= offset < feed.FEED_MAX:
        raise ApiError(
            422,
            "validation_error",
            _("offset must be between 0 and %(n)d.") % {"n": feed.FEED_MAX - 1},
        )
    page = feed.feed_page(user=api_user(request), limit=limit, offset=offset)
    return {
        "items": [
            {
                **_row(item.post),
                "space_name": item.post.space.name,
                "score": item.score,
                "reason": {
                    "code": item.reason.code,
                    "text": item.reason.text,
                    "tag": item.reason.tag,
                },
            }
            for item in page.items
        ],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
        "next_offset": page.next_offset,
    }
