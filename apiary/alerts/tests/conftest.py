"""Alerts test helpers: mentions stored through the real pipeline, queries, rules, clocks."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction

from apiary.alerts.detectors import rulebook
from apiary.alerts.services import rule_create
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.services.queries import query_create
from apiary.listening.tests.factories import raw_mention

NEG = "Northwind coffee is awful, terrible service #{n}"
BUY = "Where can I buy Northwind coffee in Madrid? #{n}"
POS = "I love Northwind coffee, wonderful espresso #{n}"
_seq = itertools.count(1)


def store(*raws):
    with transaction.atomic():
        return process_mentions(list(raws), state=PipelineState())


def post(template: str, at: datetime, **changes):
    return raw_mention(text=template.format(n=next(_seq)), created_at=at, received_at=at, **changes)


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Rule books and delivery targets are cached per process; each test starts clean.
    from apiary.alerts import delivery

    rulebook.invalidate()
    delivery.targets_invalidate()
    yield
    rulebook.invalidate()
    delivery.targets_invalidate()


@pytest.fixture
def queries(db):
    return SimpleNamespace(
        brand=query_create(name="Northwind", kind="brand", text="northwind"),
        harbor=query_create(name="Blue Harbor", kind="competitor", text='"blue harbor"'),
    )


@pytest.fixture
def make_rule(db):
    def make(kind, conditions=None, **extra):
        extra.setdefault("name", f"{kind} rule {next(_seq)}")
        return rule_create(kind=kind, conditions=conditions or {}, **extra)

    return make


class FakeClock:
    """Wall and monotonic clocks moved by the test (a jump moves only the wall clock)."""

    def __init__(self, start: datetime) -> None:
        self.wall = start
        self.mono_s = 1000.0

    def now(self) -> datetime:
        return self.wall

    def mono(self) -> float:
        return self.mono_s

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono_s += seconds

    def jump_wall(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)


@pytest.fixture
def t0():
    # Whole minutes, a couple of hours ago: rollup hours are past, nothing is "in the future".
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=2)
