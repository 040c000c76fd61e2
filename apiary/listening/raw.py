"""The one shape every source normalises to: :class:`RawMention`, keyed by
``(platform, external_id)``, and the validator that turns an untrusted dict (webhook item, file
line, connector payload) into one — or into a list of reasons, never an exception.

Pure: no Django models, no DB.  The same validator serves the webhook, the file import, every
connector and the stream's decoder, so a mention means the same thing whichever way it came in.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

# Platforms a mention may come from: the customers app's social platforms plus the kinds of
# site that RSS/Atom and file sources bring in. Listed here (not imported from
# customers.models) so this module stays free of Django.
PLATFORMS = frozenset(
    {
        "bluesky",
        "mastodon",
        "x",
        "facebook",
        "instagram",
        "vk",
        "telegram",
        "youtube",
        "reddit",
        "tiktok",
        "trustpilot",
        "google_reviews",
        "yelp",
        "tripadvisor",
        "news",
        "web",
        "other",
    }
)

MAX_TEXT_CHARS = 20_000  # long-form reviews fit; a 1 MB blob is refused, not truncated silently
MAX_ID_CHARS = 255
MAX_SHORT_CHARS = 300  # handles, names, location text
MAX_URL_CHARS = 2_000
# Social networks did not exist before this; a 1970 date is a parser default, not a post time.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks drift; a post "from the future" by more than this is a bad timestamp.
FUTURE_SKEW = timedelta(hours=1)

# C0/C1 control characters except tab and newline; NUL breaks PostgreSQL text columns.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


@dataclass(slots=True)
class RawMention:
    platform: str
    external_id: str
    text: str
    created_at: datetime
    received_at: datetime
    language_hint: str = ""
    author_handle: str = ""
    author_name: str = ""
    author_url: str = ""
    author_followers: int | None = None
    author_location: str = ""
    url: str = ""
    parent_external_id: str = ""
    quote_external_id: str = ""
    lat: float | None = None
    lon: float | None = None
    source_id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.platform, self.external_id)

    def to_json(self) -> str:
        """Stream/outbox encoding; :func:`mention_from_json` reverses it.

        Built field by field: ``dataclasses.asdict`` deep-copies ``raw`` and cost more than
        the rest of receipt together (``raw`` is already plain JSON data)."""
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["created_at"] = self.created_at.isoformat()
        data["received_at"] = self.received_at.isoformat()
        return _ENCODER.encode(data)


_FIELD_NAMES = tuple(f.name for f in fields(RawMention))
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def mention_from_json(payload: str | bytes) -> RawMention:
    """Decode what :meth:`RawMention.to_json` wrote (trusted: it was validated on receipt)."""
    data = json.loads(payload)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    return RawMention(**data)


class Rejected(ValueError):
    """Raised by :func:`raw_mention_validate` with every reason found, field by field."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def clean_text(value: str) -> str:
    """Unicode NFC, no control characters (tab/newline kept), trimmed."""
    # is_normalized is a quick check that skips the copy for the usual, already-NFC text.
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    return _CONTROL_RE.sub("", value).strip()


def parse_time(value: Any) -> datetime:
    """ISO 8601 text (``Z`` allowed; no zone means UTC) or a Unix epoch in seconds/ms/µs."""
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date and time or a Unix timestamp")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("must be a finite Unix timestamp")
        # Jetstream gives microseconds, many exports milliseconds: scale by magnitude.
        while abs(number) > 1e11:
            number /= 1000.0
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError("is not a valid Unix timestamp") from exc
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-01-31T14:05:00Z")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"must be an ISO 8601 date and time, e.g. 2026-01-31T14:05:00Z (got {value[:40]!r})"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _str(data: dict, name: str, reasons: list[str], *, limit: int, required=False) -> str:
    value = data.get(name)
    if value is None:
        if required:
            reasons.append(f"{name}: is required")
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and name.endswith("id"):
        value = str(value)  # numeric ids (VK, Telegram) are fine
    if not isinstance(value, str):
        reasons.append(f"{name}: must be a string")
        return ""
    if not value.isascii() and _SURROGATE_RE.search(value):
        reasons.append(f"{name}: is not valid UTF-8")
        return ""
    value = clean_text(value)
    if required and not value:
        reasons.append(f"{name}: must not be empty")
    elif len(value) > limit:
        reasons.append(f"{name}: is longer than {limit:,} characters ({len(value):,})")
        return ""
    return value


def _coordinate(data: dict, name: str, bound: float, reasons: list[str]) -> float | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        reasons.append(f"{name}: must be a number")
        return None
    if not math.isfinite(number) or not -bound <= number <= bound:
        reasons.append(f"{name}: must be between {-bound:g} and {bound:g} (got {value!r})")
        return None
    return number


