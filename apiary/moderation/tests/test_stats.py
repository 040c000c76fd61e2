"""Statistics: flags per 1,000 posts, community vs staff share, median time to hide and to
resolve — per space and period, scoped to what the viewer moderates."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apiary.community import services
from apiary.moderation import selectors
from apiary.moderation import services as moderation
from apiary.moderation.models import ModerationItem


def _at(item, start, hide=None, resolve=None):
    ModerationItem.objects.filter(pk=item.pk).update(
        opened_at=start,
        hidden_at=start + timedelta(seconds=hide) if hide is not None else None,
        resolved_at=start + timedelta(seconds=resolve) if resolve is not None else None,
    )


def test_figures(place, moderation_settings, make_user, api):
    moderation_settings(flag_threshold=2, first_post_hold=True)
    m = place.members
    a, b = place.posts
    services.flag_create(user=m[2], reason="spam", post=a)
    services.flag_create(user=m[3], reason="spam", post=a)  # members hide it
    services.flag_create(user=place.moderator, reason="abuse", post=b)  # a moderator hides it
    held = services.post_create(author=make_user(), space=place.space, title="New here")
    services.comment_create(author=m[4], post=a, body="A reply")
    tea = services.post_create(author=place.owner, space=place.other, title="Tea")
    services.flag_create(user=m[4], reason="other", post=tea)
    item_a = ModerationItem.objects.get(post=a)
    item_b = ModerationItem.objects.get(post=b)
    item_c = ModerationItem.objects.get(post=held)
    moderation.item_remove(actor=place.moderator, item=item_a)
    moderation.item_remove(actor=place.moderator, item=item_b)
    moderation.item_approve(actor=place.moderator, item=item_c)
    start = timezone.now() - timedelta(days=1)
    _at(item_a, start, hide=60, resolve=600)
    _at(item_b, start, hide=10, resolve=100)
    _at(item_c, start, resolve=3600)
    old = timezone.now() - timedelta(days=60)  # outside the period: not counted
    ModerationItem.objects.create(
        space=place.space, post=a, reason="flags", state="removed", opened_at=old,
        hidden_at=old, hidden_by="community", resolved_at=old, handled_by_community=True,
    )  # fmt: skip

    s = selectors.stats(user=place.moderator, space=place.space)
    # 3 posts (two of the fixture, the held one) and 1 reply; 3 flags
    assert (s.posts, s.comments, s.flags) == (3, 1, 3)
    assert s.flags_per_1000_posts == 750.0
    assert (s.items_resolved, s.handled_by_community, s.handled_by_staff) == (3, 1, 2)
    assert s.community_share == 0.333
    assert s.hidden_by_flags == 2
    assert s.median_seconds_to_hide == 35.0  # (10 + 60) / 2
    assert s.median_seconds_to_resolve == 600.0  # of 100, 600, 3600
    assert s.pending == 0
    assert [row["space"] for row in s.spaces] == ["coffee"]

    # a moderator's figures cover their spaces only; staff see all; a foreign space is empty
    mine = selectors.stats(user=place.moderator)
    assert (mine.flags, mine.pending) == (3, 0)
    tea_only = selectors.stats(user=place.other_moderator)
    assert (tea_only.posts, tea_only.flags, tea_only.pending) == (1, 1, 1)
    assert selectors.stats(user=place.other_moderator, space=place.space).flags == 0
    everything = selectors.stats(user=place.manager)
    assert (everything.flags, everything.pending) == (4, 1)
    assert {row["space"] for row in everything.spaces} == {"coffee", "tea"}

    body = api(place.moderator).get("/api/v1/community/moderation/stats?space=coffee").json()
    assert body["flags_per_1000_posts"] == 750.0 and body["median_seconds_to_hide"] == 35.0
    since = (timezone.now() - timedelta(days=90)).isoformat()
    wide = (
        api(place.moderator)
        .get("/api/v1/community/moderation/stats", data={"space": "coffee", "since": since})
        .json()
    )
    assert wide["items_resolved"] == 4 and wide["handled_by_community"] == 2
    bad = api(place.moderator).get(
        "/api/v1/community/moderation/stats",
        data={"since": timezone.now().isoformat(), "until": since},
    )
    assert bad.status_code == 422

    c = Client()
    c.force_login(place.moderator)
    html = c.get(reverse("moderation:queue"), {"space": "coffee", "days": "30"}).content.decode()
    assert 'id="stat-flag-rate">750.0<' in html
    assert "33 %" in html and "35 s" in html and "10 min" in html


def test_no_data_gives_empty_figures_not_errors(place):
    s = selectors.stats(user=place.moderator, space=place.space)
    assert s.flags == 0 and s.community_share is None and s.median_seconds_to_hide is None
