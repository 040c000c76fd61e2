"""A marketer answers "how do people feel about us this week vs last, in Spain vs Russia,
compared with our competitors, and what are they talking about?" in the browser — and every
figure she reads is the API's."""

import csv
import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import httpx
import pytest
from django.db import transaction
from django.utils import timezone

from apiary.accounts.models import Role
from apiary.accounts.services import api_token_create, staff_user_create, workspace_ensure
from apiary.demo.steps.listening import QUERIES
from apiary.listening.connectors.replay import COMPETITORS, generate_mentions
from apiary.listening.consumer import PipelineState, process_mentions
from apiary.listening.models import ListeningQuery
from apiary.listening.services.queries import query_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-9"
DAYS = 14
MENTIONS = 2_400


def demo_mentions() -> None:
    """The demo's queries and two weeks of the demo generator's mentions, up to now, through
    the real pipeline (language, sentiment, queries, place)."""
    for name, kind, text in QUERIES:
        query_create(name=name, kind=kind, text=text)
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(days=DAYS)
    raws = list(
        generate_mentions(
            7,
            0,
            MENTIONS,
            t0=start,
            rate_per_minute=MENTIONS / (DAYS * 24 * 60),
            spike_every_minutes=DAYS * 24 * 60 / 3,
            spike_minutes=180,
            spike_multiplier=6,
            competitors=COMPETITORS,
        )
    )
    first, last = raws[0].created_at, raws[-1].created_at
    scale = (now - timedelta(minutes=5) - start) / (last - first)
    raws = [
        replace(r, created_at=start + (r.created_at - first) * scale, received_at=now) for r in raws
    ]
    state = PipelineState()
    for i in range(0, len(raws), 1000):
        with transaction.atomic():
            process_mentions(raws[i : i + 1000], state=state)
    try:  # trending terms and topics, when the trends module is installed
        from apiary.listening.trends import terms_rollup_once, topics_cluster
    except ImportError:
        return
    while terms_rollup_once(settle_seconds=0):
        pass
    # Topics only where the test reads them, the competitor pages (trends_refresh would embed
    # every sampled text of all nine queries: ~5 s more).
    for query in ListeningQuery.objects.filter(kind="competitor"):
        topics_cluster(query_id=query.pk, days=DAYS)


def log_in(page, email):
    page.goto("/accounts/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/dashboard/")


def params_of(page) -> dict:
    return dict(parse_qsl(urlparse(page.url).query))


def number(page, selector) -> int:
    return int(page.locator(selector).inner_text().strip())


def test_a_marketer_compares_weeks_countries_and_competitors(page_factory, live_server, screenshot):
    # given: the demo's brand and competitors, two weeks of mentions in en/es/ru
    workspace_ensure(name="Northwind Coffee Roasters")
    user = staff_user_create(email="marketer@example.com", password=PASSWORD, role=Role.ANALYST)
    demo_mentions()
    _t, token = api_token_create(user=user, name="browser test")
    api = httpx.Client(
        base_url=f"{live_server.url}/api/v1/listening",
        headers={"Authorization": f"Bearer {token}"},
    )
    brand = ListeningQuery.objects.get(kind="brand")
    page = page_factory()
    log_in(page, "marketer@example.com")

    # when: she opens the barometer for the brand and picks "this week vs last week"
    page.goto(f"/listening/insight/?query_id={brand.pk}")
    page.click(".preset-week")
    page.locator('#insight-body[data-compare="yes"]').wait_for()
    # then: the figures are the API's for the same parameters
    week = params_of(page)
    assert {"start", "end", "compare_start", "compare_end"} <= set(week)
    body = api.get("/barometer", params=week).json()
    assert number(page, "#total-volume") == body["totals"]["volume"]
    assert number(page, "#compare-volume") == body["compare"]["totals"]["volume"]
    assert page.locator("#total-net").inner_text() == (
        "—"
        if body["totals"]["net_sentiment"] is None
        else f"{body['totals']['net_sentiment']:+.2f}"
    )
    assert page.locator("#chart-volume svg").count() == 1

    # when: Spain, then Russia
    seen = {}
    for country in ("ES", "RU"):
        page.fill("#f-country", country)
        page.press("#f-country", "Enter")
        page.locator(f'#insight-body[data-country="{country}"]').wait_for()
        body = api.get("/barometer", params=params_of(page)).json()
        assert body["filters"]["country"] == country
        assert number(page, "#total-volume") == body["totals"]["volume"]
        assert number(page, "#compare-volume") == body["compare"]["totals"]["volume"]
        # and the brand against each competitor, same filters and periods
        for row in page.locator("#rivals tbody tr").all():
            qid = row.get_attribute("data-query-id")
            same = api.get("/barometer", params={**params_of(page), "query_id": qid}).json()
            assert int(row.locator(".volume").inner_text()) == same["totals"]["volume"]
            assert (
                int(row.locator(".compare-volume").inner_text())
                == (same["compare"]["totals"]["volume"])
            )
        seen[country] = body["totals"]["volume"]
    assert page.locator("#rivals tbody tr").count() == 1 + len(COMPETITORS)
    assert seen["ES"] > 0 and seen["RU"] > 0  # the demo talks in both markets
    screenshot(page, "listening-insight-barometer")

    # when: she downloads the table and the chart
    with page.expect_download() as csv_download:
        page.click(".dl-csv-buckets")
    with page.expect_download() as svg_download:
        page.click("#chart-volume .dl-svg")
    with page.expect_download() as png_download:
        page.click("#chart-volume .dl-png")
    # then
    text = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    body = api.get("/barometer", params=params_of(page)).json()
    main = [r for r in rows if r["period"] == "main"]
    assert [int(r["volume"]) for r in main] == [b["volume"] for b in body["buckets"]]
    assert sum(int(r["volume"]) for r in main) == seen["RU"]
    svg = Path(svg_download.value.path()).read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "Mention volume" in svg
    assert Path(png_download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # when: she opens share of voice, then the first competitor
    page.goto("/listening/insight/share-of-voice/")
    sov = api.get("/share-of-voice").json()
    assert number(page, "#sov-total") == sov["total"]
    page.click("nav.insight-nav >> text=Competitors")
    page.locator("#competitor-name").wait_for()
    qid = page.locator("#insight-body").get_attribute("data-query-id")
    watch = api.get(f"/competitors/{qid}").json()
    # then: its figures, and what people talk about
    assert page.locator("#competitor-name").inner_text() == watch["query"]["name"]
    assert number(page, "#total-volume") == watch["totals"]["volume"]
    assert page.locator("#top-posts li.mention").count() == len(watch["top_posts"])
    trending = page.locator("#trending").inner_text()
    topics = page.locator("#topics").inner_text()
    assert "Trending terms" in trending and "Topics" in topics
    if page.locator("#terms").count():
        terms = [t.inner_text().split()[0] for t in page.locator("#terms td.term").all()]
        assert terms  # rising terms against their baseline
    screenshot(page, "listening-insight-competitor")

    # and the platform focus recommends networks
    page.goto("/listening/insight/platforms/")
    focus = api.get("/platform-focus").json()
    assert focus["recommendation"]["text"] in page.locator("#recommendation").inner_text()
    assert page.locator("#focus tbody tr").count() == len(focus["platforms"])
