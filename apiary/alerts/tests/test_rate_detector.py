"""Crisis spike / competitor move on real stored mentions and rollups: firing, escalation of
one alert, self-resolution, cooldown, clock jumps and stalls, and the preview agreeing with
the live detector over the same data."""

from datetime import timedelta

import pytest

from apiary.alerts.detectors.rate import RateDetector
from apiary.alerts.models import Alert, AlertEvent
from apiary.alerts.services import rule_preview

from .conftest import NEG, FakeClock, post, store

pytestmark = pytest.mark.django_db

RULE = {
    "per_country": False,
    "z_score": 4.0,
    "min_volume": 10,
    "window_minutes": 3,
    "baseline_minutes": 10,
    "quiet_minutes": 3,
}
# Negative mentions per minute: a calm 2/min, a spike growing 12 → 30 → 60, calm again, and
# a second spike after the cooldown.
PLAN = [2] * 10 + [12, 30, 60] + [2] * 12 + [30] + [2] * 6


def run_live(t0, plan, *, clock=None, on_minute=None):
    clock = clock or FakeClock(t0)
    detector = RateDetector(clock=clock.now, mono=clock.mono)
    detector.tick()  # the first snapshot: what is already stored is not news
    log = []
    for m, n in enumerate(plan):
        if on_minute:
            on_minute(m, clock, detector)
        at = clock.now() + timedelta(seconds=10)
        if n:
            store(*[post(NEG, at) for _ in range(n)])
        clock.advance(30)
        log.append((m, detector.tick()))
        clock.advance(30)
    clock.advance(1)
    log.append((len(plan), detector.tick()))
    return detector, log


def test_a_negative_spike_opens_one_alert_that_escalates_and_resolves_itself(
    queries, make_rule, t0
):
    # given
    rule = make_rule("crisis_spike", RULE, cooldown_minutes=5, severity="medium")
    # when
    _detector, _log = run_live(t0, PLAN[:20])
    # then: one alert for the whole spike, escalated twice, resolved when calm returned
    alerts = list(Alert.objects.filter(rule=rule))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind == "crisis_spike"
    assert alert.status == "resolved" and alert.auto_resolved
    assert [h["level"] for h in alert.escalation_history] == [1, 2, 3]
    assert [h["severity"] for h in alert.escalation_history] == ["medium", "high", "critical"]
    assert alert.severity == "critical"
    assert alert.escalation_history[0]["observed"] == 16  # 2 + 2 + 12 in the 3-minute window
    assert alert.explanation["peak"] == 102  # 12 + 30 + 60
    assert alert.explanation["baseline"] == 6.0  # 2 a minute × a 3-minute window
    assert alert.explanation["at_resolution"]["z_score"] < 1
    assert alert.query_id == queries.brand.pk
    assert alert.mention_ids, "the alert names the mentions that caused it"
    kinds = list(AlertEvent.objects.filter(alert=alert).values_list("kind", flat=True))
    assert kinds[0] == "opened" and kinds.count("escalated") == 2 and kinds[-1] == "resolved"


def test_fires_on_the_tick_after_the_mentions_arrive(queries, make_rule, t0):
    # given
    make_rule("crisis_spike", RULE)
    # when
    _d, log = run_live(t0, [2] * 10 + [12])
    # then: the minute-10 tick (30 s after the burst) raised it, not a later one
    raised_at = [m for m, out in log if out]
    assert raised_at and raised_at[0] == 10


def test_calm_traffic_never_alerts(queries, make_rule, t0):
    make_rule("crisis_spike", RULE)
    run_live(t0, [3, 2, 4, 3, 2, 3, 4, 2, 3, 3, 4, 2, 3, 2, 4])
    assert not Alert.objects.exists()


def test_cooldown_keeps_a_second_spike_quiet(queries, make_rule, t0):
    make_rule("crisis_spike", RULE, cooldown_minutes=60)
    run_live(t0, PLAN)
    assert Alert.objects.count() == 1


def test_a_second_spike_after_the_cooldown_alerts_again(queries, make_rule, t0):
    make_rule("crisis_spike", RULE, cooldown_minutes=5)
    run_live(t0, PLAN)
    assert Alert.objects.count() == 2


def test_preview_counts_what_the_live_detector_did(queries, make_rule, t0):
    # given: the live detector ran over the stream
    rule = make_rule("crisis_spike", RULE, cooldown_minutes=5)
    run_live(t0, PLAN)
    live = list(Alert.objects.filter(rule=rule).order_by("first_seen_at"))
    # when: the preview replays the stored mentions
    from apiary.alerts.preview import preview

    answer = preview(
        kind="crisis_spike",
        conditions=RULE,
        cooldown_minutes=5,
        days=1,
        now=t0 + timedelta(minutes=len(PLAN) + 1),
    )
    # then
    assert answer["fires"] == len(live) == 2
    assert sorted(e["at"] for e in answer["examples"]) == [
        a.first_seen_at.isoformat() for a in live
    ]
    assert sum(d["fires"] for d in answer["by_day"]) == 2


