"""RSS 2.0 / Atom / RSS 1.0 feeds: review sites, news and alert feeds (kind ``"rss"``).

Config::

    {"url": "https://example.com/feed.xml",   # http or https
     "interval_seconds": 300,                  # 30 .. 86400
     "platform": "web",                        # optional: raw.PLATFORMS ("trustpilot", "news")
     "language": "en"}                         # optional hint, overrides the feed's own language

Each poll is a conditional GET (``If-None-Match`` / ``If-Modified-Since`` from the last 200);
the document is parsed with feedparser (which also sanitises entry HTML) and every entry not
seen before becomes one :class:`RawMention` through :func:`raw_mention_validate`. Entries that
fail validation go to ``ctx.reject`` and are remembered as seen, so they are not re-reported.

Cursor (all keys optional)::

    {"etag": '"abc"', "last_modified": "Tue, 01 Dec 2026 10:00:00 GMT",
     "seen": ["3f9a...", ...],          # digests of the last 2,000 external ids, oldest first
     "failures": 0,                     # consecutive failed polls (drives the back-off)
     "next_poll_at": "2026-12-01T10:05:00Z",
     "moved_to": "https://..."}         # where a 301/308 led last time (config is not changed)

Failures (5xx and other HTTP errors, timeouts, refused connections, an HTML page or malformed
XML instead of a feed) are reported with ``ctx.report_error`` and retried after
``interval * 2**failures`` seconds, at most an hour (or the interval, if longer); a 429 waits
what ``Retry-After`` says. A 304 or a good 200 calls ``ctx.report_ok``.
"""

from __future__ import annotations

import calendar
import io
import xml.sax
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import feedparser
import httpx

from .. import raw
from . import register
from ._common import RecentIds, check_http_url, digest, from_iso, html_to_text, iso, retry_after
from .base import Connector, ConnectorError

USER_AGENT = "Apiary/0.1 (Social CRM feed reader; +https://github.com/apiary)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


class _PollFailed(Exception):
    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.delay = delay  # a server-given wait (429), else the back-off applies


