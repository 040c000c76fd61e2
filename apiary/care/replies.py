"""Replies going back out: delivery through the source connector, with status and retry.

A reply is an outbound ``Message`` written by ``services.reply_create`` with
``delivery="queued"`` *before* anything is sent, so a crash or a failing connector can never
lose it. From there every path ends in ``sent`` or ``failed`` with a reason the agent can read:

    queued ──claim──► sending ──adapter──► sent
      ▲                  │ transient (429, 5xx, timeout): back off, attempts < 6
      └──────────────────┤
                         └ permanent (deleted post, bad credentials, too long) or the 6th
                           transient failure ──► failed (delivery_error says why)
    failed ──agent presses retry (delivery_retry)──► queued

- **Claim**: one conditional ``UPDATE … WHERE delivery='queued' AND due`` moves the row to
  ``sending`` and counts the attempt; only one worker can win it, so two workers (or a task
  and the sweeper) never send the same reply. The claim also sets a lease
  (``next_attempt_at = now + LEASE_SECONDS``): a worker that dies mid-send leaves a ``sending``
  row the sweeper puts back in the queue once the lease has run out.
- **Send** runs outside any transaction (a slow network must not hold the database), through
  ``outbound.adapter_for(source.kind)``. Each adapter carries an idempotency key, so the retry
  of an attempt whose answer was lost does not post twice.
- **Record**: ``sent`` stores ``sent_at``, ``external_id``, ``external_url`` and calls
  ``services.first_response_record`` (the SLA's first response) in the same transaction.
- Back-off after attempt 1…5: 10 s, 30 s, 2 min, 10 min, 30 min (a server's ``Retry-After`` /
  rate-limit reset wins when longer, up to an hour); the 6th failure is final.
- Every state change appends a ``message.delivery`` InboxEvent (``events.emit``), so the
  agent's page shows "sending…", "retrying in 30 s: …", "sent" or "failed: …" live.

Reply credentials live in the source's ``config`` under ``reply_*`` keys, written by
``reply_settings_set`` (see ``outbound/bluesky.py``, ``mastodon.py``, ``webhook.py``).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.access import Perm, user_has_permission

from . import events
from .models import Conversation, Delivery, Direction, Message
from .outbound import PermanentFailure, Sent, TransientFailure, adapter_for

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_SECONDS = (10, 30, 120, 600, 1800)  # after failed attempt 1, 2, 3, 4, 5
MAX_RETRY_AFTER_SECONDS = 3600
# Longer than an adapter can take (a few calls of at most 5 s connect + 10 s read each).
LEASE_SECONDS = 120
SWEEP_LIMIT = 50
NO_REPLY_KINDS = frozenset({"rss", "file", "replay"})


@dataclass(frozen=True)
class Outcome:
    """What one ``deliver`` call did: ``sent``, ``retry`` (queued again for
    ``next_attempt_at``), ``failed``, or ``skipped`` (not due, or another worker has it)."""

    state: str
    error: str = ""
    next_attempt_at: datetime | None = None
    external_id: str = ""


# --- where a reply goes ------------------------------------------------------------------


def _parent(conversation: Conversation, before: Message | None = None):
    """The mention being answered: the latest inbound one (up to the reply, if given)."""
    inbound = Message.objects.filter(
        conversation=conversation, direction=Direction.INBOUND, mention__isnull=False
    ).select_related("mention", "mention__source")
    if before is not None:
        inbound = inbound.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, pk__lt=before.pk)
        )
    message = inbound.order_by("-created_at", "-pk").first()
    return message.mention if message is not None else None


def _target(conversation: Conversation, before: Message | None = None):
    parent = _parent(conversation, before)
    source = None
    if parent is not None and parent.source_id is not None:
        source = parent.source
    if source is None and conversation.source_id is not None:
        source = conversation.source
    return source, parent


def can_reply(conversation: Conversation) -> tuple[bool, str]:
    """Whether a reply typed now could be delivered, and if not why (the page says so before
    the agent types)."""
    source, parent = _target(conversation)
    if source is None:
        return False, _("Replies are not possible: this conversation has no source to reply on.")
    if source.deleted_at is not None:
        return False, _("Replies are not possible: the source %(name)s was deleted.") % {
            "name": source.name
        }
    adapter = adapter_for(source.kind)
    if adapter is None:
        return False, _("Replies are not possible on this source (%(kind)s).") % {
            "kind": source.get_kind_display()
        }
    problem = adapter.missing_settings(dict(source.config or {}))
    if problem:
        return False, problem
    if parent is None:
        return False, _("Replies are not possible: there is no customer post to answer yet.")
    return True, ""


def reply_text_check(*, conversation: Conversation, text: str) -> str | None:
    """A reason the text cannot go out on this conversation's platform (too long, empty), or
    None. ``services.reply_create`` / the page call it before queueing."""
    source, _parent_mention = _target(conversation)
    adapter = adapter_for(source.kind) if source is not None else None
    if adapter is None:
        return None if text.strip() else _("The reply is empty.")
    return adapter.text_problem(text, dict(source.config or {}))


# --- settings ------------------------------------------------------------------------------

MASK = "***"  # what the sources API shows for a secret; sending it back keeps the old value
SECRET_KEYS = ("reply_secret", "reply_token")  # write-only: shown as MASK, kept when sent empty


def reply_settings_set(*, source, settings: dict, actor=None) -> tuple[object, str | None]:
    """Validate and store a source's reply settings (``reply_*`` keys of ``Source.config``).

    A secret left empty or sent back masked keeps the stored one; a webhook source without a
    secret gets a generated one, returned once (like a source token). Returns
    ``(source, generated_secret or None)``.
    """
    from apiary.accounts.services import audit_record

    adapter = adapter_for(source.kind)
    if adapter is None:
        raise ValidationError(
            {
                "kind": [
                    _("Replies are not possible on this source (%(kind)s).") % {"kind": source.kind}
                ]
            }
        )
    if not isinstance(settings, dict):
        raise ValidationError({"reply": [_("Must be an object.")]})
    current = dict(source.config or {})
    values = dict(settings)
    for key in SECRET_KEYS:
        if key in adapter.SETTINGS and values.get(key) in (None, "", MASK) and current.get(key):
            values[key] = current[key]
    clean = adapter.settings_validate(values)
    generated = None
    if source.kind == "webhook" and not clean.get("reply_secret"):
        generated = clean["reply_secret"] = "whsec_" + secrets.token_urlsafe(32)
    config = {k: v for k, v in current.items() if not k.startswith("reply_")}
    config.update({k: v for k, v in clean.items() if v not in ("", None)})
    source.config = config
    source.save(update_fields=["config"])
    if source.kind == "bluesky":
        from .outbound import bluesky

        bluesky.reset_sessions()
    audit_record(
        actor=actor,
        action="care.reply_settings",
        target_type="source",
        target_id=str(source.pk),
        summary=f"reply settings of {source.name!r}",
    )
    return source, generated


# --- delivery ------------------------------------------------------------------------------


def delivery_enqueue(*, message_id: int) -> None:
    """Deliver the message in the background once the current transaction commits."""
    transaction.on_commit(lambda: _enqueue(message_id))


def _enqueue(message_id: int, run_after: datetime | None = None) -> None:
    from .tasks_delivery import reply_deliver

    try:
        task = reply_deliver
        if run_after is not None:
            if not reply_deliver.get_backend().supports_defer:
                return  # the sweeper picks it up when it is due
            task = reply_deliver.using(run_after=run_after)
        task.enqueue(message_id)
    except Exception:
        # The row is queued in the database: the sweeper delivers it even without the task.
        logger.exception("could not enqueue delivery of message %s", message_id)


def _due(now: datetime) -> Q:
    # A deadline further ahead than any back-off can set means the clock jumped back: due now.
    horizon = now + timedelta(seconds=MAX_RETRY_AFTER_SECONDS + LEASE_SECONDS)
    return (
        Q(next_attempt_at__isnull=True)
        | Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__gt=horizon)
    )


def _emit(message: Message, state: str, **data) -> None:
    events.emit(
        "message.delivery",
        conversation_id=message.conversation_id,
        user_id=message.author_user_id,
        data={"message_id": message.pk, "delivery": state, **data},
    )


def deliver(*, message_id: int, now: datetime | None = None) -> Outcome:
    """One delivery attempt of an outbound message (see the module docstring)."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = (
            Message.objects.filter(
                pk=message_id, direction=Direction.OUTBOUND, delivery=Delivery.QUEUED
            )
            .filter(_due(now))
            .update(
                delivery=Delivery.SENDING,
                delivery_attempts=F("delivery_attempts") + 1,
                next_attempt_at=now + timedelta(seconds=LEASE_SECONDS),
            )
        )
        if not claimed:
            return Outcome("skipped")
        message = Message.objects.select_related("conversation", "author_user").get(pk=message_id)
        _emit(message, Delivery.SENDING, attempts=message.delivery_attempts)
    attempt = message.delivery_attempts
    try:
        sent = _send(message)
    except PermanentFailure as failure:
        return _failed(message, attempt, failure.reason)
    except TransientFailure as failure:
        return _later(message, attempt, failure.reason, failure.retry_after, now)
    except Exception as exc:  # a bug must not leave the reply stuck in "sending"
        logger.exception("delivery of message %s failed unexpectedly", message_id)
        reason = _("Unexpected error: %(error)s") % {"error": exc}
        return _later(message, attempt, reason, None, now)
    return _sent(message, sent)


