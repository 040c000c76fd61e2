"""Care reads: the inbox (views, filters, keyset pages), one conversation with its messages,
the customer sidebar, presence, the live feed, agents and the SLA report.

Permission is the caller's (``access.py``), except ``events_after``, which filters by access
itself because the live feed is read in a loop by pages that may outlive a role change.
"""

from __future__ import annotations

import base64
import json
import statistics
from collections import defaultdict
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from . import sla
from .models import (
    AgentPresence,
    AgentProfile,
    Conversation,
    ConversationLog,
    InboxEvent,
    Message,
    Priority,
    Status,
)

PRESENCE_TTL = {"viewing": 20, "typing": 8}  # seconds a ping counts for
MAX_LIMIT = 100
COUNT_CAP = 1000
# Medians are computed in Python over the newest MEDIAN_WINDOW conversations of the window:
# SQLite has no median/percentile aggregate, and one code path gives both databases the same
# answer. The report says when the window was full (``median_window_full``).
MEDIAN_WINDOW = 20_000

VIEWS = ("mine", "unassigned", "all", "priority")
SLA_STATES = ("running", "warning", "breached", "met", "paused", "none")
SORTS = ("newest", "oldest", "priority", "due")
FILTER_KEYS = (
    "platform",
    "language",
    "sentiment",
    "intent",
    "segment",
    "sla",
    "status",
    "assignee",
    "priority",
    "customer_id",
    "sort",
)


# --- The inbox --------------------------------------------------------------------------------


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        value = [value]
    # Repeated (?a=x&a=y) and comma-separated (?a=x,y) forms, or both at once.
    return [part.strip() for v in value for part in str(v).split(",") if part.strip()]


def inbox_filters_validate(filters: dict | None) -> dict:
    """Clean the inbox filters (what the page's form and the API's query parameters carry);
    ValidationError names the bad one. Lists may be given repeated or comma-separated."""
    from apiary.listening.raw import PLATFORMS

    filters = dict(filters or {})
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    for key in filters:
        if key not in FILTER_KEYS:
            errors[key] = [_("Unknown filter. Known: %(k)s.") % {"k": ", ".join(FILTER_KEYS)}]
    choices = {
        "platform": sorted(PLATFORMS),
        "sentiment": ["positive", "neutral", "negative"],
        "intent": ["purchase", "support", "none"],
        "sla": list(SLA_STATES),
        "status": [*Status.values, "all"],
        "priority": list(Priority.values),
    }
    for key, allowed in choices.items():
        values = _as_list(filters.get(key))
        if not values:
            continue
        bad = [v for v in values if v not in allowed]
        if bad:
            errors[key] = [
                _("Unknown value %(bad)s; use %(ok)s.")
                % {"bad": ", ".join(repr(b) for b in bad[:3]), "ok": ", ".join(allowed)}
            ]
        else:
            clean[key] = values
    langs = _as_list(filters.get("language"))
    if langs:
        if any(len(v) > 8 for v in langs):
            errors["language"] = [_("Language codes are at most 8 characters.")]
        else:
            clean["language"] = [v.lower() for v in langs]
    for key in ("segment", "customer_id"):
        if filters.get(key) not in (None, ""):
            try:
                clean[key] = int(filters[key])
            except (TypeError, ValueError):
                errors[key] = [_("Must be a whole number (an id).")]
    if filters.get("assignee") not in (None, ""):
        a = str(filters["assignee"]).strip()
        if a == "none":
            clean["assignee"] = "none"
        else:
            try:
                clean["assignee"] = int(a)
            except ValueError:
                errors["assignee"] = [_('Must be a user id or "none".')]
    sort = filters.get("sort")
    if sort not in (None, ""):
        if sort not in SORTS:
            errors["sort"] = [_("Must be one of: %(v)s.") % {"v": ", ".join(SORTS)}]
        else:
            clean["sort"] = sort
    if "segment" in clean:
        from apiary.customers.models import Segment

        if not Segment.objects.filter(pk=clean["segment"]).exists():
            errors["segment"] = [_("No segment with id %(id)s.") % {"id": clean["segment"]}]
    if errors:
        raise ValidationError(errors)
    return clean


