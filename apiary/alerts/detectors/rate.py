"""Rate detectors: crisis spike and competitor move, live, in the ``alerts-detectors`` loop.

Each tick (about every second) reads **only the current and the previous hour** of the hourly
rollups for the watched queries (one grouped query on the ``(query_id, hour)`` index) and turns
the growth since the previous tick into per-minute counts for each series — a query's negative
volume in total and per country, or a competitor's total volume — fed to one
:class:`~.spike.SpikeTracker` per rule and series. The seasonal floor (the same hour of day over
the last ``SEASONAL_DAYS`` days: 28 seeks on the index, not a scan of history) is recomputed when
the hour changes and at most every ``SEASONAL_REFRESH`` seconds. So a tick costs the number of
rules × queries × countries, whatever the history holds.

**Clock jumps.** Rates are minutes of the wall clock, but every tick also reads the monotonic
clock: when the two disagree by more than ``JUMP_SECONDS`` (the wall clock was set back or far
forward) or the loop stalled longer than ``MAX_GAP_SECONDS``, the growth since the last tick is
not attributed to one minute (that would be a false spike): the rollup snapshot is retaken and
every tracker starts watching again (``SpikeTracker.reset``), open alerts keep their frozen
baselines. Small backward steps never move the minute back, so no window is ever negative.

**Several processes.** Only the holder of the ``rates`` lease (``DetectorState``) runs the
rate and care detectors; another process takes over when the lease runs out. Restarted
trackers adopt the open alerts of their series (``SpikeTracker.adopt``) so they keep escalating
and resolve them.
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import LIVE_STATUSES, Alert, DetectorState, Kind, severity_raise
from . import rulebook
from .spike import SpikeParams, SpikeTracker

logger = logging.getLogger(__name__)

SEASONAL_DAYS = 28
SEASONAL_REFRESH = 600.0
JUMP_SECONDS = 30.0
# A longer gap than this between ticks is a stall: its growth is not put into one minute. A
# shorter one is harmless (it lands in the same window the minutes it came from would).
MAX_GAP_SECONDS = 90.0
STATUS_CHECK_SECONDS = 5.0  # how often firing trackers look for alerts resolved by people
EVIDENCE = 10  # mentions attached to a spike alert when it fires or escalates
LEASE_SECONDS = 15.0


def minute_of(t: datetime) -> int:
    return int(t.timestamp() // 60)


def minute_start(m: int) -> datetime:
    return datetime.fromtimestamp(m * 60, tz=UTC)


def params_for(rule) -> SpikeParams:
    c = rule.conditions
    return SpikeParams(
        z_threshold=float(c["z_score"]),
        min_volume=int(c["min_volume"]),
        window=int(c["window_minutes"]),
        baseline=int(c["baseline_minutes"]),
        quiet=int(c["quiet_minutes"]),
        cooldown=int(rule.cooldown_minutes),
    )


def series_keys(rule, query_id: int, country: str, sentiment: str) -> list[tuple]:
    """The series of ``rule`` a rollup cell counts towards: ``(query, country | "*", measure)``."""
    c = rule.conditions
    if c.get("countries") and country not in c["countries"]:
        return []
    out = []
    for measure in c["measure"]:
        if measure == "negative" and sentiment != "negative":
            continue
        out.append((query_id, "*", measure))
        if c.get("per_country") and country:
            out.append((query_id, country, measure))
    return out


def dedup_key(rule_id: int, key: tuple) -> str:
    query_id, country, measure = key
    return f"spike:r{rule_id}:q{query_id}:{country}:{measure}"


def title_for(rule, key: tuple, numbers: dict, query_name: str) -> str:
    _q, country, measure = key
    where = "" if country == "*" else _(" in %(country)s") % {"country": country}
    if rule.kind == Kind.COMPETITOR_MOVE:
        what = (
            _("Competitor move: %(q)s volume spike%(where)s")
            if measure == "volume"
            else _("Competitor move: negative spike about %(q)s%(where)s")
        )
    else:
        what = _("Crisis: negative spike about %(q)s%(where)s")
    title = what % {"q": query_name, "where": where}
    return (
        title
        + " — "
        + _("%(observed)s mentions in %(window)s min (baseline %(baseline)s)")
        % {
            "observed": numbers["observed"],
            "window": numbers["window_minutes"],
            "baseline": numbers["baseline"],
        }
    )


def seasonal_profile(rules, book, *, hours: list[datetime]) -> dict[tuple[int, tuple], float]:
    """Median mentions per minute at the given past hours (the same hour of day on earlier
    days), per (rule, series): one grouped query over just those hours."""
    queries = sorted({q for r in rules for q in book.watched_queries(r)})
    if not queries or not hours:
        return {}
    from apiary.listening.models import MentionRollup

    per: dict[tuple, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        MentionRollup.objects.filter(query_id__in=queries, hour__in=hours)
        .values("query_id", "hour", "country", "sentiment")
        .annotate(n=Sum("count"))
    )
    for row in rows:
        for rule in rules:
            if row["query_id"] not in book.watched_queries(rule):
                continue
            for key in series_keys(rule, row["query_id"], row["country"], row["sentiment"]):
                per[(rule.id, key)][row["hour"]] += row["n"]
    out = {}
    for k, by_hour in per.items():
        counts = [by_hour.get(h, 0) for h in hours]
        out[k] = statistics.median(counts) / 60.0
    return out


class RateDetector:
    """The live crisis-spike / competitor-move detector (one per process; ``tick`` is cheap)."""

    def __init__(self, *, clock=None, mono=None) -> None:
        self.clock = clock or timezone.now
        self.mono = mono or time.monotonic
        self.trackers: dict[tuple[int, tuple], SpikeTracker] = {}
        self.alert_ids: dict[tuple[int, tuple], int] = {}
        self.rule_params: dict[int, SpikeParams] = {}
        self.snapshot: dict[tuple, int] | None = None
        self.snapshot_start: datetime | None = None
        self.since: int | None = None  # the minute watching (re)started
        self.minute: int | None = None
        self.last_wall: datetime | None = None
        self.last_mono: float | None = None
        self.seasonal: dict = {}
        self.seasonal_hour: datetime | None = None
        self.seasonal_at = 0.0
        self.status_checked = 0.0
        self.jumps = 0

    # --- reading the rollups ------------------------------------------------------------

    def _read(self, queries: list[int], start: datetime) -> dict[tuple, int]:
        from apiary.listening.models import MentionRollup

        rows = (
            MentionRollup.objects.filter(query_id__in=queries, hour__gte=start)
            .values("query_id", "hour", "country", "sentiment")
            .annotate(n=Sum("count"))
        )
        return {(r["query_id"], r["hour"], r["country"], r["sentiment"]): r["n"] for r in rows}

    def _deltas(self, current: dict, start: datetime) -> dict[tuple, int]:
        """Growth per rollup cell since the last snapshot; a cell first seen counts in full only
        if the last read covered its hour (it was 0 then), never a negative growth."""
        old = self.snapshot or {}
        prev_start = self.snapshot_start
        out = {}
        for key, n in current.items():
            if key in old:
                d = n - old[key]
            elif prev_start is not None and key[1] >= prev_start:
                d = n
            else:
                d = 0
            if d > 0:
                out[key] = d
        return out

    # --- the tick -----------------------------------------------------------------------

    def _restart(self, minute: int) -> None:
        self.since = minute
        for t in self.trackers.values():
            t.reset(minute)

    def tick(self) -> list:
        """One pass; returns the alerts raised or resolved (for tests and logs)."""
        wall, mono = self.clock(), self.mono()
        book = rulebook.get()
        rules = book.rate_rules
        jumped = False
        if self.last_wall is not None:
            dw = (wall - self.last_wall).total_seconds()
            dm = mono - self.last_mono
            if abs(dw - dm) > JUMP_SECONDS or dm > MAX_GAP_SECONDS:
                jumped = True
                self.jumps += 1
                logger.warning(
                    "Alerts: clock jump or stall (wall %+.0fs, monotonic %+.0fs); re-baselining",
                    dw,
                    dm,
                )
        self.last_wall, self.last_mono = wall, mono
        minute = minute_of(wall)
        if jumped:
            self.minute = minute
            self.snapshot = None
            self.seasonal_hour = None
            self._restart(minute)
        elif self.minute is not None and minute < self.minute:
            minute = self.minute  # a small step back: the minute never goes backwards
        if self.since is None:
            self.since = minute
        self._sync_rules(rules, minute)
        if not rules:
            self.minute = minute
            return []
        queries = sorted({q for r in rules for q in book.watched_queries(r)})
        hour = wall.replace(minute=0, second=0, microsecond=0)
        start = hour - timedelta(hours=1)
        current = self._read(queries, start) if queries else {}
        deltas = self._deltas(current, start) if self.snapshot is not None else {}
        self.snapshot, self.snapshot_start = current, start
        self._refresh_seasonal(rules, book, hour)
        out = []
        # Complete the minutes that ended since the last tick (judged once, as the preview does).
        if self.minute is not None and minute > self.minute:
            for m in range(self.minute, minute):
                out += self._evaluate(rules, book, m, final=True)
        self.minute = minute
        for (query_id, _hour, country, sentiment), n in deltas.items():
            for rule in rules:
                if query_id not in book.watched_queries(rule):
                    continue
                for key in series_keys(rule, query_id, country, sentiment):
                    self._tracker(rule, key).add(minute, n)
        out += self._evaluate(rules, book, minute, final=False)
        self._check_statuses()
        return out

    def _sync_rules(self, rules, minute: int) -> None:
        ids = {r.id for r in rules}
        for k in [k for k in self.trackers if k[0] not in ids]:
            del self.trackers[k]
            self.alert_ids.pop(k, None)
        for r in rules:
            p = params_for(r)
            if self.rule_params.get(r.id) != p:
                # New or changed thresholds: its series start over with the new parameters.
                for k in [k for k in self.trackers if k[0] == r.id]:
                    del self.trackers[k]
                    self.alert_ids.pop(k, None)
                self.rule_params[r.id] = p

    def _tracker(self, rule, key: tuple) -> SpikeTracker:
        k = (rule.id, key)
        t = self.trackers.get(k)
        if t is None:
            t = SpikeTracker(
                self.rule_params[rule.id],
                since=self.since,
                seasonal=lambda _m, k=k: self.seasonal.get(k, 0.0),
            )
            self.trackers[k] = t
            self._adopt(rule, key, t)
        return t

    def _adopt(self, rule, key: tuple, t: SpikeTracker) -> None:
        alert = (
            Alert.objects.filter(dedup_key=dedup_key(rule.id, key), status__in=LIVE_STATUSES)
            .only("pk", "explanation", "escalation_level", "first_seen_at")
            .first()
        )
        if alert is not None:
            e = alert.explanation or {}
            t.adopt(
                minute=minute_of(alert.first_seen_at),
                expected=float(e.get("baseline", 0.0)),
                scale=float(e.get("scale", 1.0)),
                level=alert.escalation_level,
            )
            self.alert_ids[(rule.id, key)] = alert.pk

    def _refresh_seasonal(self, rules, book, hour: datetime) -> None:
        clock = self.mono()
        if self.seasonal_hour == hour and clock - self.seasonal_at < SEASONAL_REFRESH:
            return
        hours = [hour - timedelta(days=d) for d in range(1, SEASONAL_DAYS + 1)]
        self.seasonal = seasonal_profile(rules, book, hours=hours)
        self.seasonal_hour, self.seasonal_at = hour, clock

    def _evaluate(self, rules, book, minute: int, *, final: bool) -> list:
        from ..services import Signal, alert_auto_resolve, alerts_raise

        by_id = {r.id: r for r in rules}
        signals, resolved = [], []
        for k, t in list(self.trackers.items()):
            rule = by_id.get(k[0])
            if rule is None:
                continue
            d = t.evaluate(minute, final=final)
            if d is None:
                continue
            key = k[1]
            if d.action == "resolve":
                alert_id = self.alert_ids.pop(k, None)
                if alert_id is not None:
                    resolved.append((alert_id, d.numbers))
                continue
            numbers = {**d.numbers, "query": book.query_name.get(key[0], str(key[0]))}
            numbers["measure"] = key[2]
            numbers["country"] = "" if key[1] == "*" else key[1]
            evidence = (
                self._evidence(key, minute, t.params.window)
                if d.action in ("fire", "escalate")
                else []
            )
            signals.append(
                (
                    k,
                    Signal(
                        kind=rule.kind,
                        dedup_key=dedup_key(rule.id, key),
                        severity=severity_raise(rule.severity, d.level - 1),
                        title=title_for(rule, key, numbers, numbers["query"]),
                        at=minute_start(minute),
                        rule_id=rule.id,
                        cooldown_minutes=rule.cooldown_minutes,
                        explanation=numbers,
                        mention_ids=evidence,
                        query_id=key[0],
                        country=numbers["country"],
                        mention_id=evidence[0] if evidence else None,
                        level=d.level,
                        suggested_actions=SUGGESTED[rule.kind],
                        replace_explanation=True,
                    ),
                )
            )
        out = []
        if signals:
            with transaction.atomic():
                raised = alerts_raise([s for _k, s in signals])
            by_key = {r.alert.dedup_key: r.alert for r in raised}
            for k, s in signals:
                alert = by_key.get(s.dedup_key)
                if alert is not None:
                    self.alert_ids[k] = alert.pk
            out += raised
        for alert_id, numbers in resolved:
            with transaction.atomic():
                alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
                if alert is not None and alert.status in LIVE_STATUSES:
                    alert_auto_resolve(
                        alert=alert,
                        numbers=numbers,
                        note=_("Back to normal: %(observed)s in %(window)s min, baseline %(b)s.")
                        % {
                            "observed": numbers["observed"],
                            "window": numbers["window_minutes"],
                            "b": numbers["baseline"],
                        },
                    )
                    out.append(alert)
        return out

    def _evidence(self, key: tuple, minute: int, window: int) -> list[int]:
        from apiary.listening.models import Mention

        query_id, country, measure = key
        since = minute_start(minute - window + 1) - timedelta(minutes=1)
        qs = Mention.objects.filter(matches__query_id=query_id, created_at__gte=since)
        if measure == "negative":
            qs = qs.filter(sentiment="negative")
        if country != "*":
            qs = qs.filter(country=country)
        # The most-followed first: the posts that carry the spike furthest.
        return list(
            qs.order_by("-author_followers", "-created_at").values_list("pk", flat=True)[:EVIDENCE]
        )

    def _check_statuses(self) -> None:
        clock = self.mono()
        if not self.alert_ids or clock - self.status_checked < STATUS_CHECK_SECONDS:
            return
        self.status_checked = clock
        gone = set(
            Alert.objects.filter(pk__in=list(self.alert_ids.values()))
            .filter(~Q(status__in=LIVE_STATUSES))
            .values_list("pk", flat=True)
        )
        for k, alert_id in list(self.alert_ids.items()):
            if alert_id in gone:
                # Resolved by a person while still high: stop following it; the cooldown
                # decides when this series may alert again.
                t = self.trackers.get(k)
                if t is not None:
                    t.release(self.minute or 0)
                del self.alert_ids[k]


SUGGESTED = {
    Kind.CRISIS_SPIKE: ["escalate_manager", "reply_template", "open_conversation"],
    Kind.COMPETITOR_MOVE: ["reply_template", "offer_discount", "escalate_manager"],
}


# --- The loop ------------------------------------------------------------------------------


def lease_acquire(name: str, holder: str, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    DetectorState.objects.get_or_create(name=name)
    got = (
        DetectorState.objects.filter(name=name)
        .filter(Q(holder=holder) | Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(holder=holder, lease_until=now + timedelta(seconds=LEASE_SECONDS))
    )
    if not got:
        # A lease "held" until far in the future by a clock that jumped: take it when the
        # holder's lease is absurdly long (more than twice the lease ahead of us).
        got = DetectorState.objects.filter(
            name=name, lease_until__gt=now + timedelta(seconds=2 * LEASE_SECONDS)
        ).update(holder=holder, lease_until=now + timedelta(seconds=LEASE_SECONDS))
    return bool(got)


def detectors_worker():
    """``WORKER_FACTORIES`` entry ``alerts-detectors``: the rate and care detectors, ~1 s."""
    import threading

    from django.db import close_old_connections

    from .care import CareDetector

    stop = threading.Event()
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run() -> None:
        rates: RateDetector | None = None
        care = CareDetector()
        while not stop.is_set():
            started = time.monotonic()
            try:
                if lease_acquire("rates", holder):
                    if rates is None:
                        rates = RateDetector()
                    rates.tick()
                    care.tick()
                else:
                    rates = None  # another process leads; start afresh if we take over
            except Exception:
                logger.exception("Alert detectors tick failed")
            finally:
                close_old_connections()
            stop.wait(max(0.05, 1.0 - (time.monotonic() - started)))

    return run, stop.set
