"""Staff pages for customers: list, profile, edit, identities, review queue, merge, privacy."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from apiary.accounts.models import AuditEntry, Role
from apiary.customers.models import (
    ConsentRecord,
    Customer,
    IdentitySuggestion,
    Order,
    SocialIdentity,
)
from apiary.customers.services.customers import customer_create
from apiary.customers.services.identities import identity_link

pytestmark = pytest.mark.django_db

CONSENT = "I agree to link my accounts."


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _order(customer, ext, total, currency="EUR", days_ago=1):
    return Order.objects.create(
        external_id=ext,
        customer=customer,
        ordered_at=timezone.now() - timedelta(days=days_ago),
        currency=currency,
        total=Decimal(total),
        items=[{"sku": "ETH-250", "name": "Ethiopia Guji 250 g", "quantity": 1, "price": total}],
        channel="web",
    )


@pytest.fixture
def people(db):
    ana = customer_create(
        email="ana@example.es", name="Ana García", country="ES", city="Madrid", language="es"
    )
    identity_link(
        customer=ana,
        platform="bluesky",
        handle="@ana.bsky.social",
        touchpoint="checkout",
        consent_text=CONSENT,
    )
    _order(ana, "o-1", "30.00", days_ago=10)
    _order(ana, "o-2", "50.00", days_ago=2)
    ivan = customer_create(
        email="ivan@example.ru",
        name="Иван Петров",
        country="RU",
        city="Москва",
        lifecycle_stage="lead",
    )
    _order(ivan, "o-3", "1500.00", currency="RUB")
    bob = customer_create(
        email="=cmd@example.com", name="=HYPERLINK(1)", country="US", phone="+1 555 0100"
    )
    return {"ana": ana, "ivan": ivan, "bob": bob}


@pytest.fixture
def analyst(make_user):
    return make_user(Role.ANALYST, email="analyst@example.com")


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="agent@example.com")


# --- access ------------------------------------------------------------------------------------


def test_customer_pages_send_anonymous_to_login_and_forbid_members(client, member, people):
    ana = people["ana"]
    # when / then: anonymous
    res = client.get("/customers/")
    assert res.status_code == 302 and res.url.startswith("/accounts/login/")
    # when / then: a community member
    member_client = _client(member)
    assert member_client.get("/customers/").status_code == 403
    assert member_client.get(f"/customers/{ana.pk}/").status_code == 403
    assert member_client.get("/customers/review/").status_code == 403


def test_analyst_reads_but_cannot_change(analyst, people):
    # given
    ana = people["ana"]
    client = _client(analyst)
    # when
    page = client.get(f"/customers/{ana.pk}/")
    # then: reading works, without edit controls, and every change is refused
    assert page.status_code == 200
    html = page.content.decode()
    assert "identity-add" not in html and f"/customers/{ana.pk}/edit/" not in html
    assert client.get(f"/customers/{ana.pk}/edit/").status_code == 403
    res = client.post(
        f"/customers/{ana.pk}/identities/",
        {"platform": "x", "handle": "ana", "touchpoint": "checkout", "consent_text": CONSENT},
    )
    assert res.status_code == 403
    assert client.get(f"/customers/{ana.pk}/merge/").status_code == 403
    assert client.get(f"/customers/{ana.pk}/privacy/export/").status_code == 403
    assert not SocialIdentity.objects.filter(platform="x").exists()


# --- list --------------------------------------------------------------------------------------


def test_list_shows_customers_with_values_and_the_customers_section(analyst, people):
    # when
    res = _client(analyst).get("/customers/")
    # then
    html = res.content.decode()
    assert res.status_code == 200
    assert "Ana García" in html and "Иван Петров" in html
    assert 'aria-current="page">Customers' in html
    assert '<span class="badge social"' in html  # Ana's linked account


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("q=garc", ["Ana García"], ["Иван Петров"]),
        ("q=ana.bsky", ["Ana García"], ["Иван Петров"]),
        ("social=yes", ["Ana García"], ["Иван Петров"]),
        ("social=no", ["Иван Петров"], ["Ana García"]),
        ("platform=bluesky", ["Ana García"], ["Иван Петров"]),
        ("country=ru", ["Иван Петров"], ["Ana García"]),
        ("lifecycle=lead", ["Иван Петров"], ["Ana García"]),
        ("segment=social-customers", ["Ana García"], ["Иван Петров"]),
    ],
)
def test_list_filters_and_search(analyst, people, query, present, absent):
    from apiary.customers.segments import segments_ensure_defaults

    segments_ensure_defaults()
    # when
    html = _client(analyst).get(f"/customers/?{query}").content.decode()
    # then
    for name in present:
        assert name in html
    for name in absent:
        assert name not in html


def test_list_answers_htmx_with_the_table_only(analyst, people):
    # when
    res = _client(analyst).get("/customers/?q=ivan", HTTP_HX_REQUEST="true")
    # then
    html = res.content.decode()
    assert res.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="customer-table">')
    assert "<html" not in html
    assert "Иван Петров" in html and "Ana García" not in html
    assert "HX-Request" in res["Vary"]


def test_an_unknown_country_filter_is_an_error_not_a_500(analyst, people):
    res = _client(analyst).get("/customers/?country=ZZ")
    assert res.status_code == 200
    assert "two-letter country code" in res.content.decode()


def test_list_paginates_fifty_per_page(analyst, db):
    # given
    Customer.objects.bulk_create(
        [Customer(name=f"Person {i:03d}", email=f"p{i}@example.com") for i in range(55)]
    )
    client = _client(analyst)
    # when
    first = client.get("/customers/").content.decode()
    second = client.get("/customers/?page=2").content.decode()
    # then
    assert "Person 049" in first and "Person 050" not in first
    assert "Person 050" in second and "Page 2 of 2" in second


def test_export_csv_follows_the_filters_escapes_formulas_and_is_audited(analyst, people):
    # when
    res = _client(analyst).get("/customers/export.csv?country=US")
    body = b"".join(res.streaming_content).decode()
    # then
    assert res["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["id", "name", "email"]
    assert len(rows) == 2
    assert rows[1][1] == "'=HYPERLINK(1)"  # a formula would run in a spreadsheet
    assert rows[1][2] == "'=cmd@example.com"
    assert rows[1][3] == "+1 555 0100"  # a validated phone number is no formula
    assert AuditEntry.objects.filter(action="customers.export_csv", actor=analyst).exists()


# --- profile -----------------------------------------------------------------------------------


def test_profile_shows_value_identities_consent_orders_and_timeline(analyst, people):
    # given
    ana = people["ana"]
    # when
    res = _client(analyst).get(f"/customers/{ana.pk}/")
    # then
    html = res.content.decode()
    assert res.status_code == 200
    value = html[html.index('id="customer-value"') : html.index('id="identities"')]
    assert ">2<" in value  # orders
    assert "80.00" in value and "40.00" in value  # total and average order, EUR
    assert "ana.bsky.social" in html and "https://bsky.app/profile/ana.bsky.social" in html
    assert CONSENT in html  # the consent history holds the exact text
    assert "o-1" in html and "o-2" in html
    timeline = html[html.index('id="timeline"') :]
    assert "Order o-2" in timeline and "Linked Bluesky account" in timeline
    assert AuditEntry.objects.filter(
        action="customer.view", target_id=str(ana.pk), actor=analyst
    ).exists()


def test_timeline_filters_by_kind_and_loads_more_with_the_cursor(analyst, people):
    # given: 25 orders, more than one timeline page
    ana = people["ana"]
    for i in range(25):
        _order(ana, f"bulk-{i:02d}", "10.00", days_ago=20 + i)
    client = _client(analyst)
    # when: only orders
    first = client.get(f"/customers/{ana.pk}/timeline/?kind=order", HTTP_HX_REQUEST="true")
    html = first.content.decode()
    # then
    assert first.status_code == 200
    assert html.count('class="event event-order"') == 20
    assert "event-consent" not in html
    assert 'id="timeline-more"' in html
    # when: the "load more" link is followed
    more_url = html.split('hx-get="', 2)[1].split('"', 1)[0].replace("&amp;", "&")
    second = client.get(more_url, HTTP_HX_REQUEST="true").content.decode()
    # then: the rest, and no further button
    assert second.count('class="event event-order"') == 7
    assert 'id="timeline-more"' not in second
    assert "bulk-24" in second


def test_a_malformed_timeline_cursor_is_a_400(analyst, people):
    res = _client(analyst).get(f"/customers/{people['ana'].pk}/timeline/?before=yesterday")
    assert res.status_code == 400


def test_unknown_customer_is_404(analyst, db):
    assert _client(analyst).get("/customers/999999/").status_code == 404


# --- edit and identities -----------------------------------------------------------------------


def test_care_agent_edits_the_profile(agent, people):
    # given
    ivan = people["ivan"]
    client = _client(agent)
    assert client.get(f"/customers/{ivan.pk}/edit/").status_code == 200
    # when
    res = client.post(
        f"/customers/{ivan.pk}/edit/",
        {
            "name": "Иван Петров",
            "email": "ivan@example.ru",
            "phone": "+7 900 000-00-00",
            "country": "kz",
            "region": "",
            "city": "Алматы",
            "language": "ru",
            "lifecycle_stage": "customer",
            "tags": "wholesale, vip",
        },
    )
    # then
    assert res.status_code == 302 and res.url == f"/customers/{ivan.pk}/"
    ivan.refresh_from_db()
    assert (ivan.country, ivan.city, ivan.lifecycle_stage) == ("KZ", "Алматы", "customer")
    assert ivan.tags == ["wholesale", "vip"]


def test_edit_shows_service_errors_next_to_the_field(agent, people):
    ivan = people["ivan"]
    res = _client(agent).post(
        f"/customers/{ivan.pk}/edit/",
        {"name": "Иван", "email": "ana@example.es", "lifecycle_stage": "customer"},
    )
    assert res.status_code == 400
    assert "Another customer already has this e-mail address." in res.content.decode()
    ivan.refresh_from_db()
    assert ivan.email == "ivan@example.ru"


def test_care_agent_links_an_identity_with_consent(agent, people):
    # given
    ivan = people["ivan"]
    # when
    res = _client(agent).post(
        f"/customers/{ivan.pk}/identities/",
        {
            "platform": "vk",
            "handle": "https://vk.com/Ivan_Petrov",
            "touchpoint": "support_form",
            "consent_text": "Agreed on the phone, 12 May",
        },
    )
    # then
    assert res.status_code == 302
    identity = SocialIdentity.objects.get(customer=ivan)
    assert (identity.platform, identity.handle) == ("vk", "ivan_petrov")
    consent = identity.consents.get()
    assert (consent.touchpoint, consent.text, consent.actor) == (
        "support_form",
        "Agreed on the phone, 12 May",
        agent,
    )


def test_a_bad_handle_is_shown_inline_and_nothing_is_linked(agent, people):
    ivan = people["ivan"]
    res = _client(agent).post(
        f"/customers/{ivan.pk}/identities/",
        {
            "platform": "mastodon",
            "handle": "https://bsky.app/profile/ivan.bsky.social",
            "touchpoint": "support_form",
            "consent_text": CONSENT,
        },
    )
    assert res.status_code == 400
    html = res.content.decode()
    assert 'id="id_handle-errors"' in html
    assert "Bluesky" in html[html.index('id="id_handle-errors"') :][:300]
    assert not SocialIdentity.objects.filter(customer=ivan).exists()


def test_withdrawing_consent_unlinks_the_identity(agent, people):
    # given
    ana = people["ana"]
    identity = ana.identities.get()
    # when
    res = _client(agent).post(f"/customers/{ana.pk}/identities/{identity.pk}/withdraw/")
    # then
    assert res.status_code == 302
    identity.refresh_from_db()
    assert identity.withdrawn_at is not None
    last = identity.consents.order_by("-at", "-pk").first()
    assert (last.action, last.actor) == (ConsentRecord.Action.WITHDRAWN, agent)


def test_identities_of_another_customer_cannot_be_withdrawn_through_this_one(agent, people):
    identity = people["ana"].identities.get()
    res = _client(agent).post(f"/customers/{people['ivan'].pk}/identities/{identity.pk}/withdraw/")
    assert res.status_code == 404
    identity.refresh_from_db()
    assert identity.withdrawn_at is None


# --- review queue ------------------------------------------------------------------------------


def _suggestion(customer, handle="ivan_petrov"):
    return IdentitySuggestion.objects.create(
        customer=customer,
        platform="telegram",
        handle=handle,
        display_name=customer.name,
        location=customer.city,
        reason="same display name and city",
        score=0.8,
    )


def test_review_queue_lists_pending_suggestions_for_viewers(analyst, people):
    _suggestion(people["ivan"])
    html = _client(analyst).get("/customers/review/").content.decode()
    assert "ivan_petrov" in html and "same display name and city" in html
    assert "suggestion_accept" not in html and "/accept/" not in html  # analyst cannot decide


def test_accept_needs_a_consent_note_then_links(agent, people):
    # given
    suggestion = _suggestion(people["ivan"])
    client = _client(agent)
    # when: no note
    client.post(f"/customers/review/{suggestion.pk}/accept/", {"consent_text": ""})
    # then
    suggestion.refresh_from_db()
    assert suggestion.status == "pending"
    # when
    res = client.post(
        f"/customers/review/{suggestion.pk}/accept/",
        {"consent_text": "Confirmed in chat #4411"},
    )
    # then
    assert res.status_code == 302
    suggestion.refresh_from_db()
    assert suggestion.status == "accepted" and suggestion.decided_by == agent
    identity = SocialIdentity.objects.get(customer=people["ivan"], platform="telegram")
    assert identity.consents.get().text == "Confirmed in chat #4411"


def test_reject_decides_without_linking(agent, analyst, people):
    suggestion = _suggestion(people["ivan"])
    # an analyst may look but not decide
    assert _client(analyst).post(f"/customers/review/{suggestion.pk}/reject/").status_code == 403
    res = _client(agent).post(f"/customers/review/{suggestion.pk}/reject/")
    assert res.status_code == 302
    suggestion.refresh_from_db()
    assert suggestion.status == "rejected"
    assert not SocialIdentity.objects.filter(customer=people["ivan"]).exists()


# --- merge -------------------------------------------------------------------------------------


def test_merge_previews_then_merges_on_confirmation(agent, people):
    # given: a duplicate of Ana with an order of its own
    ana = people["ana"]
    dup = customer_create(email="ana.g@example.es", name="Ana García", phone="+34 600 000 000")
    _order(dup, "dup-1", "20.00")
    client = _client(agent)
    # when: preview by e-mail
    preview = client.get(f"/customers/{dup.pk}/merge/?target=ANA@example.es")
    # then: nothing moved yet
    html = preview.content.decode()
    assert preview.status_code == 200 and 'id="merge-preview"' in html
    assert "1 order" in html and "phone" in html
    assert Order.objects.get(external_id="dup-1").customer_id == dup.pk
    # when: confirmed
    res = client.post(f"/customers/{dup.pk}/merge/", {"target": str(ana.pk), "confirm": "yes"})
    # then
    assert res.status_code == 302 and res.url == f"/customers/{ana.pk}/"
    assert Order.objects.get(external_id="dup-1").customer_id == ana.pk
    dup.refresh_from_db()
    assert dup.merged_into_id == ana.pk
    assert AuditEntry.objects.filter(action="customer.merge", actor=agent).exists()
    # and the old address leads to the record that lives on
    old = client.get(f"/customers/{dup.pk}/")
    assert old.status_code == 302 and old.url == f"/customers/{ana.pk}/"


def test_merge_into_itself_or_nobody_is_a_clear_error(agent, people):
    ana = people["ana"]
    client = _client(agent)
    res = client.get(f"/customers/{ana.pk}/merge/?target={ana.pk}")
    assert res.status_code == 400 and "cannot merge into itself" in res.content.decode()
    res = client.get(f"/customers/{ana.pk}/merge/?target=nobody@example.com")
    assert res.status_code == 400 and "No customer with this id or e-mail." in res.content.decode()


# --- privacy -----------------------------------------------------------------------------------


def test_privacy_actions_are_for_administrators_only(agent, people):
    ana = people["ana"]
    client = _client(agent)
    html = client.get(f"/customers/{ana.pk}/").content.decode()
    assert "privacy-export" not in html and "privacy-erase" not in html
    assert client.get(f"/customers/{ana.pk}/privacy/export/").status_code == 403
    assert (
        client.post(f"/customers/{ana.pk}/privacy/erase/", {"confirm": ana.pk}).status_code == 403
    )
    ana.refresh_from_db()
    assert ana.erased_at is None


def test_admin_downloads_all_data_as_json(admin_user, people):
    ana = people["ana"]
    res = _client(admin_user).get(f"/customers/{ana.pk}/privacy/export/")
    assert res.status_code == 200
    assert res["Content-Disposition"] == f'attachment; filename="customer-{ana.pk}.json"'
    data = json.loads(res.content)
    assert data["customer"]["email"] == "ana@example.es"
    assert {o["external_id"] for o in data["orders"]} == {"o-1", "o-2"}


def test_erase_needs_the_typed_id_then_anonymises(admin_user, people):
    # given
    ana = people["ana"]
    client = _client(admin_user)
    assert client.get(f"/customers/{ana.pk}/privacy/erase/").status_code == 200
    # when: the wrong id
    res = client.post(f"/customers/{ana.pk}/privacy/erase/", {"confirm": "1234567"})
    # then
    assert res.status_code == 400
    ana.refresh_from_db()
    assert ana.erased_at is None
    # when
    res = client.post(f"/customers/{ana.pk}/privacy/erase/", {"confirm": f"#{ana.pk}"})
    # then: personal data gone, orders kept for revenue
    assert res.status_code == 302 and res.url == "/customers/"
    ana.refresh_from_db()
    assert ana.erased_at is not None and ana.email is None and ana.name == ""
    assert not SocialIdentity.objects.filter(customer=ana).exists()
    assert Order.objects.filter(customer=ana).count() == 2
    assert AuditEntry.objects.filter(action="customer.erase", actor=admin_user).exists()


def test_timeline_cursor_that_is_not_a_date_shows_the_first_page(client, make_user):
    from apiary.accounts.models import Role
    from apiary.customers.services.customers import customer_create

    customer = customer_create(email="cursor@example.com", name="Cursor")
    client.force_login(make_user(Role.ANALYST))
    for cursor in ("garbage", "2026-01-01T10:00:00"):
        res = client.get(f"/customers/{customer.pk}/", {"before": cursor})
        assert res.status_code == 200, cursor


def test_money_is_grouped_the_way_the_viewer_reads_numbers(analyst, people):
    # given: an order of more than a thousand
    from decimal import Decimal

    from apiary.customers.models import Order

    Order.objects.create(
        external_id="BIG-1",
        customer=people["ana"],
        ordered_at=timezone.now(),
        currency="EUR",
        total=Decimal("1031.80"),
    )
    client = _client(analyst)
    # then: English groups with commas, Spanish with a (non-breaking) space and a decimal comma
    english = client.get(f"/customers/{people['ana'].pk}/").content.decode()
    assert "1,031.80" in english
    spanish = client.get(
        f"/customers/{people['ana'].pk}/", headers={"Accept-Language": "es"}
    ).content.decode()
    assert "1,031,80" not in spanish
    assert "031,80" in spanish
