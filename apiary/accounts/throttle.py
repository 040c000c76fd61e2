"""Login throttling against brute force, stored in the database so that every server process
(and every worker behind a load balancer) sees the same counts."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apiary.accounts.models import LoginFailure


def _window_start():
    return timezone.now() - timedelta(seconds=settings.APIARY_LOGIN_WINDOW_SECONDS)


def login_is_throttled(*, email: str, ip: str | None) -> bool:
    since = _window_start()
    recent = LoginFailure.objects.filter(created_at__gte=since)
    if recent.filter(email=email.lower()).count() >= settings.APIARY_LOGIN_MAX_FAILURES_PER_EMAIL:
        return True
    if ip and recent.filter(ip=ip).count() >= settings.APIARY_LOGIN_MAX_FAILURES_PER_IP:
        return True
    return False


def login_failure_record(*, email: str, ip: str | None) -> None:
    LoginFailure.objects.create(email=email.lower()[:254], ip=ip or None)
    # Prune lazily: rows older than the window never count again.
    LoginFailure.objects.filter(created_at__lt=_window_start()).delete()


def login_failures_clear(*, email: str) -> None:
    LoginFailure.objects.filter(email=email.lower()).delete()
