"""Listening search pages: the search page at /listening/ (filters = the API's parameters, new
mentions stream in through the htmx poller), the mention detail page, saved searches, tags and
"mark irrelevant". Views only translate HTTP: reads in ``search``, writes in
``services.search``."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apiary.accounts.access import Perm, permission_required, user_has_permission

from . import search, selectors
from .actions import mention_actions
from .models import ListeningQuery, Mention, QueryKind, SavedSearch
from .raw import PLATFORMS
from .services import search as search_services

LIVE_PAGE = 50


def _segments(user) -> list:
    if not user_has_permission(user, Perm.CUSTOMERS_VIEW):
        return []
    from apiary.customers.models import Segment

    return list(Segment.objects.order_by("name").values("slug", "name"))


def _customer_filter_allowed(user, params: search.SearchParams) -> bool:
    return not params.reads_customer_data or user_has_permission(user, Perm.CUSTOMERS_VIEW)


def _values(request: HttpRequest) -> dict:
    """What the user typed, to show it back in the form (also when it was invalid)."""
    out: dict = {}
    for key in request.GET:
        values = [v for v in request.GET.getlist(key) if v.strip()]
        if key in search.LIST_FIELDS:
            out[key] = [p.strip() for v in values for p in v.split(",") if p.strip()]
        elif values:
            out[key] = values[0]
    return out


@permission_required(Perm.LISTENING_VIEW)
def search_view(request: HttpRequest) -> HttpResponse:
    """Search mentions; the first page of a time-sorted search keeps polling for new ones."""
    errors: list[dict] = []
    # Read before the search: a mention stored meanwhile is then picked up by the poller.
    newest = _newest_id()
    page = None
    params = None
    try:
        params, paging = search.params_from_query(request.GET)
        if not _customer_filter_allowed(request.user, params):
            raise search.SearchParamsError(
                [
                    {
                        "field": "customer_id" if params.customer_id else "segment",
                        "message": _("You may not filter by customers."),
                        "type": "permission",
                    }
                ]
            )
        page = search.search_page(params, cursor=paging.cursor, limit=LIVE_PAGE)
    except search.SearchParamsError as exc:
        errors = exc.errors
        params = None
    mentions = page.items if page else []
    filter_query = params.urlencode() if params else ""
    live = page is not None and params.sort == "time" and not request.GET.get("cursor")
    user = request.user
    context = {
        "mentions": mentions,
        "page": page,
        "params": params,
        "values": _values(request),
        "errors": errors,
        "newest": newest,
        "live": live,
        "filter_query": filter_query,
        "next_url": (
            f"?{filter_query}{'&' if filter_query else ''}{urlencode({'cursor': page.next_cursor})}"
            if page and page.next_cursor
            else ""
        ),
        "status": selectors.stream_status(),
        "queries": list(
            ListeningQuery.objects.order_by("kind", "name").values("id", "name", "kind")
        ),
        "kinds": QueryKind.choices,
        "platforms": sorted(PLATFORMS),
        "segments": _segments(user),
        "saved_links": [
            (s, search.params_validate(s.params).urlencode())
            for s in SavedSearch.objects.filter(owner=user)
        ],
    }
    return render(request, "listening/live.html", context, status=422 if errors else 200)


def _newest_id() -> int:
    # The poller asks for mentions stored after this id (a primary-key index probe).
    return Mention.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@permission_required(Perm.LISTENING_VIEW)
def live_rows_view(request: HttpRequest) -> HttpResponse:
    """New mentions matching the page's filters, stored after ``after`` (htmx poller)."""
    try:
        after = min(max(0, int(request.GET.get("after", "0"))), 2**62)
    except ValueError:
        after = 0
    query = request.GET.copy()
    query.pop("after", None)
    try:
        params, _paging = search.params_from_query(query, paging=False)
    except search.SearchParamsError as exc:
        return HttpResponse(str(exc), status=422, content_type="text/plain; charset=utf-8")
    if not _customer_filter_allowed(request.user, params):
        return HttpResponse(status=403)
    mentions, newest = search.live_rows(params, after=after, limit=LIVE_PAGE)
    return render(
        request,
        "listening/_live_rows.html",
        # Only the filters: the poller's own ``after`` moves forward with every answer.
        {"mentions": mentions, "newest": newest, "filter_query": params.urlencode()},
    )


