"""Recognition fixtures: people and spaces built through the community services."""

from __future__ import annotations

import pytest

from apiary.accounts.models import Role
from apiary.community import services as cs
from apiary.community.models import SpaceRole


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.APIARY_COMMUNITY_RATE_LIMITS = dict.fromkeys(
        ("post", "comment", "vote", "flag", "share", "upload"), (10000, 60)
    )


@pytest.fixture
def manager(make_user):
    return make_user(Role.COMMUNITY_MANAGER, display_name="Carla Manager")


@pytest.fixture
def person(make_user):
    """A member with a community profile."""

    def make(name: str = "", **extra):
        user = make_user(display_name=name or "Someone", **extra)
        cs.profile_ensure(user=user)
        return user

    return make


@pytest.fixture
def make_space(manager):
    def make(slug: str, visibility: str = "public", *, members=(), moderators=()):
        space = cs.space_create(
            actor=manager,
            name=slug.title(),
            slug=slug,
            visibility=visibility,
            join_policy="invitation" if visibility in ("closed", "secret") else "open",
        )
        for user in members:
            cs.membership_role_set(actor=manager, space=space, user=user, role=SpaceRole.MEMBER)
        for user in moderators:
            cs.membership_role_set(actor=manager, space=space, user=user, role=SpaceRole.MODERATOR)
        return space

    return make


@pytest.fixture
def run_job():
    """One full pass of the recognition job (events, sweep, standings, badges)."""
    from apiary.recognition import services

    def run(**kw):
        return services.recognition_run(**kw)

    return run


def ledger(user, **filters) -> int:
    from django.db.models import Sum

    from apiary.recognition.models import PointEntry

    return PointEntry.objects.filter(user=user, **filters).aggregate(s=Sum("points"))["s"] or 0
