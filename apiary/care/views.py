"""Care inbox pages: the inbox list, one conversation (thread, composer, customer sidebar,
presence) and the actions on it. Views only translate HTTP: reads in ``selectors``, writes in
``services`` / ``replies`` / ``canned``, permission in ``access``.

Every fragment an htmx request asks for is also reachable as a full page or a redirect, so the
inbox works without JavaScript (minus the live updates)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from apiary.accounts.access import Perm, permission_required, user_has_permission

from . import access, replies, services, sla
from . import views_support as support
from .models import Conversation, Priority, Status
from .views_live import latest_event_id

PAGE = 50
HEARTBEAT_MS = 4000

VIEWS = [
    ("all", gettext_lazy("All")),
    ("mine", gettext_lazy("Mine")),
    ("unassigned", gettext_lazy("Unassigned")),
    ("priority", gettext_lazy("By priority")),
]
STATUS_CHOICES = [
    ("open", gettext_lazy("Open")),
    ("pending", gettext_lazy("Waiting on customer")),
    ("resolved", gettext_lazy("Resolved")),
    ("all", gettext_lazy("Any status")),
]
SLA_CHOICES = [
    ("running", gettext_lazy("On track")),
    ("warning", gettext_lazy("Due soon")),
    ("breached", gettext_lazy("Overdue")),
    ("met", gettext_lazy("Met")),
    ("paused", gettext_lazy("Paused")),
]
SENTIMENT_CHOICES = [
    ("negative", gettext_lazy("Negative")),
    ("neutral", gettext_lazy("Neutral")),
    ("positive", gettext_lazy("Positive")),
]
INTENT_CHOICES = [
    ("support", gettext_lazy("Support")),
    ("purchase", gettext_lazy("Purchase")),
    ("none", gettext_lazy("None")),
]
LANGUAGE_CHOICES = [("en", "English"), ("es", "Español"), ("ru", "Русский"), ("other", "Other")]
FILTER_KEYS = ("status", "platform", "language", "sentiment", "intent", "segment", "sla")


# --- the inbox ---------------------------------------------------------------------------------


def _inbox_params(request: HttpRequest) -> tuple[str, dict, str | None]:
    view = request.GET.get("view") or "all"
    if view not in dict(VIEWS):
        view = "all"
    filters = {}
    for key in FILTER_KEYS:
        value = (request.GET.get(key) or "").strip()
        if value:
            filters[key] = value[:64]
    filters.setdefault("status", "open")
    cursor = request.GET.get("cursor") or None
    return view, filters, cursor


def _query(view: str, filters: dict, **extra) -> str:
    data = {"view": view, **{k: v for k, v in filters.items() if v}, **extra}
    return urlencode({k: v for k, v in data.items() if v})


def _inbox_context(request: HttpRequest) -> tuple[dict, int]:
    user = request.user
    view, filters, cursor = _inbox_params(request)
    # Read before the list: an event written meanwhile is then delivered by the stream.
    live_after = latest_event_id()
    errors: list[str] = []
    try:
        page = support.inbox_page(
            user=user, view=view, filters=dict(filters), cursor=cursor, limit=PAGE
        )
    except ValidationError as exc:
        errors = support.error_lines(exc)
        page = support.InboxPage(items=[], next_cursor=None)
    now = timezone.now()
    rows = support.inbox_rows(user=user, conversations=page.items, now=now)
    base = reverse("care:inbox")
    context = {
        "section": "care",
        "view": view,
        "view_label": dict(VIEWS)[view],
        "filters": filters,
        "filters_active": any(k != "status" for k in filters) or filters["status"] != "open",
        "rows": rows,
        "errors": errors,
        "live": not cursor and not errors,
        "live_after": live_after,
        "live_mode": request.GET.get("live") or "sse",
        "rows_url": reverse("care:rows") + "?" + _query(view, filters),
        "next_url": f"{base}?{_query(view, filters, cursor=page.next_cursor)}"
        if page.next_cursor
        else "",
        "prev_url": f"{base}?{_query(view, filters)}" if cursor else "",
        "views_nav": [
            {
                "key": key,
                "label": label,
                "url": f"{base}?{_query(key, filters)}",
                "current": key == view,
                "count": None,
            }
            for key, label in VIEWS
        ],
        "status_nav": [
            {
                "label": label,
                "url": f"{base}?{_query(view, {**filters, 'status': value})}",
                "current": filters["status"] == value,
            }
            for value, label in STATUS_CHOICES
        ],
        "status_choices": STATUS_CHOICES,
        "platform_choices": support.platform_choices(),
        "language_choices": LANGUAGE_CHOICES,
        "sentiment_choices": SENTIMENT_CHOICES,
        "intent_choices": INTENT_CHOICES,
        "sla_choices": SLA_CHOICES,
        "segments": support.segments_for(user),
        "can_manage": user_has_permission(user, Perm.CARE_MANAGE),
        "agent_online": support.agent_online(user),
    }
    return context, 422 if errors else 200


@require_GET
@permission_required(Perm.CARE_INBOX)
def inbox_view(request: HttpRequest) -> HttpResponse:
    context, status = _inbox_context(request)
    return render(request, "care/inbox.html", context, status=status)


@require_GET
@permission_required(Perm.CARE_INBOX)
def rows_view(request: HttpRequest) -> HttpResponse:
    """The list's rows alone: what the live inbox re-fetches when an event arrives."""
    context, status = _inbox_context(request)
    return render(request, "care/_rows.html", context, status=status)


