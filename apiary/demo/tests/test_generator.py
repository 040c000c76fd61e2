import pytest

from apiary.accounts.models import Role, User, Workspace
from apiary.demo import generator

pytestmark = pytest.mark.django_db


def test_demo_is_deterministic_multilingual_and_idempotent():
    # when
    report = generator.generate(seed=7)
    first = list(User.objects.order_by("email").values_list("email", "display_name", "language"))
    generator.generate(seed=7)
    # then: running again adds nothing
    again = list(User.objects.order_by("email").values_list("email", "display_name", "language"))
    assert again == first
    assert Workspace.objects.count() == 1
    assert "accounts:" in report[0]
    languages = {lang for _e, _n, lang in first}
    assert {"en", "ru", "es"} <= languages
    assert any(any("а" <= ch <= "я" for ch in name.lower()) for _e, name, _l in first)
    for role in (Role.ADMIN, Role.CARE_AGENT, Role.ANALYST, Role.COMMUNITY_MANAGER):
        assert User.objects.filter(role=role).exists()


def test_demo_admin_can_log_in_with_the_printed_password(client):
    generator.generate(seed=1)
    res = client.post(
        "/accounts/login/",
        {"email": generator.ADMIN_EMAIL, "password": generator.DEMO_PASSWORD},
    )
    assert res.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_same_seed_gives_the_same_members(django_db_blocker):
    generator.generate(seed=42)
    members = list(
        User.objects.filter(role=Role.MEMBER).order_by("pk").values_list("email", flat=True)
    )
    User.objects.filter(role=Role.MEMBER).delete()
    generator.generate(seed=42)
    again = list(
        User.objects.filter(role=Role.MEMBER).order_by("pk").values_list("email", flat=True)
    )
    assert members == again
