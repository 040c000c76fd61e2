"""A suspended member reads as before but cannot write: posts, replies, reactions, votes, flags,
shares and edits all stop at community.access (one chokepoint)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apiary.community import access, services
from apiary.community.access import NotAvailable
from apiary.moderation import selectors
from apiary.moderation import services as moderation
from apiary.moderation.models import ActionKind, MemberSanction, ModerationAction


def _writes(member, place):
    """Every kind of write, each returning True when allowed."""
    post = place.posts[0]
    own = place.posts[1] if place.posts[1].author_id == member.pk else None
    attempts = {
        "post": lambda: services.post_create(author=member, space=place.space, title="t"),
        "comment": lambda: services.comment_create(author=member, post=post, body="hello"),
        "react": lambda: services.reaction_add(user=member, kind="like", post=post),
        "flag": lambda: services.flag_create(user=member, reason="spam", post=post),
        "share": lambda: services.share_external(user=member, post=post),
    }
    if own is not None:
        attempts["edit"] = lambda: services.post_update(actor=member, post=own, title="Edited")
    result = {}
    for name, attempt in attempts.items():
        try:
            attempt()
            result[name] = True
        except NotAvailable as exc:
            # edits ask can_edit_post (a yes/no), the rest carry the suspension's reason
            assert exc.decision.reason == ("forbidden" if name == "edit" else "suspended")
            result[name] = False
    return result


def test_suspension_blocks_every_write_in_the_space_only(place):
    member = place.members[1]  # author of posts[1]
    sanction = moderation.member_suspend(
        actor=place.moderator, user=member, space=place.space, days=3, note="Spam links"
    )
    assert sanction.is_active and sanction.until > timezone.now() + timedelta(days=2)
    assert set(_writes(member, place).values()) == {False}
    # reading still works, and other spaces are not affected
    assert access.post_decision(user=member, post=place.posts[0]).allowed
    assert services.post_create(author=member, space=place.other, title="Tea?").pk
    audit = ModerationAction.objects.get(action=ActionKind.SUSPEND)
    assert (audit.actor, audit.target_user, audit.note) == (place.moderator, member, "Spam links")


def test_lifting_or_expiry_ends_the_suspension(place):
    member = place.members[1]
    sanction = moderation.member_suspend(actor=place.moderator, user=member, space=place.space)
    moderation.member_unsuspend(actor=place.moderator, sanction=sanction, note="Sorted out")
    assert set(_writes(member, place).values()) == {True}
    expired = moderation.member_suspend(actor=place.moderator, user=member, space=place.space)
    MemberSanction.objects.filter(pk=expired.pk).update(until=timezone.now() - timedelta(minutes=1))
    selectors.suspensions_forget(member)
    assert not selectors.is_suspended(member, place.space)
    assert ModerationAction.objects.filter(action=ActionKind.UNSUSPEND).count() == 1


def test_community_wide_suspension_is_for_staff(place):
    member = place.members[2]
    with pytest.raises(NotAvailable):
        moderation.member_suspend(actor=place.moderator, user=member, space=None)
    moderation.member_suspend(actor=place.manager, user=member, space=None, days=None)
    assert selectors.is_suspended(member, place.space) and selectors.is_suspended(
        member, place.other
    )
    message = selectors.suspension_message(member, place.other)
    assert "suspended" in message and "until" not in message  # until lifted


def test_who_can_be_suspended(place):
    with pytest.raises(ValidationError):
        moderation.member_suspend(actor=place.owner, user=place.moderator, space=place.space)
    with pytest.raises(ValidationError):
        moderation.member_suspend(actor=place.moderator, user=place.manager, space=place.space)
    with pytest.raises(ValidationError):
        moderation.member_suspend(actor=place.moderator, user=place.moderator, space=place.space)
    with pytest.raises(NotAvailable):  # a moderator of another space
        moderation.member_suspend(
            actor=place.other_moderator, user=place.members[0], space=place.space
        )
    with pytest.raises(ValidationError):
        moderation.member_suspend(
            actor=place.moderator, user=place.members[0], space=place.space, days=0
        )


def test_the_suspension_check_is_one_query_per_request(place, django_assert_max_num_queries):
    member = place.members[1]
    moderation.member_suspend(actor=place.moderator, user=member, space=place.space)
    fresh = type(member).objects.get(pk=member.pk)
    access.can_interact(user=fresh, post=place.posts[0])  # warms memberships + suspensions
    with django_assert_max_num_queries(0):
        for post in place.posts * 5:
            assert not access.can_interact(user=fresh, post=post).allowed


def test_api_answers_403_suspended(place, api):
    member = place.members[3]
    moderation.member_suspend(actor=place.moderator, user=member, space=place.space, days=7)
    response = api(member).post(
        f"/api/v1/community/posts/{place.posts[0].pk}/comments", {"body": "let me in"}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "suspended" and "until" in body["detail"]


def test_warning_is_recorded_and_told(place):
    from apiary.community.models import Notification

    member = place.members[0]
    with pytest.raises(ValidationError):
        moderation.member_warn(actor=place.moderator, user=member, space=place.space, note="")
    warning = moderation.member_warn(
        actor=place.moderator, user=member, space=place.space, note="Keep it civil"
    )
    assert warning.kind == "warn" and not warning.is_active  # a warning blocks nothing
    assert Notification.objects.filter(recipient=member, kind="mod_warned").exists()
    assert set(_writes(member, place).values()) == {True}
