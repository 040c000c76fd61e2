"""Care managers' pages: SLA policies, inbox rules (with their validation messages), canned
responses, agents, and the SLA report with its CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from apiary.care import services
from apiary.care.models import CannedResponse, InboxRule, SlaPolicy

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_a_manager_adds_a_policy_with_business_hours(manager):
    c = client_for(manager)
    response = c.post(
        reverse("care:settings_sla"),
        {
            "name": "Urgent weekdays",
            "priority": "urgent",
            "first_response_minutes": "15",
            "day_1": "09:00-13:00, 14:00-18:00",
            "time_zone": "Europe/Madrid",
            "active": "1",
        },
    )
    assert response.status_code == 302
    policy = SlaPolicy.objects.get(name="Urgent weekdays")
    assert policy.business_hours == {"1": [["09:00", "13:00"], ["14:00", "18:00"]]}
    assert "Urgent weekdays" in c.get(reverse("care:settings_sla")).content.decode()


def test_bad_business_hours_are_shown_next_to_the_field(manager):
    response = client_for(manager).post(
        reverse("care:settings_sla"),
        {"name": "Odd", "first_response_minutes": "30", "day_2": "18:00-09:00", "active": "1"},
    )
    assert response.status_code == 422
    assert "ends before it starts" in response.content.decode()
    assert not SlaPolicy.objects.filter(name="Odd").exists()


def test_a_rule_with_contradictory_conditions_is_refused_with_the_reason(manager):
    c = client_for(manager)
    response = c.post(
        reverse("care:settings_rules"),
        {
            "name": "Impossible",
            "min_followers": "5000",
            "max_followers": "10",
            "active": "1",
            "position": "10",
            "priority_boost": "0",
        },
    )
    assert response.status_code == 422
    assert "nothing can match" in response.content.decode()
    assert not InboxRule.objects.filter(name="Impossible").exists()
    ok = c.post(
        reverse("care:settings_rules"),
        {
            "name": "Spanish support",
            "intents": ["support"],
            "languages": ["es"],
            "active": "1",
            "position": "10",
            "priority_boost": "5",
        },
    )
    assert ok.status_code == 302
    rule = InboxRule.objects.get(name="Spanish support")
    assert rule.conditions == {"intents": ["support"], "languages": ["es"]}
    assert rule.priority_boost == 5


def test_canned_responses_per_language(manager):
    c = client_for(manager)
    c.post(
        reverse("care:settings_canned"),
        {"key": "hello", "language": "es", "title": "Hola", "body": "Hola {first_name}!"},
    )
    assert CannedResponse.objects.filter(key="hello", language="es").exists()
    bad = c.post(
        reverse("care:settings_canned"),
        {"key": "bye", "language": "en", "title": "Bye", "body": "Bye {customer}"},
    )
    assert bad.status_code == 422
    assert not CannedResponse.objects.filter(key="bye").exists()


def test_agent_skills_and_online(manager, agent):
    c = client_for(manager)
    c.post(
        reverse("care:settings_agents"),
        {"user_id": agent.pk, "languages": "es, en", "max_open": "10", "online": "1"},
    )
    agent.care_profile.refresh_from_db()
    assert agent.care_profile.languages == ["en", "es"]
    assert agent.care_profile.online is True
    bad = c.post(
        reverse("care:settings_agents"),
        {"user_id": agent.pk, "languages": "spanish!", "max_open": "10"},
    )
    assert bad.status_code == 422


def test_sla_report_counts_an_answered_conversation_and_exports_csv(
    manager, agent, brand, support_rule, store, raw
):
    from django.utils import timezone

    from apiary.care.models import Conversation

    store(raw(text="@northwind my order never arrived, I need help"))
    conv = Conversation.objects.get()
    services.first_response_record(conversation_id=conv.pk, at=timezone.now())
    c = client_for(manager)
    page = c.get(reverse("care:reports"), {"preset": "7d", "group_by": "language"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="sla-met-pct">100 %' in html
    export = c.get(
        reverse("care:reports"), {"preset": "7d", "group_by": "language", "format": "csv"}
    )
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert rows[-1]["group"] == "total" and rows[-1]["met"] == "1"
    bad = c.get(reverse("care:reports"), {"since": "2026-13-45"})
    assert bad.status_code == 422
