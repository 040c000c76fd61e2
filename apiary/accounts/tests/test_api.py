import pytest
from django.test import Client
from django.utils import translation

from apiary.accounts.models import ApiToken, Role, User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_register_creates_a_member(api):
    # when
    res = api().post(
        "/api/v1/auth/register",
        {"email": "New@Example.com", "password": PASSWORD, "display_name": "Nu"},
    )
    # then
    assert res.status_code == 201, res.content
    body = res.json()
    assert body["email"] == "new@example.com"
    assert body["role"] == "member"
    assert "password" not in body


def test_register_duplicate_email_is_a_422_naming_the_field(api, member):
    res = api().post("/api/v1/auth/register", {"email": member.email, "password": PASSWORD})
    assert res.status_code == 422
    body = res.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["field"] == "email"
    assert "already exists" in body["detail"]


def test_weak_password_is_a_422_that_says_why(api):
    res = api().post("/api/v1/auth/register", {"email": "a@example.com", "password": "123"})
    assert res.status_code == 422
    assert "password" in res.json()["detail"]
    assert "too short" in res.json()["detail"]
    assert not User.objects.filter(email="a@example.com").exists()


def test_malformed_json_is_a_400(api):
    res = api().post("/api/v1/auth/register", raw="{not json")
    assert res.status_code == 400
    assert res.json()["code"] == "malformed_body"
    assert "not valid JSON" in res.json()["detail"]


def test_unknown_field_and_wrong_type_are_422_naming_each_field(api):
    res = api().post(
        "/api/v1/auth/register",
        {"email": "b@example.com", "password": 12345, "nickname": "x"},
    )
    assert res.status_code == 422
    fields = {e["field"]: e["message"] for e in res.json()["errors"]}
    assert fields["nickname"] == "This field is not allowed."
    assert fields["password"] == "Must be a string."


def test_missing_field_is_reported(api):
    res = api().post("/api/v1/auth/register", {"email": "c@example.com"})
    assert res.status_code == 422
    assert res.json()["errors"] == [
        {"field": "password", "message": "This field is required.", "type": "missing"}
    ]


def test_validation_messages_follow_accept_language(api):
    english = "This field is required."
    for language in ("ru", "es"):
        with translation.override(language):
            expected = translation.gettext(english)
        assert expected != english, f"no {language} translation compiled"
        res = api(language=language).post("/api/v1/auth/register", {"email": "d@example.com"})
        assert res.status_code == 422
        assert res.json()["errors"][0]["message"] == expected


def test_oversized_body_is_a_413(api, settings):
    settings.APIARY_MAX_BODY_BYTES = 1000
    res = api().post("/api/v1/auth/register", {"email": "e@example.com", "password": "x" * 2000})
    assert res.status_code == 413
    assert res.json()["code"] == "body_too_large"


def test_anonymous_requests_get_401_json(api):
    res = api().get("/api/v1/me")
    assert res.status_code == 401
    assert res.json()["code"] == "not_authenticated"


def test_bad_token_gets_401(db):
    res = Client(headers={"Authorization": "Bearer apy_nope_nope"}).get("/api/v1/me")
    assert res.status_code == 401


def test_token_login_then_me_with_permissions(api, admin_user):
    # given
    res = api().post(
        "/api/v1/auth/token", {"email": admin_user.email, "password": PASSWORD, "token_name": "cli"}
    )
    assert res.status_code == 201
    raw = res.json()["token"]
    # when
    me = Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/me")
    # then
    assert me.status_code == 200
    assert me.json()["email"] == admin_user.email
    assert "users.manage" in me.json()["permissions"]


def test_token_login_with_wrong_password_is_401_then_throttled(api, member, settings):
    settings.APIARY_LOGIN_MAX_FAILURES_PER_EMAIL = 2
    for _ in range(2):
        res = api().post("/api/v1/auth/token", {"email": member.email, "password": "wrong"})
        assert res.status_code == 401
        assert res.json()["code"] == "invalid_credentials"
    res = api().post("/api/v1/auth/token", {"email": member.email, "password": PASSWORD})
    assert res.status_code == 429
    assert res.json()["code"] == "throttled"


