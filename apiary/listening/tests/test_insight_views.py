"""Listening insight pages: the figures on the page, in its CSV and in its charts are the API's;
SVG and PNG downloads; clear 400s for bad filters; login and permission required."""

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.test import Client

from apiary.accounts.models import Role
from apiary.listening import insight
from apiary.listening.views_insight import presets

from .test_insight import NEG, NEU, POS, T0, day, post, queries, store  # noqa: F401

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
API = "/api/v1/listening"
WEEK = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z"}


@pytest.fixture
def analyst(make_user):
    client = Client()
    client.force_login(make_user(Role.ANALYST))
    return client


@pytest.fixture
def api_client(api, make_user):
    return api(make_user(Role.ANALYST))


@pytest.fixture
def mentions(queries):  # noqa: F811
    """Two weeks: brand in Spain and Russia, two competitors, a burst of brand complaints."""
    raws = []
    for n in range(14):
        raws.append(post(POS, "Northwind", day(n, 9)))
        raws.append(post(NEU, "Blue Harbor", day(n, 10), location="Москва", platform="vk"))
        if n % 2:
            raws.append(post(NEG, "Aurora", day(n, 11), location="Barcelona"))
    raws.append(post(POS, "Northwind", day(8, 13), location="Москва", platform="telegram"))
    raws += [post(NEG, "Northwind", day(10, 15)) for _ in range(9)]
    store(*raws)
    return queries


def rows_of(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def parse_svg(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314 — our own output, checked to be well-formed XML


def num(value: str):
    return None if value == "" else float(value)


# --- Access --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/listening/insight/",
        "/listening/insight/share-of-voice/",
        "/listening/insight/competitors/",
        "/listening/insight/competitors/1/",
        "/listening/insight/platforms/",
        "/listening/insight/?format=csv",
    ],
)
def test_pages_need_login_and_the_listening_permission(client, make_user, path):
    # when
    anonymous = Client().get(path)
    member = Client()
    member.force_login(make_user(Role.MEMBER))
    # then
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert member.get(path).status_code == 403


# --- Barometer -----------------------------------------------------------------------------


def test_barometer_page_shows_the_api_figures_with_a_compared_period(analyst, api_client, mentions):
    # given: the second week against the first
    params = {
        "query_id": mentions.brand.pk,
        "start": "2026-03-09T00:00:00Z",
        "end": "2026-03-16T00:00:00Z",
        "compare_start": "2026-03-02T00:00:00Z",
        "compare_end": "2026-03-09T00:00:00Z",
        "country": "ES",
    }
    # when
    page = analyst.get("/listening/insight/", params)
    api = api_client.get(f"{API}/barometer", data=params).json()
    # then
    assert page.status_code == 200
    html = page.content.decode()
    assert page.context["data"]["totals"] == api["totals"]  # the very same function
    assert int(text_of(html, "total-volume")) == api["totals"]["volume"] == 7 + 9
    assert int(text_of(html, "compare-volume")) == api["compare"]["totals"]["volume"] == 7
    assert int(text_of(html, "total-negative")) == api["totals"]["negative"] == 9
    assert text_of(html, "total-net") == f"{api['totals']['net_sentiment']:+.2f}"
    assert text_of(html, "volume-change") == f"{api['compare']['volume_change']:+.0%}"
    # brand and competitors under the same filters: each row is that query's barometer
    rivals = page.context["comparison"]
    assert [r["query"].name for r in rivals] == ["Northwind", "Aurora", "Blue Harbor"]
    for r in rivals:
        same = api_client.get(f"{API}/barometer", data={**params, "query_id": r["query"].pk})
        assert r["totals"] == same.json()["totals"]
        assert r["compare"] == same.json()["compare"]["totals"]
    # the spike of complaints is annotated and links to the search with the same filters
    assert [s["start"] for s in api["spikes"]] == ["2026-03-12T00:00:00Z"]
    assert 'href="/listening/?query_id=' in html and "sentiment=negative" in html
    assert "since=2026-03-12T00%3A00%3A00Z" in html and "country=ES" in html


