"""Care's plug-ins into other apps (imported from ``CareConfig.ready``):

- the listening ``after_store`` hook that opens or joins conversations for newly stored
  mentions (``intake.conversations_ingest``; inside the storage transaction, a few queries per
  batch, idempotent when a batch is handed over twice);
- "Open conversation" on the mention detail page (a POST to ``care:open``);
- the customer timeline kind ``conversation`` and the privacy export / erasure of
  conversations.
"""

from __future__ import annotations

import logging

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from apiary.accounts.access import Perm
from apiary.customers import timeline
from apiary.customers.services.privacy import register_eraser, register_exporter
from apiary.listening.actions import register_mention_action
from apiary.listening.consumer import register_after_store

logger = logging.getLogger(__name__)


def open_conversations_after_store(enriched, result) -> None:
    """Newly stored mentions → conversations, by the inbox rules and by thread."""
    if not result.ids:
        return
    from .intake import conversations_ingest, incoming_from_enriched

    items = []
    for e in enriched:
        mention_id = result.ids.get(e.raw.key)
        if mention_id is not None:  # only rows this batch inserted
            items.append(incoming_from_enriched(e, mention_id))
    if items:
        conversations_ingest(items)


register_after_store(open_conversations_after_store)


def _open_url(mention) -> str | None:
    try:
        return reverse("care:open", args=[mention.pk])
    except NoReverseMatch:
        return None  # the inbox pages are not installed: no button


register_mention_action(
    "care.open_conversation",
    label=_("Open conversation"),
    url=_open_url,
    method="post",
    permission=Perm.CARE_INBOX,
    order=10,
)


def _conversation_url(pk: int) -> str:
    try:
        return reverse("care:conversation", args=[pk])
    except NoReverseMatch:
        return ""


@timeline.register("conversation", label=_("Support conversations"))
def _conversation_events(*, customer_ids, before, limit):
    from .models import Conversation

    qs = Conversation.objects.filter(customer_id__in=customer_ids).order_by("-created_at", "-pk")
    if before is not None:
        qs = qs.filter(created_at__lt=before)
    for c in qs.only(
        "id", "platform", "subject", "status", "priority", "created_at", "first_response_at"
    )[:limit]:
        yield timeline.TimelineEvent(
            kind="conversation",
            at=c.created_at,
            title=_("Support conversation on %(platform)s (%(status)s)")
            % {"platform": c.platform, "status": c.get_status_display()},
            body=c.subject,
            url=_conversation_url(c.pk),
            ref=f"conversation:{c.pk}",
            data={"status": c.status, "priority": c.priority},
        )


@register_exporter("care_conversations")
def _export_conversations(*, customer, customer_ids):
    from .models import Conversation, Direction

    out = []
    for c in (
        Conversation.objects.filter(customer_id__in=customer_ids)
        .prefetch_related("messages")
        .order_by("created_at")
    ):
        out.append(
            {
                "platform": c.platform,
                "opened_at": c.created_at.isoformat(),
                "status": c.status,
                "author_handle": c.author_handle,
                "author_name": c.author_name,
                "messages": [
                    {
                        "direction": m.direction,
                        "at": m.created_at.isoformat(),
                        "text": m.text,
                    }
                    for m in c.messages.all()
                    # Internal notes are staff's working notes about the case, not the
                    # customer's data; they are erased with it but not handed out.
                    if m.direction != Direction.NOTE
                ],
            }
        )
    return out


@register_eraser
def _erase_conversations(*, customer, customer_ids, actor):
    """Keep the conversations (the SLA figures stay true) but nothing that says who it was:
    unlink, blank the author, and replace every message text."""
    from .models import Conversation, Message

    ids = list(
        Conversation.objects.filter(customer_id__in=customer_ids).values_list("pk", flat=True)
    )
    Message.objects.filter(conversation_id__in=ids).update(text="[erased]", mentioned_user_ids=[])
    Conversation.objects.filter(pk__in=ids).update(
        customer=None,
        subject="[erased]",
        author_handle="",
        author_name="",
        author_url="",
        author_followers=None,
        country="",
    )
