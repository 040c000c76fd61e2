"""Presentation for the alerts pages: the one-line explanation of an alert, its numbers as
cards, its chart, history lines, rule and endpoint rows. Every read goes through ``selectors``
(``alert_list_extras`` and ``alert_deliveries`` included: one query each, whatever the page size).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.utils import dateformat
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apiary.listening import charts

from . import selectors
from .forms import LABELS, PREFIX
from .models import (
    CARE_KINDS,
    MENTION_KINDS,
    RATE_KINDS,
    Alert,
    Kind,
    Severity,
    Status,
)

KIND_HELP = {
    Kind.CRISIS_SPIKE: gettext_lazy(
        "Negative mentions about your brand (per country, if you like) far above their usual "
        "level for this time of day. Escalates while it grows, resolves when it calms down."
    ),
    Kind.COMPETITOR_MOVE: gettext_lazy(
        "A competitor's volume or negativity jumps: a launch, an outage, a scandal — a chance."
    ),
    Kind.LEAD: gettext_lazy(
        "Someone wants to buy in your category or asks about a competitor's product; higher "
        "when it is a known customer or an influential author."
    ),
    Kind.ADVOCATE: gettext_lazy(
        "A positive mention from an influential author or a valuable customer: thank them, "
        "invite them to the community or the referral programme."
    ),
    Kind.SLA_BREACH: gettext_lazy("A conversation in the inbox missed its first-response target."),
    Kind.VIP_WAITING: gettext_lazy("A high-value customer has been waiting for an answer."),
    Kind.CUSTOM: gettext_lazy("Any mention matching the conditions you set."),
}
KIND_SEVERITY = {
    Kind.CRISIS_SPIKE: Severity.HIGH,
    Kind.COMPETITOR_MOVE: Severity.MEDIUM,
    Kind.LEAD: Severity.MEDIUM,
    Kind.ADVOCATE: Severity.LOW,
    Kind.SLA_BREACH: Severity.HIGH,
    Kind.VIP_WAITING: Severity.HIGH,
    Kind.CUSTOM: Severity.MEDIUM,
}
REASONS = {
    "influential": gettext_lazy("influential author"),
    "known_customer": gettext_lazy("known customer"),
    "valuable_customer": gettext_lazy("valuable customer"),
}
EVENT_LABELS = {
    "opened": gettext_lazy("Raised"),
    "updated": gettext_lazy("New evidence"),
    "escalated": gettext_lazy("Escalated"),
    "acknowledged": gettext_lazy("Acknowledged"),
    "resolved": gettext_lazy("Resolved"),
    "action_performed": gettext_lazy("Action"),
    "action_refused": gettext_lazy("Action not possible"),
}
DELIVERY_EVENTS = {
    "opened": gettext_lazy("raised"),
    "escalated": gettext_lazy("escalated"),
    "resolved": gettext_lazy("resolved"),
    "test": gettext_lazy("test"),
}
ACTION_HELP = {
    "open_conversation": gettext_lazy("Take it to the inbox and answer there."),
    "reply_template": gettext_lazy("Open the conversation with the fitting answer ready."),
    "offer_discount": gettext_lazy("Make a discount code and draft a reply offering it."),
    "offer_credit": gettext_lazy("Make a store credit and draft a reply offering it."),
    "escalate_manager": gettext_lazy("Assign to a care manager and e-mail them."),
    "invite_community": gettext_lazy("E-mail the customer an invitation to the community."),
    "invite_referral": gettext_lazy("E-mail the customer about the referral programme."),
}
SENTIMENT_LABELS = {
    "positive": gettext_lazy("Positive"),
    "neutral": gettext_lazy("Neutral"),
    "negative": gettext_lazy("Negative"),
}
INTENT_LABELS = {"purchase": gettext_lazy("Purchase"), "support": gettext_lazy("Support")}
SEVERITY_LABELS = dict(Severity.choices)
STATUS_LABELS = dict(Status.choices)
KIND_LABELS = dict(Kind.choices)


def latest_event_id() -> int:
    return selectors.latest_event_id()


def _num(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".") if v % 1 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _money(v) -> str:
    try:
        return f"{Decimal(str(v)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(v)


def _minutes(seconds) -> str:
    if seconds is None:
        return "—"
    minutes = int(seconds) // 60
    if minutes < 60:
        return _("%(n)s min") % {"n": minutes}
    return _("%(h)s h %(m)s min") % {"h": minutes // 60, "m": minutes % 60}


# --- What an alert says about itself -------------------------------------------------------


def explain(kind: str, e: dict, *, mention_count: int = 0) -> str:
    """The alert's numbers as one sentence: what was seen against what is normal."""
    e = e or {}
    if kind in RATE_KINDS:
        measure = e.get("measure", "negative")
        what = _("negative mentions") if measure == "negative" else _("mentions")
        parts = [
            _("%(observed)s %(what)s about %(query)s in %(window)s min%(where)s")
            % {
                "observed": _num(e.get("observed")),
                "what": what,
                "query": e.get("query") or _("the query"),
                "window": _num(e.get("window_minutes")),
                "where": (_(" in %(c)s") % {"c": e["country"]}) if e.get("country") else "",
            }
        ]
        baseline = e.get("baseline")
        if baseline:
            ratio = (e.get("observed") or 0) / baseline if baseline else None
            parts.append(
                _("%(ratio)s× the usual %(baseline)s")
                % {"ratio": _num(round(ratio, 1)), "baseline": _num(baseline)}
            )
        elif baseline is not None:
            parts.append(_("usually none"))
        if e.get("z_score") is not None:
            parts.append(
                _("z-score %(z)s (alerts from %(t)s)")
                % {"z": _num(e["z_score"]), "t": _num(e.get("z_threshold"))}
            )
        return " · ".join(parts)
    if kind in MENTION_KINDS:
        bits = []
        intent, sentiment = e.get("intent"), e.get("sentiment")
        if kind == Kind.LEAD or intent == "purchase":
            bits.append(_("purchase intent"))
        elif intent == "support":
            bits.append(_("asks for help"))
        if sentiment in ("positive", "negative") and kind != Kind.LEAD:
            bits.append(_("positive") if sentiment == "positive" else _("negative"))
        if e.get("followers") is not None:
            bits.append(_("%(n)s followers") % {"n": _num(e["followers"])})
        if e.get("platform"):
            bits.append(e["platform"])
        if e.get("country"):
            bits.append(e["country"])
        if e.get("customer_orders") is not None:
            bits.append(
                _("customer with %(n)s orders worth %(v)s")
                % {"n": e["customer_orders"], "v": _money(e.get("customer_value"))}
            )
        bits += [str(REASONS[r]) for r in e.get("reasons", []) if r in REASONS]
        if mention_count > 1:
            bits.append(_("%(n)s mentions so far") % {"n": mention_count})
        return " · ".join(bits)
    if kind in CARE_KINDS:
        bits = []
        if kind == Kind.SLA_BREACH:
            bits.append(
                _("first reply overdue by %(t)s") % {"t": _minutes(e.get("overdue_seconds"))}
            )
        if e.get("waited_minutes") is not None:
            bits.append(_("waiting %(n)s min") % {"n": e["waited_minutes"]})
        if e.get("priority"):
            bits.append(_("priority %(p)s") % {"p": e["priority"]})
        if e.get("platform"):
            bits.append(e["platform"])
        if e.get("customer_orders") is not None:
            bits.append(
                _("customer with %(n)s orders worth %(v)s")
                % {"n": e["customer_orders"], "v": _money(e.get("customer_value"))}
            )
        return " · ".join(bits)
    return ""


