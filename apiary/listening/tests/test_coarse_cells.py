"""The coarse map cells (``MentionCoarseCellDay``, zoom 4): always the fine cells regrouped
(written by the store, re-deliveries not counted twice, rebuilt by the migration's backfill,
edge indexes included); clusters at zoom ≤ 4 read from them equal, cell for cell, the clusters
from the fine table alone and from the mention table, for the world and for boxes whose edges
cut coarse cells (read from the fine table's edge strips)."""

import importlib
import random
from collections import defaultdict
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apiary.listening import geo
from apiary.listening.models import (
    GEO_COARSE_SHIFT,
    GEO_COARSE_ZOOM,
    MentionCellDay,
    MentionCoarseCellDay,
)

from .factories import raw_mention
from .test_geo_rollups import NEG, NEU, POS, T0, WIN, _expected, _raws, store

pytestmark = pytest.mark.django_db

WORLD = "-90,-180,90,180"
COARSE_TABLE = MentionCoarseCellDay._meta.db_table
FINE_TABLE = MentionCellDay._meta.db_table

# Coordinates on the grid's edges: the poles, the antimeridian from both sides, a coarse line
# (0°, 2.8125°) and just below one.
EDGES = [
    (90.0, 180.0),
    (-90.0, -180.0),
    (89.99, -179.99),
    (-89.99, 179.99),
    (2.8125, 2.8125),
    (2.8124, 2.8124),
    (0.0001, -0.0001),
]


def _spread_raws(n=120, seed=5):
    """Mentions scattered over the whole globe (and on the grid's edges) for five days."""
    rng = random.Random(seed)
    places = EDGES + [(rng.uniform(-89, 89), rng.uniform(-179.9, 179.9)) for _ in range(n)]
    out = []
    for i, (lat, lon) in enumerate(places):
        t = T0 + timedelta(hours=3 * i)
        out.append(
            raw_mention(
                text=(POS, NEG, NEU)[i % 3].format(("Northwind", "Aurora")[i % 2]),
                created_at=t,
                received_at=t + timedelta(seconds=2),
                lat=lat,
                lon=lon,
                author_location="",
            )
        )
    return out


@pytest.fixture
def data(db):
    from apiary.listening.services.queries import query_create

    queries = [
        query_create(name="Northwind", kind="brand", text="northwind"),
        query_create(name="Aurora", kind="competitor", text="aurora"),
    ]
    raws = _raws() + _spread_raws()
    store(raws)
    return queries, raws


def _regrouped(fine: dict) -> dict:
    out: dict = defaultdict(lambda: [0, 0.0, 0.0])
    for (day, qid, cy, cx, cc, s), (n, lat_sum, lon_sum) in fine.items():
        sums = out[(day, qid, cy >> GEO_COARSE_SHIFT, cx >> GEO_COARSE_SHIFT, cc, s)]
        sums[0] += n
        sums[1] += lat_sum
        sums[2] += lon_sum
    return {k: tuple(v) for k, v in out.items()}


def _table(model) -> dict:
    return {
        (c.day, c.query_id, c.cell_lat, c.cell_lon, c.country, c.sentiment): (
            c.count,
            c.lat_sum,
            c.lon_sum,
        )
        for c in model.objects.all()
    }


def _same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, (n, lat_sum, lon_sum) in want.items():
        assert got[key][0] == n, key
        assert got[key][1] == pytest.approx(lat_sum, abs=1e-9)
        assert got[key][2] == pytest.approx(lon_sum, abs=1e-9)


def test_coarse_rows_are_the_fine_rows_regrouped(data):
    fine, coarse = _table(MentionCellDay), _table(MentionCoarseCellDay)
    _same(coarse, _regrouped(fine))
    _same(coarse, _regrouped(_expected()[1]))  # and so the mentions' counts
    # the edge coordinates: 90° / 180° fall in the cell past the last row / column
    assert max(k[2] for k in fine) == 2048 and max(k[3] for k in fine) == 4096
    assert max(k[2] for k in coarse) == 64 and max(k[3] for k in coarse) == 128
    assert min(k[2] for k in coarse) == 0 and min(k[3] for k in coarse) == 0


def test_redelivered_mentions_do_not_count_twice_in_the_coarse_cells(data):
    # given
    _queries, raws = data
    before = sum(MentionCoarseCellDay.objects.values_list("count", flat=True))
    # when: everything again, plus one new geotagged Northwind mention
    fresh = raw_mention(text=POS.format("Northwind"), created_at=T0, lat=10.0, lon=20.0)
    result = store([*raws, fresh])
    # then
    assert result.inserted == 1
    assert sum(MentionCoarseCellDay.objects.values_list("count", flat=True)) == before + 2
    _same(_table(MentionCoarseCellDay), _regrouped(_table(MentionCellDay)))


def test_migration_backfill_rebuilds_the_coarse_cells(data):
    # given: fine cells on every edge index a coarse cell has (0, 31, 32, …, 2048 / 4096)
    day = MentionCellDay.objects.values_list("day", flat=True).first()
    for i, (cy, cx) in enumerate([(0, 0), (31, 31), (32, 32), (2047, 4095), (2048, 4096)]):
        MentionCellDay.objects.create(
            day=day, query_id=999, cell_lat=cy, cell_lon=cx, sentiment="neutral", count=i + 1
        )
    want = _regrouped(_table(MentionCellDay))
    MentionCoarseCellDay.objects.all().delete()
    migration = importlib.import_module("apiary.listening.migrations.0006_coarse_cells")
    assert migration.FINE_PER_COARSE == 2**GEO_COARSE_SHIFT
    # when (the function only needs the editor's connection)
    migration.backfill(None, SimpleNamespace(connection=connection))
    # then
    got = _table(MentionCoarseCellDay)
    _same(got, want)
    edge = {(k[2], k[3]): v[0] for k, v in got.items() if k[1] == 999}
    assert edge == {(0, 0): 1 + 2, (1, 1): 3, (63, 127): 4, (64, 128): 5}