def sla_q(state: str, now: datetime) -> Q:
    """The SQL form of ``sla.sla_state`` (same rules, same 5-minute warning)."""
    unanswered = Q(first_response_at__isnull=True, sla_breached_at__isnull=True)
    live = (
        unanswered
        & Q(sla_paused_at__isnull=True, sla_due_at__isnull=False)
        & ~Q(status=Status.RESOLVED)
    )
    warn_at = now + timedelta(seconds=sla.WARNING_SECONDS)
    if state == "running":
        return live & Q(sla_due_at__gt=warn_at)
    if state == "warning":
        return live & Q(sla_due_at__gt=now, sla_due_at__lte=warn_at)
    if state == "paused":
        return unanswered & Q(sla_paused_at__isnull=False) & ~Q(status=Status.RESOLVED)
    if state == "met":
        return Q(
            first_response_at__isnull=False,
            sla_breached_at__isnull=True,
            first_response_at__lte=F("sla_due_at"),
        )
    if state == "breached":
        return (
            Q(sla_breached_at__isnull=False)
            | Q(first_response_at__isnull=False, first_response_at__gt=F("sla_due_at"))
            | (live & Q(sla_due_at__lte=now))
        )
    # none
    return Q(sla_due_at__isnull=True) | (unanswered & Q(status=Status.RESOLVED))


def _sort_fields(view: str, sort: str | None) -> list[tuple[str, bool]]:
    """[(field, descending)], ending with the id so the keyset is total."""
    sort = sort or ("priority" if view == "priority" else "newest")
    if sort == "priority":
        return [("priority_score", True), ("last_message_at", True), ("id", True)]
    if sort == "oldest":
        return [("last_message_at", False), ("id", False)]
    if sort == "due":
        return [("sla_due_at", False), ("id", False)]
    return [("last_message_at", True), ("id", True)]


