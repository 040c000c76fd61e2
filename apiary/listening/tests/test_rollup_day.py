"""Daily rollups: written with the hourly ones, equal to their sums, weeks start on Monday,
re-deliveries never count twice, and the migration's backfill rebuilds them from hourly rows."""

import importlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import MentionRollup, MentionRollupDay
from apiary.listening.services.queries import query_create

from .factories import raw_mention

pytestmark = pytest.mark.django_db

# Sunday 2026-11-29 23:30 and Monday 2026-11-30 00:10 fall in different ISO weeks.
TIMES = [
    datetime(2026, 11, 29, 23, 30, tzinfo=UTC),
    datetime(2026, 11, 30, 0, 10, tzinfo=UTC),
    datetime(2026, 11, 30, 13, 0, tzinfo=UTC),
    datetime(2026, 12, 2, 8, 45, tzinfo=UTC),
]


def store(raws):
    with transaction.atomic():
        return process_mentions(raws, state=PipelineState())


def _day_totals():
    return {
        (r["day"], r["week"], r["query_id"]): (r["n"], r["reach"])
        for r in MentionRollupDay.objects.values("day", "week", "query_id").annotate(
            n=Sum("count"), reach=Sum("reach")
        )
    }


def test_daily_rows_equal_hourly_sums_and_weeks_start_on_monday():
    # given
    brand = query_create(name="Northwind", kind="brand", text="northwind")
    raws = [
        raw_mention(text=f"Northwind espresso number {i}", created_at=t, author_followers=10 * i)
        for i, t in enumerate(TIMES, start=1)
    ] + [raw_mention(text="Nothing to do with us", created_at=TIMES[2])]
    # when
    store(raws)
    # then
    totals = _day_totals()
    sunday = datetime(2026, 11, 29, tzinfo=UTC)
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    wednesday = datetime(2026, 12, 2, tzinfo=UTC)
    previous_monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert totals[(sunday, previous_monday, brand.pk)] == (1, 10)
    assert totals[(monday, monday, brand.pk)] == (2, 20 + 30)
    assert totals[(wednesday, monday, brand.pk)] == (1, 40)
    assert totals[(monday, monday, 0)] == (3, 20 + 30 + 100)  # "all mentions" includes noise
    hourly = MentionRollup.objects.aggregate(n=Sum("count"), r=Sum("reach"))
    daily = MentionRollupDay.objects.aggregate(n=Sum("count"), r=Sum("reach"))
    assert (hourly["n"], hourly["r"]) == (daily["n"], daily["r"])


def test_redelivered_mentions_do_not_count_twice():
    # given
    query_create(name="Northwind", kind="brand", text="northwind")
    raws = [raw_mention(text="Northwind again", created_at=TIMES[1])]
    store(raws)
    before = _day_totals()
    # when
    store(raws)
    # then
    assert _day_totals() == before
    assert MentionRollupDay.objects.aggregate(n=Sum("count"))["n"] == 2  # query 0 + brand


def test_migration_backfill_rebuilds_daily_rows_from_hourly_ones():
    # given: mentions stored, then the daily table emptied (an installation from before it)
    query_create(name="Northwind", kind="brand", text="northwind")
    store(
        [
            raw_mention(text=f"Northwind {i}", created_at=t + timedelta(minutes=i))
            for i, t in enumerate(TIMES)
        ]
    )
    expected = _day_totals()
    MentionRollupDay.objects.all().delete()
    migration = importlib.import_module("apiary.listening.migrations.0004_rollup_day")
    # when
    # (the function only needs the editor's connection; SQLite refuses a real schema editor
    # inside the test's transaction)
    migration.backfill(None, SimpleNamespace(connection=connection))
    # then
    assert _day_totals() == expected
    rows = Counter(MentionRollupDay.objects.values_list("day", flat=True))
    assert all(day.hour == 0 and day.minute == 0 for day in rows)


@pytest.mark.parametrize("interval", ["day", "week"])
def test_charts_over_partial_days_equal_direct_counts(interval):
    """Whole days come from the daily table, the window's partial edge days from the hourly
    one: every bucket and total must equal a count of the mentions themselves."""
    from apiary.listening import insight
    from apiary.listening.models import Mention

    # given: brand mentions every 5 hours over ten days, crossing a week boundary
    brand = query_create(name="Northwind", kind="brand", text="northwind")
    base = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    times = [base + timedelta(hours=5 * i, minutes=7) for i in range(48)]
    store([raw_mention(text=f"Northwind {i}", created_at=t) for i, t in enumerate(times)])
    for start, end in [
        (base + timedelta(hours=7), base + timedelta(days=8, hours=13)),  # both edges partial
        (base - timedelta(hours=1), base + timedelta(days=3)),  # whole days only at the end
        (base + timedelta(hours=3), base + timedelta(hours=20)),  # inside one day
    ]:
        win = insight.Window(start, end)
        # when
        buckets = insight.series(brand.pk, win, interval)
        total = insight.totals(brand.pk, win)
        # then
        in_window = Mention.objects.filter(created_at__gte=start, created_at__lt=end)
        assert total["volume"] == in_window.count()
        assert sum(b["volume"] for b in buckets) == in_window.count()
        for b in buckets:
            step = timedelta(days=7 if interval == "week" else 1)
            expected = in_window.filter(
                created_at__gte=b["start"], created_at__lt=b["start"] + step
            ).count()
            assert b["volume"] == expected, (start, end, b["start"])
