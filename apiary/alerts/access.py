"""The chokepoint for alerts: ``alerts_require`` for lists and settings, ``alert_for_view`` to
fetch one alert *and* check the reader may see it. Alerts are shared by the whole team (no
per-alert visibility); the mention text inside an alert's evidence is shown only to users who
may read listening (``selectors.alert_detail``)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from apiary.accounts.access import Perm, user_has_permission

from .models import Alert


def alerts_require(user, perm: Perm = Perm.ALERTS_VIEW) -> None:
    """PermissionDenied unless the user holds ``perm`` (``alerts.view`` / ``alerts.manage``)."""
    if not user_has_permission(user, perm):
        raise PermissionDenied


def alert_for_view(*, user, alert_id) -> Alert:
    alerts_require(user, Perm.ALERTS_VIEW)
    try:
        return Alert.objects.select_related("rule", "mention", "conversation").get(pk=int(alert_id))
    except (Alert.DoesNotExist, ValueError, TypeError):
        raise Http404("alert") from None
