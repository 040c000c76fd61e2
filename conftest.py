"""Fixtures shared by every app's tests. Real database (SQLite or PostgreSQL, by DATABASE_URL)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import pytest
from django.test import Client

from apiary.accounts import services
from apiary.accounts.models import Role

PASSWORD = "correct-horse-battery-9"
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _english_by_default(settings):
    # Tests assert English messages unless they ask for another language explicitly.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _moderation_holds_off(settings):
    # Tests post as brand-new members all the time: apiary.moderation's first-post hold and its
    # posting limits would hold or refuse them. apiary/moderation/tests turn them back on.
    settings.APIARY_MODERATION = {
        "first_post_hold": False,
        "posts_per_minute": 10000,
        "posts_per_hour": 10000,
        "comments_per_minute": 10000,
        "comments_per_hour": 10000,
    }


@pytest.fixture(autouse=True)
def _fresh_pipeline_state():
    # The consumer caches the identity index for 30 s per process; a test must not see the one
    # an earlier test built on its own (since rolled back) data.
    from apiary.listening.consumer import pipeline_state_reset

    pipeline_state_reset()
    yield


@pytest.fixture
def make_user(db):
    def make(role: str = Role.MEMBER, email: str | None = None, **extra):
        email = email or f"user{next(_seq)}@example.com"
        if role == Role.MEMBER:
            return services.member_register(email=email, password=PASSWORD, **extra)
        return services.staff_user_create(email=email, password=PASSWORD, role=role, **extra)

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user(Role.ADMIN, email="admin@example.com", display_name="Ada Admin")


@pytest.fixture
def member(make_user):
    return make_user(Role.MEMBER, email="member@example.com", display_name="Mia Member")


@pytest.fixture
def token_for(db):
    def make(user) -> str:
        _token, raw = services.api_token_create(user=user, name="test")
        return raw

    return make


@pytest.fixture
def api(token_for):
    """A JSON client: ``api(user).get(path)``; with no user it is anonymous."""

    class JsonClient:
        def __init__(self, user=None, language: str | None = None):
            headers = {}
            if user is not None:
                headers["Authorization"] = f"Bearer {token_for(user)}"
            if language:
                headers["Accept-Language"] = language
            self.client = Client(headers=headers)

        def _send(self, method, path, data=None, raw=None, **kw):
            body = (
                raw
                if raw is not None
                else (None if data is None else __import__("json").dumps(data))
            )
            fn = getattr(self.client, method)
            if body is None:
                return fn(path, **kw)
            return fn(path, data=body, content_type="application/json", **kw)

        def get(self, path, **kw):
            return self.client.get(path, **kw)

        def post(self, path, data=None, **kw):
            return self._send("post", path, data, **kw)

        def patch(self, path, data=None, **kw):
            return self._send("patch", path, data, **kw)

        def put(self, path, data=None, **kw):
            return self._send("put", path, data, **kw)

        def delete(self, path, **kw):
            return self.client.delete(path, **kw)

    return JsonClient


# --- The demo, built once per session ------------------------------------------------------------
# A full `apiary demo` costs minutes; the tests that read it share one, built on first use. It is
# committed to the test database, so those tests run after all the others (which still start from
# an empty database), and each of them still rolls its own changes back. See docs/ARCHITECTURE.md
# "Testing".

DEMO_SEED = 2026  # the seed `apiary demo` uses: the tests read what a newcomer sees


@dataclass
class Demo:
    seed: int
    report: list[str]  # generator.generate's lines, "<step>: <summary>"
    seconds: dict[str, float]  # wall time of each step

    def summary(self, step: str) -> str:
        return next(line.split(": ", 1)[1] for line in self.report if line.startswith(f"{step}: "))


def pytest_collection_modifyitems(config, items):
    # A stable sort: the order within each group stays as collected.
    items.sort(key=lambda item: "demo_data" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def demo_data(request, django_db_setup, django_db_blocker) -> Demo:
    from apiary.demo import generator

    seconds: dict[str, float] = {}
    started = [time.monotonic()]

    def progress(line: str) -> None:
        now = time.monotonic()
        seconds[line.split(":", 1)[0]] = now - started[0]
        started[0] = now

    with django_db_blocker.unblock():
        report = generator.generate(seed=DEMO_SEED, progress=progress)
    yield Demo(seed=DEMO_SEED, report=report, seconds=seconds)
    if request.config.getvalue("reuse_db"):
        # A kept test database must not hand the demo to the next run's ordinary tests.
        from django.core.management import call_command

        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def demo(demo_data, db, request) -> Demo:
    """The shared demo; the test's own writes are rolled back as usual."""
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and (
        marker.kwargs.get("transaction") or marker.kwargs.get("serialized_rollback")
    )
    if transactional or {"transactional_db", "live_server"} & set(request.fixturenames):
        pytest.fail("the shared demo is for non-transactional tests (a flush would erase it)")
    return demo_data
