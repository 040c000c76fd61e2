"""Moderation API under /api/v1/community/moderation/…: thin handlers over ``moderation.access``,
``selectors`` and ``services``. Callers who moderate nothing get 403; an item of a space the
caller does not moderate answers 404, like a missing one."""

from datetime import datetime, timedelta
from typing import Literal

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from apiary.accounts.access import api_user
from apiary.accounts.models import User
from apiary.community.api import chokepoint
from apiary.community.models import Space
from apiary.core.errors import ApiError
from apiary.core.schemas import StrictIn
from apiary.moderation import access, selectors, services
from apiary.moderation.models import MemberSanction, ModerationAction, ModerationItem

router = Router(tags=["moderation"])

ReasonIn = Literal["flags", "first_post", "spam", "rate"]
StateIn = Literal["pending", "approved", "removed", "any"]


class QueueQuery(Schema):
    state: StateIn = "pending"
    reason: ReasonIn | None = None
    space: str | None = Field(None, max_length=80)
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class ActionIn(StrictIn):
    action: Literal["approve", "dismiss", "remove", "restore", "warn", "suspend"]
    note: str = Field("", max_length=1000)
    days: int | None = Field(7, ge=1, le=3650)  # suspend: None = until lifted


class SanctionIn(StrictIn):
    user_id: int
    kind: Literal["warn", "suspend"]
    space: str | None = Field(None, max_length=80)  # None: the whole community (staff)
    days: int | None = Field(7, ge=1, le=3650)
    note: str = Field("", max_length=1000)


class LiftIn(StrictIn):
    note: str = Field("", max_length=1000)


class StatsQuery(Schema):
    space: str | None = Field(None, max_length=80)
    days: int = Field(30, ge=1, le=3650)
    since: datetime | None = None
    until: datetime | None = None


class AuditQuery(Schema):
    space: str | None = Field(None, max_length=80)
    user_id: int | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


def _limited(name: str):
    """``None`` (inherit) or a number within ``services.SETTING_LIMITS[name]``."""
    low, high = services.SETTING_LIMITS[name]
    return Field(None, ge=low, le=high)


class SettingsPatch(StrictIn):
    flag_threshold: int | None = _limited("flag_threshold")
    first_post_hold: bool | None = None
    first_post_count: int | None = _limited("first_post_count")
    spam_check: bool | None = None
    posts_per_minute: int | None = _limited("posts_per_minute")
    posts_per_hour: int | None = _limited("posts_per_hour")
    comments_per_minute: int | None = _limited("comments_per_minute")
    comments_per_hour: int | None = _limited("comments_per_hour")


def _iso(dt):
    return dt.isoformat() if dt else None


def _person(user) -> dict | None:
    return None if user is None else {"id": user.pk, "name": user.name}


def _item_row(item: ModerationItem) -> dict:
    post, comment = item.target_post, item.target_comment
    history = item.history
    return {
        "id": item.pk,
        "space": item.space.slug,
        "reason": item.reason,
        "state": item.state,
        "target": {
            "type": "comment" if comment else "post",
            "post_id": post.pk,
            "comment_id": comment.pk if comment else None,
            "title": post.title,
            "text": comment.body if comment else post.body,
            "state": comment.state if comment else post.state,
        },
        "author": _person(item.author),
        "author_history": None
        if history is None
        else {
            "trust_level": history.trust_level,
            "suspended": history.suspended,
            "suspended_until": _iso(history.suspended_until),
            "removed_before": history.removed_count,
            "approved_before": history.approved_count,
            "sanctions": [
                {
                    "kind": s.kind,
                    "space": s.space.slug if s.space_id else None,
                    "at": _iso(s.created_at),
                    "until": _iso(s.until),
                    "lifted": s.lifted_at is not None,
                    "reason": s.reason,
                }
                for s in history.sanctions
            ],
        },
        "flags": [
            {
                "id": fv.flag.pk,
                "reason": fv.flag.reason,
                "note": fv.flag.note,
                "state": fv.flag.state,
                "by": _person(fv.flag.user),
                "trust_level": fv.trust_level,
                "weight": fv.weight,
                "at": _iso(fv.flag.created_at),
            }
            for fv in item.flag_views
        ],
        "flags_weight": item.flags_weight,
        "signals": item.signals,
        "hidden_by": item.hidden_by or None,
        "opened_at": _iso(item.opened_at),
        "hidden_at": _iso(item.hidden_at),
        "resolved_at": _iso(item.resolved_at),
        "resolved_by": _person(item.resolved_by),
        "handled_by_community": item.handled_by_community,
    }


