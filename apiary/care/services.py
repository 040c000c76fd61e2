"""Care writes: opening conversations, assignment, status, replies, notes, presence, agents,
linking an author to a customer, the first response.

Collision prevention: every change an agent makes bumps ``Conversation.version`` and logs the
new version (``ConversationLog.data["version"]``). Writes that name the version the agent saw
(``version=``) lock the row and raise :class:`ConversationChanged` when someone *else* changed
it since — the error names who did what, so the page can say "Grace assigned it to Dmitri while
you were typing". A reply to a conversation that is resolved raises
:class:`ConversationClosed` (the agent can reopen it). Inbound messages, notes and presence do
not bump the version: they never make an agent's reply wrong.

Permission is checked by ``access.py`` before these are called; services validate the data.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from . import events, priority, sla
from .models import (
    AgentPresence,
    AgentProfile,
    CannedResponse,
    Conversation,
    ConversationLog,
    Delivery,
    Direction,
    Message,
    PresenceState,
    Priority,
    Status,
)

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = 5000
MAX_NOTE_CHARS = 10_000
# An agent counts as online for round-robin while seen within this window.
AGENT_SEEN_WINDOW = timedelta(minutes=5)
# last_seen_at is written at most this often per agent (presence pings come every few seconds).
AGENT_SEEN_WRITE_EVERY = timedelta(seconds=30)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")


class ConversationChanged(Exception):
    """Someone else changed the conversation since the version the agent saw (API: 409)."""

    def __init__(self, conversation: Conversation, seen: int, changes: list[dict]) -> None:
        self.conversation = conversation
        self.seen = seen
        self.current = conversation.version
        self.changes = changes
        parts = [f"{c['actor_name']}: {c['what']}" for c in changes[:5]] or [_("someone")]
        super().__init__(
            _(
                "This conversation changed since you opened it (version %(seen)s, now "
                "%(now)s): %(changes)s. Reload it and try again."
            )
            % {"seen": seen, "now": conversation.version, "changes": "; ".join(parts)}
        )


class ConversationClosed(Exception):
    """A reply to a resolved conversation (API: 409). Reopen it to answer."""

    def __init__(self, conversation: Conversation, by: str, at) -> None:
        self.conversation = conversation
        self.by = by
        self.at = at
        when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at else "?"
        super().__init__(
            _(
                "%(by)s resolved this conversation at %(when)s, so the reply was not sent. "
                "Reopen it if the customer still needs an answer."
            )
            % {"by": by, "when": when}
        )


# --- Helpers ----------------------------------------------------------------------------------


def _locked(conversation_id: int) -> Conversation:
    c = (
        # of=("self",): PostgreSQL cannot lock the nullable side of the policy's outer join.
        Conversation.objects.select_for_update(of=("self",))
        .select_related("sla_policy")
        .filter(pk=conversation_id)
        .first()
    )
    if c is None:
        raise Http404
    return c


def _user_name(user_id: int | None) -> str:
    if not user_id:
        return _("the system")
    from apiary.accounts.models import User

    u = User.objects.filter(pk=user_id).only("display_name", "email").first()
    return u.name if u else _("a deleted user")


_WHAT = {
    "assigned": lambda d: _("assigned it to %(name)s") % {"name": d.get("assignee_name", "?")},
    "unassigned": lambda d: _("unassigned it"),
    "status": lambda d: _("set the status to %(s)s") % {"s": d.get("status", "?")},
    "reopened": lambda d: _("reopened it"),
    "priority": lambda d: _("set the priority to %(p)s") % {"p": d.get("priority", "?")},
    "replied": lambda d: _("replied"),
    "customer_linked": lambda d: _("linked the author to a customer"),
}


def _changes_since(c: Conversation, seen: int) -> list[dict]:
    rows = list(ConversationLog.objects.filter(conversation=c).order_by("-at", "-pk")[:50])
    out = []
    for row in rows:
        v = (row.data or {}).get("version")
        if not isinstance(v, int) or v <= seen:
            continue
        what = _WHAT.get(row.action, lambda d, a=row.action: a)(row.data or {})
        out.append(
            {
                "action": row.action,
                "actor_id": row.actor_id,
                "actor_name": _user_name(row.actor_id)
                if row.actor_id
                else (
                    _("the customer")
                    if (row.data or {}).get("by") == "customer"
                    else _("the system")
                ),
                "what": str(what),
                "at": row.at,
                "version": v,
            }
        )
    out.reverse()
    return out


def _check_version(c: Conversation, version: int | None, actor) -> None:
    """Refuse a write based on a stale view. Changes the same agent made since (another tab)
    do not count: they cannot surprise that agent."""
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError({"version": [_("Must be the conversation's version (a number).")]})
    if version >= c.version:
        return
    changes = _changes_since(c, version)
    actor_id = getattr(actor, "pk", None)
    if changes and all(ch["actor_id"] == actor_id and actor_id for ch in changes):
        return
    raise ConversationChanged(c, version, changes)


def _log(c: Conversation, action: str, actor, now, **data) -> ConversationLog:
    return ConversationLog.objects.create(
        conversation=c,
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        data=data,
        at=now,
    )


def _bump(c: Conversation, now) -> None:
    c.version += 1
    c.updated_at = now


def care_roles() -> list[str]:
    from apiary.accounts.access import ROLE_PERMISSIONS, Perm

    return [role for role, perms in ROLE_PERMISSIONS.items() if Perm.CARE_INBOX in perms]


def _agent_user(user_id: int):
    from apiary.accounts.models import User

    u = User.objects.filter(pk=user_id, is_active=True, role__in=care_roles()).first()
    if u is None:
        raise ValidationError(
            {"assignee_id": [_("No active care agent with id %(id)s.") % {"id": user_id}]}
        )
    return u


# --- Opening ----------------------------------------------------------------------------------


def conversation_open_from_mention(*, mention_id: int, user=None, reason: str = "manual"):
    """The conversation of this mention's thread: joined if one exists (a resolved one is
    reopened), otherwise opened now whatever the rules say. Idempotent."""
    from apiary.listening.models import Mention

    from . import intake

    mention = Mention.objects.filter(pk=mention_id).first()
    if mention is None:
        raise Http404
    with transaction.atomic():
        existing = Message.objects.filter(mention_id=mention.pk).values_list(
            "conversation_id", flat=True
        )
        cid = existing.first()
        if cid is None:
            res = intake.conversations_ingest(
                [intake.incoming_from_mention(mention)], force=True, reason=reason, user=user
            )
            cid = res.by_mention.get(mention.pk)
        c = Conversation.objects.get(pk=cid)
        if c.status == Status.RESOLVED:
            c = conversation_status_set(conversation_id=c.pk, status=Status.OPEN, actor=user)
    return c


# --- Assignment -------------------------------------------------------------------------------


def conversation_assign(*, conversation_id: int, assignee_id: int | None, actor, version=None):
    """Assign to an agent (or unassign with None). Checks the version the actor saw."""
    now = timezone.now()
    with transaction.atomic():
        c = _locked(conversation_id)
        _check_version(c, version, actor)
        if assignee_id == c.assignee_id:
            return c
        assignee = _agent_user(assignee_id) if assignee_id is not None else None
        _set_assignee(c, assignee, actor, now)
    return c


def _set_assignee(c: Conversation, assignee, actor, now) -> None:
    c.assignee = assignee
    c.assigned_at = now if assignee else None
    _bump(c, now)
    c.save(update_fields=["assignee", "assigned_at", "version", "updated_at"])
    if assignee is not None:
        AgentProfile.objects.get_or_create(user=assignee)
        AgentProfile.objects.filter(user=assignee).update(last_assigned_at=now)
        _log(c, "assigned", actor, now, assignee_id=assignee.pk, assignee_name=assignee.name,
             version=c.version)  # fmt: skip
    else:
        _log(c, "unassigned", actor, now, version=c.version)
    events.emit(
        "conversation.updated",
        conversation_id=c.pk,
        user_id=getattr(actor, "pk", None),
        data={"change": "assigned", "assignee_id": c.assignee_id, "version": c.version},
    )


def _online_agents(now) -> list[dict]:
    """Online agents with their open load, least recently assigned first."""
    profiles = list(
        AgentProfile.objects.select_related("user")
        .filter(
            online=True,
            last_seen_at__gte=now - AGENT_SEEN_WINDOW,
            user__is_active=True,
            user__role__in=care_roles(),
        )
        .order_by(F("last_assigned_at").asc(nulls_first=True), "user_id")
    )
    if not profiles:
        return []
    load = dict(
        Conversation.objects.filter(
            assignee_id__in=[p.user_id for p in profiles],
            status__in=[Status.OPEN, Status.PENDING],
        )
        .order_by()
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .values_list("assignee_id", "n")
    )
    return [{"profile": p, "open": load.get(p.user_id, 0)} for p in profiles]


def _pick(agents: list[dict], language: str) -> dict | None:
    for a in agents:
        p = a["profile"]
        skilled = not p.languages or not language or language in p.languages
        if skilled and a["open"] < p.max_open:
            return a
    return None


def conversation_assign_round_robin(*, conversation_id: int, actor=None, version=None):
    """Assign to the online agent with the language who was assigned least recently and has
    room (``max_open``). Returns the user, or None when nobody fits (it stays unassigned)."""
    now = timezone.now()
    with transaction.atomic():
        c = _locked(conversation_id)
        _check_version(c, version, actor)
        agents = _online_agents(now)
        # Lock the candidates so two concurrent round-robins do not both pick the same agent.
        if agents:
            list(
                AgentProfile.objects.select_for_update()
                .filter(pk__in=[a["profile"].pk for a in agents])
                .values_list("pk")
            )
        choice = _pick([a for a in agents if a["profile"].user_id != c.assignee_id], c.language)
        if choice is None:
            return None
        user = choice["profile"].user
        _set_assignee(c, user, actor, now)
        return user


def assign_new_conversations(*, conversation_ids: list[int], now: datetime | None = None) -> int:
    """Auto-assignment of conversations the intake just opened (setting
    ``APIARY_CARE_AUTO_ASSIGN``, on by default): round-robin in bulk, one update per agent."""
    if not getattr(settings, "APIARY_CARE_AUTO_ASSIGN", True) or not conversation_ids:
        return 0
    now = now or timezone.now()
    agents = _online_agents(now)
    if not agents:
        return 0
    convs = list(
        Conversation.objects.filter(pk__in=conversation_ids, assignee__isnull=True)
        .order_by("-priority_score", "pk")
        .values_list("pk", "language")
    )
    picked: dict[int, list[int]] = {}
    tick = 0
    for pk, language in convs:
        choice = _pick(agents, language)
        if choice is None:
            continue
        choice["open"] += 1
        tick += 1
        # A microsecond apart: the next batch continues the rotation where this one stopped.
        choice["profile"].last_assigned_at = now + timedelta(microseconds=tick)
        agents.remove(choice)
        agents.append(choice)
        picked.setdefault(choice["profile"].user_id, []).append(pk)
    if not picked:
        return 0
    names = {a["profile"].user_id: a["profile"].user.name for a in agents}
    for user_id, pks in picked.items():
        Conversation.objects.filter(pk__in=pks, assignee__isnull=True).update(
            assignee_id=user_id, assigned_at=now, version=F("version") + 1, updated_at=now
        )
    AgentProfile.objects.bulk_update(
        [a["profile"] for a in agents if a["profile"].user_id in picked], ["last_assigned_at"]
    )
    ConversationLog.objects.bulk_create(
        [
            ConversationLog(
                conversation_id=pk,
                action="assigned",
                data={
                    "assignee_id": uid,
                    "assignee_name": names.get(uid, "?"),
                    "by": "round_robin",
                    "version": 2,
                },
                at=now,
            )
            for uid, pks in picked.items()
            for pk in pks
        ]
    )
    events.emit_many(
        [
            ("conversation.updated", pk, {"change": "assigned", "assignee_id": uid})
            for uid, pks in picked.items()
            for pk in pks
        ]
    )
    return sum(len(p) for p in picked.values())


# --- Status and priority ----------------------------------------------------------------------


def conversation_status_set(*, conversation_id: int, status: str, actor, version=None):
    """open ⇄ pending (the SLA clock pauses while waiting on the customer) ⇄ resolved."""
    if status not in Status.values:
        raise ValidationError(
            {"status": [_("Must be one of: %(v)s.") % {"v": ", ".join(Status.values)}]}
        )
    now = timezone.now()
    with transaction.atomic():
        c = _locked(conversation_id)
        _check_version(c, version, actor)
        old = c.status
        if status == old:
            return c
        fields = {"status", "version", "updated_at"}
        if old == Status.PENDING:
            fields.update(sla.sla_resume(c, now))
        if status == Status.PENDING:
            fields.update(sla.sla_pause(c, now))
        if status == Status.RESOLVED:
            c.resolved_at = now
            fields.add("resolved_at")
        elif old == Status.RESOLVED:
            c.resolved_at = None
            fields.add("resolved_at")
        c.status = status
        _bump(c, now)
        c.save(update_fields=sorted(fields))
        action = "reopened" if old == Status.RESOLVED else "status"
        _log(c, action, actor, now, status=status, previous=old, version=c.version)
        events.emit(
            "conversation.updated",
            conversation_id=c.pk,
            user_id=getattr(actor, "pk", None),
            data={"change": "status", "status": status, "version": c.version},
        )
    return c


def conversation_priority_set(*, conversation_id: int, priority_level: str, actor, version=None):
    """An agent's own judgement over the computed priority; an unanswered conversation takes the
    new priority's SLA policy (an urgent one gets the shorter deadline)."""
    if priority_level not in Priority.values:
        raise ValidationError(
            {"priority": [_("Must be one of: %(v)s.") % {"v": ", ".join(Priority.values)}]}
        )
    now = timezone.now()
    with transaction.atomic():
        c = _locked(conversation_id)
        _check_version(c, version, actor)
        if c.priority == priority_level:
            return c
        c.priority = priority_level
        c.priority_factors = [
            *[f for f in c.priority_factors or [] if f.get("factor") != "manual"],
            {
                "factor": "manual",
                "points": 0,
                "detail": _("set by hand to %(p)s") % {"p": priority_level},
            },
        ]
        fields = ["priority", "priority_factors", "version", "updated_at"]
        if c.first_response_at is None and c.sla_breached_at is None:
            policy = sla.policy_for(priority_level)
            c.sla_policy = policy
            c.sla_due_at = sla.due_at(c, policy)
            fields += ["sla_policy", "sla_due_at"]
        _bump(c, now)
        c.save(update_fields=fields)
        _log(c, "priority", actor, now, priority=priority_level, version=c.version)
        events.emit(
            "conversation.updated",
            conversation_id=c.pk,
            user_id=getattr(actor, "pk", None),
            data={"change": "priority", "priority": priority_level, "version": c.version},
        )
    return c