def test_barometer_russia_against_spain(analyst, mentions):
    # when
    spain = analyst.get("/listening/insight/", {**WEEK, "country": "ES"}).context["data"]
    russia = analyst.get("/listening/insight/", {**WEEK, "country": "ru"}).context["data"]
    # then: all mentions in each country during the first week
    assert spain["totals"]["volume"] == 7 + 3  # brand every day, Aurora on odd days
    assert russia["totals"]["volume"] == 7  # Blue Harbor on vk
    assert russia["filters"]["country"] == "RU"


def test_barometer_csv_on_the_page_and_the_api_equals_the_json(analyst, api_client, mentions):
    # given
    params = {
        "query_id": mentions.brand.pk,
        "start": "2026-03-02",
        "end": "2026-03-16",
        "compare_start": "2026-02-16",
        "compare_end": "2026-03-02",
    }
    # when
    body = api_client.get(f"{API}/barometer", data=params).json()
    page_csv = rows_of(analyst.get("/listening/insight/", {**params, "format": "csv"}))
    api_csv = rows_of(api_client.get(f"{API}/barometer", data={**params, "format": "csv"}))
    spikes_csv = rows_of(
        api_client.get(f"{API}/barometer", data={**params, "format": "csv", "table": "spikes"})
    )
    # then
    assert page_csv == api_csv
    main = [r for r in page_csv if r["period"] == "main"]
    assert len(main) == len(body["buckets"]) == 14
    assert len([r for r in page_csv if r["period"] == "compare"]) == 14
    for row, bucket in zip(main, body["buckets"], strict=True):
        assert row["start"] == bucket["start"]
        for k in ("volume", "positive", "neutral", "negative"):
            assert int(row[k]) == bucket[k]
        assert num(row["net_sentiment"]) == bucket["net_sentiment"]
    assert [r["spike"] for r in main].count("1") == len(body["spikes"]) == 1
    assert [r["start"] for r in spikes_csv] == [s["start"] for s in body["spikes"]]


def test_barometer_charts_download_as_svg_and_png(analyst, mentions):
    # given
    params = {**WEEK, "query_id": mentions.brand.pk, "compare_start": "2026-03-09"}
    params["compare_end"] = "2026-03-16"
    # when
    svg = analyst.get("/listening/insight/", {**params, "format": "svg", "chart": "volume"})
    net = analyst.get("/listening/insight/", {**params, "format": "svg", "chart": "net_sentiment"})
    png = analyst.get("/listening/insight/", {**params, "format": "png", "chart": "volume"})
    # then
    assert svg["Content-Type"].startswith("image/svg+xml")
    assert 'filename="barometer-volume.svg"' in svg["Content-Disposition"]
    root = parse_svg(svg.content)
    assert root.get("data-points") == "7"
    series = {g.get("data-series"): g for g in root.iter(f"{SVG}g") if g.get("data-series")}
    assert set(series) == {"volume", "negative", "compare_volume"}
    assert all(len(g.findall(f"{SVG}circle")) == 7 for g in series.values())
    assert root.find(f"{SVG}title").text.startswith("Mention volume: Northwind")
    assert parse_svg(net.content).get("data-chart") == "barometer-net"
    assert png["Content-Type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_empty_period_says_so(analyst, queries):  # noqa: F811
    # when
    page = analyst.get("/listening/insight/", WEEK)
    svg = analyst.get("/listening/insight/", {**WEEK, "format": "svg"})
    # then
    assert page.status_code == 200
    assert "No mentions in this period." in page.content.decode()
    root = parse_svg(svg.content)
    assert root.get("data-empty") == "true"
    assert "No mentions in this period." in "".join(root.itertext())


def test_htmx_gets_only_the_page_body(analyst, mentions):
    # when
    part = analyst.get("/listening/insight/", {**WEEK, "country": "RU"}, HTTP_HX_REQUEST="true")
    # then
    html = part.content.decode()
    assert html.lstrip().startswith('<div id="insight-body"')
    assert "<html" not in html and 'id="total-volume"' in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"interval": "month"}, "interval"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-03-09", "end": "2026-03-02"}, "must be before"),
        ({"compare_start": "2026-03-02"}, "compare_end"),
        ({"country": "Spain"}, "two-letter"),
        ({"platform": "myspace"}, "platform"),
        ({"colour": "red"}, "Unknown filter(s): colour"),
        ({"format": "xls"}, "format must be one of"),
        ({"query_id": "abc"}, "query_id"),
        ({"start": "2000-01-01", "end": "2099-01-01", "interval": "hour"}, "buckets"),
    ],
)
def test_bad_filters_are_a_friendly_400_on_the_page(analyst, queries, params, message):  # noqa: F811
    # when
    page = analyst.get("/listening/insight/", params)
    # then
    assert page.status_code == 400
    html = page.content.decode()
    assert 'id="insight-errors"' in html and message in html
    assert 'id="insight-filters"' in html  # the form is there to fix it


