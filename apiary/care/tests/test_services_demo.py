"""The care demo step: agents, default policies and rules, conversations in every SLA state so
the report has numbers; idempotent."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from apiary.care import selectors, sla
from apiary.care.models import AgentProfile, Conversation, InboxRule, SlaPolicy, Status
from apiary.demo.generator import STEPS, DemoContext
from apiary.demo.steps import care as care_step

pytestmark = pytest.mark.django_db


def test_care_demo_fills_the_inbox_and_the_report(demo):
    # given: the session's demo, whose care step ran after the earlier steps
    first = demo.summary("care")
    # when
    again = care_step.run(DemoContext(seed=demo.seed, rng=random.Random(demo.seed)))
    # then
    assert [name for name, _s in STEPS].index("care") > [n for n, _s in STEPS].index("listening")
    assert "already loaded" in again
    assert AgentProfile.objects.count() == 3
    assert set(AgentProfile.objects.get(user__email="care2@apiary.local").languages) == {"ru", "en"}
    assert {p.priority: p.first_response_minutes for p in SlaPolicy.objects.all()} == {
        "urgent": 15, "high": 30, "normal": 30, "low": 120, "": 30,
    }  # fmt: skip
    assert not any(p.business_hours for p in SlaPolicy.objects.all())
    assert InboxRule.objects.count() >= 5
    total = Conversation.objects.count()
    assert 20 <= total <= 60, first
    now = timezone.now()
    states = {sla.sla_state(c, now)["state"] for c in Conversation.objects.all()}
    assert {"met", "breached"} <= states
    assert states & {"running", "warning"}
    assert Conversation.objects.filter(status=Status.PENDING).exists()
    assert Conversation.objects.filter(status=Status.RESOLVED).exists()
    report = selectors.sla_report(since=now - timezone.timedelta(days=6), until=now,
                                  group_by="agent")  # fmt: skip
    assert report["overall"]["total"] == total
    assert 0 < report["overall"]["sla_met_pct"] < 100
    assert report["overall"]["median_first_response_seconds"] > 0
    assert len([g for g in report["groups"] if g["key"]]) >= 2
    languages = set(Conversation.objects.values_list("language", flat=True))
    assert len(languages & {"en", "es", "ru"}) >= 2
