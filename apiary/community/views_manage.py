"""Joining and running a space: join / request membership / leave, the members page with the
moderators' tools (approve requests, set roles, invitation links) and the invitation page.

Spaces are read with ``access.space_for_join`` (existence only: the not-available page's
"request membership" button posts here), ``space_for_moderation`` and ``space_for_manage``; the
services check the same rules again."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apiary.community import access, selectors, services, views_support
from apiary.community.forms import InvitationForm
from apiary.community.models import MembershipState, SpaceRole
from apiary.community.views import community_view, safe_next, show_errors


def _space_url(space) -> str:
    return reverse("community:space", args=[space.slug])


@require_POST
@community_view
def space_join_view(request: HttpRequest, slug: str) -> HttpResponse:
    user = request.user
    space = access.space_for_join(user=user, slug=slug)
    if not user.is_authenticated:
        return redirect(f"{reverse('accounts:login')}?next={_space_url(space)}")
    try:
        membership = services.space_join(
            user=user, space=space, note=(request.POST.get("note") or "")[:500]
        )
    except ValidationError as exc:
        show_errors(request, exc)
        return redirect(safe_next(request, _space_url(space)))
    if membership.state == MembershipState.ACTIVE:
        messages.success(request, _("Welcome to %(space)s!") % {"space": space.name})
    else:
        messages.success(
            request,
            _("Your request to join %(space)s was sent to its moderators.") % {"space": space.name},
        )
    return redirect(safe_next(request, _space_url(space)))


@require_POST
@community_view
def space_leave_view(request: HttpRequest, slug: str) -> HttpResponse:
    user = request.user
    space = access.space_for_join(user=user, slug=slug)
    if not user.is_authenticated:
        raise Http404
    try:
        services.space_leave(user=user, space=space)
    except ValidationError as exc:
        show_errors(request, exc)
    else:
        messages.success(request, _("You left %(space)s.") % {"space": space.name})
        if not access.space_exists_for(user, space):
            return redirect("community:home")  # a secret space is gone from view
    return redirect(_space_url(space))


@community_view
def members_view(request: HttpRequest, slug: str) -> HttpResponse:
    user = request.user
    space = access.space_for_moderation(user=user, slug=slug)
    can_admin = access.can_administer_space(user=user, space=space)
    memberships = list(selectors.membership_list(actor=user, space=space))
    invitations = list(selectors.invitation_list(actor=user, space=space)) if can_admin else []
    new_invite = request.session.pop(f"community_invite_{space.pk}", None)
    return render(
        request,
        "community/members.html",
        {
            "space": space,
            "active": [m for m in memberships if m.state == MembershipState.ACTIVE],
            "pending": [m for m in memberships if m.state == MembershipState.PENDING],
            "banned": [m for m in memberships if m.state == MembershipState.BANNED],
            "invitations": invitations,
            "new_invite_url": (
                request.build_absolute_uri(reverse("community:invite", args=[new_invite]))
                if new_invite
                else ""
            ),
            "invite_form": InvitationForm(),
            "roles": SpaceRole.choices,
            "can_admin": can_admin,
            "now": timezone.now(),
            "section": "community",
        },
    )


def _member_of(actor, space, user_id: int):
    """The membership row of ``user_id`` in the space, from the moderators' list."""
    for membership in selectors.membership_list(actor=actor, space=space):
        if membership.user_id == user_id:
            return membership
    raise Http404


@require_POST
@community_view
def member_role_view(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    actor = request.user
    space = access.space_for_moderation(user=actor, slug=slug)
    membership = _member_of(actor, space, user_id)
    action = request.POST.get("action", "role")
    try:
        if action == "ban":
            services.membership_ban(actor=actor, space=space, user=membership.user)
        elif action == "unban":
            services.membership_unban(actor=actor, space=space, user=membership.user)
        elif action == "remove":
            services.membership_remove(actor=actor, space=space, user=membership.user)
        else:
            services.membership_role_set(
                actor=actor, space=space, user=membership.user, role=request.POST.get("role", "")
            )
    except ValidationError as exc:
        show_errors(request, exc)
    else:
        messages.success(request, _("Saved."))
    return redirect("community:members", slug=space.slug)


@require_POST
@community_view
def request_decide_view(
    request: HttpRequest, slug: str, request_id: int, decision: str
) -> HttpResponse:
    actor = request.user
    space = access.space_for_moderation(user=actor, slug=slug)
    pending = selectors.membership_list(actor=actor, space=space, state=MembershipState.PENDING)
    membership = next((m for m in pending if m.pk == request_id), None)
    if membership is None or decision not in ("approve", "reject"):
        raise Http404
    try:
        if decision == "approve":
            services.membership_approve(actor=actor, membership=membership)
            name = membership.user.name
            messages.success(request, _("%(name)s is now a member.") % {"name": name})
        else:
            services.membership_reject(actor=actor, membership=membership)
            messages.success(request, _("Request declined."))
    except ValidationError as exc:
        show_errors(request, exc)
    return redirect("community:members", slug=space.slug)


@require_POST
@community_view
def invitation_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    actor = request.user
    space = access.space_for_manage(user=actor, slug=slug)
    form = InvitationForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("community:members", slug=space.slug)
    data = form.cleaned_data
    try:
        _invitation, token = services.invitation_create(
            actor=actor,
            space=space,
            role=data["role"],
            max_uses=form.max_uses_value(),
            expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
            email=data.get("email") or "",
            note=data.get("note") or "",
        )
    except ValidationError as exc:
        show_errors(request, exc)
    else:
        # The raw token is shown once (only its digest is stored), on the page we redirect to.
        request.session[f"community_invite_{space.pk}"] = token
        messages.success(request, _("Invitation link created. Copy it now; it is shown once."))
    return redirect("community:members", slug=space.slug)


@require_POST
@community_view
def invitation_revoke_view(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    actor = request.user
    space = access.space_for_manage(user=actor, slug=slug)
    invitation = next(
        (i for i in selectors.invitation_list(actor=actor, space=space) if i.pk == invitation_id),
        None,
    )
    if invitation is None:
        raise Http404
    services.invitation_revoke(actor=actor, invitation=invitation)
    messages.success(request, _("Invitation revoked."))
    return redirect("community:members", slug=space.slug)


@community_view
def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET explains the link (valid, expired, used up, revoked); POST accepts it."""
    user = request.user
    preview = views_support.invitation_preview(token=token)
    status = 200 if preview.status == "usable" else 410 if preview.status != "unknown" else 404
    error = ""
    if request.method == "POST" and user.is_authenticated:
        try:
            membership = services.invitation_accept(user=user, token=token)
        except ValidationError as exc:
            error = " ".join(exc.messages)
            status = 400
        else:
            messages.success(request, _("Welcome to %(space)s!") % {"space": membership.space.name})
            return redirect("community:space", slug=membership.space.slug)
    return render(
        request,
        "community/invitation.html",
        {"preview": preview, "error": error, "token": token, "section": "community"},
        status=status,
    )