def test_bad_downloads_are_plain_400s(analyst, queries):  # noqa: F811
    # when
    chart = analyst.get("/listening/insight/", {"format": "svg", "chart": "pie"})
    table = analyst.get("/listening/insight/", {"format": "csv", "table": "nope"})
    bad = analyst.get("/listening/insight/", {"format": "png", "interval": "year"})
    missing = analyst.get("/listening/insight/", {"query_id": "999999"})
    # then
    assert chart.status_code == 400 and "chart must be one of" in chart.content.decode()
    assert table.status_code == 400 and "table must be one of" in table.content.decode()
    assert bad.status_code == 400 and bad["Content-Type"].startswith("text/plain")
    assert missing.status_code == 404 and "No such query." in missing.content.decode()


def test_api_csv_bad_input_is_422(api_client, queries):  # noqa: F811
    # when
    fmt = api_client.get(f"{API}/barometer", data={"format": "xml"})
    table = api_client.get(f"{API}/share-of-voice", data={"format": "csv", "table": "nope"})
    stray = api_client.get(f"{API}/platform-focus", data={"table": "platforms"})
    # then
    assert fmt.status_code == 422
    assert table.status_code == 422 and table.json()["code"] == "invalid_table"
    assert stray.status_code == 422 and "format=csv" in stray.json()["detail"]


def test_presets_compare_the_week_so_far_with_the_same_span_last_week():
    # given: Wednesday 11 March 2026, 14:20 UTC
    now = T0 + timedelta(days=9, hours=14, minutes=20)
    # when
    week = next(p for p in presets(now) if p["key"] == "week")["params"]
    # then
    assert week == {
        "start": "2026-03-09T00:00:00Z",
        "end": "2026-03-11T15:00:00Z",
        "compare_start": "2026-03-02T00:00:00Z",
        "compare_end": "2026-03-04T15:00:00Z",
        "interval": "day",
    }


# --- Share of voice ------------------------------------------------------------------------


def test_share_of_voice_page_and_csv_equal_the_api(analyst, api_client, mentions):
    # given
    params = {"start": "2026-03-02", "end": "2026-03-16", "by": "volume"}
    # when
    page = analyst.get("/listening/insight/share-of-voice/", params)
    api = api_client.get(f"{API}/share-of-voice", data=params).json()
    queries_csv = rows_of(
        analyst.get("/listening/insight/share-of-voice/", {**params, "format": "csv"})
    )
    country_csv = rows_of(
        api_client.get(
            f"{API}/share-of-voice", data={**params, "format": "csv", "table": "by_country"}
        )
    )
    svg = analyst.get(
        "/listening/insight/share-of-voice/", {**params, "format": "svg", "chart": "over_time"}
    )
    # then
    assert page.status_code == 200
    html = page.content.decode()
    assert int(text_of(html, "sov-total")) == api["total"] == 24 + 14 + 7
    assert [(r["name"], int(r["value"]), num(r["share"])) for r in queries_csv] == [
        (q["name"], q["value"], q["share"]) for q in api["queries"]
    ]
    assert {(r["country"], r["name"]): int(r["value"]) for r in country_csv} == {
        (
            c["country"],
            next(q["name"] for q in api["queries"] if q["query_id"] == v["query_id"]),
        ): v["value"]
        for c in api["by_country"]
        for v in c["values"]
    }
    root = parse_svg(svg.content)
    assert root.get("data-points") == "14"
    assert len([g for g in root.iter(f"{SVG}g") if g.get("data-series")]) == 3


