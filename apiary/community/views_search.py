"""Community search page (``/community/search/``) and the full "For you" feed page
(``/community/feed/``). Views only translate HTTP: the search is ``search.search`` with the
same GET parameters as ``GET /api/v1/community/search``, the feed is ``feed.feed_page``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from apiary.community import feed, search
from apiary.community.views import community_view

SORT_CHOICES = [
    ("relevance", gettext_lazy("Best match")),
    ("newest", gettext_lazy("Newest")),
]
FACET_TITLES = {
    "space": gettext_lazy("Spaces"),
    "type": gettext_lazy("Types"),
    "tag": gettext_lazy("Tags"),
}
FEED_PAGE = 20


def _facet_groups(result: search.SearchResult) -> list[dict]:
    """Facets with the link each one leads to: add the value, or remove it when it is a
    selected parameter (a filter typed in the box is removed by editing the box)."""
    params = result.params
    groups = []
    for kind, items in result.facets.items():
        current = list(params.explicit.get(kind, []))
        links = []
        for f in items:
            if f.key in current:
                url = params.url(**{kind: [v for v in current if v != f.key]})
            elif f.selected:
                url = None
            else:
                url = params.url(**{kind: [*current, f.key]})
            links.append({"facet": f, "url": url})
        if links:
            groups.append({"kind": kind, "title": FACET_TITLES[kind], "links": links})
    return groups


def _search_event(request: HttpRequest, q: str, result) -> None:
    """One ``search`` event per visit per distinct search per 30 minutes. The words are not
    stored (they can be personal): only their number, whether filters were set and how many
    results came back — enough for "searches without results" in analytics."""
    import hashlib

    from apiary.community import services
    from apiary.community.middleware import view_once
    from apiary.community.views import session_key

    digest = hashlib.sha1(request.GET.urlencode().encode(), usedforsecurity=False).hexdigest()
    if view_once(request, "q" + digest[:8]):
        services.activity_record(
            kind="search",
            user=request.user,
            session_key=session_key(request),
            data={
                "words": len(q.split()),
                "filtered": any(k != "q" for k in request.GET),
                "results": result.count,
            },
        )


@community_view
def search_view(request: HttpRequest) -> HttpResponse:
    error = None
    result = None
    params = None
    try:
        params, limit, offset = search.params_from_query(request.GET)
        if not params.is_empty:
            result = search.search(user=request.user, params=params, limit=limit, offset=offset)
    except search.SearchError as exc:
        error = exc.message
    q = request.GET.get("q", "")
    if result is not None and not offset and not request.htmx:
        _search_event(request, q, result)
    context = {
        "q": q,
        "params": params,
        "result": result,
        "error": error,
        "facet_groups": _facet_groups(result) if result else [],
        "sort_choices": SORT_CHOICES,
        "sort": params.sort if params else request.GET.get("sort", ""),
        "next_url": params.url(offset=result.next_offset)
        if result and result.next_offset is not None
        else "",
        "prev_url": params.url(offset=result.prev_offset or None)
        if result and result.prev_offset is not None
        else "",
        "noindex": True,
        "section": "community",
    }
    return render(request, "community/search.html", context, status=400 if error else 200)


@community_view
def feed_view(request: HttpRequest) -> HttpResponse:
    try:
        offset = int(request.GET.get("offset") or 0)
    except ValueError:
        offset = 0
    offset = min(max(offset, 0), feed.FEED_MAX - 1)
    page = feed.feed_page(user=request.user, limit=FEED_PAGE, offset=offset)
    return render(
        request,
        "community/feed.html",
        {
            "feed_page": page,
            "items": page.items,
            "next_offset": page.next_offset,
            "prev_offset": max(0, offset - FEED_PAGE) if offset else None,
            "section": "community",
        },
    )
