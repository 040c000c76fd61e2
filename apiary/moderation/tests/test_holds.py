"""Screening new content: a new member's first post is held, spam is held, posting limits answer
429 (API) or a form error (page), and moderators are never held."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apiary.community import access, selectors, services
from apiary.community.models import Comment, CommentState, Notification, Post, PostState, Space
from apiary.community.services import RateLimited
from apiary.moderation import services as moderation
from apiary.moderation.models import ActionKind, ItemReason, ModerationAction, ModerationItem


def test_first_post_of_a_new_member_is_held_until_approved(place, moderation_settings, make_user):
    moderation_settings(first_post_hold=True)
    newcomer = make_user(display_name="Nina Newcomer")
    follower = place.members[4]
    services.follow_add(follower=follower, space=place.space)
    posts_before = Space.objects.get(pk=place.space.pk).posts_count
    post = services.post_create(author=newcomer, space=place.space, title="Hello all", body="Hi!")
    assert post.state == PostState.PENDING and post.published_at is None
    item = ModerationItem.objects.get(post=post)
    assert item.reason == ItemReason.FIRST_POST and item.hidden_by == "system"
    assert ModerationAction.objects.filter(item=item, action=ActionKind.HOLD).exists()
    assert Notification.objects.filter(recipient=newcomer, kind="mod_held").exists()
    # not in lists, not announced; the author and moderators can open it
    assert post not in selectors.post_list(user=follower, space=place.space)
    assert not Notification.objects.filter(recipient=follower, post=post).exists()
    assert access.post_decision(user=newcomer, post=post).allowed
    assert access.post_decision(user=place.moderator, post=post).allowed
    assert not access.post_decision(user=follower, post=post).allowed
    # a second post before approval waits too
    second = services.post_create(author=newcomer, space=place.space, title="Also", body="…")
    assert second.state == PostState.PENDING

    moderation.item_approve(actor=place.moderator, item=item, note="Welcome!")
    post.refresh_from_db()
    assert post.state == PostState.PUBLISHED and post.published_at is not None
    assert Space.objects.get(pk=place.space.pk).posts_count == posts_before + 1
    assert Notification.objects.filter(recipient=follower, post=post, kind="new_post").exists()
    assert Notification.objects.filter(recipient=newcomer, kind="mod_approved").exists()
    # with an approved post the member is no longer new
    third = services.post_create(author=newcomer, space=place.space, title="Third", body="…")
    assert third.state == PostState.PUBLISHED


def test_drafts_are_held_when_published(place, moderation_settings, make_user):
    moderation_settings(first_post_hold=True)
    newcomer = make_user()
    draft = services.post_create(
        author=newcomer, space=place.space, title="Draft", body="…", publish=False
    )
    assert draft.state == PostState.DRAFT and not ModerationItem.objects.exists()
    services.post_publish(actor=newcomer, post=draft)
    assert Post.objects.get(pk=draft.pk).state == PostState.PENDING
    assert ModerationItem.objects.get(post=draft).reason == ItemReason.FIRST_POST


def test_hold_can_be_switched_off_per_space(place, moderation_settings, make_user):
    moderation_settings(first_post_hold=True)
    moderation.settings_update(actor=place.owner, space=place.space, first_post_hold=False)
    newcomer = make_user()
    post = services.post_create(author=newcomer, space=place.space, title="Hi", body="…")
    assert post.state == PostState.PUBLISHED
    held = services.post_create(author=make_user(), space=place.other, title="Hi", body="…")
    assert held.state == PostState.PENDING  # the other space keeps the community default


@pytest.mark.parametrize("who", ["owner", "moderator", "manager"])
def test_moderators_and_staff_are_never_held_or_limited(place, moderation_settings, make_user, who):
    moderation_settings(first_post_hold=True, posts_per_minute=1)
    fresh = make_user(display_name="Fresh Moderator")
    if who == "manager":
        fresh = place.manager
    else:
        services.membership_role_set(actor=place.manager, space=place.space, user=fresh, role=who)
    for i in range(3):
        post = services.post_create(
            author=fresh, space=place.space, title=f"Notice {i}", body="https://a.example " * 6
        )
        assert post.state == PostState.PUBLISHED


def test_spam_post_is_held_with_its_signals(place):
    spammer = place.members[3]
    post = services.post_create(
        author=spammer,
        space=place.space,
        title="BUY NOW cheap grinders",
        body="Click here: https://spam.example/a https://spam.example/b — make money fast!",
    )
    assert post.state == PostState.PENDING
    item = ModerationItem.objects.get(post=post)
    assert item.reason == ItemReason.SPAM and "spam_phrase" in item.signals


def test_repeating_a_comment_within_minutes_is_held(place):
    post = place.posts[0]
    author = place.members[2]
    body = "Check my grinder review on my blog, it explains everything"
    first = services.comment_create(author=author, post=post, body=body)
    again = services.comment_create(author=author, post=place.posts[1], body=body.upper())
    assert first.state == CommentState.PUBLISHED
    assert again.state == CommentState.PENDING
    item = ModerationItem.objects.get(comment=again)
    assert item.reason == ItemReason.SPAM and "repeated_text" in item.signals
    assert Post.objects.get(pk=place.posts[1].pk).comments_count == 0
    # approving counts it and tells the thread's followers
    moderation.item_approve(actor=place.moderator, item=item)
    assert Comment.objects.get(pk=again.pk).state == CommentState.PUBLISHED
    assert Post.objects.get(pk=place.posts[1].pk).comments_count == 1


def test_spam_check_can_be_switched_off(place, moderation_settings):
    moderation_settings(spam_check=False)
    post = services.post_create(
        author=place.members[3], space=place.space, title="BUY NOW", body="make money fast"
    )
    assert post.state == PostState.PUBLISHED


def test_posts_per_minute_limit_is_a_429_with_a_clear_message(place, moderation_settings, api):
    moderation_settings(posts_per_minute=2)
    author = place.members[2]
    for i in range(2):
        services.post_create(author=author, space=place.space, title=f"Post {i}", body="…")
    with pytest.raises(RateLimited) as exc:
        services.post_create(author=author, space=place.space, title="One more", body="…")
    assert "2 posts a minute" in exc.value.detail
    other = place.members[3]
    client = api(other)
    ok = [
        client.post(
            "/api/v1/community/posts",
            {"space": "coffee", "type": "discussion", "title": f"API {i}", "body": "x"},
        ).status_code
        for i in range(3)
    ]
    assert ok[:2] == [201, 201] and ok[2] == 429
    body = client.post(
        "/api/v1/community/posts",
        {"space": "coffee", "type": "discussion", "title": "Again", "body": "x"},
    ).json()
    assert body["code"] == "rate_limited" and "a minute" in body["detail"]


def test_replies_per_minute_limit_shows_on_the_page(place, moderation_settings, client):
    moderation_settings(comments_per_minute=1)
    author = place.members[2]
    client.force_login(author)
    url = reverse("community:comment", args=[place.posts[0].pk])
    assert client.post(url, {"body": "First reply"}).status_code == 302
    page = client.post(url, {"body": "Second reply"})
    assert page.status_code == 429
    assert "1 replies a minute" in page.content.decode()
    assert Comment.objects.filter(author=author).count() == 1


def test_over_the_hourly_limit_posts_are_held_then_refused(place, moderation_settings):
    moderation_settings(posts_per_hour=2)
    author = place.members[2]
    states = []
    for i in range(4):
        states.append(
            services.post_create(author=author, space=place.space, title=f"P{i}", body="…").state
        )
    assert states == ["published", "published", "pending", "pending"]
    assert ModerationItem.objects.filter(reason=ItemReason.RATE).count() == 2
    with pytest.raises(RateLimited):
        services.post_create(author=author, space=place.space, title="P5", body="…")
