"""The SVG chart renderer: well-formed, accessible, one mark per point, a clear empty state,
text escaped, stable colours, and PNG through cairosvg."""

import xml.etree.ElementTree as ET

import pytest

from apiary.listening import charts

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 — our own output: the test is that it parses


def series_groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-series"): g for g in root.iter(f"{NS}g") if g.get("data-series")}


def test_time_chart_has_a_point_per_bucket_per_series_and_is_accessible():
    # given
    labels = [f"{d} Mar" for d in range(1, 8)]
    volume = charts.Series("Volume", [3, 0, 5, 9, 2, 1, 4], "#b7791f", "area", "volume")
    compare = charts.Series("Before", [1, 2, None, 2, 2, 1, 0], "#777", "dashed", "compare")
    # when
    root = parse(
        charts.time_chart(
            title="Mention volume",
            desc="7 days",
            labels=labels,
            series=[volume, compare],
            bands=[charts.Band(3, "Spike: 9 negative")],
        )
    )
    # then
    assert root.get("role") == "img" and root.get("data-points") == "7"
    title, desc = root.find(f"{NS}title"), root.find(f"{NS}desc")
    assert (title.text, desc.text) == ("Mention volume", "7 days")
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    groups = series_groups(root)
    assert len(groups["volume"].findall(f"{NS}circle")) == 7
    assert len(groups["compare"].findall(f"{NS}circle")) == 6  # a gap stays a gap
    assert groups["compare"].find(f"{NS}path").get("stroke-dasharray")
    spikes = [r for r in root.iter(f"{NS}rect") if r.get("class") == "spike"]
    assert len(spikes) == 1 and spikes[0].find(f"{NS}title").text == "Spike: 9 negative"
    tooltips = [c.find(f"{NS}title").text for c in groups["volume"].findall(f"{NS}circle")]
    assert tooltips[3] == "Volume · 4 Mar: 9"
    legend = "".join(next(g for g in root.iter(f"{NS}g") if g.get("class") == "legend").itertext())
    assert "Volume" in legend and "Before" in legend


def test_stacked_bars_stack_and_grouped_bars_sit_side_by_side():
    # given
    series = [
        charts.Series("Positive", [2, 4], charts.SENTIMENT_COLORS["positive"], key="positive"),
        charts.Series("Negative", [1, 0], charts.SENTIMENT_COLORS["negative"], key="negative"),
    ]
    # when
    stacked = parse(
        charts.bar_chart(title="t", desc="d", categories=["a", "b"], series=series, stacked=True)
    )
    grouped = parse(charts.bar_chart(title="t", desc="d", categories=["a", "b"], series=series))

    # then
    def bars(root, key):
        return series_groups(root)[key].findall(f"{NS}rect")

    pos, neg = bars(stacked, "positive"), bars(stacked, "negative")
    assert len(pos) == len(neg) == 2
    # the negative bar of "a" sits on top of the positive one, same x
    assert pos[0].get("x") == neg[0].get("x")
    assert float(neg[0].get("y")) + float(neg[0].get("height")) == pytest.approx(
        float(pos[0].get("y")), abs=0.2
    )
    gpos, gneg = bars(grouped, "positive"), bars(grouped, "negative")
    assert float(gneg[0].get("x")) > float(gpos[0].get("x"))
    assert float(gneg[1].get("height")) == 0


def test_share_bar_splits_the_width_by_share():
    # when
    root = parse(
        charts.share_bar(
            title="Share of voice",
            desc="",
            parts=[("Northwind", 30, "#b7791f"), ("Aurora", 10, "#2d6cdf")],
        )
    )
    # then
    rects = series_groups(root)["share"].findall(f"{NS}rect")
    widths = [float(r.get("width")) for r in rects]
    assert widths[0] == pytest.approx(3 * widths[1], rel=0.01)
    assert rects[0].find(f"{NS}title").text == "Northwind: 30 (75.0%)"


@pytest.mark.parametrize(
    "svg",
    [
        lambda: charts.time_chart(title="T", desc="", labels=["a", "b"], series=[]),
        lambda: charts.time_chart(
            title="T", desc="", labels=["a"], series=[charts.Series("v", [0], "#000")]
        ),
        lambda: charts.bar_chart(title="T", desc="", categories=[], series=[]),
        lambda: charts.share_bar(title="T", desc="", parts=[("a", 0, "#000")]),
    ],
)
def test_no_data_renders_a_clear_empty_state(svg):
    # when
    root = parse(svg())
    # then
    assert root.get("data-empty") == "true"
    assert "No mentions in this period." in "".join(root.itertext())
    assert not series_groups(root)


def test_text_is_escaped():
    # given: a query named by a user
    name = '<script>alert("x")</script> & Co'
    # when
    svg = charts.bar_chart(
        title=name, desc=name, categories=[name], series=[charts.Series(name, [1], "#000")]
    )
    # then
    root = parse(svg)
    assert "<script>" not in svg
    assert root.find(f"{NS}title").text == name


def test_colours_are_stable_per_query_and_sentiment():
    assert charts.query_color(3) == charts.query_color(3) != charts.query_color(4)
    assert charts.query_color(0) == charts.query_color(None) == charts.ALL_MENTIONS_COLOR
    assert charts.query_color(1) == charts.query_color(1 + len(charts.PALETTE))
    assert charts.SENTIMENT_COLORS["negative"] not in charts.PALETTE


def test_nice_ticks_cover_the_range_with_round_steps():
    assert charts.nice_ticks(0, 9) == [0, 2.5, 5, 7.5, 10]
    assert charts.nice_ticks(-1, 1) == [-1, -0.5, 0, 0.5, 1]
    assert charts.nice_ticks(0, 1234)[-1] >= 1234


def test_many_buckets_keep_the_line_but_drop_the_markers():
    # when
    n = charts.MAX_MARKERS + 1
    root = parse(
        charts.time_chart(
            title="T",
            desc="",
            labels=[str(i) for i in range(n)],
            series=[charts.Series("v", list(range(n)), "#000", key="v")],
        )
    )
    # then
    group = series_groups(root)["v"]
    assert group.get("data-count") == str(n)
    assert not group.findall(f"{NS}circle") and group.find(f"{NS}path") is not None
    labels = list(root.iter(f"{NS}text"))
    assert len(labels) < 50  # x labels thinned


def test_png_is_a_png():
    # when
    data = charts.png(charts.empty("Nothing"))
    # then
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
