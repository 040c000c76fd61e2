"""Care API: conversations (list, one, open from a mention, assign, status, priority, notes,
replies, presence, customer link, sidebar), the live feed, the SLA report, and the settings
(SLA policies, inbox rules, agents). Handlers only translate HTTP; writes go through
``services`` (policies: ``sla``, rules: ``rules``), permission through ``access``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from apiary.accounts.access import Perm, api_user, user_has_permission
from apiary.core.errors import ApiError
from apiary.core.schemas import StrictIn
from apiary.core.times import assume_utc

from . import access, rules, selectors, services, sla
from .models import Conversation, InboxRule, Message, SlaPolicy

router = Router(tags=["care"])


# --- Shapes -----------------------------------------------------------------------------------


class SlaOut(Schema):
    state: str
    due_at: datetime | None
    remaining_seconds: int | None


class ConversationOut(Schema):
    id: int
    platform: str
    thread_key: str
    subject: str
    status: str
    priority: str
    priority_score: int
    priority_factors: list[dict[str, Any]]
    opened_reason: str
    customer_id: int | None
    author_handle: str
    author_name: str
    author_url: str
    author_followers: int | None
    language: str
    sentiment: str
    intent: str
    country: str
    assignee_id: int | None
    assignee_name: str | None
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    last_inbound_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    sla: SlaOut
    sla_breached_at: datetime | None
    version: int


class MessageOut(Schema):
    id: int
    direction: str
    text: str
    created_at: datetime
    author_user_id: int | None
    author_name: str | None
    mention_id: int | None
    delivery: str
    delivery_attempts: int
    delivery_error: str
    sent_at: datetime | None
    external_id: str
    external_url: str
    client_token: str | None
    canned_response_id: int | None
    mentioned_user_ids: list[int]


class PresenceOut(Schema):
    user_id: int
    name: str
    state: str
    seen_at: datetime


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]
    presence: list[PresenceOut]


class ConversationPageOut(Schema):
    items: list[ConversationOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    limit: int


def _conversation_out(c: Conversation, now=None) -> dict:
    return {
        **{
            name: getattr(c, name)
            for name in (
                "id",
                "platform",
                "thread_key",
                "subject",
                "status",
                "priority",
                "priority_score",
                "priority_factors",
                "opened_reason",
                "customer_id",
                "author_handle",
                "author_name",
                "author_url",
                "author_followers",
                "language",
                "sentiment",
                "intent",
                "country",
                "assignee_id",
                "created_at",
                "updated_at",
                "last_message_at",
                "last_inbound_at",
                "first_response_at",
                "resolved_at",
                "sla_breached_at",
                "version",
            )
        },
        "assignee_name": c.assignee.name if c.assignee_id else None,
        "sla": sla.sla_state(c, now),
    }


def _message_out(m: Message) -> dict:
    return {
        "id": m.pk,
        "direction": m.direction,
        "text": m.text,
        "created_at": m.created_at,
        "author_user_id": m.author_user_id,
        "author_name": m.author_user.name if m.author_user_id else None,
        "mention_id": m.mention_id,
        "delivery": m.delivery,
        "delivery_attempts": m.delivery_attempts,
        "delivery_error": m.delivery_error,
        "sent_at": m.sent_at,
        "external_id": m.external_id,
        "external_url": m.external_url,
        "client_token": m.client_token,
        "canned_response_id": m.canned_response_id,
        "mentioned_user_ids": list(m.mentioned_user_ids or []),
    }


def _conflict(exc) -> ApiError:
    if isinstance(exc, services.ConversationClosed):
        return ApiError(409, "conversation_closed", str(exc), version=exc.conversation.version)
    return ApiError(
        409,
        "conversation_changed",
        str(exc),
        version=exc.current,
        changes=[{**ch, "at": ch["at"].isoformat()} for ch in exc.changes],
    )


def _no_unknown(request, schema: type[Schema]) -> None:
    unknown = set(request.GET) - set(schema.model_fields)
    if unknown:
        raise ApiError(
            422,
            "unknown_filter",
            _("Unknown parameter(s): %(names)s.") % {"names": ", ".join(sorted(unknown))},
        )


# --- Conversations ----------------------------------------------------------------------------


class InboxQuery(Schema):
    view: Literal["mine", "unassigned", "all", "priority"] = "all"
    platform: list[str] | None = None
    language: list[str] | None = None
    sentiment: list[str] | None = None
    intent: list[str] | None = None
    segment: int | None = Field(None, description="customer segment id")
    sla: list[str] | None = Field(None, description="running|warning|breached|met|paused|none")
    status: list[str] | None = Field(None, description="open (default), pending, resolved, all")
    assignee: str | None = Field(None, description='a user id or "none"')
    priority: list[str] | None = None
    customer_id: int | None = None
    sort: Literal["newest", "oldest", "priority", "due"] | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=selectors.MAX_LIMIT)


@router.get("/conversations", response=ConversationPageOut)
def conversation_list(request, q: Query[InboxQuery]):
    """The inbox: a view (`mine`, `unassigned`, `all`, `priority`) with filters; lists accept
    repeated or comma-separated values. Keyset pages: follow `next_cursor`."""
    user = api_user(request)
    access.care_require(user, Perm.CARE_INBOX)
    _no_unknown(request, InboxQuery)
    filters = {
        k: v
        for k, v in q.model_dump().items()
        if k not in ("view", "cursor", "limit") and v not in (None, [], "")
    }
    if "segment" in filters and not user_has_permission(user, Perm.CUSTOMERS_VIEW):
        raise ApiError(403, "permission_denied", _("Filtering by segment needs customers.view."))
    page = selectors.inbox_list(
        user=user, view=q.view, filters=filters, cursor=q.cursor, limit=q.limit
    )
    now = timezone.now()
    return {
        "items": [_conversation_out(c, now) for c in page["items"]],
        "next_cursor": page["next_cursor"],
        "limit": q.limit,
    }


class CountsOut(Schema):
    mine: int
    unassigned: int
    all: int
    breached: int
    cap: int


@router.get("/conversations/counts", response=CountsOut)
def conversation_counts(request):
    """Open conversations per view (each capped at `cap`; show "1000+")."""
    user = api_user(request)
    access.care_require(user, Perm.CARE_INBOX)
    return selectors.inbox_counts(user=user)


@router.get("/conversations/{conversation_id}", response=ConversationDetailOut)
def conversation_get(request, conversation_id: int):
    user = api_user(request)
    c = access.conversation_for_view(user=user, conversation_id=conversation_id)
    detail = selectors.conversation_detail(conversation=c, user=user)
    return {
        **_conversation_out(c),
        "messages": [_message_out(m) for m in detail["messages"]],
        "presence": detail["presence"],
    }


class OpenIn(StrictIn):
    mention_id: int


@router.post("/conversations", response={200: ConversationOut, 201: ConversationOut})
def conversation_open(request, payload: OpenIn):
    """Open a conversation from a stored mention (201), or get the one its thread already has
    (200; a resolved one is reopened)."""
    user = api_user(request)
    access.mention_for_open(user=user, mention_id=payload.mention_id)
    existed = Message.objects.filter(mention_id=payload.mention_id).exists()
    c = services.conversation_open_from_mention(mention_id=payload.mention_id, user=user)
    c = access.conversation_for_view(user=user, conversation_id=c.pk)
    return Status(200 if existed else 201, _conversation_out(c))


class AssignIn(StrictIn):
    assignee_id: int | Literal["round_robin"] | None = Field(
        description='a user id, null to unassign, or "round_robin"'
    )
    version: int | None = Field(None, ge=1, description="the version you saw (409 if stale)")


@router.post("/conversations/{conversation_id}/assign", response=ConversationOut)
def conversation_assign(request, conversation_id: int, payload: AssignIn):
    user = api_user(request)
    if payload.assignee_id == "round_robin":
        access.care_require(user, Perm.CARE_MANAGE)
        c = access.conversation_for_view(user=user, conversation_id=conversation_id)
        try:
            chosen = services.conversation_assign_round_robin(
                conversation_id=c.pk, actor=user, version=payload.version
            )
        except services.ConversationChanged as exc:
            raise _conflict(exc) from None
        if chosen is None:
            raise ApiError(
                409,
                "no_agent_available",
                _(
                    "No online agent with this conversation's language has room for it; "
                    "it stays as it is."
                ),
            )
    else:
        c = access.conversation_for_assign(
            user=user, conversation_id=conversation_id, assignee_id=payload.assignee_id
        )
        try:
            services.conversation_assign(
                conversation_id=c.pk,
                assignee_id=payload.assignee_id,
                actor=user,
                version=payload.version,
            )
        except services.ConversationChanged as exc:
            raise _conflict(exc) from None
    return _conversation_out(access.conversation_for_view(user=user, conversation_id=c.pk))


class StatusIn(StrictIn):
    status: Literal["open", "pending", "resolved"]
    version: int | None = Field(None, ge=1)


@router.post("/conversations/{conversation_id}/status", response=ConversationOut)
def conversation_status(request, conversation_id: int, payload: StatusIn):
    """`pending` = waiting on the customer (the SLA clock pauses); `resolved` closes it."""
    user = api_user(request)
    c = access.conversation_for_reply(user=user, conversation_id=conversation_id)
    try:
        services.conversation_status_set(
            conversation_id=c.pk, status=payload.status, actor=user, version=payload.version
        )
    except services.ConversationChanged as exc:
        raise _conflict(exc) from None
    return _conversation_out(access.conversation_for_view(user=user, conversation_id=c.pk))


class PriorityIn(StrictIn):
    priority: Literal["low", "normal", "high", "urgent"]
    version: int | None = Field(None, ge=1)


@router.post("/conversations/{conversation_id}/priority", response=ConversationOut)
def conversation_priority(request, conversation_id: int, payload: PriorityIn):
    user = api_user(request)
    c = access.conversation_for_reply(user=user, conversation_id=conversation_id)
    try:
        services.conversation_priority_set(
            conversation_id=c.pk,
            priority_level=payload.priority,
            actor=user,
            version=payload.version,
        )
    except services.ConversationChanged as exc:
        raise _conflict(exc) from None
    return _conversation_out(access.conversation_for_view(user=user, conversation_id=c.pk))


class NoteIn(StrictIn):
    text: str = Field(max_length=services.MAX_NOTE_CHARS)


@router.post("/conversations/{conversation_id}/notes", response={201: MessageOut})
def conversation_note(request, conversation_id: int, payload: NoteIn):
    """An internal note; `@carelead` or `@grace.okafor` notifies that colleague."""
    user = api_user(request)
    c = access.conversation_for_reply(user=user, conversation_id=conversation_id)
    note = services.note_add(conversation_id=c.pk, user=user, text=payload.text)
    return Status(201, _message_out(note))


class ReplyIn(StrictIn):
    text: str = Field(max_length=services.MAX_REPLY_CHARS)
    version: int = Field(ge=1, description="the conversation version you replied to")
    client_token: str | None = Field(
        None, max_length=64, description="unique per reply: a repeat returns the same message"
    )
    canned_response_id: int | None = None


@router.post(
    "/conversations/{conversation_id}/replies", response={200: MessageOut, 201: MessageOut}
)
def conversation_reply(request, conversation_id: int, payload: ReplyIn):
    """Queue a reply through the source's connector (delivery status on the message). 409
    `conversation_changed` when someone else changed it since `version`, 409
    `conversation_closed` when it was resolved; the same `client_token` again answers 200 with
    the first message instead of sending twice."""
    user = api_user(request)
    c = access.conversation_for_reply(user=user, conversation_id=conversation_id)
    repeat = bool(
        payload.client_token
        and Message.objects.filter(
            client_token=payload.client_token, conversation=c, author_user=user
        ).exists()
    )
    try:
        m = services.reply_create(
            conversation_id=c.pk,
            user=user,
            text=payload.text,
            version=payload.version,
            client_token=payload.client_token,
            canned_response_id=payload.canned_response_id,
        )
    except (services.ConversationChanged, services.ConversationClosed) as exc:
        raise _conflict(exc) from None
    return Status(200 if repeat else 201, _message_out(m))


class PresenceIn(StrictIn):
    state: Literal["viewing", "typing", "left"]


class PresenceListOut(Schema):
    others: list[PresenceOut]


@router.post("/conversations/{conversation_id}/presence", response=PresenceListOut)
def conversation_presence(request, conversation_id: int, payload: PresenceIn):
    """Say you are viewing or typing (ping every few seconds) or have left; answers who else
    is here."""
    user = api_user(request)
    c = access.conversation_for_reply(user=user, conversation_id=conversation_id)
    if payload.state == "left":
        services.presence_leave(conversation_id=c.pk, user=user)
    else:
        services.presence_touch(conversation_id=c.pk, user=user, state=payload.state)
    return {"others": selectors.presence_for(conversation_id=c.pk, exclude_user_id=user.pk)}


class LinkIn(StrictIn):
    customer_id: int
    consent_note: str = Field(
        min_length=1, max_length=2000, description="what the customer agreed to, in their words"
    )


@router.post("/conversations/{conversation_id}/customer", response=ConversationOut)
def conversation_link_customer(request, conversation_id: int, payload: LinkIn):
    """Link the author's account to a customer (identity rules, consent with touchpoint
    `support_form`, audited). Needs customers.edit."""
    user = api_user(request)
    c = access.conversation_for_reply(user=user, conversation_id=conversation_id)
    from apiary.customers.access import customer_for_edit

    customer_for_edit(user=user, customer_id=payload.customer_id)
    services.author_link_customer(
        conversation_id=c.pk,
        customer_id=payload.customer_id,
        user=user,
        consent_note=payload.consent_note,
    )
    return _conversation_out(access.conversation_for_view(user=user, conversation_id=c.pk))


@router.get("/conversations/{conversation_id}/sidebar", response=dict)
def conversation_sidebar(request, conversation_id: int):
    """The customer beside the conversation: customer, value, identities, recent timeline,
    open conversations, link suggestions, community standing."""
    user = api_user(request)
    c = access.conversation_for_view(user=user, conversation_id=conversation_id)
    side = selectors.customer_sidebar(conversation=c, user=user)
    customer = side["customer"]
    return {
        "author": side["author"],
        "customer": None
        if customer is None
        else {
            "id": customer.pk,
            "name": customer.name,
            "email": customer.email,
            "lifecycle_stage": customer.lifecycle_stage,
        },
        "value": _json_value(side["value"]),
        "identities": [
            {"platform": i.platform, "handle": i.handle, "profile_url": i.profile_url}
            for i in side["identities"]
        ],
        "timeline": [{**e.as_dict(), "at": e.at.isoformat()} for e in side["timeline"]],
        "suggestions": [
            {"customer_id": s.customer_id, "score": s.score, "reason": s.reason}
            for s in side["suggestions"]
        ],
        "open_conversations": [
            {"id": o.pk, "subject": o.subject, "status": o.status, "platform": o.platform}
            for o in side["open_conversations"]
        ],
        "can_view_customer": side["can_view_customer"],
        "can_link": side["can_link"],
        "community": side["community"],
    }


def _json_value(value):
    if value is None:
        return None
    return {
        "orders": value["orders"],
        "by_currency": [
            {**r, "total": str(r["total"]), "aov": str(r["aov"])} for r in value["by_currency"]
        ],
        "first_order_at": value["first_order_at"].isoformat() if value["first_order_at"] else None,
        "last_order_at": value["last_order_at"].isoformat() if value["last_order_at"] else None,
    }


# --- Live feed ----------------------------------------------------------------------------------


class EventOut(Schema):
    id: int
    kind: str
    conversation_id: int | None
    user_id: int | None
    data: dict[str, Any]
    at: datetime
    mentions_me: bool


class EventsOut(Schema):
    items: list[EventOut]
    last_id: int


@router.get("/care/events", response=EventsOut)
def care_events(
    request, after: int | None = Query(None, ge=0), limit: int = Query(200, ge=1, le=500)
):
    """Inbox events after `after` (omit it to get only the current `last_id`)."""
    user = api_user(request)
    access.care_require(user, Perm.CARE_INBOX)
    if after is None:
        return {"items": [], "last_id": selectors.events_last_id()}
    items = selectors.events_after(after_id=after, user=user, limit=limit)
    return {"items": items, "last_id": items[-1]["id"] if items else after}


# --- SLA report ---------------------------------------------------------------------------------


class ReportQuery(Schema):
    since: datetime | None = Field(None, description="default: 7 days ago")
    until: datetime | None = Field(None, description="default: now")
    group_by: Literal["agent", "platform", "language", "none"] = "none"


@router.get("/care/sla-report", response=dict)
def care_sla_report(request, q: Query[ReportQuery]):
    """% SLA met, median first-response and resolution time and counts for conversations opened
    in the window, overall and per agent, platform or language."""
    user = api_user(request)
    access.care_require(user, Perm.CARE_MANAGE)
    _no_unknown(request, ReportQuery)
    until = assume_utc(q.until) or timezone.now()
    since = assume_utc(q.since) or until - timedelta(days=7)
    if until - since > timedelta(days=366):
        raise ApiError(422, "window_too_long", _("The window is at most 366 days."))
    report = selectors.sla_report(since=since, until=until, group_by=q.group_by)
    report["since"], report["until"] = since.isoformat(), until.isoformat()
    return report


# --- SLA policies -------------------------------------------------------------------------------


class PolicyOut(Schema):
    id: int
    name: str
    priority: str
    first_response_minutes: int
    resolution_minutes: int | None
    business_hours: dict[str, Any]
    time_zone: str
    active: bool


class PolicyIn(StrictIn):
    name: str = Field(max_length=120)
    priority: Literal["", "low", "normal", "high", "urgent"] = ""
    first_response_minutes: int = 30
    resolution_minutes: int | None = None
    business_hours: dict[str, Any] = Field(
        default_factory=dict, description='{"1": [["09:00", "18:00"]], …}; empty = 24/7'
    )
    time_zone: str = "UTC"
    active: bool = True


class PolicyPatch(StrictIn):
    name: str | None = Field(None, max_length=120)
    priority: Literal["", "low", "normal", "high", "urgent"] | None = None
    first_response_minutes: int | None = None
    resolution_minutes: int | None = None
    business_hours: dict[str, Any] | None = None
    time_zone: str | None = None
    active: bool | None = None


@router.get("/care/sla-policies", response=list[PolicyOut])
def policy_list(request):
    access.care_require(api_user(request), Perm.CARE_INBOX)
    return list(SlaPolicy.objects.order_by("priority", "pk"))


@router.post("/care/sla-policies", response={201: PolicyOut})
def policy_create(request, payload: PolicyIn):
    access.care_require(api_user(request), Perm.CARE_MANAGE)
    return Status(201, sla.sla_policy_create(**payload.model_dump()))


@router.patch("/care/sla-policies/{policy_id}", response=PolicyOut)
def policy_update(request, policy_id: int, payload: PolicyPatch):
    access.care_require(api_user(request), Perm.CARE_MANAGE)
    policy = get_object_or_404(SlaPolicy, pk=policy_id)
    changes = payload.model_dump(exclude_unset=True)
    if changes.get("first_response_minutes", 0) is None:
        raise ValidationError({"first_response_minutes": [_("Cannot be empty.")]})
    return sla.sla_policy_update(policy=policy, **changes)


@router.delete("/care/sla-policies/{policy_id}", response={204: None})
def policy_delete(request, policy_id: int):
    access.care_require(api_user(request), Perm.CARE_MANAGE)
    sla.sla_policy_delete(policy=get_object_or_404(SlaPolicy, pk=policy_id))
    return Status(204, None)


# --- Inbox rules --------------------------------------------------------------------------------


class RuleOut(Schema):
    id: int
    name: str
    conditions: dict[str, Any]
    priority_boost: int
    position: int
    active: bool


class RuleIn(StrictIn):
    name: str = Field(max_length=120)
    conditions: dict[str, Any] = Field(
        description="ANDed: query_kinds, intents, sentiments, platforms, languages, countries, "
        "is_question, reply_to_brand, min_followers, max_followers, customer_linked, "
        "min_customer_value, segment_id"
    )
    priority_boost: int = 0
    position: int = 100
    active: bool = True


class RulePatch(StrictIn):
    name: str | None = Field(None, max_length=120)
    conditions: dict[str, Any] | None = None
    priority_boost: int | None = None
    position: int | None = None
    active: bool | None = None


@router.get("/care/rules", response=list[RuleOut])
def rule_list(request):
    access.care_require(api_user(request), Perm.CARE_INBOX)
    return list(InboxRule.objects.order_by("position", "pk"))


@router.post("/care/rules", response={201: RuleOut})
def rule_create(request, payload: RuleIn):
    access.care_require(api_user(request), Perm.CARE_MANAGE)
    return Status(201, rules.rule_create(**payload.model_dump()))


@router.patch("/care/rules/{rule_id}", response=RuleOut)
def rule_update(request, rule_id: int, payload: RulePatch):
    access.care_require(api_user(request), Perm.CARE_MANAGE)
    rule = get_object_or_404(InboxRule, pk=rule_id)
    changes = payload.model_dump(exclude_unset=True)
    for key in ("name", "conditions", "priority_boost", "position", "active"):
        if key in changes and changes[key] is None:
            raise ValidationError({key: [_("Cannot be empty.")]})
    return rules.rule_update(rule=rule, **changes)


@router.delete("/care/rules/{rule_id}", response={204: None})
def rule_delete(request, rule_id: int):
    access.care_require(api_user(request), Perm.CARE_MANAGE)
    rules.rule_delete(rule=get_object_or_404(InboxRule, pk=rule_id))
    return Status(204, None)


# --- Agents -------------------------------------------------------------------------------------


class AgentOut(Schema):
    user_id: int
    name: str
    email: str
    role: str
    languages: list[str]
    online: bool = Field(description="online and seen in the last 5 minutes")
    online_flag: bool
    last_seen_at: datetime | None
    last_assigned_at: datetime | None
    max_open: int
    open_conversations: int


class AgentPatch(StrictIn):
    languages: list[str] | None = None
    max_open: int | None = None
    online: bool | None = None


@router.get("/care/agents", response=list[AgentOut])
def agent_list(request):
    access.care_require(api_user(request), Perm.CARE_INBOX)
    return selectors.agents_list()


@router.patch("/care/agents/{user_id}", response=AgentOut)
def agent_update(request, user_id: int, payload: AgentPatch):
    """An agent edits their own skills, capacity and online state; managers edit anyone's."""
    from apiary.accounts.models import User

    user = api_user(request)
    access.care_require(user, Perm.CARE_INBOX)
    if user_id != user.pk:
        access.care_require(user, Perm.CARE_MANAGE)
    target = get_object_or_404(User, pk=user_id)
    services.agent_profile_update(user=target, **payload.model_dump(exclude_unset=True))
    return next(a for a in selectors.agents_list() if a["user_id"] == target.pk)