def number_cards(kind: str, e: dict) -> list[dict]:
    """The explanation as value cards (observed vs baseline, z-score, window …)."""
    e = e or {}
    cards = []

    def add(key, label, value, sub=""):
        cards.append({"key": key, "label": label, "value": value, "sub": sub})

    if kind in RATE_KINDS:
        add(
            "observed",
            _("Observed"),
            _num(e.get("observed")),
            _("in %(n)s min") % {"n": _num(e.get("window_minutes"))},
        )
        add(
            "baseline",
            _("Usual level"),
            _num(e.get("baseline")),
            _("expected per window: median of the previous %(n)s min, or this hour on earlier days")
            % {"n": _num(e.get("baseline_minutes"))},
        )
        if e.get("z_score") is not None:
            add(
                "z_score",
                _("Robust z-score"),
                _num(e.get("z_score")),
                _("alerts from %(t)s") % {"t": _num(e.get("z_threshold"))},
            )
        if e.get("peak") is not None:
            add("peak", _("Peak"), _num(e.get("peak")), _("mentions in one window"))
        if e.get("min_volume") is not None:
            add("min_volume", _("Minimum volume"), _num(e.get("min_volume")), _("to count at all"))
        if e.get("at_resolution"):
            r = e["at_resolution"]
            add(
                "at_resolution",
                _("At resolution"),
                _num(r.get("observed")),
                _("baseline %(b)s") % {"b": _num(r.get("baseline"))},
            )
    elif kind in MENTION_KINDS:
        if e.get("followers") is not None:
            add("followers", _("Followers"), _num(e["followers"]))
        if e.get("customer_orders") is not None:
            add("customer_orders", _("Orders"), _num(e["customer_orders"]))
            add("customer_value", _("Customer value"), _money(e.get("customer_value")))
        if e.get("queries"):
            add("queries", _("Matched"), ", ".join(e["queries"][:3]))
    elif kind in CARE_KINDS:
        if e.get("overdue_seconds") is not None:
            add("overdue", _("Overdue by"), _minutes(e["overdue_seconds"]))
        if e.get("waited_minutes") is not None:
            add("waited", _("Waiting"), _("%(n)s min") % {"n": e["waited_minutes"]})
        if e.get("priority"):
            add("priority", _("Priority"), e["priority"])
        if e.get("customer_orders") is not None:
            add(
                "customer_value",
                _("Customer value"),
                _money(e.get("customer_value")),
                _("%(n)s orders") % {"n": e["customer_orders"]},
            )
    return cards


