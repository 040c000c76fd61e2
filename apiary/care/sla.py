"""SLA: first-response deadlines per priority, business hours, the pause while a conversation
waits on the customer, the live countdown (``sla_state``) and the breach check.

How the deadline is kept:

- When a conversation opens, ``sla_start`` picks the active policy of its priority (else the
  default policy, the one with no priority; else a built-in 30 minutes) and sets ``sla_due_at``
  = the opening time plus the target, counted in business seconds of the policy's hours.
- While ``status = pending`` (waiting on the customer) the clock stops: ``sla_pause`` stamps
  ``sla_paused_at``; ``sla_resume`` adds the *business* seconds of the pause to
  ``sla_paused_seconds`` and moves the deadline by them. So the deadline is always
  ``opened + target + paused``, in business time, however many pauses there were.
- ``sla_breach_check`` sets ``sla_breached_at`` once per conversation (a conditional
  ``UPDATE … WHERE sla_breached_at IS NULL`` on rows it locked) and emits ``sla.breached``, which
  the alerts app turns into an alert: a breach alerts exactly once, with any number of workers.

A clock that jumps backwards never yields a negative countdown or a negative pause; one that
jumps forwards breaches what is really overdue by the new clock (that is what customers see).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Conversation, ConversationLog, Priority, SlaPolicy, Status

DEFAULT_FIRST_RESPONSE_MINUTES = 30
# The countdown turns "warning" in its last 5 minutes (a fixed span, so the inbox's SLA filter
# can say the same thing in SQL without knowing each policy).
WARNING_SECONDS = 300
BREACH_BATCH = 500
MAX_TARGET_MINUTES = 60 * 24 * 30

DEFAULT_POLICIES = [
    # (name, priority, first response minutes, resolution minutes)
    ("Urgent", Priority.URGENT, 15, 240),
    ("High", Priority.HIGH, 30, 480),
    ("Normal", Priority.NORMAL, 30, 1440),
    ("Low", Priority.LOW, 120, 2880),
    ("Default", "", 30, None),
]


# --- Business hours ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Hours:
    """Business hours in a zone: ``days[iso_weekday] = [(start, end), …]`` (local times);
    ``always`` = round the clock."""

    zone: ZoneInfo
    days: dict[int, list[tuple[time, time]]]

    @property
    def always(self) -> bool:
        return not self.days


ALWAYS = Hours(zone=ZoneInfo("UTC"), days={})


def _parse_hhmm(value, where: str) -> time:
    if not isinstance(value, str):
        raise ValueError(_('%(where)s: a time must be text like "09:00".') % {"where": where})
    if value == "24:00":
        return time.max
    try:
        hh, mm = value.split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError):
        raise ValueError(
            _('%(where)s: %(value)r is not a time like "09:00".') % {"where": where, "value": value}
        ) from None


def business_hours_validate(data, time_zone: str) -> tuple[dict, str]:
    """Clean ``{"1": [["09:00", "18:00"]], …}`` and the zone name; ValidationError naming the
    field. Weekdays are ISO ("1" = Monday … "7" = Sunday); intervals must not overlap."""
    errors: dict[str, list[str]] = {}
    try:
        ZoneInfo(str(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = [_("Unknown time zone %(tz)r.") % {"tz": str(time_zone)[:64]}]
    if data in (None, ""):
        data = {}
    if not isinstance(data, dict):
        errors["business_hours"] = [_("Must be an object of weekday → intervals.")]
        raise ValidationError(errors)
    clean: dict[str, list[list[str]]] = {}
    problems = []
    for day, intervals in data.items():
        if str(day) not in {"1", "2", "3", "4", "5", "6", "7"}:
            problems.append(_("%(day)r is not a weekday (1 = Monday … 7 = Sunday).") % {"day": day})
            continue
        if not isinstance(intervals, list):
            problems.append(_("Day %(day)s: must be a list of [start, end] pairs.") % {"day": day})
            continue
        parsed = []
        for pair in intervals:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                problems.append(_("Day %(day)s: each interval is [start, end].") % {"day": day})
                continue
            try:
                start = _parse_hhmm(pair[0], f"day {day}")
                end = _parse_hhmm(pair[1], f"day {day}")
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if end <= start:
                problems.append(
                    _("Day %(day)s: %(a)s–%(b)s ends before it starts.")
                    % {"day": day, "a": pair[0], "b": pair[1]}
                )
                continue
            parsed.append((start, end, [pair[0], pair[1]]))
        parsed.sort(key=lambda p: p[0])
        for a, b in itertools.pairwise(parsed):
            if b[0] < a[1]:
                problems.append(_("Day %(day)s: intervals overlap.") % {"day": day})
                break
        if parsed:
            clean[str(day)] = [p[2] for p in parsed]
    if data and not clean and not problems:
        problems.append(_("No business hours given; leave it empty for round the clock."))
    if problems:
        errors["business_hours"] = problems
    if errors:
        raise ValidationError(errors)
    return clean, str(time_zone)


def hours_for(policy: SlaPolicy | None) -> Hours:
    if policy is None or not policy.business_hours:
        return ALWAYS
    try:
        zone = ZoneInfo(policy.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    days: dict[int, list[tuple[time, time]]] = {}
    for day, intervals in policy.business_hours.items():
        try:
            days[int(day)] = sorted(
                (_parse_hhmm(a, "hours"), _parse_hhmm(b, "hours")) for a, b in intervals
            )
        except (ValueError, TypeError):
            continue  # saved through business_hours_validate; an old bad row is ignored
    return Hours(zone=zone, days=days)


def _open_intervals(hours: Hours, start: datetime, *, max_days: int = 400):
    """Yield (from, to) UTC intervals of business time from ``start`` onwards."""
    local = start.astimezone(hours.zone)
    day = local.date()
    for _i in range(max_days):
        for a, b in hours.days.get(day.isoweekday(), []):
            lo = datetime.combine(day, a, tzinfo=hours.zone).astimezone(UTC)
            if b == time.max:
                hi = datetime.combine(day + timedelta(days=1), time(0), tzinfo=hours.zone)
            else:
                hi = datetime.combine(day, b, tzinfo=hours.zone)
            hi = hi.astimezone(UTC)
            if hi <= start:
                continue
            yield max(lo, start), hi
        day += timedelta(days=1)


def business_add(hours: Hours, start: datetime, seconds: float) -> datetime:
    """``start`` plus ``seconds`` of business time."""
    if hours.always:
        return start + timedelta(seconds=seconds)
    left = max(0.0, seconds)
    for lo, hi in _open_intervals(hours, start):
        span = (hi - lo).total_seconds()
        if left <= span:
            return lo + timedelta(seconds=left)
        left -= span
    # Hours so sparse that 400 days hold less than the target: fall back to wall time.
    return start + timedelta(seconds=seconds)


def business_seconds(hours: Hours, start: datetime, end: datetime) -> int:
    """Business seconds between two instants (0 when ``end`` is not after ``start``)."""
    if end <= start:
        return 0
    if hours.always:
        return int((end - start).total_seconds())
    total = 0.0
    for lo, hi in _open_intervals(hours, start):
        if lo >= end:
            break
        total += (min(hi, end) - lo).total_seconds()
    return int(total)


# --- Policies ---------------------------------------------------------------------------------


def policies_active() -> list[SlaPolicy]:
    return list(SlaPolicy.objects.filter(active=True).order_by("priority", "pk"))


def policy_for(priority: str, policies: list[SlaPolicy] | None = None) -> SlaPolicy | None:
    """The active policy of ``priority``, else the default one (blank priority), else None."""
    policies = policies_active() if policies is None else policies
    exact = [p for p in policies if p.priority == priority]
    if exact:
        return exact[0]
    default = [p for p in policies if not p.priority]
    return default[0] if default else None


def target_seconds(policy: SlaPolicy | None) -> int:
    minutes = policy.first_response_minutes if policy else DEFAULT_FIRST_RESPONSE_MINUTES
    return int(minutes) * 60


def due_at(conversation: Conversation, policy: SlaPolicy | None) -> datetime:
    """``created_at`` + target + the business seconds paused so far."""
    return business_add(
        hours_for(policy),
        conversation.created_at,
        target_seconds(policy) + (conversation.sla_paused_seconds or 0),
    )


def sla_start(conversation: Conversation, policies: list[SlaPolicy] | None = None) -> None:
    """Set the policy and deadline of a new conversation (in memory; the caller saves)."""
    policy = policy_for(conversation.priority, policies)
    conversation.sla_policy = policy
    conversation.sla_paused_seconds = 0
    conversation.sla_due_at = due_at(conversation, policy)


def sla_pause(conversation: Conversation, now: datetime) -> list[str]:
    """Stop the clock (status → pending). Returns the changed field names."""
    if conversation.sla_paused_at is not None or not _clock_running(conversation):
        return []
    conversation.sla_paused_at = now
    return ["sla_paused_at"]


def sla_resume(conversation: Conversation, now: datetime) -> list[str]:
    """Restart the clock: the pause's business seconds move the deadline. A clock that jumped
    back before the pause started counts the pause as zero, never negative."""
    if conversation.sla_paused_at is None:
        return []
    policy = conversation.sla_policy
    paused = business_seconds(hours_for(policy), conversation.sla_paused_at, now)
    conversation.sla_paused_seconds = (conversation.sla_paused_seconds or 0) + max(0, paused)
    conversation.sla_paused_at = None
    conversation.sla_due_at = due_at(conversation, policy)
    return ["sla_paused_at", "sla_paused_seconds", "sla_due_at"]


def _clock_running(c: Conversation) -> bool:
    return c.sla_due_at is not None and c.first_response_at is None and c.sla_breached_at is None


def sla_state(conversation: Conversation, now: datetime | None = None) -> dict:
    """The live countdown: ``state`` is running | warning | breached | met | paused | none;
    ``remaining_seconds`` is never negative (0 once due)."""
    now = now or timezone.now()
    c = conversation
    due = c.sla_due_at
    out = {"state": "none", "due_at": due, "remaining_seconds": None}
    if due is None:
        return out
    if c.first_response_at is not None:
        met = c.sla_breached_at is None and c.first_response_at <= due
        out["state"] = "met" if met else "breached"
        return out
    if c.sla_breached_at is not None:
        out.update(state="breached", remaining_seconds=0)
        return out
    if c.status == Status.RESOLVED:
        return out  # closed without a reply (spam, duplicate): no clock
    if c.sla_paused_at is not None:
        remaining = (due - c.sla_paused_at).total_seconds()
        out.update(state="paused", remaining_seconds=int(max(0, remaining)))
        return out
    remaining = (due - now).total_seconds()
    if remaining <= 0:
        out.update(state="breached", remaining_seconds=0)
        return out
    # A clock that jumped back before the opening cannot show more than the whole window.
    remaining = min(remaining, max(0.0, (due - c.created_at).total_seconds()))
    state = "warning" if remaining <= WARNING_SECONDS else "running"
    out.update(state=state, remaining_seconds=int(remaining))
    return out


def sla_breach_check(now: datetime | None = None) -> list[int]:
    """Mark every overdue, unanswered, running conversation breached — once — and emit
    ``sla.breached``. Returns the ids newly breached. Safe with many workers: rows are locked
    (``SKIP LOCKED`` on PostgreSQL; SQLite's write lock serialises) and the update is
    conditional on ``sla_breached_at IS NULL``."""
    from . import events

    now = now or timezone.now()
    breached: list[int] = []
    with transaction.atomic():
        qs = (
            Conversation.objects.filter(
                first_response_at__isnull=True,
                sla_breached_at__isnull=True,
                sla_due_at__lte=now,
                sla_paused_at__isnull=True,
            )
            .exclude(status=Status.RESOLVED)
            .order_by("sla_due_at")
        )
        rows = list(
            qs.select_for_update(skip_locked=True).values_list(
                "pk", "sla_due_at", "priority", "assignee_id"
            )[:BREACH_BATCH]
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        Conversation.objects.filter(pk__in=ids, sla_breached_at__isnull=True).update(
            sla_breached_at=now
        )
        ConversationLog.objects.bulk_create(
            [
                ConversationLog(
                    conversation_id=pk,
                    action="sla_breached",
                    data={"due_at": due.isoformat()},
                    at=now,
                )
                for pk, due, _p, _a in rows
            ]
        )
        events.emit_many(
            [
                (
                    "sla.breached",
                    pk,
                    {
                        "due_at": due.isoformat(),
                        "priority": prio,
                        "assignee_id": assignee,
                        "overdue_seconds": int(max(0, (now - due).total_seconds())),
                    },
                )
                for pk, due, prio, assignee in rows
            ]
        )
        breached = ids
    return breached


# --- Policy writes (care managers; the access check is the caller's) --------------------------


def _policy_clean(*, name, priority, first_response_minutes, resolution_minutes, business_hours,
                  time_zone) -> dict:  # fmt: skip
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Give the policy a name.")]
    if priority not in ("", *Priority.values):
        errors["priority"] = [
            _("Must be one of: %(v)s (or empty for the default policy).")
            % {"v": ", ".join(Priority.values)}
        ]
    for field, value, required in (
        ("first_response_minutes", first_response_minutes, True),
        ("resolution_minutes", resolution_minutes, False),
    ):
        if value is None and not required:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not (1 <= value <= MAX_TARGET_MINUTES)
        ):
            errors[field] = [
                _("Must be a whole number of minutes from 1 to %(max)d.")
                % {"max": MAX_TARGET_MINUTES}
            ]
    try:
        hours, zone = business_hours_validate(business_hours, time_zone or "UTC")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        hours, zone = {}, "UTC"
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "priority": priority,
        "first_response_minutes": first_response_minutes,
        "resolution_minutes": resolution_minutes,
        "business_hours": hours,
        "time_zone": zone,
    }


def _one_active_per_priority(priority: str, *, exclude_pk=None) -> None:
    qs = SlaPolicy.objects.filter(active=True, priority=priority)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise ValidationError(
            {
                "priority": [
                    _("Another active policy already covers this priority; deactivate it first.")
                ]
            }
        )


def sla_policy_create(
    *,
    name: str,
    priority: str = "",
    first_response_minutes: int = DEFAULT_FIRST_RESPONSE_MINUTES,
    resolution_minutes: int | None = None,
    business_hours: dict | None = None,
    time_zone: str = "UTC",
    active: bool = True,
) -> SlaPolicy:
    data = _policy_clean(
        name=name,
        priority=priority,
        first_response_minutes=first_response_minutes,
        resolution_minutes=resolution_minutes,
        business_hours=business_hours,
        time_zone=time_zone,
    )
    if active:
        _one_active_per_priority(priority)
    return SlaPolicy.objects.create(active=active, **data)


def sla_policy_update(*, policy: SlaPolicy, **changes) -> SlaPolicy:
    """Change a policy; conversations already open keep the deadline they were given."""
    allowed = {
        "name",
        "priority",
        "first_response_minutes",
        "resolution_minutes",
        "business_hours",
        "time_zone",
        "active",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({k: [_("This field cannot be changed.")] for k in sorted(unknown)})
    merged = {
        "name": policy.name,
        "priority": policy.priority,
        "first_response_minutes": policy.first_response_minutes,
        "resolution_minutes": policy.resolution_minutes,
        "business_hours": policy.business_hours,
        "time_zone": policy.time_zone,
    }
    active = changes.pop("active", policy.active)
    merged.update(changes)
    data = _policy_clean(**merged)
    if active:
        _one_active_per_priority(data["priority"], exclude_pk=policy.pk)
    for k, v in data.items():
        setattr(policy, k, v)
    policy.active = bool(active)
    policy.save()
    return policy


def sla_policy_delete(*, policy: SlaPolicy) -> None:
    # Conversations keep their deadline (the FK is SET_NULL); new ones fall back to the default.
    policy.delete()


def sla_policies_ensure_defaults() -> int:
    """The default policies (urgent 15 min, high 30, normal 30, low 120, default 30), business
    hours off; only priorities that have no policy yet. Returns how many were created."""
    created = 0
    for name, priority, first, resolution in DEFAULT_POLICIES:
        if SlaPolicy.objects.filter(priority=priority).exists():
            continue
        SlaPolicy.objects.create(
            name=name,
            priority=priority,
            first_response_minutes=first,
            resolution_minutes=resolution,
        )
        created += 1
    return created