@require_POST
@permission_required(Perm.CARE_INBOX)
def online_view(request: HttpRequest) -> HttpResponse:
    online = request.POST.get("online") in ("1", "true", "on")
    services.agent_online_set(user=request.user, online=online)
    if request.htmx:
        # The return address of the no-JS form stays the page's, not this endpoint's.
        next_url = _safe_next(request) or reverse("care:inbox")
        return render(request, "care/_online.html", {"agent_online": online, "next_url": next_url})
    messages.success(
        request,
        _("You are online: round-robin assigns you conversations.")
        if online
        else _("You are away: round-robin skips you."),
    )
    return redirect(_safe_next(request) or reverse("care:inbox"))


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


# --- one conversation --------------------------------------------------------------------------


def _conversation(request: HttpRequest, pk: int) -> Conversation:
    return access.conversation_for_view(user=request.user, conversation_id=pk)


def _composer(conversation: Conversation, **overrides) -> dict:
    """The reply box's state: a fresh client token each time it is rendered, so a double
    submit of one rendered form is one reply and the next form is a new one."""
    state = {
        "mode": "reply",
        "text": "",
        "notice": None,
        "version": conversation.version,
        "client_token": uuid.uuid4().hex,
        "canned_id": None,
    }
    state.update(overrides)
    return state


def _conversation_context(request: HttpRequest, conversation: Conversation, **extra) -> dict:
    user = request.user
    now = timezone.now()
    ok, reason = replies.can_reply(conversation)
    context = {
        "section": "care",
        "c": conversation,
        "sla": sla.sla_state(conversation, now),
        "thread": support.thread_for(conversation=conversation, user=user),
        "presence": support.presence_list(conversation_id=conversation.pk, user=user),
        "side": support.sidebar_for(conversation=conversation, user=user),
        "can_reply": ok,
        "cannot_reply_reason": reason,
        "canned": support.canned_rendered(conversation=conversation, agent=user),
        "colleagues": support.colleagues(exclude_user_id=user.pk),
        "agents": support.agents(),
        "can_manage": user_has_permission(user, Perm.CARE_MANAGE),
        "can_listen": user_has_permission(user, Perm.LISTENING_VIEW),
        "can_see_customers": user_has_permission(user, Perm.CUSTOMERS_VIEW),
        "can_link_customers": user_has_permission(user, Perm.CUSTOMERS_EDIT),
        "reply_limit": support.reply_limit(conversation),
        "live_after": latest_event_id(),
        "live_mode": request.GET.get("live") or "sse",
        "heartbeat_ms": HEARTBEAT_MS,
        "composer": _composer(conversation),
        "priorities": Priority.choices,
    }
    context["presence_typing"] = any(p["state"] == "typing" for p in context["presence"])
    context.update(extra)
    return context


