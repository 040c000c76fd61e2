"""The permission matrix over HTTP: API detail and list endpoints for every role × visibility,
403 bodies carry the ways in, 404 for secret is byte-identical to a missing id."""

from __future__ import annotations

import pytest

from apiary.community.tests.conftest import ROLES, VISIBILITIES, expected


def client_for(api, world, role):
    return api(None if role == "anonymous" else world.user(role))


@pytest.mark.parametrize("role", ROLES)
def test_api_detail_and_lists(api, world, role):
    client = client_for(api, world, role)
    listed = {p["id"] for p in client.get("/api/v1/community/posts?limit=200").json()["items"]}
    tagged = {
        p["id"]
        for p in client.get(f"/api/v1/community/tags/{world.tag}/posts?limit=200").json()["items"]
    }
    owner_id = world.user("owner").pk
    profile = {
        p["id"]
        for p in client.get(f"/api/v1/community/people/{owner_id}/posts?limit=200").json()["items"]
    }
    for vis in VISIBILITIES:
        want = expected(role, vis)
        post, comment = world.posts[vis], world.comments[vis]
        for path in (
            f"/api/v1/community/posts/{post.pk}",
            f"/api/v1/community/posts/{post.pk}/comments",
            f"/api/v1/community/attachments/{world.attachments[vis].pk}",
            f"/api/v1/community/posts/{world.polls[vis].pk}/poll",
        ):
            response = client.get(path)
            assert response.status_code == want, (role, vis, path, response.content[:200])
            if want == 403:
                body = response.json()
                assert body["ways"], body
                assert body["space"]["slug"] == world.spaces[vis].slug
                assert post.title not in response.content.decode()
            if want == 404:
                assert response.json() == {"detail": "Not found.", "code": "not_found"}
        assert (post.pk in listed) is (want == 200), (role, vis)
        assert (post.pk in tagged) is (want == 200), (role, vis)
        assert (post.pk in profile) is (want == 200), (role, vis)
        if want == 200:
            shown = client.get(f"/api/v1/community/posts/{post.pk}/comments").json()
            assert comment.pk in {c["id"] for c in shown}
        # spaces: directory and detail
        space_want = 200 if vis == "members_only_post" else want
        r = client.get(f"/api/v1/community/spaces/{world.spaces[vis].slug}")
        assert r.status_code == space_want, (role, vis)
        export = client.get(f"/api/v1/community/spaces/{world.spaces[vis].slug}/export")
        assert export.status_code == space_want
        if space_want == 200:
            assert (post.pk in {p["id"] for p in export.json()["posts"]}) is (want == 200)
    directory = {s["slug"]: s for s in client.get("/api/v1/community/spaces").json()}
    assert ("space-secret" in directory) is (expected(role, "secret") == 200)
    closed = directory["space-closed"]
    assert (closed["posts_count"] is None) is (expected(role, "closed") != 200)


@pytest.mark.parametrize("role", ["anonymous", "registered", "care_agent"])
def test_secret_and_missing_answer_identically(api, world, role):
    client = client_for(api, world, role)
    secret = world.posts["secret"].pk
    a = client.get(f"/api/v1/community/posts/{secret}")
    b = client.get(f"/api/v1/community/posts/{secret + 100_000}")
    assert a.status_code == b.status_code == 404
    assert a.content == b.content
    c = client.get("/api/v1/community/spaces/space-secret")
    d = client.get("/api/v1/community/spaces/no-such-space")
    assert c.status_code == d.status_code == 404 and c.content == d.content


def test_guessed_ids_over_the_api(api, world):
    """A non-member walking ids sees public posts, 403 for closed, 404 for secret and gaps."""
    from apiary.community.models import Post

    client = client_for(api, world, "registered")
    by_space = {s.pk: k for k, s in world.spaces.items()}
    top = Post.objects.order_by("-pk").values_list("pk", flat=True).first()
    for post_id in range(1, top + 3):
        row = Post.objects.filter(pk=post_id).first()
        want = 404 if row is None else expected("registered", by_space[row.space_id])
        assert client.get(f"/api/v1/community/posts/{post_id}").status_code == want


def test_writes_need_authentication_and_access(api, world):
    anon = client_for(api, world, "anonymous")
    r = anon.post(f"/api/v1/community/posts/{world.posts['public'].pk}/comments", {"body": "hi"})
    assert r.status_code == 401
    outsider = client_for(api, world, "registered")
    r = outsider.post(f"/api/v1/community/posts/{world.posts['closed'].pk}/comments", {"body": "x"})
    assert r.status_code == 403 and r.json()["code"] == "membership_required"
    r = outsider.post(f"/api/v1/community/posts/{world.posts['secret'].pk}/vote")
    assert r.status_code == 404
    r = outsider.post("/api/v1/community/posts", {"space": "space-secret", "title": "x"})
    assert r.status_code == 404
    r = outsider.post(
        "/api/v1/community/posts", {"space": "space-public", "title": "ok", "bogus": 1}
    )
    assert r.status_code == 422


def test_idor_edit_and_delete(api, world):
    post = world.posts["public"]
    intruder = client_for(api, world, "registered")
    assert (
        intruder.patch(f"/api/v1/community/posts/{post.pk}", {"title": "pwned"}).status_code == 403
    )
    assert intruder.delete(f"/api/v1/community/posts/{post.pk}").status_code == 403
    comment = world.comments["public"]
    assert (
        intruder.patch(f"/api/v1/community/comments/{comment.pk}", {"body": "pwned"}).status_code
        == 403
    )
    assert intruder.delete(f"/api/v1/community/comments/{comment.pk}").status_code == 403
    # a member of the space is no moderator either
    member = client_for(api, world, "member")
    assert member.patch(f"/api/v1/community/posts/{post.pk}", {"title": "pwned"}).status_code == 403
    assert member.post(f"/api/v1/community/posts/{post.pk}/pin", {"on": True}).status_code == 403
    # the comment's author may edit it; a space moderator may edit the post
    assert (
        member.patch(f"/api/v1/community/comments/{comment.pk}", {"body": "fixed"}).status_code
        == 200
    )
    moderator = client_for(api, world, "moderator")
    assert (
        moderator.patch(f"/api/v1/community/posts/{post.pk}", {"title": "Tidy"}).status_code == 200
    )
    post.refresh_from_db()
    assert post.title == "Tidy"


def test_invitation_link_flow(api, world):
    owner = client_for(api, world, "owner")
    r = owner.post(
        "/api/v1/community/spaces/space-closed/invitations", {"max_uses": 1, "role": "member"}
    )
    assert r.status_code == 201
    token = r.json()["token"]
    guest = client_for(api, world, "registered")
    assert guest.get(f"/api/v1/community/posts/{world.posts['closed'].pk}").status_code == 403
    r = guest.post("/api/v1/community/invitations/accept", {"token": token})
    assert r.status_code == 200, r.content
    assert guest.get(f"/api/v1/community/posts/{world.posts['closed'].pk}").status_code == 200
    # single use: the next person is refused with the same message as a bad token
    other = client_for(api, world, "care_agent")
    used = other.post("/api/v1/community/invitations/accept", {"token": token})
    bad = other.post("/api/v1/community/invitations/accept", {"token": "inv_nope"})
    assert used.status_code == bad.status_code == 422
    assert used.json()["detail"] == bad.json()["detail"]
