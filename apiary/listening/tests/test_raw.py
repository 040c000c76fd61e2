"""raw_mention_validate: every way an item can be wrong gets a reason, none an exception."""

from datetime import UTC, datetime, timedelta

import pytest

from apiary.listening.raw import Rejected, mention_from_json, raw_mention_validate

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def item(**changes):
    data = {
        "platform": "bluesky",
        "external_id": "at://did:plc:x/app.bsky.feed.post/1",
        "text": "Hola Northwind",
        "created_at": "2026-06-01T11:00:00Z",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def reasons(data) -> str:
    with pytest.raises(Rejected) as exc:
        raw_mention_validate(data, received_at=NOW)
    return "; ".join(exc.value.reasons)


def test_valid_item_round_trips_through_json():
    # given
    data = item(
        author={"handle": "ana", "followers": "12", "location": "Sevilla"}, lat=37.4, lon=-6
    )
    # when
    mention = raw_mention_validate(data, received_at=NOW, source_id=3)
    again = mention_from_json(mention.to_json())
    # then
    assert again == mention
    assert mention.author_followers == 12
    assert mention.created_at == datetime(2026, 6, 1, 11, tzinfo=UTC)
    assert mention.source_id == 3


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"external_id": None}, "external_id: is required"),
        ({"external_id": "  "}, "external_id: must not be empty"),
        ({"text": ""}, "text: must not be empty"),
        ({"text": "x" * 1_000_000}, "text: is longer than 20,000 characters"),
        ({"text": 5}, "text: must be a string"),
        ({"platform": "myspace"}, "platform: unknown platform 'myspace'"),
        ({"platform": None}, "platform: is required"),
        ({"created_at": "yesterday"}, "created_at: must be an ISO 8601"),
        ({"created_at": "1970-01-01T00:00:00Z"}, "created_at: is before 2000"),
        ({"created_at": 0}, "created_at: is before 2000"),
        ({"created_at": "2027-01-01T00:00:00Z"}, "created_at: is in the future"),
        ({"lat": 91, "lon": 0}, "lat: must be between -90 and 90"),
        ({"lat": 10}, "lat/lon: give both or neither"),
        ({"author": {"followers": -3}}, "author.followers: must not be negative"),
        ({"author": {"followers": 1.5}}, "author.followers: must be a whole number"),
        ({"author": "bob"}, "author: must be an object"),
        ({"txt": "typo"}, "unknown field(s): txt"),
        ({"text": "bad \udcff bytes"}, "text: is not valid UTF-8"),
    ],
)
def test_bad_items_are_rejected_with_the_reason(changes, expected):
    assert expected in reasons(item(**changes))


def test_all_reasons_are_reported_together():
    # when
    text = reasons({"platform": "nope", "created_at": "bad"})
    # then
    assert "platform" in text and "external_id" in text and "text" in text and "created_at" in text


def test_not_an_object():
    assert reasons(["a list"]) == "item: must be a JSON object"


def test_control_characters_are_stripped_and_epoch_microseconds_understood():
    # given
    stamp = int((NOW - timedelta(minutes=1)).timestamp() * 1_000_000)
    # when
    mention = raw_mention_validate(
        item(text="a\x00b\x07c\nd", created_at=stamp, external_id=12345), received_at=NOW
    )
    # then
    assert mention.text == "abc\nd"
    assert mention.external_id == "12345"
    assert mention.created_at == NOW - timedelta(minutes=1)
