"""Mentions map: the shipped boundaries and projections (points land inside their areas), the
drawing, and the page and SVG download, with mentions stored by the real pipeline."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction
from django.test import Client

from apiary.accounts.models import Role
from apiary.listening import mapdraw, mapshapes
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.services.queries import query_create

from .factories import raw_mention

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
SINCE, UNTIL = "2026-03-01", "2026-03-10"

# City, lat, lon, the country and (where we ship regions) the region it is counted in.
CITIES = [
    ("Madrid", 40.4165, -3.7026, "ES", "ES.29"),
    ("Sevilla", 37.3828, -5.9732, "ES", "ES.51"),
    ("Barcelona", 41.3888, 2.1590, "ES", "ES.56"),
    ("Las Palmas", 28.0997, -15.4134, "ES", "ES.53"),
    ("Moscow", 55.7520, 37.6178, "RU", "RU.48"),
    ("Saint Petersburg", 59.9386, 30.3141, "RU", "RU.66"),
    ("Novosibirsk", 55.0226, 82.9317, "RU", "RU.53"),
    ("Kaliningrad", 54.7104, 20.4522, "RU", "RU.23"),
    ("Anadyr", 64.7342, 177.5103, "RU", "RU.15"),
    ("Buenos Aires", -34.6037, -58.3816, "AR", None),
    ("London", 51.5072, -0.1276, "GB", None),
    ("New York", 40.7128, -74.0060, "US", "US.NY"),
    ("Seattle", 47.6062, -122.3321, "US", "US.WA"),
    ("Mexico City", 19.4326, -99.1332, "MX", "MX.09"),
    ("Sydney", -33.8688, 151.2093, "AU", None),
    ("Almaty", 43.2380, 76.9450, "KZ", None),
    ("Simferopol", 44.9521, 34.1024, "UA", None),
]


# --- Boundaries and projections (no database) -----------------------------------------------


@pytest.mark.parametrize(("city", "lat", "lon", "cc", "region"), CITIES)
def test_a_city_projects_inside_its_country_on_the_world_map(city, lat, lon, cc, region):
    world = mapshapes.view("world")
    x, y = world.project(lat, lon)
    x0, y0, x1, y1 = world.bboxes()[cc]
    # given the same projection for points and paths, the point is inside the area's box …
    assert x0 <= x <= x1 and y0 <= y <= y1, city
    assert 0 <= x <= world.width and 0 <= y <= world.height
    # … and in the polygon itself, give or take the world map's simplification (0.12°, a third
    # of a pixel: Barcelona's coast moves a little; Anadyr's, at 1:10m, is in the sea)
    assert [a.code for a in world.areas if _near(a, lat, lon, 0.25)] == [cc], city


def _near(area, lat, lon, d):
    return any(
        mapshapes.point_in_area(area, lat + dy, lon + dx)
        for dy, dx in ((0, 0), (d, 0), (-d, 0), (0, d), (0, -d))
    )


@pytest.mark.parametrize(
    ("city", "lat", "lon", "cc", "region"), [c for c in CITIES if c[4] and c[0] != "Anadyr"]
)
def test_a_city_projects_inside_its_region_on_the_country_map(city, lat, lon, cc, region):
    v = mapshapes.view(cc)
    x, y = v.project(lat, lon)
    x0, y0, x1, y1 = v.bboxes()[region]
    assert x0 <= x <= x1 and y0 <= y <= y1, city
    assert [a.code for a in v.areas if mapshapes.point_in_area(a, lat, lon)] == [region], city


def test_russia_keeps_chukotka_beside_it_across_the_antimeridian():
    ru = mapshapes.view("RU")
    assert ru.geo.crosses_antimeridian
    x_kaliningrad, _ = ru.project(54.71, 20.45)
    x_anadyr, _ = ru.project(64.73, 177.51)
    x_east_tip, _ = ru.project(66.0, -170.0)  # Chukotka east of 180°
    assert x_kaliningrad < x_anadyr < x_east_tip <= ru.width
    assert "RU.15" in ru.paths()  # Chukotka has a shape (taken from its nearest town)


def test_region_codes_are_the_place_stages_geonames_codes():
    # given the gazetteer's region names (what Mention.region_name holds)
    from apiary.listening.place import _get_index

    idx = _get_index()
    for cc in ("ES", "RU", "US", "MX"):
        codes = {a.code for a in mapshapes.regions(cc)}
        # then every region the place stage can write has a shape, under the same code
        gazetteer = {c for c in idx.region_name if c.startswith(f"{cc}.")}
        assert gazetteer <= codes, (cc, sorted(gazetteer - codes))
    assert mapshapes.region_names()["RU.48"] == "Moscow"
    assert mapshapes.region_names()["ES.29"] == "Madrid"


def test_unknown_view_is_a_key_error():
    with pytest.raises(KeyError):
        mapshapes.view("ZZ")


def test_zoomed_view_shows_the_centre_and_a_smaller_box():
    es = mapshapes.view("ES")
    box, viewbox = es.visible(2, (40.4165, -3.7026))
    x, y = es.project(40.4165, -3.7026)
    vx, vy, vw, vh = viewbox
    assert vw == pytest.approx(es.width / 4) and vh == pytest.approx(es.height / 4)
    assert vx <= x <= vx + vw and vy <= y <= vy + vh
    assert box.south < 40.4165 < box.north and box.west < -3.7026 < box.east
    assert box.north - box.south < (es.geo.north - es.geo.south) / 2


def test_volume_classes_rise_and_sentiment_colours_follow_net_sentiment():
    bounds = mapdraw.volume_breaks(10_000)
    assert bounds == sorted(set(bounds)) and bounds[-1] == 10_000 and bounds[0] >= 1
    assert mapdraw.volume_color(0, bounds) == mapdraw.NO_DATA
    assert mapdraw.volume_color(1, bounds) == mapdraw.VOLUME[0]
    assert mapdraw.volume_color(10_000, bounds) == mapdraw.VOLUME[-1]
    assert mapdraw.volume_breaks(1) == [1]
    assert mapdraw.volume_color(1, [1]) == mapdraw.VOLUME[-1]
    assert mapdraw.sentiment_color(-0.9) == mapdraw.SENTIMENT[0]
    assert mapdraw.sentiment_color(0.0) == mapdraw.SENTIMENT[2]
    assert mapdraw.sentiment_color(0.6) == mapdraw.SENTIMENT[4]


# --- The page and the download -------------------------------------------------------------

POS = "I love Northwind coffee, wonderful espresso"
NEG = "Northwind coffee is awful, terrible service"


def store(*raws):
    with transaction.atomic():
        return process_mentions(list(raws), state=PipelineState())


def at(text, lat, lon, hours=0, **changes):
    t = T0 + timedelta(hours=hours)
    return raw_mention(
        text=text,
        created_at=t,
        received_at=t + timedelta(seconds=5),
        author_location="",
        lat=lat,
        lon=lon,
        **changes,
    )


@pytest.fixture
def mentions(db):
    query_create(name="Northwind", kind="brand", text="northwind")
    store(
        at(POS, 40.4165, -3.7026),
        at(POS, 40.42, -3.70, hours=1),
        at(NEG, 40.41, -3.71, hours=2),
        at(POS, 37.3828, -5.9732),
        at(NEG, 55.752, 37.6178),
        at(POS, -34.6037, -58.3816),
    )


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def analyst(make_user):
    return client_for(make_user(Role.ANALYST))


def _links(body: str, kind: str) -> list[dict]:
    """Query parameters of every search link of ``kind`` (area or cluster) in the SVG."""
    import re

    out = []
    pattern = (
        r'<a href="([^"]+)" data-code="[^"]+">'
        if kind == "area"
        else (r'<a href="([^"]+)" class="cluster-link">')
    )
    for href in re.findall(pattern, body):
        href = href.replace("&amp;", "&")
        parts = urlsplit(href)
        out.append({"path": parts.path, **parse_qs(parts.query)})
    return out


def test_map_page_needs_login_and_the_listening_permission(make_user, db):
    assert Client().get("/listening/map/").status_code == 302
    member = client_for(make_user(Role.MEMBER))
    assert member.get("/listening/map/").status_code == 403
    assert member.get("/listening/map/map.svg").status_code == 403


def test_world_map_colours_countries_and_links_them_to_the_search(analyst, mentions):
    # when
    page = analyst.get("/listening/map/", {"since": SINCE, "until": UNTIL})
    body = page.content.decode()
    # then
    assert page.status_code == 200
    assert 'data-view="world"' in body
    areas = {link["country"][0]: link for link in _links(body, "area")}
    assert set(areas) == {a.code for a in mapshapes.countries()}
    es = areas["ES"]
    assert es["path"] == "/listening/"
    assert es["since"] == ["2026-03-01T00:00:00Z"] and es["until"] == ["2026-03-11T00:00:00Z"]
    assert "region" not in es
    # the tooltip has the numbers; an area without mentions has the no-data fill
    assert "Spain: 4 mentions" in body
    assert "Russia: 1 mentions" in body
    assert f'fill="{mapdraw.NO_DATA}" data-count="0"' in body
    # the table lists the biggest area first
    assert page.context["top_areas"][0]["code"] == "ES"
    assert page.context["areas"]["total"] == 6


def test_clusters_link_to_a_radius_search_that_covers_their_mentions(analyst, mentions):
    page = analyst.get("/listening/map/", {"since": SINCE, "until": UNTIL})
    body = page.content.decode()
    clusters = _links(body, "cluster")
    points = page.context["points"]
    assert sum(c["count"] for c in points["clusters"]) == 6 == points["total"]
    assert len(clusters) == len(points["clusters"])
    madrid = next(c for c in points["clusters"] if abs(c["lat"] - 40.4) < 0.1)
    assert madrid["count"] == 3 and madrid["positive"] == 2 and madrid["negative"] == 1
    link = next(c for c in clusters if c["near"][0].startswith("40.4"))
    lat, lon = (float(v) for v in link["near"][0].split(","))
    assert (lat, lon) == pytest.approx((madrid["lat"], madrid["lon"]), abs=1e-4)
    assert float(link["radius_km"][0]) == madrid["radius_km"]
    assert link["since"] == ["2026-03-01T00:00:00Z"]
    assert "3 mentions within" in body


def test_spain_map_shows_regions_and_links_carry_country_and_region(analyst, mentions):
    page = analyst.get(
        "/listening/map/", {"view": "ES", "since": SINCE, "until": UNTIL, "color": "sentiment"}
    )
    body = page.content.decode()
    assert page.status_code == 200 and 'data-view="ES"' in body
    links = {link["region"][0]: link for link in _links(body, "area")}
    assert set(links) == {a.code for a in mapshapes.regions("ES")}
    assert links["ES.29"]["country"] == ["ES"]
    areas = {a["code"]: a for a in page.context["areas"]["areas"]}
    assert areas["ES.29"]["count"] == 3 and areas["ES.51"]["count"] == 1
    assert "ES.29" not in [a for a in areas if areas[a]["count"] == 0]
    # coloured by net sentiment: Madrid is (2 − 1) / 3 = +0.33, Andalusia +1
    fills = {d["code"]: d["fill"] for d in page.context["drawing"].areas}
    assert fills["ES.29"] == mapdraw.sentiment_color(1 / 3)
    assert fills["ES.51"] == mapdraw.SENTIMENT[4]
    # only Spain's mentions are clustered on Spain's map
    assert page.context["points"]["total"] == 4


def test_filters_reach_the_map_and_its_links(analyst, mentions):
    page = analyst.get(
        "/listening/map/",
        {"since": SINCE, "until": UNTIL, "sentiment": "negative", "kind": "brand"},
    )
    assert page.status_code == 200
    assert page.context["areas"]["total"] == 2
    assert page.context["points"]["total"] == 2
    link = next(iter(_links(page.content.decode(), "area")))
    assert link["sentiment"] == ["negative"] and link["kind"] == ["brand"]


def test_zoom_and_pan_links_keep_the_filters(analyst, mentions):
    page = analyst.get("/listening/map/", {"view": "ES", "since": SINCE, "until": UNTIL})
    nav = page.context["nav"]
    assert nav["zoom_out"] is None and nav["pan"] == {}
    zoom_in = parse_qs(nav["zoom_in"])
    assert zoom_in["zoom"] == ["1"] and zoom_in["view"] == ["ES"] and zoom_in["since"] == [SINCE]
    # when zoomed in on Madrid
    zoomed = analyst.get(
        "/listening/map/",
        {**{k: v[0] for k, v in zoom_in.items()}, "zoom": 3, "center": "40.4,-3.7"},
    )
    # then the viewBox is an eighth of the map, Madrid's mentions are still there (in finer cells)
    d = zoomed.context["drawing"]
    assert d.viewbox[2] == pytest.approx(d.view.width / 8)
    assert zoomed.context["points"]["zoom"] > page.context["points"]["zoom"]
    assert sum(c["count"] for c in zoomed.context["points"]["clusters"]) == 3
    assert set(zoomed.context["nav"]["pan"]) == {"north", "south", "west", "east"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"view": "ZZ"}, "view must be world or one of"),
        ({"color": "rainbow"}, "color must be one of"),
        ({"since": "2026-13-01"}, "since must be a date"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "since must be before until"),
        ({"zoom": "9"}, "zoom must be a whole number from 0 to 5"),
        ({"zoom": "1", "center": "95,0"}, "center must be"),
        ({"sentiment": "angry"}, "Unknown sentiment"),
        ({"platform": "myspace"}, "Unknown platform"),
        ({"kind": "enemy"}, "kind must be one of"),
        ({"query_id": "abc"}, "query_id must be a whole number"),
    ],
)
def test_bad_page_parameters_show_a_clear_message(analyst, db, params, message):
    page = analyst.get("/listening/map/", params)
    assert page.status_code == 400
    assert message in page.content.decode()
    svg = analyst.get("/listening/map/map.svg", params)
    assert svg.status_code == 400 and message in svg.content.decode()


def test_svg_download_is_a_standalone_svg_without_links(analyst, mentions):
    response = analyst.get("/listening/map/map.svg", {"view": "RU", "since": SINCE, "until": UNTIL})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert 'filename="mentions-map-RU.svg"' in response["Content-Disposition"]
    body = response.content.decode()
    assert body.startswith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"'
    )
    assert "<a " not in body and "Moscow: 1 mentions" in body
    import xml.etree.ElementTree as ET

    root = ET.fromstring(response.content)  # noqa: S314 (our own answer, in a test)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall(".//{http://www.w3.org/2000/svg}circle")) >= 1
