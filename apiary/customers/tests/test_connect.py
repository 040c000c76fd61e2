"""The touchpoints where customers link their own accounts: the public /connect/ form (and its
iframe variant) and the member's community profile."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apiary.accounts.models import Role
from apiary.accounts.services import workspace_ensure
from apiary.customers.forms import consent_text
from apiary.customers.models import ConsentRecord, Customer, SocialIdentity
from apiary.customers.services.customers import customer_create
from apiary.customers.services.identities import identity_link
from apiary.customers.views_connect import embed_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _workspace(db):
    workspace_ensure(name="Northwind Coffee Roasters")


def _form(**extra):
    data = {
        "email": "Lucia@Example.es",
        "name": "Lucía Fernández",
        "platform_0": "bluesky",
        "handle_0": "https://bsky.app/profile/Lucia.bsky.social",
        "platform_1": "instagram",
        "handle_1": "@lucia.cafe",
        "consent": "on",
    }
    data.update(extra)
    return data


# --- the public page ---------------------------------------------------------------------------


def test_the_page_shows_the_consent_text_and_cannot_be_framed(client):
    res = client.get("/connect/")
    html = res.content.decode()
    assert res.status_code == 200
    assert consent_text() in html
    assert "Northwind Coffee Roasters" in consent_text()
    assert res["X-Frame-Options"] == "DENY"
    assert 'name="csrfmiddlewaretoken"' in html


def test_the_embed_variant_can_be_framed_and_has_a_minimal_layout(client):
    res = client.get("/connect/?embed=1&touchpoint=checkout")
    html = res.content.decode()
    assert res.status_code == 200
    assert "X-Frame-Options" not in res
    assert 'class="topbar"' not in html  # no application chrome in someone else's page
    assert 'name="embed_token"' in html
    assert 'action="/connect/?embed=1&amp;touchpoint=checkout"' in html


def test_submitting_creates_the_customer_identities_and_consent_records(client):
    # when
    res = client.post("/connect/?touchpoint=checkout", _form())
    # then
    assert res.status_code == 200
    assert 'id="connect-done"' in res.content.decode()
    customer = Customer.objects.get(email="lucia@example.es")
    assert customer.name == "Lucía Fernández"
    assert customer.language == "en"
    handles = set(customer.identities.values_list("platform", "handle"))
    assert handles == {("bluesky", "lucia.bsky.social"), ("instagram", "lucia.cafe")}
    records = ConsentRecord.objects.filter(identity__customer=customer)
    assert records.count() == 2
    for record in records:
        assert record.text == consent_text()
        assert record.touchpoint == "checkout"
        assert record.action == "given"


def test_an_existing_customer_is_updated_by_email_not_duplicated(client):
    # given
    existing = customer_create(email="lucia@example.es", name="Lucía Fernández", country="ES")
    # when: someone who knows her e-mail, without giving a name
    res = client.post("/connect/", _form(name=""))
    # then: linked to the same record, whose name on file the page does not reveal
    assert res.status_code == 200
    assert "Lucía" not in res.content.decode()
    assert Customer.objects.filter(email__iexact="lucia@example.es").count() == 1
    existing.refresh_from_db()
    assert existing.name == "Lucía Fernández" and existing.country == "ES"
    assert existing.identities.count() == 2
    assert set(ConsentRecord.objects.values_list("touchpoint", flat=True)) == {"signup"}


def test_one_bad_row_saves_nothing_and_shows_every_error(client):
    # when: row 0 is fine, row 1 is not a valid handle, row 2 has no network
    res = client.post(
        "/connect/", _form(handle_1="not a handle!", platform_2="", handle_2="someone")
    )
    # then
    html = res.content.decode()
    assert res.status_code == 400
    assert 'id="connect-row-1-errors"' in html
    assert 'id="connect-row-2-errors"' in html and "Choose the network" in html
    assert 'id="connect-row-0-errors"' not in html
    assert 'value="https://bsky.app/profile/Lucia.bsky.social"' in html  # the input is kept
    assert not Customer.objects.exists()
    assert not SocialIdentity.objects.exists()


def test_a_url_of_another_platform_is_refused_with_a_clear_message(client):
    res = client.post(
        "/connect/", _form(platform_1="mastodon", handle_1="https://vk.com/lucia_cafe")
    )
    html = res.content.decode()
    assert res.status_code == 400
    errors = html[html.index('id="connect-row-1-errors"') :][:300]
    assert "VK" in errors and "Mastodon" in errors
    assert not SocialIdentity.objects.exists()


def test_an_account_linked_to_someone_else_refuses_the_whole_submission(client):
    # given
    other = customer_create(email="other@example.com")
    identity_link(
        customer=other,
        platform="instagram",
        handle="lucia.cafe",
        touchpoint="import",
        consent_text="x",
    )
    # when
    res = client.post("/connect/", _form())
    # then: the error is on the row, and neither the customer nor the first row was saved
    html = res.content.decode()
    assert res.status_code == 400
    assert "already linked to another customer" in html[html.index("connect-row-1-errors") :]
    assert not Customer.objects.filter(email="lucia@example.es").exists()
    assert SocialIdentity.objects.count() == 1


def test_consent_and_at_least_one_account_are_required(client):
    res = client.post("/connect/", _form(consent=""))
    assert res.status_code == 400
    assert "Tick the box to agree" in res.content.decode()
    res = client.post("/connect/", _form(handle_0="", handle_1=""))
    assert res.status_code == 400
    assert "Add at least one account." in res.content.decode()
    assert not Customer.objects.exists()


def test_an_unknown_touchpoint_is_refused(client):
    res = client.get("/connect/?touchpoint=import")
    assert res.status_code == 400
    assert "Unknown touchpoint" in res.content.decode()


def test_the_form_is_rate_limited_per_address(client):
    # given: ten submissions (valid or not) from one address
    for _ in range(10):
        client.post("/connect/", _form(consent=""))
    # when
    res = client.post("/connect/", _form())
    # then
    assert res.status_code == 429
    assert "Try again in an hour" in res.content.decode()
    assert not Customer.objects.exists()
    # another address is not affected
    assert client.post("/connect/", _form(), REMOTE_ADDR="10.0.0.9").status_code == 200


def test_csrf_is_enforced_on_the_page(db):
    client = Client(enforce_csrf_checks=True)
    # when: a forged post without the token
    assert client.post("/connect/", _form()).status_code == 403
    assert not Customer.objects.exists()
    # when: the real form's token
    page = client.get("/connect/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    res = client.post("/connect/", _form(csrfmiddlewaretoken=token))
    assert res.status_code == 200
    assert Customer.objects.filter(email="lucia@example.es").exists()


def test_the_embed_variant_checks_its_signed_token_and_the_origin(db):
    client = Client(enforce_csrf_checks=True)
    url = "/connect/?embed=1&touchpoint=checkout"
    # no token, a forged token, a foreign origin: refused
    assert client.post(url, _form()).status_code == 403
    assert client.post(url, _form(embed_token="connect:forged:sig")).status_code == 403
    res = client.post(url, _form(embed_token=embed_token()), HTTP_ORIGIN="https://evil.example")
    assert res.status_code == 403
    assert not Customer.objects.exists()
    # the token from our own page: accepted, and the answer may be framed too
    res = client.post(url, _form(embed_token=embed_token()), HTTP_ORIGIN="http://testserver")
    assert res.status_code == 200
    assert "X-Frame-Options" not in res
    assert ConsentRecord.objects.filter(touchpoint="checkout").count() == 2


def test_the_page_speaks_the_visitors_language(client, settings):
    res = client.get("/connect/", HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")
    assert '<html lang="ru">' in res.content.decode()
    res = client.get("/connect/?embed=1&lang=es")
    assert '<html lang="es">' in res.content.decode()
    # and the customer record remembers it
    client.post("/connect/?lang=es", _form())
    assert Customer.objects.get(email="lucia@example.es").language == "es"


def test_htmx_adds_rows_up_to_six(client):
    res = client.get("/connect/row/?i=2")
    html = res.content.decode()
    assert 'name="handle_2"' in html and "i=3" in html
    last = client.get("/connect/row/?i=5").content.decode()
    assert 'name="handle_5"' in last and 'id="connect-add-row"' not in last
    assert client.get("/connect/row/?i=6").status_code == 400
    assert client.get("/connect/row/?i=x").status_code == 400


def test_rows_added_by_htmx_are_read_back(client):
    res = client.post("/connect/", _form(platform_4="telegram", handle_4="t.me/lucia_cafe"))
    assert res.status_code == 200
    assert SocialIdentity.objects.filter(platform="telegram", handle="lucia_cafe").exists()


# --- the member's community profile ------------------------------------------------------------


def test_a_member_links_an_account_from_the_profile(client, member):
    # given
    client.force_login(member)
    page = client.get("/accounts/profile/").content.decode()
    assert 'id="my-social-accounts"' in page and consent_text() in page
    # when
    res = client.post(
        "/customers/me/identities/",
        {"platform": "mastodon", "handle": "https://mastodon.social/@Mia", "consent": "on"},
    )
    # then: a customer record is created for the member and linked to the account
    assert res.status_code == 302 and res.url == "/accounts/profile/"
    customer = Customer.objects.get(user=member)
    assert customer.email == member.email
    identity = customer.identities.get()
    assert identity.handle == "mia@mastodon.social"
    record = identity.consents.get()
    assert (record.touchpoint, record.text, record.actor) == (
        "community_profile",
        consent_text(),
        member,
    )
    assert "mia@mastodon.social" in client.get("/accounts/profile/").content.decode()


def test_the_profile_form_shows_errors_and_needs_consent(client, member):
    client.force_login(member)
    res = client.post("/customers/me/identities/", {"platform": "x", "handle": "@mia"})
    assert res.status_code == 400
    res = client.post(
        "/customers/me/identities/",
        {"platform": "instagram", "handle": "https://x.com/mia", "consent": "on"},
    )
    assert res.status_code == 400
    assert 'id="id_handle-errors"' in res.content.decode()
    assert not SocialIdentity.objects.exists()


def test_a_member_withdraws_only_their_own_consent(client, member, make_user):
    # given
    client.force_login(member)
    client.post("/customers/me/identities/", {"platform": "x", "handle": "@mia", "consent": "on"})
    mine = SocialIdentity.objects.get(handle="mia")
    someone = customer_create(email="else@example.com")
    theirs = identity_link(
        customer=someone, platform="x", handle="else", touchpoint="import", consent_text="x"
    )
    # when
    assert client.post(f"/customers/me/identities/{theirs.pk}/withdraw/").status_code == 404
    res = client.post(f"/customers/me/identities/{mine.pk}/withdraw/")
    # then
    assert res.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.withdrawn_at is not None and theirs.withdrawn_at is None
    assert mine.consents.filter(action="withdrawn", touchpoint="community_profile").exists()
    assert (
        f"/customers/me/identities/{mine.pk}/withdraw/"
        not in client.get("/accounts/profile/").content.decode()
    )


def test_staff_profiles_have_no_social_section(client, make_user):
    agent = make_user(Role.CARE_AGENT, email="agent@example.com")
    client.force_login(agent)
    assert 'id="my-social-accounts"' not in client.get("/accounts/profile/").content.decode()
    res = client.post(
        "/customers/me/identities/", {"platform": "x", "handle": "a", "consent": "on"}
    )
    assert res.status_code == 403
    assert not Customer.objects.exists()


def test_member_with_someone_elses_email_is_not_attached_to_their_record(client, make_user):
    # given: a customer with social accounts, and a member who registered with the same e-mail
    from apiary.customers.models import Customer, Touchpoint
    from apiary.customers.services.customers import customer_create
    from apiary.customers.services.identities import identity_link

    victim = customer_create(email="victim@example.com", name="Victim")
    identity_link(
        customer=victim,
        platform="bluesky",
        handle="victim.bsky.social",
        touchpoint=Touchpoint.CHECKOUT,
        consent_text="I agree.",
    )
    member = make_user(email="VICTIM@example.com")
    client.force_login(member)
    # when: the member opens the profile and links an account of their own
    page = client.get("/accounts/profile/").content.decode()
    res = client.post(
        "/customers/me/identities/",
        {"platform": "mastodon", "handle": "@me@mastodon.social", "consent": "on"},
    )
    # then: the victim's accounts never show, and the member got a separate record
    assert "victim.bsky.social" not in page
    assert res.status_code == 302
    own = Customer.objects.get(user=member)
    assert own.pk != victim.pk and own.email is None
    assert list(victim.identities.values_list("handle", flat=True)) == ["victim.bsky.social"]
    assert "victim.bsky.social" not in client.get("/accounts/profile/").content.decode()
