"""Alerts pages: the live list, an alert's detail with its numbers, evidence and one-click next
actions, rules with a live preview, and webhook endpoints.

Views only translate HTTP: permission through ``access`` (``alert_for_view``, ``alerts_require``
and the ``permission_required`` decorator), reads through ``selectors``, writes through
``services``; presentation helpers (the one-line explanation, the numbers as cards, the chart)
live in ``views_support``. Bad input shows the page again with the message (4xx), never a 500.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from apiary.accounts.access import Perm, permission_required, user_has_permission

from . import access, actions, selectors, services
from . import views_support as support
from .forms import PREFIX, EndpointForm, RuleForm, rule_initial
from .models import Kind, Severity, Status
from .views_live import start_id

PAGE = 50
STATUS_TABS = [
    (Status.OPEN, gettext_lazy("Open")),
    (Status.ACKNOWLEDGED, gettext_lazy("Acknowledged")),
    (Status.RESOLVED, gettext_lazy("Resolved")),
]
FRESH_EVENTS = {"opened", "escalated"}  # what a toast announces


def _can_manage(user) -> bool:
    return user_has_permission(user, Perm.ALERTS_MANAGE)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- The list ------------------------------------------------------------------------------


def _filters(request: HttpRequest) -> tuple[dict, list[str]]:
    """status / kind / severity from the query string; unknown values are reported, not 500."""
    errors = []
    status = request.GET.get("status") or Status.OPEN
    if status not in Status.values:
        errors.append(_("Unknown status %(value)r.") % {"value": status[:40]})
        status = Status.OPEN
    kind = request.GET.get("kind") or ""
    if kind and kind not in Kind.values:
        errors.append(_("Unknown kind %(value)r.") % {"value": kind[:40]})
        kind = ""
    severity = request.GET.get("severity") or ""
    if severity and severity not in Severity.values:
        errors.append(_("Unknown severity %(value)r.") % {"value": severity[:40]})
        severity = ""
    return {"status": status, "kind": kind, "severity": severity}, errors


def _filter_query(f: dict) -> str:
    return urlencode({k: v for k, v in f.items() if v})


@permission_required(Perm.ALERTS_VIEW)
def alert_list_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    # Read before the list: an alert raised meanwhile then reaches the page through the stream.
    after = support.latest_event_id()
    f, errors = _filters(request)
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.alert_list(
            user=user,
            status=f["status"],
            kind=f["kind"] or None,
            severity=f["severity"] or None,
            cursor=cursor,
            limit=PAGE,
        )
    except ValidationError as exc:
        errors.extend(m for ms in exc.message_dict.values() for m in ms)
        page = {"items": [], "next_cursor": None}
    alerts = support.decorate(page["items"])
    counts = support.counts_for_tabs(selectors.open_alert_counts(user))
    base = reverse("alerts:list")
    tabs = [
        {
            "status": value,
            "label": label,
            "count": counts.get(value),
            "current": value == f["status"],
            "url": f"{base}?{_filter_query({**f, 'status': value})}",
        }
        for value, label in STATUS_TABS
    ]
    next_url = ""
    if page["next_cursor"]:
        next_url = f"{base}?{_filter_query(f)}&{urlencode({'cursor': page['next_cursor']})}"
    context = {
        "alerts": alerts,
        "fresh": set(),
        "tabs": tabs,
        "kinds": Kind.choices,
        "severities": Severity.choices,
        "errors": errors,
        "next_url": next_url,
        "after": after,
        "rows_url": f"{reverse('alerts:rows')}?{_filter_query(f)}",
        "can_manage": _can_manage(user),
        **f,
    }
    return render(request, "alerts/list.html", context, status=400 if errors else 200)


@permission_required(Perm.ALERTS_VIEW)
def alert_rows_view(request: HttpRequest) -> HttpResponse:
    """The alerts touched by events after ``after``, rendered as rows for the page's tab and
    filters; those that no longer belong there (acknowledged, resolved) are listed to remove."""
    user = request.user
    f, errors = _filters(request)
    if errors:
        return HttpResponse("; ".join(errors), status=400, content_type="text/plain")
    answer = selectors.alert_events_after(after_id=start_id(request), user=user, limit=200)
    latest: dict[int, dict] = {}
    fresh: set[int] = set()
    for e in answer["events"]:
        summary = e["alert"]
        latest.pop(summary["id"], None)
        latest[summary["id"]] = summary  # the last touched goes on top
        if e["kind"] in FRESH_EVENTS:
            fresh.add(summary["id"])
    show = [s for s in latest.values() if support.alert_matches(s, **f)]
    remove = [i for i, s in latest.items() if not support.alert_matches(s, **f)]
    context = {
        "alerts": support.decorate(list(reversed(show))),
        "fresh": fresh,
        "remove": remove,
        "after": answer["last_id"],
        "counts": (support.counts_for_tabs(selectors.open_alert_counts(user)) if latest else {}),
    }
    return render(request, "alerts/_rows.html", context)


@permission_required(Perm.ALERTS_VIEW)
def alert_badge_view(request: HttpRequest) -> HttpResponse:
    counts = selectors.open_alert_counts(request.user)
    return render(
        request,
        "alerts/_badge.html",
        {
            "open": counts.get("open", 0),
            "critical": counts.get("by_severity", {}).get(Severity.CRITICAL, 0),
        },
    )


# --- One alert -----------------------------------------------------------------------------


def _alert(request: HttpRequest, alert_id: int):
    return access.alert_for_view(user=request.user, alert_id=alert_id)


@permission_required(Perm.ALERTS_VIEW)
def alert_detail_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    after = support.latest_event_id()
    alert = _alert(request, alert_id)
    context = support.detail_context(alert=alert, user=request.user)
    context.update(
        {
            "after": after,
            "can_manage": _can_manage(request.user),
            "action_result": request.session.pop(f"alerts_action_{alert.pk}", None),
        }
    )
    return render(request, "alerts/detail.html", context)


def _back_to(alert_id: int) -> HttpResponse:
    return redirect("alerts:detail", alert_id=alert_id)


@require_POST
@permission_required(Perm.ALERTS_VIEW)
def alert_acknowledge_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = _alert(request, alert_id)
    try:
        alert = services.alert_acknowledge(alert_id=alert.pk, user=request.user)
    except services.AlertStateError as exc:
        if _is_htmx(request):
            return HttpResponse(str(exc), status=409, content_type="text/plain")
        messages.error(request, str(exc))
        return _back_to(alert.pk)
    if _is_htmx(request):
        row = support.decorate([selectors.alert_summary(alert)])[0]
        return render(request, "alerts/_row.html", {"a": row, "fresh": set()})
    messages.success(request, _("Acknowledged: others see that you are on it."))
    return _back_to(alert.pk)


@require_POST
@permission_required(Perm.ALERTS_VIEW)
def alert_resolve_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = _alert(request, alert_id)
    note = request.POST.get("note", "")
    try:
        services.alert_resolve(alert_id=alert.pk, user=request.user, note=note)
    except services.AlertStateError as exc:
        messages.error(request, str(exc))
        return _back_to(alert.pk)
    except ValidationError as exc:
        context = support.detail_context(alert=alert, user=request.user)
        context.update(
            {
                "after": support.latest_event_id(),
                "can_manage": _can_manage(request.user),
                "note": note,
                "note_errors": exc.message_dict.get("note", exc.messages),
            }
        )
        return render(request, "alerts/detail.html", context, status=400)
    messages.success(request, _("Resolved."))
    return _back_to(alert.pk)


@require_POST
@permission_required(Perm.ALERTS_VIEW)
def alert_action_view(request: HttpRequest, alert_id: int, action_key: str) -> HttpResponse:
    """One click on a suggested next action. htmx gets the result message in place (or an
    ``HX-Redirect`` to where the action leads, e.g. the care conversation); a plain form post
    is redirected the same way with the message kept for the next page."""
    alert = _alert(request, alert_id)
    params = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    try:
        result = actions.alert_action_perform(
            alert_id=alert.pk, action_key=action_key, user=request.user, params=params or None
        )
    except PermissionDenied:
        result = {"ok": False, "message": _("You may not do this."), "redirect_url": None}
    except ValidationError as exc:
        result = {"ok": False, "message": " ".join(exc.messages), "redirect_url": None}
    except services.AlertStateError as exc:
        result = {"ok": False, "message": str(exc), "redirect_url": None}
    result = {
        "ok": bool(result.get("ok")),
        "message": str(result.get("message") or ""),
        "redirect_url": result.get("redirect_url") or "",
    }
    if _is_htmx(request):
        response = render(request, "alerts/_action_result.html", {"result": result}, status=200)
        if result["ok"] and result["redirect_url"]:
            # The message travels to the next page (care conversation) as a flash message.
            messages.success(request, result["message"])
            response["HX-Redirect"] = result["redirect_url"]
        return response
    if result["ok"]:
        messages.success(request, result["message"])
        if result["redirect_url"]:
            return redirect(result["redirect_url"])
    else:
        messages.error(request, result["message"])
    request.session[f"alerts_action_{alert.pk}"] = result
    return _back_to(alert.pk)


# --- Rules ---------------------------------------------------------------------------------


def _rule_form(data, *, kind: str, initial=None) -> RuleForm:
    return RuleForm(
        data,
        kind=kind,
        initial=initial,
        queries=support.query_choices(),
        segments=support.segment_choices(),
        platforms=support.platform_choices(),
    )


MAIN_FIELDS = ("name", "severity", "cooldown_minutes", "active")


def _rule_page(request, form: RuleForm, *, rule=None, status=200, preview=None) -> HttpResponse:
    return render(
        request,
        "alerts/rule_form.html",
        {
            "form": form,
            "rule": rule,
            "main_fields": [form[n] for n in MAIN_FIELDS],
            "kind_label": Kind(form.rule_kind).label,
            "kind_help": support.KIND_HELP.get(form.rule_kind, ""),
            "can_manage": True,
            **support.preview_context(preview),
        },
        status=status,
    )


def _rule_save(request, form: RuleForm, *, rule=None):
    """Create or update through the services; their messages land on the fields."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    values = {
        "name": data["name"],
        "kind": form.rule_kind,
        "conditions": form.conditions(),
        "cooldown_minutes": data["cooldown_minutes"],
        "severity": data["severity"],
        "active": data["active"],
    }
    try:
        if rule is None:
            return services.rule_create(**values, actor=request.user)
        return services.rule_update(rule=rule, actor=request.user, **values)
    except ValidationError as exc:
        form.add_condition_errors(exc)
        return None