# --- Replies and notes ------------------------------------------------------------------------


def _clean_text(text, limit: int, field: str = "text") -> str:
    if not isinstance(text, str):
        raise ValidationError({field: [_("Must be text.")]})
    text = text.strip()
    if not text:
        raise ValidationError({field: [_("Write something first.")]})
    if len(text) > limit:
        raise ValidationError(
            {field: [_("At most %(n)d characters (this is %(m)d).") % {"n": limit, "m": len(text)}]}
        )
    return text


def reply_create(
    *,
    conversation_id: int,
    user,
    text: str,
    version: int | None,
    client_token: str | None = None,
    canned_response_id: int | None = None,
) -> Message:
    """Queue an outbound reply (delivery happens after commit, in ``replies``). The same
    ``client_token`` twice returns the first message: a double click sends once."""
    text = _clean_text(text, MAX_REPLY_CHARS)
    if client_token is not None:
        if not isinstance(client_token, str) or not _TOKEN_RE.match(client_token):
            raise ValidationError(
                {"client_token": [_("1–64 letters, digits or . _ : - (e.g. a UUID).")]}
            )
        same = _reply_by_token(client_token, conversation_id, user)
        if same is not None:
            return same
    else:
        client_token = uuid.uuid4().hex
    canned = None
    if canned_response_id is not None:
        canned = CannedResponse.objects.filter(pk=canned_response_id).first()
        if canned is None:
            raise ValidationError(
                {
                    "canned_response_id": [
                        _("No canned response with id %(id)s.") % {"id": canned_response_id}
                    ]
                }
            )
    now = timezone.now()
    try:
        with transaction.atomic():
            c = _locked(conversation_id)
            if c.status == Status.RESOLVED:
                last = (
                    ConversationLog.objects.filter(conversation=c, data__status=Status.RESOLVED)
                    .order_by("-at", "-pk")
                    .first()
                )
                raise ConversationClosed(
                    c, _user_name(last.actor_id) if last else _("Someone"), c.resolved_at
                )
            _check_version(c, version, user)
            problem = _platform_text_problem(c, text)
            if problem:
                raise ValidationError({"text": [problem]})
            message = Message.objects.create(
                conversation=c,
                direction=Direction.OUTBOUND,
                author_user=user,
                text=text,
                created_at=now,
                delivery=Delivery.QUEUED,
                # Due now: if the on-commit enqueue is lost (process killed), the sweeper
                # (replies.delivery_retry_due) still finds the reply. Nothing is dropped.
                next_attempt_at=now,
                client_token=client_token,
                canned_response=canned,
            )
            _bump(c, now)
            c.last_message_at = now
            fields = ["version", "updated_at", "last_message_at"]
            if c.assignee_id is None:
                # Answering claims an unassigned conversation (the reports count it for them).
                c.assignee, c.assigned_at = user, now
                fields += ["assignee", "assigned_at"]
            c.save(update_fields=fields)
            _log(c, "replied", user, now, message_id=message.pk, version=c.version)
            events.emit(
                "message.created",
                conversation_id=c.pk,
                user_id=user.pk,
                data={
                    "message_id": message.pk,
                    "direction": "outbound",
                    "delivery": "queued",
                    "version": c.version,
                },
            )
            transaction.on_commit(lambda: _enqueue_delivery(message.pk))
    except IntegrityError:
        # The same client_token raced in from a second request: answer with the first reply.
        same = _reply_by_token(client_token, conversation_id, user)
        if same is None:
            raise
        return same
    return message


