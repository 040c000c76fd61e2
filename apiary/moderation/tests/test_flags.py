"""Flags: weighted by trust, one per member, hide at the threshold (staff and moderators at once),
the author is told, and the item lands in the queue."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from apiary.community import access, selectors, services
from apiary.community.models import Notification, Post, PostState, Space
from apiary.moderation import trust
from apiary.moderation.models import ActionKind, HiddenBy, ModerationAction, ModerationItem


@pytest.fixture
def weights(monkeypatch):
    """Give chosen members a recognition weight (the recognition app's contract)."""
    table: dict[int, int] = {}
    real = trust.flag_weight

    def weighed(*, user, space):
        return table[user.pk] if user.pk in table else real(user=user, space=space)

    monkeypatch.setattr(trust, "flag_weight", weighed)
    return table


def _flag(user, post, reason="spam"):
    return services.flag_create(user=user, reason=reason, post=post)


def test_three_normal_flags_hide_a_post_and_queue_it(place, weights):
    post = place.posts[0]
    m = place.members
    for u in m[1:4]:
        weights[u.pk] = 1
    _flag(m[1], post)
    _flag(m[2], post, reason="abuse")
    post.refresh_from_db()
    item = ModerationItem.objects.get(post=post)
    assert post.state == PostState.PUBLISHED and item.flags_weight == 2 and item.hidden_at is None
    posts_before = Space.objects.get(pk=place.space.pk).posts_count
    _flag(m[3], post, reason="off_topic")
    post.refresh_from_db()
    item.refresh_from_db()
    assert post.state == PostState.HIDDEN
    assert item.hidden_by == HiddenBy.COMMUNITY and item.hidden_at is not None
    assert (item.flags_count, item.flags_weight, item.state) == (3, 3, "pending")
    assert Space.objects.get(pk=place.space.pk).posts_count == posts_before - 1
    hide = ModerationAction.objects.get(item=item, action=ActionKind.HIDE)
    assert hide.actor is None and hide.data["weight"] == 3 and hide.data["threshold"] == 3
    # the author hears about it and can still open their post; nobody else can
    note = Notification.objects.get(recipient=m[0], kind="mod_hidden")
    assert note.post_id == post.pk
    assert "hidden" in selectors.notification_render(note)["text"]
    assert access.post_decision(user=m[0], post=post).allowed
    assert access.post_decision(user=place.moderator, post=post).allowed
    for viewer in (m[4], place.outsider, AnonymousUser(), place.other_moderator):
        with pytest.raises(Http404):
            access.post_for_view(user=viewer, post_id=post.pk)


def test_trusted_flags_weigh_more(place, weights):
    post = place.posts[0]
    trusted, normal = place.members[1], place.members[2]
    weights[trusted.pk] = 2
    weights[normal.pk] = 1
    _flag(trusted, post)
    assert Post.objects.get(pk=post.pk).state == PostState.PUBLISHED
    _flag(normal, post)
    assert Post.objects.get(pk=post.pk).state == PostState.HIDDEN
    assert ModerationItem.objects.get(post=post).flags_weight == 3


def test_flag_stuffing_counts_one_flag_per_member(place, weights):
    post = place.posts[0]
    stuffer = place.members[1]
    weights[stuffer.pk] = 1
    first = _flag(stuffer, post)
    for reason in ("abuse", "spam", "other"):
        again = _flag(stuffer, post, reason=reason)
        assert again.pk == first.pk
    item = ModerationItem.objects.get(post=post)
    assert (item.flags_count, item.flags_weight) == (1, 1)
    assert Post.objects.get(pk=post.pk).state == PostState.PUBLISHED


@pytest.mark.parametrize("who", ["moderator", "manager"])
def test_a_moderator_or_staff_flag_hides_at_once(place, who):
    post = place.posts[1]
    _flag(getattr(place, who), post, reason="abuse")
    post.refresh_from_db()
    item = ModerationItem.objects.get(post=post)
    assert post.state == PostState.HIDDEN and item.hidden_by == HiddenBy.STAFF


def test_a_moderator_of_another_space_flags_like_a_member(place, weights):
    post = place.posts[0]
    _flag(place.other_moderator, post)
    assert Post.objects.get(pk=post.pk).state == PostState.PUBLISHED


def test_flagged_comment_is_hidden_and_uncounted(place, moderation_settings):
    moderation_settings(flag_threshold=1)
    post = place.posts[0]
    comment = services.comment_create(author=place.members[2], post=post, body="Rude words")
    assert Post.objects.get(pk=post.pk).comments_count == 1
    services.flag_create(user=place.members[3], reason="abuse", comment=comment)
    comment.refresh_from_db()
    assert comment.state == "hidden"
    assert Post.objects.get(pk=post.pk).comments_count == 0
    item = ModerationItem.objects.get(comment=comment)
    assert item.post_id is None and item.author_id == place.members[2].pk
    visible = selectors.comment_list(user=place.members[4], post=post)
    assert comment.pk not in [c.pk for c in visible]
    assert comment.pk in [c.pk for c in selectors.comment_list(user=place.moderator, post=post)]
    # hidden content takes no more flags, reactions or replies
    with pytest.raises(Exception):  # noqa: B017 - NotAvailable or ValidationError
        services.reaction_add(user=place.members[4], kind="like", comment=comment)


def test_space_threshold_overrides_the_community_setting(place, weights):
    from apiary.moderation import services as moderation

    moderation.settings_update(actor=place.manager, flag_threshold=5)
    moderation.settings_update(actor=place.owner, space=place.space, flag_threshold=2)
    for u in place.members[1:3]:
        weights[u.pk] = 1
        _flag(u, place.posts[0])
    assert Post.objects.get(pk=place.posts[0].pk).state == PostState.HIDDEN


def test_after_a_decision_new_flags_open_a_new_item(place, weights):
    from apiary.moderation import services as moderation

    post = place.posts[0]
    _flag(place.members[1], post)
    first = ModerationItem.objects.get(post=post)
    moderation.item_dismiss(actor=place.moderator, item=first)
    _flag(place.members[2], post)
    items = ModerationItem.objects.filter(post=post).order_by("pk")
    assert [i.state for i in items] == ["approved", "pending"]
    assert items[1].flags_count == 1  # the dismissed flag does not count again


def test_topic_page_links_each_reply_to_the_flag_form_and_htmx_loads_it_in_place(place, client):
    post = place.posts[0]
    reply = services.comment_create(author=place.members[1], post=post, body="Try the conical one")
    client.force_login(place.members[2])
    page = client.get(f"/community/p/{post.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    link = f'href="/community/moderation/flag/?comment={reply.pk}"'
    assert link in html and f'hx-get="/community/moderation/flag/?comment={reply.pk}"' in html
    # without JavaScript the link opens the flag page; with htmx only the form comes back
    full = client.get(f"/community/moderation/flag/?comment={reply.pk}")
    assert full.status_code == 200 and b"<html" in full.content
    fragment = client.get(f"/community/moderation/flag/?comment={reply.pk}", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert b'name="reason"' in fragment.content and b"csrfmiddlewaretoken" in fragment.content
    assert "HX-Request" in fragment["Vary"]
    # the form posts the flag as before
    token = fragment.content.split(b'name="csrfmiddlewaretoken" value="')[1].split(b'"')[0]
    done = client.post(
        "/community/moderation/flag/",
        {"comment": reply.pk, "reason": "spam", "csrfmiddlewaretoken": token.decode()},
    )
    assert done.status_code == 302
    assert ModerationItem.objects.filter(comment=reply).exists()
    # the reply's author sees no flag link on their own reply
    client.force_login(place.members[1])
    assert link not in client.get(f"/community/p/{post.pk}/").content.decode()
