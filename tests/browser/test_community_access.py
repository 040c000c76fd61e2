"""An outsider follows a link to a post in a closed space: first anonymous (not available, log
in / register, HTTP 403), then logged in as a non-member (request membership); a moderator
approves the request and the new member reads the post."""

import pytest

from apiary.accounts import services as account_services
from apiary.accounts.models import Role
from apiary.community import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-password-1"
TITLE = "Partner price list for 2026"


def _log_in(page, email: str) -> None:
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")


def test_outsider_requests_membership_and_reads_the_post_after_approval(page_factory, screenshot):
    # given: a closed partner space that takes requests, with a post and a moderator
    manager = account_services.staff_user_create(
        email="carla@example.com", password=PASSWORD, role=Role.COMMUNITY_MANAGER,
        display_name="Carla Manager",
    )  # fmt: skip
    moderator = account_services.member_register(
        email="mona@example.com", password=PASSWORD, display_name="Mona Moderator"
    )
    account_services.member_register(
        email="pat@example.com", password=PASSWORD, display_name="Pat Partner"
    )
    space = services.space_create(
        actor=manager,
        name="Partners",
        slug="partners",
        visibility="closed",
        join_policy="request",
    )
    services.membership_role_set(actor=manager, space=space, user=moderator, role="moderator")
    post = services.post_create(
        author=moderator, space=space, title=TITLE, body="Discounts **for partners** only."
    )
    link = f"/community/p/{post.pk}/"

    # when: an anonymous visitor opens the link
    page = page_factory()
    response = page.goto(link)
    # then: 403, "not available", log in / register, and nothing of the post
    assert response.status == 403
    assert page.locator("h1").inner_text() == "This content is not available"
    assert page.locator("#gate-login").is_visible()
    assert page.locator("#gate-register").is_visible()
    assert TITLE not in page.content()
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noindex"
    screenshot(page, "community-not-available-anonymous")

    # when: they log in from the page as a non-member
    page.click("#gate-login")
    _log_in(page, "pat@example.com")
    page.wait_for_url(f"**{link}")
    # then: still not available, now with "request membership"
    assert TITLE not in page.content()
    assert page.locator("#gate-request").is_visible()
    page.fill("#gate-note", "We are your reseller in Porto.")
    page.click("#gate-request")
    page.wait_for_selector("#gate-pending")
    assert "sent to its moderators" in page.locator(".messages").inner_text()
    screenshot(page, "community-request-pending")

    # when: the moderator approves the request on the members page
    mod_page = page_factory()
    mod_page.goto(f"/accounts/login/?next=/community/s/{space.slug}/members/")
    _log_in(mod_page, "mona@example.com")
    mod_page.wait_for_url("**/members/")
    request_row = mod_page.locator("#requests li", has_text="Pat Partner")
    assert "reseller in Porto" in request_row.inner_text()
    request_row.locator("button.approve-request").click()
    mod_page.wait_for_selector(".msg-success")
    assert "Pat Partner is now a member." in mod_page.locator(".messages").inner_text()
    assert mod_page.locator("#requests li", has_text="Pat Partner").count() == 0

    # then: the new member reloads the link and reads the post
    response = page.goto(link)
    assert response.status == 200
    assert page.locator("#post-title").inner_text() == TITLE
    assert "for partners" in page.locator("#post-body .cm-body").inner_text()
    screenshot(page, "community-member-reads-post")