def _send(message: Message) -> Sent:
    conversation = message.conversation
    source, parent = _target(conversation, before=message)
    if source is None:
        raise PermanentFailure(_("Replies are not possible: the conversation has no source."))
    adapter = adapter_for(source.kind)
    if adapter is None:
        raise PermanentFailure(_("Replies are not possible on this source."))
    if source.deleted_at is not None:
        raise PermanentFailure(
            _("Replies are not possible: the source %(name)s was deleted.") % {"name": source.name}
        )
    return adapter.send(source=source, conversation=conversation, message=message, parent=parent)


def _sent(message: Message, sent: Sent) -> Outcome:
    at = timezone.now()
    with transaction.atomic():
        # Success wins over anything recorded meanwhile (a lease that ran out, a failure
        # written by a slower attempt): the post exists, so the reply is sent.
        Message.objects.filter(pk=message.pk).exclude(delivery=Delivery.SENT).update(
            delivery=Delivery.SENT,
            sent_at=at,
            external_id=sent.external_id[:255],
            external_url=sent.url[:2000],
            delivery_error="",
            next_attempt_at=None,
        )
        _emit(message, Delivery.SENT, attempts=message.delivery_attempts, url=sent.url)
        unanswered = Conversation.objects.filter(
            pk=message.conversation_id, first_response_at__isnull=True
        ).exists()
        if unanswered:
            from . import services

            try:
                # A savepoint: the post exists, so a failure of the SLA bookkeeping must not
                # undo "sent" (the sweeper would retry a reply that was already delivered).
                with transaction.atomic():
                    services.first_response_record(conversation_id=message.conversation_id, at=at)
            except Exception:
                logger.exception(
                    "first response of conversation %s not recorded", message.conversation_id
                )
    return Outcome("sent", external_id=sent.external_id)