def _platform_text_problem(c: Conversation, text: str) -> str | None:
    """The connector's own limit (Bluesky's 300 graphemes, Mastodon's 500 characters…), from
    ``replies.reply_text_check`` when the replies module provides it."""
    try:
        from . import replies
    except ImportError:
        return None
    check = getattr(replies, "reply_text_check", None)
    return check(conversation=c, text=text) if check else None


def _reply_by_token(token: str, conversation_id: int, user) -> Message | None:
    same = Message.objects.filter(client_token=token).first()
    if same is None:
        return None
    if same.conversation_id != conversation_id or same.author_user_id != user.pk:
        raise ValidationError(
            {"client_token": [_("This client_token was already used for another reply.")]}
        )
    return same


def _enqueue_delivery(message_id: int) -> None:
    try:
        from . import replies
    except ImportError:
        replies = None
    enqueue = getattr(replies, "delivery_enqueue", None)
    if enqueue is None:
        logger.warning("care.replies.delivery_enqueue is missing; reply %s waits", message_id)
        return
    try:
        enqueue(message_id=message_id)
    except Exception:
        # The reply is stored as queued and due; the care-clock sweeper retries it.
        logger.exception("Could not enqueue delivery of reply %s", message_id)


_MENTION_RE = re.compile(r"(?<![\w@])@([^\W_][\w.\-]*)", re.UNICODE)


