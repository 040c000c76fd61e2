"""Fixtures for the care tests: stored mentions through the real pipeline, agents, rules."""

from __future__ import annotations

import pytest
from django.db import transaction

from apiary.accounts.models import Role
from apiary.care import rules
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import Mention
from apiary.listening.services.queries import query_create
from apiary.listening.tests.factories import raw_mention


@pytest.fixture(autouse=True)
def _fresh_caches():
    # The rule cache and lookups live per process; tests change rules and queries freely.
    from apiary.care import intake

    rules.rules_invalidate()
    intake.lookups_invalidate()
    yield
    rules.rules_invalidate()
    intake.lookups_invalidate()


@pytest.fixture
def brand(db):
    return query_create(name="Northwind", kind="brand", text="northwind")


@pytest.fixture
def store():
    """store(raw, …) → the stored Mention rows, through enrichment and the after_store hooks."""

    def run(*raws):
        state = PipelineState()
        with transaction.atomic():
            result = process_mentions(list(raws), state=state)
        rules.rules_invalidate()
        ids = list(result.ids.values())
        return list(Mention.objects.filter(pk__in=ids).order_by("pk"))

    return run


@pytest.fixture
def raw():
    return raw_mention


@pytest.fixture
def agent(make_user):
    return make_user(Role.CARE_AGENT, email="lucia@example.com", display_name="Lucía Fernández")


@pytest.fixture
def agent2(make_user):
    return make_user(Role.CARE_AGENT, email="dmitri@example.com", display_name="Dmitri Volkov")


@pytest.fixture
def manager(make_user):
    return make_user(Role.CARE_MANAGER, email="grace@example.com", display_name="Grace Okafor")


@pytest.fixture
def support_rule(db):
    return rules.rule_create(
        name="Support", conditions={"query_kinds": ["brand"], "intents": ["support"]}
    )
