"""Recognition writes: the job pass (ledger, standings, badges), the rebuild, and staff settings.

The job is the only writer of the ledger, the standings and the automatic grants. One pass
(:func:`recognition_run`):

1. reads the community activity log (``ActivityEvent``, append-only) after its cursor and
   reconciles the ledger for the posts those events touched (``points.reconcile``);
2. sweeps one slice of all posts in id order (wrapping around), which catches what the log does
   not record — an un-accepted answer, a moderator's decision made elsewhere, a hard delete —
   so the ledger converges on the content tables within a few sweeps at most;
3. recomputes the standing (totals, counts, trust level) of every member whose ledger changed;
4. runs the badge rules for those members, and for everybody once an hour (the backfill).

Several processes may run the loop (``apiary serve`` and ``apiary worker``): a pass takes the
cursor row with ``SELECT … FOR UPDATE SKIP LOCKED`` and a pass that finds it taken does nothing.
Every step is idempotent, so a crash halfway is repaired by the next pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from apiary.community import access as community_access
from apiary.community.models import ActivityEvent, Flag, FlagState, Post
from apiary.recognition import badges as badge_rules
from apiary.recognition import points, ranks
from apiary.recognition.conf import conf
from apiary.recognition.models import (
    Badge,
    BadgeGrant,
    JobCursor,
    MemberStanding,
    PointEntry,
    PointTotal,
    PointWeight,
    Reason,
    TrustLevel,
)

logger = logging.getLogger(__name__)

EVENTS_CURSOR = "events"
SWEEP_CURSOR = "sweep"
BACKFILL_CURSOR = "badges_backfill"  # position = unix time of the last full badge run
BACKFILL_SECONDS = 3600
MAX_EVENTS = 5000


# --- cursors ----------------------------------------------------------------------------------


def _cursor(name: str, *, lock: bool, skip_locked: bool = False) -> JobCursor | None:
    JobCursor.objects.get_or_create(name=name)
    qs = JobCursor.objects.filter(name=name)
    if lock and connection.features.has_select_for_update:
        qs = qs.select_for_update(skip_locked=skip_locked)
    return qs.first()


def _advance(cursor: JobCursor, position: int, now) -> None:
    JobCursor.objects.filter(pk=cursor.pk).update(position=position, updated_at=now)
    cursor.position = position


# --- standings --------------------------------------------------------------------------------


def _flags_upheld_against(user_ids: list[int], since) -> dict[int, int]:
    """Upheld flags on the members' posts and comments resolved since ``since`` (two grouped
    queries)."""
    out: dict[int, int] = {}
    base = Flag.objects.filter(state=FlagState.UPHELD, resolved_at__gte=since)
    for field in ("post__author_id", "comment__author_id"):
        for author_id, n in (
            base.filter(**{f"{field}__in": user_ids})
            .values(field)
            .annotate(n=Count("pk"))
            .values_list(field, "n")
        ):
            out[author_id] = out.get(author_id, 0) + n
    return out


def _totals_update(user_ids: list[int]) -> None:
    """Rewrite these members' all-time totals per space and audience from the ledger."""
    rows = [
        PointTotal(user_id=u, space_id=sid, audience=aud, points=int(p))
        for u, sid, aud, p in PointEntry.objects.filter(user_id__in=user_ids)
        .values("user_id", "space_id", "audience")
        .annotate(p=Sum("points"))
        .exclude(p=0)
        .values_list("user_id", "space_id", "audience", "p")
    ]
    PointTotal.objects.filter(user_id__in=user_ids).delete()
    PointTotal.objects.bulk_create(rows, batch_size=1000)


