"""The demo's moderation step: something in every part of the queue, idempotent.

Slow (~10 s) for a reason: it runs on the real community demo (520 posts), as `apiary demo` does."""

from __future__ import annotations

import random

import pytest

from apiary.community.models import Post, PostState
from apiary.demo.generator import DemoContext
from apiary.demo.steps import accounts as accounts_step
from apiary.demo.steps import community as community_step
from apiary.moderation import demo, selectors
from apiary.moderation.models import HiddenBy, ItemReason, ItemState, ModerationItem

pytestmark = pytest.mark.django_db


def test_demo_fills_the_queue_once(moderation_settings):
    moderation_settings(first_post_hold=True)  # the production default
    ctx = DemoContext(seed=2026, rng=random.Random(2026))
    accounts_step.run(ctx)
    community_step.run(ctx)
    try:  # trust levels first, when recognition is installed (as in the demo's STEPS)
        from apiary.demo.steps import recognition as recognition_step
    except ImportError:
        recognition_step = None
    if recognition_step is not None:
        recognition_step.run(ctx)
    summary = demo.run(ctx)
    pending = ModerationItem.objects.filter(state=ItemState.PENDING)
    assert pending.filter(hidden_by=HiddenBy.COMMUNITY).count() == 3
    assert pending.filter(hidden_by=HiddenBy.STAFF, comment__isnull=False).count() == 1
    assert pending.filter(reason=ItemReason.SPAM).count() == 1
    assert pending.filter(reason=ItemReason.FIRST_POST).count() == 1
    assert Post.objects.filter(state=PostState.HIDDEN).count() == 3
    assert "1 suspended member" in summary
    from apiary.accounts.models import User

    spammer = User.objects.get(email=demo.SPAMMER_EMAIL)
    assert selectors.is_suspended(spammer, Post.objects.get(title=demo.SPAM_TITLE).space)
    manager = User.objects.get(email=demo.MANAGER_EMAIL)
    stats = selectors.stats(user=manager)
    assert stats.items_resolved == 4 and stats.handled_by_community == 2
    assert stats.median_seconds_to_hide and stats.median_seconds_to_resolve
    before = ModerationItem.objects.count()
    assert demo.run(ctx) == "already present"
    assert ModerationItem.objects.count() == before
