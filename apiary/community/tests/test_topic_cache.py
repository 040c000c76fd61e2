"""The whole-page cache of anonymous topic pages (community/topic_cache.py): it is served only
while nothing that decides access or content changed, never to members, and a hit still counts
the visit and the view and still hands out a working CSRF token."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apiary.community import services
from apiary.community.models import ActivityEvent, Audience, Post, Space, Visibility

pytestmark = pytest.mark.django_db(transaction=True)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"
TOKEN_RE = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _get(client, post, query=""):
    return client.get(f"/community/p/{post.pk}/{query}")


def _visitor():
    return Client(HTTP_USER_AGENT=BROWSER)


def _without_token(body: bytes) -> bytes:
    return re.sub(
        rb'value="[A-Za-z0-9]{64}"',
        b'value="T"',
        re.sub(rb'"X-CSRFToken": "[A-Za-z0-9]{64}"', b"", body),
    )


def test_second_anonymous_view_is_a_hit_with_the_same_page(world):
    post = world.posts["public"]
    first = _get(_visitor(), post)
    second = _get(_visitor(), post)
    assert first.status_code == second.status_code == 200
    assert first["X-Apiary-Cache"] == "miss"
    assert second["X-Apiary-Cache"] == "hit"
    assert b"Secret-sauce title public" in second.content
    assert b"Comment on public" in second.content
    # same page but for the per-visitor token and the live view count (one more view now)
    strip = lambda body: re.sub(rb"<strong>\d+</strong> views", b"", _without_token(body))  # noqa: E731
    assert strip(first.content) == strip(second.content)
    for header in ("Content-Type", "Content-Language", "X-Frame-Options", "Vary"):
        assert second[header] == first[header], header
    assert int(second["Content-Length"]) == len(second.content)
    assert b"\x01" not in second.content and b"\x01" not in first.content


def test_a_hit_costs_one_query_and_counts_the_visit_and_the_view(world):
    post = world.posts["public"]
    _get(_visitor(), post)  # fills the cache
    before = Post.objects.get(pk=post.pk).views_count
    visitor = _visitor()
    with CaptureQueriesContext(connection) as queries:
        response = _get(visitor, post)
    assert response["X-Apiary-Cache"] == "hit"
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    reads = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(reads) <= 2, reads  # the stamp, and the session settings of the visit log
    assert writes, "the visit and the view are recorded"
    assert Post.objects.get(pk=post.pk).views_count == before + 1
    assert ActivityEvent.objects.filter(kind="post.view", post_id=post.pk).count() == 2
    assert ActivityEvent.objects.filter(kind="session.start").count() == 2
    # a reload within the same visit is not a second view
    again = _get(visitor, post)
    assert again["X-Apiary-Cache"] == "hit"
    assert Post.objects.get(pk=post.pk).views_count == before + 1
    # the page shows the live count, not the one it was rendered with
    assert f"<strong>{before + 1}</strong>".encode() in _get(_visitor(), post).content


def test_the_token_on_a_cached_page_works_and_its_cookie_is_set(world):
    post = world.posts["public"]
    _get(_visitor(), post)
    visitor = Client(HTTP_USER_AGENT=BROWSER, enforce_csrf_checks=True)
    response = _get(visitor, post)
    assert response["X-Apiary-Cache"] == "hit"
    assert "csrftoken" in response.cookies
    token = TOKEN_RE.search(response.content).group(1).decode()
    switched = visitor.post(
        "/accounts/language/",
        {"csrfmiddlewaretoken": token, "language": "es", "next": f"/community/p/{post.pk}/"},
    )
    assert switched.status_code == 302, switched.status_code  # 403 if the token were stale
    spanish = _get(visitor, post)
    assert spanish["Content-Language"] == "es"
    assert spanish["X-Apiary-Cache"] == "miss"  # another language, another entry


@pytest.mark.parametrize(
    "change,status",
    [
        ("space_closed", 403),
        ("space_registered", 403),
        ("space_secret", 404),
        # a sub-space is never more open than its parent (space_update refuses), so the
        # parent's change that matters is its sub-space's own; the parent's name is content
        ("parent_renamed", 200),
        ("post_members_only", 403),
        ("post_hidden", 404),
        ("post_deleted", 404),
    ],
)
def test_an_access_change_is_never_answered_from_the_cache(world, manager, change, status):
    post = world.posts["public"]
    space = world.spaces["public"]
    if change == "parent_renamed":
        # the topic lives in a public sub-space of a public parent
        parent = space
        space = services.space_create(
            actor=manager, name="Sub", slug="sub-space", visibility=Visibility.PUBLIC, parent=parent
        )
        post = services.post_create(
            author=world.user("manager"),
            space=space,
            type="discussion",
            title="Sub topic",
            body="x",
        )
    _get(_visitor(), post)
    assert _get(_visitor(), post)["X-Apiary-Cache"] == "hit"
    if change == "space_closed":
        Space.objects.filter(pk=space.pk).update(visibility=Visibility.CLOSED)
    elif change == "space_registered":
        Space.objects.filter(pk=space.pk).update(visibility=Visibility.REGISTERED)
    elif change == "space_secret":
        Space.objects.filter(pk=space.pk).update(visibility=Visibility.SECRET)
    elif change == "parent_renamed":
        services.space_update(actor=manager, space=parent, name="Renamed parent")
    elif change == "post_members_only":
        Post.objects.filter(pk=post.pk).update(audience=Audience.MEMBERS)
    elif change == "post_hidden":
        services.post_moderate(actor=manager, post=post, state="hidden")
    elif change == "post_deleted":
        Post.objects.filter(pk=post.pk).delete()
    response = _get(_visitor(), post)
    assert response.status_code == status, response.get("X-Apiary-Cache")
    assert response.get("X-Apiary-Cache") != "hit"
    if status == 200:
        assert b"Renamed parent" in response.content
    else:
        assert b"Secret-sauce" not in response.content and b"Sub topic" not in response.content


def test_a_new_reply_or_an_edit_shows_at_once(world):
    post = world.posts["public"]
    _get(_visitor(), post)
    services.comment_create(author=world.user("member"), post=post, body="A brand new reply")
    response = _get(_visitor(), post)
    assert response["X-Apiary-Cache"] == "miss"
    assert b"A brand new reply" in response.content
    Post.objects.filter(pk=post.pk).update(title="Renamed topic")
    assert b"Renamed topic" in _get(_visitor(), post).content


def test_members_and_visitors_with_a_session_take_the_full_stack(world, client):
    post = world.posts["public"]
    _get(_visitor(), post)
    member = Client(HTTP_USER_AGENT=BROWSER)
    member.force_login(world.user("member"))
    response = _get(member, post)
    assert response.status_code == 200 and "X-Apiary-Cache" not in response
    assert b"Log out" in response.content
    # a pending flash message lives in a cookie: that visitor's page is their own
    flashed = _visitor()
    flashed.cookies["messages"] = "x"
    assert "X-Apiary-Cache" not in _get(flashed, post)
    # htmx fragments, other query strings and other addresses are not cached
    assert "X-Apiary-Cache" not in _visitor().get(
        f"/community/p/{post.pk}/", HTTP_HX_REQUEST="true"
    )
    assert "X-Apiary-Cache" not in _get(_visitor(), post, "?comment=1")
    assert _get(_visitor(), post, "?page=1")["X-Apiary-Cache"] == "miss"


def test_pages_are_cached_apart_and_a_closing_poll_expires_its_entry(world, manager):
    post = world.posts["public"]
    _get(_visitor(), post)
    assert _get(_visitor(), post, "?page=last")["X-Apiary-Cache"] == "miss"
    assert _get(_visitor(), post, "?page=last")["X-Apiary-Cache"] == "hit"
    poll = services.post_create(
        author=world.user("owner"),
        space=world.spaces["public"],
        type="poll",
        title="Closing soon",
        poll_options=["A", "B"],
        poll_closes_at=timezone.now() + timedelta(seconds=1.5),
    )
    assert _get(_visitor(), poll)["X-Apiary-Cache"] == "miss"
    assert _get(_visitor(), poll)["X-Apiary-Cache"] == "hit"
    time.sleep(1.6)
    closed = _get(_visitor(), poll)
    assert closed["X-Apiary-Cache"] == "miss"  # rendered again: now it shows as closed


def test_bots_get_the_cached_page_without_being_counted(world):
    post = world.posts["public"]
    _get(_visitor(), post)
    before = Post.objects.get(pk=post.pk).views_count
    bot = Client(HTTP_USER_AGENT="curl/8.5")
    assert _get(bot, post)["X-Apiary-Cache"] == "hit"
    assert Post.objects.get(pk=post.pk).views_count == before


def test_the_stamp_is_access_s_one_query_and_holds_every_column_the_decision_reads(world):
    """The columns that decide what an anonymous visitor may see are access's rule: the stamp
    is one query, changes with each of them, and a shape leaving one out is refused."""
    from apiary.community import access, topic_cache

    post = world.posts["public"]
    with CaptureQueriesContext(connection) as queries:
        row = topic_cache.stamp(post.pk)
    assert len(queries) == 1
    assert row[-2:] == (post.views_count, post.shares_count)
    assert topic_cache.stamp(10**12) is None
    for field, value in (("state", "hidden"), ("audience", Audience.MEMBERS)):
        Post.objects.filter(pk=post.pk).update(**{field: value})
        assert topic_cache.stamp(post.pk)[:-2] != row[:-2], field
        Post.objects.filter(pk=post.pk).update(**{field: getattr(post, field)})
    Space.objects.filter(pk=post.space_id).update(visibility=Visibility.REGISTERED)
    assert topic_cache.stamp(post.pk)[:-2] != row[:-2]
    Space.objects.filter(pk=post.space_id).update(visibility=Visibility.PUBLIC)
    assert topic_cache.stamp(post.pk) == row
    shape = topic_cache.STAMP_SHAPE
    for post_ignored, space_ignored in (({"state"}, set()), (set(), {"visibility"})):
        unsafe = access.StampShape(
            post_ignored=shape.post_ignored | post_ignored,
            space_ignored=shape.space_ignored | space_ignored,
            author_columns=shape.author_columns,
            live_columns=shape.live_columns,
        )
        with pytest.raises(ValueError, match="anonymous decision"):
            access.anonymous_topic_stamp(post.pk, unsafe)


def test_the_fragment_key_s_clock_flags_and_the_page_s_expiry_are_one_rule():
    """``clock_passed`` (the fragment key's flags) changes exactly at ``next_clock_change``
    (the whole page's ``valid_until``), and only there."""
    from apiary.community import topic_cache

    t0 = timezone.now().replace(microsecond=0)
    post = Post(
        poll_closes_at=t0 + timedelta(hours=4),
        contest_entries_until=t0 + timedelta(hours=1),
        contest_voting_from=t0 + timedelta(hours=1),
        contest_voting_until=t0 + timedelta(hours=3),
    )
    now, seen = t0, []
    while True:
        flags = topic_cache.clock_passed(post, now)
        seen.append(flags)
        turn = topic_cache.next_clock_change(post, now)
        if turn == float("inf"):
            break
        turn_at = datetime.fromtimestamp(turn, tz=UTC)
        assert topic_cache.clock_passed(post, turn_at - timedelta(microseconds=1)) == flags
        assert topic_cache.clock_passed(post, turn_at) != flags
        now = turn_at
    assert seen == [
        (False, False, False, False),
        (False, True, True, False),
        (False, True, True, True),
        (True, True, True, True),
    ]
    assert topic_cache.clock_passed(Post(), t0) == (False,) * 4
    assert topic_cache.next_clock_change(Post(), t0) == float("inf")