def _action_row(a: ModerationAction) -> dict:
    return {
        "id": a.pk,
        "action": a.action,
        "actor": _person(a.actor),
        "item_id": a.item_id,
        "space_id": a.space_id,
        "target_user": _person(a.target_user),
        "post_id": a.post_id,
        "comment_id": a.comment_id,
        "note": a.note,
        "data": a.data,
        "at": _iso(a.at),
    }


def _sanction_row(s: MemberSanction) -> dict:
    return {
        "id": s.pk,
        "user": _person(s.user),
        "kind": s.kind,
        "space": s.space.slug if s.space_id else None,
        "until": _iso(s.until),
        "reason": s.reason,
        "by": _person(s.by),
        "created_at": _iso(s.created_at),
        "lifted_at": _iso(s.lifted_at),
        "active": s.is_active,
    }


def _fresh_row(user, item_id: int) -> dict:
    item = access.item_for_moderation(user=user, item_id=item_id)
    return _item_row(selectors.queue_page([item])[0])


@router.get("/community/moderation/items")
@chokepoint
def queue(request, q: Query[QueueQuery]):
    user = api_user(request)
    access.require_queue(user)
    qs = selectors.queue_list(
        user=user,
        state=None if q.state == "any" else q.state,
        reason=q.reason,
        space=access.space_filter_for(user=user, slug=q.space),
    )
    rows = selectors.queue_page(qs[q.offset : q.offset + q.limit])
    return {
        "items": [_item_row(i) for i in rows],
        "count": qs.count(),
        "limit": q.limit,
        "offset": q.offset,
        "pending_by_reason": selectors.queue_counts(user=user),
    }


@router.get("/community/moderation/items/{item_id}")
@chokepoint
def item_detail(request, item_id: int):
    user = api_user(request)
    item = access.item_for_moderation(user=user, item_id=item_id)
    row = _item_row(selectors.queue_page([item])[0])
    row["actions"] = [_action_row(a) for a in selectors.item_actions(item)]
    return row


@router.post("/community/moderation/items/{item_id}/actions")
@chokepoint
def item_action(request, item_id: int, payload: ActionIn):
    user = api_user(request)
    item = access.item_for_moderation(user=user, item_id=item_id)
    services.item_act(
        actor=user, item=item, action=payload.action, note=payload.note, days=payload.days
    )
    return _fresh_row(user, item.pk)


@router.get("/community/moderation/stats")
@chokepoint
def stats(request, q: Query[StatsQuery]):
    user = api_user(request)
    access.require_queue(user)
    until = q.until or timezone.now()
    since = q.since or until - timedelta(days=q.days)
    if since >= until:
        raise ApiError(422, "validation_error", _("'since' must be before 'until'."))
    s = selectors.stats(
        user=user, space=access.space_filter_for(user=user, slug=q.space), since=since, until=until
    )
    return {
        "since": _iso(s.since),
        "until": _iso(s.until),
        "posts": s.posts,
        "comments": s.comments,
        "flags": s.flags,
        "flags_per_1000_posts": s.flags_per_1000_posts,
        "items_opened": s.items_opened,
        "items_resolved": s.items_resolved,
        "handled_by_community": s.handled_by_community,
        "handled_by_staff": s.handled_by_staff,
        "community_share": s.community_share,
        "hidden_by_flags": s.hidden_by_flags,
        "median_seconds_to_hide": s.median_seconds_to_hide,
        "median_seconds_to_resolve": s.median_seconds_to_resolve,
        "pending": s.pending,
        "spaces": s.spaces,
    }