# --- Competitor watch ----------------------------------------------------------------------


def test_competitor_picker_opens_the_first_competitor_with_the_filters(analyst, mentions):
    # when
    res = analyst.get("/listening/insight/competitors/", {"interval": "week"})
    # then
    assert res.status_code == 302
    assert res["Location"] == f"/listening/insight/competitors/{mentions.aurora.pk}/?interval=week"


def test_competitor_page_and_csv_equal_the_api(analyst, api_client, mentions):
    # given
    params = {"start": "2026-03-02", "end": "2026-03-16"}
    path = f"/listening/insight/competitors/{mentions.aurora.pk}/"
    # when
    page = analyst.get(path, params)
    api = api_client.get(f"{API}/competitors/{mentions.aurora.pk}", data=params).json()
    posts_csv = rows_of(analyst.get(path, {**params, "format": "csv", "table": "top_posts"}))
    buckets_csv = rows_of(
        api_client.get(f"{API}/competitors/{mentions.aurora.pk}", data={**params, "format": "csv"})
    )
    # then
    assert page.status_code == 200
    html = page.content.decode()
    assert int(text_of(html, "total-volume")) == api["totals"]["volume"] == 7
    assert int(text_of(html, "total-negative")) == api["totals"]["negative"] == 7
    assert text_of(html, "total-net") == f"{api['totals']['net_sentiment']:+.2f}"
    assert [int(r["id"]) for r in posts_csv] == [p["id"] for p in api["top_posts"]]
    assert [int(r["volume"]) for r in buckets_csv] == [b["volume"] for b in api["buckets"]]
    assert "Aurora coffee is awful" in html


def test_competitor_page_refuses_a_topic_query(analyst, mentions):
    # when
    res = analyst.get(f"/listening/insight/competitors/{mentions.topic.pk}/")
    # then
    assert res.status_code == 400
    assert "topic query" in res.content.decode()


# --- Platform focus ------------------------------------------------------------------------


def test_platform_focus_page_and_csv_equal_the_api(analyst, api_client, mentions):
    # given
    params = {"start": "2026-03-02", "end": "2026-03-16"}
    # when
    page = analyst.get("/listening/insight/platforms/", params)
    api = api_client.get(f"{API}/platform-focus", data=params).json()
    table = rows_of(analyst.get("/listening/insight/platforms/", {**params, "format": "csv"}))
    png = analyst.get("/listening/insight/platforms/", {**params, "format": "png"})
    # then
    assert page.status_code == 200
    html = page.content.decode()
    assert api["recommendation"]["text"] in html
    assert [(r["platform"], int(r["brand_mentions"]), num(r["brand_share"])) for r in table] == [
        (p["platform"], p["brand_mentions"], p["brand_share"]) for p in api["platforms"]
    ]
    assert [r["recommended"] for r in table].count("1") == len(api["recommendation"]["platforms"])
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_calls_only_rollup_functions(analyst, mentions, django_assert_max_num_queries):
    # The barometer: a handful of GROUP BYs, whatever the number of mentions or buckets.
    params = {**WEEK, "compare_start": "2026-03-09", "compare_end": "2026-03-16"}
    with django_assert_max_num_queries(12):
        analyst.get("/listening/insight/", params)
    assert insight.MAX_BUCKETS  # the bucket count is bounded too


def test_language_filter_lists_language_codes(analyst, queries):  # noqa: F811
    # when
    page = analyst.get("/listening/insight/", {"language": "es"}).content.decode()
    # then: the page's own choices, not the interface-language switcher's dicts
    select = page[
        page.index('id="f-language"') : page.index("</select>", page.index('id="f-language"'))
    ]
    assert '<option value="es" selected>es</option>' in select
    assert '<option value="ru" >ru</option>' in select or '<option value="ru">ru</option>' in select
    assert "{" not in select
