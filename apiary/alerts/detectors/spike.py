"""The spike state machine: pure, minute by minute, shared by the live detector and the preview.

One :class:`SpikeTracker` watches one series (a query's negative volume, optionally in one
country; or a competitor's total volume). It is fed mention counts per minute and answers, at
each evaluation, whether the series *fires*, *escalates* or *resolves*.

The test, at minute ``m`` (``window`` minutes ending at ``m``):

- ``observed`` = mentions in the window;
- the **reference** is the ``baseline`` minutes before the window, restricted to minutes the
  tracker actually watched (``since``); fewer than ``warmup`` of them = no judgement yet;
- ``rate`` = max(median of the reference minutes, the seasonal rate for this hour of day from
  the stored history) — the median is robust to a spike inside the reference, the seasonal
  floor keeps an hour that is busy every day from alerting;
- ``expected`` = ``rate`` × ``window``; ``scale`` = max(√expected (counts are Poisson-like),
  1.4826·MAD·√window (the reference's own spread), 1);
- ``z`` = (observed − expected) / scale. It **fires** when ``observed ≥ min_volume`` and
  ``z ≥ z_threshold``, and no alert of this series fired within the cooldown.

While firing, the baseline is **frozen** at its pre-spike value (otherwise a long spike would
become its own baseline), the **level** rises with z (level 2 at 2× the threshold, 3 at 4×) and
each rise is one escalation. It **resolves** after ``quiet`` consecutive complete minutes with
``z < 1`` over a full window.

Why this agrees with the preview: within a minute the window's earlier minutes are fixed and
the current minute's count only grows, so "the live detector fired during minute m" is the same
as "the end-of-minute evaluation of m fires"; resolution is judged on complete minutes only.
The live loop evaluates the current (partial) minute on every tick — a spike alerts on the next
tick — and each minute once more, complete, when the next one starts; the preview evaluates
each complete minute once.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

MAD_SCALE = 1.4826
RESOLVE_Z = 1.0
ESCALATE_FACTORS = (1.0, 2.0, 4.0)  # × z_threshold for levels 1, 2, 3


@dataclass(frozen=True, slots=True)
class SpikeParams:
    z_threshold: float = 4.0
    min_volume: int = 10
    window: int = 5  # minutes
    baseline: int = 30  # minutes of reference before the window
    warmup: int = 2  # reference minutes needed before judging
    quiet: int = 5  # complete calm minutes to resolve
    cooldown: int = 60  # minutes after a firing before the same series may fire again


@dataclass(slots=True)
class Decision:
    action: str  # "fire" | "escalate" | "resolve" | "update"
    minute: int
    level: int
    numbers: dict


@dataclass
class SpikeTracker:
    params: SpikeParams
    since: int  # the first minute this tracker watched (everything before is unknown)
    seasonal: Callable[[int], float] | None = None  # minute → mentions per minute expected
    counts: dict[int, int] = field(default_factory=dict)
    firing: bool = False
    level: int = 0
    fired_minute: int | None = None
    last_fired_minute: int | None = None
    frozen: tuple[float, float] | None = None  # (expected, scale) at fire time
    peak: int = 0
    quiet_run: int = 0
    last_final: int | None = None

    def add(self, minute: int, n: int) -> None:
        if n > 0:
            self.counts[minute] = self.counts.get(minute, 0) + n

    def reset(self, since: int) -> None:
        """Forget the counts (a clock jump or a stalled loop): watch again from ``since``.
        A firing alert stays firing with its frozen baseline; it can resolve only once a full
        window has been watched again."""
        self.counts.clear()
        self.since = since
        self.quiet_run = 0

    def _trim(self, minute: int) -> None:
        oldest = minute - self.params.window - self.params.baseline
        for m in [m for m in self.counts if m <= oldest]:
            del self.counts[m]

    def _window(self, minute: int) -> int:
        return sum(
            self.counts.get(m, 0) for m in range(minute - self.params.window + 1, minute + 1)
        )

    def baseline_at(self, minute: int) -> tuple[float, float, int, float] | None:
        """(expected, scale, reference minutes, rate) for a window ending at ``minute``."""
        p = self.params
        end = minute - p.window  # last reference minute
        start = max(end - p.baseline + 1, self.since)
        if end < start or end - start + 1 < p.warmup:
            return None
        ref = [self.counts.get(m, 0) for m in range(start, end + 1)]
        median = statistics.median(ref)
        mad = statistics.median(abs(x - median) for x in ref)
        seasonal = self.seasonal(minute) if self.seasonal is not None else 0.0
        rate = max(median, seasonal)
        expected = rate * p.window
        scale = max(math.sqrt(expected), MAD_SCALE * mad * math.sqrt(p.window), 1.0)
        return expected, scale, len(ref), rate

    def _level(self, z: float) -> int:
        level = 0
        for i, factor in enumerate(ESCALATE_FACTORS, start=1):
            if z >= self.params.z_threshold * factor:
                level = i
        return level

    def evaluate(self, minute: int, *, final: bool) -> Decision | None:
        """Judge the window ending at ``minute``; ``final`` = that minute is complete."""
        p = self.params
        if final:
            if self.last_final is not None and minute <= self.last_final:
                return None  # judged already (a repeated or backward minute)
            self.last_final = minute
        self._trim(minute)
        observed = self._window(minute)
        if self.firing:
            expected, scale = self.frozen
            z = (observed - expected) / scale
            self.peak = max(self.peak, observed)
            numbers = self._numbers(minute, observed, expected, scale, z, None)
            level = self._level(z)
            if level > self.level:
                self.level = level
                return Decision("escalate", minute, level, numbers)
            if not final:
                return None
            full = minute - self.since + 1 >= p.window
            if full and z < RESOLVE_Z:
                self.quiet_run += 1
            else:
                self.quiet_run = 0
            if self.quiet_run >= p.quiet:
                self.firing = False
                self.frozen = None
                self.quiet_run = 0
                level, self.level = self.level, 0
                return Decision("resolve", minute, level, numbers)
            return Decision("update", minute, self.level, numbers)
        if observed < p.min_volume:
            return None
        if self.last_fired_minute is not None and minute - self.last_fired_minute < p.cooldown:
            return None
        base = self.baseline_at(minute)
        if base is None:
            return None
        expected, scale, ref_minutes, _rate = base
        z = (observed - expected) / scale
        level = self._level(z)
        if level == 0:
            return None
        self.firing = True
        self.level = level
        self.frozen = (expected, scale)
        self.fired_minute = self.last_fired_minute = minute
        self.peak = observed
        self.quiet_run = 0
        return Decision(
            "fire", minute, level, self._numbers(minute, observed, expected, scale, z, ref_minutes)
        )

    def adopt(self, *, minute: int, expected: float, scale: float, level: int) -> None:
        """Continue an alert that is already open (the detector restarted): keep its frozen
        baseline so it can escalate and resolve, and count its firing for the cooldown."""
        self.firing = True
        self.frozen = (expected, max(scale, 1.0))
        self.level = level
        self.fired_minute = self.last_fired_minute = minute

    def release(self, minute: int) -> None:
        """The alert was resolved by a person: stop firing; the cooldown still applies."""
        self.firing = False
        self.frozen = None
        self.level = 0
        self.quiet_run = 0

    def _numbers(self, minute, observed, expected, scale, z, ref_minutes) -> dict:
        p = self.params
        out = {
            "observed": observed,
            "baseline": round(expected, 2),
            "scale": round(scale, 2),
            "z_score": round(z, 2),
            "window_minutes": p.window,
            "baseline_minutes": p.baseline,
            "z_threshold": p.z_threshold,
            "min_volume": p.min_volume,
            "peak": max(self.peak, observed),
            "minute": minute,
        }
        if ref_minutes is not None:
            out["reference_minutes"] = ref_minutes
        if self.seasonal is not None:
            out["seasonal_per_minute"] = round(self.seasonal(minute), 3)
        return out