def standings_update(*, user_ids: Iterable[int], now=None) -> int:
    """Recompute totals, counts and trust level for these members from the ledger (one grouped
    query) plus upheld flags against them and their account age. Returns how many rows."""
    now = now or timezone.now()
    ids = sorted({int(u) for u in user_ids if u})
    if not ids:
        return 0
    written = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        totals = points.totals_for(chunk)
        window = now - timedelta(days=int(conf("flags_window_days")))
        flags = _flags_upheld_against(chunk, window)
        joined = dict(
            get_user_model().objects.filter(pk__in=chunk).values_list("pk", "date_joined")
        )
        old = {s.user_id: s for s in MemberStanding.objects.filter(user_id__in=chunk)}
        rows = []
        for user_id in chunk:
            if user_id not in joined:
                continue  # account deleted meanwhile
            t = totals.get(user_id, {})

            def live(reason, t=t):
                return max(t.get(reason, (0, 0))[1], 0)

            metrics = {
                "points": sum(p for p, _f in t.values()),
                "posts": live(Reason.POST),
                "replies": live(Reason.REPLY),
                "accepted_answers": live(Reason.ACCEPTED_ANSWER),
                "likes_received": live(Reason.LIKE_RECEIVED),
                "flags_upheld": flags.get(user_id, 0),
                "days": max((now - joined[user_id]).days, 0) if joined[user_id] else 0,
            }
            metrics["contributions"] = metrics["posts"] + metrics["replies"]
            previous = old.get(user_id)
            level = ranks.level_for(metrics, previous=previous.trust_level if previous else 0)
            since = (
                previous.level_since
                if previous is not None and previous.trust_level == level
                else now
            )
            rows.append(
                MemberStanding(
                    user_id=user_id,
                    points=metrics["points"],
                    posts=metrics["posts"],
                    replies=metrics["replies"],
                    accepted_answers=metrics["accepted_answers"],
                    likes_received=metrics["likes_received"],
                    flags_upheld_against=metrics["flags_upheld"],
                    trust_level=level,
                    level_locked=previous.level_locked if previous else None,
                    level_since=since,
                    updated_at=now,
                )
            )
        _totals_update(chunk)
        MemberStanding.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=[
                "points",
                "posts",
                "replies",
                "accepted_answers",
                "likes_received",
                "flags_upheld_against",
                "trust_level",
                "level_since",
                "updated_at",
            ],
        )
        written += len(rows)
    return written


# --- badges -----------------------------------------------------------------------------------


def badges_sync() -> dict[str, Badge]:
    """Make sure every rule in ``badges.RULES`` has its Badge row (name, level, order)."""
    existing = {b.slug: b for b in Badge.objects.all()}
    for rule in badge_rules.RULES:
        badge = existing.get(rule.slug)
        fields = {
            "name": str(rule.name),
            "description": str(rule.description),
            "level": rule.level,
            "position": rule.position,
        }
        if badge is None:
            existing[rule.slug] = Badge.objects.create(slug=rule.slug, **fields)
        elif any(getattr(badge, k) != v for k, v in fields.items()):
            Badge.objects.filter(pk=badge.pk).update(**fields)
            for k, v in fields.items():
                setattr(badge, k, v)
    return existing


def badges_award(*, user_ids: Iterable[int] | None = None, now=None) -> list[BadgeGrant]:
    """Run every enabled rule (for these members, or everybody) and grant what is new.
    Idempotent: rows already granted — or revoked — are skipped; the unique constraint settles
    any race. Returns the grants created."""
    now = now or timezone.now()
    users = None if user_ids is None else sorted({int(u) for u in user_ids if u})
    if users is not None and not users:
        return []
    by_slug = badges_sync()
    created: list[BadgeGrant] = []
    for rule in badge_rules.RULES:
        badge = by_slug[rule.slug]
        if not badge.enabled:
            continue
        chunks = (
            [None] if users is None else [users[i : i + 500] for i in range(0, len(users), 500)]
        )
        for chunk in chunks:
            rows = {(r.user_id, r.target): r for r in rule.query(chunk) if r.user_id}
            if not rows:
                continue
            held_qs = BadgeGrant.objects.filter(badge=badge)
            if chunk is not None:  # a backfill reads the badge's grants whole, not by id list
                held_qs = held_qs.filter(user_id__in=chunk)
            held = set(held_qs.values_list("user_id", "target"))
            new = [
                BadgeGrant(
                    badge=badge,
                    user_id=r.user_id,
                    target=r.target,
                    space_id=r.space_id,
                    post_id=r.post_id,
                    granted_at=r.granted_at or now,
                    created_at=now,
                )
                for key, r in rows.items()
                if key not in held
            ]
            BadgeGrant.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
            created.extend(new)
    return created