def _failed(message: Message, attempt: int, reason: str) -> Outcome:
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=message.pk, delivery=Delivery.SENDING, delivery_attempts=attempt
        ).update(delivery=Delivery.FAILED, delivery_error=reason[:2000], next_attempt_at=None)
        if updated:
            _emit(message, Delivery.FAILED, attempts=attempt, error=reason[:300])
    return Outcome("failed" if updated else "skipped", error=reason)


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based)."""
    delay = float(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])
    if retry_after is not None and retry_after > delay:
        delay = min(float(retry_after), float(MAX_RETRY_AFTER_SECONDS))
    return delay


def _later(
    message: Message, attempt: int, reason: str, retry_after: float | None, now: datetime
) -> Outcome:
    if attempt >= MAX_ATTEMPTS:
        return _failed(
            message,
            attempt,
            _("%(reason)s (gave up after %(n)d attempts)") % {"reason": reason, "n": attempt},
        )
    # From the end of this attempt (or the sweeper's clock, when it runs ahead in tests).
    when = max(now, timezone.now()) + timedelta(seconds=retry_delay(attempt, retry_after))
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=message.pk, delivery=Delivery.SENDING, delivery_attempts=attempt
        ).update(delivery=Delivery.QUEUED, delivery_error=reason[:2000], next_attempt_at=when)
        if updated:
            _emit(
                message,
                Delivery.QUEUED,
                attempts=attempt,
                error=reason[:300],
                next_attempt_at=when.isoformat(),
            )
            transaction.on_commit(lambda: _enqueue(message.pk, run_after=when))
    return Outcome("retry" if updated else "skipped", error=reason, next_attempt_at=when)


def delivery_retry_due(now: datetime | None = None, *, limit: int = SWEEP_LIMIT) -> int:
    """The sweeper: requeue replies whose worker died mid-send (lease run out), then deliver
    the queued ones that are due. Returns how many attempts it made."""
    now = now or timezone.now()
    stuck = list(
        Message.objects.filter(
            direction=Direction.OUTBOUND, delivery=Delivery.SENDING, next_attempt_at__lte=now
        ).values_list("pk", "delivery_attempts")[:limit]
    )
    for pk, attempts in stuck:
        with transaction.atomic():
            message = Message.objects.filter(pk=pk).first()
            if message is None:
                continue
            if attempts >= MAX_ATTEMPTS:
                reason = _(
                    "The delivery was interrupted %(n)d times; it may or may not have been "
                    "posted. Check the conversation on the platform before retrying."
                ) % {"n": attempts}
                state = Delivery.FAILED
            else:
                reason = _("The previous attempt was interrupted; trying again.")
                state = Delivery.QUEUED
            updated = Message.objects.filter(
                pk=pk, delivery=Delivery.SENDING, delivery_attempts=attempts
            ).update(
                delivery=state,
                delivery_error=reason,
                next_attempt_at=now if state == Delivery.QUEUED else None,
            )
            if updated:
                _emit(message, state, attempts=attempts, error=reason)
    due = list(
        Message.objects.filter(direction=Direction.OUTBOUND, delivery=Delivery.QUEUED)
        .filter(_due(now))
        .order_by(F("next_attempt_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:limit]
    )
    attempted = 0
    for pk in due:
        if deliver(message_id=pk, now=now).state != "skipped":
            attempted += 1
    return attempted


def delivery_retry(*, message_id: int, user) -> Message:
    """An agent sends a failed reply again (its author, or a care manager)."""
    message = (
        Message.objects.select_related("conversation")
        .filter(pk=message_id, direction=Direction.OUTBOUND)
        .first()
    )
    if message is None:
        raise Message.DoesNotExist(_("No such reply."))
    if not user_has_permission(user, Perm.CARE_INBOX):
        raise PermissionDenied(_("You cannot send replies."))
    if message.author_user_id != user.pk and not user_has_permission(user, Perm.CARE_MANAGE):
        raise PermissionDenied(_("Only the reply's author or a care manager can retry it."))
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, delivery=Delivery.FAILED).update(
            delivery=Delivery.QUEUED, delivery_attempts=0, delivery_error="", next_attempt_at=None
        )
        if not updated:
            raise ValidationError(
                {
                    "delivery": [
                        _("Only a failed reply can be retried (this one is %(state)s).")
                        % {"state": Message.objects.get(pk=message.pk).delivery}
                    ]
                }
            )
        events.emit(
            "message.delivery",
            conversation_id=message.conversation_id,
            user_id=user.pk,
            data={"message_id": message.pk, "delivery": Delivery.QUEUED, "retried_by": user.pk},
        )
        delivery_enqueue(message_id=message.pk)
    message.refresh_from_db()
    return message
