"""Moderation pages under /community/moderation/: the queue (with statistics), an item's page,
the decisions (htmx swaps the item in place; without JavaScript the form posts and comes back),
lifting a suspension, the settings, and the flag form members use on posts and comments.

Views only translate HTTP: reads through ``moderation.selectors`` / ``moderation.access``, writes
through ``moderation.services`` (flags through ``community.services.flag_create``). Every POST
goes through Django's CSRF check.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apiary.community import access as community_access
from apiary.community import services as community_services
from apiary.community.models import FlagReason
from apiary.community.views import community_view, htmx_aware, paginate, safe_next, show_errors
from apiary.moderation import access, selectors, services
from apiary.moderation.forms import ActionForm, FlagForm, QueueFilterForm, SettingsForm
from apiary.moderation.models import ItemReason, ItemState

# --- the queue --------------------------------------------------------------------------------


@login_required
@community_view
def queue_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    access.require_queue(user)
    form = QueueFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    state = data.get("state", ItemState.PENDING) if request.GET else ItemState.PENDING
    space = access.space_filter_for(user=user, slug=data.get("space") or "")
    items = selectors.queue_list(
        user=user, state=state or None, reason=data.get("reason") or None, space=space
    )
    page = paginate(request, items)
    days = int(data.get("days") or 30)
    now = timezone.now()
    figures = selectors.stats(user=user, space=space, since=now - timedelta(days=days), until=now)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "moderation/queue.html",
        {
            "form": form,
            "items": selectors.queue_page(page.object_list),
            "page_obj": page,
            "query_prefix": f"{query.urlencode()}&" if query else "",
            "counts": selectors.queue_counts(user=user),
            "spaces": selectors.queue_spaces(user=user),
            "chosen": {"state": state, "reason": data.get("reason") or "", "space": space},
            "states": ItemState.choices,
            "reasons": ItemReason.choices,
            "stats": figures,
            "days": days,
            "suspended": list(selectors.sanction_list(user=user, active_only=True)[:20]),
            "can_configure_global": access.can_configure(user=user),
            "section": "community",
        },
    )


@login_required
@community_view
def item_view(request: HttpRequest, item_id: int) -> HttpResponse:
    user = request.user
    item = access.item_for_moderation(user=user, item_id=item_id)
    return render(
        request,
        "moderation/item.html",
        {
            "actions": selectors.item_actions(item),
            "item": selectors.queue_page([item])[0],
            "section": "community",
        },
    )


@require_POST
@login_required
@community_view
def item_action_view(request: HttpRequest, item_id: int, action: str) -> HttpResponse:
    user = request.user
    if action not in services.ITEM_ACTIONS:
        raise Http404
    item = access.item_for_moderation(user=user, item_id=item_id)
    form = ActionForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "; ".join(str(m) for msgs in form.errors.values() for m in msgs)
    else:
        try:
            item = services.item_act(
                actor=user,
                item=item,
                action=action,
                note=form.cleaned_data.get("note") or "",
                days=form.cleaned_data.get("days") or None,
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    done = {
        "approve": _("Approved."),
        "dismiss": _("Flags dismissed."),
        "remove": _("Removed."),
        "restore": _("Restored."),
        "warn": _("Warning sent."),
        "suspend": _("Member suspended."),
    }[action]
    if request.htmx:
        fresh = access.item_for_moderation(user=user, item_id=item.pk)
        response = render(
            request,
            "moderation/_item.html",
            {
                "item": selectors.queue_page([fresh])[0],
                "flash": error or done,
                "flash_error": bool(error),
                "next": safe_next(request, reverse("moderation:queue")),
            },
            status=400 if error else 200,
        )
        return htmx_aware(response)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect(safe_next(request, reverse("moderation:queue")))


@require_POST
@login_required
@community_view
def sanction_lift_view(request: HttpRequest, sanction_id: int) -> HttpResponse:
    user = request.user
    access.require_queue(user)
    sanction = (
        selectors.sanction_list(user=user, active_only=True)
        .filter(pk=sanction_id)
        .select_related("user")
        .first()
    )
    if sanction is None:
        raise Http404
    try:
        services.member_unsuspend(actor=user, sanction=sanction, note=request.POST.get("note", ""))
    except ValidationError as exc:
        show_errors(request, exc)
    else:
        messages.success(request, _("Suspension lifted."))
    return redirect(safe_next(request, reverse("moderation:queue")))


# --- settings ---------------------------------------------------------------------------------


@login_required
@community_view
def settings_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    slug = request.GET.get("space") or request.POST.get("space") or ""
    space = None
    if slug:
        space = community_access.space_for_manage(user=user, slug=slug)
    elif not access.can_configure(user=user):
        access.require_queue(user)  # 403 for non-moderators, then the same for non-staff
        raise community_access.NotAvailable(
            community_access.forbidden(_("Only staff community managers can change this."))
        )
    row = selectors.settings_row(space=space)
    initial = {name: getattr(row, name) for name in selectors.FIELDS} if row else {}
    form = SettingsForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.settings_update(actor=user, space=space, **form.cleaned_data)
            except ValidationError as exc:
                for field, msgs in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, msgs)
            else:
                messages.success(request, _("Saved."))
                url = reverse("moderation:settings")
                return redirect(f"{url}?space={space.slug}" if space else url)
    return render(
        request,
        "moderation/settings.html",
        {
            "form": form,
            "space": space,
            "effective": selectors.moderation_settings(space=space),
            "section": "community",
        },
        status=status,
    )


# --- flags (members) --------------------------------------------------------------------------


@login_required
@community_view
def flag_view(request: HttpRequest) -> HttpResponse:
    """GET: the flag form on its own page (linked from posts without JavaScript); POST: flag."""
    user = request.user
    source = request.POST if request.method == "POST" else request.GET
    form = FlagForm(source if request.method == "POST" else None, initial=source.dict())
    post = comment = None
    try:
        if source.get("comment"):
            comment = community_access.comment_for_view(user=user, comment_id=source["comment"])
            post = comment.post
        else:
            post = community_access.post_for_view(user=user, post_id=source.get("post"))
    except (ValueError, TypeError):
        raise Http404 from None
    back = reverse("community:post", args=[post.pk]) + (f"#comment-{comment.pk}" if comment else "")
    if request.method == "POST":
        if form.is_valid():
            try:
                community_services.flag_create(
                    user=user,
                    reason=form.cleaned_data["reason"],
                    note=form.cleaned_data["note"],
                    post=None if comment else post,
                    comment=comment,
                )
            except ValidationError as exc:
                show_errors(request, exc)
            else:
                messages.success(request, _("Thank you. Moderators will take a look."))
                return redirect(back)
        else:
            messages.error(request, _("Choose why you flag this."))
    if request.method == "GET" and request.htmx:
        # The topic page's "Flag" link asks for the form in place of itself.
        return htmx_aware(
            render(
                request,
                "moderation/_flag_form.html",
                {"target_post": post, "target_comment": comment, "open": True},
            )
        )
    return htmx_aware(
        render(
            request,
            "moderation/flag.html",
            {
                "form": form,
                "post": post,
                "comment": comment,
                "reasons": FlagReason.choices,
                "back": back,
                "section": "community",
            },
            status=400 if request.method == "POST" else 200,
        )
    )