# --- the job ----------------------------------------------------------------------------------


def _sweep_scope(cursor: JobCursor, batch: int) -> tuple[points.Scope, int]:
    """The next slice of posts by id from the sweep cursor; the last slice is open-ended (it
    reaches ledger rows of posts deleted since) and the cursor then wraps to the start."""
    lo = cursor.position
    ids = list(
        Post.objects.filter(pk__gte=lo).order_by("pk").values_list("pk", flat=True)[: batch + 1]
    )
    if len(ids) <= batch:
        return points.Scope(lo=lo, hi=None), 0
    return points.Scope(lo=lo, hi=ids[batch]), ids[batch]


def recognition_run(*, now=None, max_events: int = MAX_EVENTS, sweep: bool = True) -> dict:
    """One pass of the job (see the module docstring). Returns what it did."""
    now = now or timezone.now()
    out = {"events": 0, "posts": 0, "entries": 0, "members": 0, "grants": 0, "skipped": False}
    with transaction.atomic():
        cursor = _cursor(EVENTS_CURSOR, lock=True, skip_locked=True)
        if cursor is None:  # another process is running a pass
            out["skipped"] = True
            return out
        before = PointEntry.objects.aggregate(m=Max("pk"))["m"] or 0
        w = points.weights()
        events = list(
            ActivityEvent.objects.filter(pk__gt=cursor.position)
            .order_by("pk")
            .values_list("pk", "post_id", "comment_id", "user_id")[:max_events]
        )
        touched: set[int] = set()
        if events:
            post_ids = points.post_ids_for_events((p, c) for _pk, p, c, _u in events)
            touched |= {u for *_rest, u in events if u}
            ids = sorted(post_ids)
            for start in range(0, len(ids), 500):
                scope = points.Scope(post_ids=frozenset(ids[start : start + 500]))
                touched |= points.reconcile(scope, weights_now=w, now=now)
            out["events"], out["posts"] = len(events), len(post_ids)
            _advance(cursor, events[-1][0], now)
        if sweep:
            sweep_cursor = _cursor(SWEEP_CURSOR, lock=True)
            scope, next_lo = _sweep_scope(sweep_cursor, int(conf("batch_posts")))
            touched |= points.reconcile(scope, weights_now=w, now=now)
            _advance(sweep_cursor, next_lo, now)
        out["entries"] = PointEntry.objects.filter(pk__gt=before).count()
        out["members"] = standings_update(user_ids=touched, now=now)
        backfill = _cursor(BACKFILL_CURSOR, lock=True)
        if now.timestamp() - backfill.position >= BACKFILL_SECONDS:
            grants = badges_award(user_ids=None, now=now)
            _advance(backfill, int(now.timestamp()), now)
        else:
            grants = badges_award(user_ids=touched, now=now)
        out["grants"] = len(grants)
    return out


def recognition_rebuild(
    *, reset: bool = False, progress: Callable[[str], None] | None = None, now=None
) -> dict:
    """Reconcile every post, recompute every standing and backfill every badge.

    Without ``reset`` the ledger keeps its history and only gains corrections (safe at any
    time). ``reset`` first empties the ledger and the standings (not the badge grants: those
    are backfill-safe already) and writes it again from the content tables."""
    now = now or timezone.now()
    say = progress or (lambda _msg: None)
    with transaction.atomic():
        cursor = _cursor(EVENTS_CURSOR, lock=True)  # waits for a running pass
        if reset:
            PointEntry.objects.all().delete()
            PointTotal.objects.all().delete()
            MemberStanding.objects.filter(level_locked__isnull=True).delete()
        # Everything logged so far is covered by the sweep below.
        last_event = ActivityEvent.objects.aggregate(m=Max("pk"))["m"] or 0
        w = points.weights()
        touched: set[int] = set()
        lo, done = 0, 0
        batch = max(int(conf("batch_posts")), 1)
        while True:
            ids = list(
                Post.objects.filter(pk__gte=lo)
                .order_by("pk")
                .values_list("pk", flat=True)[: batch + 1]
            )
            hi = ids[batch] if len(ids) > batch else None
            touched |= points.reconcile(points.Scope(lo=lo, hi=hi), weights_now=w, now=now)
            done += min(len(ids), batch)
            say(_("%(n)s posts reconciled") % {"n": done})
            if hi is None:
                break
            lo = hi
        touched |= set(PointEntry.objects.values_list("user_id", flat=True).distinct())
        touched |= set(MemberStanding.objects.values_list("user_id", flat=True))
        members = standings_update(user_ids=touched, now=now)
        say(_("%(n)s standings recomputed") % {"n": members})
        grants = badges_award(user_ids=None, now=now)
        say(_("%(n)s badges granted") % {"n": len(grants)})
        _advance(cursor, max(cursor.position, last_event), now)
        _advance(_cursor(SWEEP_CURSOR, lock=True), 0, now)
        _advance(_cursor(BACKFILL_CURSOR, lock=True), int(now.timestamp()), now)
    return {
        "posts": done,
        "entries": PointEntry.objects.count(),
        "members": members,
        "grants": len(grants),
    }


