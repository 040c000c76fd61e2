import re

import pytest
from django.core import mail
from django.test import Client

from apiary.accounts.models import Role, User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_home_redirects_anonymous_visitors_to_login(client):
    res = client.get("/")
    assert res.status_code == 302
    assert res.url == "/accounts/login/"


def test_dashboard_requires_login(client):
    res = client.get("/dashboard/")
    assert res.status_code == 302
    assert res.url.startswith("/accounts/login/?next=/dashboard/")


def test_login_with_right_credentials_lands_on_dashboard(client, member):
    res = client.post("/accounts/login/", {"email": "MEMBER@example.com", "password": PASSWORD})
    assert res.status_code == 302 and res.url == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert "Mia Member" in page.content.decode()


def test_login_respects_safe_next_and_ignores_foreign_next(client, member):
    res = client.post(
        "/accounts/login/",
        {"email": member.email, "password": PASSWORD, "next": "/accounts/profile/"},
    )
    assert res.url == "/accounts/profile/"
    client.logout()
    res = client.post(
        "/accounts/login/",
        {"email": member.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert res.url == "/dashboard/"


def test_wrong_credentials_show_a_clear_message(client, member):
    res = client.post("/accounts/login/", {"email": member.email, "password": "nope"})
    assert res.status_code == 400
    assert "The e-mail or password is not correct." in res.content.decode()


def test_login_form_errors_are_400_not_500(client, db):
    res = client.post("/accounts/login/", {"email": "not-an-email"})
    assert res.status_code == 400


def test_repeated_failures_lock_the_login(client, member, settings):
    settings.APIARY_LOGIN_MAX_FAILURES_PER_EMAIL = 2
    for _ in range(2):
        client.post("/accounts/login/", {"email": member.email, "password": "nope"})
    res = client.post("/accounts/login/", {"email": member.email, "password": PASSWORD})
    assert res.status_code == 429
    assert "Too many failed attempts" in res.content.decode()


def test_register_creates_member_and_logs_in(client, db):
    res = client.post(
        "/accounts/register/",
        {
            "email": "fresh@example.com",
            "display_name": "Fresh",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert res.status_code == 302
    user = User.objects.get(email="fresh@example.com")
    assert user.role == Role.MEMBER
    assert client.get("/dashboard/").status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"email": "member@example.com", "password1": PASSWORD, "password2": PASSWORD},
            "already exists",
        ),
        ({"email": "w@example.com", "password1": "abc", "password2": "abc"}, "too short"),
        ({"email": "w@example.com", "password1": PASSWORD, "password2": PASSWORD + "x"}, "differ"),
        ({"email": "bad", "password1": PASSWORD, "password2": PASSWORD}, "valid email"),
    ],
)
def test_register_rejects_bad_input_with_a_message(client, member, data, message):
    res = client.post("/accounts/register/", data)
    assert res.status_code == 400
    assert message in res.content.decode()


def test_register_errors_are_in_the_browser_language(client, db):
    res = client.post(
        "/accounts/register/",
        {"email": "w@example.com", "password1": "abc", "password2": "abc"},
        headers={"Accept-Language": "es"},
    )
    assert res.status_code == 400
    assert "demasiado corta" in res.content.decode()


def test_logout_is_post_only(client, member):
    client.force_login(member)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_password_reset_sends_a_working_link(client, member):
    # when
    res = client.post("/accounts/password/reset/", {"email": member.email})
    # then
    assert res.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/password/reset/\S+)", mail.outbox[0].body).group(1)
    page = client.get(link, follow=True)
    assert page.status_code == 200
    new_password = "a-brand-new-password-7"
    res = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert res.status_code == 302
    member.refresh_from_db()
    assert member.check_password(new_password)


def test_password_reset_for_unknown_email_reveals_nothing(client, db):
    res = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert res.status_code == 302
    assert mail.outbox == []


def test_navigation_follows_the_role(client, make_user):
    analyst = make_user(Role.ANALYST)
    client.force_login(analyst)
    html = client.get("/dashboard/").content.decode()
    assert "Community health" in html
    assert "Inbox" not in html
    assert 'href="/settings/users/"' not in html
    assert 'href="/admin/"' not in html


def test_users_page_is_forbidden_for_non_admins_with_a_403_page(client, make_user):
    client.force_login(make_user(Role.CARE_AGENT))
    res = client.get("/settings/users/")
    assert res.status_code == 403
    assert "You do not have access to this page" in res.content.decode()


def test_admin_creates_staff_user_from_the_users_page(client, admin_user):
    client.force_login(admin_user)
    res = client.post(
        "/settings/users/",
        {"email": "agent@example.com", "password": PASSWORD, "role": "care_agent"},
    )
    assert res.status_code == 302
    assert User.objects.get(email="agent@example.com").role == Role.CARE_AGENT
    res = client.post(
        "/settings/users/",
        {"email": "agent@example.com", "password": PASSWORD, "role": "care_agent"},
    )
    assert res.status_code == 400
    assert "already exists" in res.content.decode()


def test_unknown_page_is_a_friendly_404(client):
    res = client.get("/no/such/page/")
    assert res.status_code == 404
    assert "This page does not exist" in res.content.decode()


def test_django_admin_only_for_admin_role(client, admin_user, make_user):
    client.force_login(make_user(Role.COMMUNITY_MANAGER))
    assert client.get("/admin/").status_code == 302
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


def test_language_switch_is_remembered_on_the_profile(client, member):
    client.force_login(member)
    res = client.post("/accounts/language/", {"language": "ru", "next": "/dashboard/"})
    assert res.status_code == 302
    member.refresh_from_db()
    assert member.language == "ru"
    fresh = Client()
    fresh.force_login(member)
    html = fresh.get("/dashboard/").content.decode()
    assert '<html lang="ru">' in html


def test_browser_language_picks_the_translation(client, member):
    client.force_login(member)
    html = client.get("/dashboard/", headers={"Accept-Language": "es-ES,es;q=0.9"}).content.decode()
    assert '<html lang="es">' in html


def test_flash_message_after_token_creation_and_token_shown_once(client, member):
    client.force_login(member)
    res = client.post("/accounts/profile/tokens/", {"name": "laptop"}, follow=True)
    html = res.content.decode()
    assert "Token created" in html
    assert re.search(r'id="new-token">apy_', html)
    again = client.get("/accounts/profile/").content.decode()
    assert 'id="new-token"' not in again
    assert "laptop" in again


def test_healthz_and_readyz(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database:default"] == "ok"


def test_oversized_form_post_gets_413_page(client, db, settings):
    settings.APIARY_MAX_BODY_BYTES = 100
    res = client.post("/accounts/login/", {"email": "x@example.com", "password": "y" * 500})
    assert res.status_code == 413


def test_htmx_is_served_locally(client, db):
    html = client.get("/accounts/login/").content.decode()
    src = re.search(r'<script src="([^"]+htmx[^"]+)"', html).group(1)
    assert src.startswith("/static/")
    assert client.get(src).status_code == 200
