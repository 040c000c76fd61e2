"""The list paths that were slow at a million posts and now read differently: the API's capped
counts, pinned posts first in a space without a "pinned first" sort, and a popular tag's list
walking posts by activity. Each must give what the straightforward query gives."""

from __future__ import annotations

import pytest

from apiary.community import api as community_api
from apiary.community import selectors, services
from apiary.community.models import Post, PostState
from apiary.community.tests.conftest import ROLES
from apiary.community.tests.test_api_matrix import client_for

pytestmark = pytest.mark.django_db


def _posts(world, n: int, **extra):
    author, space = world.people["owner"], world.spaces["public"]
    return [
        services.post_create(
            author=author, space=space, type="discussion", title=f"Topic {i}", body="b", **extra
        )
        for i in range(n)
    ]


def test_counts_are_capped_and_say_so(api, world, monkeypatch):
    _posts(world, 6)
    client = api(None)
    whole = client.get("/api/v1/community/posts?limit=2").json()
    assert whole["count_capped"] is False
    assert (
        whole["count"]
        == Post.objects.filter(
            pk__in=[p.pk for p in selectors.post_list(user=world.people["anonymous"])]
        ).count()
    )
    monkeypatch.setattr(community_api, "COUNT_CAP", 3)
    capped = client.get("/api/v1/community/posts?limit=2").json()
    assert capped["count"] == 3 and capped["count_capped"] is True
    assert [p["id"] for p in capped["items"]] == [p["id"] for p in whole["items"]]


def test_pinned_first_in_a_space_page_by_page(api, world):
    posts = _posts(world, 7)
    owner = world.people["owner"]
    for post in (posts[1], posts[4]):
        services.post_pin(actor=owner, post=post)
    space = world.spaces["public"]
    # What one query sorted "pinned first" gives (fine at this size).
    everything = [p.pk for p in selectors.post_list(user=world.people["anonymous"], space=space)]
    assert everything[:2] == [posts[4].pk, posts[1].pk]  # newest pin first
    client = api(None)
    for limit in (1, 2, 3, 5):
        paged = []
        for offset in range(0, len(everything) + limit, limit):
            body = client.get(
                f"/api/v1/community/posts?space={space.slug}&limit={limit}&offset={offset}"
            ).json()
            assert body["count"] == len(everything)
            paged += [p["id"] for p in body["items"]]
        assert paged == everything, limit


@pytest.mark.parametrize("role", ROLES)
def test_walked_lists_give_what_the_one_query_gives(api, world, monkeypatch, role):
    tag = world.tag
    extra = _posts(world, 5, tags=[tag]) + _posts(world, 3)
    services.post_moderate(actor=world.people["owner"], post=extra[0], state=PostState.HIDDEN)
    client = client_for(api, world, role)
    lists = [
        f"/api/v1/community/tags/{tag}/posts",
        "/api/v1/community/posts",
        "/api/v1/community/posts?order=new",
        "/api/v1/community/posts?type=discussion",
    ]
    monkeypatch.setattr(selectors, "WALK_CHUNK", 2)  # several chunks, doubling
    walked = {url: _all_pages(client, url) for url in lists}
    monkeypatch.setattr(selectors, "WALK_MAX", 0)  # never walk: the one query
    for url in lists:
        assert walked[url] == _all_pages(client, url), url
    assert extra[0].pk not in walked[lists[0]]
    assert set(walked[lists[0]]) >= {p.pk for p in extra[1:5]}  # public: everyone reads them
    page = client.get(f"/community/t/{tag}/")
    assert page.status_code == 200


def _all_pages(client, url: str, limit: int = 3) -> list[int]:
    out: list[int] = []
    sep = "&" if "?" in url else "?"
    for offset in range(0, 60, limit):
        items = client.get(f"{url}{sep}limit={limit}&offset={offset}").json()["items"]
        out += [p["id"] for p in items]
        if len(items) < limit:
            break
    return out
