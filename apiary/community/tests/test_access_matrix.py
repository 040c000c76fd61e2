"""The permission matrix: every role × every visibility × every read path → allow / 403 / 404.

Read paths through the chokepoint functions here; the same matrix over HTTP (API list and
detail, guessed ids) is in test_api_matrix.py."""

from __future__ import annotations

import pytest
from django.http import Http404

from apiary.community import access, selectors
from apiary.community.models import Notification
from apiary.community.tests.conftest import ROLES, VISIBILITIES, expected


def outcome(fn) -> int:
    try:
        fn()
    except Http404:
        return 404
    except access.NotAvailable:
        return 403
    return 200


@pytest.mark.parametrize("role", ROLES)
def test_read_paths(world, role):
    for vis in VISIBILITIES:
        _check_read_paths(world, role, vis)


def _check_read_paths(world, role, vis):
    # given
    user = world.user(role)
    want = expected(role, vis)
    post, comment = world.posts[vis], world.comments[vis]
    attachment, poll = world.attachments[vis], world.polls[vis]
    space = world.spaces[vis]

    # then: single-object chokepoints
    assert outcome(lambda: access.post_for_view(user=user, post_id=post.pk)) == want
    assert outcome(lambda: access.comment_for_view(user=user, comment_id=comment.pk)) == want
    assert (
        outcome(lambda: access.attachment_for_download(user=user, attachment_id=attachment.pk))
        == want
    )
    assert outcome(lambda: access.post_for_view(user=user, post_id=poll.pk)) == want
    # the space page: a public space carrying a members-only post is itself open to all
    space_want = 200 if vis == "members_only_post" else want
    assert outcome(lambda: access.space_for_view(user=user, slug=space.slug)) == space_want

    # then: lists and derived reads only contain what may be read
    allowed = want == 200
    listed = set(selectors.post_list(user=user).values_list("pk", flat=True))
    assert (post.pk in listed) is allowed
    _tag, tagged = selectors.tag_posts(user=user, slug=world.tag)
    assert (post.pk in set(tagged.values_list("pk", flat=True))) is allowed
    feed = set(
        selectors.profile_feed(viewer=user, user=world.user("owner")).values_list("pk", flat=True)
    )
    assert (post.pk in feed) is allowed
    comments = set(
        selectors.profile_comments(viewer=user, user=world.user("member")).values_list(
            "pk", flat=True
        )
    )
    assert (comment.pk in comments) is allowed
    assert (post.pk in {p.pk for p in selectors.roadmap(user=user).get("planned", [])}) is False
    cloud = {t.slug: n for t, n in selectors.tag_cloud(user=user)}
    visible_tagged = sum(
        1 for v in VISIBILITIES if expected(role, v) == 200
    )  # one tagged post per visibility
    assert cloud.get(world.tag, 0) == visible_tagged
    assert access.poll_results_visible(user=user, post=poll) is allowed

    # then: the directory shows a closed space (no counts) but never a secret one
    cards = {c.space.pk: c for c in selectors.space_list(user=user)}
    if vis == "secret":
        assert (space.pk in cards) is allowed
    else:
        assert space.pk in cards
        assert (cards[space.pk].posts_count is not None) is (space_want == 200)

    # then: export carries only readable posts
    if space_want == 200:
        exported = selectors.space_export(user=user, space=space)
        assert (post.pk in {p["id"] for p in exported["posts"]}) is allowed
    else:
        assert outcome(lambda: selectors.space_export(user=user, space=space)) == space_want


@pytest.mark.parametrize("role", ROLES)
def test_not_available_says_how_to_get_in(world, role):
    # given
    user = world.user(role)
    # when
    _space, decision = access.space_decision_for(user=user, slug=world.spaces["closed"].slug)
    # then
    if expected(role, "closed") == 403:
        assert decision.status == 403
        assert decision.space == world.spaces["closed"]
        if role == "anonymous":
            assert decision.ways == (access.Way.LOGIN, access.Way.REGISTER)
        else:
            assert decision.ways == (access.Way.CONTACT_ADMIN,)  # invitation-only space
    else:
        assert decision.allowed


