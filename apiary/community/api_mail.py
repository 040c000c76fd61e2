"""``GET`` / ``PUT /api/v1/community/me/notification-settings``: the caller's community e-mail
choices (mounted on the community router in ``api.py``). Bad values are a 422 with the field."""

from __future__ import annotations

from ninja import Router

from apiary.accounts.access import api_user
from apiary.community import mail
from apiary.community.services import mail as mail_services
from apiary.core.schemas import StrictIn

router = Router(tags=["community"])


class NotificationSettingsIn(StrictIn):
    email_mode: str  # immediate | daily | weekly | never
    kinds_off: list[str] = []  # notification kinds never e-mailed


@router.get("/community/me/notification-settings")
def notification_settings_get(request):
    return mail.settings_view(api_user(request))


@router.put("/community/me/notification-settings")
def notification_settings_put(request, payload: NotificationSettingsIn):
    user = api_user(request)
    mail_services.notification_settings_set(
        user=user, email_mode=payload.email_mode, kinds_off=payload.kinds_off
    )
    return mail.settings_view(user)
