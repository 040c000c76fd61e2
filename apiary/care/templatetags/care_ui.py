"""Presentation helpers of the care pages: priority explanations, SLA badges, initials.

Pure formatting of what the selectors already computed; no queries here (the inbox renders 50
rows and must not run one query per row)."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

register = template.Library()

_FACTOR_LABELS = {
    "influence": lambda: _("influence"),
    "customer_value": lambda: _("customer value"),
    "customer": lambda: _("customer value"),
    "sentiment": lambda: _("sentiment"),
    "intent": lambda: _("intent"),
    "rule": lambda: _("rule"),
    "question": lambda: _("question"),
    "waiting": lambda: _("waiting"),
    "vip": lambda: _("VIP"),
}


def factor_label(name: str) -> str:
    make = _FACTOR_LABELS.get(name)
    return make() if make else str(name).replace("_", " ")


@register.filter
def factor_name(name) -> str:
    return factor_label(str(name or ""))


@register.filter
def priority_title(conversation) -> str:
    """The hover text of a priority badge: the score and every factor that made it."""
    parts = []
    for f in conversation.priority_factors or []:
        if not isinstance(f, dict):
            continue
        points = f.get("points", 0)
        try:
            points_text = f"{int(points):+d}"
        except (TypeError, ValueError):
            points_text = str(points)
        detail = f.get("detail") or ""
        label = factor_label(str(f.get("factor", "")))
        parts.append(f"{label} {points_text}" + (f" ({detail})" if detail else ""))
    head = _("Priority %(score)s/100") % {"score": conversation.priority_score}
    if not parts:
        return f"{head}: " + _("no factors recorded")
    return f"{head}: " + "; ".join(parts)


def _clock(seconds: float) -> str:
    s = abs(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h >= 24:
        return f"{h // 24}d {h % 24}h"
    if h:
        return f"{h}h {m:02d}m"
    return f"{m}:{sec:02d}"


# The same floor as sla.WARNING_MIN_SECONDS; the server state wins when it warns earlier.
SLA_WARN_SECONDS = 300


@register.inclusion_tag("care/_sla.html")
def sla_badge(sla: dict | None, elem_id: str = ""):
    """An SLA countdown; care.js keeps ticking it from ``due_at``."""
    sla = sla or {}
    state = sla.get("state") or "none"
    due = sla.get("due_at")
    remaining = sla.get("remaining_seconds")
    # Only an unanswered, running clock ticks; a late answer is a settled "missed".
    tick = state in ("running", "warning", "breached") and remaining is not None
    if tick:
        text = _clock(remaining) + " " + (_("overdue") if remaining <= 0 else _("left"))
    elif state == "met":
        text = _("SLA met")
    elif state == "paused":
        text = _("SLA paused")
    elif state == "breached":
        text = _("SLA missed")
    else:
        text = ""
    labels = {
        "running": _("First response due"),
        "warning": _("First response due soon"),
        "breached": _("First response overdue"),
        "met": _("First response within the SLA"),
        "paused": _("SLA clock paused while waiting on the customer"),
    }
    return {
        "state": state,
        "due_iso": due.isoformat() if isinstance(due, datetime) else (due or ""),
        "text": text,
        "label": labels.get(state, ""),
        "warn": SLA_WARN_SECONDS,
        "tick": tick,
        "elem_id": elem_id,
    }


@register.filter
def initials(name) -> str:
    words = [w for w in re.split(r"[\s@._-]+", str(name or "")) if w]
    if not words:
        return "?"
    return (words[0][0] + (words[1][0] if len(words) > 1 else "")).upper()


_AT = re.compile(r"(?<![\w@])@([\w][\w.\-]*)")


@register.filter(needs_autoescape=True)
def at_mentions(text, autoescape=True) -> str:
    """Escape, then mark @handles so a note shows whom it called in."""
    esc = conditional_escape if autoescape else (lambda x: x)
    escaped = str(esc(text or ""))
    return mark_safe(_AT.sub(lambda m: f'<span class="mention-at">@{m.group(1)}</span>', escaped))  # noqa: S308


@register.filter
def duration(seconds) -> str:
    """Seconds as "42 s", "12 min", "3 h 05 min", "2 d 4 h"; "—" when unknown."""
    if seconds is None or seconds == "":
        return "—"
    try:
        s = round(float(seconds))
    except (TypeError, ValueError):
        return "—"
    if s < 60:
        return _("%(n)d s") % {"n": s}
    m = s // 60
    if m < 60:
        return _("%(n)d min") % {"n": m}
    h, m = divmod(m, 60)
    if h < 24:
        return _("%(h)d h %(m)02d min") % {"h": h, "m": m}
    d, h = divmod(h, 24)
    return _("%(d)d d %(h)d h") % {"d": d, "h": h}


@register.simple_tag
def platform_badge(platform: str):
    return format_html('<span class="platform platform-{}">{}</span>', platform, platform)