@pytest.mark.parametrize("role", ROLES)
def test_secret_is_indistinguishable_from_missing(world, role):
    user = world.user(role)
    if expected(role, "secret") != 404:
        return
    secret = world.posts["secret"]
    missing = max(p.pk for p in world.posts.values()) + 1000
    s_space, s_decision = access.post_decision_for(user=user, post_id=secret.pk)
    m_space, m_decision = access.post_decision_for(user=user, post_id=missing)
    assert s_space is None and m_space is None
    assert s_decision == m_decision == access.NOT_FOUND


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_guessed_ids_leak_nothing(world, role):
    """Walk every post id from 1 to beyond the last: each answer matches the rule for the
    space it lives in, and ids past the end answer exactly like secret ones."""
    from apiary.community.models import Post

    user = world.user(role)
    by_space = {s.pk: k for k, s in world.spaces.items()}
    top = Post.objects.order_by("-pk").values_list("pk", flat=True).first()
    for post_id in range(1, top + 5):
        got = outcome(lambda pid=post_id: access.post_for_view(user=user, post_id=pid))
        row = Post.objects.filter(pk=post_id).first()
        if row is None:
            assert got == 404
        else:
            assert got == expected(role, by_space[row.space_id])


@pytest.mark.parametrize("vis", VISIBILITIES)
def test_notifications_only_reach_those_who_can_see(world, vis):
    """A post mentioning everybody: only readers get (and keep seeing) the notification."""
    from apiary.community import services

    # given
    owner = world.user("owner")
    handles = " ".join(
        f"@{world.user(r).community_profile.handle}"
        for r in ROLES
        if r not in ("anonymous", "owner")
    )
    # when
    post = services.post_create(
        author=owner,
        space=world.spaces[vis],
        title="Heads up",
        body=f"Hello {handles}",
        audience=world.posts[vis].audience,
    )
    # then
    for role in ROLES:
        if role in ("anonymous", "owner"):
            continue
        user = world.user(role)
        stored = Notification.objects.filter(recipient=user, post=post).exists()
        assert stored is (expected(role, vis) == 200), role
        listed = selectors.notification_list(user=user).filter(post=post).exists()
        assert listed is stored


def test_notification_hidden_after_losing_access(world):
    from apiary.community import services

    # given: the member was notified about a closed-space post
    member, owner = world.user("member"), world.user("owner")
    space = world.spaces["closed"]
    post = services.post_create(
        author=owner,
        space=space,
        title="Partner pricing",
        body=f"@{member.community_profile.handle}",
    )
    note = Notification.objects.get(recipient=member, post=post)
    assert access.notification_visible(user=member, notification=note)
    # when: the member is removed from the space
    services.membership_remove(actor=owner, space=space, user=member)
    access.memberships_forget(member)
    # then: neither the list, the count nor the e-mail digest show it
    assert not access.notification_visible(user=member, notification=note)
    assert not selectors.notification_list(user=member).filter(pk=note.pk).exists()
    assert note.pk not in {n.pk for n in selectors.notifications_for_email(user=member)}


def test_fanout_filter_agrees_with_decisions(world):
    """recipients_who_can_see (one SQL query) must agree with post_decision (per user)."""
    users = [world.user(r) for r in ROLES if r != "anonymous"]
    for post in [*world.posts.values(), *world.polls.values()]:
        fast = set(access.recipients_who_can_see(user_ids=[u.pk for u in users], post=post))
        slow = {u.pk for u in users if access.post_decision(user=u, post=post).allowed}
        assert fast == slow, post.title


@pytest.mark.django_db
def test_open_posts_are_what_a_member_of_no_space_reads(world, make_user):
    """``access.open_posts`` (viewer-free; recognition's count badges add up only this) is
    exactly what ``posts_visible`` gives a signed-in account with no membership, and nothing
    any visibility in the world would hide from one."""
    from apiary.community.models import Post, PostState

    nobody = make_user(display_name="New Account")
    published = Post.objects.filter(state=PostState.PUBLISHED)
    assert set(access.open_posts()) == set(access.posts_visible(nobody, published))
    opened = set(access.open_posts().values_list("space__slug", flat=True))
    assert opened == {"space-public", "space-registered"}
    assert world.posts["members_only_post"] not in set(access.open_posts())