def alert_chart(alert: dict, series: list[dict], e: dict) -> str:
    """The alerted series by hour with the usual level dashed, the alert's hours shaded."""
    if not series:
        return ""
    labels = [dateformat.format(p["at"].astimezone(UTC), "H:i") for p in series]
    values = [p["count"] for p in series]
    measure = (e or {}).get("measure", "negative")
    lines = [
        charts.Series(
            name=_("Negative mentions") if measure == "negative" else _("Mentions"),
            values=values,
            color=charts.SENTIMENT_COLORS["negative"]
            if measure == "negative"
            else charts.ALL_MENTIONS_COLOR,
            style="area",
            key="observed",
        )
    ]
    first = alert["first_seen_at"].replace(minute=0, second=0, microsecond=0)
    alerting = [
        p["at"] >= first and (alert.get("resolved_at") is None or p["at"] <= alert["resolved_at"])
        for p in series
    ]
    baseline, window = (e or {}).get("baseline"), (e or {}).get("window_minutes")
    if baseline is not None and window:
        # The baseline is the rate the detector compared against while it alerted: drawn over
        # those hours only (as a rate per hour), not as if it held all day.
        hourly = float(baseline) * 60 / float(window)
        lines.append(
            charts.Series(
                name=_("Usual level (per hour)"),
                values=[hourly if on else None for on in alerting],
                color=charts.COMPARE_COLOR,
                style="dashed",
                key="baseline",
            )
        )
    bands = [charts.Band(index=i, label=_("alerting")) for i, on in enumerate(alerting) if on]
    return charts.time_chart(
        title=_("Last 24 hours, by hour (UTC)"),
        desc=_("%(n)s mentions in the last 24 hours; the alert's hours are shaded.")
        % {"n": sum(values)},
        labels=labels,
        series=lines,
        bands=bands,
        kind="alert-series",
    )