def _mention_keys(user) -> set[str]:
    keys = {user.email.split("@", 1)[0].casefold()}
    name = (user.display_name or "").strip().casefold()
    if name:
        parts = name.split()
        keys.update({"".join(parts), ".".join(parts), "_".join(parts), "-".join(parts)})
    return keys


def mention_targets(text: str, *, exclude_user_id: int | None = None) -> list[int]:
    """Colleagues @mentioned in a note: by e-mail local part (@carelead), display name without
    spaces or with . _ - (@grace.okafor), or first name when only one colleague has it."""
    from apiary.accounts.models import User

    tokens = {t.rstrip(".-").casefold() for t in _MENTION_RE.findall(text or "")}
    tokens.discard("")
    if not tokens:
        return []
    users = list(User.objects.filter(is_active=True, role__in=care_roles()).order_by("pk"))
    first_names: dict[str, list[int]] = {}
    for u in users:
        parts = (u.display_name or "").strip().casefold().split()
        if parts:
            first_names.setdefault(parts[0], []).append(u.pk)
    found = []
    for u in users:
        keys = _mention_keys(u)
        parts = (u.display_name or "").strip().casefold().split()
        if parts and len(first_names.get(parts[0], [])) == 1:
            keys.add(parts[0])
        if keys & tokens and u.pk != exclude_user_id:
            found.append(u.pk)
    return found


