"""The chokepoint for care data: each function fetches a conversation *and* checks that the user
may do this with it, so a new page or endpoint cannot forget the permission.

- ``conversation_for_view`` / ``conversation_for_reply``: ``care.inbox`` (every agent sees the
  whole inbox; there are no private queues).
- ``conversation_for_assign``: ``care.inbox`` to take a conversation or let go of one's own;
  ``care.manage`` to assign someone else or unassign a colleague.
- ``care_require(user, perm)``: for lists and for settings (policies, rules, agents).

Missing conversations are a 404 (``Http404``); a missing permission is ``PermissionDenied``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from apiary.accounts.access import Perm, user_has_permission

from .models import Conversation


def care_require(user, perm: Perm = Perm.CARE_INBOX) -> None:
    if not user_has_permission(user, perm):
        raise PermissionDenied


def _fetch(conversation_id) -> Conversation:
    try:
        pk = int(conversation_id)
    except (TypeError, ValueError):
        raise Http404 from None
    c = (
        Conversation.objects.select_related("assignee", "sla_policy", "customer")
        .filter(pk=pk)
        .first()
    )
    if c is None:
        raise Http404
    return c


def conversation_for_view(*, user, conversation_id) -> Conversation:
    care_require(user, Perm.CARE_INBOX)
    return _fetch(conversation_id)


def conversation_for_reply(*, user, conversation_id) -> Conversation:
    """Replies, notes, status and presence: any agent (collisions are the version's job)."""
    care_require(user, Perm.CARE_INBOX)
    return _fetch(conversation_id)


def conversation_for_assign(*, user, conversation_id, assignee_id) -> Conversation:
    care_require(user, Perm.CARE_INBOX)
    c = _fetch(conversation_id)
    if user_has_permission(user, Perm.CARE_MANAGE):
        return c
    taking = assignee_id == user.pk
    letting_go = assignee_id is None and c.assignee_id in (None, user.pk)
    if not (taking or letting_go):
        raise PermissionDenied
    return c


def mention_for_open(*, user, mention_id):
    """Opening a conversation from a mention: an agent, and a mention that exists."""
    from apiary.listening.models import Mention

    care_require(user, Perm.CARE_INBOX)
    if not Mention.objects.filter(pk=mention_id).exists():
        raise Http404
    return mention_id
