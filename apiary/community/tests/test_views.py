"""Community pages: the outsider answers (403 page with the ways in, 404 identical to a missing
page), no leaks of closed content on any list page, Open Graph only for public content, XSS
escaped, CSRF enforced, and bounded query counts. Uses the ``world`` fixture (conftest.py):
one space per visibility with owner, moderator and member, a post, a comment, a poll and an
image in each, all tagged ``matrix``."""

from __future__ import annotations

import io
import re

import pytest
from django.test import Client
from django.urls import reverse

from apiary.community import services
from apiary.community.models import SpaceRole
from apiary.community.tests.conftest import ROLES, VISIBILITIES, expected, png_bytes

pytestmark = pytest.mark.django_db

CLOSED_KEYS = ("closed", "secret", "members_only_post")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The world fixture creates nine accounts per test; Argon2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(user) -> Client:
    client = Client()
    if getattr(user, "is_authenticated", False):
        client.force_login(user)
    return client


def normalised(html: str) -> str:
    """A page without what differs on every request (the CSRF token, the page's own path)."""
    html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    return re.sub(r'name="next" type="hidden" value="[^"]*"', "", html)


def leaked(world, html: str, *, keys=CLOSED_KEYS) -> list[str]:
    """Titles, bodies, comments and file names of the given spaces' content found in html."""
    found = []
    for key in keys:
        for needle in (
            world.posts[key].title,
            world.posts[key].body,
            world.comments[key].body,
            world.polls[key].title,
            f"{key}.png",
        ):
            if needle in html:
                found.append(needle)
    return found


# --- the post page: the access matrix through the browser's address ---------------------------


def test_post_page_answers_the_matrix(world):
    # One world for the whole matrix (building it per cell would take minutes).
    for role in ROLES:
        client = client_for(world.user(role))
        for vis in VISIBILITIES:
            post = world.posts[vis]
            # when
            response = client.get(reverse("community:post", args=[post.pk]))
            # then
            want = expected(role, vis)
            assert response.status_code == want, (role, vis)
            html = response.content.decode()
            if want == 200:
                assert post.title in html
                continue
            # Denied: nothing of the post may appear — not its title, text, author or comment.
            assert post.title not in html, (role, vis)
            assert post.body not in html
            assert world.comments[vis].body not in html
            assert "og:" not in html
            if want == 403:
                assert "This content is not available" in html
                assert '<meta name="robots" content="noindex">' in html


def test_files_and_polls_answer_the_matrix(world):
    for role in ROLES:
        client = client_for(world.user(role))
        for vis in VISIBILITIES:
            want = expected(role, vis)
            image = client.get(reverse("community:attachment", args=[world.attachments[vis].pk]))
            poll = client.get(reverse("community:post", args=[world.polls[vis].pk]))
            assert image.status_code == want, (role, vis)
            assert poll.status_code == want, (role, vis)
            if want == 200:
                assert b"".join(image.streaming_content)[:4] == b"\x89PNG"


def test_anonymous_outsider_is_offered_log_in_and_register(world):
    # when
    response = Client().get(reverse("community:post", args=[world.posts["closed"].pk]))
    # then
    html = response.content.decode()
    assert response.status_code == 403
    assert 'id="gate-login"' in html and 'id="gate-register"' in html
    assert f"next=/community/p/{world.posts['closed'].pk}/" in html
    assert 'id="gate-request"' not in html
    assert world.user("owner").name not in html  # the author is not named


def test_logged_in_outsider_is_offered_membership_or_the_admin(world, make_user):
    # given: one closed space takes requests, the fixture's takes invitations only
    manager = world.user("manager")
    asking = services.space_create(
        actor=manager,
        name="Partners",
        slug="partners",
        visibility="closed",
        join_policy="request",
        contact_email="partners@example.com",
    )
    post = services.post_create(author=manager, space=asking, title="Price list 2026")
    outsider = client_for(world.user("registered"))
    # when
    by_request = outsider.get(reverse("community:post", args=[post.pk])).content.decode()
    by_invitation = outsider.get(
        reverse("community:post", args=[world.posts["closed"].pk])
    ).content.decode()
    # then
    assert 'id="gate-request"' in by_request
    assert "partners@example.com" in by_request
    assert world.user("manager").name in by_request  # the owner to contact
    assert "Price list 2026" not in by_request
    assert 'id="gate-login"' not in by_request
    assert 'id="gate-request"' not in by_invitation
    assert "invitation" in by_invitation


