"""Listening pages: sources (add, pause, resume, delete, status) and queries.

Views only translate HTTP: reads through ``selectors``, writes through ``services``.
The search page with its live rows and the mention detail are in ``views_search.py``.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from apiary.accounts.access import Perm, permission_required, user_has_permission

from . import selectors
from .models import ListeningQuery, QueryKind, SourceKind
from .search import irrelevant_counts
from .services import queries as query_services
from .services import sources as source_services

# What the "add source" form offers per kind: field name → (label, placeholder). Turned into
# the connector's config; the connector validates it (errors come back on the form).
KIND_FIELDS = {
    "webhook": [("default_platform", gettext_lazy("Default platform"), "bluesky")],
    "rss": [
        ("url", gettext_lazy("Feed URL"), "https://www.trustpilot.com/review/example.com/rss"),
        ("interval_seconds", gettext_lazy("Poll every (seconds)"), "300"),
        ("platform", gettext_lazy("Platform"), "trustpilot"),
    ],
    "mastodon": [
        ("base_url", gettext_lazy("Instance URL"), "https://mastodon.social"),
        ("timeline", gettext_lazy("Timeline (hashtag, public, public:local)"), "hashtag"),
        ("hashtag", gettext_lazy("Hashtag"), "coffee"),
        ("access_token", gettext_lazy("Access token (optional)"), ""),
    ],
    "bluesky": [
        ("url", gettext_lazy("Jetstream URL"), "wss://jetstream2.us-east.bsky.network/subscribe"),
        (
            "keywords",
            gettext_lazy("Keywords (comma-separated, empty = all posts)"),
            "northwind, coffee",
        ),
    ],
    "replay": [
        ("rate_per_minute", gettext_lazy("Mentions per minute"), "30"),
        ("seed", gettext_lazy("Seed"), "2026"),
    ],
}
_NUMBERS = {"interval_seconds", "rate_per_minute", "seed"}
_LISTS = {"keywords"}


@permission_required(Perm.LISTENING_VIEW)
def sources_view(request: HttpRequest) -> HttpResponse:
    sources = list(selectors.source_list())
    rates = selectors.source_events_per_minute([s.pk for s in sources])
    rows = [
        {"source": s, "health": selectors.source_health(s), "rate": rates.get(s.pk, 0.0)}
        for s in sources
    ]
    context = {
        "rows": rows,
        "status": selectors.stream_status(),
        "kinds": [(k, SourceKind(k).label) for k in KIND_FIELDS],
        "kind_fields": KIND_FIELDS,
        "can_manage": user_has_permission(request.user, Perm.LISTENING_MANAGE),
        "new_token": request.session.pop("listening_new_token", None),
    }
    if request.headers.get("HX-Request"):
        return render(request, "listening/_sources_table.html", context)
    return render(request, "listening/sources.html", context)


def _config_from_post(kind: str, post) -> dict:
    config = {}
    for name, _label, _placeholder in KIND_FIELDS.get(kind, []):
        value = post.get(f"{kind}-{name}", "").strip()
        if not value:
            continue
        if name in _NUMBERS:
            try:
                config[name] = float(value) if "." in value else int(value)
            except ValueError:
                raise ValidationError(
                    {"config": [_("%(field)s must be a number.") % {"field": name}]}
                ) from None
        elif name in _LISTS:
            config[name] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            config[name] = value
    return config


@require_POST
@permission_required(Perm.LISTENING_MANAGE)
def source_add_view(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    try:
        config = _config_from_post(kind, request.POST)
        source, token = source_services.source_create(
            name=request.POST.get("name", ""), kind=kind, config=config, actor=request.user
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                messages.error(request, f"{field}: {error}")
        return redirect("listening:sources")
    if token:
        request.session["listening_new_token"] = {"name": source.name, "token": token}
    messages.success(request, _("Source “%(name)s” added.") % {"name": source.name})
    return redirect("listening:sources")


@require_POST
@permission_required(Perm.LISTENING_MANAGE)
def source_action_view(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    source = selectors.source_get(pk)
    if source is None:
        raise Http404
    if action == "pause":
        source_services.source_status_set(source=source, status="paused", actor=request.user)
        messages.success(request, _("Source “%(name)s” paused.") % {"name": source.name})
    elif action == "resume":
        source_services.source_status_set(source=source, status="active", actor=request.user)
        messages.success(request, _("Source “%(name)s” resumed.") % {"name": source.name})
    elif action == "delete":
        source_services.source_delete(source=source, actor=request.user)
        messages.success(request, _("Source “%(name)s” deleted.") % {"name": source.name})
    elif action == "token":
        token = source_services.source_token_rotate(source=source, actor=request.user)
        request.session["listening_new_token"] = {"name": source.name, "token": token}
    else:
        raise Http404
    return redirect("listening:sources")


@permission_required(Perm.LISTENING_VIEW)
def queries_view(request: HttpRequest) -> HttpResponse:
    can_manage = user_has_permission(request.user, Perm.LISTENING_MANAGE)
    errors: dict = {}
    values = {"name": "", "kind": "brand", "text": ""}
    if request.method == "POST":
        if not can_manage:
            raise Http404
        values = {k: request.POST.get(k, "") for k in values}
        query_id = request.POST.get("id")
        try:
            if query_id:
                query = ListeningQuery.objects.filter(pk=query_id).first()
                if query is None:
                    raise Http404
                if request.POST.get("delete"):
                    query_services.query_delete(query=query, actor=request.user)
                    messages.success(request, _("Query deleted."))
                else:
                    query_services.query_update(
                        query=query,
                        active=request.POST.get("active") == "on",
                        actor=request.user,
                        **values,
                    )
                    messages.success(request, _("Query saved."))
            else:
                query_services.query_create(actor=request.user, **values)
                messages.success(request, _("Query added."))
            return redirect("listening:queries")
        except ValidationError as exc:
            errors = exc.message_dict
    irrelevant = irrelevant_counts()
    queries = list(selectors.query_list())
    for query in queries:
        query.irrelevant_count = irrelevant.get(query.pk, 0)
    context = {
        "queries": queries,
        "kinds": QueryKind.choices,
        "errors": errors,
        "errors_json": json.dumps(errors),
        "values": values,
        "can_manage": can_manage,
    }
    return render(request, "listening/queries.html", context, status=422 if errors else 200)
