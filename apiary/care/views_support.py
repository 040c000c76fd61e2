"""What the care pages need around the selectors and services: shaping their answers for the
templates (rows with SLA state and the "new" marker, presence names, rendered canned
responses, the report table) and small read helpers the pages share.

Presentation only: every rule (who may see what, what counts as a breach, how priority is
computed) stays in ``selectors`` / ``sla`` / ``access``; this module never writes anything
except through ``services``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from apiary.accounts.access import Perm, user_has_permission

from . import canned, selectors, services, sla
from .models import AgentPresence, AgentProfile, Conversation, Direction, Message, Status


def error_lines(exc) -> list[str]:
    """A ValidationError / PermissionDenied as lines a person can read."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            out = []
            for key, msgs in exc.message_dict.items():
                for m in msgs:
                    out.append(m if key in ("__all__", "text") else f"{key}: {m}")
            return out
        return [str(m) for m in exc.messages]
    return [str(exc) or _("Not allowed.")]


# --- the inbox list ----------------------------------------------------------------------------


@dataclass
class InboxPage:
    items: list = field(default_factory=list)
    next_cursor: str | None = None


def inbox_page(*, user, view: str, filters: dict, cursor: str | None, limit: int) -> InboxPage:
    """``selectors.inbox_list`` as a page of conversations and the next cursor."""
    answer = selectors.inbox_list(user=user, view=view, filters=filters, cursor=cursor, limit=limit)
    if isinstance(answer, dict):
        return InboxPage(list(answer.get("items", [])), answer.get("next_cursor"))
    if isinstance(answer, tuple):
        return InboxPage(list(answer[0]), answer[1])
    if hasattr(answer, "items") and not callable(answer.items):
        return InboxPage(list(answer.items), getattr(answer, "next_cursor", None))
    return InboxPage(list(answer), None)


def inbox_rows(*, user, conversations: list[Conversation], now: datetime) -> list[dict]:
    """Each row with its SLA state and whether it has news for this agent: a customer message
    after the last time this agent had it open (their presence row), one query for the page."""
    ids = [c.pk for c in conversations]
    seen = dict(
        AgentPresence.objects.filter(user=user, conversation_id__in=ids).values_list(
            "conversation_id", "seen_at"
        )
    ) if ids else {}  # fmt: skip
    rows = []
    for c in conversations:
        last_in = c.last_inbound_at
        opened = seen.get(c.pk)
        unread = bool(last_in) and (opened is None or opened < last_in)
        rows.append(
            {
                "c": c,
                "sla": sla.sla_state(c, now),
                "unread": unread and c.status != Status.RESOLVED,
                "excerpt": getattr(c, "excerpt", "") or c.subject,
            }
        )
    return rows


def platform_choices() -> list[tuple[str, str]]:
    from apiary.customers.models import Platform

    return list(Platform.choices)


def segments_for(user) -> list[dict]:
    if not user_has_permission(user, Perm.CUSTOMERS_VIEW):
        return []
    return segments_all()


def segments_all() -> list[dict]:
    from apiary.customers.models import Segment

    return list(Segment.objects.order_by("name").values("id", "slug", "name"))


def agent_online(user) -> bool:
    return AgentProfile.objects.filter(user=user, online=True).exists()


# --- one conversation --------------------------------------------------------------------------


def thread_for(*, conversation: Conversation, user) -> list[Message]:
    # Every agent sees the whole thread (access.conversation_for_view already ran).
    return list(selectors.conversation_messages(conversation=conversation))


def presence_touch(*, conversation_id: int, user, state: str) -> None:
    services.presence_touch(conversation_id=conversation_id, user=user, state=state)


def presence_list(*, conversation_id: int, user) -> list[dict]:
    """Who else is here: ``[{"name", "state"}]``, typing first."""
    out = []
    for p in selectors.presence_for(conversation_id=conversation_id, exclude_user_id=user.pk):
        if isinstance(p, dict):
            name = p.get("name") or p.get("user_name") or ""
            state = p.get("state", "viewing")
        else:
            name = p.user.name if getattr(p, "user", None) else ""
            state = p.state
        out.append({"name": name, "state": state})
    out.sort(key=lambda p: (p["state"] != "typing", p["name"]))
    return out


