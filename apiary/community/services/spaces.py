"""Spaces, memberships and invitations."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apiary.community import access
from apiary.community.models import (
    VISIBILITY_ORDER,
    JoinPolicy,
    MembershipState,
    Space,
    SpaceInvitation,
    SpaceMembership,
    SpaceRole,
    Visibility,
)
from apiary.community.services._common import activity_record, deny, digest, invalid, new_token

INVITATION_DAYS = 7
SPACE_FIELDS = (
    "name",
    "description",
    "visibility",
    "join_policy",
    "language",
    "is_partner",
    "members_only_posting",
    "contact_email",
)


def _validate_space(space: Space) -> None:
    if not (space.name or "").strip():
        invalid("name", _("A space needs a name."))
    if len(space.name) > 120:
        invalid("name", _("At most 120 characters."))
    if space.visibility not in Visibility.values:
        invalid("visibility", _("Unknown visibility."))
    if space.join_policy not in JoinPolicy.values:
        invalid("join_policy", _("Unknown joining rule."))
    if space.parent_id:
        parent = space.parent
        if parent.parent_id:
            invalid("parent", _("Spaces nest one level only."))
        if VISIBILITY_ORDER[space.visibility] < VISIBILITY_ORDER[parent.visibility]:
            invalid(
                "visibility",
                _("A sub-space cannot be more open than its parent space (%(v)s).")
                % {"v": parent.get_visibility_display()},
            )
    if space.visibility == Visibility.SECRET and space.join_policy == JoinPolicy.OPEN:
        # nobody can find a secret space to join it: members come by invitation
        space.join_policy = JoinPolicy.INVITATION


def _membership_set(*, space, user, role, state=MembershipState.ACTIVE, **extra):
    membership, created = SpaceMembership.objects.get_or_create(
        space=space, user=user, defaults={"role": role, "state": state, **extra}
    )
    was_active = not created and membership.state == MembershipState.ACTIVE
    if not created:
        membership.role = role
        membership.state = state
        for key, value in extra.items():
            setattr(membership, key, value)
        membership.updated_at = timezone.now()
        membership.save()
    now_active = state == MembershipState.ACTIVE
    if now_active and not was_active:
        Space.objects.filter(pk=space.pk).update(members_count=F("members_count") + 1)
    elif was_active and not now_active:
        Space.objects.filter(pk=space.pk).update(members_count=F("members_count") - 1)
    access.memberships_forget(user)
    return membership


@transaction.atomic
def space_create(
    *,
    actor,
    name: str,
    slug: str = "",
    description: str = "",
    visibility: str = Visibility.PUBLIC,
    join_policy: str = JoinPolicy.OPEN,
    parent: Space | None = None,
    language: str = "",
    is_partner: bool = False,
    members_only_posting: bool = False,
    contact_email: str = "",
) -> Space:
    """Staff community managers create spaces; owners of a space create its sub-spaces.
    The creator becomes the space's owner."""
    if parent is not None:
        if not access.can_administer_space(user=actor, space=parent):
            deny(_("Only the space's owners can add sub-spaces."), space=parent)
    elif not access.is_manager(actor):
        deny(_("Only community managers can create spaces."))
    slug = slugify(slug or name)[:80]
    if not slug:
        invalid("slug", _("Give the space an address of letters and digits."))
    if Space.objects.filter(slug=slug).exists():
        invalid("slug", _("Another space already uses this address."))
    space = Space(
        name=(name or "").strip(),
        slug=slug,
        description=description,
        visibility=visibility,
        join_policy=join_policy,
        parent=parent,
        language=language,
        is_partner=is_partner,
        members_only_posting=members_only_posting,
        contact_email=contact_email,
        created_by=actor,
    )
    _validate_space(space)
    space.save()
    _membership_set(space=space, user=actor, role=SpaceRole.OWNER)
    space.refresh_from_db()
    activity_record(kind="space.create", user=actor, space_id=space.pk)
    return space


@transaction.atomic
def space_update(*, actor, space: Space, **fields) -> Space:
    if not access.can_administer_space(user=actor, space=space):
        deny(_("Only the space's owners can change it."), space=space)
    unknown = set(fields) - set(SPACE_FIELDS)
    if unknown:
        invalid(sorted(unknown)[0], _("This field cannot be changed here."))
    for key, value in fields.items():
        setattr(space, key, value)
    _validate_space(space)
    for child in space.children.all():
        if VISIBILITY_ORDER[child.visibility] < VISIBILITY_ORDER[space.visibility]:
            invalid(
                "visibility",
                _("Sub-space “%(name)s” is more open; change it first.") % {"name": child.name},
            )
    space.save()
    activity_record(
        kind="space.update", user=actor, space_id=space.pk, data={"fields": list(fields)}
    )
    return space


