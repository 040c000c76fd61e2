"""Community fixtures: a world of spaces of every visibility and people in every role, built
through the real services (no shortcuts past the rules under test)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import AnonymousUser
from PIL import Image

from apiary.accounts.models import Role
from apiary.community import services
from apiary.community.models import Audience, SpaceRole, Visibility


def png_bytes(size=(8, 8), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """A JPEG carrying EXIF with a GPS block and a camera make."""
    img = Image.new("RGB", (16, 12), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    gps = {1: "N", 2: (55.0, 45.0, 0.0), 3: "E", 4: (37.0, 37.0, 0.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    # Argon2 is deliberately slow; these tests create many people and never check passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.APIARY_COMMUNITY_UPLOAD_DIR = str(tmp_path / "community-uploads")
    # Tests post a lot quickly; the limits themselves are tested explicitly.
    settings.APIARY_COMMUNITY_RATE_LIMITS = dict.fromkeys(
        ("post", "comment", "vote", "flag", "share", "upload"), (10000, 60)
    )


@pytest.fixture
def manager(make_user):
    return make_user(Role.COMMUNITY_MANAGER, display_name="Carla Manager")


ROLES = [
    "anonymous",
    "registered",  # logged in, not a member of the space
    "member",
    "moderator",
    "owner",
    "manager",  # staff community manager
    "admin",  # staff administrator (also has community.manage)
    "care_agent",  # staff without community.manage: an ordinary visitor
    "analyst",
]

VISIBILITIES = ["public", "registered", "closed", "secret", "members_only_post"]


@dataclass
class World:
    people: dict
    spaces: dict = field(default_factory=dict)  # visibility key → Space
    posts: dict = field(default_factory=dict)  # visibility key → published post
    comments: dict = field(default_factory=dict)
    attachments: dict = field(default_factory=dict)
    polls: dict = field(default_factory=dict)
    tag: str = "matrix"

    def user(self, role):
        return self.people[role]


@pytest.fixture
def world(make_user, manager) -> World:
    people = {
        "anonymous": AnonymousUser(),
        "registered": make_user(display_name="Rita Registered"),
        "member": make_user(display_name="Max Member"),
        "moderator": make_user(display_name="Mona Moderator"),
        "owner": make_user(display_name="Olga Owner"),
        "manager": manager,
        "admin": make_user(Role.ADMIN, display_name="Ada Admin"),
        "care_agent": make_user(Role.CARE_AGENT, display_name="Cody Care"),
        "analyst": make_user(Role.ANALYST, display_name="Ana Analyst"),
    }
    for role, user in people.items():
        if role != "anonymous":
            services.profile_ensure(user=user)
    w = World(people=people)
    owner, moderator, member = people["owner"], people["moderator"], people["member"]
    space_vis = {
        "public": Visibility.PUBLIC,
        "registered": Visibility.REGISTERED,
        "closed": Visibility.CLOSED,
        "secret": Visibility.SECRET,
        "members_only_post": Visibility.PUBLIC,
    }
    for key, vis in space_vis.items():
        space = services.space_create(
            actor=manager,
            name=f"Space {key}",
            slug=f"space-{key.replace('_', '-')}",
            visibility=vis,
            join_policy="invitation" if vis in ("closed", "secret") else "open",
        )
        services.membership_role_set(actor=manager, space=space, user=owner, role=SpaceRole.OWNER)
        services.membership_role_set(
            actor=owner, space=space, user=moderator, role=SpaceRole.MODERATOR
        )
        services.membership_role_set(actor=owner, space=space, user=member, role=SpaceRole.MEMBER)
        services.space_leave(user=manager, space=space)  # the manager is staff, not a member
        audience = Audience.MEMBERS if key == "members_only_post" else Audience.EVERYONE
        image = services.attachment_upload(
            user=owner, fileobj=io.BytesIO(png_bytes()), filename=f"{key}.png"
        )
        post = services.post_create(
            author=owner,
            space=space,
            type="discussion",
            title=f"Secret-sauce title {key}",
            body=f"Body of {key}",
            audience=audience,
            tags=[w.tag],
            attachment_ids=[image.pk],
        )
        comment = services.comment_create(author=member, post=post, body=f"Comment on {key}")
        poll = services.post_create(
            author=owner,
            space=space,
            type="poll",
            title=f"Poll {key}",
            audience=audience,
            poll_options=["Yes", "No"],
        )
        w.spaces[key], w.posts[key], w.comments[key] = space, post, comment
        w.attachments[key], w.polls[key] = image, poll
    return w


def expected(role: str, vis: str) -> int:
    """The matrix: 200 allowed, 403 not available (with the ways in), 404 as if missing."""
    if role in ("manager", "admin"):
        return 200
    insider = role in ("member", "moderator", "owner")
    if vis == "public":
        return 200
    if vis == "registered":
        return 403 if role == "anonymous" else 200
    if vis == "closed" or vis == "members_only_post":
        return 200 if insider else 403
    if vis == "secret":
        return 200 if insider else 404
    raise AssertionError(vis)
