"""The community demo step: alive (every space kind, every content type), deterministic and
idempotent, and quick enough for `apiary demo`."""

from __future__ import annotations

import random
import time

import pytest

from apiary.community import access
from apiary.community.models import (
    ContestEntry,
    Flag,
    IdeaVote,
    PollVote,
    Post,
    Space,
    SpaceMembership,
)
from apiary.demo.generator import DemoContext
from apiary.demo.steps import accounts as accounts_step
from apiary.demo.steps import community as community_step

pytestmark = pytest.mark.django_db


def _run(seed=2026):
    ctx = DemoContext(seed=seed, rng=random.Random(seed))
    accounts_step.run(ctx)
    return community_step.run(ctx), ctx


def test_demo_community_is_alive_and_idempotent():
    # when
    started = time.monotonic()
    summary, ctx = _run()
    assert "spaces" in summary
    elapsed = time.monotonic() - started
    # then: the four kinds of space, content of every type, votes, a poll, a contest, flags
    assert set(Space.objects.values_list("visibility", flat=True)) == {
        "public",
        "registered",
        "closed",
        "secret",
    }
    types = set(Post.objects.values_list("type", flat=True))
    assert types == {"discussion", "question", "idea", "blog", "document", "poll", "contest"}
    assert set(Post.objects.values_list("language", flat=True)) >= {"en", "ru", "es"}
    assert IdeaVote.objects.count() > 100
    assert set(Post.objects.filter(type="idea").values_list("idea_status", flat=True)) >= {
        "new",
        "planned",
        "shipped",
        "declined",
    }
    assert PollVote.objects.count() >= 50
    assert ContestEntry.objects.count() == 8
    assert Flag.objects.count() == 6
    assert Post.objects.filter(accepted_comment__isnull=False).exists()
    assert SpaceMembership.objects.filter(space__slug="northwind").count() >= 250
    assert ctx.data["community_invitation"].startswith("inv_")
    # counters agree with the rows
    post = Post.objects.filter(type="idea").order_by("-votes_count").first()
    assert post.votes_count == IdeaVote.objects.filter(post=post).count() > 0
    # the secret space stays secret for anonymous visitors
    from django.contrib.auth.models import AnonymousUser

    visible = access.posts_visible(AnonymousUser(), Post.objects.all())
    assert not visible.filter(space__visibility__in=["secret", "closed", "registered"]).exists()
    assert elapsed < 120, elapsed
    # when: run again
    again, _ctx = _run()
    # then: nothing added
    assert "already present" in again
    assert Space.objects.count() == 5
