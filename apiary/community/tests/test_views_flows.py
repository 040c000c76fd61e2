"""Community pages end to end through the Django client: joining and approvals, invitation links
(valid, expired, used up, revoked), writing every post type, drafts, edit history, accepted
answers, idea votes and the roadmap, polls, contests, uploads with their limits, the Markdown
preview, reactions, shares and follows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.community import services
from apiary.community.tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(make_user):
    return {
        "manager": make_user(Role.COMMUNITY_MANAGER, display_name="Carla Manager"),
        "mod": make_user(display_name="Mona Moderator"),
        "ann": make_user(display_name="Ann Asker"),
        "bob": make_user(display_name="Bob Helper"),
    }


@pytest.fixture
def space(people):
    space = services.space_create(actor=people["manager"], name="Product", slug="product")
    services.membership_role_set(
        actor=people["manager"], space=space, user=people["mod"], role="moderator"
    )
    for key in ("ann", "bob"):
        services.space_join(user=people[key], space=space)
    return space


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_id_from(response) -> int:
    return int(re.search(r"/community/p/(\d+)/", response["Location"]).group(1))


# --- membership -----------------------------------------------------------------------------


def test_request_membership_then_moderator_approves(people):
    # given
    closed = services.space_create(
        actor=people["manager"], name="Partners", slug="partners", visibility="closed",
        join_policy="request",
    )  # fmt: skip
    services.membership_role_set(
        actor=people["manager"], space=closed, user=people["mod"], role="moderator"
    )
    post = services.post_create(author=people["mod"], space=closed, title="Partner terms")
    ann = login(people["ann"])
    # when: Ann asks from the not-available page
    gate = ann.get(reverse("community:post", args=[post.pk]))
    assert gate.status_code == 403 and 'id="gate-request"' in gate.content.decode()
    asked = ann.post(
        reverse("community:space_join", args=["partners"]),
        {"note": "Reseller", "next": reverse("community:post", args=[post.pk])},
    )
    # then: she is back on the link, now told her request waits
    assert asked.status_code == 302
    pending = ann.get(asked["Location"])
    assert pending.status_code == 403 and 'id="gate-pending"' in pending.content.decode()
    # when: the moderator approves from the members page
    mod = login(people["mod"])
    page = mod.get(reverse("community:members", args=["partners"])).content.decode()
    assert "Reseller" in page
    request_id = re.search(r"/requests/(\d+)/approve/", page).group(1)
    mod.post(reverse("community:request_decide", args=["partners", request_id, "approve"]))
    # then
    assert ann.get(reverse("community:post", args=[post.pk])).status_code == 200


def test_members_page_is_for_moderators_only(people, space):
    response = login(people["ann"]).get(reverse("community:members", args=[space.slug]))
    assert response.status_code == 403
    assert (
        login(people["mod"]).get(reverse("community:members", args=[space.slug])).status_code == 200
    )


def test_owner_sets_roles_and_plain_members_cannot(people, space):
    url = reverse("community:member_role", args=[space.slug, people["bob"].pk])
    denied = login(people["ann"]).post(url, {"role": "moderator"})
    assert denied.status_code == 403
    login(people["manager"]).post(url, {"role": "moderator"})
    page = login(people["manager"]).get(reverse("community:members", args=[space.slug]))
    assert re.search(r"Bob Helper</a> <span class=\"tag light\">Moderator", page.content.decode())


def test_join_and_leave_an_open_space(people, space):
    carol = login(people["manager"])  # staff managers administer without joining
    ann = login(people["ann"])
    assert ann.post(reverse("community:space_leave", args=[space.slug])).status_code == 302
    page = ann.get(reverse("community:space", args=[space.slug])).content.decode()
    assert 'id="space-join"' in page
    ann.post(reverse("community:space_join", args=[space.slug]))
    page = ann.get(reverse("community:space", args=[space.slug])).content.decode()
    assert 'id="space-leave"' in page
    assert carol.get(reverse("community:space", args=[space.slug])).status_code == 200


# --- invitations ----------------------------------------------------------------------------


def _invite(people, space, **kw):
    _inv, token = services.invitation_create(actor=people["manager"], space=space, **kw)
    return _inv, token


def test_invitation_link_lifecycle(people, make_user):
    # given: a secret partner space with an invitation link created on the members page
    secret = services.space_create(
        actor=people["manager"], name="Beta", slug="beta", visibility="secret",
        join_policy="invitation",
    )  # fmt: skip
    manager = login(people["manager"])
    manager.post(
        reverse("community:invite_create", args=["beta"]),
        {"role": "member", "uses": "single", "expires_in_days": 3},
    )
    page = manager.get(reverse("community:members", args=["beta"])).content.decode()
    url = re.search(r"http://testserver(/community/invite/[^<\s]+/)", page).group(1)
    assert (
        manager.get(reverse("community:members", args=["beta"])).content.decode().count(url) == 0
    )  # shown once
    # when: anonymous opens it
    anonymous = Client().get(url)
    # then: it names the space and asks to log in
    assert anonymous.status_code == 200
    assert (
        "Beta" in anonymous.content.decode() and 'id="invite-login"' in anonymous.content.decode()
    )
    # when: Ann accepts
    ann = login(people["ann"])
    accepted = ann.post(url)
    assert accepted.status_code == 302
    assert ann.get(reverse("community:space", args=["beta"])).status_code == 200
    # then: the single-use link is used up for Bob
    used = login(people["bob"]).get(url)
    assert used.status_code == 410
    assert "already been used" in used.content.decode()
    assert login(people["bob"]).post(url).status_code in (400, 410)
    assert login(people["bob"]).get(reverse("community:space", args=["beta"])).status_code == 404
    assert secret.pk


def test_expired_revoked_and_unknown_links_are_explained(people, space):
    inv, token = _invite(people, space, max_uses=None)
    client = login(people["bob"])
    services.invitation_revoke(actor=people["manager"], invitation=inv)
    revoked = client.get(reverse("community:invite", args=[token]))
    assert revoked.status_code == 410 and "revoked" in revoked.content.decode()
    inv2, token2 = _invite(people, space, expires_at=timezone.now() + timedelta(minutes=1))
    type(inv2).objects.filter(pk=inv2.pk).update(expires_at=timezone.now() - timedelta(days=1))
    expired = client.get(reverse("community:invite", args=[token2]))
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    unknown = client.get(reverse("community:invite", args=["inv_guessed"]))
    assert unknown.status_code == 404 and "not valid" in unknown.content.decode()
    assert "Product" not in unknown.content.decode()


# --- writing posts --------------------------------------------------------------------------


def test_write_a_question_accept_an_answer_and_filter_answered(people, space):
    ann = login(people["ann"])
    response = ann.post(
        reverse("community:post_new", args=[space.slug]),
        {"type": "question", "title": "How do I export?", "body": "Where is **export**?",
         "audience": "everyone", "tags": "export, data", "action": "publish"},
    )  # fmt: skip
    assert response.status_code == 302
    post_id = post_id_from(response)
    bob = login(people["bob"])
    bob.post(reverse("community:comment", args=[post_id]), {"body": "Settings → Export."})
    page = ann.get(reverse("community:post", args=[post_id])).content.decode()
    assert "<strong>export</strong>" in page
    comment_id = re.search(r'id="comment-(\d+)"', page).group(1)
    assert "Accept answer" in page
    assert (
        "Accept answer" not in bob.get(reverse("community:post", args=[post_id])).content.decode()
    )
    ann.post(reverse("community:accept", args=[post_id]), {"comment": comment_id})
    page = ann.get(reverse("community:post", args=[post_id])).content.decode()
    assert 'id="answered-badge"' in page and 'id="accepted-answer"' in page
    answered = ann.get(
        reverse("community:space", args=[space.slug]) + "?type=question&answered=yes"
    )
    unanswered = ann.get(
        reverse("community:space", args=[space.slug]) + "?type=question&answered=no"
    )
    assert "How do I export?" in answered.content.decode()
    assert "How do I export?" not in unanswered.content.decode()
    tag = ann.get(reverse("community:tag", args=["export"]))
    assert "How do I export?" in tag.content.decode()


def test_reply_threads_one_level(people, space):
    post = services.post_create(author=people["ann"], space=space, title="Hello")
    top = services.comment_create(author=people["bob"], post=post, body="Top")
    client = login(people["ann"])
    client.post(reverse("community:comment", args=[post.pk]), {"body": "Reply", "parent": top.pk})
    page = client.get(reverse("community:post", args=[post.pk])).content.decode()
    assert re.search(r'class="cm-replies".*Reply', page, re.S)


def test_idea_vote_status_and_roadmap(people, space):
    idea = services.post_create(author=people["ann"], space=space, type="idea", title="Dark mode")
    bob = login(people["bob"])
    bob.post(reverse("community:idea_vote", args=[idea.pk]), {"vote": "1"})
    bob.post(reverse("community:idea_vote", args=[idea.pk]), {"vote": "1"})  # no stuffing
    page = bob.get(reverse("community:post", args=[idea.pk])).content.decode()
    assert re.search(r'id="idea-votes">\s*<span class="count">1</span>', page)
    assert (
        bob.post(
            reverse("community:idea_status", args=[idea.pk]), {"status": "planned"}
        ).status_code
        == 403
    )
    login(people["mod"]).post(
        reverse("community:idea_status", args=[idea.pk]),
        {"status": "planned", "response": "Coming in **May**."},
    )
    page = bob.get(reverse("community:post", args=[idea.pk])).content.decode()
    assert 'id="official-response"' in page and "<strong>May</strong>" in page
    roadmap = Client().get(reverse("community:roadmap")).content.decode()
    assert re.search(r'id="col-planned".*Dark mode', roadmap, re.S)


def test_poll_vote_and_results_after_voting(people, space):
    client = login(people["ann"])
    response = client.post(
        reverse("community:post_new", args=[space.slug]),
        {"type": "poll", "title": "Favourite roast?", "audience": "everyone",
         "poll_options": "Light\nDark", "poll_results": "after_vote", "action": "publish"},
    )  # fmt: skip
    poll_id = post_id_from(response)
    bob = login(people["bob"])
    before = bob.get(reverse("community:post", args=[poll_id])).content.decode()
    assert 'id="poll-results"' not in before and 'id="poll-form"' in before
    option = re.search(r'name="option" value="(\d+)"', before).group(1)
    bob.post(reverse("community:poll_vote", args=[poll_id]), {"option": option})
    after = bob.get(reverse("community:post", args=[poll_id])).content.decode()
    assert 'id="poll-results"' in after and "100%" in after


def test_poll_form_errors_are_shown(people, space):
    response = login(people["ann"]).post(
        reverse("community:post_new", args=[space.slug]),
        {"type": "poll", "title": "One option", "audience": "everyone", "poll_options": "Only",
         "poll_results": "always", "action": "publish"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "at least two options" in response.content.decode()


def test_drafts_edit_and_history(people, space):
    ann = login(people["ann"])
    response = ann.post(
        reverse("community:post_new", args=[space.slug]),
        {"type": "blog", "title": "First draft", "body": "v1", "audience": "everyone",
         "action": "draft"},
    )  # fmt: skip
    post_id = post_id_from(response)
    assert "First draft" in ann.get(reverse("community:drafts")).content.decode()
    assert login(people["bob"]).get(reverse("community:post", args=[post_id])).status_code == 404
    ann.post(
        reverse("community:post_edit", args=[post_id]),
        {"title": "Final title", "body": "v2", "audience": "everyone", "action": "publish"},
    )
    assert login(people["bob"]).get(reverse("community:post", args=[post_id])).status_code == 200
    history = ann.get(reverse("community:post_history", args=[post_id]))
    assert history.status_code == 200 and "First draft" in history.content.decode()
    assert (
        login(people["bob"]).get(reverse("community:post_edit", args=[post_id])).status_code == 403
    )
    assert (
        login(people["bob"])
        .post(
            reverse("community:post_edit", args=[post_id]),
            {"title": "Hijack", "audience": "everyone"},
        )
        .status_code
        == 403
    )


def test_pin_and_lock_by_moderators(people, space):
    older = services.post_create(author=people["ann"], space=space, title="Older post")
    services.post_create(author=people["ann"], space=space, title="Newer post")
    mod = login(people["mod"])
    assert (
        login(people["ann"]).post(reverse("community:moderate", args=[older.pk, "pin"])).status_code
        == 403
    )
    mod.post(reverse("community:moderate", args=[older.pk, "pin"]))
    mod.post(reverse("community:moderate", args=[older.pk, "lock"]))
    page = login(people["bob"]).get(reverse("community:space", args=[space.slug])).content.decode()
    assert page.index("Older post") < page.index("Newer post")
    post_page = (
        login(people["bob"]).get(reverse("community:post", args=[older.pk])).content.decode()
    )
    assert 'id="locked-note"' in post_page and 'id="comment-form"' not in post_page


def test_document_upload_versions_download_and_limits(people, space, settings):
    ann = login(people["ann"])
    response = ann.post(
        reverse("community:post_new", args=[space.slug]),
        {"type": "document", "title": "Spec sheet", "audience": "everyone", "action": "publish",
         "file": SimpleUploadedFile("sheet.png", png_bytes(), content_type="image/png")},
    )  # fmt: skip
    post_id = post_id_from(response)
    page = ann.get(reverse("community:post", args=[post_id])).content.decode()
    file_id = re.search(r"/community/files/(\d+)/", page).group(1)
    ann.post(
        reverse("community:attachment_upload", args=[post_id]),
        {"replaces": file_id, "file": SimpleUploadedFile("sheet-v2.png", png_bytes((9, 9)))},
    )
    page = ann.get(reverse("community:post", args=[post_id])).content.decode()
    assert "sheet-v2.png" in page and "Earlier versions" in page
    download = Client().get(reverse("community:attachment", args=[file_id]))
    assert download.status_code == 200
    assert download["X-Content-Type-Options"] == "nosniff"
    bad = ann.post(
        reverse("community:attachment_upload", args=[post_id]),
        {"file": SimpleUploadedFile("run.exe", b"MZ\x90\x00" * 10)},
        follow=True,
    )
    assert bad.status_code == 200
    assert bad.context["messages"] and any(m.level_tag == "error" for m in bad.context["messages"])
    assert (
        login(people["bob"])
        .post(
            reverse("community:attachment_upload", args=[post_id]),
            {"file": SimpleUploadedFile("x.png", png_bytes())},
        )
        .status_code
        == 403
    )


def test_contest_entry_and_vote(people, space):
    now = timezone.now()
    contest = services.post_create(
        author=people["mod"], space=space, type="contest", title="Best latte art",
        contest_entries_until=now + timedelta(days=1),
        contest_voting_from=now - timedelta(minutes=1),
        contest_voting_until=now + timedelta(days=2),
    )  # fmt: skip
    ann = login(people["ann"])
    ann.post(
        reverse("community:entry_create", args=[contest.pk]),
        {"title": "Swan", "image": SimpleUploadedFile("swan.png", png_bytes())},
    )
    bob = login(people["bob"])
    page = bob.get(reverse("community:post", args=[contest.pk])).content.decode()
    entry_id = re.search(r'id="entry-(\d+)"', page).group(1)
    assert "Swan" in page
    bob.post(reverse("community:entry_vote", args=[contest.pk, entry_id]))
    page = bob.get(reverse("community:post", args=[contest.pk])).content.decode()
    assert "Your vote" in page
    # time passes: voting has closed
    type(contest).objects.filter(pk=contest.pk).update(
        contest_voting_until=timezone.now() - timedelta(seconds=1)
    )
    login(people["mod"]).post(reverse("community:contest_winners", args=[contest.pk]))
    page = bob.get(reverse("community:post", args=[contest.pk])).content.decode()
    assert "Place 1" in page


# --- shared features ------------------------------------------------------------------------


def test_markdown_preview_is_sanitised_and_needs_login(people):
    client = login(people["ann"])
    response = client.post(
        reverse("community:preview"),
        {"body": "**hi** <script>x</script>"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "<strong>hi</strong>" in html and "<script>" not in html
    assert Client().post(reverse("community:preview"), {"body": "x"}).status_code == 302


def test_reactions_toggle_with_and_without_htmx(people, space):
    post = services.post_create(author=people["ann"], space=space, title="React to me")
    bob = login(people["bob"])
    bob.post(reverse("community:react", args=[post.pk]), {"kind": "like"})
    fragment = bob.post(
        reverse("community:react", args=[post.pk]), {"kind": "love"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert fragment.startswith('\n<div class="cm-postactions"') or "cm-postactions" in fragment
    assert re.search(r'aria-pressed="true"[^>]*title="Love"', fragment)
    bob.post(reverse("community:react", args=[post.pk]), {"kind": "like"})  # toggles off
    page = bob.get(reverse("community:post", args=[post.pk])).content.decode()
    assert re.search(r'aria-pressed="false"[^>]*title="Like"', page)
    assert (
        Client().post(reverse("community:react", args=[post.pk]), {"kind": "like"}).status_code
        == 403
    )


def test_external_share_link_counts_and_never_grants_access(people, space):
    closed = services.space_create(
        actor=people["manager"], name="Inner", slug="inner", visibility="closed"
    )
    secret_post = services.post_create(author=people["manager"], space=closed, title="Inner plan")
    _share, token = services.share_external(user=people["manager"], post=secret_post)
    opened = Client().get(reverse("community:share_link", args=[token]))
    assert opened.status_code == 403
    assert "Inner plan" not in opened.content.decode()
    public_post = services.post_create(author=people["ann"], space=space, title="Share me")
    bob = login(people["bob"])
    bob.post(reverse("community:share", args=[public_post.pk]), {"kind": "external"})
    page = bob.get(reverse("community:post", args=[public_post.pk])).content.decode()
    url = re.search(r'value="http://testserver(/community/go/[^"]+)"', page).group(1)
    opened = Client().get(url)
    assert opened.status_code == 302
    assert opened["Location"] == reverse("community:post", args=[public_post.pk])
    public_post.refresh_from_db()
    assert public_post.shares_count == 1


def test_follow_people_spaces_and_tags(people, space):
    services.post_create(author=people["ann"], space=space, title="Tagged", tags=["coffee"])
    bob = login(people["bob"])
    bob.post(reverse("community:user_follow", args=[people["ann"].pk]), {"follow": "1"})
    bob.post(reverse("community:space_follow", args=[space.slug]), {"follow": "1"})
    bob.post(reverse("community:tag_follow", args=["coffee"]), {"follow": "1"})
    profile = bob.get(reverse("community:profile", args=[people["ann"].pk])).content.decode()
    assert re.search(r'aria-pressed="true" id="user-follow"', profile)
    assert (
        'aria-pressed="true" id="space-follow"'
        in bob.get(reverse("community:space", args=[space.slug])).content.decode()
    )
    assert (
        'aria-pressed="true" id="tag-follow"'
        in bob.get(reverse("community:tag", args=["coffee"])).content.decode()
    )


def test_profile_links_the_crm_customer_for_staff_only(people, space):
    from apiary.customers.services.members import member_customer_ensure

    customer = member_customer_ensure(user=people["ann"])
    url = reverse("community:profile", args=[people["ann"].pk])
    staff = login(people["manager"]).get(url).content.decode()
    member = login(people["bob"]).get(url).content.decode()
    assert reverse("customers:detail", args=[customer.pk]) in staff
    assert 'id="crm-customer"' not in member


def test_mention_link_resolves_to_the_profile(people):
    profile = services.profile_ensure(user=people["ann"])
    response = Client().get(reverse("community:profile_handle", args=[profile.handle]))
    assert response.status_code == 302
    assert response["Location"] == reverse("community:profile", args=[people["ann"].pk])
    assert (
        Client().get(reverse("community:profile_handle", args=["nobody_here"])).status_code == 404
    )


def test_rate_limit_shows_a_clear_page(people, space, settings):
    settings.APIARY_COMMUNITY_RATE_LIMITS = {"post": (1, 600), "upload": (40, 3600)}
    ann = login(people["ann"])
    data = {"type": "discussion", "title": "One", "audience": "everyone", "action": "publish"}
    assert ann.post(reverse("community:post_new", args=[space.slug]), data).status_code == 302
    second = ann.post(reverse("community:post_new", args=[space.slug]), data | {"title": "Two"})
    assert second.status_code == 429
    assert "too often" in second.content.decode()