@permission_required(Perm.ALERTS_MANAGE)
def rule_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "alerts/rules.html",
        {"rules": support.rules_for_page(selectors.rule_list()), "can_manage": True},
    )


@permission_required(Perm.ALERTS_MANAGE)
def rule_create_view(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    if kind not in Kind.values:
        if request.method == "POST" or kind:
            messages.error(request, _("Pick what the rule should watch for."))
        kinds = [
            {"value": v, "label": label, "help": support.KIND_HELP.get(v, "")}
            for v, label in Kind.choices
        ]
        return render(
            request,
            "alerts/rule_kind.html",
            {"kinds": kinds, "can_manage": True},
            status=400 if kind else 200,
        )
    if request.method == "POST":
        form = _rule_form(request.POST, kind=kind)
        rule = _rule_save(request, form)
        if rule is not None:
            messages.success(request, _("Rule “%(name)s” created.") % {"name": rule.name})
            return redirect("alerts:rules")
        return _rule_page(request, form, status=400)
    initial = {"name": "", "severity": support.KIND_SEVERITY.get(kind, "medium")}
    return _rule_page(request, _rule_form(None, kind=kind, initial=initial))


@permission_required(Perm.ALERTS_MANAGE)
def rule_edit_view(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = selectors.rule_get(rule_id)
    if request.method == "POST":
        form = _rule_form(request.POST, kind=rule.kind)
        saved = _rule_save(request, form, rule=rule)
        if saved is not None:
            messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
            return redirect("alerts:rules")
        return _rule_page(request, form, rule=rule, status=400)
    return _rule_page(
        request, _rule_form(None, kind=rule.kind, initial=rule_initial(rule)), rule=rule
    )


@require_POST
@permission_required(Perm.ALERTS_MANAGE)
def rule_delete_view(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = selectors.rule_get(rule_id)
    services.rule_delete(rule=rule, actor=request.user)
    messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
    return redirect("alerts:rules")


@require_POST
@permission_required(Perm.ALERTS_MANAGE)
def rule_preview_view(request: HttpRequest) -> HttpResponse:
    """The preview box, asked by htmx as the rule form changes."""
    kind = request.POST.get("kind", "")
    if kind not in Kind.values:
        return render(
            request,
            "alerts/_preview.html",
            support.preview_context(None, errors=[{"label": "", "message": _("Unknown kind.")}]),
            status=400,
        )
    form = _rule_form(request.POST, kind=kind)
    errors = []
    preview = None
    if not form.is_valid():
        errors = [
            {"label": form[name].label if name in form.fields else "", "message": m}
            for name, ms in form.errors.items()
            # A draft without a name or severity yet still previews: only what changes the
            # count matters here.
            if name.startswith(PREFIX)
            or (name == "cooldown_minutes" and request.POST.get("cooldown_minutes", "").strip())
            for m in ms
        ]
    if not errors:
        cooldown = form.cleaned_data.get("cooldown_minutes")
        try:
            preview = services.rule_preview(
                kind=kind,
                conditions=form.conditions(),
                cooldown_minutes=60 if cooldown is None else cooldown,
                days=7,
            )
        except ValidationError as exc:
            errors = [
                {"label": support.condition_label(form, key), "message": m}
                for key, ms in exc.message_dict.items()
                for m in ms
            ]
    return render(
        request,
        "alerts/_preview.html",
        support.preview_context(preview, errors=errors),
        status=200,  # htmx swaps 2xx only; the errors are the content
    )


# --- Webhook endpoints ---------------------------------------------------------------------


@permission_required(Perm.ALERTS_MANAGE)
def endpoint_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "alerts/endpoints.html",
        {
            "endpoints": support.endpoints_for_page(selectors.endpoint_list()),
            "new_secret": request.session.pop("alerts_new_secret", None),
            "test_result": request.session.pop("alerts_test_result", None),
            "can_manage": True,
        },
    )


def _endpoint_values(form: EndpointForm) -> dict:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "url": data["url"],
        "kinds": list(data["kinds"]),
        "min_severity": data["min_severity"],
        "active": data["active"],
    }


def _endpoint_errors(form: EndpointForm, exc: ValidationError) -> None:
    for key, msgs in exc.message_dict.items():
        for m in msgs:
            form.add_error(key if key in form.fields else None, m)


def _endpoint_page(request, form, *, endpoint=None, status=200) -> HttpResponse:
    return render(
        request,
        "alerts/endpoint_form.html",
        {
            "form": form,
            "endpoint": endpoint,
            "secret_hint": support.secret_hint(endpoint.secret) if endpoint else "",
            "can_manage": True,
        },
        status=status,
    )


@permission_required(Perm.ALERTS_MANAGE)
def endpoint_create_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _endpoint_page(request, EndpointForm())
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint = services.webhook_endpoint_create(
                **_endpoint_values(form), actor=request.user
            )
        except ValidationError as exc:
            _endpoint_errors(form, exc)
        else:
            request.session["alerts_new_secret"] = {
                "name": endpoint.name,
                "secret": endpoint.secret,
            }
            messages.success(request, _("Webhook “%(name)s” created.") % {"name": endpoint.name})
            return redirect("alerts:endpoints")
    return _endpoint_page(request, form, status=400)


@permission_required(Perm.ALERTS_MANAGE)
def endpoint_edit_view(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get(endpoint_id)
    if request.method != "POST":
        initial = {
            "name": endpoint.name,
            "url": endpoint.url,
            "kinds": endpoint.kinds,
            "min_severity": endpoint.min_severity,
            "active": endpoint.active,
        }
        return _endpoint_page(request, EndpointForm(initial=initial), endpoint=endpoint)
    form = EndpointForm(request.POST)
    if form.is_valid():
        rotate = form.cleaned_data["rotate_secret"]
        try:
            endpoint = services.webhook_endpoint_update(
                endpoint=endpoint,
                actor=request.user,
                rotate_secret=rotate,
                **_endpoint_values(form),
            )
        except ValidationError as exc:
            _endpoint_errors(form, exc)
        else:
            if rotate:
                request.session["alerts_new_secret"] = {
                    "name": endpoint.name,
                    "secret": endpoint.secret,
                }
            messages.success(request, _("Webhook “%(name)s” saved.") % {"name": endpoint.name})
            return redirect("alerts:endpoints")
    return _endpoint_page(request, form, endpoint=endpoint, status=400)


@require_POST
@permission_required(Perm.ALERTS_MANAGE)
def endpoint_delete_view(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get(endpoint_id)
    services.webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
    messages.success(request, _("Webhook “%(name)s” deleted.") % {"name": endpoint.name})
    return redirect("alerts:endpoints")


@require_POST
@permission_required(Perm.ALERTS_MANAGE)
def endpoint_test_view(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get(endpoint_id)
    result = services.webhook_endpoint_test(endpoint_id=endpoint.pk)
    request.session["alerts_test_result"] = {
        "name": endpoint.name,
        "ok": bool(result.get("ok")),
        "message": str(result.get("message", "")),
    }
    return redirect("alerts:endpoints")
