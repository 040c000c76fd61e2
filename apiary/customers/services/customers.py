"""Writes for customer records, organisations and the custom-field schema.

Every service validates its input and raises ``ValidationError({field: [message]})``; every write
of customer data leaves an audit entry (field *names* only, never values, so the log itself holds
no personal data).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.accounts.services import audit_record
from apiary.customers.countries import COUNTRY_CODES
from apiary.customers.models import (
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleStage,
    Organisation,
)

CUSTOMER_FIELDS = (
    "email",
    "name",
    "external_id",
    "phone",
    "country",
    "region",
    "city",
    "language",
    "tags",
    "lifecycle_stage",
    "custom_fields",
    "organisation",
)
MAX_TAGS = 30
MAX_TAG_LENGTH = 40
_TAG_RE = re.compile(r"^[\w][\w .:+/-]*$")
_PHONE_RE = re.compile(r"^\+?[0-9 ().-]{3,40}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,200}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


def _error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _text(field: str, value, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _error(field, _("Must be a string."))
    value = value.strip()
    if len(value) > max_length:
        raise _error(field, _("Must be at most %(n)s characters long.") % {"n": max_length})
    return value


def clean_email(value) -> str | None:
    """Lower-cased e-mail or None for blank; e-mail addresses compare case-insensitively."""
    value = _text("email", value, 254).lower()
    if not value:
        return None
    try:
        validate_email(value)
    except ValidationError:
        raise _error("email", _("Enter a valid e-mail address.")) from None
    return value


def clean_country(value, field: str = "country") -> str:
    value = _text(field, value, 2).upper()
    if value and value not in COUNTRY_CODES:
        raise _error(field, _("Use a two-letter ISO 3166-1 country code, such as DE or US."))
    return value


def clean_language(value) -> str:
    value = _text("language", value, 8).lower()
    if not value or value in dict(settings.LANGUAGES):
        return value
    if not re.fullmatch(r"[a-z]{2}", value):
        raise _error("language", _("Use a two-letter language code, such as en or ru."))
    return value


def clean_tags(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise _error("tags", _("Must be a list of short texts."))
    out: list[str] = []
    for tag in value:
        if not isinstance(tag, str):
            raise _error("tags", _("Must be a list of short texts."))
        tag = " ".join(tag.split()).lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise _error(
                "tags",
                _("Tag %(tag)s is longer than %(n)s characters.")
                % {"tag": tag[:20] + "…", "n": MAX_TAG_LENGTH},
            )
        # Quotes and backslashes are refused: segments match tags inside the stored JSON text.
        if not _TAG_RE.match(tag):
            raise _error(
                "tags",
                _("Tag %(tag)s may hold only letters, digits, spaces and .:+/-_") % {"tag": tag},
            )
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise _error("tags", _("At most %(n)s tags.") % {"n": MAX_TAGS})
    return out


def clean_lifecycle(value) -> str:
    if value not in LifecycleStage.values:
        raise _error(
            "lifecycle_stage",
            _("Must be one of: %(expected)s.") % {"expected": ", ".join(LifecycleStage.values)},
        )
    return str(value)


def _clean_phone(value) -> str:
    value = _text("phone", value, 40)
    if value and not _PHONE_RE.match(value):
        raise _error("phone", _("Enter a phone number with digits, spaces, +, (, ), - or ."))
    return value


def _clean_custom_value(definition: CustomFieldDefinition, value):
    """One custom value checked against its definition; returns the JSON-storable value."""
    key = definition.key
    kind = definition.type
    if kind == CustomFieldType.TEXT:
        if not isinstance(value, str) or len(value) > 1000:
            raise _error(
                "custom_fields",
                _("%(key)s must be a text of at most 1000 characters.") % {"key": key},
            )
        return value.strip()
    if kind == CustomFieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise _error("custom_fields", _("%(key)s must be a number.") % {"key": key})
        return float(value) if isinstance(value, Decimal) else value
    if kind == CustomFieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise _error("custom_fields", _("%(key)s must be true or false.") % {"key": key})
        return value
    if kind == CustomFieldType.DATE:
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise _error(
                "custom_fields", _("%(key)s must be a date (YYYY-MM-DD).") % {"key": key}
            ) from None
    # choice
    if value not in (definition.choices or []):
        raise _error(
            "custom_fields",
            _("%(key)s must be one of: %(expected)s.")
            % {"key": key, "expected": ", ".join(map(str, definition.choices or []))},
        )
    return value


def clean_custom_fields(value, *, current: dict | None = None) -> dict:
    """Merge ``value`` into ``current`` (a None value removes a key) and validate the result
    against the workspace's CustomFieldDefinition rows: unknown keys, types, choices, required."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _error("custom_fields", _("Must be an object."))
    definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
    merged = dict(current or {})
    for key, raw in value.items():
        if key not in definitions:
            raise _error(
                "custom_fields", _("%(key)s is not a defined custom field.") % {"key": key}
            )
        if raw is None or raw == "":
            merged.pop(key, None)
        else:
            merged[key] = _clean_custom_value(definitions[key], raw)
    for key, definition in definitions.items():
        if definition.required and key not in merged:
            raise _error("custom_fields", _("%(key)s is required.") % {"key": key})
    return merged