def _fine_only(box, zoom, f, country=None):
    """The same clusters summed from the fine table alone (what zoom > 4 reads)."""
    k = 2 ** (geo.GEO_CELL_ZOOM - zoom)
    lat_range = (geo.geo_cell(box.south, 0)[0], geo.geo_cell(box.north, 0)[0])
    lon_ranges = [(geo.geo_cell(0, w)[1], geo.geo_cell(0, e)[1]) for w, e in box.lon_ranges()]
    rows = geo._cell_sums(MentionCellDay, k, WIN, f, country, lat_range, lon_ranges)
    return {(int(r["cy"]), int(r["cx"])): r for r in rows if r["n"]}


def _check_cell_for_cell(box, zoom, f, country=None):
    cell = geo.cell_for_zoom(zoom)
    rolled = geo._cells_from_rollups(box, zoom, WIN, f, country)
    fine = _fine_only(box, zoom, f, country)
    direct = {
        (round(r["s"], 6), round(r["w"], 6)): r
        for r in geo._cells_from_mentions(box, cell, WIN, f, country)
    }
    assert len(rolled) == len(fine) == len(direct), (box, zoom)
    mix = ("n", *geo.SENTIMENTS)
    for r in rolled:
        fr = fine[(r["cy"], r["cx"])]
        d = direct[(round(r["s"], 6), round(r["w"], 6))]
        assert [r[k] or 0 for k in mix] == [fr[k] or 0 for k in mix] == [d[k] or 0 for k in mix]
        assert r["lat_sum"] == pytest.approx(fr["lat_sum"]) and r["lat"] == pytest.approx(d["lat"])
        assert r["lon"] == pytest.approx(d["lon"])
    return rolled


@pytest.mark.parametrize("zoom", range(GEO_COARSE_ZOOM + 1))
def test_world_clusters_from_the_coarse_cells_equal_fine_cells_and_mentions(data, zoom):
    queries, _raws = data
    world = geo.parse_bbox(WORLD)
    for f in (
        geo.map_filters(),
        geo.map_filters(query_id=queries[0].pk),
        geo.map_filters(sentiment=("negative",)),
    ):
        rolled = _check_cell_for_cell(world, zoom, f)
        assert sum(r["n"] for r in rolled) > 0
    # the world box lies on coarse lines: only the coarse table is read
    with CaptureQueriesContext(connection) as ctx:
        body = geo.clusters(box=world, zoom=zoom, win=WIN, f=geo.map_filters())
    assert body["basis"] == "rollups" and body["total"] > 100
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert COARSE_TABLE in sql and FINE_TABLE not in sql


def test_boxes_cutting_coarse_cells_read_the_edge_strips_from_the_fine_table(data):
    rng = random.Random(11)
    boxes = ["-60,-180,85,180", "35,-10,44,4", "-60,100,80,-50", "-40,-179,0,-60"]
    for _ in range(25):
        s, n = sorted(rng.uniform(-90, 90) for _ in range(2))
        w, e = (rng.uniform(-180, 180) for _ in range(2))  # w > e crosses the antimeridian
        boxes.append(f"{s},{w},{n},{e}")
    f = geo.map_filters()
    for bbox in boxes:
        box = geo.parse_bbox(bbox)
        for zoom in range(GEO_COARSE_ZOOM + 1):
            cell = geo.cell_for_zoom(zoom)
            n_cells = ((box.north - box.south) // cell + 1) * ((box.east - box.west) // cell + 1)
            if n_cells <= geo.MAX_CELLS:
                _check_cell_for_cell(box, zoom, f)
    # a country's clusters too
    _check_cell_for_cell(geo.parse_bbox("35,-10,44,4"), 3, f, "ES")
    # the page's world box cuts coarse cells at -60° and 85°: both tables are read
    with CaptureQueriesContext(connection) as ctx:
        geo.clusters(box=geo.parse_bbox("-60,-180,85,180"), zoom=3, win=WIN, f=f)
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert COARSE_TABLE in sql and FINE_TABLE in sql


def test_split_ranges():
    top = 2048
    assert geo._split(0, top, top) == ((0, top), [])  # the whole grid: all coarse
    assert geo._split(0, 31, top) == ((0, 31), [])
    assert geo._split(0, 30, top) == (None, [(0, 30)])
    assert geo._split(5, 70, top) == ((32, 63), [(5, 31), (64, 70)])
    assert geo._split(32, 2047, top) == ((32, 2047), [])
    assert geo._split(2040, top, top) == ((2048, 2048), [(2040, 2047)])


def test_edge_strip_queries_use_their_indexes_on_sqlite(data):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's EXPLAIN QUERY PLAN")
    with CaptureQueriesContext(connection) as ctx:
        geo.clusters(box=geo.parse_bbox("-41,-101,41,101"), zoom=2, win=WIN, f=geo.map_filters())
    plans = {}
    with connection.cursor() as cursor:
        for q in ctx.captured_queries:
            cursor.execute("EXPLAIN QUERY PLAN " + q["sql"])
            plans[q["sql"]] = " ".join(row[-1] for row in cursor.fetchall())
    used = sorted(p for p in plans.values())
    assert any("listening_coarse_day_query" in p for p in used), used
    assert any("listening_cell_day_lon (day=? AND query_id=? AND cell_lon>?" in p for p in used), (
        used
    )
    assert any(
        "autoindex_listening_mentioncellday_1 (day=? AND query_id=? AND cell_lat>?" in p
        for p in used
    ), used
