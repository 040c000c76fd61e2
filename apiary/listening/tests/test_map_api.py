"""Mentions map API: area counts equal the rollups (and the stored mentions), clusters count
exactly the mentions with coordinates in the box, filters apply, bad input is a clear 422."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.db.models import Sum

from apiary.accounts.models import Role
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import Mention, MentionRollup
from apiary.listening.services.queries import query_create

from .factories import raw_mention

pytestmark = pytest.mark.django_db

BASE = "/api/v1/listening/map"
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
WINDOW = {"since": "2026-03-01", "until": "2026-03-10"}
POS = "I love {} coffee, wonderful espresso"
NEG = "{} coffee is awful, terrible service"
NEU = "{} coffee opens a new shop on Monday"


def store(*raws):
    with transaction.atomic():
        return process_mentions(list(raws), state=PipelineState())


def at(template, name, *, lat=None, lon=None, location="", hours=0, **changes):
    t = T0 + timedelta(hours=hours)
    return raw_mention(
        text=template.format(name),
        created_at=t,
        received_at=t + timedelta(seconds=5),
        author_location=location,
        lat=lat,
        lon=lon,
        **changes,
    )


@pytest.fixture
def data(db):
    brand = query_create(name="Northwind", kind="brand", text="northwind")
    rival = query_create(name="Aurora", kind="competitor", text="aurora")
    store(
        # Madrid: three with coordinates, one from the profile only (city coordinates)
        at(POS, "Northwind", lat=40.4165, lon=-3.7026),
        at(POS, "Northwind", lat=40.42, lon=-3.70, hours=1),
        at(NEG, "Northwind", lat=40.41, lon=-3.71, hours=2, platform="x"),
        at(NEU, "Aurora", location="Madrid, España", hours=3),
        # Sevilla, Moscow, Saint Petersburg, Buenos Aires
        at(NEG, "Aurora", lat=37.3828, lon=-5.9732, platform="x"),
        at(NEG, "Northwind", lat=55.752, lon=37.6178),
        at(POS, "Aurora", lat=59.9386, lon=30.3141),
        at(POS, "Northwind", lat=-34.6037, lon=-58.3816),
        # no place at all, and one outside the window
        at(NEU, "Northwind"),
        at(POS, "Northwind", lat=40.4165, lon=-3.7026, hours=24 * 20),
    )
    return brand, rival


@pytest.fixture
def client(api, make_user):
    return api(make_user(Role.ANALYST))


def get(client, path, **params):
    return client.get(f"{BASE}{path}", data={**WINDOW, **params})


def _by_code(body):
    return {a["code"]: a for a in body["areas"]}


def test_country_areas_come_from_the_rollups_and_match_the_mentions(client, data):
    # when
    r = get(client, "/areas")
    body = r.json()
    # then
    assert r.status_code == 200, body
    assert body["basis"] == "rollups" and body["level"] == "country"
    areas = _by_code(body)
    assert areas["ES"]["count"] == 5
    assert areas["ES"]["positive"] == 2 and areas["ES"]["negative"] == 2
    assert areas["ES"]["net_sentiment"] == pytest.approx(0.0)
    assert areas["RU"]["count"] == 2 and areas["AR"]["count"] == 1
    assert areas["ES"]["name"] == "Spain" and areas["ES"]["shape"] is True
    assert body["areas"][0]["code"] == "ES"  # biggest first
    # the totals equal the rollup rows of "all mentions" in the window …
    rollup_total = MentionRollup.objects.filter(
        query_id=0, hour__gte=body["start"], hour__lt=body["end"]
    ).aggregate(n=Sum("count"))["n"]
    assert body["total"] == rollup_total == 9
    assert body["total"] == sum(a["count"] for a in body["areas"]) + body["unknown"]
    assert body["unknown"] == 1
    # … and the stored mentions, country by country
    for code, area in areas.items():
        stored = Mention.objects.filter(
            country=code, created_at__gte=body["start"], created_at__lt=body["end"]
        ).count()
        assert area["count"] == stored, code


def test_region_areas_of_spain_and_russia(client, data):
    es = get(client, "/areas", level="region", country="es").json()
    assert es["country"] == "ES" and es["basis"] == "rollups"
    regions = _by_code(es)
    assert regions["ES.29"]["count"] == 4 and regions["ES.29"]["name"] == "Madrid"
    assert regions["ES.51"]["count"] == 1 and regions["ES.51"]["negative"] == 1
    assert es["total"] == 5
    ru = _by_code(get(client, "/areas", level="region", country="RU").json())
    assert set(ru) == {"RU.48", "RU.66"}
    assert ru["RU.48"]["negative"] == 1 and ru["RU.66"]["positive"] == 1


def test_area_filters_sentiment_platform_language_and_queries(client, data):
    brand, rival = data
    neg = _by_code(get(client, "/areas", sentiment="negative").json())
    assert neg["ES"]["count"] == 2 and neg["RU"]["count"] == 1 and "AR" not in neg
    both = _by_code(
        client.get(
            f"{BASE}/areas?since=2026-03-01&until=2026-03-10&sentiment=negative&sentiment=positive"
        ).json()
    )
    assert both["ES"]["count"] == 4
    x = _by_code(get(client, "/areas", platform="x").json())
    assert x == {"ES": x["ES"]} and x["ES"]["count"] == 2
    assert get(client, "/areas", language="ru").json()["total"] == 0
    by_query = get(client, "/areas", query_id=rival.pk).json()
    assert by_query["basis"] == "rollups"
    assert {c: a["count"] for c, a in _by_code(by_query).items()} == {"ES": 2, "RU": 1}
    by_kind = get(client, "/areas", kind="competitor").json()  # one competitor: rollups
    assert _by_code(by_kind)["ES"]["count"] == 2
    query_create(name="Blue Harbor", kind="competitor", text='"blue harbor"')
    two = get(client, "/areas", kind="competitor").json()  # two: counted once, from mentions
    assert two["basis"] == "mentions" and _by_code(two)["ES"]["count"] == 2
    brand_regions = _by_code(
        get(client, "/areas", level="region", country="ES", query_id=brand.pk).json()
    )
    assert brand_regions["ES.29"]["count"] == 3 and "ES.51" not in brand_regions


def test_clusters_count_exactly_the_mentions_with_coordinates_in_the_box(client, data):
    # given a box around Spain
    r = get(client, "/points", bbox="35,-10,44,4", zoom=3)
    body = r.json()
    assert r.status_code == 200, body
    # then: Madrid's 3 coordinates + the profile-located Madrid one (city coordinates) + Sevilla
    stored = Mention.objects.filter(
        lat__gte=35,
        lat__lte=44,
        lon__gte=-10,
        lon__lte=4,
        created_at__gte=body["start"],
        created_at__lt=body["end"],
    ).count()
    assert body["total"] == sum(c["count"] for c in body["clusters"]) == stored == 5
    assert body["cell_deg"] == 45 / 8 and body["zoom"] == 3
    # finer cells split Madrid from Sevilla; each cluster's position is its mentions' mean
    fine = get(client, "/points", bbox="35,-10,44,4", zoom=6).json()
    madrid = max(fine["clusters"], key=lambda c: c["count"])
    assert madrid["count"] == 4 and madrid["positive"] == 2 and madrid["negative"] == 1
    lats = Mention.objects.filter(lat__gt=40, lat__lt=41, created_at__lt=fine["end"])
    assert madrid["lat"] == pytest.approx(sum(m.lat for m in lats) / 4, abs=1e-4)
    s, w, n, e = madrid["cell"]
    assert s <= madrid["lat"] <= n and w <= madrid["lon"] <= e
    assert n - s == pytest.approx(45 / 64)
    # the radius covers the cell
    assert madrid["radius_km"] >= 0.5 * (n - s) * 111


def test_clusters_world_box_filters_and_antimeridian(client, data):
    world = get(client, "/points", bbox="-90,-180,90,180", zoom=0).json()
    assert world["total"] == 8  # every mention with coordinates in the window
    neg = get(client, "/points", sentiment="negative", zoom=2).json()
    assert neg["total"] == 3
    ru = get(client, "/points", country="RU", zoom=2).json()
    assert ru["total"] == 2
    # west > east crosses 180°: a box from Russia's east across the Pacific to Argentina
    across = get(client, "/points", bbox="-60,100,80,-50", zoom=1).json()
    assert across["total"] == 1  # Buenos Aires (-58.4) only; Moscow (37.6) is outside
    assert across["bbox"] == [-60, 100, 80, -50]


@pytest.mark.parametrize(
    ("path", "params", "code", "field"),
    [
        ("/points", {"bbox": "44,-10,35,4"}, "invalid_bbox", "south"),
        ("/points", {"bbox": "35,-10,95,4"}, "invalid_bbox", "latitudes"),
        ("/points", {"bbox": "35,-190,44,4"}, "invalid_bbox", "longitudes"),
        ("/points", {"bbox": "35,-10,44"}, "invalid_bbox", "south,west,north,east"),
        ("/points", {"bbox": "a,b,c,d"}, "invalid_bbox", "south,west,north,east"),
        ("/points", {"bbox": "nan,-10,44,4"}, "invalid_bbox", "south,west,north,east"),
        ("/points", {"bbox": "35,4,44,4"}, "invalid_bbox", "same"),
        ("/points", {"zoom": "15"}, "invalid_zoom", "zoom"),
        ("/points", {"zoom": "-1"}, "invalid_zoom", "zoom"),
        ("/points", {"zoom": "99999999999999999999"}, "invalid_zoom", "zoom"),
        ("/points", {"zoom": "12"}, "too_many_cells", "Zoom out"),
        ("/points", {"radius": "5"}, "unknown_filter", "radius"),
        ("/areas", {"level": "city"}, None, "level"),
        ("/areas", {"level": "region"}, "missing_country", "country"),
        ("/areas", {"level": "region", "country": "Spain"}, "invalid_country", "country"),
        ("/areas", {"colour": "red"}, "unknown_filter", "colour"),
        ("/areas", {"since": "yesterday"}, "invalid_date", "since"),
        ("/areas", {"since": "2026-03-05", "until": "2026-03-01"}, "invalid_range", "since"),
        ("/areas", {"sentiment": "angry"}, None, "sentiment"),
        ("/areas", {"platform": "myspace"}, None, "platform"),
        ("/areas", {"kind": "enemy"}, None, "kind"),
        ("/areas", {"query_id": "99999"}, "not_found", "query"),
        ("/areas", {"query_id": "1", "kind": "brand"}, "invalid_filter", "not both"),
        ("/areas", {"query_id": str(2**70)}, None, "query_id"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, data, path, params, code, field):
    r = client.get(f"{BASE}{path}", data=params)
    body = r.json()
    assert r.status_code in (404, 422), body
    if code:
        assert body["code"] == code, body
    assert field in str(body), body


def test_map_api_needs_the_listening_permission(api, member):
    assert api(member).get(f"{BASE}/areas").status_code == 403
    assert api(member).get(f"{BASE}/points").status_code == 403
    assert api().get(f"{BASE}/areas").status_code == 401


def test_page_and_api_show_the_same_numbers(client, data, make_user):
    from django.test import Client

    page_client = Client()
    page_client.force_login(make_user(Role.ANALYST, email="page@example.com"))
    page = page_client.get("/listening/map/", {**WINDOW, "view": "ES"})
    api_areas = get(client, "/areas", level="region", country="ES").json()
    assert [(a["code"], a["count"]) for a in page.context["areas"]["areas"]] == [
        (a["code"], a["count"]) for a in api_areas["areas"]
    ]
    zoom = page.context["points"]["zoom"]
    s, w, n, e = page.context["points"]["bbox"]
    api_points = get(client, "/points", bbox=f"{s},{w},{n},{e}", zoom=zoom, country="ES").json()
    assert api_points["clusters"] == page.context["points"]["clusters"]
