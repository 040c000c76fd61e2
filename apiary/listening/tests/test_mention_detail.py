"""Search and mention pages: the search page with its filters, live rows that keep the
filters, saved searches, the mention detail (enrichment, thread, similar, tags, irrelevant),
the action extension point and login/permission checks."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.test import Client

from apiary.accounts.models import Role
from apiary.customers.models import Customer
from apiary.listening import actions
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import Mention, MentionIrrelevant, MentionTag, SavedSearch
from apiary.listening.services.queries import query_create

from .factories import raw_mention

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def store(*raws):
    with transaction.atomic():
        process_mentions(list(raws), state=PipelineState())


@pytest.fixture
def brand(db):
    return query_create(name="Northwind", kind="brand", text="northwind")


@pytest.fixture
def mentions(brand):
    store(
        raw_mention(
            external_id="es-1",
            text="El café de Northwind en Madrid es malísimo, pésimo servicio",
            created_at=T0,
            author_location="Madrid, España",
            author_followers=2_000,
            author_name="Lucía",
        ),
        raw_mention(
            external_id="ru-1",
            text="Northwind — отличный кофе, люблю их эспрессо",
            created_at=T0 + timedelta(hours=1),
            author_location="Москва",
        ),
    )
    return {m.external_id: m for m in Mention.objects.all()}


def test_search_page_applies_filters_from_links(make_user, mentions):
    analyst = client_for(make_user(Role.ANALYST))
    # the map links here with ?country= and ?near=…&radius_km=
    spain = analyst.get("/listening/?country=ES")
    near = analyst.get("/listening/?near=55.75,37.61&radius_km=30")
    text = analyst.get("/listening/?q=cafe&sort=relevance")
    assert spain.status_code == 200 and near.status_code == 200 and text.status_code == 200
    body = spain.content.decode()
    assert "malísimo" in body and "отличный" not in body
    assert 'value="ES"' in body  # the form shows the filter back
    assert "отличный" in near.content.decode() and "malísimo" not in near.content.decode()
    assert "malísimo" in text.content.decode()
    assert spain.context["page"].count == 1


def test_search_page_explains_bad_input_with_422(make_user, mentions):
    analyst = client_for(make_user(Role.ANALYST))
    response = analyst.get("/listening/?near=95,0&radius_km=0&colour=red")
    assert response.status_code == 422
    assert 'id="search-errors"' in response.content.decode()
    assert "colour" in response.content.decode()
    bad_radius = analyst.get("/listening/?near=40,3&radius_km=0")
    assert bad_radius.status_code == 422
    assert "more than 0" in bad_radius.content.decode()


def test_live_rows_keep_the_search_filters(make_user, mentions):
    analyst = client_for(make_user(Role.ANALYST))
    page = analyst.get("/listening/?q=kaffee OR cafe&language=es")
    newest = page.context["newest"]
    poller = page.content.decode().split('id="live-poller"')[1].split(">")[0]
    assert "language=es" in poller and "q=kaffee" in poller
    # when: two new mentions arrive, one matching
    store(
        raw_mention(external_id="es-2", text="Otro café de Northwind en Sevilla", created_at=T0),
        raw_mention(external_id="es-3", text="Northwind abre en Bilbao", created_at=T0),
    )
    rows = analyst.get(
        f"/listening/live/?after={newest}&q=cafe&language=es", HTTP_HX_REQUEST="true"
    )
    # then
    body = rows.content.decode()
    assert rows.status_code == 200
    assert "Otro café" in body and "Bilbao" not in body and "malísimo" not in body
    assert body.count("after=") == 1
    bad = analyst.get("/listening/live/?after=0&radius_km=0&near=1,1")
    assert bad.status_code == 422
    huge = analyst.get("/listening/live/?after=99999999999999999999999999", HTTP_HX_REQUEST="true")
    assert huge.status_code == 200


def test_the_poller_is_only_on_the_first_page_sorted_by_time(make_user, mentions):
    analyst = client_for(make_user(Role.ANALYST))
    assert 'id="live-poller"' in analyst.get("/listening/").content.decode()
    assert 'id="live-poller"' not in analyst.get("/listening/?sort=reach").content.decode()
    first = analyst.get("/listening/?limit=1")  # the page size is fixed; limit is accepted
    assert first.status_code == 200


def test_saved_searches_on_the_page(make_user, mentions):
    ana, bob = make_user(Role.ANALYST), make_user(Role.ANALYST)
    client = client_for(ana)
    # when: she saves the current search
    saved = client.post(
        "/listening/saved-searches/", {"name": "Spain", "params": "country=ES&sentiment=negative"}
    )
    # then: back to the search, and it is listed for her only
    assert saved.status_code == 302 and "country=ES" in saved["Location"]
    page = client.get("/listening/").content.decode()
    assert "Spain" in page and "sentiment=negative&amp;country=ES" in page
    assert (
        "Spain"
        not in client_for(bob).get("/listening/").content.decode().split("saved-searches")[1][:500]
    )
    # invalid params are refused with a message, nothing is saved
    client.post("/listening/saved-searches/", {"name": "Bad", "params": "radius_km=0&near=1,1"})
    assert SavedSearch.objects.filter(name="Bad").count() == 0
    # delete (only her own)
    spain = SavedSearch.objects.get(name="Spain")
    assert client_for(bob).post(f"/listening/saved-searches/{spain.pk}/delete/").status_code == 404
    assert client.post(f"/listening/saved-searches/{spain.pk}/delete/").status_code == 302
    assert SavedSearch.objects.count() == 0


def test_detail_page_shows_enrichment_thread_similar_and_customer(make_user, mentions):
    # given: a reply and a linked customer
    es1 = mentions["es-1"]
    customer = Customer.objects.create(name="Lucía G.")
    Mention.objects.filter(pk=es1.pk).update(customer=customer)
    store(
        raw_mention(
            external_id="es-reply",
            text="Es verdad, el café de Northwind en Madrid es malísimo",
            created_at=T0 + timedelta(hours=2),
            parent_external_id="es-1",
        )
    )
    analyst = client_for(make_user(Role.ANALYST))
    # when
    page = analyst.get(f"/listening/mentions/{es1.pk}/")
    # then
    body = page.content.decode()
    assert page.status_code == 200
    assert "malísimo" in body and "2,000 followers" in body.replace("2000", "2,000")
    assert f"/customers/{customer.pk}/" in body and f"/customers/{customer.pk}/timeline/" in body
    assert "Negative" in body and "Madrid" in body and "confidence" in body
    assert "Northwind" in body.split('id="matched-queries"')[1]
    assert "Es verdad" in body.split('id="replies"')[1]
    assert "Es verdad" in body.split('id="similar"')[1]
    assert 'id="mention-actions"' not in body  # nothing registered
    assert analyst.get("/listening/mentions/999999/").status_code == 404


def test_tag_and_irrelevant_forms(make_user, brand, mentions):
    es1 = mentions["es-1"]
    client = client_for(make_user(Role.ANALYST))
    # tag
    assert (
        client.post(f"/listening/mentions/{es1.pk}/tags/", {"tag": "Follow up"}).status_code == 302
    )
    assert list(MentionTag.objects.values_list("tag", flat=True)) == ["follow up"]
    assert "follow up" in client.get(f"/listening/mentions/{es1.pk}/").content.decode()
    assert "malísimo" in client.get("/listening/?tag=follow+up").content.decode()
    client.post(f"/listening/mentions/{es1.pk}/tags/", {"tag": "follow up", "remove": "1"})
    assert MentionTag.objects.count() == 0
    # irrelevant
    client.post(f"/listening/mentions/{es1.pk}/irrelevant/", {"query_id": brand.pk})
    assert MentionIrrelevant.objects.filter(mention=es1, query=brand).exists()
    results = client.get(f"/listening/?query_id={brand.pk}").content.decode()
    assert "malísimo" not in results and "отличный" in results
    queries_page = client.get("/listening/queries/").content.decode()
    assert '<td class="irrelevant-count">1</td>' in queries_page
    client.post(f"/listening/mentions/{es1.pk}/irrelevant/", {"query_id": brand.pk, "undo": "1"})
    assert not MentionIrrelevant.objects.exists()
    # GET is not allowed for writes
    assert client.get(f"/listening/mentions/{es1.pk}/tags/").status_code == 405


def test_registered_actions_appear_on_the_detail_page(make_user, mentions):
    es1 = mentions["es-1"]
    actions.register_mention_action(
        "test.reply",
        label="Open conversation",
        url=lambda m: f"/care/open/{m.pk}/" if m.platform == "bluesky" else None,
        method="post",
        permission="care.inbox",
    )
    try:
        admin = client_for(make_user(Role.ADMIN))
        analyst = client_for(make_user(Role.ANALYST))
        body = admin.get(f"/listening/mentions/{es1.pk}/").content.decode()
        assert "Open conversation" in body and f"/care/open/{es1.pk}/" in body
        # without the permission the action is not offered
        assert (
            "Open conversation"
            not in analyst.get(f"/listening/mentions/{es1.pk}/").content.decode()
        )
    finally:
        actions.unregister_mention_action("test.reply")


def test_pages_need_login_and_listening_permission(make_user, mentions):
    es1 = mentions["es-1"]
    member = client_for(make_user(Role.MEMBER))
    for path in ("/listening/", f"/listening/mentions/{es1.pk}/", "/listening/live/?after=0"):
        assert Client().get(path).status_code == 302
        assert member.get(path).status_code == 403
    assert Client().post(f"/listening/mentions/{es1.pk}/tags/", {"tag": "x"}).status_code == 302
