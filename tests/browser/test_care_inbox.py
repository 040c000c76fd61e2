"""An agent has the inbox open; a customer's Bluesky post arrives through the pipeline and the
conversation appears without a reload; the agent opens it, sees who the customer is, answers
with a canned response, the reply reaches the (fake) Bluesky server and shows "sent"; the SLA
report counts the conversation as met."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.accounts.services import staff_user_create, workspace_ensure
from apiary.care import canned, replies, rules, sla
from apiary.care.models import Conversation, Message
from apiary.customers.services.customers import customer_create
from apiary.customers.services.identities import identity_link
from apiary.customers.services.orders import order_row_validate, orders_upsert
from apiary.listening.fakes.bluesky_pds import FakeBlueskyPDS
from apiary.listening.models import Source
from apiary.listening.services.ingest import mentions_receive
from apiary.listening.services.queries import query_create
from apiary.listening.tests.factories import drain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-9"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
ALICE_DID = "did:plc:alicemoreno"


def log_in(page, email):
    page.goto("/accounts/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/dashboard/")


@pytest.fixture
def pds():
    with FakeBlueskyPDS() as server:
        server.account("northwind.bsky.social", APP_PASSWORD)
        yield server


@pytest.fixture(autouse=True)
def quick_heartbeats(monkeypatch):
    # A closed page's stream notices at its next write; short heartbeats let the server's
    # stream threads end (and give back their database connections) soon after.
    from apiary.care import views_live

    monkeypatch.setattr(views_live, "HEARTBEAT_SECONDS", 0.5)


def close_and_wait_for_streams(*pages) -> None:
    from apiary.care import views_live

    for page in pages:
        page.context.close()
    deadline = time.monotonic() + 10
    while views_live.open_streams() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert views_live.open_streams() == 0


def test_a_mention_becomes_a_live_conversation_answered_within_the_sla(
    page_factory, pds, screenshot
):
    # given: a brand query, the default inbox rules, policies and canned responses
    workspace_ensure(name="Northwind Coffee Roasters")
    query_create(name="Northwind", kind="brand", text="northwind")
    rules.rules_ensure_defaults()
    sla.sla_policies_ensure_defaults()
    canned.canned_ensure_defaults()
    # and a Bluesky source that may reply as the brand's account on the (fake) PDS
    source = Source.objects.create(
        name="Bluesky",
        kind="bluesky",
        config={
            "url": "ws://127.0.0.1:1/subscribe",
            "reply_pds_url": pds.url,
            "reply_identifier": "northwind.bsky.social",
            "reply_secret": APP_PASSWORD,
        },
    )
    # and a known customer whose Bluesky account is linked, with an order
    alice = customer_create(name="Alice Moreno", email="alice@example.com")
    identity_link(
        customer=alice,
        platform="bluesky",
        handle="alice.bsky.social",
        touchpoint="support_form",
        consent_text="Linked at checkout",
    )
    orders_upsert(
        rows=[
            order_row_validate(
                {
                    "external_id": "NW-1042",
                    "customer_email": "alice@example.com",
                    "ordered_at": "2026-11-20T10:00:00Z",
                    "currency": "EUR",
                    "total": "48.00",
                    "items": '[{"sku": "B1", "name": "Beans", "quantity": 4, "price": 12}]',
                }
            )
        ],
        source="test",
    )
    staff_user_create(
        email="lucia@example.com",
        password=PASSWORD,
        role=Role.CARE_AGENT,
        display_name="Lucía Fernández",
    )
    staff_user_create(email="grace@example.com", password=PASSWORD, role=Role.CARE_MANAGER)

    # when: the agent has the inbox open (connected to the live feed)
    page = page_factory()
    log_in(page, "lucia@example.com")
    page.goto("/care/")
    page.locator("#no-conversations").wait_for()
    page.locator(".live-dot.on").wait_for()

    # and Alice posts on Bluesky; the post reaches the pipeline and is stored
    post = pds.post(ALICE_DID, "@northwind my order never arrived, I need help please")
    results = mentions_receive(
        source=source,
        items=[
            {
                "platform": "bluesky",
                "external_id": post["uri"],
                "text": "@northwind my order never arrived, I need help please",
                "created_at": timezone.now().isoformat(),
                "author": {"handle": "alice.bsky.social", "name": "Alice", "followers": 240},
            }
        ],
    )
    assert [r.status for r in results] == ["accepted"]
    assert drain() == 1  # what the consumer worker does

    # then: the conversation appears at the top without a reload, with its SLA countdown
    row = page.locator("#conv-list li.conv-row").first
    row.wait_for(timeout=5_000)
    assert "my order never arrived" in row.inner_text()
    assert row.locator(".sla").count() == 1
    assert row.locator(".prio").get_attribute("title").startswith("Priority ")
    conversation = Conversation.objects.get()
    screenshot(page, "care-inbox")

    # when: she opens it
    row.locator("a.stretch").click()
    page.wait_for_url(f"**/care/c/{conversation.pk}/")
    # then: the sidebar says who this is and what she bought
    assert page.locator("#customer-link").inner_text() == "Alice Moreno"
    assert "48" in page.locator("#customer-value").inner_text()

    # when: she answers with the canned "Order status" response (variables filled in)
    page.select_option("#canned-picker", label="Order status")
    text = page.locator("#composer-text").input_value()
    assert text.startswith("Hi Alice, I've checked your order NW-1042")
    page.click("#send")
    page.locator("#composer-notice.ok").wait_for()
    assert page.locator("#composer-text").input_value() == ""
    reply = Message.objects.get(direction="outbound")
    assert reply.canned_response is not None

    # and the delivery worker runs (the reply goes to the fake Bluesky PDS)
    assert replies.delivery_retry_due() == 1
    # then: the thread shows it as sent, live
    page.locator(f"#delivery-{reply.pk}.delivery-sent").wait_for(timeout=5_000)
    # and the header's countdown turns into "SLA met", also live
    page.locator("#conv-sla.sla-met").wait_for(timeout=5_000)
    assert "Lucía Fernández" in page.locator("#conv-assignee").inner_text()  # answering claims it
    assert len(pds.posted) == 1
    assert pds.posted[0]["value"]["text"] == text
    assert pds.posted[0]["value"]["reply"]["parent"]["uri"] == post["uri"]
    screenshot(page, "care-conversation")

    # and the SLA report counts the conversation as answered within the SLA
    manager = page_factory()
    log_in(manager, "grace@example.com")
    manager.goto("/care/reports/?group_by=platform")
    assert manager.locator("#sla-met-pct").inner_text().startswith("100")
    groups = manager.locator("#report-groups").inner_text()
    assert re.search(r"bluesky\s+1\s+1", groups)
    close_and_wait_for_streams(page, manager)