@register
class RSSConnector(Connector):
    kind = "rss"
    default_platform = "web"
    description = "RSS or Atom feed (review sites, news, alerts)"

    # Class attributes so tests (and odd deployments) can shrink the clock.
    min_interval_seconds: ClassVar[float] = 30
    max_interval_seconds: ClassVar[float] = 86_400
    default_interval_seconds: ClassVar[float] = 300
    max_backoff_seconds: ClassVar[float] = 3_600
    max_retry_after_seconds: ClassVar[float] = 86_400
    timeout_seconds: ClassVar[float] = 20.0
    max_bytes: ClassVar[int] = 10 * 1024 * 1024
    seen_limit: ClassVar[int] = 2_000
    batch_size: ClassVar[int] = 200

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(config, Mapping):
            raise ConnectorError("config: must be an object")
        unknown = sorted(set(config) - {"url", "interval_seconds", "platform", "language"})
        if unknown:
            raise ConnectorError(f"unknown setting(s): {', '.join(unknown)}")
        url = check_http_url(config.get("url"), "url")
        interval = config.get("interval_seconds", cls.default_interval_seconds)
        if isinstance(interval, str) and interval.strip().isdigit():
            interval = int(interval)
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not cls.min_interval_seconds <= interval <= cls.max_interval_seconds
        ):
            raise ConnectorError(
                f"interval_seconds: must be a number of seconds from "
                f"{cls.min_interval_seconds:g} to {cls.max_interval_seconds:g} (got {interval!r})"
            )
        if isinstance(interval, float) and interval.is_integer():
            interval = int(interval)
        platform = config.get("platform") or cls.default_platform
        if not isinstance(platform, str) or platform.strip().lower() not in raw.PLATFORMS:
            raise ConnectorError(
                f"platform: must be one of {', '.join(sorted(raw.PLATFORMS))} (got {platform!r})"
            )
        language = config.get("language") or ""
        if not isinstance(language, str) or len(language.strip()) > 20:
            raise ConnectorError("language: must be a short language code such as 'en' or 'pt-BR'")
        return {
            "url": url,
            "interval_seconds": interval,
            "platform": platform.strip().lower(),
            "language": language.strip().lower(),
        }

    # -- running --------------------------------------------------------------------------

    def run(self) -> None:
        ctx = self.ctx
        try:
            self.config = self.validate_config(ctx.config)
        except ConnectorError as exc:
            ctx.report_error(f"invalid configuration: {exc}")
            while ctx.sleep(3600):
                pass
            return
        interval = float(self.config["interval_seconds"])
        with httpx.Client(
            timeout=httpx.Timeout(self.timeout_seconds),
            follow_redirects=True,
            max_redirects=5,
            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
        ) as client:
            while not ctx.stopping:
                wait = self._seconds_until_next_poll(ctx.cursor, interval)
                if wait > 0 and not ctx.sleep(wait):
                    return
                if ctx.stopping:
                    return
                self.poll(client)

    def _seconds_until_next_poll(self, cursor: Mapping[str, Any], interval: float) -> float:
        value = cursor.get("next_poll_at")
        if not isinstance(value, str):
            return 0.0
        try:
            when = from_iso(value)
        except ValueError:
            return 0.0
        wait = (when - raw.now()).total_seconds()
        # A schedule saved under a longer interval (since shortened) must not park the source;
        # after failures the saved back-off or Retry-After wait is kept.
        if cursor.get("failures"):
            cap = max(interval, self.max_backoff_seconds, self.max_retry_after_seconds)
        else:
            cap = interval
        return min(max(0.0, wait), cap)

    def poll(self, client: httpx.Client) -> None:
        """One fetch: emit new entries (or nothing) and save the cursor with ``next_poll_at``."""
        ctx, cfg = self.ctx, self.config
        interval = float(cfg["interval_seconds"])
        old = ctx.cursor
        cursor = dict(old)
        try:
            response, body = self._fetch(client, cursor)
            if response.status_code == 304:
                cursor.update(failures=0, next_poll_at=iso(raw.now() + _td(interval)))
                ctx.save_cursor(cursor)
                ctx.report_ok()
                return
            parsed, warning = self._parse(response, body)
        except _PollFailed as failure:
            failures = int(cursor.get("failures") or 0) + 1
            if failure.delay is not None:
                delay = min(failure.delay, self.max_retry_after_seconds)
            else:
                cap = max(self.max_backoff_seconds, interval)
                delay = min(cap, interval * 2 ** min(failures, 30))
            next_at = raw.now() + _td(delay)
            cursor.update(failures=failures, next_poll_at=iso(next_at))
            ctx.save_cursor(cursor)
            ctx.report_error(f"{failure.message}; next attempt at {iso(next_at)}")
            return

        cursor["failures"] = 0
        cursor.pop("etag", None)
        cursor.pop("last_modified", None)
        if response.headers.get("etag"):
            cursor["etag"] = response.headers["etag"]
        if response.headers.get("last-modified"):
            cursor["last_modified"] = response.headers["last-modified"]
        moved = [r for r in response.history if r.status_code in (301, 308)]
        if moved:
            cursor["moved_to"] = str(response.url)
        else:
            cursor.pop("moved_to", None)
        cursor["next_poll_at"] = iso(raw.now() + _td(interval))
        self._emit_new(parsed, old, cursor, strict_ids=warning is not None)
        if warning:
            ctx.report_error(warning)
        else:
            ctx.report_ok()

    def _fetch(self, client: httpx.Client, cursor: Mapping[str, Any]):
        url = self.config["url"]
        headers = {}
        if isinstance(cursor.get("etag"), str):
            headers["If-None-Match"] = cursor["etag"]
        if isinstance(cursor.get("last_modified"), str):
            headers["If-Modified-Since"] = cursor["last_modified"]
        host = urlsplit(url).hostname
        try:
            with client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 304:
                    return response, b""
                if status == 429:
                    wait = retry_after(response.headers)
                    raise _PollFailed(
                        "rate limited by the feed server (HTTP 429"
                        + (f", Retry-After {wait:g}s)" if wait is not None else ")"),
                        delay=wait,
                    )
                if status >= 400:
                    kind = "server error" if status >= 500 else "request refused"
                    raise _PollFailed(
                        f"{kind}: HTTP {status} {response.reason_phrase} from {response.url}"
                    )
                if status != 200:
                    raise _PollFailed(f"unexpected HTTP {status} from {response.url}")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise _PollFailed(
                            f"the feed is larger than {self.max_bytes // (1024 * 1024)} MB"
                        )
                    chunks.append(chunk)
                return response, b"".join(chunks)
        except httpx.TimeoutException:
            raise _PollFailed(f"timed out after {self.timeout_seconds:g}s fetching {url}") from None
        except httpx.ConnectError as exc:
            raise _PollFailed(
                f"could not connect to {host}: {exc or 'connection refused'}"
            ) from None
        except httpx.TooManyRedirects:
            raise _PollFailed(f"too many redirects fetching {url}") from None
        except httpx.HTTPError as exc:
            raise _PollFailed(
                f"network error fetching {url}: {exc or type(exc).__name__}"
            ) from None

    def _parse(self, response: httpx.Response, body: bytes):
        ctype = response.headers.get("content-type", "")
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers={"content-type": ctype, "content-location": str(response.url)},
        )
        exc = parsed.get("bozo_exception")
        xml_error = isinstance(exc, xml.sax.SAXException)
        if not parsed.get("version"):
            head = body.lstrip()[:200].lower()
            if "html" in ctype.lower() or head.startswith((b"<!doctype html", b"<html")):
                raise _PollFailed(
                    f"got an HTML page instead of an RSS/Atom feed from {response.url} "
                    f"(Content-Type {ctype or 'not given'}); check the feed address"
                )
            if xml_error:
                raise _PollFailed(f"malformed XML, not a readable feed: {exc}")
            raise _PollFailed("the document is not an RSS or Atom feed")
        if xml_error:
            if not parsed.entries:
                raise _PollFailed(f"malformed XML, not a readable feed: {exc}")
            return parsed, (
                f"the feed is not well-formed XML ({exc}); "
                f"{len(parsed.entries)} entries recovered by the lenient parser"
            )
        return parsed, None

    # -- mapping --------------------------------------------------------------------------

    def _emit_new(
        self, parsed, old: Mapping[str, Any], cursor: dict[str, Any], *, strict_ids: bool
    ) -> None:
        ctx, cfg = self.ctx, self.config
        seen = RecentIds(old.get("seen") or (), limit=self.seen_limit)
        received = raw.now()
        feed = parsed.get("feed", {})
        settled: list[str] = []  # keys of entries rejected or already known
        found: list[tuple[datetime, int, str, Any]] = []
        batch_keys: set[str] = set()
        for position, entry in enumerate(parsed.entries):
            item = self._entry_item(entry, feed, received)
            key = digest(item["external_id"], size=8)
            if key in seen or key in batch_keys:
                continue
            batch_keys.add(key)
            if strict_ids and item["external_id"].startswith("sha:"):
                ctx.reject("entry has neither an id nor a link in a malformed feed", item["raw"])
                settled.append(key)
                continue
            try:
                mention = raw.raw_mention_validate(
                    item,
                    received_at=received,
                    source_id=ctx.source_id,
                    default_platform=cfg["platform"],
                )
            except raw.Rejected as rejected:
                ctx.reject(str(rejected), item["raw"])
                settled.append(key)
                continue
            # Feeds list newest first; emit oldest first (document order breaks ties).
            found.append((mention.created_at, -position, key, mention))
        found.sort(key=lambda t: (t[0], t[1]))
        for key in settled:
            seen.add(key)
        if not found:
            cursor["seen"] = seen.to_list()
            ctx.save_cursor(cursor)
            return
        for start in range(0, len(found), self.batch_size):
            batch = found[start : start + self.batch_size]
            for _, _, key, _ in batch:
                seen.add(key)
            last = start + self.batch_size >= len(found)
            # Only the last batch carries the new validators and schedule: a crash between
            # batches refetches the document and emits the rest.
            batch_cursor = cursor if last else {**old}
            batch_cursor["seen"] = seen.to_list()
            ctx.emit([m for _, _, _, m in batch], cursor=batch_cursor)

    def _entry_item(self, entry, feed, received: datetime) -> dict[str, Any]:
        title = _text_of(entry.get("title_detail"), entry.get("title"))
        body = ""
        for content in entry.get("content") or ():
            text = _text_of(content, content.get("value"))
            if len(text) > len(body):
                body = text
        summary = _text_of(entry.get("summary_detail"), entry.get("summary"))
        if len(summary) > len(body):
            body = summary
        if title and body and not body.startswith(title):
            text = f"{title}\n\n{body}"
        else:
            text = body or title

        # dict.get: feedparser's own get() maps a missing "updated" to "published" (warning).
        published = _struct_to_datetime(dict.get(entry, "published_parsed"))
        updated = _struct_to_datetime(dict.get(entry, "updated_parsed"))
        created = published or updated or received
        link = entry.get("link") or ""
        external_id = entry.get("id") or link
        if not external_id:
            stamp = dict.get(entry, "published") or dict.get(entry, "updated") or ""
            seed = (entry.get("title") or "", stamp)
            if not any(seed):
                seed = ("", "", entry.get("summary") or "")
            external_id = "sha:" + digest(*seed)

        detail = entry.get("author_detail") or {}
        author_name = html_to_text(detail.get("name") or entry.get("author") or "")
        author = {}
        if author_name:
            author["name"] = author_name[: raw.MAX_SHORT_CHARS]
        if detail.get("href"):
            author["url"] = detail["href"]

        language = self.config["language"]
        if not language:
            for detail_key in ("content", "summary_detail", "title_detail"):
                value = entry.get(detail_key)
                if isinstance(value, list):
                    value = value[0] if value else None
                if value and value.get("language"):
                    language = value["language"]
                    break
            else:
                language = feed.get("language") or ""
        item: dict[str, Any] = {
            "external_id": external_id,
            "text": text,
            "created_at": created.isoformat(),
            "url": link,
            "raw": {
                "id": entry.get("id") or "",
                "title": (entry.get("title") or "")[:500],
                "link": link,
                "published": dict.get(entry, "published") or "",
                "updated": dict.get(entry, "updated") or "",
                "author": author_name,
                "tags": [t.get("term") for t in entry.get("tags") or () if t.get("term")][:20],
                "feed": (feed.get("title") or "")[:300],
            },
        }
        if author:
            item["author"] = author
        if language:
            item["language"] = str(language)[:20]
        return item


def _td(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _text_of(detail: Mapping[str, Any] | None, value: str | None) -> str:
    """feedparser gives ``{type, value}`` details: HTML is converted, plain text is kept."""
    value = value or ""
    kind = (detail or {}).get("type") or "text/html"
    if "html" in kind:
        return html_to_text(value)
    return html_to_text(value.replace("&", "&amp;").replace("<", "&lt;"))


def _struct_to_datetime(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None