def note_add(*, conversation_id: int, user, text: str) -> Message:
    """An internal note (never sent out). @mentioned colleagues get a live notification."""
    text = _clean_text(text, MAX_NOTE_CHARS)
    now = timezone.now()
    with transaction.atomic():
        c = Conversation.objects.filter(pk=conversation_id).first()
        if c is None:
            raise Http404
        mentioned = mention_targets(text, exclude_user_id=user.pk)
        note = Message.objects.create(
            conversation=c,
            direction=Direction.NOTE,
            author_user=user,
            text=text,
            created_at=now,
            mentioned_user_ids=mentioned,
        )
        _log(c, "note", user, now, message_id=note.pk, mentioned_user_ids=mentioned)
        events.emit(
            "message.created",
            conversation_id=c.pk,
            user_id=user.pk,
            data={"message_id": note.pk, "direction": "note", "mentioned_user_ids": mentioned},
        )
    return note


# --- Presence and agents ----------------------------------------------------------------------


def presence_touch(*, conversation_id: int, user, state: str) -> AgentPresence:
    """ "I am viewing / typing in this conversation" (pages ping every few seconds). A live
    event goes out only when the state changes or the agent arrives, not on every ping."""
    if state not in PresenceState.values:
        raise ValidationError(
            {"state": [_("Must be one of: %(v)s.") % {"v": ", ".join(PresenceState.values)}]}
        )
    from .selectors import PRESENCE_TTL

    now = timezone.now()
    with transaction.atomic():
        if not Conversation.objects.filter(pk=conversation_id).exists():
            raise Http404
        row = AgentPresence.objects.filter(user=user, conversation_id=conversation_id).first()
        announce = (
            row is None
            or row.state != state
            or row.seen_at < now - timedelta(seconds=PRESENCE_TTL[row.state])
        )
        if row is None:
            try:
                with transaction.atomic():
                    row = AgentPresence.objects.create(
                        user=user, conversation_id=conversation_id, state=state, seen_at=now
                    )
            except IntegrityError:
                row = AgentPresence.objects.get(user=user, conversation_id=conversation_id)
        row.state, row.seen_at = state, now
        row.save(update_fields=["state", "seen_at"])
        if announce:
            events.emit(
                "presence",
                conversation_id=conversation_id,
                user_id=user.pk,
                data={"state": state, "name": user.name},
            )
        agent_seen(user=user, now=now)
    return row


