"""Writes of a member's community e-mail choices (sending lives in ``community/mail.py``)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.community.models import EmailMode, NotificationKind, NotificationSettings
from apiary.community.services._common import activity_record, invalid

DIGEST_MODES = (EmailMode.DAILY, EmailMode.WEEKLY)


def mailable_kinds() -> list[str]:
    """Notification kinds a member may switch off for e-mail one by one."""
    return list(NotificationKind.values)


def notification_settings_set(
    *, user, email_mode: str, kinds_off=None, now: datetime | None = None
) -> NotificationSettings:
    """Save the e-mail mode (immediately / daily / weekly digest / never) and the kinds not to
    e-mail. Switching to a digest starts its clock now, so the first digest comes at the next
    digest time and covers what happens from here on."""
    if email_mode not in EmailMode.values:
        invalid("email_mode", _("Choose immediately, daily, weekly or never."))
    kinds_off = sorted({str(k) for k in (kinds_off or [])})
    unknown = [k for k in kinds_off if k not in mailable_kinds()]
    if unknown:
        invalid("kinds_off", _("Unknown notification kind: %(kind)s.") % {"kind": unknown[0]})
    now = now or timezone.now()
    prefs, _created = NotificationSettings.objects.get_or_create(user=user)
    if email_mode in DIGEST_MODES and (prefs.email_mode != email_mode or not prefs.digest_sent_at):
        prefs.digest_sent_at = now
    prefs.email_mode = email_mode
    prefs.kinds_off = kinds_off
    prefs.updated_at = now
    if email_mode != EmailMode.NEVER:
        prefs.unsubscribed_at = None
    prefs.save()
    return prefs


def notification_unsubscribe(*, user, via: str, now: datetime | None = None) -> None:
    """Stop every community e-mail (the one-click link in each e-mail; ``via``: ``link`` for the
    page's button, ``one_click`` for a mail client's RFC 8058 POST). Idempotent."""
    now = now or timezone.now()
    prefs, _created = NotificationSettings.objects.get_or_create(user=user)
    if prefs.email_mode == EmailMode.NEVER and prefs.unsubscribed_at:
        return
    prefs.email_mode = EmailMode.NEVER
    prefs.unsubscribed_at = now
    prefs.updated_at = now
    prefs.save(update_fields=["email_mode", "unsubscribed_at", "updated_at"])
    activity_record(kind="mail.unsubscribe", user=user, data={"via": via})
