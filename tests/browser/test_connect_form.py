import pytest
from django.utils import translation

from apiary.accounts.services import workspace_ensure
from apiary.customers.forms import consent_text
from apiary.customers.models import ConsentRecord, Customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _russian(msgid: str, **params) -> str | None:
    """The Russian translation when the catalogue has one yet (else None: nothing to assert)."""
    with translation.override("ru"):
        text = translation.gettext(msgid)
    return (text % params if params else text) if text != msgid else None


def test_a_russian_customer_links_two_accounts_after_fixing_a_mistake(page_factory, screenshot):
    # given: the shop links the form from its checkout; the visitor's browser asks for Russian
    workspace_ensure(name="Northwind Coffee Roasters")
    page = page_factory(locale="ru-RU")
    page.goto("/connect/?touchpoint=checkout")
    assert page.locator("html").get_attribute("lang") == "ru"
    # when: she fills in two accounts, the second one with a Bluesky link under VK
    page.fill("input[name=email]", "olga.smirnova@example.ru")
    page.fill("input[name=name]", "Ольга Смирнова")
    page.select_option("select[name=platform_0]", "telegram")
    page.fill("input[name=handle_0]", "@olga_smirnova")
    page.select_option("select[name=platform_1]", "vk")
    page.fill("input[name=handle_1]", "https://bsky.app/profile/olga.bsky.social")
    # htmx adds a third row on demand (left empty: empty rows are ignored)
    page.click("#connect-add-row")
    page.wait_for_selector("select[name=platform_2]")
    page.check("#id_consent")
    page.click("#connect-form button[type=submit]")
    # then: the mistake is shown next to its row and nothing is saved
    error = page.locator("#connect-row-1-errors")
    error.wait_for()
    assert error.inner_text().strip()
    assert page.locator("#connect-row-0-errors").count() == 0
    assert page.input_value("input[name=handle_0]") == "@olga_smirnova"
    assert page.locator("html").get_attribute("lang") == "ru"
    assert not Customer.objects.filter(email="olga.smirnova@example.ru").exists()
    screenshot(page, "connect-ru-error")
    # when: she fixes it and sends the form again
    page.fill("input[name=handle_1]", "https://vk.com/olga_smirnova")
    if not page.is_checked("#id_consent"):
        page.check("#id_consent")
    page.click("#connect-form button[type=submit]")
    # then: a thank-you page in Russian
    done = page.locator("#connect-done")
    done.wait_for()
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Ольга Смирнова" in done.inner_text()
    thanks = _russian("Thank you, %(name)s!", name="Ольга Смирнова")
    if thanks:
        assert thanks in done.inner_text()
    shot = screenshot(page, "connect-ru-done")
    assert shot.stat().st_size > 5_000
    # and the accounts are linked with the Russian consent text she saw, from the checkout
    customer = Customer.objects.get(email="olga.smirnova@example.ru")
    assert customer.language == "ru"
    assert set(customer.identities.values_list("platform", "handle")) == {
        ("telegram", "olga_smirnova"),
        ("vk", "olga_smirnova"),
    }
    with translation.override("ru"):
        shown = consent_text()
    records = ConsentRecord.objects.filter(identity__customer=customer)
    assert records.count() == 2
    assert {(r.text, r.touchpoint) for r in records} == {(shown, "checkout")}
