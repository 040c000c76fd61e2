"""Care managers' pages: SLA policies, inbox rules, canned responses, agents, and the SLA report.

Each page is thin over the writes in ``sla`` / ``rules`` / ``canned`` / ``services`` and the
report in ``selectors.sla_report``: the views only turn form fields into the arguments those
functions take and show their ``ValidationError`` messages next to the fields they name."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apiary.accounts.access import Perm, permission_required

from . import canned, rules, selectors, services, sla
from . import views_support as support
from .models import CannedResponse, InboxRule, Priority, SlaPolicy

WEEKDAYS = [
    ("1", gettext_lazy("Monday")),
    ("2", gettext_lazy("Tuesday")),
    ("3", gettext_lazy("Wednesday")),
    ("4", gettext_lazy("Thursday")),
    ("5", gettext_lazy("Friday")),
    ("6", gettext_lazy("Saturday")),
    ("7", gettext_lazy("Sunday")),
]


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    # "general" rather than Django's "__all__": templates cannot read names starting with "_".
    if hasattr(exc, "error_dict"):
        return {
            ("general" if k == "__all__" else k): [str(m) for m in v]
            for k, v in exc.message_dict.items()
        }
    return {"general": [str(m) for m in exc.messages]}


def _int(value, field: str, errors: dict, *, required: bool = True) -> int | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors.setdefault(field, []).append(_("Required."))
        return None
    try:
        return int(value)
    except ValueError:
        errors.setdefault(field, []).append(_("Must be a whole number."))
        return None


def _target(request: HttpRequest, model, key: str = "edit"):
    raw = request.GET.get(key) or request.POST.get("id") or ""
    if not raw:
        return None
    try:
        obj = model.objects.filter(pk=int(raw)).first()
    except ValueError:
        obj = None
    if obj is None:
        raise Http404
    return obj


# --- SLA policies ------------------------------------------------------------------------------


def _hours_from_post(post: QueryDict, errors: dict) -> dict:
    """ "09:00-13:00, 14:00-18:00" per weekday → ``{"1": [["09:00","13:00"], …]}``; the
    service validates the times and overlaps."""
    if post.get("always"):
        return {}
    hours: dict[str, list[list[str]]] = {}
    for day, _label in WEEKDAYS:
        text = (post.get(f"day_{day}") or "").strip()
        if not text:
            continue
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            bits = [b.strip() for b in part.replace("–", "-").split("-")]
            if len(bits) != 2:
                errors.setdefault("business_hours", []).append(
                    _("%(day)s: write intervals like 09:00-18:00.") % {"day": _label}
                )
                continue
            hours.setdefault(day, []).append(bits)
    return hours


def _hours_to_fields(policy: SlaPolicy | None) -> dict:
    hours = (policy.business_hours if policy else {}) or {}
    return {day: ", ".join(f"{a}-{b}" for a, b in hours.get(day, [])) for day, _label in WEEKDAYS}


@permission_required(Perm.CARE_MANAGE)
def sla_policies_view(request: HttpRequest) -> HttpResponse:
    policy = _target(request, SlaPolicy)
    errors: dict[str, list[str]] = {}
    values = None
    if request.method == "POST":
        post = request.POST
        if post.get("delete") and policy:
            sla.sla_policy_delete(policy=policy)
            messages.success(request, _("Policy “%(name)s” deleted.") % {"name": policy.name})
            return redirect("care:settings_sla")
        data = {
            "name": post.get("name", ""),
            "priority": post.get("priority", ""),
            "first_response_minutes": _int(
                post.get("first_response_minutes"), "first_response_minutes", errors
            ),
            "resolution_minutes": _int(
                post.get("resolution_minutes"), "resolution_minutes", errors, required=False
            ),
            "business_hours": _hours_from_post(post, errors),
            "time_zone": (post.get("time_zone") or "UTC").strip(),
            "active": bool(post.get("active")),
        }
        if not errors:
            try:
                if policy:
                    sla.sla_policy_update(policy=policy, **data)
                else:
                    policy = sla.sla_policy_create(**data)
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(request, _("Policy “%(name)s” saved.") % {"name": data["name"]})
                return redirect("care:settings_sla")
        values = {**data, "days": {d: post.get(f"day_{d}", "") for d, _l in WEEKDAYS},
                  "always": bool(post.get("always"))}  # fmt: skip
    if values is None:
        values = {
            "name": policy.name if policy else "",
            "priority": policy.priority if policy else "",
            "first_response_minutes": policy.first_response_minutes if policy else 30,
            "resolution_minutes": policy.resolution_minutes if policy else "",
            "time_zone": policy.time_zone if policy else "UTC",
            "active": policy.active if policy else True,
            "days": _hours_to_fields(policy),
            "always": not (policy and policy.business_hours),
        }
    context = {
        "section": "care",
        "tab": "sla",
        "policies": SlaPolicy.objects.all(),
        "editing": policy,
        "values": values,
        "errors": errors,
        "priorities": Priority.choices,
        "weekdays": [(d, label, values["days"].get(d, "")) for d, label in WEEKDAYS],
    }
    return render(request, "care/settings/sla.html", context, status=422 if errors else 200)


# --- Inbox rules -------------------------------------------------------------------------------

RULE_LIST_FIELDS = ("query_kinds", "intents", "sentiments", "languages")
RULE_TEXT_LISTS = ("platforms", "countries")
RULE_BOOLS = ("is_question", "reply_to_brand", "customer_linked")


def _conditions_from_post(post: QueryDict, errors: dict) -> dict:
    cond: dict = {}
    for key in RULE_LIST_FIELDS:
        values = [v for v in post.getlist(key) if v]
        if values:
            cond[key] = values
    for key in RULE_TEXT_LISTS:
        values = [v.strip() for v in (post.get(key) or "").split(",") if v.strip()]
        if values:
            cond[key] = values
    for key in RULE_BOOLS:
        value = post.get(key, "")
        if value in ("yes", "no"):
            cond[key] = value == "yes"
    for key in ("min_followers", "max_followers", "segment_id"):
        value = _int(post.get(key), f"conditions.{key}", errors, required=False)
        if value is not None:
            cond[key] = value
    if (post.get("min_customer_value") or "").strip():
        cond["min_customer_value"] = post["min_customer_value"].strip()
    return cond


def _rule_values(rule: InboxRule | None) -> dict:
    c = (rule.conditions if rule else {}) or {}
    return {
        "name": rule.name if rule else "",
        "position": rule.position if rule else 100,
        "priority_boost": rule.priority_boost if rule else 0,
        "active": rule.active if rule else True,
        **{k: c.get(k, []) for k in RULE_LIST_FIELDS},
        **{k: ", ".join(c.get(k, [])) for k in RULE_TEXT_LISTS},
        **{k: ("yes" if c[k] else "no") if k in c else "" for k in RULE_BOOLS},
        **{k: c.get(k, "") for k in ("min_followers", "max_followers", "segment_id")},
        "min_customer_value": c.get("min_customer_value", ""),
    }


def _describe(conditions: dict) -> list[str]:
    """The rule in words, for the list."""
    out = []
    for key, value in (conditions or {}).items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = _("yes") if value else _("no")
        out.append(f"{key.replace('_', ' ')}: {value}")
    return out


@permission_required(Perm.CARE_MANAGE)
def rules_view(request: HttpRequest) -> HttpResponse:
    rule = _target(request, InboxRule)
    errors: dict[str, list[str]] = {}
    values = _rule_values(rule)
    if request.method == "POST":
        post = request.POST
        if post.get("delete") and rule:
            rules.rule_delete(rule=rule)
            messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
            return redirect("care:settings_rules")
        conditions = _conditions_from_post(post, errors)
        data = {
            "name": post.get("name", ""),
            "conditions": conditions,
            "priority_boost": _int(post.get("priority_boost") or "0", "priority_boost", errors),
            "position": _int(post.get("position") or "100", "position", errors),
            "active": bool(post.get("active")),
        }
        if not errors:
            try:
                if rule:
                    rules.rule_update(rule=rule, **data)
                else:
                    rules.rule_create(**data)
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(request, _("Rule “%(name)s” saved.") % {"name": data["name"]})
                return redirect("care:settings_rules")
        values = {
            **values,
            "name": data["name"],
            "priority_boost": post.get("priority_boost", ""),
            "position": post.get("position", ""),
            "active": data["active"],
            **{k: post.getlist(k) for k in RULE_LIST_FIELDS},
            **{
                k: post.get(k, "")
                for k in (*RULE_TEXT_LISTS, *RULE_BOOLS, "min_followers", "max_followers")
            },
            "segment_id": post.get("segment_id", ""),
            "min_customer_value": post.get("min_customer_value", ""),
        }
    field_errors = {k.removeprefix("conditions."): v for k, v in errors.items()}
    context = {
        "section": "care",
        "tab": "rules",
        "rules": [(r, _describe(r.conditions)) for r in InboxRule.objects.all()],
        "editing": rule,
        "values": values,
        "errors": field_errors,
        "query_kinds": rules.QUERY_KINDS,
        "intents": rules.INTENTS,
        "sentiments": rules.SENTIMENTS,
        "languages": rules.LANGUAGES,
        "segments": support.segments_all(),
    }
    return render(request, "care/settings/rules.html", context, status=422 if errors else 200)


# --- Canned responses --------------------------------------------------------------------------


@permission_required(Perm.CARE_MANAGE)
def canned_view(request: HttpRequest) -> HttpResponse:
    response = _target(request, CannedResponse)
    errors: dict[str, list[str]] = {}
    values = {
        "key": response.key if response else request.GET.get("key", ""),
        "language": response.language if response else request.GET.get("language", "en"),
        "title": response.title if response else "",
        "body": response.body if response else "",
    }
    if request.method == "POST":
        post = request.POST
        if post.get("delete") and response:
            canned.canned_delete(response_id=response.pk, user=request.user)
            messages.success(request, _("Canned response deleted."))
            return redirect("care:settings_canned")
        values = {k: post.get(k, "") for k in ("key", "language", "title", "body")}
        try:
            if response:
                # key and language name the translation; only its title and text change.
                canned.canned_update(
                    response_id=response.pk,
                    user=request.user,
                    title=values["title"],
                    body=values["body"],
                )
            else:
                canned.canned_create(user=request.user, **values)
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.success(request, _("Canned response “%(t)s” saved.") % {"t": values["title"]})
            return redirect("care:settings_canned")
    groups: dict[str, list[CannedResponse]] = {}
    for r in CannedResponse.objects.all():
        groups.setdefault(r.key, []).append(r)
    context = {
        "section": "care",
        "tab": "canned",
        "groups": sorted(groups.items()),
        "editing": response,
        "values": values,
        "errors": errors,
        "variables": support.canned_variables(),
    }
    return render(request, "care/settings/canned.html", context, status=422 if errors else 200)


# --- Agents ------------------------------------------------------------------------------------


@permission_required(Perm.CARE_MANAGE)
def agents_view(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    failed_user = None
    if request.method == "POST":
        from apiary.accounts.models import User

        user = User.objects.filter(pk=_int(request.POST.get("user_id"), "user_id", {})).first()
        if user is None:
            raise Http404
        languages = [
            x.strip() for x in (request.POST.get("languages") or "").split(",") if x.strip()
        ]
        max_open = _int(request.POST.get("max_open"), "max_open", errors)
        if not errors:
            try:
                services.agent_profile_update(
                    user=user,
                    languages=languages,
                    max_open=max_open,
                    online=bool(request.POST.get("online")),
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(request, _("%(name)s's settings saved.") % {"name": user.name})
                return redirect("care:settings_agents")
        failed_user = user.pk
    context = {
        "section": "care",
        "tab": "agents",
        "agents": support.agents(with_load=True),
        "errors": errors,
        "failed_user": failed_user,
    }
    return render(request, "care/settings/agents.html", context, status=422 if errors else 200)


# --- SLA report --------------------------------------------------------------------------------

GROUPS = [
    ("none", gettext_lazy("Overall")),
    ("agent", gettext_lazy("Per agent")),
    ("platform", gettext_lazy("Per platform")),
    ("language", gettext_lazy("Per language")),
]
PRESETS = [
    ("today", gettext_lazy("Today")),
    ("7d", gettext_lazy("Last 7 days")),
    ("30d", gettext_lazy("Last 30 days")),
    ("90d", gettext_lazy("Last 90 days")),
]


def _parse_day(value: str, field: str, errors: list) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        errors.append(_("%(field)s: use a date like 2026-12-01.") % {"field": field})
        return None
    return timezone.make_aware(day, timezone.get_current_timezone())


def report_period(request: HttpRequest) -> tuple[datetime, datetime, str, list[str]]:
    """``since``/``until`` (whole days, ``until`` inclusive) or a preset; default 7 days."""
    errors: list[str] = []
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    preset = request.GET.get("preset") or ""
    since = _parse_day(request.GET.get("since", ""), _("From"), errors)
    until = _parse_day(request.GET.get("until", ""), _("Until"), errors)
    if since or until:
        preset = ""
        since = since or today - timedelta(days=6)
        until = (until or today) + timedelta(days=1)
    else:
        days = {"today": 1, "7d": 7, "30d": 30, "90d": 90}.get(preset or "7d", 7)
        preset = preset if preset in dict(PRESETS) else "7d"
        since = today - timedelta(days=days - 1)
        until = today + timedelta(days=1)
    if since >= until:
        errors.append(_("The period ends before it starts."))
    elif until - since > timedelta(days=366):
        errors.append(_("Choose a period of at most a year."))
    return since, until, preset, errors


@permission_required(Perm.CARE_MANAGE)
def report_view(request: HttpRequest) -> HttpResponse:
    since, until, preset, errors = report_period(request)
    group_by = request.GET.get("group_by") or "none"
    if group_by not in dict(GROUPS):
        errors.append(_("Unknown grouping %(g)r.") % {"g": group_by[:20]})
        group_by = "none"
    report = None
    if not errors:
        try:
            report = selectors.sla_report(since=since, until=until, group_by=group_by)
        except ValidationError as exc:
            errors = [m for v in _errors(exc).values() for m in v]
    if request.GET.get("format") == "csv" and report is not None:
        return _report_csv(report, since, until, group_by)
    context = {
        "section": "care",
        "tab": "reports",
        "report": report,
        "errors": errors,
        "groups": GROUPS,
        "group_by": group_by,
        "presets": PRESETS,
        "preset": preset,
        "since": timezone.localtime(since).date().isoformat(),
        "until": (timezone.localtime(until) - timedelta(days=1)).date().isoformat(),
        "query": request.GET.urlencode(),
    }
    return render(request, "care/reports.html", context, status=422 if errors else 200)


CSV_COLUMNS = (
    "total",
    "answered",
    "met",
    "breached",
    "sla_met_pct",
    "median_first_response_seconds",
    "resolved",
    "median_resolution_seconds",
    "open",
    "pending",
)


def _report_csv(report: dict, since, until, group_by: str) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", *CSV_COLUMNS])
    rows = [*report["groups"], {**report["overall"], "label": "total"}]
    for row in rows:
        writer.writerow(
            [str(row.get("label", "")), *("" if row[c] is None else row[c] for c in CSV_COLUMNS)]
        )
    first_day = timezone.localtime(since).date().isoformat()
    last_day = (timezone.localtime(until) - timedelta(days=1)).date().isoformat()
    name = f"sla-report-{group_by}-{first_day}-{last_day}.csv"
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- Reply channels ----------------------------------------------------------------------------

REPLY_FIELDS = {
    "reply_pds_url": (gettext_lazy("PDS address"), "url", "https://bsky.social"),
    "reply_identifier": (gettext_lazy("Reply account (handle, DID or e-mail)"), "text", ""),
    "reply_secret": (gettext_lazy("App password / signing secret"), "password", ""),
    "reply_token": (gettext_lazy("Access token (write:statuses)"), "password", ""),
    "reply_visibility": (
        gettext_lazy("Visibility (public, unlisted, private, direct)"),
        "text",
        "",
    ),
    "reply_max_characters": (gettext_lazy("Maximum characters"), "number", "500"),
    "reply_url": (gettext_lazy("Reply webhook URL"), "url", "https://"),
}


@permission_required(Perm.CARE_MANAGE)
def reply_channels_view(request: HttpRequest) -> HttpResponse:
    from apiary.listening.models import Source

    from .replies import SECRET_KEYS, reply_settings_set

    errors: dict[str, list[str]] = {}
    editing_id = None
    posted: dict[str, str] = {}
    if request.method == "POST":
        try:
            source_id = int(request.POST.get("source_id", ""))
        except ValueError:
            raise Http404 from None
        source = Source.objects.filter(pk=source_id, deleted_at__isnull=True).first()
        if source is None:
            raise Http404
        editing_id = source.pk
        channel = selectors.reply_channel(source_id=source.pk) or {"settings": {}}
        values: dict = {}
        for key in channel["settings"]:
            raw = request.POST.get(key, "").strip()
            if key == "reply_max_characters":
                if raw:
                    value = _int(raw, key, errors)
                    if value is not None:
                        values[key] = value
                continue
            values[key] = raw
            posted[key] = "" if key in SECRET_KEYS else raw
        if not errors:
            try:
                _source, generated = reply_settings_set(
                    source=source, settings=values, actor=request.user
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                if generated:
                    messages.success(
                        request,
                        _(
                            "Reply settings of “%(name)s” saved. Signing secret (shown once): "
                            "%(secret)s"
                        )
                        % {"name": source.name, "secret": generated},
                    )
                else:
                    messages.success(
                        request, _("Reply settings of “%(name)s” saved.") % {"name": source.name}
                    )
                return redirect("care:settings_replies")
    channels = selectors.reply_channels()
    for channel in channels:
        shown = dict(channel["settings"])
        if channel["source_id"] == editing_id:
            shown.update(posted)
        channel["fields"] = []
        for key in channel["settings"]:
            label, kind, placeholder = REPLY_FIELDS.get(key, (key, "text", ""))
            channel["fields"].append(
                {
                    "key": key,
                    "label": label,
                    "type": kind,
                    "placeholder": placeholder,
                    "value": "" if key in SECRET_KEYS else shown.get(key, ""),
                    "stored": key in SECRET_KEYS and bool(channel["settings"][key]),
                    "errors": errors.get(key, []) if channel["source_id"] == editing_id else [],
                }
            )
        channel["errors"] = (
            errors.get("reply", []) + errors.get("kind", [])
            if channel["source_id"] == editing_id
            else []
        )
    context = {"section": "care", "tab": "replies", "channels": channels, "errors": errors}
    return render(request, "care/settings/replies.html", context, status=422 if errors else 200)