def space_archive(*, actor, space: Space, archived: bool = True) -> Space:
    if not access.can_administer_space(user=actor, space=space):
        deny(_("Only the space's owners can archive it."), space=space)
    space.archived_at = timezone.now() if archived else None
    space.save(update_fields=["archived_at"])
    return space


@transaction.atomic
def space_join(*, user, space: Space, note: str = "") -> SpaceMembership:
    """Open spaces: join at once. Request spaces: a pending request. Invitation-only: refused."""
    if not access.is_authenticated(user):
        deny(_("Log in to join a space."), space=space, reason="login_required")
    if not access.space_exists_for(user, space):
        from django.http import Http404

        raise Http404
    found = access.membership_state(user, space)
    if found:
        _role, state = found
        if state == MembershipState.BANNED:
            deny(_("You cannot take part in this space."), space=space, reason="banned")
        return SpaceMembership.objects.get(space=space, user=user)
    if space.is_archived:
        deny(_("This space is archived."), space=space, reason="archived")
    if space.join_policy == JoinPolicy.INVITATION:
        deny(
            _("This space is by invitation only. Contact the space administrator."),
            space=space,
            reason="invitation_only",
        )
    open_join = space.join_policy == JoinPolicy.OPEN and space.visibility in (
        Visibility.PUBLIC,
        Visibility.REGISTERED,
    )
    state = MembershipState.ACTIVE if open_join else MembershipState.PENDING
    membership = _membership_set(
        space=space, user=user, role=SpaceRole.MEMBER, state=state, request_note=note[:500]
    )
    activity_record(
        kind="space.join" if open_join else "space.request", user=user, space_id=space.pk
    )
    if not open_join:
        from apiary.community.services.social import notify

        moderators = SpaceMembership.objects.filter(
            space=space,
            state=MembershipState.ACTIVE,
            role__in=[SpaceRole.OWNER, SpaceRole.MODERATOR],
        ).values_list("user_id", flat=True)
        notify(kind="membership_request", recipient_ids=list(moderators), actor=user, space=space)
    return membership


@transaction.atomic
def space_leave(*, user, space: Space) -> None:
    membership = SpaceMembership.objects.filter(space=space, user=user).first()
    if membership is None or membership.state == MembershipState.BANNED:
        return  # a ban is not lifted by leaving
    if membership.role == SpaceRole.OWNER and membership.state == MembershipState.ACTIVE:
        owners = SpaceMembership.objects.filter(
            space=space, role=SpaceRole.OWNER, state=MembershipState.ACTIVE
        ).count()
        if owners <= 1:
            invalid("user", _("The last owner cannot leave; make someone else owner first."))
    if membership.state == MembershipState.ACTIVE:
        Space.objects.filter(pk=space.pk).update(members_count=F("members_count") - 1)
    membership.delete()
    access.memberships_forget(user)
    activity_record(kind="space.leave", user=user, space_id=space.pk)


def _require_moderator(actor, space):
    if not access.can_moderate(user=actor, space=space):
        deny(_("Only the space's moderators can do this."), space=space)


@transaction.atomic
def membership_approve(*, actor, membership: SpaceMembership) -> SpaceMembership:
    _require_moderator(actor, membership.space)
    if membership.state != MembershipState.PENDING:
        invalid("membership", _("This request was already decided."))
    membership = _membership_set(
        space=membership.space,
        user=membership.user,
        role=membership.role,
        state=MembershipState.ACTIVE,
        decided_by=actor,
    )
    from apiary.community.services.social import notify

    notify(
        kind="membership", recipient_ids=[membership.user_id], actor=actor, space=membership.space
    )
    activity_record(kind="membership.approve", user=actor, space_id=membership.space_id)
    return membership


def membership_reject(*, actor, membership: SpaceMembership) -> None:
    _require_moderator(actor, membership.space)
    if membership.state != MembershipState.PENDING:
        invalid("membership", _("This request was already decided."))
    membership.delete()
    access.memberships_forget(membership.user)


@transaction.atomic
def membership_role_set(*, actor, space: Space, user, role: str) -> SpaceMembership:
    if role not in SpaceRole.values:
        invalid("role", _("Unknown role."))
    if not access.can_administer_space(user=actor, space=space):
        deny(_("Only the space's owners can change roles."), space=space)
    current = SpaceMembership.objects.filter(space=space, user=user).first()
    if current and current.role == SpaceRole.OWNER and role != SpaceRole.OWNER:
        owners = SpaceMembership.objects.filter(
            space=space, role=SpaceRole.OWNER, state=MembershipState.ACTIVE
        ).count()
        if owners <= 1:
            invalid("role", _("A space needs at least one owner."))
    membership = _membership_set(
        space=space, user=user, role=role, state=MembershipState.ACTIVE, decided_by=actor
    )
    activity_record(kind="membership.role", user=actor, space_id=space.pk, data={"role": role})
    return membership


