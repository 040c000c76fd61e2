"""Link a consented social identity to a customer, and withdraw that consent.

Every change writes a :class:`ConsentRecord` (the exact text the customer agreed to, where and
when) and an audit entry, because consent has to be provable long after the fact.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.services import audit_record
from apiary.customers import handles
from apiary.customers.models import (
    ConsentRecord,
    Customer,
    Platform,
    SocialIdentity,
    Touchpoint,
)


def customer_is_live(customer: Customer) -> bool:
    """Not soft-deleted, erased or merged away: the only customers identities may point at."""
    return (
        customer.deleted_at is None and customer.erased_at is None and not customer.merged_into_id
    )


def _check_choice(field: str, value: str, choices) -> None:
    if value not in choices.values:
        raise ValidationError({field: [_("“%(value)s” is not a valid choice.") % {"value": value}]})


def _clean_extras(*, display_name: str, profile_url: str, followers: int | None) -> dict:
    errors: dict[str, list[str]] = {}
    display_name = " ".join((display_name or "").split())
    if len(display_name) > 200:
        errors["display_name"] = [_("Must be at most 200 characters long.")]
    profile_url = (profile_url or "").strip()
    if profile_url:
        try:
            URLValidator(schemes=["http", "https"])(profile_url)
        except ValidationError:
            errors["profile_url"] = [_("Enter a valid URL.")]
        if len(profile_url) > 500:
            errors["profile_url"] = [_("Must be at most 500 characters long.")]
    if followers is not None and (not isinstance(followers, int) or followers < 0):
        errors["followers"] = [_("Must be a whole number, zero or more.")]
    if errors:
        raise ValidationError(errors)
    return {"display_name": display_name, "profile_url": profile_url, "followers": followers}


def _active_identity(platform: str, handle: str) -> SocialIdentity | None:
    # The live row for this account, locked so a concurrent link waits for our decision.
    return (
        SocialIdentity.objects.select_for_update()
        .filter(platform=platform, handle=handle, withdrawn_at__isnull=True)
        .first()
    )


def _taken_error() -> ValidationError:
    return ValidationError({"handle": [_("This account is already linked to another customer.")]})


def _refresh(identity: SocialIdentity, *, extras: dict, verified: bool) -> SocialIdentity:
    # Only what the caller actually knows overwrites what we had (a form that does not ask
    # about verification must not un-verify an account).
    if extras["display_name"]:
        identity.display_name = extras["display_name"]
    if extras["profile_url"]:
        identity.profile_url = extras["profile_url"]
    if extras["followers"] is not None:
        identity.followers = extras["followers"]
    if verified:
        identity.verified = True
    identity.save(update_fields=["display_name", "profile_url", "followers", "verified"])
    return identity


def identity_link(
    *,
    customer: Customer,
    platform: str,
    handle: str,
    touchpoint: str,
    consent_text: str,
    actor=None,
    display_name: str = "",
    profile_url: str = "",
    followers: int | None = None,
    verified: bool = False,
    at: datetime | None = None,
) -> SocialIdentity:
    """Link ``handle`` on ``platform`` to ``customer`` with the consent the customer just gave.

    Linking an account the customer already linked refreshes it and records the new consent;
    an account linked to someone else is refused; a withdrawn link is never revived (a new row
    starts a new consent history).
    """
    _check_choice("platform", platform, Platform)
    _check_choice("touchpoint", touchpoint, Touchpoint)
    try:
        handle = handles.normalize_handle(platform, handle)
    except handles.HandleError as exc:
        raise ValidationError({"handle": [exc.message]}) from None
    consent_text = (consent_text or "").strip()
    if not consent_text:
        raise ValidationError({"consent_text": [_("Record the text the customer agreed to.")]})
    if not customer_is_live(customer):
        raise ValidationError({"customer": [_("This customer was deleted, erased or merged.")]})
    extras = _clean_extras(display_name=display_name, profile_url=profile_url, followers=followers)
    at = at or timezone.now()

    with transaction.atomic():
        identity = _active_identity(platform, handle)
        created = identity is None
        if identity is not None and identity.customer_id != customer.pk:
            raise _taken_error()
        if identity is None:
            try:
                with transaction.atomic():  # savepoint: the outer transaction survives a race
                    identity = SocialIdentity.objects.create(
                        customer=customer,
                        platform=platform,
                        handle=handle,
                        display_name=extras["display_name"],
                        profile_url=extras["profile_url"] or handles.profile_url(platform, handle),
                        followers=extras["followers"],
                        verified=verified,
                        created_at=at,
                    )
            except IntegrityError:
                # Someone linked the same account between our check and our insert.
                identity = _active_identity(platform, handle)
                if identity is None or identity.customer_id != customer.pk:
                    raise _taken_error() from None
                created = False
        if not created:
            identity = _refresh(identity, extras=extras, verified=verified)
        consent = ConsentRecord.objects.create(
            identity=identity,
            action=ConsentRecord.Action.GIVEN,
            touchpoint=touchpoint,
            text=consent_text,
            at=at,
            actor=actor if actor is not None and actor.is_authenticated else None,
        )
        audit_record(
            actor=actor,
            action="identity.link",
            target_type="customer",
            target_id=customer.pk,
            summary=f"{platform}:{handle}",
            data={
                "identity_id": identity.pk,
                "consent_id": consent.pk,
                "platform": platform,
                "handle": handle,
                "touchpoint": touchpoint,
                "created": created,
            },
        )
    return identity


def identity_consent_withdraw(
    *,
    identity: SocialIdentity,
    touchpoint: str,
    actor=None,
    at: datetime | None = None,
) -> SocialIdentity:
    """Withdraw consent: from ``at`` on the identity links no mention and counts in no analysis.
    Withdrawing twice changes nothing the second time."""
    _check_choice("touchpoint", touchpoint, Touchpoint)
    at = at or timezone.now()
    with transaction.atomic():
        locked = SocialIdentity.objects.select_for_update().get(pk=identity.pk)
        if locked.withdrawn_at is not None:
            return locked
        locked.withdrawn_at = at
        locked.save(update_fields=["withdrawn_at"])
        consent = ConsentRecord.objects.create(
            identity=locked,
            action=ConsentRecord.Action.WITHDRAWN,
            touchpoint=touchpoint,
            at=at,
            actor=actor if actor is not None and actor.is_authenticated else None,
        )
        audit_record(
            actor=actor,
            action="identity.withdraw",
            target_type="customer",
            target_id=locked.customer_id,
            summary=f"{locked.platform}:{locked.handle}",
            data={
                "identity_id": locked.pk,
                "consent_id": consent.pk,
                "platform": locked.platform,
                "handle": locked.handle,
                "touchpoint": touchpoint,
            },
        )
    identity.withdrawn_at = locked.withdrawn_at
    return locked
