"""Community pages at scale: no N+1 (the number of queries of every list page and API list
does not grow with its rows), topic replies paged (a thread of thousands costs what a page
costs), and the anonymous topic-page cache: shared only between anonymous visitors, free of
anything personal, and fresh at the next request after every kind of change (reply, edit,
moderation, reaction, tag, poll vote, rename, visibility). ``benchmarks/community_pages.py``
measures the same pages with a million posts."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apiary.community import selectors, services
from apiary.community.models import Comment, Post, SpaceRole, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    # LocMem lives for the whole test process; a page cached by an earlier test must not
    # answer for this one (ids are reused after each test's rollback).
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def town(make_user, manager):
    owner = make_user(display_name="Olga Owner")
    reader = make_user(display_name="Rui Reader")
    moderator = make_user(display_name="Mona Moderator")
    for person in (owner, reader, moderator):
        services.profile_ensure(user=person)
    space = services.space_create(actor=manager, name="Brewing", slug="brewing")
    services.membership_role_set(actor=manager, space=space, user=owner, role=SpaceRole.OWNER)
    services.membership_role_set(actor=owner, space=space, user=moderator, role=SpaceRole.MODERATOR)
    services.space_join(user=reader, space=space)
    return {"owner": owner, "reader": reader, "moderator": moderator, "space": space}


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def queries(client: Client, url: str) -> tuple[int, str]:
    client.get(url)  # warm: session, membership and permission caches, templates
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(ctx.captured_queries), response.content.decode()


def topic(town, title="Grinder noise", n_comments=0, replies=0, tags=("espresso",)):
    owner, reader = town["owner"], town["reader"]
    post = services.post_create(
        author=owner, space=town["space"], type="question", title=title, tags=list(tags)
    )
    for i in range(n_comments):
        comment = services.comment_create(author=reader, post=post, body=f"Answer {i}")
        services.reaction_add(user=owner, kind="like", comment=comment)
        for j in range(replies):
            services.comment_create(author=owner, post=post, body=f"Reply {i}.{j}", parent=comment)
    return post


def more_posts(town, n, prefix):
    for i in range(n):
        p = services.post_create(
            author=town["owner"],
            space=town["space"],
            title=f"{prefix} espresso {i}",
            tags=["espresso", f"{prefix}-{i}"],
        )
        services.comment_create(author=town["reader"], post=p, body="Crema!")
        services.reaction_add(user=town["reader"], kind="like", post=p)


# --- no N+1 -----------------------------------------------------------------------------------


def test_topic_page_queries_do_not_grow_with_the_thread(town):
    # given a topic with 2 replies and one with 15 replies, each with a reply and a like
    small = topic(town, "Small thread", n_comments=2, replies=1)
    large = topic(town, "Large thread", n_comments=15, replies=1)
    for user in (None, town["reader"], town["moderator"]):
        client = client_for(user)
        cache.clear()
        # when each is rendered (first rendering: no cache for anyone)
        n_small, _ = queries(client, reverse("community:post", args=[small.pk]))
        cache.clear()
        n_large, html = queries(client, reverse("community:post", args=[large.pk]))
        # then the same, bounded number of queries
        assert n_small == n_large, user
        assert n_large <= 25
        assert "Reply 14.0" in html


def test_list_pages_and_api_lists_do_not_grow_with_their_rows(town, api):
    reader = town["reader"]

    def counts():
        out = {}
        urls = [
            reverse("community:space", args=["brewing"]),
            reverse("community:tag", args=["espresso"]),
            reverse("community:profile", args=[town["owner"].pk]),
            reverse("community:home"),
            reverse("community:search") + "?q=espresso",
            "/api/v1/community/posts?space=brewing",
            "/api/v1/community/tags/espresso/posts",
            f"/api/v1/community/people/{town['owner'].pk}/posts",
            "/api/v1/community/search?q=espresso",
            "/api/v1/community/feed",
        ]
        for who, client in (("anon", client_for()), ("reader", client_for(reader))):
            for url in urls:
                if url.startswith("/api/") and who == "reader":
                    client = api(reader).client
                out[(who, url)] = queries(client, url)[0]
        return out

    # given 3 posts, then 25 more (each with a tag of its own, a reply and a like)
    more_posts(town, 3, "few")
    few = counts()
    more_posts(town, 25, "many")
    many = counts()
    # then no page or API list runs more queries for more rows
    grown = {k: (few[k], many[k]) for k in few if many[k] > few[k]}
    assert not grown
    assert max(many.values()) <= 25


def test_topic_comment_api_list_does_not_grow(town, api):
    small = topic(town, "Small", n_comments=2, replies=1)
    large = topic(town, "Large", n_comments=12, replies=2)
    client = api(town["reader"]).client
    n_small, _ = queries(client, f"/api/v1/community/posts/{small.pk}/comments")
    n_large, _ = queries(client, f"/api/v1/community/posts/{large.pk}/comments")
    assert n_small == n_large <= 12


# --- replies are paged ------------------------------------------------------------------------


def test_replies_come_in_pages_with_their_threads(town):
    post = topic(town, "Popular", n_comments=45, replies=0)
    first = Comment.objects.filter(post=post).order_by("created_at", "id")
    reply = services.comment_create(
        author=town["owner"], post=post, body="A late reply to answer 30", parent=first[30]
    )
    client = client_for()
    url = reverse("community:post", args=[post.pk])
    page1 = client.get(url).content.decode()
    page3 = client.get(url + "?page=3").content.decode()
    last = client.get(url + "?page=last").content.decode()
    # then 20 threads a page, oldest first, with a pager; the last page is page 3
    assert "Answer 0<" in page1 and "Answer 19<" in page1 and "Answer 20<" not in page1
    assert "Page 1 of 3" in page1
    assert "Answer 40<" in page3 and "Answer 39<" not in page3
    assert page3 == last or "Page 3 of 3" in last
    # and a link to one reply opens the page of its thread
    linked = client.get(url + f"?comment={reply.pk}").content.decode()
    assert "A late reply to answer 30" in linked and "Page 2 of 3" in linked
    # a nonsense page number is page 1, not an error
    assert client.get(url + "?page=abc").status_code == 200
    assert client.get(url + "?page=999").status_code == 200


def test_replying_redirects_to_the_page_with_the_new_reply(town):
    post = topic(town, "Popular", n_comments=25)
    client = client_for(town["reader"])
    response = client.post(reverse("community:comment", args=[post.pk]), {"body": "Mine!"})
    comment = Comment.objects.get(body="Mine!")
    assert response.status_code == 302
    assert response["Location"].endswith(f"?comment={comment.pk}#comment-{comment.pk}")
    page = client.get(response["Location"]).content.decode()
    assert "Mine!" in page and "Page 2 of 2" in page


def test_a_hot_topic_costs_a_page_not_the_thread(town):
    # given a thread of 60 replies: the page holds 20 of them and the query count is that
    # of a short thread (the selector reads a count, the page and its replies)
    post = topic(town, "Hot", n_comments=60)
    page = selectors.comment_page(user=AnonymousUser(), post=post, page=1)
    assert len(page.object_list) == 20 and page.paginator.num_pages == 3
    with CaptureQueriesContext(connection) as ctx:
        selectors.comment_page(user=town["reader"], post=post, page=2)
    assert len(ctx.captured_queries) <= 4


# --- the anonymous topic cache ----------------------------------------------------------------


def _topic_html(post, client=None, suffix=""):
    client = client or client_for()
    response = client.get(reverse("community:post", args=[post.pk]) + suffix)
    return response.status_code, response.content.decode()


def test_anonymous_topic_pages_are_served_from_the_cache(town):
    post = topic(town, n_comments=5, replies=1)
    client = client_for()
    url = reverse("community:post", args=[post.pk])
    first = client.get(url).content.decode()
    with CaptureQueriesContext(connection) as ctx:
        second = client.get(url).content.decode()
    # then the second anonymous visit runs only the access check's query
    assert len(ctx.captured_queries) == 1
    assert "Answer 4" in second and second.count('class="cm-post"') == first.count(
        'class="cm-post"'
    )
    # and nothing personal is in the shared part (the head and main column; the page's
    # chrome, e.g. the language switcher, is rendered per request): no CSRF token, no form
    shared = second[second.index('<div class="cm-head">') : second.index('<aside class="cm-side">')]
    assert "Answer 4" in shared
    assert "csrfmiddlewaretoken" not in shared
    assert 'action="/community/p/' not in shared


def test_member_pages_are_never_shared(town):
    post = topic(town, n_comments=2)
    reader = town["reader"]
    # given an anonymous visit cached the page, and a member's own pending reply
    assert _topic_html(post)[0] == 200
    pending = services.comment_create(author=reader, post=post, body="Mine, held")
    Comment.objects.filter(pk=pending.pk).update(state="pending")
    # then the member sees their own page (their reply, reaction buttons with a token)
    _, mine = _topic_html(post, client_for(reader))
    assert "Mine, held" in mine and "csrfmiddlewaretoken" in mine
    # and the anonymous page does not show the held reply nor the member's buttons
    _, anon = _topic_html(post)
    shared = anon[anon.index('<div class="cm-head">') : anon.index('<aside class="cm-side">')]
    assert "Mine, held" not in anon and "csrfmiddlewaretoken" not in shared


@pytest.mark.parametrize(
    "change, expect",
    [
        ("reply", "A brand new answer"),
        ("edit_reply", "Answer 0, corrected"),
        ("edit_post", "Grinder silence"),
        ("tag", "#decaf"),
        ("rename_author", "Rui The Reader"),
        ("like_reply", 'class="count">2<'),
        ("react_post", '❤️</span> Love <span class="count">1<'),
    ],
)
def test_anonymous_cache_shows_every_change_at_once(town, change, expect):
    post = topic(town, n_comments=2)
    owner, reader, moderator = town["owner"], town["reader"], town["moderator"]
    status, before = _topic_html(post)
    assert status == 200 and expect not in before
    first = Comment.objects.filter(post=post).order_by("id").first()
    # when
    if change == "reply":
        services.comment_create(author=reader, post=post, body="A brand new answer")
    elif change == "edit_reply":
        services.comment_update(actor=reader, comment=first, body="Answer 0, corrected")
    elif change == "edit_post":
        services.post_update(actor=owner, post=post, title="Grinder silence")
    elif change == "tag":
        services.post_tags_set(actor=owner, post=post, tags=["espresso", "decaf"])
    elif change == "rename_author":
        reader.display_name = "Rui The Reader"
        reader.save(update_fields=["display_name"])
    elif change == "like_reply":
        services.reaction_add(user=moderator, kind="like", comment=first)
    elif change == "react_post":
        services.reaction_add(user=reader, kind="love", post=post)
    # then the very next anonymous request shows it
    _, after = _topic_html(post)
    assert expect in after, change


def test_anonymous_cache_drops_moderated_and_closed_content(town):
    post = topic(town, n_comments=2)
    owner, moderator = town["owner"], town["moderator"]
    first = Comment.objects.filter(post=post).order_by("id").first()
    assert "Answer 0" in _topic_html(post)[1]
    # a moderator removes a reply: gone at the next request
    services.comment_delete(actor=moderator, comment=first)
    assert "Answer 0<" not in _topic_html(post)[1]
    # a reply hidden by a moderator's flag: gone too
    second = Comment.objects.filter(post=post, state="published").order_by("id").first()
    services.flag_create(user=moderator, reason="abuse", comment=second)
    second.refresh_from_db()
    if second.state == "hidden":
        assert "Answer 1<" not in _topic_html(post)[1]
    # the post becomes members-only: anonymous visitors get the outsider page, not the cache
    services.post_update(actor=owner, post=post, audience="members")
    status, html = _topic_html(post)
    assert status == 403 and "Grinder noise" not in html
    # the post is removed: 404
    services.post_update(actor=owner, post=post, audience="everyone")
    assert _topic_html(post)[0] == 200
    services.post_delete(actor=owner, post=post)
    assert _topic_html(post)[0] == 404


def test_every_write_path_bumps_the_render_version(town):
    # Database triggers, not service code: a bulk update the services never see counts too.
    post = topic(town, n_comments=1)
    version = Post.objects.get(pk=post.pk).render_version
    Comment.objects.filter(post=post).update(body_html="<p>rewritten by a script</p>")
    after_comment = Post.objects.get(pk=post.pk).render_version
    assert after_comment > version
    Tag.objects.filter(slug="espresso").update(name="Espresso!")
    assert Post.objects.get(pk=post.pk).render_version > after_comment
    assert "rewritten by a script" in _topic_html(post)[1]


def test_tags_with_letters_beyond_ascii_have_pages(town):
    post = topic(town, title="Помол для турки", tags=["кофемолка"])
    client = client_for()
    status, html = _topic_html(post, client)
    assert status == 200 and "#кофемолка" in html
    link = re.search(r'href="(/community/t/[^"]+/)"', html).group(1)
    response = client.get(link)
    assert response.status_code == 200 and "Помол для турки" in response.content.decode()