def presence_leave(*, conversation_id: int, user) -> None:
    deleted, _rows = AgentPresence.objects.filter(
        user=user, conversation_id=conversation_id
    ).delete()
    if deleted:
        events.emit(
            "presence",
            conversation_id=conversation_id,
            user_id=user.pk,
            data={"state": "left", "name": user.name},
        )


def agent_seen(*, user, now: datetime | None = None) -> None:
    """Keep an agent "recently seen" for round-robin (written at most every 30 s)."""
    now = now or timezone.now()
    profile = AgentProfile.objects.filter(user=user).only("pk", "last_seen_at").first()
    if profile is None:
        AgentProfile.objects.get_or_create(user=user, defaults={"last_seen_at": now})
    elif profile.last_seen_at is None or profile.last_seen_at < now - AGENT_SEEN_WRITE_EVERY:
        AgentProfile.objects.filter(pk=profile.pk).update(last_seen_at=now)


def agent_online_set(*, user, online: bool) -> AgentProfile:
    if not isinstance(online, bool):
        raise ValidationError({"online": [_("Must be true or false.")]})
    now = timezone.now()
    profile, _created = AgentProfile.objects.get_or_create(user=user)
    profile.online = online
    profile.last_seen_at = now
    profile.save(update_fields=["online", "last_seen_at"])
    events.emit("presence", user_id=user.pk, data={"agent_online": online, "name": user.name})
    return profile


def agent_profile_update(
    *, user, languages: list[str] | None = None, max_open: int | None = None, online=None
) -> AgentProfile:
    """Skills (languages; empty = any) and capacity of one agent."""
    if user.role not in care_roles() or not user.is_active:
        raise ValidationError({"user": [_("Only active care staff have agent profiles.")]})
    profile, _created = AgentProfile.objects.get_or_create(user=user)
    errors: dict[str, list[str]] = {}
    if languages is not None:
        if not isinstance(languages, list) or not all(
            isinstance(x, str) and _LANG_RE.match(x.strip().lower()) for x in languages
        ):
            errors["languages"] = [_('A list of language codes such as "en", "es", "ru".')]
        else:
            profile.languages = sorted({x.strip().lower() for x in languages})
    if max_open is not None:
        if isinstance(max_open, bool) or not isinstance(max_open, int) or not 1 <= max_open <= 500:
            errors["max_open"] = [_("Must be a whole number from 1 to 500.")]
        else:
            profile.max_open = max_open
    if errors:
        raise ValidationError(errors)
    profile.save()
    if online is not None:
        profile = agent_online_set(user=user, online=online)
    return profile


