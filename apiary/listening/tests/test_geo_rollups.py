"""The map's daily rollups: equal to counts over the stored mentions (per region, per cell, per
sentiment and query), never counted twice on re-delivery, rebuilt by the migration's backfill;
map answers from them equal the same answers computed from the mentions; filters the rollups
lack (language, platform, a kind's several queries, fine zooms) fall back to the mentions."""

import importlib
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection, transaction

from apiary.accounts.models import Role
from apiary.listening import geo, insight, mapshapes
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import (
    GEO_CELL_DEG,
    Mention,
    MentionCellDay,
    MentionMatch,
    MentionRegionDay,
    geo_cell,
)
from apiary.listening.services.queries import query_create

from .factories import raw_mention

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
WIN = insight.Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 12, tzinfo=UTC))
POS = "I love {} coffee, wonderful espresso"
NEG = "{} coffee is awful, terrible service"
NEU = "{} coffee opens a new shop on Monday"
ES_NEG = "El café de {} es horrible, pésimo servicio"

PLACES = [
    (40.4165, -3.7026),  # Madrid
    (40.42, -3.70),
    (41.3874, 2.1686),  # Barcelona
    (37.3828, -5.9732),  # Sevilla
    (55.752, 37.6178),  # Moscow
    (59.9386, 30.3141),  # Saint Petersburg
    (-34.6037, -58.3816),  # Buenos Aires (negative latitude and longitude)
    (-20.0, -179.95),  # the Pacific by the antimeridian: coordinates, no country
]


def store(raws):
    with transaction.atomic():
        return process_mentions(list(raws), state=PipelineState())


def _raws():
    """Mentions over five days at varied hours: places, sentiments, two brands, a competitor,
    two platforms, a Spanish one, one located by profile only and one with no place."""
    out = []
    for i in range(40):
        lat, lon = PLACES[i % len(PLACES)]
        name = ("Northwind", "Aurora", "Blue Harbor")[i % 3]
        template = (POS, NEG, NEU, ES_NEG)[i % 4]
        t = T0 + timedelta(hours=7 * i, minutes=i)
        out.append(
            raw_mention(
                text=template.format(name),
                created_at=t,
                received_at=t + timedelta(seconds=3),
                lat=lat + (i % 5) * 0.01,
                lon=lon,
                author_location="",
                platform="x" if i % 5 == 0 else "bluesky",
            )
        )
    out.append(raw_mention(text=NEU.format("Northwind"), created_at=T0, author_location="Madrid"))
    out.append(raw_mention(text=POS.format("Northwind"), created_at=T0, author_location=""))
    return out


@pytest.fixture
def data(db):
    queries = [
        query_create(name="Northwind", kind="brand", text="northwind"),
        query_create(name="Aurora", kind="competitor", text="aurora"),
        query_create(name="Blue Harbor", kind="competitor", text='"blue harbor"'),
    ]
    raws = _raws()
    store(raws)
    return queries, raws


def _day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _expected():
    """Both rollups computed in Python from the stored mentions and their matches."""
    queries = defaultdict(list)
    for mention_id, query_id in MentionMatch.objects.values_list("mention_id", "query_id"):
        queries[mention_id].append(query_id)
    regions: Counter = Counter()
    cells: dict = defaultdict(lambda: [0, 0.0, 0.0])
    for m in Mention.objects.all():
        for qid in (0, *queries[m.pk]):
            day = _day(m.created_at)
            if m.country:
                regions[(day, qid, m.country, m.region, m.sentiment)] += 1
            if m.lat is not None and m.lon is not None:
                key = (day, qid, *geo_cell(m.lat, m.lon), m.country, m.sentiment)
                cells[key][0] += 1
                cells[key][1] += m.lat
                cells[key][2] += m.lon
    return dict(regions), {k: tuple(v) for k, v in cells.items()}


def _stored():
    regions = {
        (r.day, r.query_id, r.country, r.region, r.sentiment): r.count
        for r in MentionRegionDay.objects.all()
    }
    cells = {
        (c.day, c.query_id, c.cell_lat, c.cell_lon, c.country, c.sentiment): (
            c.count,
            c.lat_sum,
            c.lon_sum,
        )
        for c in MentionCellDay.objects.all()
    }
    return regions, cells


