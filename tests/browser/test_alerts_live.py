"""A manager has the alerts page open; negative mentions about the brand come in through the
real pipeline (webhook → stream → enrichment → rollups) until the crisis detector fires; the
alert appears without a reload, with a toast; she opens it, reads why it fired, and opens a
conversation from it in one click, landing on the care conversation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from apiary.accounts.models import Role
from apiary.accounts.services import staff_user_create, workspace_ensure
from apiary.alerts.detectors import rulebook
from apiary.alerts.detectors.rate import RateDetector
from apiary.alerts.models import Alert
from apiary.alerts.services import rule_create
from apiary.listening.services.queries import query_create
from apiary.listening.services.sources import source_create
from apiary.listening.tests.factories import drain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-9"


class Clock:
    """The detector's clocks, moved by the test: eleven minutes of traffic take seconds."""

    def __init__(self, start: datetime) -> None:
        self.wall, self.mono_s = start, 1000.0

    def now(self) -> datetime:
        return self.wall

    def mono(self) -> float:
        return self.mono_s

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono_s += seconds


def log_in(page, email):
    page.goto("/accounts/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/dashboard/")


def test_a_crisis_spike_appears_live_and_becomes_a_conversation(
    page_factory, live_server, screenshot, settings
):
    # given: the brand, a webhook source, a crisis rule and a care manager
    # Short streams: EventSource reconnects (as it does in production after 25 s), and none is
    # left reading the database when the test ends.
    settings.ALERTS_STREAM_SECONDS = 2
    workspace_ensure(name="Northwind Coffee Roasters")
    query_create(name="Northwind", kind="brand", text="northwind")
    _source, token = source_create(name="Shop reviews", kind="webhook")
    rule_create(
        name="Brand crisis",
        kind="crisis_spike",
        severity="critical",
        cooldown_minutes=30,
        conditions={
            "per_country": False,
            "z_score": 4.0,
            "min_volume": 10,
            "window_minutes": 3,
            "baseline_minutes": 10,
            "quiet_minutes": 3,
        },
    )
    rulebook.invalidate()
    staff_user_create(
        email="lead@example.com", password=PASSWORD, role=Role.CARE_MANAGER, display_name="Lena"
    )
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    clock = Clock(start)
    detector = RateDetector(clock=clock.now, mono=clock.mono)
    detector.tick()  # the first snapshot: what is already stored is not news
    seq = iter(range(1, 10_000))

    def push(n: int) -> None:
        at = (clock.now() + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = []
        for _ in range(n):
            i = next(seq)
            items.append(
                {
                    "platform": "bluesky",
                    "external_id": f"at://did:plc:angry{i}/app.bsky.feed.post/{i}",
                    "text": f"Northwind coffee is awful, my order never came #{i}",
                    "created_at": at,
                    "author": {"handle": f"angry{i}.bsky.social", "followers": 40 + i},
                }
            )
        response = httpx.post(
            f"{live_server.url}/api/v1/mentions",
            headers={"Authorization": f"Bearer {token}"},
            json={"mentions": items},
        )
        assert response.status_code in (200, 202, 207), response.text
        assert drain() == n  # what the in-process consumer worker does

    def minute(n: int) -> list:
        push(n)
        clock.advance(30)
        raised = detector.tick()  # what the alerts-detectors worker does every second
        clock.advance(30)
        return raised

    # and she has the alerts page open, connected to the live stream
    page = page_factory()
    log_in(page, "lead@example.com")
    page.goto("/alerts/")
    page.locator("#no-alerts").wait_for()
    page.locator('#live-state[data-state="live"]').wait_for()
    page.evaluate("window.__notReloaded = true")

    # when: ten calm minutes, then a burst of negative mentions
    for _ in range(10):
        assert minute(2) == []
    push(14)
    clock.advance(30)
    raised = detector.tick()
    fired_at = time.monotonic()

    # then: the crisis alert is raised once and appears on the open page without a reload
    assert [r.outcome for r in raised] == ["opened"]
    alert = Alert.objects.get()
    assert alert.kind == "crisis_spike" and alert.severity == "critical"
    row = page.locator(f"#alert-{alert.pk}")
    row.wait_for(timeout=10_000)
    seen_after = time.monotonic() - fired_at
    assert seen_after < 2.0, f"the alert took {seen_after:.2f} s to appear"
    assert page.evaluate("window.__notReloaded") is True
    text = row.inner_text()
    assert "Crisis: negative spike about Northwind" in text
    assert "negative mentions about Northwind in 3 min" in text
    assert page.locator("#no-alerts").count() == 0
    toast = page.locator("#alert-toasts .toast")
    toast.wait_for()
    assert "Crisis" in toast.inner_text()
    assert page.locator('.alert-tabs [data-count="open"]').inner_text() == "1"
    screenshot(page, "alerts-live")

    # when: she opens it
    row.locator(".alert-title").click()
    page.wait_for_url(f"**/alerts/{alert.pk}/")
    # then: it explains itself
    numbers = alert.explanation
    assert numbers["observed"] >= 14 and numbers["baseline"] == 6.0  # 2 a minute × 3 minutes
    why = page.locator("#alert-why").inner_text()
    assert f"{numbers['observed']} negative mentions about Northwind in 3 min" in why
    assert "the usual 6" in why and f"z-score {numbers['z_score']:g}" in why
    observed = page.locator('#alert-numbers [data-number="observed"] .figure').inner_text()
    assert observed == str(numbers["observed"])
    assert page.locator('#alert-chart svg[data-chart="alert-series"]').count() == 1
    evidence = page.locator("#evidence-mentions li")
    assert evidence.count() >= 10
    assert "my order never came" in evidence.first.inner_text()
    assert (
        page.locator("#evidence-mentions a.mention-link")
        .first.get_attribute("href")
        .startswith("/listening/mentions/")
    )
    screenshot(page, "alerts-detail")

    # when: she opens a conversation from it in one click
    page.locator("#action-open_conversation").click()
    # then: she lands on the care conversation of the evidence mention
    page.wait_for_url("**/care/c/*/")
    alert.refresh_from_db()
    assert alert.conversation_id is not None
    assert page.url.endswith(f"/care/c/{alert.conversation_id}/")
    assert "my order never came" in page.locator("#thread").inner_text()
    assert alert.status == "acknowledged"
    screenshot(page, "alerts-conversation")
    page.goto("about:blank")
    time.sleep(2.5)  # the last alerts stream ends on its own