def _encode_cursor(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, fields: list[tuple[str, bool]]) -> list:
    try:
        pad = "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(cursor + pad).decode())
        if not isinstance(values, list) or len(values) != len(fields):
            raise ValueError
        out = []
        for (name, _desc), v in zip(fields, values, strict=True):
            if name in ("last_message_at", "sla_due_at"):
                dt = parse_datetime(v) if isinstance(v, str) else None
                if dt is None:
                    raise ValueError
                out.append(dt)
            elif isinstance(v, int) and not isinstance(v, bool):
                out.append(v)
            else:
                raise ValueError
        return out
    except (ValueError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError(
            {"cursor": [_("Not a cursor from this list; start again without it.")]}
        ) from None


def _after(fields: list[tuple[str, bool]], values: list) -> Q:
    """Rows strictly after ``values`` in the sort order (keyset pagination)."""
    q = Q()
    for i, (name, desc) in enumerate(fields):
        step = Q(**{f"{name}__{'lt' if desc else 'gt'}": values[i]})
        for j in range(i):
            step &= Q(**{fields[j][0]: values[j]})
        q |= step
    return q


def inbox_queryset(*, user, view: str = "all", filters: dict | None = None, now=None):
    """The filtered conversations of a view (unordered); filters must be clean."""
    if view not in VIEWS:
        raise ValidationError({"view": [_("Must be one of: %(v)s.") % {"v": ", ".join(VIEWS)}]})
    f = filters or {}
    now = now or timezone.now()
    qs = Conversation.objects.all()
    statuses = f.get("status") or [Status.OPEN]
    if "all" not in statuses:
        qs = qs.filter(status__in=statuses) if len(statuses) > 1 else qs.filter(status=statuses[0])
    if view == "mine":
        qs = qs.filter(assignee=user)
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    for key, field in (
        ("platform", "platform"),
        ("language", "language"),
        ("sentiment", "sentiment"),
        ("intent", "intent"),
        ("priority", "priority"),
    ):
        if f.get(key):
            qs = qs.filter(**{f"{field}__in": f[key]})
    if f.get("assignee") == "none":
        qs = qs.filter(assignee__isnull=True)
    elif f.get("assignee"):
        qs = qs.filter(assignee_id=f["assignee"])
    if f.get("customer_id"):
        qs = qs.filter(customer_id=f["customer_id"])
    if f.get("segment"):
        from apiary.customers.models import Customer, Segment
        from apiary.customers.segments import segment_apply

        seg = Segment.objects.get(pk=f["segment"])
        qs = qs.filter(customer__in=segment_apply(Customer.objects.all(), seg.filters).values("pk"))
    if f.get("sla"):
        q = Q()
        for state in f["sla"]:
            q |= sla_q(state, now)
        qs = qs.filter(q)
    return qs


def inbox_list(
    *,
    user,
    view: str = "all",
    filters: dict | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict:
    """One keyset page of a view: ``{"items": [Conversation], "next_cursor"}``. Page 500 costs
    what page 1 costs (no OFFSET); the order always ends with the id, so nothing repeats."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": [_("Must be from 1 to %(n)d.") % {"n": MAX_LIMIT}]})
    f = inbox_filters_validate(filters) if filters else {}
    fields = _sort_fields(view, f.get("sort"))
    qs = inbox_queryset(user=user, view=view, filters=f)
    if f.get("sort") == "due":
        qs = qs.filter(sla_due_at__isnull=False)
    if cursor:
        qs = qs.filter(_after(fields, _decode_cursor(cursor, fields)))
    order = [f"-{n}" if d else n for n, d in fields]
    rows = list(
        qs.select_related("assignee", "sla_policy", "customer").order_by(*order)[: limit + 1]
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor([getattr(last, n) for n, _d in fields])
    return {"items": rows, "next_cursor": next_cursor}


def inbox_counts(*, user) -> dict:
    """Open conversations per view, each capped at ``COUNT_CAP`` (shown "1000+")."""

    def capped(qs) -> int:
        return qs.order_by().values("pk")[: COUNT_CAP + 1].count()

    open_qs = Conversation.objects.filter(status=Status.OPEN)
    return {
        "mine": capped(open_qs.filter(assignee=user)),
        "unassigned": capped(open_qs.filter(assignee__isnull=True)),
        "all": capped(open_qs),
        "breached": capped(open_qs.filter(sla_q("breached", timezone.now()))),
        "cap": COUNT_CAP,
    }


# --- One conversation -------------------------------------------------------------------------


def conversation_messages(*, conversation, after_id: int | None = None, limit: int = 500):
    qs = Message.objects.filter(conversation=conversation).select_related("author_user", "mention")
    if after_id:
        qs = qs.filter(pk__gt=after_id)
    return list(qs.order_by("created_at", "pk")[:limit])


def conversation_log(*, conversation, limit: int = 100):
    return list(
        ConversationLog.objects.filter(conversation=conversation)
        .select_related("actor")
        .order_by("-at", "-pk")[:limit]
    )


def conversation_detail(*, conversation, user) -> dict:
    return {
        "conversation": conversation,
        "sla": sla.sla_state(conversation),
        "messages": conversation_messages(conversation=conversation),
        "presence": presence_for(conversation_id=conversation.pk, exclude_user_id=user.pk),
        "log": conversation_log(conversation=conversation, limit=30),
    }


def presence_for(*, conversation_id: int, exclude_user_id: int | None = None) -> list[dict]:
    """Who else is viewing or typing here now (pings within their TTL)."""
    now = timezone.now()
    oldest = now - timedelta(seconds=max(PRESENCE_TTL.values()))
    rows = (
        AgentPresence.objects.filter(conversation_id=conversation_id, seen_at__gte=oldest)
        .select_related("user")
        .order_by("user_id")
    )
    out = []
    for r in rows:
        if r.user_id == exclude_user_id:
            continue
        if r.seen_at < now - timedelta(seconds=PRESENCE_TTL.get(r.state, 8)):
            continue
        out.append(
            {"user_id": r.user_id, "name": r.user.name, "state": r.state, "seen_at": r.seen_at}
        )
    return out


# --- The customer sidebar ---------------------------------------------------------------------


def customer_sidebar(*, conversation, user) -> dict:
    """Everything beside a conversation about who wrote it. Customer data needs
    ``customers.view`` (reading it through ``customers.access`` leaves the audit entry)."""
    from django.apps import apps
    from django.http import Http404

    from apiary.accounts.access import Perm, user_has_permission
    from apiary.customers import selectors as customer_selectors
    from apiary.customers.access import customer_for_view

    c = conversation
    can_view = user_has_permission(user, Perm.CUSTOMERS_VIEW)
    out: dict = {
        "author": {
            "platform": c.platform,
            "handle": c.author_handle,
            "name": c.author_name,
            "url": c.author_url,
            "followers": c.author_followers,
        },
        "customer": None,
        "value": None,
        "identities": [],
        "timeline": [],
        "suggestions": [],
        "open_conversations": [],
        "can_view_customer": can_view,
        "can_link": user_has_permission(user, Perm.CUSTOMERS_EDIT) and bool(c.author_handle),
        "community": _community_standing(apps, c, user),
    }
    customer = None
    if c.customer_id and can_view:
        try:
            customer = customer_for_view(user=user, customer_id=c.customer_id)
        except Http404:
            customer = None  # deleted since it was linked
    if customer is not None:
        family = customer_selectors.customer_family_ids(customer=customer)
        out["customer"] = customer
        out["value"] = customer_selectors.customer_value(customer_ids=family)
        out["identities"] = list(
            customer_selectors.customer_identities(customer=customer, include_withdrawn=False)
        )
        events, _next = customer_selectors.timeline_page(customer_ids=family, limit=8)
        out["timeline"] = events
        others = Q(customer_id__in=family)
    else:
        others = Q(platform=c.platform, author_handle=c.author_handle) if c.author_handle else None
        if can_view and c.author_handle:
            from apiary.customers.models import IdentitySuggestion

            out["suggestions"] = list(
                IdentitySuggestion.objects.filter(
                    platform=c.platform, handle=c.author_handle, status="pending"
                )
                .select_related("customer")
                .order_by("-score")[:5]
            )
    if others is not None:
        out["open_conversations"] = list(
            Conversation.objects.filter(others)
            .exclude(pk=c.pk)
            .exclude(status=Status.RESOLVED)
            .order_by("-last_message_at")[:10]
        )
    return out


def _community_standing(apps, conversation, user) -> dict:
    """The author's community standing (apiary.recognition) when the conversation's customer is
    a community member: rank, points, badges, posts, accepted answers — counted only from
    content the agent may read themselves, so the sidebar shows nothing the profile page would
    not."""
    if not apps.is_installed("apiary.recognition"):
        return {
            "available": False,
            "note": _("The community app is not installed, so there is no community standing."),
        }
    from apiary.accounts.models import User

    member = None
    if conversation.customer_id is not None:
        member = User.objects.filter(customer__pk=conversation.customer_id, is_active=True).first()
    if member is None:
        return {
            "available": False,
            "note": _("No community standing for this author yet."),
        }
    from apiary.recognition.selectors import member_standing

    # badges_limit=0: the sidebar shows the count, not the badges themselves
    standing = member_standing(user=member, viewer=user, badges_limit=0)
    details = standing.as_dict()
    details.pop("badges", None)
    return {"available": True, "standing": standing.summary(), "details": details}


# --- Live feed --------------------------------------------------------------------------------


def events_last_id() -> int:
    last = InboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    return last or 0


def events_after(*, after_id: int, user, limit: int = 200) -> list[dict]:
    """Inbox events after ``after_id`` that this user may see (agents see the whole inbox;
    anyone else sees nothing). ``mentions_me`` marks notes that @mention the reader."""
    from apiary.accounts.access import Perm, user_has_permission

    if not user_has_permission(user, Perm.CARE_INBOX):
        return []
    limit = max(1, min(int(limit), 500))
    rows = InboxEvent.objects.filter(pk__gt=max(0, int(after_id))).order_by("pk")[:limit]
    return [
        {
            "id": e.pk,
            "kind": e.kind,
            "conversation_id": e.conversation_id,
            "user_id": e.user_id,
            "data": e.data,
            "at": e.at,
            "mentions_me": user.pk in ((e.data or {}).get("mentioned_user_ids") or []),
        }
        for e in rows
    ]


# --- Agents -----------------------------------------------------------------------------------


def agents_list() -> list[dict]:
    """Every active care user with their profile (defaults when they have none yet) and load."""
    from apiary.accounts.models import User

    from .services import AGENT_SEEN_WINDOW, care_roles

    now = timezone.now()
    users = list(User.objects.filter(is_active=True, role__in=care_roles()).order_by("pk"))
    profiles = {p.user_id: p for p in AgentProfile.objects.filter(user__in=users)}
    load = dict(
        Conversation.objects.filter(assignee__in=users, status__in=[Status.OPEN, Status.PENDING])
        .order_by()
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "n")
    )
    out = []
    for u in users:
        p = profiles.get(u.pk)
        seen = p.last_seen_at if p else None
        out.append(
            {
                "user_id": u.pk,
                "name": u.name,
                "email": u.email,
                "role": u.role,
                "languages": list(p.languages) if p else [],
                "online": bool(p and p.online and seen and seen >= now - AGENT_SEEN_WINDOW),
                "online_flag": bool(p and p.online),
                "last_seen_at": seen,
                "last_assigned_at": p.last_assigned_at if p else None,
                "max_open": p.max_open if p else 25,
                "open_conversations": load.get(u.pk, 0),
            }
        )
    return out


# --- The SLA report ---------------------------------------------------------------------------

GROUPS = {"agent": "assignee_id", "platform": "platform", "language": "language", "none": None}


def sla_report(*, since: datetime, until: datetime, group_by: str = "none") -> dict:
    """Conversations opened in [since, until): counts, % SLA met, median first-response and
    resolution times, overall and per group. Counts are one GROUP BY in the database."""
    if group_by not in GROUPS:
        raise ValidationError(
            {"group_by": [_("Must be one of: %(v)s.") % {"v": ", ".join(GROUPS)}]}
        )
    if until <= since:
        raise ValidationError({"until": [_("Must be after since.")]})
    now = timezone.now()
    key = GROUPS[group_by]
    base = Conversation.objects.filter(created_at__gte=since, created_at__lt=until).order_by()
    aggregates = {
        "total": Count("pk"),
        "answered": Count("pk", filter=Q(first_response_at__isnull=False)),
        "met": Count("pk", filter=sla_q("met", now)),
        "breached": Count("pk", filter=sla_q("breached", now)),
        "resolved": Count("pk", filter=Q(status=Status.RESOLVED)),
        "open": Count("pk", filter=Q(status=Status.OPEN)),
        "pending": Count("pk", filter=Q(status=Status.PENDING)),
    }
    if key:
        rows = list(base.values(key).annotate(**aggregates).order_by(key))
    else:
        rows = [{**base.aggregate(**aggregates)}]

    # Medians over the newest MEDIAN_WINDOW conversations of the window (see the constant).
    first: dict[object, list[float]] = defaultdict(list)
    resolution: dict[object, list[float]] = defaultdict(list)
    sample = list(
        base.filter(Q(first_response_at__isnull=False) | Q(resolved_at__isnull=False))
        .order_by("-created_at")
        .values_list(key or "pk", "created_at", "first_response_at", "resolved_at")[:MEDIAN_WINDOW]
    )
    for k, created, responded, resolved in sample:
        k = k if key else None
        if responded:
            first[k].append(max(0.0, (responded - created).total_seconds()))
        if resolved:
            resolution[k].append(max(0.0, (resolved - created).total_seconds()))

    names = {}
    if group_by == "agent":
        from apiary.accounts.models import User

        ids = [r[key] for r in rows if r[key]]
        names = {u.pk: u.name for u in User.objects.filter(pk__in=ids)}

    def shape(r: dict, k) -> dict:
        decided = r["met"] + r["breached"]
        out = {
            "total": r["total"],
            "answered": r["answered"],
            "met": r["met"],
            "breached": r["breached"],
            "resolved": r["resolved"],
            "open": r["open"],
            "pending": r["pending"],
            "sla_met_pct": round(100.0 * r["met"] / decided, 1) if decided else None,
            "median_first_response_seconds": _median(first.get(k)),
            "median_resolution_seconds": _median(resolution.get(k)),
        }
        if key:
            out["key"] = k
            out["label"] = (
                names.get(k, _("Unassigned") if k is None else str(k))
                if group_by == "agent"
                else (k or _("unknown"))
            )
        return out

    if key:
        groups = [shape(r, r[key]) for r in rows]
        totals = {
            name: sum(r[name] for r in rows)
            for name in ("total", "answered", "met", "breached", "resolved", "open", "pending")
        }
        all_first = [v for vs in first.values() for v in vs]
        all_res = [v for vs in resolution.values() for v in vs]
        overall = shape(totals, None)
        overall.pop("key", None)
        overall.pop("label", None)
        overall["median_first_response_seconds"] = _median(all_first)
        overall["median_resolution_seconds"] = _median(all_res)
    else:
        groups = []
        overall = shape(rows[0], None)
    return {
        "since": since,
        "until": until,
        "group_by": group_by,
        "overall": overall,
        "groups": groups,
        "median_sample": len(sample),
        "median_window_full": len(sample) >= MEDIAN_WINDOW,
    }


def _median(values) -> float | None:
    if not values:
        return None
    return round(statistics.median(values), 1)


# --- reply channels ----------------------------------------------------------------------------


def reply_channels(*, source_id: int | None = None) -> list[dict]:
    """Every live source a reply can go out on, with its reply settings as the settings page and
    the API show them: secrets masked (``replies.MASK``), never the stored value."""
    from apiary.listening.models import Source

    from .outbound import adapter_for
    from .replies import MASK, SECRET_KEYS

    sources = Source.objects.filter(deleted_at__isnull=True).order_by("name", "pk")
    if source_id is not None:
        sources = sources.filter(pk=source_id)
    out = []
    for source in sources:
        adapter = adapter_for(source.kind)
        if adapter is None:
            continue
        config = dict(source.config or {})
        settings = {}
        for key in adapter.SETTINGS:
            value = config.get(key)
            if key in SECRET_KEYS:
                value = MASK if value else ""
            settings[key] = "" if value is None else value
        problem = adapter.missing_settings(config)
        out.append(
            {
                "source_id": source.pk,
                "name": source.name,
                "kind": source.kind,
                "settings": settings,
                "ready": problem is None,
                "problem": problem or "",
            }
        )
    return out


def reply_channel(*, source_id: int) -> dict | None:
    return next(iter(reply_channels(source_id=source_id)), None)
