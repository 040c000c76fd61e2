"""Hidden and held content is out of sight for everyone but its author and the space's
moderators: pages, API lists and details, profiles, tag pages, search, feeds."""

from __future__ import annotations

import contextlib

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from apiary.community import services

HIDDEN = "Zyxwvut hidden title"
HELD = "Qwertyz held title"
HIDDEN_REPLY = "Plokmij hidden reply words"


@pytest.fixture
def secrets(place, moderation_settings, make_user):
    moderation_settings(first_post_hold=True, flag_threshold=1)
    author = place.members[0]
    hidden = services.post_create(
        author=author, space=place.space, title=HIDDEN, body="mnbvcxq grinder", tags=["roast"]
    )
    services.flag_create(user=place.members[2], reason="abuse", post=hidden)
    newcomer = make_user(display_name="Nina Newcomer")
    held = services.post_create(
        author=newcomer, space=place.space, title=HELD, body="mnbvcxq roast", tags=["roast"]
    )
    services.post_create(author=place.owner, space=place.space, title="Findable", body="mnbvcxq")
    reply = services.comment_create(author=author, post=place.posts[1], body=HIDDEN_REPLY)
    services.flag_create(user=place.members[3], reason="abuse", comment=reply)
    hidden.refresh_from_db()
    held.refresh_from_db()
    reply.refresh_from_db()
    assert (hidden.state, held.state, reply.state) == ("hidden", "pending", "hidden")
    return {"hidden": hidden, "held": held, "reply": reply, "author": author, "newcomer": newcomer}


def _pages(place, secrets) -> list[str]:
    pages = [
        reverse("community:home"),
        reverse("community:space", args=[place.space.slug]),
        reverse("community:tag", args=["roast"]),
        reverse("community:post", args=[place.posts[1].pk]),
        reverse("community:profile", args=[secrets["author"].pk]),
        reverse("community:profile", args=[secrets["newcomer"].pk]),
    ]
    # (the search query word is only in the bodies: the page echoes the query itself)
    for name, query in (("community:search", "?q=mnbvcxq"), ("community:feed", "")):
        with contextlib.suppress(NoReverseMatch):  # search and feed are their own app part
            pages.append(reverse(name) + query)
    return pages


def _api(place, secrets) -> list[str]:
    return [
        "/api/v1/community/posts",
        "/api/v1/community/posts?space=coffee",
        "/api/v1/community/tags/roast/posts",
        f"/api/v1/community/posts/{place.posts[1].pk}/comments",
        f"/api/v1/community/people/{secrets['author'].pk}/posts",
        f"/api/v1/community/people/{secrets['newcomer'].pk}/posts",
    ]


@pytest.mark.parametrize("who", ["anonymous", "member", "outsider", "other_moderator"])
def test_nothing_leaks_to_readers(place, secrets, api, who):
    user = {
        "anonymous": None,
        "member": place.members[4],
        "outsider": place.outsider,
        "other_moderator": place.other_moderator,
    }[who]
    c = Client()
    if user is not None:
        c.force_login(user)
    for url in _pages(place, secrets):
        response = c.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for word in ("Zyxwvut", "Qwertyz", "Plokmij"):
            assert word not in html, (url, word)
        if "q=mnbvcxq" in url:
            assert "Findable" in html  # the search works; it just leaves the hidden out
    for pid in (secrets["hidden"].pk, secrets["held"].pk):
        assert c.get(reverse("community:post", args=[pid])).status_code == 404
    client = api(user)
    for url in _api(place, secrets):
        response = client.get(url)
        assert response.status_code == 200, url
        for word in ("Zyxwvut", "Qwertyz", "Plokmij"):
            assert word not in response.content.decode(), (url, word)
    for pid in (secrets["hidden"].pk, secrets["held"].pk):
        assert client.get(f"/api/v1/community/posts/{pid}").status_code == 404


def test_author_and_moderator_still_open_it(place, secrets):
    for user in (secrets["author"], place.moderator, place.manager):
        c = Client()
        c.force_login(user)
        page = c.get(reverse("community:post", args=[secrets["hidden"].pk]))
        assert page.status_code == 200 and 'id="hidden-badge"' in page.content.decode()
    thread = Client()
    thread.force_login(place.moderator)
    html = thread.get(reverse("community:post", args=[place.posts[1].pk])).content.decode()
    assert HIDDEN_REPLY in html and "Hidden pending review" in html
