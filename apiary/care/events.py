"""The live feed of the inbox: append one ``InboxEvent`` per change (see ``models``).

Call ``emit`` inside the transaction that makes the change, so an event exists exactly when the
change does; readers (the SSE stream, htmx pollers) read ``id > last seen``. Keep ``data`` small
and free of message text: who may see what is decided when the event is read, through
``access``, never by what the event carries.
"""

from __future__ import annotations

from django.utils import timezone

from .models import InboxEvent

KINDS = frozenset(
    {
        "conversation.created",
        "conversation.updated",
        "message.created",
        "message.delivery",
        "presence",
        "sla.breached",
    }
)


def emit(kind: str, *, conversation_id: int | None = None, user_id: int | None = None, data=None):
    if kind not in KINDS:
        raise ValueError(f"unknown inbox event kind {kind!r}")
    return InboxEvent.objects.create(
        kind=kind,
        conversation_id=conversation_id,
        user_id=user_id,
        data=data or {},
        at=timezone.now(),
    )


def emit_many(rows: list[tuple[str, int | None, dict]]) -> None:
    """Bulk form for the ingest hook: ``[(kind, conversation_id, data), …]``."""
    now = timezone.now()
    for kind, _cid, _data in rows:
        if kind not in KINDS:
            raise ValueError(f"unknown inbox event kind {kind!r}")
    InboxEvent.objects.bulk_create(
        [InboxEvent(kind=k, conversation_id=c, data=d or {}, at=now) for k, c, d in rows]
    )
