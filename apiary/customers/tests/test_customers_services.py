import pytest
from django.core.exceptions import ValidationError

from apiary.accounts.models import AuditEntry, Role
from apiary.customers.models import Customer, LifecycleStage
from apiary.customers.services.customers import (
    custom_field_define,
    customer_create,
    customer_soft_delete,
    customer_update,
    customer_upsert_by_email,
    organisation_create,
    organisation_update,
)

pytestmark = pytest.mark.django_db


def _field_error(exc_info) -> str:
    (field,) = exc_info.value.message_dict.keys()
    return field


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT)


def test_create_normalises_every_field(agent):
    # when
    customer = customer_create(
        actor=agent,
        email="  Ana.Lopez@Example.COM ",
        name="  Ana López ",
        external_id=" shop-17 ",
        phone="+34 (91) 123-45-67",
        country="es",
        city="Madrid",
        language="ES",
        tags=["VIP", " vip", "Wholesale  buyer", ""],
    )
    # then
    customer.refresh_from_db()
    assert customer.email == "ana.lopez@example.com"
    assert customer.name == "Ana López"
    assert customer.external_id == "shop-17"
    assert customer.country == "ES"
    assert customer.language == "es"
    assert customer.tags == ["vip", "wholesale buyer"]
    assert customer.lifecycle_stage == LifecycleStage.CUSTOMER
    entry = AuditEntry.objects.get(action="customer.create", target_id=str(customer.pk))
    assert entry.actor == agent
    assert entry.target_type == "customer"
    assert "ana.lopez@example.com" not in str(entry.data)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": 42}, "email"),
        ({"country": "XX"}, "country"),
        ({"country": "Germany"}, "country"),
        ({"language": "english"}, "language"),
        ({"language": "e1"}, "language"),
        ({"tags": "vip"}, "tags"),
        ({"tags": ["x" * 41]}, "tags"),
        ({"tags": ['say "hi"']}, "tags"),
        ({"tags": [1, 2]}, "tags"),
        ({"tags": [f"t{i}" for i in range(31)]}, "tags"),
        ({"lifecycle_stage": "vip"}, "lifecycle_stage"),
        ({"phone": "call me maybe"}, "phone"),
        ({"name": "n" * 201}, "name"),
        ({"organisation": 999999}, "organisation"),
        ({"custom_fields": ["a"]}, "custom_fields"),
    ],
)
def test_create_rejects_bad_input_naming_the_field(kwargs, field):
    # when
    with pytest.raises(ValidationError) as exc_info:
        customer_create(**kwargs)
    # then
    assert _field_error(exc_info) == field
    assert not Customer.objects.exists()


def test_language_accepts_ui_languages_and_other_two_letter_codes():
    assert customer_create(language="ru").language == "ru"
    assert customer_create(language="de").language == "de"
    assert customer_create(language="").language == ""


def test_email_is_unique_case_insensitively_among_live_customers(agent):
    # given
    first = customer_create(email="bob@example.com")
    # when / then
    with pytest.raises(ValidationError) as exc_info:
        customer_create(email="BOB@example.com")
    assert _field_error(exc_info) == "email"
    # a soft-deleted customer frees the address
    customer_soft_delete(customer=first, actor=agent)
    assert customer_create(email="Bob@Example.com").email == "bob@example.com"


def test_external_id_is_unique():
    customer_create(external_id="C-1")
    with pytest.raises(ValidationError) as exc_info:
        customer_create(external_id="C-1")
    assert _field_error(exc_info) == "external_id"


