import pytest

from apiary.accounts.models import Role, User, Workspace
from apiary.demo import generator

pytestmark = pytest.mark.django_db


def test_demo_is_deterministic_multilingual_and_idempotent(demo):
    # given: the session's demo (generator.generate, every step)
    first = list(User.objects.order_by("email").values_list("email", "display_name", "language"))
    # when
    again_report = generator.generate(seed=demo.seed)
    # then: running again adds nothing
    again = list(User.objects.order_by("email").values_list("email", "display_name", "language"))
    assert again == first
    assert Workspace.objects.count() == 1
    assert "accounts:" in demo.report[0]
    assert [line.split(":")[0] for line in again_report] == [name for name, _ in generator.STEPS]
    languages = {lang for _e, _n, lang in first}
    assert {"en", "ru", "es"} <= languages
    assert any(any("а" <= ch <= "я" for ch in name.lower()) for _e, name, _l in first)
    for role in (Role.ADMIN, Role.CARE_AGENT, Role.ANALYST, Role.COMMUNITY_MANAGER):
        assert User.objects.filter(role=role).exists()


def test_demo_admin_can_log_in_with_the_printed_password(demo, client):
    # when
    res = client.post(
        "/accounts/login/",
        {"email": generator.ADMIN_EMAIL, "password": generator.DEMO_PASSWORD},
    )
    # then
    assert res.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_same_seed_gives_the_same_members(demo):
    members = list(
        User.objects.filter(role=Role.MEMBER).order_by("pk").values_list("email", flat=True)
    )
    User.objects.filter(role=Role.MEMBER).delete()
    generator.generate(seed=demo.seed)
    again = list(
        User.objects.filter(role=Role.MEMBER).order_by("pk").values_list("email", flat=True)
    )
    assert members == again