def _mention_or_404(pk: int) -> Mention:
    mention = Mention.objects.filter(pk=pk).select_related("customer").first()
    if mention is None:
        raise Http404
    return mention


@permission_required(Perm.LISTENING_VIEW)
def mention_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    mention = _mention_or_404(pk)
    context = {
        "m": mention,
        "queries": search.mention_queries(mention),
        "tags": search.mention_tags(mention),
        "thread": search.mention_thread(mention),
        "similar": search.mention_similar(mention),
        "actions": mention_actions(mention, request.user),
        "can_see_customer": user_has_permission(request.user, Perm.CUSTOMERS_VIEW),
    }
    return render(request, "listening/mention_detail.html", context)


def _back(request: HttpRequest, mention: Mention) -> HttpResponse:
    return redirect("listening:mention", pk=mention.pk)


@require_POST
@permission_required(Perm.LISTENING_VIEW)
def mention_tag_view(request: HttpRequest, pk: int) -> HttpResponse:
    mention = _mention_or_404(pk)
    tag = request.POST.get("tag", "")
    try:
        if request.POST.get("remove"):
            search_services.mention_tag_remove(mention=mention, tag=tag)
        else:
            search_services.mention_tag_add(mention=mention, tag=tag, actor=request.user)
    except ValidationError as exc:
        for error in exc.message_dict.get("tag", []):
            messages.error(request, error)
    return _back(request, mention)


@require_POST
@permission_required(Perm.LISTENING_VIEW)
def mention_irrelevant_view(request: HttpRequest, pk: int) -> HttpResponse:
    mention = _mention_or_404(pk)
    try:
        query_id = int(request.POST.get("query_id", ""))
    except ValueError:
        raise Http404 from None
    query = ListeningQuery.objects.filter(pk=query_id).first()
    if query is None:
        raise Http404
    try:
        if request.POST.get("undo"):
            search_services.mention_unmark_irrelevant(mention=mention, query=query)
            messages.success(
                request, _("“%(name)s” counts this mention again.") % {"name": query.name}
            )
        else:
            search_services.mention_mark_irrelevant(
                mention=mention, query=query, actor=request.user
            )
            messages.success(
                request,
                _("Marked irrelevant to “%(name)s”: it leaves that query's results.")
                % {"name": query.name},
            )
    except ValidationError as exc:
        for errors in exc.message_dict.values():
            for error in errors:
                messages.error(request, error)
    return _back(request, mention)


@require_POST
@permission_required(Perm.LISTENING_VIEW)
def saved_search_save_view(request: HttpRequest) -> HttpResponse:
    query = QueryDict(request.POST.get("params", ""))
    target = reverse("listening:search")
    try:
        params, _paging = search.params_from_query(query, paging=False)
        saved = search_services.saved_search_create(
            owner=request.user, name=request.POST.get("name", ""), params=params.as_query()
        )
    except search.SearchParamsError as exc:
        messages.error(request, str(exc))
        return redirect(target)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                messages.error(request, f"{field}: {error}")
        return redirect(f"{target}?{query.urlencode()}" if query else target)
    messages.success(request, _("Search “%(name)s” saved.") % {"name": saved.name})
    encoded = search.params_validate(saved.params).urlencode()
    return redirect(f"{target}?{encoded}" if encoded else target)


@require_POST
@permission_required(Perm.LISTENING_VIEW)
def saved_search_delete_view(request: HttpRequest, saved_id: int) -> HttpResponse:
    saved = SavedSearch.objects.filter(pk=saved_id, owner=request.user).first()
    if saved is None:
        raise Http404
    search_services.saved_search_delete(saved=saved, actor=request.user)
    messages.success(request, _("Saved search “%(name)s” deleted.") % {"name": saved.name})
    return redirect("listening:search")