@transaction.atomic
def membership_ban(*, actor, space: Space, user) -> SpaceMembership:
    _require_moderator(actor, space)
    if access.space_role(user, space) == SpaceRole.OWNER or access.is_manager(user):
        invalid("user", _("Owners and community managers cannot be banned."))
    return _membership_set(
        space=space,
        user=user,
        role=SpaceRole.MEMBER,
        state=MembershipState.BANNED,
        decided_by=actor,
    )


def membership_unban(*, actor, space: Space, user) -> None:
    _require_moderator(actor, space)
    SpaceMembership.objects.filter(space=space, user=user, state=MembershipState.BANNED).delete()
    access.memberships_forget(user)


@transaction.atomic
def membership_remove(*, actor, space: Space, user) -> None:
    _require_moderator(actor, space)
    membership = SpaceMembership.objects.filter(space=space, user=user).first()
    if membership is None:
        return
    if membership.role == SpaceRole.OWNER and not access.can_administer_space(
        user=actor, space=space
    ):
        deny(_("Only owners can remove an owner."), space=space)
    if membership.state == MembershipState.ACTIVE:
        Space.objects.filter(pk=space.pk).update(members_count=F("members_count") - 1)
    membership.delete()
    access.memberships_forget(user)


def invitation_create(
    *,
    actor,
    space: Space,
    role: str = SpaceRole.MEMBER,
    max_uses: int | None = 1,
    expires_at=None,
    email: str = "",
    note: str = "",
) -> tuple[SpaceInvitation, str]:
    """An invitation link (single-use by default; ``max_uses=None`` for a multi-use partner
    link). Returns the raw token once; only its digest is stored."""
    if not access.can_administer_space(user=actor, space=space):
        deny(_("Only the space's owners can invite."), space=space)
    if role not in (SpaceRole.MEMBER, SpaceRole.MODERATOR):
        invalid("role", _("Invitations make members or moderators."))
    if max_uses is not None and max_uses < 1:
        invalid("max_uses", _("At least one use."))
    now = timezone.now()
    expires_at = expires_at or now + timedelta(days=INVITATION_DAYS)
    if expires_at <= now:
        invalid("expires_at", _("The expiry must be in the future."))
    raw, prefix, token_digest = new_token("inv")
    invitation = SpaceInvitation.objects.create(
        space=space,
        prefix=prefix,
        digest=token_digest,
        role=role,
        email=(email or "").strip().lower(),
        note=note[:200],
        max_uses=max_uses,
        expires_at=expires_at,
        created_by=actor,
    )
    activity_record(kind="invitation.create", user=actor, space_id=space.pk)
    return invitation, raw


def invitation_revoke(*, actor, invitation: SpaceInvitation) -> SpaceInvitation:
    if not access.can_administer_space(user=actor, space=invitation.space):
        deny(_("Only the space's owners can revoke invitations."), space=invitation.space)
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


@transaction.atomic
def invitation_accept(*, user, token: str) -> SpaceMembership:
    """Join through an invitation link. Unknown, revoked, expired and used-up links all answer
    the same message, so a guessed token learns nothing."""
    if not access.is_authenticated(user):
        deny(_("Log in or register to accept the invitation."), reason="login_required")
    bad = _("This invitation link is not valid any more. Ask for a new one.")
    invitation = (
        SpaceInvitation.objects.select_for_update()
        .select_related("space")
        .filter(digest=digest((token or "").strip()))
        .first()
    )
    if invitation is None or not invitation.is_usable:
        invalid("token", bad)
    if invitation.email and invitation.email != user.email.lower():
        invalid("token", bad)
    space = invitation.space
    found = access.membership_state(user, space)
    if found and found[1] == MembershipState.BANNED:
        deny(_("You cannot take part in this space."), space=space, reason="banned")
    if found and found[1] == MembershipState.ACTIVE:
        return SpaceMembership.objects.get(space=space, user=user)  # no use consumed
    role = invitation.role
    try:
        membership = _membership_set(
            space=space, user=user, role=role, state=MembershipState.ACTIVE, invitation=invitation
        )
    except IntegrityError:  # pragma: no cover - concurrent double click
        membership = SpaceMembership.objects.get(space=space, user=user)
    SpaceInvitation.objects.filter(pk=invitation.pk).update(uses_count=F("uses_count") + 1)
    activity_record(kind="invitation.accept", user=user, space_id=space.pk)
    return membership