def test_rule_preview_service_validates_and_answers(queries, t0):
    answer = rule_preview(kind="crisis_spike", conditions=RULE, cooldown_minutes=5)
    assert answer["fires"] == 0 and len(answer["by_day"]) in (7, 8)
    with pytest.raises(Exception) as exc:
        rule_preview(kind="crisis_spike", conditions={**RULE, "window_minutes": 30})
    assert "window_minutes" in exc.value.message_dict


def test_per_country_series_alert_separately(queries, make_rule, t0):
    make_rule("crisis_spike", {**RULE, "per_country": True})
    run_live(t0, [2] * 10 + [30])
    keys = sorted(Alert.objects.values_list("dedup_key", flat=True))
    assert len(keys) == 2
    assert keys[0].endswith(":*:negative") or keys[1].endswith(":*:negative")
    assert any(":ES:" in k for k in keys)
    assert "in ES" in Alert.objects.get(country="ES").title


def test_competitor_volume_spike_is_a_competitor_move(queries, make_rule, t0):
    from .conftest import NEG as _unused  # noqa: F401

    make_rule("competitor_move", {**RULE, "measure": ["volume"]})
    clock = FakeClock(t0)
    detector = RateDetector(clock=clock.now, mono=clock.mono)
    detector.tick()
    for m in range(11):
        n = 2 if m < 10 else 40
        at = clock.now() + timedelta(seconds=10)
        store(*[post("Blue Harbor coffee opens a new shop {n}", at) for _ in range(n)])
        clock.advance(30)
        detector.tick()
        clock.advance(30)
    alert = Alert.objects.get()
    assert alert.kind == "competitor_move" and alert.query_id == queries.harbor.pk
    assert "Blue Harbor" in alert.title


def test_a_wall_clock_jump_backwards_is_no_alert_storm(queries, make_rule, t0):
    # given: an hour of history two hours back (what a clock set back would re-read)
    make_rule("crisis_spike", RULE)
    store(*[post(NEG, t0 - timedelta(minutes=90)) for _ in range(200)])

    def jump(m, clock, detector):
        if m == 6:
            clock.jump_wall(-2 * 3600)  # NTP sets the clock back two hours

    # when
    detector, _log = run_live(t0, [2] * 14, on_minute=jump)
    # then
    assert detector.jumps == 1
    assert not Alert.objects.exists()


def test_a_stalled_loop_does_not_pour_minutes_of_mentions_into_one(queries, make_rule, t0):
    # given
    make_rule("crisis_spike", RULE)
    clock = FakeClock(t0)
    detector = RateDetector(clock=clock.now, mono=clock.mono)
    detector.tick()
    for _m in range(8):
        store(*[post(NEG, clock.now()) for _ in range(2)])
        clock.advance(60)
        detector.tick()
    # when: the loop stalls for 10 minutes while 2 a minute keep arriving
    for _m in range(10):
        store(*[post(NEG, clock.now()) for _ in range(2)])
        clock.advance(60)
    detector.tick()
    clock.advance(60)
    detector.tick()
    # then
    assert detector.jumps == 1
    assert not Alert.objects.exists()


def test_a_far_forward_jump_is_no_alert_storm(queries, make_rule, t0):
    make_rule("crisis_spike", RULE)

    def jump(m, clock, detector):
        if m == 5:
            clock.jump_wall(5 * 3600)

    detector, _log = run_live(t0 - timedelta(hours=6), [2] * 12, on_minute=jump)
    assert detector.jumps == 1
    assert not Alert.objects.exists()


def test_a_restarted_detector_adopts_the_open_alert_and_resolves_it(queries, make_rule, t0):
    # given: a spike alert opened by one detector process
    make_rule("crisis_spike", RULE)
    clock = FakeClock(t0)
    run_live(t0, [2] * 10 + [30], clock=clock)
    alert = Alert.objects.get()
    assert alert.status == "open"
    # when: a new process (fresh detector) watches calm minutes
    fresh = RateDetector(clock=clock.now, mono=clock.mono)
    fresh.tick()
    for _m in range(8):
        store(*[post(NEG, clock.now() + timedelta(seconds=5)) for _ in range(2)])
        clock.advance(60)
        fresh.tick()
    # then: it resolved that alert instead of leaving it open or opening another
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.auto_resolved
    assert Alert.objects.count() == 1


def test_an_alert_resolved_by_a_person_is_not_reopened_within_the_cooldown(
    queries, make_rule, t0, admin_user
):
    from apiary.alerts.services import alert_resolve

    make_rule("crisis_spike", RULE, cooldown_minutes=60)

    def resolve(m, clock, detector):
        if m == 12:
            alert_resolve(alert_id=Alert.objects.get().pk, user=admin_user, note="on it")
            clock.advance(0)
            detector.status_checked = -1e9

    run_live(t0, [2] * 10 + [30, 30, 30, 30, 30], on_minute=resolve)
    assert Alert.objects.count() == 1
    assert Alert.objects.get().resolved_by == admin_user
