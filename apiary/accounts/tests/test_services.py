from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.utils import timezone

from apiary.accounts import services
from apiary.accounts.access import Perm, user_has_permission
from apiary.accounts.models import ApiToken, Role, User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_member_register_hashes_with_argon2_and_normalises_email(settings):
    # given: the production hashers (the suite puts a fast MD5 first)
    settings.PASSWORD_HASHERS = [h for h in settings.PASSWORD_HASHERS if "MD5" not in h]
    # when
    user = services.member_register(email="  Mia@Example.COM ", password=PASSWORD)
    # then
    assert user.email == "mia@example.com"
    assert user.role == Role.MEMBER
    assert user.password.startswith("argon2$")
    assert user.check_password(PASSWORD)
    assert not user.is_staff and not user.is_superuser


def test_duplicate_email_is_rejected_case_insensitively(member):
    with pytest.raises(ValidationError) as exc:
        services.member_register(email="MEMBER@example.com", password=PASSWORD)
    assert "already exists" in exc.value.message_dict["email"][0]
    assert User.objects.filter(email__iexact="member@example.com").count() == 1


@pytest.mark.parametrize(
    ("password", "fragment"),
    [("short", "too short"), ("1234567890123", "entirely numeric"), ("password123", "too common")],
)
def test_weak_passwords_are_rejected_with_the_reason(password, fragment):
    with pytest.raises(ValidationError) as exc:
        services.member_register(email="new@example.com", password=password)
    assert any(fragment in m for m in exc.value.message_dict["password"])
    assert not User.objects.filter(email="new@example.com").exists()


def test_invalid_email_is_rejected():
    with pytest.raises(ValidationError) as exc:
        services.member_register(email="not-an-email", password=PASSWORD)
    assert "email" in exc.value.message_dict


def test_staff_roles_get_their_permissions_and_only_admins_get_the_admin_site(make_user):
    # given
    admin = make_user(Role.ADMIN)
    agent = make_user(Role.CARE_AGENT)
    analyst = make_user(Role.ANALYST)
    manager = make_user(Role.COMMUNITY_MANAGER)
    member = make_user(Role.MEMBER)
    # then
    assert admin.is_staff and admin.is_superuser
    assert not agent.is_staff and not analyst.is_staff
    assert user_has_permission(admin, Perm.USERS_MANAGE)
    assert user_has_permission(agent, Perm.CARE_INBOX)
    assert not user_has_permission(agent, Perm.ANALYTICS_VIEW)
    assert user_has_permission(analyst, Perm.ANALYTICS_VIEW)
    assert not user_has_permission(analyst, Perm.CARE_INBOX)
    assert user_has_permission(manager, Perm.COMMUNITY_MANAGE)
    assert not user_has_permission(member, Perm.CUSTOMERS_VIEW)
    assert user_has_permission(member, Perm.COMMUNITY_PARTICIPATE)
    assert not user_has_permission(None, Perm.DASHBOARD_VIEW)


def test_staff_user_create_refuses_member_role():
    with pytest.raises(ValidationError):
        services.staff_user_create(email="x@example.com", password=PASSWORD, role=Role.MEMBER)


def test_role_change_keeps_admin_flags_in_step(admin_user, make_user):
    # given
    agent = make_user(Role.CARE_AGENT)
    # when
    services.user_role_set(user=agent, role=Role.ADMIN, actor=admin_user)
    agent.refresh_from_db()
    # then
    assert agent.is_staff and agent.is_superuser
    services.user_role_set(user=agent, role=Role.ANALYST, actor=admin_user)
    agent.refresh_from_db()
    assert not agent.is_staff and not agent.is_superuser


def test_last_admin_cannot_demote_themself(admin_user):
    with pytest.raises(ValidationError):
        services.user_role_set(user=admin_user, role=Role.ANALYST, actor=admin_user)
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN


def test_api_token_is_stored_hashed_and_authenticates(member):
    # when
    token, raw = services.api_token_create(user=member, name="ci")
    # then
    assert raw.startswith("apy_")
    stored = ApiToken.objects.get(pk=token.pk)
    assert raw not in (stored.digest, stored.prefix)
    assert len(stored.digest) == 64
    assert services.api_token_authenticate(raw=raw) == member
    assert services.api_token_authenticate(raw=raw + "x") is None
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_revoked_and_expired_tokens_stop_working(member):
    token, raw = services.api_token_create(user=member, name="a")
    services.api_token_revoke(token=token)
    assert services.api_token_authenticate(raw=raw) is None

    token2, raw2 = services.api_token_create(
        user=member, name="b", expires_at=timezone.now() + timedelta(seconds=60)
    )
    ApiToken.objects.filter(pk=token2.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.api_token_authenticate(raw=raw2) is None


def test_token_expiry_in_the_past_is_rejected(member):
    with pytest.raises(ValidationError):
        services.api_token_create(user=member, name="x", expires_at=timezone.now())


def test_deactivating_a_user_revokes_their_tokens(admin_user, member):
    _token, raw = services.api_token_create(user=member, name="a")
    services.user_active_set(user=member, is_active=False, actor=admin_user)
    assert services.api_token_authenticate(raw=raw) is None
    with pytest.raises(ValidationError):
        services.user_active_set(user=admin_user, is_active=False, actor=admin_user)


def test_login_is_throttled_per_email_after_repeated_failures(member, settings):
    # given
    settings.APIARY_LOGIN_MAX_FAILURES_PER_EMAIL = 3
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="10.1.1.1")
    for _ in range(3):
        assert (
            services.user_authenticate(request=request, email=member.email, password="bad") is None
        )
    # when / then: even the right password is refused while locked out
    with pytest.raises(services.LoginThrottled):
        services.user_authenticate(request=request, email=member.email, password=PASSWORD)


def test_login_is_throttled_per_address_across_emails(db, settings):
    settings.APIARY_LOGIN_MAX_FAILURES_PER_IP = 4
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="10.2.2.2")
    for i in range(4):
        services.user_authenticate(request=request, email=f"guess{i}@example.com", password="x")
    with pytest.raises(services.LoginThrottled):
        services.user_authenticate(request=request, email="other@example.com", password="x")
    other = RequestFactory().post("/accounts/login/", REMOTE_ADDR="10.3.3.3")
    assert (
        services.user_authenticate(request=other, email="other@example.com", password="x") is None
    )


def test_successful_login_clears_failures(member, settings):
    settings.APIARY_LOGIN_MAX_FAILURES_PER_EMAIL = 3
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="10.4.4.4")
    for _ in range(2):
        services.user_authenticate(request=request, email=member.email, password="bad")
    assert (
        services.user_authenticate(request=request, email=member.email, password=PASSWORD) == member
    )
    for _ in range(2):
        services.user_authenticate(request=request, email=member.email, password="bad")
    assert (
        services.user_authenticate(request=request, email=member.email, password=PASSWORD) == member
    )


def test_preferences_validate_language_and_time_zone(member):
    services.user_preferences_set(user=member, language="ru", time_zone="Europe/Madrid")
    member.refresh_from_db()
    assert (member.language, member.time_zone) == ("ru", "Europe/Madrid")
    with pytest.raises(ValidationError):
        services.user_preferences_set(user=member, language="xx")
    with pytest.raises(ValidationError):
        services.user_preferences_set(user=member, time_zone="Mars/Olympus")


def test_workspace_ensure_is_idempotent():
    first = services.workspace_ensure(name="Acme")
    second = services.workspace_ensure(name="Other")
    assert first.pk == second.pk and second.name == "Acme"
