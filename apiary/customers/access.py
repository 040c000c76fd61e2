"""The chokepoint for customer data: each function fetches a customer *and* checks that the user
may do this with it. Views and the API read customers only through here, so permission and the
"who viewed whom" audit trail cannot be forgotten on a new page.

- ``customer_for_view``: ``customers.view``; records ``customer.view`` (deduplicated).
- ``customer_for_edit``: ``customers.edit``.
- ``customer_for_privacy``: ``privacy.manage`` (administrators) for export and erase.

Missing and soft-deleted customers are a 404; merged records resolve to the record they went
into (pass ``follow_merged=False`` to get the merged record itself).
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from apiary.accounts.access import Perm, user_has_permission
from apiary.accounts.models import AuditEntry
from apiary.accounts.services import audit_record
from apiary.customers import selectors
from apiary.customers.models import Customer

# One "viewed" entry per user and customer in this window: a profile opened, then its tabs
# loaded by htmx, is one look at the data, not five.
VIEW_AUDIT_WINDOW = timedelta(minutes=10)


def customers_require(user, perm: Perm) -> None:
    """PermissionDenied unless the user holds ``perm`` (for list pages and non-record actions)."""
    if not user_has_permission(user, perm):
        raise PermissionDenied


def _fetch(customer_id: int, *, follow_merged: bool) -> Customer:
    customer = selectors.customer_get(customer_id=customer_id)
    if follow_merged:
        customer = selectors.customer_resolve_merged(customer)
    return customer


def customer_view_audit(*, user, customer: Customer) -> None:
    since = timezone.now() - VIEW_AUDIT_WINDOW
    recent = AuditEntry.objects.filter(
        actor=user,
        action="customer.view",
        target_type="customer",
        target_id=str(customer.pk),
        at__gte=since,
    ).exists()
    if not recent:
        audit_record(
            actor=user, action="customer.view", target_type="customer", target_id=customer.pk
        )


def customer_for_view(
    *, user, customer_id: int, audit: bool = True, follow_merged: bool = True
) -> Customer:
    customers_require(user, Perm.CUSTOMERS_VIEW)
    customer = _fetch(customer_id, follow_merged=follow_merged)
    if audit:
        customer_view_audit(user=user, customer=customer)
    return customer


def customer_for_edit(*, user, customer_id: int, follow_merged: bool = True) -> Customer:
    customers_require(user, Perm.CUSTOMERS_EDIT)
    return _fetch(customer_id, follow_merged=follow_merged)


def customer_for_privacy(*, user, customer_id: int) -> Customer:
    """Export and erasure: administrators only (``privacy.manage``)."""
    customers_require(user, Perm.PRIVACY_MANAGE)
    return _fetch(customer_id, follow_merged=True)