def decorate(summaries: list[dict]) -> list[dict]:
    """Summaries with labels and the one-line explanation, ready for ``_row.html``."""
    extras = selectors.alert_list_extras([s["id"] for s in summaries])
    out = []
    for s in summaries:
        x = extras.get(s["id"], {})
        out.append(
            {
                **s,
                **x,
                "severity_label": SEVERITY_LABELS.get(s["severity"], s["severity"]),
                "status_label": STATUS_LABELS.get(s["status"], s["status"]),
                "kind_label": s.get("kind_label") or KIND_LABELS.get(s["kind"], s["kind"]),
                "why": explain(
                    s["kind"], x.get("explanation", {}), mention_count=s.get("mention_count", 0)
                ),
            }
        )
    return out


def counts_for_tabs(counts: dict) -> dict:
    """Open and acknowledged counts for the tabs (resolved is not counted: it only grows)."""
    return {"open": counts.get("open", 0), "acknowledged": counts.get("acknowledged", 0)}


def alert_matches(summary: dict, *, status: str, kind: str, severity: str) -> bool:
    """Does a touched alert belong on the page's tab and filters (the same three filters the
    list selector applies)?"""
    return (
        summary["status"] == status
        and (not kind or summary["kind"] == kind)
        and (not severity or summary["severity"] == severity)
    )


# --- Detail --------------------------------------------------------------------------------