@router.get("/community/moderation/actions")
@chokepoint
def audit_trail(request, q: Query[AuditQuery]):
    user = api_user(request)
    access.require_queue(user)
    target = User.objects.filter(pk=q.user_id).first() if q.user_id else None
    if q.user_id and target is None:
        raise ApiError(404, "not_found", _("Not found."))
    qs = selectors.action_list(
        user=user, space=access.space_filter_for(user=user, slug=q.space), target_user=target
    )
    rows = list(qs[q.offset : q.offset + q.limit])
    return {
        "items": [_action_row(a) for a in rows],
        "count": qs.count(),
        "limit": q.limit,
        "offset": q.offset,
    }


@router.get("/community/moderation/sanctions")
@chokepoint
def sanctions(
    request, user_id: int | None = None, active: bool = False, limit: int = 50, offset: int = 0
):
    user = api_user(request)
    if not 1 <= limit <= 200 or offset < 0:
        raise ApiError(422, "validation_error", _("limit: 1–200; offset: 0 or more."))
    target = User.objects.filter(pk=user_id).first() if user_id else None
    qs = selectors.sanction_list(user=user, target_user=target, active_only=active)
    if user_id and target is None:
        qs = qs.none()
    rows = list(qs[offset : offset + limit])
    return {
        "items": [_sanction_row(s) for s in rows],
        "count": qs.count(),
        "limit": limit,
        "offset": offset,
    }


@router.post("/community/moderation/sanctions", response={201: dict})
@chokepoint
def sanction_create(request, payload: SanctionIn):
    user = api_user(request)
    access.require_queue(user)
    target = User.objects.filter(pk=payload.user_id, is_active=True).first()
    if target is None:
        raise ApiError(404, "not_found", _("Not found."))
    space = access.space_filter_for(user=user, slug=payload.space)
    if payload.kind == "warn":
        sanction = services.member_warn(actor=user, user=target, space=space, note=payload.note)
    else:
        sanction = services.member_suspend(
            actor=user, user=target, space=space, days=payload.days, note=payload.note
        )
    return Status(201, _sanction_row(sanction))


@router.post("/community/moderation/sanctions/{sanction_id}/lift")
@chokepoint
def sanction_lift(request, sanction_id: int, payload: LiftIn):
    user = api_user(request)
    sanction = selectors.sanction_list(user=user).filter(pk=sanction_id).first()
    if sanction is None:
        raise Http404
    return _sanction_row(
        services.member_unsuspend(actor=user, sanction=sanction, note=payload.note)
    )


def _settings_body(space) -> dict:
    eff = selectors.moderation_settings(space=space)
    return {
        "space": space.slug if space else None,
        "effective": eff.as_dict(),
        "sources": eff.sources,
    }


def _settings_space(user, slug: str | None) -> Space | None:
    if not slug:
        if not access.can_configure(user=user):
            raise ApiError(403, "forbidden", _("Only staff community managers can change this."))
        return None
    from apiary.community import access as community_access

    return community_access.space_for_manage(user=user, slug=slug)


@router.get("/community/moderation/settings")
@chokepoint
def settings_get(request, space: str | None = None):
    user = api_user(request)
    return _settings_body(_settings_space(user, space))


@router.patch("/community/moderation/settings")
@chokepoint
def settings_patch(request, payload: SettingsPatch, space: str | None = None):
    user = api_user(request)
    target = _settings_space(user, space)
    services.settings_update(actor=user, space=target, **payload.model_dump(exclude_unset=True))
    return _settings_body(target)