def test_session_auth_needs_csrf_for_writes(member):
    # given: a logged-in browser session that enforces CSRF like a real browser
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    # then: reads work, a write without the CSRF token is refused
    assert client.get("/api/v1/me").status_code == 200
    res = client.patch("/api/v1/me", data='{"display_name": "X"}', content_type="application/json")
    assert res.status_code in (401, 403)
    # and with the token it passes
    client.get("/accounts/profile/")
    csrf = client.cookies["csrftoken"].value
    res = client.patch(
        "/api/v1/me",
        data='{"display_name": "X"}',
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert res.status_code == 200, res.content
    assert res.json()["display_name"] == "X"


def test_me_patch_validates_language(api, member):
    res = api(member).patch("/api/v1/me", {"language": "xx"})
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == "language"


def test_tokens_create_list_revoke(api, member):
    client = api(member)
    created = client.post("/api/v1/tokens", {"name": "deploy"})
    assert created.status_code == 201
    raw, token_id = created.json()["token"], created.json()["id"]
    listing = client.get("/api/v1/tokens").json()
    assert listing["count"] == 2  # the client's own token plus the new one
    assert all("token" not in t and "digest" not in t for t in listing["items"])
    assert client.delete(f"/api/v1/tokens/{token_id}").status_code == 204
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/me").status_code == 401


def test_cannot_revoke_someone_elses_token(api, member, make_user):
    other = make_user()
    token = ApiToken.objects.create(user=other, name="x", prefix="abcd1234", digest="0" * 64)
    assert api(member).delete(f"/api/v1/tokens/{token.pk}").status_code == 404


def test_user_management_is_admin_only(api, admin_user, make_user):
    analyst = make_user(Role.ANALYST)
    res = api(analyst).get("/api/v1/users")
    assert res.status_code == 403
    assert res.json()["code"] == "permission_denied"
    assert api(admin_user).get("/api/v1/users").status_code == 200


def test_admin_creates_staff_user_and_changes_role(api, admin_user):
    client = api(admin_user)
    res = client.post(
        "/api/v1/users", {"email": "agent@example.com", "password": PASSWORD, "role": "care_agent"}
    )
    assert res.status_code == 201
    user_id = res.json()["id"]
    res = client.patch(f"/api/v1/users/{user_id}", {"role": "analyst"})
    assert res.status_code == 200 and res.json()["role"] == "analyst"
    res = client.patch(f"/api/v1/users/{user_id}", {"role": "overlord"})
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == "role"
    assert client.patch("/api/v1/users/999999", {"role": "analyst"}).status_code == 404


def test_pagination_convention_and_limits(api, admin_user, make_user):
    for _ in range(5):
        make_user()
    client = api(admin_user)
    page = client.get("/api/v1/users?limit=2&offset=1").json()
    assert page["limit"] == 2 and page["offset"] == 1
    assert page["count"] == 6 and len(page["items"]) == 2
    emails = [u["email"] for u in client.get("/api/v1/users?limit=200").json()["items"]]
    assert emails == sorted(emails)
    assert [u["email"] for u in page["items"]] == emails[1:3]
    for bad in ("limit=0", "limit=201", "offset=-1", "limit=abc"):
        res = client.get(f"/api/v1/users?{bad}")
        assert res.status_code == 422, bad
        assert res.json()["code"] == "validation_error"


def test_role_filter_rejects_unknown_role(api, admin_user):
    res = api(admin_user).get("/api/v1/users?role=wizard")
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == "role"


def test_unknown_api_path_is_json_404(api):
    res = api().get("/api/v1/nope")
    assert res.status_code == 404
    assert res.json()["code"] == "not_found"


def test_openapi_and_docs_are_served(client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/auth/register" in spec.json()["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    assert b"cdn" not in docs.content.lower()


def test_wrong_method_is_a_json_405(api, member):
    res = api(member).post("/api/v1/me", {})
    assert res.status_code == 405
    assert res.json()["code"] == "method_not_allowed"


def test_unknown_api_path_is_json_even_in_debug(api, settings):
    settings.DEBUG = True
    res = api().get("/api/v1/definitely/not/here")
    assert res.status_code == 404
    assert res.json()["code"] == "not_found"


def test_csrf_failure_on_the_api_says_so(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    res = client.patch("/api/v1/me", data='{"display_name": "X"}', content_type="application/json")
    assert res.status_code == 403
    assert res.json()["code"] == "csrf_failed"