def _at(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def history_lines(history: list[dict], action_labels: dict) -> list[dict]:
    """Events as lines; runs of "new evidence" become one line (a spike updates every minute)."""
    out: list[dict] = []
    for h in history:
        kind = h["kind"]
        if kind == "action":
            continue  # the matching action_performed line says more
        data = h.get("data") or {}
        if kind == "updated" and out and out[-1]["kind"] == "updated":
            out[-1]["times"] += 1
            out[-1]["detail"] = _("%(n)s updates, %(m)s mentions in all") % {
                "n": out[-1]["times"],
                "m": data.get("mention_count", "?"),
            }
            out[-1]["at"] = h["at"]
            continue
        detail = ""
        if kind in ("action_performed", "action_refused"):
            label = action_labels.get(data.get("action"), data.get("action"))
            detail = f"{label}: {data.get('message', '')}".strip(": ")
        elif kind == "updated":
            detail = _("%(m)s mentions in all") % {"m": data.get("mention_count", "?")}
        elif kind == "escalated":
            detail = _("level %(n)s") % {"n": data.get("level", "?")}
        elif kind == "resolved" and data.get("auto"):
            detail = _("by itself: back to normal")
        if h.get("user"):
            detail = f"{h['user']} · {detail}" if detail else h["user"]
        severity = data.get("severity") if kind in ("opened", "escalated") else ""
        out.append(
            {
                "at": h["at"],
                "kind": kind,
                "label": EVENT_LABELS.get(kind, kind),
                "detail": detail,
                "severity": severity,
                "severity_label": SEVERITY_LABELS.get(severity, severity),
                "times": 1,
            }
        )
    return out


def detail_context(*, alert: Alert, user) -> dict:
    from .actions import LABELS as ACTION_LABELS

    d = selectors.alert_detail(alert=alert, user=user)
    a = decorate([d["alert"]])[0]
    a.update({k: v for k, v in d["alert"].items() if k in ("acknowledged_by", "resolved_by")})
    explanation = d["numbers"] or {}
    evidence = [
        {
            **m,
            "created_at": _at(m.get("created_at")),
            "sentiment_label": SENTIMENT_LABELS.get(m.get("sentiment"), m.get("sentiment")),
            "intent_label": INTENT_LABELS.get(m.get("intent"), ""),
        }
        for m in d["evidence"]
    ]
    suggested = [{**act, "help": ACTION_HELP.get(act["key"], "")} for act in d["actions"]]
    search_url = ""
    if a.get("query_id") and a["kind"] in RATE_KINDS:
        from urllib.parse import urlencode

        from django.urls import reverse

        params = {"query_id": a["query_id"]}
        if explanation.get("measure", "negative") == "negative":
            params["sentiment"] = "negative"
        if a.get("country"):
            params["country"] = a["country"]
        search_url = f"{reverse('listening:search')}?{urlencode(params)}"
    escalation = [
        {
            **h,
            "at": _at(h.get("at")),
            "severity_label": SEVERITY_LABELS.get(h.get("severity"), h.get("severity")),
        }
        for h in d["escalation"]
    ]
    return {
        "a": a,
        "why": a["why"],
        "numbers": number_cards(a["kind"], explanation),
        "chart": alert_chart(a, d["series"], explanation),
        "evidence": evidence,
        "can_see_mentions": d["can_read_mentions"],
        "search_url": search_url,
        "suggested": suggested,
        "history": history_lines(d["history"], {k: str(v) for k, v in ACTION_LABELS.items()}),
        "escalation": escalation if len(escalation) > 1 else [],
        "deliveries": [
            {**d, "event_label": DELIVERY_EVENTS.get(d["event"], d["event"])}
            for d in selectors.alert_deliveries(alert_id=alert.pk)
        ],
        "rule_name": d["alert"].get("rule_name"),
    }


# --- Rules and endpoints -------------------------------------------------------------------


def query_choices():
    from apiary.listening.models import ListeningQuery

    return list(ListeningQuery.objects.order_by("kind", "name"))


def segment_choices():
    from apiary.customers.models import Segment

    return list(Segment.objects.order_by("name"))


def platform_choices() -> list[str]:
    from apiary.listening.raw import PLATFORMS

    return sorted(PLATFORMS)


def _condition_value(value) -> str:
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def rules_for_page(rules: list[dict]) -> list[dict]:
    query_names = {q.pk: q.name for q in query_choices()}
    out = []
    for r in rules:
        lines = []
        for key, value in (r.get("conditions") or {}).items():
            if key == "query_ids":
                value = [query_names.get(i, f"#{i}") for i in value]
            lines.append(f"{LABELS.get(key, key)}: {_condition_value(value)}")
        out.append(
            {
                **r,
                "severity_label": SEVERITY_LABELS.get(r["severity"], r["severity"]),
                "condition_lines": lines,
            }
        )
    return out


def condition_label(form, key: str) -> str:
    """The field label for a service error key (``conditions.min_followers`` → its label)."""
    key = key.removeprefix("conditions.")
    name = PREFIX + key if PREFIX + key in form.fields else key
    return str(form.fields[name].label) if name in form.fields else ""


def preview_context(preview: dict | None, *, errors: list | None = None) -> dict:
    if preview is None:
        return {"preview": None, "preview_errors": errors or [], "preview_days": 7}
    by_day = preview.get("by_day") or []
    top = max([d["fires"] for d in by_day] + [1])
    days = []
    for d in by_day:
        day = datetime.fromisoformat(d["day"])
        days.append(
            {
                "label": dateformat.format(day, "D j M"),
                "count": d["fires"],
                "height": max(3, round(100 * d["fires"] / top)) if d["fires"] else 0,
            }
        )
    examples = [
        {
            "at": _at(ex.get("at")),
            "title": ex.get("title", ""),
            "detail": SEVERITY_LABELS.get(ex.get("severity"), ""),
        }
        for ex in preview.get("examples") or []
    ]
    note = preview.get("note") or ""
    if preview.get("truncated"):
        note = " ".join(
            [note, _("Counted over the most recent part of the week only (a lot of data).")]
        ).strip()
    return {
        "preview": {"fires": preview["fires"], "by_day": days, "examples": examples, "note": note},
        "preview_errors": errors or [],
        "preview_days": len(by_day) or 7,
    }


def endpoints_for_page(endpoints: list[dict]) -> list[dict]:
    return [
        {
            **e,
            "kind_labels": [KIND_LABELS.get(k, k) for k in e.get("kinds") or []],
            "min_severity_label": SEVERITY_LABELS.get(e["min_severity"], e["min_severity"]),
            "stats": e.get("deliveries_7_days") or {},
        }
        for e in endpoints
    ]


def secret_hint(secret: str) -> str:
    """Enough of the secret to recognise it, never enough to use it."""
    return (secret[:10] + "…") if secret else ""
