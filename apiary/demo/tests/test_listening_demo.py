"""The listening demo step: queries, sources, a month of enriched multilingual history with
spikes, some of it by demo customers; idempotent."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from django.db.models import Count, Q
from django.db.models.functions import TruncDay

from apiary.demo.generator import DemoContext
from apiary.demo.steps import listening as listening_step
from apiary.listening.models import ListeningQuery, Mention, MentionMatch, MentionRollup, Source

pytestmark = pytest.mark.django_db


def test_listening_demo_history_tells_its_story_and_is_idempotent(demo):
    # given: the session's demo, whose listening step ran after accounts and customers
    first = demo.summary("listening")
    # when
    again = listening_step.run(DemoContext(seed=demo.seed, rng=random.Random(demo.seed)))
    # then
    assert "24000 mentions" in first and "already loaded" in again
    assert Mention.objects.count() == listening_step.HISTORY_MENTIONS
    languages = Counter(Mention.objects.values_list("language", flat=True))
    assert min(languages["en"], languages["ru"], languages["es"]) > 3000
    assert Mention.objects.exclude(customer=None).count() > 300
    brand = ListeningQuery.objects.get(kind="brand")
    assert MentionMatch.objects.filter(query=brand).count() > 10_000
    for competitor in ListeningQuery.objects.filter(kind="competitor"):
        assert MentionMatch.objects.filter(query=competitor).count() > 500
    replay = Source.objects.get(kind="replay")
    assert replay.status == "active"
    assert Source.objects.filter(status="paused").count() == 2
    # the rollups hold the same total as the table
    assert sum(MentionRollup.objects.filter(query_id=0).values_list("count", flat=True)) == 24000
    # some day has a negative spike well above the month's typical negative share
    days = (
        Mention.objects.annotate(day=TruncDay("created_at"))
        .values("day")
        .annotate(
            n=Count("id"),
            neg=Count("id", filter=Q(sentiment="negative")),
        )
    )
    shares = sorted(d["neg"] / d["n"] for d in days if d["n"] > 100)
    assert shares[-1] > 1.5 * shares[len(shares) // 2]
    assert Mention.objects.exclude(country="").count() > 5000
