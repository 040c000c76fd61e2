"""The personalised home feed (``feed.py``): follows, interests read from activity events,
freshness and engagement, explained; anonymous visitors get fresh and popular public posts; no
closed, secret, members-only or unpublished post ever reaches a feed; the cost is a fixed number
of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apiary.community import access, feed, services
from apiary.community.models import Post, SpaceRole, Tag

pytestmark = pytest.mark.django_db


def ids(page) -> list[int]:
    return [item.post.pk for item in page.items]


def reasons(page) -> dict[int, str]:
    return {item.post.pk: item.reason.code for item in page.items}


def age(post, **delta) -> None:
    """Make a post look older (its publication and its last activity)."""
    when = timezone.now() - timedelta(**delta)
    Post.objects.filter(pk=post.pk).update(published_at=when, last_activity_at=when)


@pytest.fixture
def town(make_user, manager):
    """Three public spaces, a closed and a secret one; writers and a reader."""
    writer = make_user(display_name="Wendy Writer")
    other = make_user(display_name="Oscar Other")
    reader = make_user(display_name="Rita Reader")
    spaces = {
        slug: services.space_create(actor=manager, name=slug.title(), slug=slug, **kw)
        for slug, kw in {
            "brewing": {},
            "gear": {},
            "news": {},
            "lounge": {"visibility": "closed", "join_policy": "invitation"},
            "lab": {"visibility": "secret", "join_policy": "invitation"},
        }.items()
    }
    for space in spaces.values():
        for user in (writer, other):
            services.membership_role_set(
                actor=manager, space=space, user=user, role=SpaceRole.MEMBER
            )

    def post(space, title, author=None, **kw):
        return services.post_create(
            author=author or writer, space=spaces[space], title=title, body="text", **kw
        )

    return {
        "writer": writer,
        "other": other,
        "reader": reader,
        "spaces": spaces,
        "post": post,
        "manager": manager,
    }


def test_anonymous_visitors_get_fresh_and_popular_public_posts_only(town):
    # given public, members-only, closed and secret posts
    post = town["post"]
    public = post("brewing", "Public pourover")
    members = post("brewing", "Members pourover", audience="members")
    registered = post("gear", "Registered pourover", audience="registered")
    closed = post("lounge", "Lounge pourover")
    secret = post("lab", "Lab pourover")
    draft = post("news", "Draft pourover", publish=False)
    # when an anonymous visitor opens the feed
    page = feed.feed_page(user=AnonymousUser())
    # then only the public post, explained as new or popular
    assert ids(page) == [public.pk]
    assert reasons(page)[public.pk] in ("new", "popular")
    # and a logged-in outsider also gets the registered-audience post, nothing closed
    outsider = set(ids(feed.feed_page(user=town["reader"])))
    assert outsider == {public.pk, registered.pk}
    assert not outsider & {members.pk, closed.pk, secret.pk, draft.pk}


def test_a_followed_tag_comes_first_and_says_why(town):
    # given a fresh untagged post and an older post tagged #espresso
    post, reader = town["post"], town["reader"]
    fresh = post("news", "Opening hours")
    tagged = post("brewing", "Ristretto ratios", tags=["espresso"])
    age(tagged, hours=20)
    services.follow_add(follower=reader, tag=Tag.objects.get(slug="espresso"))
    # when the reader opens the feed
    page = feed.feed_page(user=reader)
    # then the followed tag wins, with its reason
    assert ids(page)[0] == tagged.pk
    first = page.items[0].reason
    assert first.code == "follow_tag" and first.text == "Because you follow #espresso"
    assert first.tag == "espresso"
    assert fresh.pk in ids(page)


def test_followed_people_and_spaces_are_explained(town):
    post, reader = town["post"], town["reader"]
    by_oscar = post("news", "Oscar's notes", author=town["other"])
    in_gear = post("gear", "Scale review")
    plain = post("news", "Another note")
    for p in (by_oscar, in_gear, plain):
        age(p, hours=10)
    services.follow_add(follower=reader, user=town["other"])
    services.follow_add(follower=reader, space=town["spaces"]["gear"])
    page = feed.feed_page(user=reader)
    texts = {item.post.pk: item.reason.text for item in page.items}
    assert texts[by_oscar.pk] == "Because you follow Oscar Other"
    assert texts[in_gear.pk] == "Because you follow Gear"
    assert ids(page).index(plain.pk) > max(
        ids(page).index(by_oscar.pk), ids(page).index(in_gear.pk)
    )


def test_what_the_member_reads_becomes_an_interest(town):
    # given the reader opened posts of the gear space tagged #grinders
    post, reader = town["post"], town["reader"]
    read = [post("gear", f"Grinder {i}", tags=["grinders"]) for i in range(3)]
    for p in read:
        services.post_view_record(user=reader, post=p)
    new_gear = post("gear", "Hand grinder test")
    new_tagged = post("news", "Grinder sale", tags=["grinders"])
    elsewhere = post("news", "Unrelated")
    for p in (*read, new_gear, new_tagged, elsewhere):
        age(p, hours=5)
    # when the feed is ranked
    page = feed.feed_page(user=reader)
    codes = reasons(page)
    # then the space and the tag read are reasons, and they outrank the unrelated post
    assert codes[new_gear.pk] == "read_space"
    assert codes[new_tagged.pk] == "read_tag"
    order = ids(page)
    assert order.index(elsewhere.pk) > order.index(new_gear.pk)
    assert order.index(elsewhere.pk) > order.index(new_tagged.pk)
    # and what was already opened ranks below the same unopened content
    assert order.index(new_gear.pk) < min(order.index(p.pk) for p in read)


def test_fresher_and_more_engaged_posts_rank_higher(town):
    post, reader = town["post"], town["reader"]
    old = post("news", "Old news")
    new = post("news", "New news")
    age(old, hours=72)
    age(new, hours=1)
    busy = post("brewing", "Busy thread")
    quiet = post("brewing", "Quiet thread")
    for p in (busy, quiet):
        age(p, hours=24)
    Post.objects.filter(pk=busy.pk).update(comments_count=40, reactions_count=60)
    order = ids(feed.feed_page(user=reader))
    assert order.index(new.pk) < order.index(old.pk)
    assert order.index(busy.pk) < order.index(quiet.pk)
    assert reasons(feed.feed_page(user=AnonymousUser()))[busy.pk] == "popular"


def test_leaving_a_closed_space_removes_it_from_the_feed(town):
    # given the reader follows the lounge as a member
    post, reader, manager = town["post"], town["reader"], town["manager"]
    lounge = town["spaces"]["lounge"]
    services.membership_role_set(actor=manager, space=lounge, user=reader, role=SpaceRole.MEMBER)
    services.follow_add(follower=reader, space=lounge)
    inside = post("lounge", "Members' tasting")
    assert inside.pk in ids(feed.feed_page(user=reader))
    # when she leaves (the follow stays)
    services.space_leave(user=reader, space=lounge)
    access.memberships_forget(reader)
    # then the lounge's posts are gone from her feed
    assert inside.pk not in ids(feed.feed_page(user=reader))


def test_following_someone_never_shows_their_secret_or_unpublished_posts(town):
    post, reader = town["post"], town["reader"]
    services.follow_add(follower=reader, user=town["writer"])
    secret = post("lab", "Lab notes")
    closed = post("lounge", "Lounge notes")
    draft = post("news", "Draft notes", publish=False)
    public = post("news", "Public notes")
    page = feed.feed_page(user=reader)
    assert public.pk in ids(page)
    assert not set(ids(page)) & {secret.pk, closed.pk, draft.pk}


def test_own_posts_and_old_posts_are_left_out(town):
    post, writer = town["post"], town["writer"]
    mine = post("news", "My own post")
    theirs = post("news", "Oscar's post", author=town["other"])
    stale = post("news", "Stale post", author=town["other"])
    age(stale, days=feed.WINDOW_DAYS + 1)
    order = ids(feed.feed_page(user=writer))
    assert theirs.pk in order and mine.pk not in order and stale.pk not in order


def test_one_busy_space_cannot_fill_the_feed(town):
    # given twelve fresh posts in one space and older ones in three others
    post = town["post"]
    for i in range(12):
        post("brewing", f"Brewing {i}")
    for space in ("news", "gear", "lounge"):
        for i in range(3):
            age(post(space, f"{space} {i}"), hours=48)
    # when Oscar (a member of every space) opens his feed
    first_run = feed.feed_page(user=town["other"], limit=feed.DIVERSITY_RUN).items
    # then the busy space has at most its share of the first run
    slugs = [item.post.space.slug for item in first_run]
    assert len(slugs) == feed.DIVERSITY_RUN
    assert slugs.count("brewing") == feed.MAX_PER_SPACE
    assert slugs[:3] == ["brewing"] * 3


def test_pages_do_not_repeat(town):
    for i in range(9):
        town["post"]("news", f"Post {i}")
    first = feed.feed_page(user=town["reader"], limit=4)
    second = feed.feed_page(user=town["reader"], limit=4, offset=first.next_offset)
    assert first.total == 9 and first.next_offset == 4
    assert not set(ids(first)) & set(ids(second))


def test_the_number_of_queries_does_not_grow_with_the_feed(town):
    # given a reader with follows of every kind and some reading history
    post, reader = town["post"], town["reader"]
    services.follow_add(follower=reader, user=town["other"])
    services.follow_add(follower=reader, space=town["spaces"]["gear"])

    def fill(n, prefix):
        for i in range(n):
            p = post("gear", f"{prefix} {i}", tags=[f"{prefix}-tag", "shared"])
            services.post_view_record(user=reader, post=p)

    def count():
        access.memberships_forget(reader)
        with CaptureQueriesContext(connection) as ctx:
            page = feed.feed_page(user=reader)
            [(i.post.space.name, i.post.author.name, i.reason.text) for i in page.items]
        return len(ctx.captured_queries), len(page.items)

    fill(2, "few")
    services.follow_add(follower=reader, tag=Tag.objects.get(slug="shared"))
    small, n_small = count()
    fill(20, "many")
    large, n_large = count()
    # then the same fixed number of queries for 2 or 20 items
    assert n_small < n_large
    assert small == large
    assert large <= 12


def test_api_feed_and_the_home_card(town, api):
    post = town["post"]
    tagged = post("brewing", "Crema science", tags=["espresso"])
    services.follow_add(follower=town["reader"], tag=Tag.objects.get(slug="espresso"))
    post("lab", "Secret crema")
    body = api(town["reader"]).get("/api/v1/community/feed?limit=5").json()
    assert body["items"][0]["id"] == tagged.pk
    assert body["items"][0]["reason"] == {
        "code": "follow_tag",
        "text": "Because you follow #espresso",
        "tag": "espresso",
    }
    assert all(item["title"] != "Secret crema" for item in body["items"])
    assert api().get("/api/v1/community/feed").status_code == 200
    bad = api().get("/api/v1/community/feed?limit=0")
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    client = Client()
    client.force_login(town["reader"])
    home = client.get("/community/").content.decode()
    assert 'id="feed-list"' in home and "Because you follow #espresso" in home
    assert "Secret crema" not in home
    full = client.get("/community/feed/?offset=oops")
    assert full.status_code == 200 and "Crema science" in full.content.decode()
    anonymous_home = Client().get("/community/").content.decode()
    assert "Popular and new" in anonymous_home and "Crema science" in anonymous_home