def sidebar_for(*, conversation: Conversation, user) -> dict:
    """``selectors.customer_sidebar`` with the identity-review suggestions shaped like search
    results, so "link to customer" offers them first."""
    side = dict(selectors.customer_sidebar(conversation=conversation, user=user) or {})
    side["suggestions"] = [
        {
            "pk": s.customer_id,
            "name": s.customer.name,
            "email": s.customer.email,
            "reason": _("Suggested by identity review (score %(score)s)")
            % {"score": round(float(s.score or 0), 2)},
        }
        for s in side.get("suggestions") or []
        if getattr(s, "customer", None) is not None
    ]
    community = side.get("community") or {}
    side["community_text"] = community.get("standing") if community.get("available") else ""
    return side


def canned_rendered(*, conversation: Conversation, agent) -> list[dict]:
    """The canned responses in the conversation's language with the variables filled in."""
    out = []
    for r in canned.canned_for(language=conversation.language or None):
        try:
            body = canned.canned_render(response=r, conversation=conversation, agent=agent)
        except ValidationError:
            continue  # a response saved before a rule tightened: not offered, not a 500
        out.append(
            {"id": r.pk, "key": r.key, "title": r.title, "language": r.language, "body": body}
        )
    return out


def canned_variables() -> list[str]:
    return list(canned.VARIABLES)


def _care_users():
    from apiary.accounts.models import User

    return User.objects.filter(is_active=True, role__in=services.care_roles()).order_by(
        "display_name", "email"
    )


def colleagues(*, exclude_user_id: int | None = None) -> list[dict]:
    """For @mention autocomplete: the handle is the e-mail's local part, which
    ``services.mention_targets`` always recognises."""
    return [
        {"id": u.pk, "name": u.name, "handle": u.email.split("@", 1)[0]}
        for u in _care_users()
        if u.pk != exclude_user_id
    ]


def agents(*, with_load: bool = False) -> list:
    """Care staff with their profile (online, languages); with ``with_load`` also how many open
    conversations each holds (one grouped query)."""
    from django.db.models import Count, Q

    users = list(_care_users())
    profiles = {p.user_id: p for p in AgentProfile.objects.filter(user__in=users)}
    load = {}
    if with_load:
        load = dict(
            Conversation.objects.filter(
                assignee__in=users, status__in=[Status.OPEN, Status.PENDING]
            )
            .values("assignee")
            .annotate(n=Count("pk", filter=Q()))
            .values_list("assignee", "n")
        )
    for u in users:
        p = profiles.get(u.pk)
        u.online = bool(p and p.online)
        u.languages = list(p.languages) if p else []
        u.max_open = p.max_open if p else 25
        u.last_seen_at = p.last_seen_at if p else None
        u.open_count = load.get(u.pk, 0)
    return users


def reply_limit(conversation: Conversation) -> int:
    """The platform's post length for the live character count (0 = none known); the server
    checks again through ``replies.reply_text_check``."""
    return {"bluesky": 300, "mastodon": 500, "x": 280}.get(conversation.platform, 0)


def changed_message(exc) -> str:
    """ "Lucía replied 20 s ago — review before sending" from ``services.ConversationChanged``."""
    changes = getattr(exc, "changes", None) or []
    if not changes:
        return _("Someone changed this conversation since you opened it — review before sending.")
    last = changes[-1]
    ago = timesince(last["at"]) if last.get("at") else ""
    return _("%(who)s %(what)s %(ago)s ago — review before sending.") % {
        "who": last.get("actor_name") or _("Someone"),
        "what": last.get("what") or _("changed it"),
        "ago": ago,
    }


def outbound_message(message_id: int) -> Message:
    message = Message.objects.filter(pk=message_id, direction=Direction.OUTBOUND).first()
    if message is None:
        raise Http404
    return message


def customer_candidates(q: str, limit: int = 8) -> list:
    from apiary.customers.selectors import customer_list

    return list(customer_list(search=q)[:limit])