def test_secret_post_is_byte_for_byte_a_missing_page(world):
    # given
    secret = world.posts["secret"].pk
    missing = secret + 10_000
    for role in ("anonymous", "registered", "care_agent"):
        client = client_for(world.user(role))
        # when
        a = client.get(reverse("community:post", args=[secret]))
        b = client.get(reverse("community:post", args=[missing]))
        # then
        assert a.status_code == b.status_code == 404
        assert normalised(a.content.decode()) == normalised(b.content.decode())
        assert sorted(a.headers.keys()) == sorted(b.headers.keys())


def test_secret_space_and_its_pages_are_missing_pages(world):
    client = client_for(world.user("registered"))
    slug = world.spaces["secret"].slug
    for name in ("community:space", "community:members", "community:post_new"):
        a = client.get(reverse(name, args=[slug]))
        b = client.get(reverse(name, args=["no-such-space"]))
        assert a.status_code == b.status_code == 404, name
        assert normalised(a.content.decode()) == normalised(b.content.decode())


def test_closed_space_page_is_not_available_without_counts(world):
    # given: the space's counters are real numbers
    space = world.spaces["closed"]
    # when
    response = client_for(world.user("registered")).get(
        reverse("community:space", args=[space.slug])
    )
    # then
    html = response.content.decode()
    assert response.status_code == 403
    assert space.name in html  # a closed space's existence is not secret
    assert "posts" not in html.lower().split("not available", 1)[1].split("</section>")[0]
    assert leaked(world, html) == []


# --- list pages never leak closed content -----------------------------------------------------


LIST_PAGES = [
    ("community:home", []),
    ("community:roadmap", []),
    ("community:tag", ["matrix"]),
]


def test_list_pages_do_not_leak_closed_content(world):
    for role in ("anonymous", "registered", "care_agent"):
        client = client_for(world.user(role))
        for name, args in LIST_PAGES:
            response = client.get(reverse(name, args=args))
            html = response.content.decode()
            assert response.status_code == 200, (role, name)
            assert leaked(world, html) == [], (role, name)
            assert world.spaces["secret"].name not in html


def test_members_see_their_closed_content_in_lists(world):
    client = client_for(world.user("member"))
    home = client.get(reverse("community:home")).content.decode()
    tag = client.get(reverse("community:tag", args=["matrix"])).content.decode()
    for key in CLOSED_KEYS:
        assert world.posts[key].title in home
        assert world.posts[key].title in tag


def test_profile_shows_only_what_the_viewer_may_see(world):
    # given: the owner wrote in every space; the member commented everywhere
    owner = world.user("owner")
    url = reverse("community:profile", args=[owner.pk])
    # when
    outsider = client_for(world.user("registered")).get(url).content.decode()
    insider = client_for(world.user("member")).get(url).content.decode()
    # then
    assert world.posts["public"].title in outsider
    assert leaked(world, outsider) == []
    for key in CLOSED_KEYS:
        assert world.posts[key].title in insider
    commenter = client_for(world.user("registered")).get(
        reverse("community:profile", args=[world.user("member").pk])
    )
    assert leaked(world, commenter.content.decode()) == []


def test_notifications_page_drops_what_the_recipient_can_no_longer_see(world, make_user):
    # given: a follower of the owner gets a new-post notification in a closed space, then leaves
    follower = world.user("member")
    owner = world.user("owner")
    services.follow_add(follower=follower, user=owner)
    space = world.spaces["closed"]
    post = services.post_create(author=owner, space=space, title="Roadmap for partners only")
    client = client_for(follower)
    before = client.get(reverse("community:notifications")).content.decode()
    services.space_leave(user=follower, space=space)
    # when
    after = client.get(reverse("community:notifications")).content.decode()
    # then
    assert post.title in before
    assert post.title not in after


