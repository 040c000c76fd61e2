"""Moderation fixtures: two public spaces with owners, moderators and members, built through the
real community services."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from apiary.accounts.models import Role
from apiary.community import services
from apiary.community.models import SpaceRole

FAST = dict.fromkeys(
    ("posts_per_minute", "posts_per_hour", "comments_per_minute", "comments_per_hour"), 10000
)


@pytest.fixture(autouse=True)
def _fast_people(settings):
    # Argon2 is slow on purpose; these tests never check passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.APIARY_COMMUNITY_RATE_LIMITS = dict.fromkeys(
        ("post", "comment", "vote", "flag", "share", "upload"), (10000, 60)
    )


@pytest.fixture
def moderation_settings(settings):
    """Set ``APIARY_MODERATION`` for one test: ``moderation_settings(first_post_hold=True)``."""

    def apply(**values):
        settings.APIARY_MODERATION = {"first_post_hold": False, **FAST, **values}

    return apply


@dataclass
class Place:
    manager: object
    owner: object
    moderator: object
    other_moderator: object
    members: list
    outsider: object
    space: object
    other: object
    posts: list = field(default_factory=list)


@pytest.fixture
def place(make_user) -> Place:
    manager = make_user(Role.COMMUNITY_MANAGER, display_name="Carla Manager")
    owner = make_user(display_name="Olga Owner")
    moderator = make_user(display_name="Mona Moderator")
    other_moderator = make_user(display_name="Otto Othermod")
    members = [make_user(display_name=f"Member {i}") for i in range(5)]
    outsider = make_user(display_name="Rita Outsider")
    for user in [manager, owner, moderator, other_moderator, *members, outsider]:
        services.profile_ensure(user=user)
    space = services.space_create(actor=manager, name="Coffee", slug="coffee")
    other = services.space_create(actor=manager, name="Tea", slug="tea")
    for s in (space, other):
        services.membership_role_set(actor=manager, space=s, user=owner, role=SpaceRole.OWNER)
        services.space_leave(user=manager, space=s)
    services.membership_role_set(actor=owner, space=space, user=moderator, role=SpaceRole.MODERATOR)
    services.membership_role_set(
        actor=owner, space=other, user=other_moderator, role=SpaceRole.MODERATOR
    )
    for m in members:
        services.space_join(user=m, space=space)
    p = Place(manager, owner, moderator, other_moderator, members, outsider, space, other)
    p.posts = [
        services.post_create(
            author=members[0], space=space, title="Grinder advice", body="Which burr grinder?"
        ),
        services.post_create(
            author=members[1],
            space=space,
            title="Roast levels",
            body="Light or dark?",
            tags=["roast"],
        ),
    ]
    return p
