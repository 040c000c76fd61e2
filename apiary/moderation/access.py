"""Who may use the moderation queue: the one place that decides it.

- Staff community managers (and administrators) see every item.
- Space owners and moderators see the items of the spaces they moderate, nothing else: an item of
  another space answers 404, as if it did not exist (its title would leak otherwise).
- Everyone else gets 403 on the queue page and API (the queue's existence is not secret).

Built on ``community.access`` (memberships cached per request), so filtering costs no extra query.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from apiary.community import access as community_access
from apiary.community.models import SpaceRole
from apiary.moderation.models import ModerationItem


def moderated_space_ids(user) -> list[int] | None:
    """Spaces whose queue the user works; None means all of them (staff managers)."""
    if community_access.is_manager(user):
        return None
    return community_access._space_ids(user, roles=(SpaceRole.OWNER, SpaceRole.MODERATOR))


def can_use_queue(user) -> bool:
    ids = moderated_space_ids(user)
    return ids is None or bool(ids)


def require_queue(user) -> None:
    """403 for anyone who moderates nothing."""
    if not can_use_queue(user):
        raise PermissionDenied(_("Only moderators can open the moderation queue."))


def items_visible(user, qs: QuerySet | None = None) -> QuerySet:
    qs = ModerationItem.objects.all() if qs is None else qs
    ids = moderated_space_ids(user)
    return qs if ids is None else qs.filter(space_id__in=ids)


def item_for_moderation(*, user, item_id) -> ModerationItem:
    """The item, when the user moderates its space; 403 for non-moderators, 404 otherwise."""
    require_queue(user)
    try:
        return (
            items_visible(user)
            .select_related(
                "space", "post", "post__space", "comment", "comment__post", "author", "resolved_by"
            )
            .get(pk=int(item_id))
        )
    except (ModerationItem.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def can_moderate_space(*, user, space) -> bool:
    return community_access.can_moderate(user=user, space=space)


def space_filter_for(*, user, slug: str | None):
    """The space a queue, statistics or audit filter names, or None for no filter. A space the
    user does not moderate answers 404, like one that does not exist (pages and API alike)."""
    if not slug:
        return None
    from apiary.community.models import Space

    space = Space.objects.filter(slug=slug).first()
    if space is None or not can_moderate_space(user=user, space=space):
        raise Http404
    return space


def can_configure(*, user, space=None) -> bool:
    """Settings: community-wide by staff managers, per space by its owners and staff managers."""
    if space is None:
        return community_access.is_manager(user)
    return community_access.can_administer_space(user=user, space=space)


def can_sanction_globally(user) -> bool:
    """A suspension from the whole community is a staff decision."""
    return community_access.is_manager(user)