# --- Reply channels (credentials replies go out with) -------------------------------------------


class ReplyChannelOut(Schema):
    source_id: int
    name: str
    kind: str
    settings: dict[str, Any] = Field(description='reply_* settings; secrets shown as "***"')
    ready: bool
    problem: str
    generated_secret: str | None = Field(
        None, description="a webhook signing secret Apiary generated; shown this once"
    )


class ReplyChannelIn(StrictIn):
    settings: dict[str, Any] = Field(
        description='reply_* keys of the source kind; a secret left empty or sent as "***" '
        "keeps the stored one"
    )


@router.get("/care/reply-channels", response=list[ReplyChannelOut])
def reply_channel_list(request):
    access.care_require(api_user(request), Perm.CARE_MANAGE)
    return selectors.reply_channels()


@router.put("/care/reply-channels/{source_id}", response=ReplyChannelOut)
def reply_channel_update(request, source_id: int, payload: ReplyChannelIn):
    """Set the credentials replies on this source go out with (validated per kind, audited)."""
    from apiary.listening.models import Source

    from .replies import reply_settings_set

    user = api_user(request)
    access.care_require(user, Perm.CARE_MANAGE)
    source = get_object_or_404(Source, pk=source_id, deleted_at__isnull=True)
    _source, generated = reply_settings_set(source=source, settings=payload.settings, actor=user)
    return {**selectors.reply_channel(source_id=source.pk), "generated_secret": generated}