def test_notification_click_marks_it_read_and_goes_to_the_post(world):
    follower = world.user("member")
    owner = world.user("owner")
    services.follow_add(follower=follower, user=owner)
    post = services.post_create(author=owner, space=world.spaces["public"], title="Fresh news")
    client = client_for(follower)
    page = client.get(reverse("community:notifications")).content.decode()
    note_id = re.search(r'name="id" value="(\d+)"', page).group(1)
    response = client.post(
        reverse("community:notifications_read"),
        {"id": note_id, "next": reverse("community:post", args=[post.pk])},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("community:post", args=[post.pk])
    again = client.get(reverse("community:notifications") + "?unread=1").content.decode()
    assert "Fresh news" not in again


# --- Open Graph ---------------------------------------------------------------------------------


def test_open_graph_only_for_content_anonymous_visitors_may_read(world):
    member = client_for(world.user("member"))
    public = member.get(reverse("community:post", args=[world.posts["public"].pk]))
    assert 'property="og:title"' in public.content.decode()
    for key in ("registered", "closed", "secret", "members_only_post"):
        html = member.get(reverse("community:post", args=[world.posts[key].pk])).content.decode()
        assert response_ok(html, world.posts[key].title)
        assert "og:" not in html, key
        assert '<meta name="robots" content="noindex">' in html, key


def response_ok(html: str, title: str) -> bool:
    return title in html


# --- XSS ------------------------------------------------------------------------------------------

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_xss_in_title_body_comment_tag_and_file_name_is_escaped(world):
    # given
    owner = world.user("owner")
    space = world.spaces["public"]
    upload = services.attachment_upload(
        user=owner, fileobj=io.BytesIO(png_bytes()), filename=f'{XSS}".png'
    )
    post = services.post_create(
        author=owner,
        space=space,
        type="document",
        title=f"T {XSS}",
        body=f"B {XSS} [link](javascript:alert(1))",
        tags=["safe"],
        attachment_ids=[upload.pk],
    )
    services.comment_create(author=world.user("member"), post=post, body=f"C {XSS}")
    # when
    client = client_for(world.user("member"))
    pages = [
        client.get(reverse("community:post", args=[post.pk])).content.decode(),
        client.get(reverse("community:space", args=[space.slug])).content.decode(),
        client.get(reverse("community:home")).content.decode(),
        client.get(reverse("community:profile", args=[owner.pk])).content.decode(),
    ]
    # then
    for html in pages:
        assert "<script>alert" not in html
        assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
        assert 'href="javascript:' not in html
    assert "&lt;script&gt;alert" in pages[0]


# --- CSRF -------------------------------------------------------------------------------------


def test_state_changing_forms_need_the_csrf_token(world):
    # given
    member = world.user("member")
    post = world.posts["public"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    posts = [
        (reverse("community:comment", args=[post.pk]), {"body": "hi"}),
        (reverse("community:react", args=[post.pk]), {"kind": "like"}),
        (reverse("community:space_join", args=[world.spaces["registered"].slug]), {}),
        (reverse("community:space_leave", args=[world.spaces["public"].slug]), {}),
        (reverse("community:user_follow", args=[world.user("owner").pk]), {}),
        (reverse("community:share", args=[post.pk]), {"kind": "external"}),
        (reverse("community:notifications_read"), {}),
        (reverse("community:post_new", args=[world.spaces["public"].slug]), {"title": "x"}),
    ]
    for url, data in posts:
        # when
        response = client.post(url, data)
        # then
        assert response.status_code == 403, url
    assert post.comments_count == world.posts["public"].comments_count


def test_a_form_with_its_token_goes_through(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.user("member"))
    page = client.get(reverse("community:post", args=[world.posts["public"].pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        reverse("community:comment", args=[world.posts["public"].pk]),
        {"body": "With a token", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302


# --- query counts ---------------------------------------------------------------------------


def _more_posts(world, n=15):
    owner = world.user("owner")
    for i in range(n):
        post = services.post_create(
            author=owner, space=world.spaces["public"], title=f"Extra {i}", tags=["matrix"]
        )
        services.comment_create(author=world.user("member"), post=post, body="reply")


def test_list_pages_have_bounded_queries(world, django_assert_max_num_queries):
    _more_posts(world)
    client = client_for(world.user("member"))
    for name, args in [
        ("community:home", []),
        ("community:space", ["space-public"]),
        ("community:tag", ["matrix"]),
        ("community:roadmap", []),
    ]:
        client.get(reverse(name, args=args))  # warm the session
        with django_assert_max_num_queries(25):
            response = client.get(reverse(name, args=args))
        assert response.status_code == 200


def test_profile_and_post_pages_have_bounded_queries(world, django_assert_max_num_queries):
    _more_posts(world)
    owner = world.user("owner")
    client = client_for(world.user("member"))
    with django_assert_max_num_queries(25):
        assert client.get(reverse("community:profile", args=[owner.pk])).status_code == 200
    post = world.posts["public"]
    for i in range(10):
        services.comment_create(author=world.user("member"), post=post, body=f"more {i}")
    with django_assert_max_num_queries(40):
        assert client.get(reverse("community:post", args=[post.pk])).status_code == 200


def test_space_roles_shown_to_moderators(world):
    html = (
        client_for(world.user("owner"))
        .get(reverse("community:members", args=[world.spaces["closed"].slug]))
        .content.decode()
    )
    assert "Max Member" in html
    assert str(SpaceRole.MODERATOR.label) in html