# --- Customer link and first response ---------------------------------------------------------


def author_link_customer(*, conversation_id: int, customer_id: int, user, consent_note: str):
    """Link the conversation's author to a customer through the identity rules
    (``identity_link``: normalised handle, one live owner per account, a consent record with
    touchpoint ``support_form``, audited). The author's other conversations follow."""
    from apiary.accounts.services import audit_record
    from apiary.customers.models import Platform
    from apiary.customers.selectors import customer_get, customer_resolve_merged
    from apiary.customers.services.identities import identity_link

    now = timezone.now()
    with transaction.atomic():
        c = _locked(conversation_id)
        if not c.author_handle:
            raise ValidationError(
                {"author": [_("This conversation's author has no handle to link.")]}
            )
        if c.platform not in Platform.values:
            raise ValidationError(
                {
                    "platform": [
                        _("Accounts on %(p)s cannot be linked to customers.") % {"p": c.platform}
                    ]
                }
            )
        customer = customer_resolve_merged(customer_get(customer_id=customer_id))
        identity = identity_link(
            customer=customer,
            platform=c.platform,
            handle=c.author_handle,
            touchpoint="support_form",
            consent_text=consent_note,
            actor=user,
            display_name=(c.author_name or "")[:200],
            profile_url=c.author_url if (c.author_url or "").startswith("http") else "",
            followers=c.author_followers,
        )
        others = Conversation.objects.filter(
            platform=c.platform, author_handle=c.author_handle, customer__isnull=True
        ).exclude(pk=c.pk)
        others_n = others.update(customer=customer, updated_at=now)
        c.customer = customer
        value = priority.customer_values([customer.pk]).get(customer.pk)
        score, level, factors = priority.priority_score(
            followers=c.author_followers,
            customer_linked=True,
            value=value,
            sentiment=c.sentiment,
            intent=c.intent,
        )
        fields = ["customer", "version", "updated_at"]
        if score > c.priority_score:
            c.priority_score, c.priority_factors = score, factors
            c.priority = priority.higher(c.priority, level)
            fields += ["priority_score", "priority_factors", "priority"]
        _bump(c, now)
        c.save(update_fields=fields)
        _log(c, "customer_linked", user, now, customer_id=customer.pk, identity_id=identity.pk,
             version=c.version)  # fmt: skip
        audit_record(
            actor=user,
            action="care.customer_link",
            target_type="customer",
            target_id=customer.pk,
            summary=f"conversation {c.pk}: {c.platform} {c.author_handle}",
            data={"conversation_id": c.pk, "identity_id": identity.pk, "others": others_n},
        )
        events.emit(
            "conversation.updated",
            conversation_id=c.pk,
            user_id=user.pk,
            data={"change": "customer_linked", "customer_id": customer.pk, "version": c.version},
        )
    return c


def first_response_record(*, conversation_id: int, at: datetime) -> bool:
    """The first reply reached the customer (called by ``replies`` on the first successful
    send). Recorded once; True when this call recorded it. A clock that went backwards cannot
    make the response time negative: it is never before the conversation opened."""
    now = timezone.now()
    with transaction.atomic():
        c = _locked(conversation_id)
        if c.first_response_at is not None:
            return False
        at = max(at, c.created_at)
        c.first_response_at = at
        fields = ["first_response_at", "updated_at"]
        if c.sla_paused_at is not None:
            fields += sla.sla_resume(c, at if at > c.sla_paused_at else c.sla_paused_at)
        c.updated_at = now
        c.save(update_fields=fields)
        state = sla.sla_state(c, now)
        _log(c, "first_response", None, now, at=at.isoformat(), sla=state["state"])
        events.emit(
            "conversation.updated",
            conversation_id=c.pk,
            data={"change": "first_response", "sla": state["state"]},
        )
    return True
