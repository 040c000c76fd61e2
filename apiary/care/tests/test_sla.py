"""SLA: deadlines in business hours, the pause while waiting on the customer, the countdown
(never negative, even when the clock jumps), and a breach marked and emitted exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from apiary.care import sla
from apiary.care.models import Conversation, ConversationLog, InboxEvent, SlaPolicy

pytestmark = pytest.mark.django_db
# A Monday.
MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def make_conversation(at=MON_9, **kw) -> Conversation:
    c = Conversation(
        platform="bluesky",
        thread_key=f"t-{Conversation.objects.count() + 1}",
        created_at=at,
        updated_at=at,
        last_message_at=at,
        **kw,
    )
    sla.sla_start(c)
    c.save()
    return c


def test_default_is_thirty_minutes_round_the_clock():
    c = make_conversation()
    assert c.sla_policy is None
    assert c.sla_due_at == MON_9 + timedelta(minutes=30)


def test_policy_per_priority_then_default():
    sla.sla_policies_ensure_defaults()
    urgent = make_conversation(priority="urgent")
    low = make_conversation(priority="low")
    assert urgent.sla_due_at == MON_9 + timedelta(minutes=15)
    assert low.sla_due_at == MON_9 + timedelta(minutes=120)
    # the defaults are created once
    assert sla.sla_policies_ensure_defaults() == 0
    assert SlaPolicy.objects.count() == 5


def test_business_hours_move_the_deadline_to_the_next_opening():
    # given 9-18 Madrid time on weekdays
    policy = sla.sla_policy_create(
        name="Office",
        priority="normal",
        first_response_minutes=60,
        business_hours={str(d): [["09:00", "18:00"]] for d in range(1, 6)},
        time_zone="Europe/Madrid",
    )
    # when a conversation opens on Friday at 17:30 Madrid (16:30 UTC)
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    c = make_conversation(at=friday, priority="normal")
    # then 30 minutes count on Friday and 30 on Monday from 09:00 Madrid (08:00 UTC)
    assert c.sla_policy == policy
    assert c.sla_due_at == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)


def test_pause_while_pending_moves_the_deadline_by_the_paused_time():
    c = make_conversation()
    due = c.sla_due_at
    sla.sla_pause(c, MON_9 + timedelta(minutes=10))
    assert sla.sla_state(c, MON_9 + timedelta(hours=5))["state"] == "paused"
    assert sla.sla_state(c, MON_9 + timedelta(hours=5))["remaining_seconds"] == 20 * 60
    sla.sla_resume(c, MON_9 + timedelta(minutes=50))
    assert c.sla_paused_seconds == 40 * 60
    assert c.sla_due_at == due + timedelta(minutes=40)


def test_clock_jump_backwards_never_gives_a_negative_pause_or_countdown():
    c = make_conversation()
    # paused "later" than the resume: the clock went back
    sla.sla_pause(c, MON_9 + timedelta(minutes=20))
    sla.sla_resume(c, MON_9 + timedelta(minutes=5))
    assert c.sla_paused_seconds == 0
    assert c.sla_due_at == MON_9 + timedelta(minutes=30)
    # a clock far before the opening shows the whole window, not more
    state = sla.sla_state(c, MON_9 - timedelta(days=3))
    assert state["state"] == "running" and state["remaining_seconds"] == 30 * 60
    # and far after, breached with zero left, never negative
    late = sla.sla_state(c, MON_9 + timedelta(days=3))
    assert late == {"state": "breached", "due_at": c.sla_due_at, "remaining_seconds": 0}


def test_states_running_warning_met():
    c = make_conversation()
    assert sla.sla_state(c, MON_9 + timedelta(minutes=1))["state"] == "running"
    assert sla.sla_state(c, MON_9 + timedelta(minutes=26))["state"] == "warning"
    c.first_response_at = MON_9 + timedelta(minutes=29)
    assert sla.sla_state(c, MON_9 + timedelta(hours=2))["state"] == "met"
    c.first_response_at = MON_9 + timedelta(minutes=31)
    assert sla.sla_state(c, MON_9 + timedelta(hours=2))["state"] == "breached"


def test_breach_check_marks_and_emits_once():
    # given two overdue conversations, one answered, one paused, one not yet due
    overdue = make_conversation(at=MON_9)
    answered = make_conversation(at=MON_9, first_response_at=MON_9 + timedelta(minutes=5))
    paused = make_conversation(at=MON_9, sla_paused_at=MON_9 + timedelta(minutes=1))
    fresh = make_conversation(at=MON_9 + timedelta(minutes=40))
    now = MON_9 + timedelta(minutes=45)
    # when the check runs twice (two workers, or two ticks)
    first = sla.sla_breach_check(now)
    second = sla.sla_breach_check(now + timedelta(seconds=2))
    # then only the overdue one is breached, once
    assert first == [overdue.pk]
    assert second == []
    overdue.refresh_from_db()
    assert overdue.sla_breached_at == now
    assert InboxEvent.objects.filter(kind="sla.breached").count() == 1
    event = InboxEvent.objects.get(kind="sla.breached")
    assert event.conversation_id == overdue.pk and event.data["overdue_seconds"] == 15 * 60
    assert ConversationLog.objects.filter(action="sla_breached").count() == 1
    for other in (answered, paused, fresh):
        other.refresh_from_db()
        assert other.sla_breached_at is None


def test_clock_jump_forward_breaches_what_is_overdue_by_the_new_clock():
    c = make_conversation(at=MON_9)
    assert sla.sla_breach_check(MON_9 + timedelta(minutes=10)) == []
    assert sla.sla_breach_check(MON_9 + timedelta(days=1)) == [c.pk]
    # and jumping back afterwards does not un-breach it
    assert sla.sla_state(Conversation.objects.get(pk=c.pk), MON_9)["state"] == "breached"


@pytest.mark.parametrize(
    "hours,tz,field",
    [
        ({"8": [["09:00", "18:00"]]}, "UTC", "business_hours"),
        ({"1": [["18:00", "09:00"]]}, "UTC", "business_hours"),
        ({"1": [["09:00", "13:00"], ["12:00", "18:00"]]}, "UTC", "business_hours"),
        ({"1": [["9am", "18:00"]]}, "UTC", "business_hours"),
        ({"1": "09:00-18:00"}, "UTC", "business_hours"),
        ({}, "Mars/Olympus", "time_zone"),
    ],
)
def test_bad_business_hours_are_refused_with_the_field(hours, tz, field):
    with pytest.raises(ValidationError) as exc:
        sla.sla_policy_create(name="x", business_hours=hours, time_zone=tz)
    assert field in exc.value.message_dict


def test_one_active_policy_per_priority():
    sla.sla_policy_create(name="A", priority="high", first_response_minutes=20)
    with pytest.raises(ValidationError) as exc:
        sla.sla_policy_create(name="B", priority="high")
    assert "priority" in exc.value.message_dict
    with pytest.raises(ValidationError):
        sla.sla_policy_create(name="C", first_response_minutes=0)


def test_care_clock_tick_breaches_and_sweeps_and_the_worker_stops():
    import threading

    from apiary.care import tasks
    from apiary.core.workers import WORKER_FACTORIES

    c = make_conversation(at=MON_9)
    out = tasks.care_clock_tick(MON_9 + timedelta(hours=1))
    assert out["breached"] == [c.pk]
    assert isinstance(out["retried"], int)
    # the registered worker returns once stopped (stopped before its first pass: a pass from
    # another thread would wait on this test's open transaction on SQLite)
    run, stop = WORKER_FACTORIES["care-clock"]()
    stop()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)  # generous: a loaded CI machine may start the thread late
    assert not thread.is_alive()


def test_housekeeping_drops_old_feed_rows():
    from apiary.care import events, tasks

    events.emit("presence", data={})
    InboxEvent.objects.update(at=MON_9 - timedelta(days=30))
    events.emit("presence", data={})
    assert tasks.care_housekeeping(MON_9)["events"] == 1
    assert InboxEvent.objects.count() == 1
