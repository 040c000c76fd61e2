"""An admin adds a webhook source in the browser, a shop pushes mentions to it, and they appear
on the live page, enriched, without a reload."""

import httpx
import pytest

from apiary.accounts.models import Role
from apiary.accounts.services import staff_user_create, workspace_ensure
from apiary.listening.models import Source
from apiary.listening.tests.factories import drain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-9"


def log_in(page, email):
    page.goto("/accounts/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/dashboard/")


def test_mentions_pushed_to_a_new_webhook_source_appear_live(page_factory, live_server, screenshot):
    # given: an administrator
    workspace_ensure(name="Northwind Coffee Roasters")
    staff_user_create(email="admin@example.com", password=PASSWORD, role=Role.ADMIN)
    page = page_factory()
    log_in(page, "admin@example.com")
    # when: she adds a webhook source and copies its token
    page.goto("/listening/sources/")
    page.fill("#add-source input[name=name]", "Shop reviews")
    page.select_option("#source-kind", "webhook")
    page.click("#add-source button[type=submit]")
    token = page.locator("#new-token code").inner_text().strip()
    assert token.startswith("src_")
    source = Source.objects.get(name="Shop reviews")
    assert page.locator(f"#source-{source.pk}").is_visible()
    # and opens the live page, then the shop pushes two reviews (one of them invalid)
    page.goto("/listening/")
    page.locator("#no-mentions").wait_for()
    response = httpx.post(
        f"{live_server.url}/api/v1/mentions",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "mentions": [
                {
                    "platform": "trustpilot",
                    "external_id": "tp-1",
                    "text": "Мой заказ так и не пришёл, ужасная доставка 😡",
                    "created_at": "2026-11-30T10:00:00Z",
                    "author": {"handle": "olga", "location": "Москва", "followers": 12},
                },
                {"platform": "trustpilot", "external_id": "tp-2", "text": ""},
            ]
        },
    )
    assert response.status_code == 207
    assert drain() == 1  # what the in-process consumer worker does
    # then: the mention appears at the top, enriched, without a reload
    row = page.locator("#mention-rows li.mention").first
    row.wait_for(timeout=10_000)
    text = row.inner_text()
    assert "Мой заказ так и не пришёл" in text
    assert "Negative" in text and "Support" in text and "Moscow" in text
    assert page.locator("#no-mentions").count() == 0
    screenshot(page, "listening-live")
    # and the source shows the rejected item
    page.goto("/listening/sources/")
    cells = page.locator(f"#source-{source.pk}").inner_text()
    assert "rejected" in cells
