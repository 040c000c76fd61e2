"""An analyst searches mentions in the browser (text + place), saves the search, opens a
mention, tags it and marks it irrelevant to a query; a new matching mention streams in."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from apiary.accounts.models import Role
from apiary.accounts.services import staff_user_create, workspace_ensure
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import MentionIrrelevant, MentionTag, SavedSearch
from apiary.listening.services.queries import query_create
from apiary.listening.tests.factories import raw_mention

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-9"
T0 = datetime.now(UTC) - timedelta(hours=3)


def store(*raws):
    with transaction.atomic():
        process_mentions(list(raws), state=PipelineState())


def test_search_save_open_tag_and_mark_irrelevant(page_factory, live_server, screenshot):
    # given
    workspace_ensure(name="Northwind Coffee Roasters")
    staff_user_create(email="ana@example.com", password=PASSWORD, role=Role.ANALYST)
    brand = query_create(name="Northwind", kind="brand", text="northwind")
    store(
        raw_mention(
            external_id="es-1",
            text="El café de Northwind en Madrid llegó frío, pésima entrega",
            created_at=T0,
            author_location="Madrid, España",
            author_followers=1200,
        ),
        raw_mention(
            external_id="ru-1",
            text="Northwind — отличный кофе",
            created_at=T0 + timedelta(minutes=5),
            author_location="Москва",
        ),
    )
    page = page_factory()
    page.goto("/accounts/login/")
    page.fill("input[name=email]", "ana@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/dashboard/")
    # when: she searches Spanish mentions about delivery, in Spain
    page.goto("/listening/?country=ES")
    page.fill("#live-filters input[name=q]", "entrega")
    page.click("#live-filters button[type=submit]")
    page.wait_for_url("**q=entrega**")
    rows = page.locator("#mention-rows li.mention")
    # then
    assert rows.count() == 1 and "pésima entrega" in rows.first.inner_text()
    assert "1 matching" in page.locator("#result-count").inner_text()
    # when: a new matching mention arrives, it streams in without a reload
    store(
        raw_mention(
            external_id="es-2",
            text="Otra entrega tardía de Northwind en Sevilla",
            created_at=T0 + timedelta(minutes=10),
            author_location="Sevilla, España",
        )
    )
    page.locator("#mention-rows li.mention", has_text="Sevilla").wait_for(timeout=10_000)
    assert rows.count() == 2
    # when: she saves the search
    page.fill("#save-search input[name=name]", "Entregas ES")
    page.click("#save-search button[type=submit]")
    page.locator("#saved-searches a", has_text="Entregas ES").wait_for()
    assert SavedSearch.objects.get().params == {"q": "entrega", "country": ["ES"]}
    screenshot(page, "listening-search")
    # and opens the Madrid mention, tags it and marks it irrelevant to the brand query
    page.locator("#mention-rows li.mention", has_text="Madrid").locator("a.mention-link").click()
    page.wait_for_url("**/listening/mentions/**")
    assert "1200 followers" in page.locator("#author-followers").inner_text()
    assert "Madrid" in page.locator("#mention-place").inner_text()
    page.fill("#add-tag input[name=tag]", "delivery")
    page.click("#add-tag button[type=submit]")
    page.locator("#mention-tags .tag", has_text="delivery").wait_for()
    page.locator(f"#matched-query-{brand.pk} button", has_text="Mark irrelevant").click()
    page.locator(f"#matched-query-{brand.pk} .tag", has_text="marked irrelevant").wait_for()
    screenshot(page, "listening-mention")
    assert MentionTag.objects.filter(tag="delivery").count() == 1
    assert MentionIrrelevant.objects.filter(query=brand).count() == 1
    # then: the queries page counts it
    page.goto("/listening/queries/")
    assert page.locator(f"#query-{brand.pk} .irrelevant-count").inner_text().strip() == "1"