def _clean_organisation(value) -> Organisation | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = Organisation.objects.filter(pk=value).first()
    if not isinstance(value, Organisation) or value.deleted_at is not None:
        raise _error("organisation", _("Unknown organisation."))
    return value


def _check_unique(*, email: str | None, external_id: str | None, exclude_pk=None) -> None:
    others = Customer.objects.exclude(pk=exclude_pk) if exclude_pk else Customer.objects.all()
    if email and others.filter(email__iexact=email, deleted_at__isnull=True).exists():
        raise _error("email", _("Another customer already has this e-mail address."))
    if external_id and others.filter(external_id=external_id).exists():
        raise _error("external_id", _("Another customer already has this external id."))


def _clean(field: str, value, *, customer: Customer | None = None):
    match field:
        case "email":
            return clean_email(value)
        case "external_id":
            return _text("external_id", value, 120) or None
        case "name":
            return _text("name", value, 200)
        case "phone":
            return _clean_phone(value)
        case "country":
            return clean_country(value)
        case "region" | "city":
            return _text(field, value, 120)
        case "language":
            return clean_language(value)
        case "tags":
            return clean_tags(value)
        case "lifecycle_stage":
            return clean_lifecycle(value)
        case "custom_fields":
            return clean_custom_fields(value, current=customer.custom_fields if customer else None)
        case "organisation":
            return _clean_organisation(value)
    raise _error(field, _("Unknown field."))


def _save(customer: Customer, **kwargs) -> None:
    try:
        with transaction.atomic():
            customer.save(**kwargs)
    except IntegrityError:
        # A concurrent write won the race past the exists() checks; the unique index decided.
        raise _error("email", _("Another customer already has this e-mail address.")) from None


def customer_create(
    *,
    actor=None,
    email=None,
    name="",
    external_id=None,
    phone="",
    country="",
    region="",
    city="",
    language="",
    tags=None,
    lifecycle_stage=LifecycleStage.CUSTOMER,
    custom_fields=None,
    organisation=None,
) -> Customer:
    raw = {
        "email": email,
        "name": name,
        "external_id": external_id,
        "phone": phone,
        "country": country,
        "region": region,
        "city": city,
        "language": language,
        "tags": tags,
        "lifecycle_stage": lifecycle_stage,
        "custom_fields": custom_fields,
        "organisation": organisation,
    }
    values = {field: _clean(field, value) for field, value in raw.items()}
    _check_unique(email=values["email"], external_id=values["external_id"])
    customer = Customer(**values)
    _save(customer)
    audit_record(
        actor=actor,
        action="customer.create",
        target_type="customer",
        target_id=customer.pk,
        data={"fields": sorted(f for f, v in values.items() if v not in (None, "", [], {}))},
    )
    return customer


def customer_update(*, customer: Customer, actor=None, **fields) -> Customer:
    """Change the given fields (unknown names are an error); custom_fields merge into the
    current ones. The audit entry lists which fields changed, not their values."""
    if customer.erased_at is not None:
        raise _error("customer", _("This customer was erased and cannot be changed."))
    for field in fields:
        if field not in CUSTOMER_FIELDS:
            raise _error(field, _("Unknown field."))
    changed = []
    for field, value in fields.items():
        value = _clean(field, value, customer=customer)
        if getattr(customer, field) != value:
            setattr(customer, field, value)
            changed.append(field)
    if not changed:
        return customer
    _check_unique(email=customer.email, external_id=customer.external_id, exclude_pk=customer.pk)
    _save(customer)
    audit_record(
        actor=actor,
        action="customer.update",
        target_type="customer",
        target_id=customer.pk,
        summary=", ".join(changed),
        data={"fields": changed},
    )
    return customer


