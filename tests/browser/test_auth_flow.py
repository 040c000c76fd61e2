import pytest

from apiary.accounts.models import Role, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-password-1"


def test_register_log_in_and_see_the_dashboard_in_russian(page_factory, screenshot):
    # given: a browser that asks for Russian
    page = page_factory(locale="ru-RU")
    # when: a visitor registers
    page.goto("/accounts/register/")
    assert page.locator("html").get_attribute("lang") == "ru"
    page.fill("input[name=email]", "olga@example.ru")
    page.fill("input[name=display_name]", "Ольга")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")
    # and logs out, then logs in again
    page.click("form[action='/accounts/logout/'] button")
    page.wait_for_url("**/accounts/login/")
    page.fill("input[name=email]", "olga@example.ru")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard/")
    # then: the dashboard greets her in Russian
    heading = page.locator("h1").inner_text()
    assert "Ольга" in heading
    assert heading.startswith("Добро пожаловать"), heading
    assert page.locator("html").get_attribute("lang") == "ru"
    assert User.objects.get(email="olga@example.ru").role == Role.MEMBER
    shot = screenshot(page, "dashboard-ru")
    assert shot.stat().st_size > 5_000


def test_wrong_password_shows_the_error_and_language_switch_works(page_factory, screenshot):
    # given
    from apiary.accounts import services

    services.staff_user_create(
        email="agent@example.com", password=PASSWORD, role=Role.CARE_AGENT, display_name="Ana"
    )
    page = page_factory(locale="en-US")
    page.goto("/accounts/login/")
    # when: a wrong password
    page.fill("input[name=email]", "agent@example.com")
    page.fill("input[name=password]", "wrong-password")
    page.click("main button[type=submit]")
    # then
    assert "not correct" in page.locator(".form-error").inner_text()
    # when: switching to Spanish with the selector
    with page.expect_navigation():
        page.select_option("#language-select", "es")
    assert page.locator("html").get_attribute("lang") == "es"
    page.fill("input[name=email]", "agent@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard/")
    # then: a care agent sees the inbox card and no admin links, in Spanish
    nav = page.locator("nav.mainnav").inner_text()
    assert "Panel" in nav
    assert "Admin" not in nav
    cards = page.locator("#dashboard-cards h2").all_inner_texts()
    assert "Bandeja de entrada" in cards
    assert "Salud de la comunidad" not in cards  # analytics is not a care agent's
    screenshot(page, "dashboard-es-agent")