def test_custom_fields_are_checked_against_the_workspace_schema():
    # given
    custom_field_define(key="shoe_size", label="Shoe size", type="number")
    custom_field_define(key="tier", label="Tier", type="choice", choices=["gold", "silver"])
    custom_field_define(key="birthday", label="Birthday", type="date")
    custom_field_define(key="newsletter", label="Newsletter", type="boolean")
    custom_field_define(key="notes", label="Notes", type="text")
    # when
    customer = customer_create(
        custom_fields={
            "shoe_size": 42,
            "tier": "gold",
            "birthday": "1990-02-03",
            "newsletter": True,
            "notes": " likes dark roast ",
        }
    )
    # then
    assert customer.custom_fields == {
        "shoe_size": 42,
        "tier": "gold",
        "birthday": "1990-02-03",
        "newsletter": True,
        "notes": "likes dark roast",
    }
    bad = [
        ({"unknown": 1}, "unknown is not a defined custom field."),
        ({"shoe_size": "big"}, "shoe_size must be a number."),
        ({"shoe_size": True}, "shoe_size must be a number."),
        ({"tier": "bronze"}, "tier must be one of: gold, silver."),
        ({"birthday": "03/02/1990"}, "birthday must be a date (YYYY-MM-DD)."),
        ({"newsletter": "yes"}, "newsletter must be true or false."),
        ({"notes": 5}, "notes must be a text of at most 1000 characters."),
    ]
    for value, message in bad:
        with pytest.raises(ValidationError) as exc_info:
            customer_create(custom_fields=value)
        assert exc_info.value.message_dict == {"custom_fields": [message]}


def test_required_custom_field_must_be_present():
    # given
    custom_field_define(key="segment_code", label="Code", type="text", required=True)
    # when / then
    with pytest.raises(ValidationError) as exc_info:
        customer_create(name="No code")
    assert exc_info.value.message_dict == {"custom_fields": ["segment_code is required."]}
    assert customer_create(custom_fields={"segment_code": "A"}).custom_fields == {
        "segment_code": "A"
    }


def test_update_changes_known_fields_and_audits_field_names_only(agent):
    # given
    custom_field_define(key="tier", label="Tier", type="choice", choices=["gold", "silver"])
    customer = customer_create(email="c@example.com", name="Carl", custom_fields={"tier": "gold"})
    # when
    customer_update(
        customer=customer,
        actor=agent,
        name="Carl Jung",
        city="Zürich",
        country="ch",
        custom_fields={"tier": None},
    )
    # then
    customer.refresh_from_db()
    assert (customer.name, customer.city, customer.country) == ("Carl Jung", "Zürich", "CH")
    assert customer.custom_fields == {}
    entry = AuditEntry.objects.get(action="customer.update", target_id=str(customer.pk))
    assert sorted(entry.data["fields"]) == ["city", "country", "custom_fields", "name"]
    assert "Carl Jung" not in str(entry.data) + entry.summary
    assert "Zürich" not in str(entry.data) + entry.summary


def test_update_without_changes_writes_no_audit_entry():
    customer = customer_create(name="Same")
    customer_update(customer=customer, name="Same")
    assert not AuditEntry.objects.filter(action="customer.update").exists()


def test_update_custom_fields_merge_into_current_values():
    custom_field_define(key="a", label="A", type="text")
    custom_field_define(key="b", label="B", type="number")
    customer = customer_create(custom_fields={"a": "x"})
    customer_update(customer=customer, custom_fields={"b": 2})
    assert customer.custom_fields == {"a": "x", "b": 2}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"nickname": "x"}, "nickname"),
        ({"deleted_at": None}, "deleted_at"),
        ({"country": "ZZ"}, "country"),
        ({"email": "bad"}, "email"),
    ],
)
def test_update_rejects_unknown_fields_and_bad_values(fields, field):
    customer = customer_create(name="Dora")
    with pytest.raises(ValidationError) as exc_info:
        customer_update(customer=customer, **fields)
    assert _field_error(exc_info) == field


def test_update_to_an_email_taken_by_another_customer_is_refused():
    customer_create(email="taken@example.com")
    other = customer_create(email="free@example.com")
    with pytest.raises(ValidationError) as exc_info:
        customer_update(customer=other, email="TAKEN@example.com")
    assert _field_error(exc_info) == "email"


def test_erased_customer_cannot_be_updated(admin_user):
    from apiary.customers.services.privacy import customer_erase

    customer = customer_erase(customer=customer_create(name="Eve"), actor=admin_user)
    with pytest.raises(ValidationError) as exc_info:
        customer_update(customer=customer, name="Eve again")
    assert _field_error(exc_info) == "customer"


