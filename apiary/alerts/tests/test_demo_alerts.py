"""The demo's promise, replayed on a fake clock: the live replay source (the demo's own
configuration) raises a crisis alert within its first negative spike, competitor stories and
purchase-intent posts raise their alerts, and the crisis resolves itself after the spike."""

from datetime import timedelta

import pytest
from django.db import transaction

from apiary.alerts.detectors.rate import RateDetector, minute_of
from apiary.alerts.models import Alert
from apiary.demo.steps import alerts as alerts_step
from apiary.demo.steps.listening import QUERIES
from apiary.listening.connectors.replay import generate_mentions
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.services.queries import query_create

from .conftest import FakeClock

pytestmark = pytest.mark.django_db


def test_the_live_replay_raises_a_crisis_and_leads(t0):
    # given: the demo's queries and alert rules, nothing in history
    for name, kind, text in QUERIES:
        query_create(name=name, kind=kind, text=text)
    alerts_step.run(None)
    clock = FakeClock(t0)
    detector = RateDetector(clock=clock.now, mono=clock.mono)
    detector.tick()
    stream = generate_mentions(
        2026, 0, None, rate_per_minute=20, spike_every_minutes=20, spike_minutes=3,
        spike_multiplier=8, t0=t0,
    )  # fmt: skip
    state = PipelineState()
    upcoming = next(stream)
    first_crisis = None
    # when: 16 minutes of the replay, delivered in 5-second batches, the loop ticking between
    for _step in range(16 * 12):
        batch = []
        while upcoming.created_at <= clock.now():
            upcoming.received_at = upcoming.created_at
            batch.append(upcoming)
            upcoming = next(stream)
        if batch:
            with transaction.atomic():
                process_mentions(batch, state=state)
        detector.tick()
        if first_crisis is None and Alert.objects.filter(kind="crisis_spike").exists():
            first_crisis = clock.now()
        clock.advance(5)
    # then: the crisis fired during the first spike (minutes 5-8 of the replay) …
    assert first_crisis is not None
    assert 5 <= minute_of(first_crisis) - minute_of(t0) <= 6
    crisis = Alert.objects.filter(kind="crisis_spike", country="").get()
    assert crisis.escalation_history[0]["observed"] >= 15
    assert crisis.explanation["peak"] > 100
    assert crisis.escalation_level >= 2, "it escalated while the spike grew"
    # … and resolved itself after it
    assert crisis.status == "resolved" and crisis.auto_resolved
    # purchase-intent posts raised leads
    assert Alert.objects.filter(kind="lead").exists()
    # and a lead is raised at storage: its first-seen time is its mention's
    lead = Alert.objects.filter(kind="lead").first()
    assert lead.first_seen_at == lead.mention.created_at
    assert (
        Alert.objects.filter(
            kind="crisis_spike", first_seen_at__lt=t0 + timedelta(minutes=5)
        ).count()
        == 0
    )
