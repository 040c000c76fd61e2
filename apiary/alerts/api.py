"""Alerts API, mounted at ``/api/v1/alerts``: alerts (list, one, acknowledge, resolve, next
actions), the live feed and counts, rules (CRUD + preview), webhook endpoints (CRUD + test),
and the caller's e-mail subscription. Handlers only translate HTTP; every decision is in
``services`` / ``actions`` / ``selectors`` and permission in ``access``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from apiary.accounts.access import Perm, api_user
from apiary.core.errors import ApiError
from apiary.core.schemas import StrictIn

from . import actions, selectors, services
from .access import alert_for_view, alerts_require

router = Router(tags=["alerts"])


def _user(request, perm: Perm = Perm.ALERTS_VIEW):
    user = api_user(request)
    alerts_require(user, perm)
    return user


# --- Alerts --------------------------------------------------------------------------------


class AlertOut(Schema):
    id: int
    kind: str
    kind_label: str
    severity: str
    status: str
    title: str
    rule_id: int | None
    query_id: int | None
    country: str
    level: int
    mention_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    auto_resolved: bool


class AlertPage(Schema):
    items: list[AlertOut]
    next_cursor: str | None


class ListParams(Schema):
    status: str | None = Field(None, description="open, acknowledged, resolved, or live; a,b")
    kind: str | None = Field(None, description="one kind or a comma-separated list")
    severity: str | None = Field(None, description="one severity or a comma-separated list")
    cursor: str | None = Field(None, description="next_cursor of the previous page")
    limit: int = Field(50, ge=1, le=200)


@router.get("", response=AlertPage, summary="List alerts, newest first")
def alert_list(request, params: Query[ListParams]):
    user = _user(request)
    return selectors.alert_list(
        user=user,
        status=params.status,
        kind=params.kind,
        severity=params.severity,
        cursor=params.cursor,
        limit=params.limit,
    )


@router.get("/counts", summary="Live alert counts (badge)")
def alert_counts(request):
    return selectors.open_alert_counts(_user(request))


@router.get("/events", summary="The live feed: events after an id")
def alert_events(request, after: int | None = None, limit: int = Query(200, ge=1, le=500)):
    return selectors.alert_events_after(after_id=after, user=_user(request), limit=limit)


@router.get("/{int:alert_id}", summary="One alert: evidence, numbers, series, actions, history")
def alert_detail(request, alert_id: int):
    user = _user(request)
    return selectors.alert_detail(alert=alert_for_view(user=user, alert_id=alert_id), user=user)


def _state(call):
    try:
        return selectors.alert_summary(call())
    except services.AlertStateError as exc:
        raise ApiError(409, "alert_state", str(exc)) from None


@router.post("/{int:alert_id}/acknowledge", response=AlertOut, summary="Acknowledge")
def alert_acknowledge(request, alert_id: int):
    user = _user(request)
    alert_for_view(user=user, alert_id=alert_id)
    return _state(lambda: services.alert_acknowledge(alert_id=alert_id, user=user))


class ResolveIn(StrictIn):
    note: str = Field("", max_length=2000)


@router.post("/{int:alert_id}/resolve", response=AlertOut, summary="Resolve")
def alert_resolve(request, alert_id: int, payload: ResolveIn | None = None):
    user = _user(request)
    alert_for_view(user=user, alert_id=alert_id)
    note = payload.note if payload is not None else ""
    return _state(lambda: services.alert_resolve(alert_id=alert_id, user=user, note=note))


class ActionIn(StrictIn):
    params: dict[str, Any] = Field(default_factory=dict)


class ActionOut(Schema):
    ok: bool
    message: str
    redirect_url: str | None
    result: dict | None = None


@router.post("/{int:alert_id}/actions/{action_key}", response=ActionOut, summary="Do a next action")
def alert_action(request, alert_id: int, action_key: str, payload: ActionIn | None = None):
    user = _user(request)
    if action_key not in actions.LABELS:
        raise ApiError(
            404,
            "unknown_action",
            _("Unknown action %(key)r; use one of: %(names)s.")
            % {"key": action_key, "names": ", ".join(actions.ALL_ACTIONS)},
        )
    result = actions.alert_action_perform(
        alert_id=alert_id,
        action_key=action_key,
        user=user,
        params=payload.params if payload is not None else {},
    )
    if not result["ok"]:
        raise ApiError(409, "action_unavailable", result["message"])
    return result


# --- Rules ---------------------------------------------------------------------------------


class RuleOut(Schema):
    id: int
    name: str
    kind: str
    kind_label: str
    conditions: dict
    cooldown_minutes: int
    severity: str
    active: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    alerts_last_7_days: int
    alerts_live: int


class RuleIn(StrictIn):
    name: str = Field(..., max_length=120)
    kind: str
    conditions: dict[str, Any] = Field(default_factory=dict)
    cooldown_minutes: int = 60
    severity: str = "medium"
    active: bool = True


class RulePatch(StrictIn):
    name: str | None = Field(None, max_length=120)
    kind: str | None = None
    conditions: dict[str, Any] | None = None
    cooldown_minutes: int | None = None
    severity: str | None = None
    active: bool | None = None


class PreviewIn(StrictIn):
    kind: str
    conditions: dict[str, Any] = Field(default_factory=dict)
    cooldown_minutes: int = 60
    days: int = Field(7, ge=1, le=31)


def _rule_out(rule_id: int) -> dict:
    return next(r for r in selectors.rule_list() if r["id"] == rule_id)


@router.get("/rules", response=list[RuleOut], summary="Alert rules")
def rule_list(request):
    _user(request)
    return selectors.rule_list()


@router.post("/rules", response={201: RuleOut}, summary="Create a rule")
def rule_create(request, payload: RuleIn):
    user = _user(request, Perm.ALERTS_MANAGE)
    rule = services.rule_create(**payload.dict(), actor=user)
    return Status(201, _rule_out(rule.pk))


@router.post("/rules/preview", summary="How often a rule would have fired")
def rule_preview(request, payload: PreviewIn):
    _user(request, Perm.ALERTS_MANAGE)
    return services.rule_preview(**payload.dict())


@router.get("/rules/{int:rule_id}", response=RuleOut, summary="One rule")
def rule_get(request, rule_id: int):
    _user(request)
    selectors.rule_get(rule_id)
    return _rule_out(rule_id)


@router.patch("/rules/{int:rule_id}", response=RuleOut, summary="Change a rule")
def rule_update(request, rule_id: int, payload: RulePatch):
    user = _user(request, Perm.ALERTS_MANAGE)
    changes = payload.dict(exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None]
    if nulls:
        raise ApiError(
            422, "validation_error", _("%(field)s cannot be null.") % {"field": nulls[0]}
        )
    services.rule_update(rule=selectors.rule_get(rule_id), actor=user, **changes)
    return _rule_out(rule_id)


@router.delete("/rules/{int:rule_id}", response={204: None}, summary="Delete a rule")
def rule_delete(request, rule_id: int):
    user = _user(request, Perm.ALERTS_MANAGE)
    services.rule_delete(rule=selectors.rule_get(rule_id), actor=user)
    return Status(204, None)


# --- Webhook endpoints ---------------------------------------------------------------------


class EndpointOut(Schema):
    id: int
    name: str
    url: str
    kinds: list[str]
    min_severity: str
    active: bool
    failing: bool
    failing_since: datetime | None
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str
    deliveries_7_days: dict
    secret_hint: str


class EndpointCreated(EndpointOut):
    secret: str


class EndpointIn(StrictIn):
    name: str = Field(..., max_length=120)
    url: str = Field(..., max_length=2000)
    kinds: list[str] = Field(default_factory=list)
    min_severity: str = "low"
    active: bool = True
    secret: str | None = Field(None, min_length=16, max_length=128)


class EndpointPatch(StrictIn):
    name: str | None = Field(None, max_length=120)
    url: str | None = Field(None, max_length=2000)
    kinds: list[str] | None = None
    min_severity: str | None = None
    active: bool | None = None
    rotate_secret: bool = False


def _endpoint_out(endpoint_id: int) -> dict:
    return next(e for e in selectors.endpoint_list() if e["id"] == endpoint_id)


@router.get("/webhooks", response=list[EndpointOut], summary="Webhook endpoints")
def endpoint_list(request):
    _user(request, Perm.ALERTS_MANAGE)
    return selectors.endpoint_list()


@router.post("/webhooks", response={201: EndpointCreated}, summary="Add a webhook endpoint")
def endpoint_create(request, payload: EndpointIn):
    user = _user(request, Perm.ALERTS_MANAGE)
    endpoint = services.webhook_endpoint_create(**payload.dict(), actor=user)
    return Status(201, {**_endpoint_out(endpoint.pk), "secret": endpoint.secret})


@router.get("/webhooks/{int:endpoint_id}", response=EndpointOut, summary="One endpoint")
def endpoint_get(request, endpoint_id: int):
    _user(request, Perm.ALERTS_MANAGE)
    selectors.endpoint_get(endpoint_id)
    return _endpoint_out(endpoint_id)


@router.patch("/webhooks/{int:endpoint_id}", response=EndpointCreated, summary="Change one")
def endpoint_update(request, endpoint_id: int, payload: EndpointPatch):
    user = _user(request, Perm.ALERTS_MANAGE)
    changes = payload.dict(exclude_unset=True)
    rotate = changes.pop("rotate_secret", False)
    nulls = [k for k, v in changes.items() if v is None]
    if nulls:
        raise ApiError(
            422, "validation_error", _("%(field)s cannot be null.") % {"field": nulls[0]}
        )
    endpoint = services.webhook_endpoint_update(
        endpoint=selectors.endpoint_get(endpoint_id), actor=user, rotate_secret=rotate, **changes
    )
    return {**_endpoint_out(endpoint.pk), "secret": endpoint.secret}


@router.delete("/webhooks/{int:endpoint_id}", response={204: None}, summary="Delete one")
def endpoint_delete(request, endpoint_id: int):
    user = _user(request, Perm.ALERTS_MANAGE)
    services.webhook_endpoint_delete(endpoint=selectors.endpoint_get(endpoint_id), actor=user)
    return Status(204, None)


@router.post("/webhooks/{int:endpoint_id}/test", summary="Send a signed test event now")
def endpoint_test(request, endpoint_id: int):
    _user(request, Perm.ALERTS_MANAGE)
    selectors.endpoint_get(endpoint_id)
    return services.webhook_endpoint_test(endpoint_id=endpoint_id)


# --- My e-mail subscription ----------------------------------------------------------------


class SubscriptionIn(StrictIn):
    email: bool
    min_severity: str = "high"
    kinds: list[str] = Field(default_factory=list)


@router.get("/subscription", summary="My alert e-mails")
def subscription_get(request):
    return selectors.subscription_get(_user(request))


@router.put("/subscription", summary="Opt in or out of alert e-mails")
def subscription_set(request, payload: SubscriptionIn):
    user = _user(request)
    services.subscription_set(user=user, **payload.dict())
    return selectors.subscription_get(user)
