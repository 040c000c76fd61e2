"""Merge two customer records that are one person: always explicit, previewable and audited.

The *source* disappears into the *target*: identities (with their consent history), orders,
suggestions and earlier merges move over, blanks on the target are filled from the source, and
the source stays as a soft-deleted tombstone pointing at the target (``merged_into``), so links
to it still lead somewhere and the timeline can gather its history.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.services import audit_record
from apiary.customers.models import Customer, IdentitySuggestion, Order, SocialIdentity

# Plain fields a blank target takes from the source; the target wins whenever both have one.
FILL_FIELDS = (
    "name",
    "email",
    "external_id",
    "phone",
    "country",
    "region",
    "city",
    "language",
)
FK_FILL_FIELDS = ("organisation", "user")


def _state_error(field: str, customer: Customer) -> ValidationError | None:
    if customer.erased_at is not None:
        return ValidationError({field: [_("This customer was erased.")]})
    if customer.merged_into_id:
        return ValidationError({field: [_("This customer was already merged into another.")]})
    if customer.deleted_at is not None:
        return ValidationError({field: [_("This customer was deleted.")]})
    return None


def _check(source: Customer, target: Customer) -> None:
    if source.pk == target.pk:
        raise ValidationError({"target": [_("A customer cannot be merged into itself.")]})
    errors = [e for e in (_state_error("source", source), _state_error("target", target)) if e]
    if errors:
        raise ValidationError({k: v for e in errors for k, v in e.message_dict.items()})


def _blank(value) -> bool:
    return value is None or value == ""


def _plan(source: Customer, target: Customer) -> dict:
    """What a merge would change, in JSON-ready values (shared by the preview and the merge)."""
    fill: dict[str, object] = {}
    conflicts = []
    for field in FILL_FIELDS:
        theirs, ours = getattr(source, field), getattr(target, field)
        if _blank(theirs):
            continue
        if _blank(ours):
            fill[field] = theirs
        elif str(theirs).casefold() != str(ours).casefold():
            conflicts.append({"field": field, "source": theirs, "target": ours})
    for field in FK_FILL_FIELDS:
        theirs, ours = getattr(source, f"{field}_id"), getattr(target, f"{field}_id")
        if theirs is None:
            continue
        if ours is None:
            fill[field] = theirs
        elif theirs != ours:
            conflicts.append({"field": field, "source": theirs, "target": ours})
    if source.lifecycle_stage != target.lifecycle_stage:
        conflicts.append(
            {
                "field": "lifecycle_stage",
                "source": source.lifecycle_stage,
                "target": target.lifecycle_stage,
            }
        )
    if source.created_at < target.created_at:
        fill["created_at"] = source.created_at.isoformat()  # a customer since the earliest record
    target_tags = list(target.tags or [])
    tags_added = [t for t in (source.tags or []) if t not in target_tags]
    target_fields = dict(target.custom_fields or {})
    custom_added = {k: v for k, v in (source.custom_fields or {}).items() if k not in target_fields}
    custom_conflicts = sorted(
        k
        for k, v in (source.custom_fields or {}).items()
        if k in target_fields and target_fields[k] != v
    )
    for key in custom_conflicts:
        conflicts.append(
            {
                "field": f"custom_fields.{key}",
                "source": source.custom_fields[key],
                "target": target_fields[key],
            }
        )

    target_pending = set(
        IdentitySuggestion.objects.filter(
            customer=target, status=IdentitySuggestion.Status.PENDING
        ).values_list("platform", "handle")
    )
    target_pending |= set(
        SocialIdentity.objects.filter(customer=target).values_list("platform", "handle")
    )
    suggestions = list(
        IdentitySuggestion.objects.filter(customer=source).values_list(
            "pk", "platform", "handle", "status"
        )
    )
    duplicate = [
        pk
        for pk, platform, handle, status in suggestions
        if status == IdentitySuggestion.Status.PENDING and (platform, handle) in target_pending
    ]
    identities = SocialIdentity.objects.filter(customer=source)
    return {
        "source": {"id": source.pk, "name": source.name, "email": source.email},
        "target": {"id": target.pk, "name": target.name, "email": target.email},
        "move": {
            "identities": identities.count(),
            "active_identities": identities.filter(withdrawn_at__isnull=True).count(),
            "orders": Order.objects.filter(customer=source).count(),
            "suggestions": len(suggestions) - len(duplicate),
            "duplicate_suggestions": len(duplicate),
            "merged_records": Customer.objects.filter(merged_into=source).count(),
        },
        "fill": fill,
        "tags_added": tags_added,
        "custom_fields_added": custom_added,
        "conflicts": conflicts,
        "_duplicate_suggestion_ids": duplicate,
    }


def customer_merge_preview(*, source: Customer, target: Customer) -> dict:
    """What :func:`customer_merge` would move, fill in and leave alone (nothing is written)."""
    _check(source, target)
    plan = _plan(source, target)
    plan.pop("_duplicate_suggestion_ids")
    return plan


def customer_merge(*, source: Customer, target: Customer, actor) -> Customer:
    """Merge ``source`` into ``target`` in one transaction; returns the updated target."""
    _check(source, target)
    with transaction.atomic():
        # Lock both rows in id order so two opposite merges cannot deadlock, then re-check
        # against the locked state (someone may have merged or erased them meanwhile).
        locked = {
            c.pk: c
            for c in Customer.objects.select_for_update()
            .filter(pk__in=[source.pk, target.pk])
            .order_by("pk")
        }
        if len(locked) != 2:
            raise ValidationError({"source": [_("This customer no longer exists.")]})
        src, dst = locked[source.pk], locked[target.pk]
        _check(src, dst)
        plan = _plan(src, dst)
        duplicate_ids = plan.pop("_duplicate_suggestion_ids")

        IdentitySuggestion.objects.filter(pk__in=duplicate_ids).delete()
        IdentitySuggestion.objects.filter(customer=src).update(customer=dst)
        SocialIdentity.objects.filter(customer=src).update(customer=dst)
        Order.objects.filter(customer=src).update(customer=dst)
        Customer.objects.filter(merged_into=src).update(merged_into=dst)

        removed = {"email": src.email, "external_id": src.external_id}
        # The source gives up its unique values (e-mail, external id, account) first, so the
        # target can take them over without tripping the unique constraints.
        src.email = None
        src.external_id = None
        if "user" in plan["fill"]:
            src.user = None
        src.merged_into = dst
        src.deleted_at = timezone.now()
        src.save()

        for field, value in plan["fill"].items():
            if field in FK_FILL_FIELDS:
                setattr(dst, f"{field}_id", value)
            elif field == "created_at":
                dst.created_at = min(dst.created_at, src.created_at)
            elif field in ("email", "external_id"):
                setattr(dst, field, removed[field])
            else:
                setattr(dst, field, value)
        dst.tags = list(dst.tags or []) + plan["tags_added"]
        dst.custom_fields = {**plan["custom_fields_added"], **(dst.custom_fields or {})}
        dst.save()

        audit_record(
            actor=actor,
            action="customer.merge",
            target_type="customer",
            target_id=dst.pk,
            summary=f"Merged customer #{src.pk} into #{dst.pk}",
            data={
                "source_id": src.pk,
                "target_id": dst.pk,
                "source_email": removed["email"],
                "source_external_id": removed["external_id"],
                "source_name": src.name,
                "moved": plan["move"],
                "filled": sorted(plan["fill"]),
                "tags_added": plan["tags_added"],
                "custom_fields_added": sorted(plan["custom_fields_added"]),
                "conflicts": [c["field"] for c in plan["conflicts"]],
            },
        )
    return dst
