"""Writes for accounts: registration, staff users and roles, API tokens, authentication."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts import throttle
from apiary.accounts.models import STAFF_ROLES, ApiToken, Role, User, Workspace

TOKEN_PREFIX = "apy_"  # noqa: S105  (a public marker, not a secret)


class LoginThrottled(Exception):
    """Too many failed logins for this e-mail or address; try again later."""


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": [_("Enter a valid e-mail address.")]}) from None
    return email


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None


def _user_create(*, email: str, password: str, role: str, display_name: str, language: str) -> User:
    email = _clean_email(email)
    if role not in Role.values:
        raise ValidationError({"role": [_("Unknown role %(role)s.") % {"role": role}]})
    user = User(email=email, display_name=(display_name or "").strip()[:120], language=language)
    _check_password(password, user)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": [_("An account with this e-mail already exists.")]})
    user.set_password(password)
    role_flags_apply(user, role)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Two registrations raced past the exists() check; the unique index decided.
        raise ValidationError(
            {"email": [_("An account with this e-mail already exists.")]}
        ) from None
    return user


def role_flags_apply(user: User, role: str) -> None:
    user.role = role
    # Django's admin site reads is_staff/is_superuser; only administrators get in.
    user.is_staff = role == Role.ADMIN
    user.is_superuser = role == Role.ADMIN


def member_register(
    *, email: str, password: str, display_name: str = "", language: str = ""
) -> User:
    """A customer or partner signs up for the community."""
    return _user_create(
        email=email,
        password=password,
        role=Role.MEMBER,
        display_name=display_name,
        language=language,
    )


def staff_user_create(
    *, email: str, password: str, role: str, display_name: str = "", language: str = ""
) -> User:
    if role not in STAFF_ROLES:
        raise ValidationError({"role": [_("%(role)s is not a staff role.") % {"role": role}]})
    return _user_create(
        email=email, password=password, role=role, display_name=display_name, language=language
    )


def user_role_set(*, user: User, role: str, actor: User) -> User:
    if role not in Role.values:
        raise ValidationError({"role": [_("Unknown role %(role)s.") % {"role": role}]})
    if user.pk == actor.pk and role != Role.ADMIN and user.role == Role.ADMIN:
        if not User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk).exists():
            raise ValidationError({"role": [_("The last administrator cannot demote themself.")]})
    role_flags_apply(user, role)
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    return user


def user_preferences_set(*, user: User, language: str | None = None, time_zone: str | None = None):
    from django.conf import settings

    fields = []
    if language is not None:
        if language and language not in dict(settings.LANGUAGES):
            raise ValidationError({"language": [_("Unsupported language.")]})
        user.language = language
        fields.append("language")
    if time_zone is not None:
        import zoneinfo

        if time_zone and time_zone not in zoneinfo.available_timezones():
            raise ValidationError({"time_zone": [_("Unknown time zone.")]})
        user.time_zone = time_zone
        fields.append("time_zone")
    if fields:
        user.save(update_fields=fields)
    return user


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. X-Forwarded-For is client-controlled, so it is used only when the
    operator says a proxy in front sets it (APIARY_TRUST_X_FORWARDED); then its last hop is the
    address the proxy saw."""
    from django.conf import settings

    if settings.APIARY_TRUST_X_FORWARDED:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR") or None


def user_authenticate(*, request: HttpRequest, email: str, password: str) -> User | None:
    """Check credentials with brute-force throttling. Returns the user or None; raises
    :class:`LoginThrottled` while the e-mail or the client address is locked out."""
    email = (email or "").strip().lower()
    ip = client_ip(request)
    if throttle.login_is_throttled(email=email, ip=ip):
        raise LoginThrottled
    user = authenticate(request, email=email, password=password)
    if user is None:
        throttle.login_failure_record(email=email, ip=ip)
        return None
    throttle.login_failures_clear(email=email)
    return user


def _digest(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no salt/KDF needed).
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token; returns it with the raw secret, which is never stored nor shown again."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("Give the token a name.")]})
    if len(name) > 80:
        raise ValidationError({"name": [_("Must be at most 80 characters long.")]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": [_("The expiry must be in the future.")]})
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, digest=_digest(raw), expires_at=expires_at
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, raw: str) -> User | None:
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=_digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    # Touch last_used at most once a minute: a hot token must not turn every read into a write.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def workspace_ensure(
    *, name: str, default_language: str = "en", time_zone: str = "UTC"
) -> Workspace:
    """Create the installation's workspace if it does not exist yet (idempotent)."""
    workspace = Workspace.objects.order_by("pk").first()
    if workspace is None:
        workspace = Workspace.objects.create(
            name=name, default_language=default_language, time_zone=time_zone
        )
    return workspace


def user_active_set(*, user: User, is_active: bool, actor: User) -> User:
    if not is_active and user.pk == actor.pk:
        raise ValidationError({"is_active": [_("You cannot deactivate your own account.")]})
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    if not is_active:
        # A deactivated user's tokens stop working at once, not at their next expiry.
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    return user


def audit_record(
    *,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: object,
    summary: str = "",
    data: dict | None = None,
):
    """Append one entry to the audit log (who viewed or changed personal data)."""
    from apiary.accounts.models import AuditEntry

    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        summary=summary[:300],
        data=data or {},
    )
