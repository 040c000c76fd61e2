"""Listening pages: live list with htmx polling, sources and queries management."""

import pytest
from django.test import Client
from django.urls import reverse

from apiary.accounts.models import Role
from apiary.listening.models import ListeningQuery, Source

from .factories import drain
from .test_webhook import item, send

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_live_page_lists_mentions_and_polls_for_new_ones(make_user):
    # given
    from apiary.listening.services.sources import source_create

    _source, token = source_create(name="Hook", kind="webhook")
    send(token, [item(1, text="Northwind espresso is great")])
    drain()
    analyst = client_for(make_user(Role.ANALYST))
    # when
    page = analyst.get("/listening/")
    first = page.context["newest"]
    send(token, [item(2, text="Another one, in Sevilla")])
    drain()
    rows = analyst.get(f"/listening/live/?after={first}", HTTP_HX_REQUEST="true")
    empty = analyst.get(f"/listening/live/?after={first + 1}", HTTP_HX_REQUEST="true")
    # then
    assert page.status_code == 200
    assert "Northwind espresso is great" in page.content.decode()
    body = rows.content.decode()
    assert "Another one, in Sevilla" in body and "Northwind espresso" not in body
    assert 'hx-swap-oob="afterbegin:#mention-rows"' in body
    assert f"after={first + 1}" in body and body.count("after=") == 1
    assert "mention-rows" not in empty.content.decode().split("live-poller")[-1]


def test_members_cannot_see_listening(make_user):
    member = client_for(make_user(Role.MEMBER))
    assert member.get("/listening/").status_code == 403
    assert member.get("/listening/sources/").status_code == 403
    assert Client().get("/listening/").status_code == 302


def test_admin_adds_pauses_and_deletes_a_source(make_user):
    # given
    admin = client_for(make_user(Role.ADMIN))
    # when
    admin.post(
        "/listening/sources/add/",
        {"name": "Trustpilot", "kind": "rss", "rss-url": "https://example.com/rss"},
    )
    source = Source.objects.get(name="Trustpilot")
    admin.post(f"/listening/sources/{source.pk}/pause/")
    paused = Source.objects.get(pk=source.pk).status
    admin.post(f"/listening/sources/{source.pk}/delete/")
    # then
    assert source.config["url"] == "https://example.com/rss"
    assert paused == "paused"
    assert Source.objects.get(pk=source.pk).deleted_at is not None
    admin.get("/listening/sources/")  # consumes the flash messages
    assert "Trustpilot" not in admin.get("/listening/sources/").content.decode()


def test_invalid_source_config_is_explained(make_user):
    admin = client_for(make_user(Role.ADMIN))
    response = admin.post(
        "/listening/sources/add/",
        {"name": "Bad", "kind": "rss", "rss-url": "not a url"},
        follow=True,
    )
    assert Source.objects.filter(name="Bad").count() == 0
    assert "config" in response.content.decode()


def test_webhook_token_shown_once_on_the_page(make_user):
    admin = client_for(make_user(Role.ADMIN))
    first = admin.post("/listening/sources/add/", {"name": "Hook", "kind": "webhook"}, follow=True)
    second = admin.get("/listening/sources/")
    assert "src_" in first.content.decode().split('id="new-token"')[1][:600]
    assert 'id="new-token"' not in second.content.decode()


def test_analyst_sees_sources_but_cannot_manage(make_user):
    analyst = client_for(make_user(Role.ANALYST))
    page = analyst.get("/listening/sources/").content.decode()
    assert "Add a source" not in page
    assert (
        analyst.post("/listening/sources/add/", {"name": "x", "kind": "webhook"}).status_code == 403
    )


def test_query_page_shows_syntax_errors_with_position(make_user):
    admin = client_for(make_user(Role.ADMIN))
    bad = admin.post("/listening/queries/", {"name": "Q", "kind": "brand", "text": "a AND"})
    good = admin.post("/listening/queries/", {"name": "Q", "kind": "brand", "text": "northwind"})
    assert bad.status_code == 422 and "position" in bad.content.decode()
    assert good.status_code == 302
    assert ListeningQuery.objects.get().text == "northwind"


@pytest.mark.parametrize(
    "url_name", ["search", "insight", "map", "trending", "sources", "queries", "platform_focus"]
)
def test_every_listening_page_links_to_the_others(make_user, url_name):
    # given
    analyst = client_for(make_user(Role.ADMIN))
    # when
    page = analyst.get(reverse(f"listening:{url_name}")).content.decode()
    # then: one set of tabs, the current one marked
    for target in ("search", "insight", "map", "trending", "sources", "queries"):
        assert f'href="{reverse(f"listening:{target}")}"' in page
    assert page.count('class="section-tabs"') == 1
    assert 'aria-current="page"' in page