@require_GET
@permission_required(Perm.CARE_INBOX)
def conversation_view(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(request, pk)
    # Opening the page counts as viewing it (the "new" marker goes, colleagues see you).
    support.presence_touch(conversation_id=conversation.pk, user=request.user, state="viewing")
    context = _conversation_context(request, conversation)
    # An alert's next action links here with ?canned=<id>&draft=<text>: the reply box opens
    # pre-filled (only with a response offered for this conversation; the draft is capped like
    # the textarea), and the agent still reviews and sends it.
    canned_id = _int_or_none(request.GET.get("canned"))
    offered = {r["id"]: r for r in context["canned"]}
    draft = (request.GET.get("draft") or "")[:5000]
    if canned_id not in offered:
        canned_id = None
    if canned_id or draft:
        text = draft or offered[canned_id]["body"]
        context["composer"] = _composer(conversation, text=text, canned_id=canned_id)
    return render(request, "care/conversation.html", context)


def _thread_response(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    return render(
        request,
        "care/_thread.html",
        {
            "c": conversation,
            "thread": support.thread_for(conversation=conversation, user=request.user),
            "can_listen": user_has_permission(request.user, Perm.LISTENING_VIEW),
        },
    )


@require_GET
@permission_required(Perm.CARE_INBOX)
def thread_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _thread_response(request, _conversation(request, pk))


@require_GET
@permission_required(Perm.CARE_INBOX)
def head_view(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(request, pk)
    return render(
        request,
        "care/_conv_header.html",
        {
            "c": conversation,
            "sla": sla.sla_state(conversation, timezone.now()),
            "agents": support.agents(),
            "can_manage": user_has_permission(request.user, Perm.CARE_MANAGE),
        },
    )


@require_GET
@permission_required(Perm.CARE_INBOX)
def side_view(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(request, pk)
    return render(
        request,
        "care/_sidebar.html",
        {
            "c": conversation,
            "side": support.sidebar_for(conversation=conversation, user=request.user),
            "can_see_customers": user_has_permission(request.user, Perm.CUSTOMERS_VIEW),
            "can_link_customers": user_has_permission(request.user, Perm.CUSTOMERS_EDIT),
        },
    )


@require_POST
@permission_required(Perm.CARE_INBOX)
def presence_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The heartbeat: record this agent's state, answer with who else is here."""
    conversation = _conversation(request, pk)
    state = request.POST.get("state")
    if state not in ("viewing", "typing"):
        return HttpResponse(
            _("state must be viewing or typing."),
            status=422,
            content_type="text/plain; charset=utf-8",
        )
    support.presence_touch(conversation_id=conversation.pk, user=request.user, state=state)
    presence = support.presence_list(conversation_id=conversation.pk, user=request.user)
    return render(
        request,
        "care/_presence.html",
        {"presence": presence, "presence_typing": any(p["state"] == "typing" for p in presence)},
    )


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _composer_response(
    request: HttpRequest, conversation: Conversation, composer: dict, status: int = 200
) -> HttpResponse:
    """After a send: the composer again, and (out of band) the thread, so the agent sees the
    message at once even before the live event arrives."""
    user = request.user
    ok, reason = replies.can_reply(conversation)
    context = {
        "c": conversation,
        "composer": composer,
        "can_reply": ok,
        "cannot_reply_reason": reason,
        "canned": support.canned_rendered(conversation=conversation, agent=user),
        "colleagues": support.colleagues(exclude_user_id=user.pk),
        "reply_limit": support.reply_limit(conversation),
    }
    html = render_to_string("care/_composer.html", context, request=request)
    thread = render_to_string(
        "care/_thread.html",
        {
            "c": conversation,
            "thread": support.thread_for(conversation=conversation, user=user),
            "can_listen": user_has_permission(user, Perm.LISTENING_VIEW),
        },
        request=request,
    )
    oob = thread.replace('id="thread"', 'id="thread" hx-swap-oob="true"', 1)
    return HttpResponse(html + oob, status=status)


@require_POST
@permission_required(Perm.CARE_INBOX)
def reply_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a reply (or, with ``mode=note``, add an internal note: the no-JS form posts here)."""
    if request.POST.get("mode") == "note":
        return note_view(request, pk)
    conversation = _conversation(request, pk)
    text = request.POST.get("text", "")
    token = (request.POST.get("client_token") or "").strip()[:64] or uuid.uuid4().hex
    version = _int_or_none(request.POST.get("version"))
    canned_id = _int_or_none(request.POST.get("canned_response_id"))
    keep = {"text": text, "client_token": token, "canned_id": canned_id}
    if version is None:
        return _refuse(request, conversation, keep, _("The form is missing its version; reload."))
    try:
        services.reply_create(
            conversation_id=conversation.pk,
            user=request.user,
            text=text,
            version=version,
            client_token=token,
            canned_response_id=canned_id,
        )
    except services.ConversationChanged as exc:
        # Someone else moved first: show what happened and let the agent decide. The composer
        # now carries the current version, so pressing send again sends.
        fresh = Conversation.objects.get(pk=conversation.pk)
        return _refuse(request, fresh, keep, support.changed_message(exc), status=409)
    except services.ConversationClosed as exc:
        fresh = Conversation.objects.get(pk=conversation.pk)
        return _refuse(request, fresh, keep, str(exc) or _("This conversation is closed."), 409)
    except ValidationError as exc:
        return _refuse(request, conversation, keep, " ".join(support.error_lines(exc)), 422)
    except PermissionDenied as exc:
        return _refuse(request, conversation, keep, str(exc) or _("You cannot reply here."), 403)
    fresh = Conversation.objects.get(pk=conversation.pk)
    if not request.htmx:
        messages.success(request, _("Reply queued for delivery."))
        return redirect("care:conversation", pk=pk)
    notice = {"kind": "ok", "text": _("Reply queued; its delivery status shows in the thread.")}
    return _composer_response(request, fresh, _composer(fresh, notice=notice))


def _refuse(
    request: HttpRequest,
    conversation: Conversation,
    keep: dict,
    text: str,
    status: int = 422,
    mode: str = "reply",
) -> HttpResponse:
    kind = "warn" if status == 409 else "error"
    composer = _composer(
        conversation, notice={"kind": kind, "text": text}, mode=mode, **(keep or {})
    )
    if request.htmx:
        return _composer_response(request, conversation, composer, status=status)
    context = _conversation_context(request, conversation, composer=composer)
    return render(request, "care/conversation.html", context, status=status)


@require_POST
@permission_required(Perm.CARE_INBOX)
def note_view(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(request, pk)
    text = request.POST.get("text", "")
    try:
        services.note_add(conversation_id=conversation.pk, user=request.user, text=text)
    except ValidationError as exc:
        keep = {"text": text}
        return _refuse(
            request, conversation, keep, " ".join(support.error_lines(exc)), 422, mode="note"
        )
    fresh = Conversation.objects.get(pk=conversation.pk)
    if not request.htmx:
        messages.success(request, _("Note added."))
        return redirect("care:conversation", pk=pk)
    notice = {"kind": "ok", "text": _("Note added; only your team sees it.")}
    return _composer_response(request, fresh, _composer(fresh, notice=notice, mode="note"))


@require_POST
@permission_required(Perm.CARE_INBOX)
def status_view(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(request, pk)
    status = request.POST.get("status", "")
    if status not in Status.values:
        messages.error(request, _("Unknown status %(s)r.") % {"s": status[:20]})
        return redirect("care:conversation", pk=pk)
    try:
        services.conversation_status_set(
            conversation_id=conversation.pk,
            status=status,
            actor=request.user,
            version=_int_or_none(request.POST.get("version")),
        )
    except services.ConversationChanged as exc:
        messages.warning(request, support.changed_message(exc))
    except (ValidationError, PermissionDenied) as exc:
        for line in support.error_lines(exc):
            messages.error(request, line)
    else:
        messages.success(
            request,
            {
                "resolved": _("Conversation resolved."),
                "pending": _("Waiting on the customer: the SLA clock is paused."),
                "open": _("Conversation reopened."),
            }[status],
        )
    return redirect("care:conversation", pk=pk)


@require_POST
@permission_required(Perm.CARE_INBOX)
def assign_view(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(request, pk)
    choice = request.POST.get("assignee", "")
    version = _int_or_none(request.POST.get("version"))
    try:
        if choice == "round_robin":
            picked = services.conversation_assign_round_robin(
                conversation_id=conversation.pk, actor=request.user
            )
            if picked is None:
                messages.warning(
                    request, _("No online agent speaks this language; nobody was assigned.")
                )
            else:
                messages.success(request, _("Assigned to %(name)s.") % {"name": picked.name})
        else:
            if choice == "me":
                assignee_id = request.user.pk
            elif choice in ("none", ""):
                assignee_id = None
            else:
                assignee_id = _int_or_none(choice)
                if assignee_id is None:
                    raise ValidationError({"assignee": [_("Choose an agent.")]})
            # Taking it or letting go of one's own: any agent; anything else: a manager.
            access.conversation_for_assign(
                user=request.user, conversation_id=conversation.pk, assignee_id=assignee_id
            )
            services.conversation_assign(
                conversation_id=conversation.pk,
                assignee_id=assignee_id,
                actor=request.user,
                version=version,
            )
            messages.success(
                request,
                _("Unassigned.") if assignee_id is None else _("Assignment saved."),
            )
    except services.ConversationChanged as exc:
        messages.warning(request, support.changed_message(exc))
    except PermissionDenied:
        messages.error(request, _("Only a care manager can assign conversations to others."))
    except ValidationError as exc:
        for line in support.error_lines(exc):
            messages.error(request, line)
    return redirect("care:conversation", pk=pk)


@require_POST
@permission_required(Perm.CARE_INBOX)
def retry_view(request: HttpRequest, message_id: int) -> HttpResponse:
    message = support.outbound_message(message_id)
    conversation = _conversation(request, message.conversation_id)
    try:
        replies.delivery_retry(message_id=message.pk, user=request.user)
    except (ValidationError, PermissionDenied) as exc:
        for line in support.error_lines(exc):
            messages.error(request, line)
    else:
        messages.success(request, _("Sending the reply again."))
    return redirect("care:conversation", pk=conversation.pk)


@require_GET
@permission_required(Perm.CARE_INBOX)
def customer_search_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Candidates for "link to customer" (htmx fragment)."""
    conversation = _conversation(request, pk)
    if not user_has_permission(request.user, Perm.CUSTOMERS_VIEW):
        raise PermissionDenied
    q = (request.GET.get("q") or "").strip()[:200]
    results = support.customer_candidates(q) if len(q) >= 2 else []
    return render(
        request, "care/_link_results.html", {"c": conversation, "results": results, "q": q}
    )


@require_POST
@permission_required(Perm.CARE_INBOX)
def link_customer_view(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation(request, pk)
    if not user_has_permission(request.user, Perm.CUSTOMERS_EDIT):
        raise PermissionDenied
    customer_id = _int_or_none(request.POST.get("customer_id"))
    note = (request.POST.get("consent_note") or "").strip()
    try:
        if customer_id is None:
            raise ValidationError({"customer_id": [_("Choose a customer first.")]})
        services.author_link_customer(
            conversation_id=conversation.pk,
            customer_id=customer_id,
            user=request.user,
            consent_note=note,
        )
    except (ValidationError, PermissionDenied) as exc:
        for line in support.error_lines(exc):
            messages.error(request, line)
    else:
        messages.success(request, _("Author linked to the customer."))
    return redirect("care:conversation", pk=pk)


@require_POST
@permission_required(Perm.CARE_INBOX)
def open_from_mention_view(request: HttpRequest, mention_id: int) -> HttpResponse:
    # A missing mention is a 404 from the service itself.
    try:
        conversation = services.conversation_open_from_mention(
            mention_id=mention_id, user=request.user, reason="manual"
        )
    except (ValidationError, PermissionDenied) as exc:
        for line in support.error_lines(exc):
            messages.error(request, line)
        return redirect("listening:mention", pk=mention_id)
    return redirect("care:conversation", pk=conversation.pk)
