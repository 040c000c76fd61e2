"""The customer record behind a community member's own account (the community-profile
touchpoint)."""

from __future__ import annotations

from django.db import transaction

from apiary.accounts.services import audit_record
from apiary.customers.models import Customer, LifecycleStage
from apiary.customers.services.customers import customer_create


def member_customer_get(*, user) -> Customer | None:
    return Customer.objects.filter(
        user=user, deleted_at__isnull=True, erased_at__isnull=True
    ).first()


@transaction.atomic
def member_customer_ensure(*, user) -> Customer:
    """Return the member's customer record, creating it on first use.

    Members' e-mail addresses are not verified, so a customer that merely has the same e-mail is
    never attached automatically: whoever registered with someone else's address would otherwise
    see, and withdraw, that person's social accounts. The new record then gets no e-mail (the
    address stays unique to the existing customer) and the audit entry names the possible
    duplicate, for staff to merge after checking.
    """
    customer = member_customer_get(user=user)
    if customer is not None:
        return customer
    same_email = (
        Customer.objects.filter(email__iexact=user.email, deleted_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )
    customer = customer_create(
        actor=user,
        email=None if same_email else user.email,
        name=user.display_name,
        language=user.language,
        lifecycle_stage=LifecycleStage.LEAD,
    )
    customer.user = user
    customer.save(update_fields=["user", "updated_at"])
    audit_record(
        actor=user,
        action="customer.user_link",
        target_type="customer",
        target_id=customer.pk,
        summary="community account linked",
        data={"possible_duplicate_of": same_email} if same_email else {},
    )
    return customer