def _same_cells(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, (n, lat_sum, lon_sum) in want.items():
        assert got[key][0] == n, key
        assert got[key][1] == pytest.approx(lat_sum, abs=1e-9)
        assert got[key][2] == pytest.approx(lon_sum, abs=1e-9)


def test_rollups_equal_counts_over_the_mentions(data):
    regions, cells = _stored()
    want_regions, want_cells = _expected()
    assert regions == want_regions
    _same_cells(cells, want_cells)
    # the data really covers what the tables are for
    assert {k[2] for k in regions} >= {"ES", "RU", "AR"}
    assert {k[3] for k in regions if k[2] == "ES"} >= {"ES.29", "ES.56", "ES.51"}
    assert {k[4] for k in regions} == {"positive", "neutral", "negative"}
    assert {k[1] for k in regions} >= {0, *(q.pk for q in data[0])}
    assert "" in {k[4] for k in cells}  # the Pacific point: a cell without a country
    assert min(k[2] for k in cells) >= 0 and min(k[3] for k in cells) >= 0
    assert all(day.hour == 0 and day.minute == 0 for day, *_ in regions)
    # query 0 counts every mention with a country / with coordinates exactly once
    assert (
        sum(n for k, n in regions.items() if k[1] == 0)
        == Mention.objects.exclude(country="").count()
    )
    assert (
        sum(v[0] for k, v in cells.items() if k[1] == 0)
        == Mention.objects.filter(lat__isnull=False).count()
    )


def test_redelivered_mentions_do_not_count_twice(data):
    # given
    _queries, raws = data
    before = _stored()
    # when: the whole batch again, plus one new mention
    fresh = raw_mention(text=POS.format("Northwind"), created_at=T0, lat=40.4165, lon=-3.7026)
    result = store([*raws, fresh])
    # then
    assert result.inserted == 1
    regions, cells = _stored()
    want_regions, want_cells = _expected()
    assert regions == want_regions
    _same_cells(cells, want_cells)
    assert sum(regions.values()) == sum(before[0].values()) + 2  # query 0 + Northwind


def test_migration_backfill_rebuilds_the_rollups(data):
    # given: an installation from before the map rollups
    want_regions, want_cells = _stored()
    MentionRegionDay.objects.all().delete()
    MentionCellDay.objects.all().delete()
    migration = importlib.import_module("apiary.listening.migrations.0005_geo_rollups")
    assert float(migration.CELL_DEG) == GEO_CELL_DEG
    # when (the function only needs the editor's connection; SQLite refuses a real schema
    # editor inside the test's transaction)
    migration.backfill(None, SimpleNamespace(connection=connection))
    # then
    regions, cells = _stored()
    assert regions == want_regions
    _same_cells(cells, want_cells)


# --- Map answers: rollups vs mentions ------------------------------------------------------


def _direct_areas(level, f: geo.MapFilters, country=None, win=WIN):
    """Areas counted in Python from the stored mentions."""
    qs = Mention.objects.filter(created_at__gte=win.start, created_at__lt=win.end)
    if f.query_ids is not None:
        qs = qs.filter(matches__query_id__in=f.query_ids).distinct()
    if country:
        qs = qs.filter(country=country)
    out: dict = defaultdict(Counter)
    for m in qs:
        if f.sentiment and m.sentiment not in f.sentiment:
            continue
        if f.language and m.language not in f.language:
            continue
        if f.platform and m.platform not in f.platform:
            continue
        out[getattr(m, level)][m.sentiment] += 1
    return {code: dict(mix) for code, mix in out.items() if code}


def _areas_mix(body):
    return {
        a["code"]: {s: a[s] for s in geo.SENTIMENTS if a[s]} for a in body["areas"] if a["count"]
    }


def _direct_clusters(box, zoom, f: geo.MapFilters, country=None):
    cell = geo.cell_for_zoom(zoom)
    out: dict = {}
    for m in Mention.objects.filter(
        lat__isnull=False, created_at__gte=WIN.start, created_at__lt=WIN.end
    ):
        if not box.south <= m.lat <= box.north:
            continue
        if not any(w <= m.lon <= e for w, e in box.lon_ranges()):
            continue
        if (country and m.country != country) or (f.sentiment and m.sentiment not in f.sentiment):
            continue
        if f.query_ids is not None and not set(f.query_ids) & set(m.query_ids):
            continue
        if (f.language and m.language not in f.language) or (
            f.platform and m.platform not in f.platform
        ):
            continue
        c = out.setdefault((m.lat // cell, m.lon // cell), {"n": 0, "lat": 0.0, "lon": 0.0})
        c["n"] += 1
        c["lat"] += m.lat
        c["lon"] += m.lon
    return _Clusters((c["n"], c["lat"] / c["n"], c["lon"] / c["n"]) for c in out.values())


class _Clusters(list):
    """(count, mean latitude, mean longitude) sorted; equal when counts match and positions
    agree to 1e-4° (the API rounds them to 5 decimals)."""

    def __init__(self, items):
        super().__init__(sorted(items))

    def __eq__(self, other):
        return len(self) == len(other) and all(
            a[0] == b[0] and abs(a[1] - b[1]) < 1e-4 and abs(a[2] - b[2]) < 1e-4
            for a, b in zip(self, other, strict=True)
        )

    __hash__ = None


def _clusters_short(body):
    return _Clusters((c["count"], c["lat"], c["lon"]) for c in body["clusters"])


BOXES = [
    ("-90,-180,90,180", 0),
    ("-90,-180,90,180", 3),
    ("35,-10,44,4", 6),
    ("35,-10,44,4", 9),
    ("-60,100,80,-50", 2),  # across the antimeridian
    ("-40,-179,0,-60", 4),
]


@pytest.mark.parametrize("sentiment", [(), ("negative",), ("positive", "neutral")])
def test_map_answers_from_rollups_equal_direct_counts(data, sentiment):
    queries, _raws = data
    for query_id in (None, queries[0].pk, queries[1].pk):
        f = geo.map_filters(query_id=query_id, sentiment=sentiment)
        countries = geo.areas(level="country", win=WIN, f=f)
        assert countries["basis"] == "rollups"
        assert _areas_mix(countries) == _direct_areas("country", f)
        for cc in ("ES", "RU"):
            regions = geo.areas(level="region", win=WIN, f=f, country=cc)
            assert regions["basis"] == "rollups"
            assert _areas_mix(regions) == _direct_areas("region", f, cc)
            assert (
                regions["total"] == sum(a["count"] for a in regions["areas"]) + regions["unknown"]
            )
        for bbox, zoom in BOXES:
            box = geo.parse_bbox(bbox)
            points = geo.clusters(box=box, zoom=zoom, win=WIN, f=f)
            assert points["basis"] == "rollups"
            assert _clusters_short(points) == _direct_clusters(box, zoom, f), (bbox, zoom)
        es = geo.clusters(box=geo.parse_bbox("35,-10,44,4"), zoom=6, win=WIN, f=f, country="ES")
        assert _clusters_short(es) == _direct_clusters(geo.parse_bbox("35,-10,44,4"), 6, f, "ES")


def test_rollup_clusters_equal_the_mention_table_path_cell_for_cell(data):
    f = geo.map_filters()
    for bbox, zoom in BOXES:
        box = geo.parse_bbox(bbox)
        cell = geo.cell_for_zoom(zoom)
        rolled = geo._cells_from_rollups(box, zoom, WIN, f, None)
        direct = geo._cells_from_mentions(box, cell, WIN, f, None)
        assert len(rolled) == len(direct)
        by_cell = {(round(r["s"], 6), round(r["w"], 6)): r for r in direct}
        for r in rolled:
            d = by_cell[(round(r["s"], 6), round(r["w"], 6))]
            mix = ("n", *geo.SENTIMENTS)  # a rollup Sum of nothing is None, a Count 0
            assert [r[k] or 0 for k in mix] == [d[k] or 0 for k in mix]
            assert r["lat"] == pytest.approx(d["lat"]) and r["lon"] == pytest.approx(d["lon"])


def test_language_platform_several_queries_and_fine_zooms_fall_back_to_mentions(data):
    world = geo.parse_bbox("-90,-180,90,180")
    for changes in ({"language": ("es",)}, {"platform": ("x",)}, {"kind": "competitor"}):
        f = geo.map_filters(**changes)
        # countries: the daily insight rollups carry language and platform
        countries = geo.areas(level="country", win=WIN, f=f)
        assert countries["basis"] == ("mentions" if "kind" in changes else "rollups")
        assert _areas_mix(countries) == _direct_areas("country", f)
        regions = geo.areas(level="region", win=WIN, f=f, country="ES")
        assert regions["basis"] == "mentions"
        assert _areas_mix(regions) == _direct_areas("region", f, "ES")
        assert regions["total"] > 0
        points = geo.clusters(box=world, zoom=3, win=WIN, f=f)
        assert points["basis"] == "mentions" and points["total"] > 0
        assert _clusters_short(points) == _direct_clusters(world, 3, f)
    # a kind with two queries counts a mention matching both once (rollups would say twice)
    both = store(
        [raw_mention(text="Aurora and Blue Harbor coffee", created_at=T0, lat=40.4, lon=-3.7)]
    )
    assert both.inserted == 1
    f = geo.map_filters(kind="competitor")
    assert _areas_mix(geo.areas(level="country", win=WIN, f=f)) == _direct_areas("country", f)
    # finer cells than the stored ones: mentions, whatever the filters
    small = geo.parse_bbox("40,-4,41,-3")
    fine = geo.clusters(box=small, zoom=10, win=WIN, f=geo.map_filters())
    assert fine["basis"] == "mentions"
    assert _clusters_short(fine) == _direct_clusters(small, 10, geo.map_filters())


def test_window_is_whole_utc_days(data):
    # given since/until inside days: the window widens to the whole days
    win = geo.map_window(
        datetime(2026, 3, 2, 13, 5, tzinfo=UTC), datetime(2026, 3, 3, 1, tzinfo=UTC)
    )
    assert (win.start, win.end) == (
        datetime(2026, 3, 2, tzinfo=UTC),
        datetime(2026, 3, 4, tzinfo=UTC),
    )
    on_midnight = geo.map_window(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    assert (on_midnight.start, on_midnight.end) == (
        datetime(2026, 3, 2, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    )
    # the areas count every mention of those days, exactly like the mention table
    f = geo.map_filters()
    body = geo.areas(level="country", win=win, f=f)
    assert _areas_mix(body) == _direct_areas("country", f, win=win)
    stored = Mention.objects.filter(created_at__gte=win.start, created_at__lt=win.end).count()
    assert body["total"] == stored > 0


@pytest.fixture
def client(api, make_user):
    return api(make_user(Role.ANALYST))


def test_api_answers_give_the_effective_day_window_and_basis(client, data):
    r = client.get(
        "/api/v1/listening/map/points",
        data={"since": "2026-03-02T13:05:00Z", "until": "2026-03-03T01:00:00Z", "zoom": 3},
    )
    body = r.json()
    assert r.status_code == 200, body
    assert body["start"].startswith("2026-03-02T00:00:00") and body["basis"] == "rollups"
    assert body["end"].startswith("2026-03-04T00:00:00")
    fallback = client.get(
        "/api/v1/listening/map/areas",
        data={"level": "region", "country": "ES", "platform": "x", **WINDOW_PARAMS},
    ).json()
    assert fallback["basis"] == "mentions"
    # within one hour the times are still validated: until before since is a 422
    bad = client.get(
        "/api/v1/listening/map/points",
        data={"since": "2026-03-02T10:00:00Z", "until": "2026-03-02T09:00:00Z"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_range"


WINDOW_PARAMS = {"since": "2026-03-01", "until": "2026-03-11"}


def test_region_names_exist_for_the_regions_counted(data):
    # the rollups' region codes are the ones the map draws (GeoNames admin1 codes)
    names = mapshapes.region_names()
    drawn = set(mapshapes.region_countries())  # ES, RU, US, MX have region maps
    codes = {
        r for c, r in MentionRegionDay.objects.values_list("country", "region") if r and c in drawn
    }
    assert codes and codes <= set(names)