def customer_upsert_by_email(
    *, email, actor=None, name="", language="", country="", city=""
) -> tuple[Customer, bool]:
    """For touchpoints that know only an e-mail (the public connect form): find the live
    customer by e-mail and fill only its blank fields, or create a new lead."""
    email = clean_email(email)
    if email is None:
        raise _error("email", _("This field is required."))
    given = {
        "name": _text("name", name, 200),
        "language": clean_language(language),
        "country": clean_country(country),
        "city": _text("city", city, 120),
    }
    for _attempt in range(2):
        customer = (
            Customer.objects.filter(email__iexact=email, deleted_at__isnull=True)
            .order_by("pk")
            .first()
        )
        if customer is not None:
            # A merged record keeps its e-mail; the person lives on in the record it went into.
            while customer.merged_into_id is not None:
                customer = customer.merged_into
            blanks = {f: v for f, v in given.items() if v and not getattr(customer, f)}
            if blanks:
                customer_update(customer=customer, actor=actor, **blanks)
            return customer, False
        try:
            return (
                customer_create(
                    actor=actor, email=email, lifecycle_stage=LifecycleStage.LEAD, **given
                ),
                True,
            )
        except ValidationError as exc:
            # Lost a race with another submission of the same e-mail: take theirs.
            if "email" not in getattr(exc, "error_dict", {}):
                raise
    raise _error("email", _("Another customer already has this e-mail address."))


def customer_soft_delete(*, customer: Customer, actor) -> Customer:
    if customer.deleted_at is None:
        customer.deleted_at = timezone.now()
        customer.save(update_fields=["deleted_at", "updated_at"])
        audit_record(
            actor=actor, action="customer.delete", target_type="customer", target_id=customer.pk
        )
    return customer


# --- Organisations ------------------------------------------------------------------------------


def _clean_org(field: str, value, *, organisation: Organisation | None = None):
    if field == "name":
        value = _text("name", value, 200)
        if not value:
            raise _error("name", _("This field is required."))
        clash = Organisation.objects.filter(name__iexact=value, deleted_at__isnull=True)
        if organisation is not None:
            clash = clash.exclude(pk=organisation.pk)
        if clash.exists():
            raise _error("name", _("An organisation with this name already exists."))
        return value
    if field == "domain":
        value = _text("domain", value, 200).lower().removeprefix("https://")
        value = value.removeprefix("http://").removeprefix("www.").rstrip("/")
        if value and not _DOMAIN_RE.match(value):
            raise _error("domain", _("Enter a domain name such as example.com."))
        return value
    if field == "country":
        return clean_country(value)
    if field == "city":
        return _text("city", value, 120)
    raise _error(field, _("Unknown field."))


def organisation_create(*, name, domain="", country="", city="", actor=None) -> Organisation:
    values = {
        f: _clean_org(f, v)
        for f, v in {"name": name, "domain": domain, "country": country, "city": city}.items()
    }
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(**values)
    except IntegrityError:
        raise _error("name", _("An organisation with this name already exists.")) from None
    audit_record(
        actor=actor,
        action="organisation.create",
        target_type="organisation",
        target_id=organisation.pk,
    )
    return organisation


def organisation_update(*, organisation: Organisation, actor=None, **fields) -> Organisation:
    changed = []
    for field, value in fields.items():
        value = _clean_org(field, value, organisation=organisation)
        if getattr(organisation, field) != value:
            setattr(organisation, field, value)
            changed.append(field)
    if changed:
        try:
            with transaction.atomic():
                organisation.save()
        except IntegrityError:
            raise _error("name", _("An organisation with this name already exists.")) from None
        audit_record(
            actor=actor,
            action="organisation.update",
            target_type="organisation",
            target_id=organisation.pk,
            data={"fields": changed},
        )
    return organisation


# --- Custom-field schema ------------------------------------------------------------------------


def custom_field_define(
    *, key, label, type, choices=None, required=False, actor=None
) -> CustomFieldDefinition:
    """Create or redefine (by key) one custom field of the workspace's customer schema."""
    key = _text("key", key, 50).lower()
    if not _KEY_RE.match(key):
        raise _error(
            "key", _("Use lower-case letters, digits and _ starting with a letter (max 50).")
        )
    label = _text("label", label, 120)
    if not label:
        raise _error("label", _("This field is required."))
    if type not in CustomFieldType.values:
        raise _error(
            "type",
            _("Must be one of: %(expected)s.") % {"expected": ", ".join(CustomFieldType.values)},
        )
    choices = list(choices or [])
    if type == CustomFieldType.CHOICE:
        if not choices or not all(isinstance(c, str) and c.strip() for c in choices):
            raise _error("choices", _("A choice field needs a list of non-empty texts."))
        choices = list(dict.fromkeys(c.strip() for c in choices))
    elif choices:
        raise _error("choices", _("Only choice fields take choices."))
    if not isinstance(required, bool):
        raise _error("required", _("Must be true or false."))
    definition, _created = CustomFieldDefinition.objects.update_or_create(
        key=key, defaults={"label": label, "type": type, "choices": choices, "required": required}
    )
    audit_record(
        actor=actor, action="custom_field.define", target_type="custom_field", target_id=key
    )
    return definition
