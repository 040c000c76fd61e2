"""Reads the pages need that the community core's contract does not offer (yet). Each one is
small, named for its page, and filtered the same way the core filters (``community.access``).
Candidates to move into ``selectors.py`` — see the community-ui report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from apiary.community import access
from apiary.community.models import Attachment, Post, Space, SpaceInvitation
from apiary.community.services._common import digest


@dataclass(frozen=True)
class InvitationPreview:
    """What the invitation page may say about a link: ``usable``, ``expired``, ``used_up``,
    ``revoked`` or ``unknown``. Only someone holding a real token learns its space and state;
    a guessed token is ``unknown``, like a missing page."""

    status: str
    space: Space | None = None
    role: str = ""
    expires_at: datetime | None = None
    email_bound: bool = False


def invitation_preview(*, token: str) -> InvitationPreview:
    token = (token or "").strip()
    if not token or len(token) > 200:
        return InvitationPreview("unknown")
    invitation = (
        SpaceInvitation.objects.select_related("space").filter(digest=digest(token)).first()
    )
    if invitation is None:
        return InvitationPreview("unknown")
    from django.utils import timezone

    if invitation.revoked_at is not None:
        status = "revoked"
    elif invitation.expires_at is not None and invitation.expires_at <= timezone.now():
        status = "expired"
    elif invitation.max_uses is not None and invitation.uses_count >= invitation.max_uses:
        status = "used_up"
    else:
        status = "usable"
    return InvitationPreview(
        status,
        space=invitation.space,
        role=invitation.role,
        expires_at=invitation.expires_at,
        email_bound=bool(invitation.email),
    )


def space_tree(*, user) -> list[dict]:
    """The home page's directory: top-level spaces (``selectors.space_list``) with the
    sub-spaces whose existence the viewer may know, in two queries whatever the tree's size."""
    from apiary.community import selectors

    cards = selectors.space_list(user=user)
    children: dict[int, list[Space]] = {}
    subs = (
        access.space_visible_queryset(user)
        .filter(parent__isnull=False, archived_at__isnull=True)
        .order_by("name")
    )
    for child in subs:
        children.setdefault(child.parent_id, []).append(child)
    return [
        {"space": card.space, "card": card, "children": children.get(card.space.pk, [])}
        for card in cards
    ]


def attachment_older_versions(*, post: Post) -> list[Attachment]:
    """Superseded versions of a document's files (``selectors.post_detail`` lists the current
    ones). Call only with a post from ``access.post_for_view``: the files share its access."""
    return list(
        Attachment.objects.filter(post=post, superseded_at__isnull=False).order_by("-version")
    )