def recognition_worker():
    """``WORKER_FACTORIES["recognition"]``: ``(run, stop)``; run() blocks until stop()."""
    import threading
    import time

    from django.db import close_old_connections

    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                close_old_connections()
                recognition_run()
            except Exception:
                # One failed pass (database restarting, a lock timeout) must not stop the loop;
                # the next pass repeats the work (every step is idempotent).
                logger.exception("recognition pass failed")
            interval = float(conf("interval_seconds"))
            stop.wait(max(0.5, interval - (time.monotonic() - started)))

    return run, stop.set


# --- staff settings ---------------------------------------------------------------------------


def _require_manager(actor) -> None:
    if not community_access.is_manager(actor):
        raise community_access.NotAvailable(
            community_access.forbidden(_("Only community managers may change recognition."))
        )


def point_weight_set(*, actor, reason: str, points_value: int | None) -> dict[str, int]:
    """Change (or with ``None`` reset) one reason's weight. Takes effect for history too at the
    next sweep or rebuild: the ledger gains correction entries dated at each fact."""
    _require_manager(actor)
    if reason not in Reason.values:
        raise ValidationError({"reason": [_("Unknown reason.")]})
    if points_value is None:
        PointWeight.objects.filter(reason=reason).delete()
    else:
        try:
            value = int(points_value)
        except (TypeError, ValueError):
            raise ValidationError({"points": [_("Enter a whole number.")]}) from None
        if not -1000 <= value <= 1000:
            raise ValidationError({"points": [_("Weights go from -1000 to 1000.")]})
        PointWeight.objects.update_or_create(
            reason=reason,
            defaults={"points": value, "updated_by": actor, "updated_at": timezone.now()},
        )
    return points.weights()


def trust_level_lock(*, actor, user, level: int | None) -> MemberStanding:
    """Pin a member's level (or with ``None`` let the job compute it again)."""
    from apiary.recognition.selectors import trust_level_forget

    _require_manager(actor)
    if level is not None and int(level) not in TrustLevel.values:
        raise ValidationError({"level": [_("Levels go from 0 to 4.")]})
    standing, _created = MemberStanding.objects.get_or_create(user=user)
    standing.level_locked = None if level is None else int(level)
    standing.updated_at = timezone.now()
    standing.save(update_fields=["level_locked", "updated_at"])
    trust_level_forget(user)
    return standing


def badge_grant_revoke(*, actor, grant: BadgeGrant) -> BadgeGrant:
    """Take a badge back. The row stays (revoked) so the rule does not grant it again."""
    _require_manager(actor)
    if grant.revoked_at is None:
        grant.revoked_at = timezone.now()
        grant.revoked_by = actor
        grant.save(update_fields=["revoked_at", "revoked_by"])
    return grant


def badge_grants_mark_seen(*, user, ids: Iterable[int] | None = None) -> int:
    """The member has seen their new-badge notices (all, or these grants)."""
    if not community_access.is_authenticated(user):
        return 0
    qs = BadgeGrant.objects.filter(user=user, seen_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=[int(i) for i in ids])
    return qs.update(seen_at=timezone.now())
