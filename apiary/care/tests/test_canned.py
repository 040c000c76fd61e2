"""Canned responses: validation at save time, rendering with variables, language fallback."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apiary.accounts.models import Role, Workspace
from apiary.care import canned
from apiary.care.models import CannedResponse
from apiary.customers.models import Customer, Order

from .test_replies_support import make_conversation


@pytest.fixture
def lead(make_user):
    return make_user(Role.CARE_MANAGER, email="lead@example.com", display_name="Lena Lead")


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="ana.agent@example.com", display_name="Ana")


@pytest.fixture
def brand(db):
    Workspace.objects.all().delete()
    return Workspace.objects.create(name="Northwind Coffee")


def customer_with_orders(name="Alice Martín", *orders):
    customer = Customer.objects.create(name=name)
    now = timezone.now()
    for n, external_id in enumerate(orders):
        Order.objects.create(
            external_id=external_id,
            customer=customer,
            ordered_at=now - timedelta(days=10 - n),
            currency="EUR",
            total=Decimal("12.50"),
        )
    return customer


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Hi {customer}", "Unknown variable {customer}"),
        ("Hi {first_name:>10}", "Write variables plainly"),
        ("Hi {first_name!r}", "Write variables plainly"),
        ("Hi {first_name", "A brace is not closed"),
        ("Hi }", "A brace is not closed"),
        ("Order {0}", "Unknown variable {0}"),
        ("   ", "The text is required."),
    ],
)
def test_bad_bodies_are_refused_at_save_time(db, lead, body, message):
    with pytest.raises(ValidationError) as error:
        canned.canned_create(key="hello", language="en", title="Hello", body=body, user=lead)

    assert message in str(error.value)
    assert not CannedResponse.objects.exists()


def test_keys_languages_and_duplicates_are_checked(db, lead):
    canned.canned_create(key="hello", language="en", title="Hello", body="Hi!", user=lead)
    with pytest.raises(ValidationError, match="already a en version"):
        canned.canned_create(key="hello", language="EN", title="Hello", body="Hi", user=lead)
    with pytest.raises(ValidationError, match="Letters, digits"):
        canned.canned_create(key="hello there", language="en", title="x", body="Hi", user=lead)
    with pytest.raises(ValidationError, match="language code"):
        canned.canned_create(key="hello", language="english", title="x", body="Hi", user=lead)
    with pytest.raises(ValidationError, match="title"):
        canned.canned_create(key="bye", language="en", title=" ", body="Bye", user=lead)


def test_only_care_managers_change_canned_responses(db, lead, agent):
    with pytest.raises(PermissionDenied):
        canned.canned_create(key="x", language="en", title="X", body="x", user=agent)
    response = canned.canned_create(key="x", language="en", title="X", body="x", user=lead)
    with pytest.raises(PermissionDenied):
        canned.canned_update(response_id=response.pk, body="y", user=agent)
    with pytest.raises(PermissionDenied):
        canned.canned_delete(response_id=response.pk, user=agent)

    canned.canned_update(response_id=response.pk, body="Thanks, {first_name}!", user=lead)
    assert CannedResponse.objects.get(pk=response.pk).body == "Thanks, {first_name}!"
    with pytest.raises(ValidationError):
        canned.canned_update(response_id=response.pk, body="{oops}", user=lead)
    canned.canned_delete(response_id=response.pk, user=lead)
    assert not CannedResponse.objects.exists()


def test_every_variable_is_filled_from_the_conversation(db, lead, agent, brand):
    customer = customer_with_orders("Alice Martín", "NW-1001", "NW-1002")
    conversation = make_conversation(
        source=None, external_id="c-1", platform="web", customer=customer
    )
    response = canned.canned_create(
        key="order",
        language="en",
        title="Order",
        body="Hi {first_name} ({customer_name}), order {order_number} is on its way. "
        "— {agent_name}, {brand} {{support}}",
        user=lead,
    )

    text = canned.canned_render(response=response, conversation=conversation, agent=agent)

    assert text == (
        "Hi Alice (Alice Martín), order NW-1002 is on its way. — Ana, Northwind Coffee {support}"
    )


def test_orders_of_merged_records_count_for_the_latest_order(db, lead, agent, brand):
    survivor = customer_with_orders("Bob Stone", "NW-1")
    merged = customer_with_orders("Bob S", "NW-2")  # the newer order, on the merged record
    merged.merged_into = survivor
    merged.save()
    conversation = make_conversation(
        source=None, external_id="c-2", platform="web", customer=survivor
    )
    response = CannedResponse.objects.create(
        key="o", language="en", title="o", body="Order {order_number}."
    )

    assert (
        canned.canned_render(response=response, conversation=conversation, agent=agent)
        == "Order NW-2."
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hi {first_name}, thanks for writing!", "Hi, thanks for writing!"),
        ("Здравствуйте, {first_name}! Спасибо.", "Здравствуйте! Спасибо."),
        ("Hola {first_name}, ¡gracias!", "Hola, ¡gracias!"),
        ("Your order {order_number}: shipped.", "Your order: shipped."),
        ("Thanks {first_name}\nWe are on it.", "Thanks\nWe are on it."),
        ("Greetings from the {brand} team", "Greetings from the Northwind Coffee team"),
    ],
)
def test_missing_values_leave_a_sentence_that_reads(db, agent, brand, body, expected):
    # given: an unlinked author with no display name (no name, no orders)
    conversation = make_conversation(source=None, external_id="c-3", platform="web")
    response = CannedResponse.objects.create(key="k", language="en", title="k", body=body)

    text = canned.canned_render(response=response, conversation=conversation, agent=agent)

    assert text == expected


def test_the_authors_display_name_stands_in_for_an_unlinked_customer(db, agent, brand):
    conversation = make_conversation(
        source=None, external_id="c-4", platform="web", author_name="Carla Díaz"
    )
    response = CannedResponse.objects.create(
        key="k", language="es", title="k", body="Hola {first_name}!"
    )

    assert (
        canned.canned_render(response=response, conversation=conversation, agent=agent)
        == "Hola Carla!"
    )


def test_canned_for_prefers_the_language_then_english(db):
    for key, language in [("a", "en"), ("a", "es"), ("b", "en"), ("c", "ru")]:
        CannedResponse.objects.create(
            key=key, language=language, title=f"{key}-{language}", body="x"
        )

    chosen = {c.key: c.language for c in canned.canned_for(language="es-MX")}
    assert chosen == {"a": "es", "b": "en", "c": "ru"}
    assert {c.key: c.language for c in canned.canned_for(language=None)} == {
        "a": "en",
        "b": "en",
        "c": "ru",
    }


def test_defaults_are_seeded_in_three_languages_once_and_edits_kept(db, lead, agent, brand):
    made = canned.canned_ensure_defaults()
    assert made == len(canned.DEFAULTS) * 3 == 18
    edited = CannedResponse.objects.get(key="order-status", language="en")
    edited.body = "Custom {order_number}"
    edited.save()
    CannedResponse.objects.filter(key="order-status", language="ru").delete()

    assert canned.canned_ensure_defaults() == 1

    assert (
        CannedResponse.objects.get(key="order-status", language="en").body
        == "Custom {order_number}"
    )
    assert CannedResponse.objects.filter(key="order-status", language="ru").exists()
    # Every default renders cleanly for a conversation with nothing known about the author.
    conversation = make_conversation(source=None, external_id="c-5", platform="web")
    for response in CannedResponse.objects.all():
        text = canned.canned_render(response=response, conversation=conversation, agent=agent)
        assert "{" not in text and " ," not in text and "\x00" not in text
        assert text.strip() == text and "  " not in text
    assert {c.language for c in canned.canned_for(language="ru")} == {"ru"}
