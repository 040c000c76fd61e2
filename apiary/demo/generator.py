"""The demo data generator: deterministic for a seed, idempotent when run again.

Each domain adds one module under ``apiary/demo/steps/`` and lists its step in ``STEPS``; a step
takes the shared :class:`DemoContext` and returns a one-line summary for the report.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from apiary.demo.steps import accounts as accounts_step
from apiary.demo.steps import alerts as alerts_step
from apiary.demo.steps import care as care_step
from apiary.demo.steps import community as community_step
from apiary.demo.steps import customers as customers_step
from apiary.demo.steps import listening as listening_step
from apiary.demo.steps import recognition as recognition_step
from apiary.moderation import demo as moderation_demo

DEMO_PASSWORD = "apiary-demo-2026"  # noqa: S105  (printed on purpose: demo data only)
ADMIN_EMAIL = "admin@apiary.local"


@dataclass
class DemoContext:
    seed: int
    rng: random.Random
    password: str = DEMO_PASSWORD
    data: dict = field(default_factory=dict)


STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("accounts", accounts_step.run),
    ("customers", customers_step.run),
    ("listening", listening_step.run),
    ("care", care_step.run),
    ("alerts", alerts_step.run),
    ("community", community_step.run),
    ("moderation", moderation_demo.run),
    # after community and moderation: the job turns their content and decisions into points
    ("recognition", recognition_step.run),
]


def generate(*, seed: int = 2026, progress: Callable[[str], None] | None = None) -> list[str]:
    ctx = DemoContext(seed=seed, rng=random.Random(seed))
    report = []
    for name, step in STEPS:
        with transaction.atomic():
            summary = step(ctx)
        line = f"{name}: {summary}"
        report.append(line)
        if progress:
            progress(line)
    return report