# The accepted keys of one item; anything else is refused, so that a typo ("txt") is an error
# instead of a silently empty mention.
FIELDS = frozenset(
    {
        "platform",
        "external_id",
        "text",
        "created_at",
        "language",
        "author",
        "url",
        "parent_external_id",
        "quote_external_id",
        "lat",
        "lon",
        "raw",
    }
)
AUTHOR_FIELDS = frozenset({"handle", "name", "url", "followers", "location"})


def raw_mention_validate(
    data: Any,
    *,
    received_at: datetime,
    source_id: int | None = None,
    default_platform: str | None = None,
    keep_raw: bool = True,
) -> RawMention:
    """Validate one item of the public shape (see docs/API.md, "Mentions webhook")::

        {"platform", "external_id", "text", "created_at", "language"?,
         "author"?: {"handle", "name", "url", "followers", "location"},
         "url"?, "parent_external_id"?, "quote_external_id"?, "lat"?, "lon"?, "raw"?}

    Raises :class:`Rejected` with every problem found (not just the first).
    """
    if not isinstance(data, dict):
        raise Rejected(["item: must be a JSON object"])
    reasons: list[str] = []
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        reasons.append(f"unknown field(s): {', '.join(unknown)}")

    platform = data.get("platform", default_platform)
    if not isinstance(platform, str) or not platform.strip():
        reasons.append("platform: is required")
        platform = ""
    else:
        platform = platform.strip().lower()
        if platform not in PLATFORMS:
            known = ", ".join(sorted(PLATFORMS))
            reasons.append(f"platform: unknown platform {platform[:40]!r}; one of {known}")
    external_id = _str(data, "external_id", reasons, limit=MAX_ID_CHARS, required=True)
    text = _str(data, "text", reasons, limit=MAX_TEXT_CHARS, required=True)

    created_at = received_at
    if data.get("created_at") is None:
        reasons.append("created_at: is required")
    else:
        try:
            created_at = parse_time(data["created_at"])
        except ValueError as exc:
            reasons.append(f"created_at: {exc}")
        else:
            if created_at < EARLIEST:
                reasons.append(f"created_at: is before {EARLIEST.year} ({created_at.isoformat()})")
            elif created_at > received_at + FUTURE_SKEW:
                reasons.append(f"created_at: is in the future ({created_at.isoformat()})")

    author = data.get("author") or {}
    handle = name = author_url = location = ""
    followers: int | None = None
    if not isinstance(author, dict):
        reasons.append("author: must be an object")
    else:
        bad = sorted(set(author) - AUTHOR_FIELDS)
        if bad:
            reasons.append(f"author: unknown field(s): {', '.join(bad)}")
        handle = _str(author, "handle", reasons, limit=MAX_SHORT_CHARS)
        name = _str(author, "name", reasons, limit=MAX_SHORT_CHARS)
        author_url = _str(author, "url", reasons, limit=MAX_URL_CHARS)
        location = _str(author, "location", reasons, limit=MAX_SHORT_CHARS)
        raw_followers = author.get("followers")
        if raw_followers is not None:
            if isinstance(raw_followers, bool) or not isinstance(raw_followers, int | str):
                reasons.append("author.followers: must be a whole number")
            else:
                try:
                    followers = int(raw_followers)
                except ValueError:
                    reasons.append("author.followers: must be a whole number")
                else:
                    if followers < 0:
                        reasons.append("author.followers: must not be negative")
                        followers = None
                    followers = min(followers, 2**62) if followers is not None else None

    language = _str(data, "language", reasons, limit=20).lower()
    url = _str(data, "url", reasons, limit=MAX_URL_CHARS)
    parent = _str(data, "parent_external_id", reasons, limit=MAX_ID_CHARS)
    quote = _str(data, "quote_external_id", reasons, limit=MAX_ID_CHARS)
    lat = _coordinate(data, "lat", 90.0, reasons)
    lon = _coordinate(data, "lon", 180.0, reasons)
    if (lat is None) != (lon is None) and not any(r.startswith(("lat", "lon")) for r in reasons):
        reasons.append("lat/lon: give both or neither")
        lat = lon = None

    raw = data.get("raw") if keep_raw else None
    if raw is not None and not isinstance(raw, dict):
        reasons.append("raw: must be an object")
        raw = None

    if reasons:
        raise Rejected(reasons)
    return RawMention(
        platform=platform,
        external_id=external_id,
        text=text,
        created_at=created_at,
        received_at=received_at,
        language_hint=language,
        author_handle=handle,
        author_name=name,
        author_url=author_url,
        author_followers=followers,
        author_location=location,
        url=url,
        parent_external_id=parent,
        quote_external_id=quote,
        lat=lat,
        lon=lon,
        source_id=source_id,
        raw=raw or {},
    )


def now() -> datetime:
    return datetime.now(tz=UTC)