def test_upsert_by_email_creates_a_lead():
    # when
    customer, created = customer_upsert_by_email(
        email="New@Example.com", name="Nina", language="ru", country="ru", city="Kazan"
    )
    # then
    assert created is True
    assert customer.lifecycle_stage == LifecycleStage.LEAD
    assert (customer.email, customer.country, customer.language) == ("new@example.com", "RU", "ru")


def test_upsert_by_email_finds_case_insensitively_and_fills_blanks_only():
    # given
    existing = customer_create(email="pia@example.com", name="Pia", city="")
    # when
    customer, created = customer_upsert_by_email(
        email="PIA@example.com", name="Someone else", city="Lyon", country="FR"
    )
    # then
    assert created is False
    assert customer.pk == existing.pk
    customer.refresh_from_db()
    assert customer.name == "Pia"
    assert (customer.city, customer.country) == ("Lyon", "FR")
    assert customer.lifecycle_stage == LifecycleStage.CUSTOMER


def test_upsert_by_email_follows_a_merged_record():
    # given
    target = customer_create(email="target@example.com")
    source = customer_create(email="old@example.com")
    Customer.objects.filter(pk=source.pk).update(merged_into=target)
    # when
    customer, created = customer_upsert_by_email(email="old@example.com")
    # then
    assert (customer.pk, created) == (target.pk, False)


def test_upsert_by_email_requires_a_valid_email():
    for email in ("", "nope"):
        with pytest.raises(ValidationError) as exc_info:
            customer_upsert_by_email(email=email)
        assert _field_error(exc_info) == "email"


def test_soft_delete_marks_and_audits_once(agent):
    customer = customer_create(name="Gone")
    customer_soft_delete(customer=customer, actor=agent)
    customer_soft_delete(customer=customer, actor=agent)
    customer.refresh_from_db()
    assert customer.deleted_at is not None
    assert AuditEntry.objects.filter(action="customer.delete", actor=agent).count() == 1


def test_organisation_create_normalises_and_refuses_duplicates(agent):
    # when
    org = organisation_create(
        name=" Acme ", domain="https://www.Acme.example/", country="de", actor=agent
    )
    # then
    assert (org.name, org.domain, org.country) == ("Acme", "acme.example", "DE")
    with pytest.raises(ValidationError) as exc_info:
        organisation_create(name="ACME")
    assert _field_error(exc_info) == "name"
    for kwargs, field in (
        ({"name": ""}, "name"),
        ({"name": "B", "domain": "not a domain"}, "domain"),
        ({"name": "B", "country": "QQ"}, "country"),
    ):
        with pytest.raises(ValidationError) as exc_info:
            organisation_create(**kwargs)
        assert _field_error(exc_info) == field


def test_organisation_update_and_customer_link(agent):
    # given
    org = organisation_create(name="Globex")
    organisation_create(name="Initech")
    # when
    organisation_update(organisation=org, city="Springfield", actor=agent)
    customer = customer_create(name="Homer", organisation=org)
    # then
    assert customer.organisation.city == "Springfield"
    with pytest.raises(ValidationError) as exc_info:
        organisation_update(organisation=org, name="initech")
    assert _field_error(exc_info) == "name"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key": "Bad Key", "label": "X", "type": "text"}, "key"),
        ({"key": "ok", "label": "", "type": "text"}, "label"),
        ({"key": "ok", "label": "X", "type": "colour"}, "type"),
        ({"key": "ok", "label": "X", "type": "choice"}, "choices"),
        ({"key": "ok", "label": "X", "type": "text", "choices": ["a"]}, "choices"),
    ],
)
def test_custom_field_define_validates(kwargs, field):
    with pytest.raises(ValidationError) as exc_info:
        custom_field_define(**kwargs)
    assert _field_error(exc_info) == field


def test_custom_field_define_redefines_by_key():
    custom_field_define(key="tier", label="Tier", type="choice", choices=["a", "a", "b"])
    definition = custom_field_define(key="tier", label="Level", type="text")
    assert (definition.label, definition.type, definition.choices) == ("Level", "text", [])
    assert AuditEntry.objects.filter(action="custom_field.define", target_id="tier").count() == 2
