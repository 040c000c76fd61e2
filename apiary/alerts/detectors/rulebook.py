"""The active rules and the listening queries they name, cached per process.

The ingestion hook runs for every stored batch and the rate loop every second, so neither may
read the rule table each time: the book is reloaded when the rules' stamp (count, newest
``updated_at``) changes, checked at most every ``CHECK_SECONDS`` (and at once in the process
that changed a rule).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from django.db.models import Count, Max

from ..conditions import effective
from ..models import CARE_KINDS, MENTION_KINDS, RATE_KINDS, AlertRule

CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class CompiledRule:
    id: int
    name: str
    kind: str
    severity: str
    cooldown_minutes: int
    conditions: dict  # effective: the kind's defaults under the rule's own


@dataclass
class Book:
    rules: list[CompiledRule] = field(default_factory=list)
    query_kind: dict[int, str] = field(default_factory=dict)
    query_name: dict[int, str] = field(default_factory=dict)
    query_active: set[int] = field(default_factory=set)

    def of(self, kinds) -> list[CompiledRule]:
        return [r for r in self.rules if r.kind in kinds]

    @property
    def mention_rules(self) -> list[CompiledRule]:
        return self.of(MENTION_KINDS)

    @property
    def rate_rules(self) -> list[CompiledRule]:
        return self.of(RATE_KINDS)

    @property
    def care_rules(self) -> list[CompiledRule]:
        return self.of(CARE_KINDS)

    def watched_queries(self, rule: CompiledRule) -> list[int]:
        c = rule.conditions
        if c.get("query_ids"):
            return [q for q in c["query_ids"] if q in self.query_active]
        kinds = set(c.get("query_kinds") or ())
        return sorted(q for q in self.query_active if self.query_kind.get(q) in kinds)


def compile_book() -> Book:
    from apiary.listening.models import ListeningQuery

    book = Book()
    for r in AlertRule.objects.filter(active=True).order_by("pk"):
        book.rules.append(
            CompiledRule(
                id=r.pk,
                name=r.name,
                kind=r.kind,
                severity=r.severity,
                cooldown_minutes=r.cooldown_minutes,
                conditions=effective(r.kind, r.conditions),
            )
        )
    for q in ListeningQuery.objects.only("id", "kind", "name", "active"):
        book.query_kind[q.pk] = q.kind
        book.query_name[q.pk] = q.name
        if q.active:
            book.query_active.add(q.pk)
    return book


_lock = threading.Lock()
_state: dict = {"book": None, "stamp": None, "checked": 0.0}


def _stamp():
    from apiary.listening.models import ListeningQuery

    rules = AlertRule.objects.aggregate(n=Count("pk"), m=Max("updated_at"))
    queries = ListeningQuery.objects.aggregate(n=Count("pk"), m=Max("updated_at"))
    return (rules["n"], rules["m"], queries["n"], queries["m"])


def get() -> Book:
    clock = time.monotonic()
    with _lock:
        if _state["book"] is not None and clock - _state["checked"] < CHECK_SECONDS:
            return _state["book"]
        stamp = _stamp()
        if _state["book"] is None or stamp != _state["stamp"]:
            _state["book"] = compile_book()
            _state["stamp"] = stamp
        _state["checked"] = clock
        return _state["book"]


def invalidate() -> None:
    with _lock:
        _state["book"] = None
