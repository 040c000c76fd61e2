"""Helpers shared by the network connectors (rss, mastodon; free for bluesky, replay, ...).

Nothing here knows a wire format or touches a context; all of it is pure and thread-safe
unless stated otherwise.

- :func:`html_to_text` — post/feed HTML to plain text: tags dropped, line breaks kept
  (``<br>``, ``<p>``, list items, headings), entities decoded, ``<script>``/``<style>`` bodies
  removed, whitespace collapsed the way a browser would. Mentions and hashtags stay as text.
- :class:`Backoff` — exponential back-off with jitter (``next()`` gives the next delay,
  ``reset()`` after a success).
- :func:`retry_after` — seconds to wait from ``Retry-After`` (seconds or HTTP date) or
  ``X-RateLimit-Reset`` (ISO 8601 as Mastodon sends, or a Unix epoch).
- :class:`RecentIds` — a bounded insertion-ordered set (the "seen ids" ring kept in a cursor).
- :func:`digest` — a short stable hash of some strings (fallback ids, compact seen-sets).
- :func:`check_http_url` — validate an admin-entered http(s) URL, raising ConnectorError.
- :func:`iso` / :func:`from_iso` — cursor timestamps.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3

from .base import ConnectorError

# --- HTML to text -------------------------------------------------------------------------

# Elements that end a line (or a paragraph) when rendered.
_PARAGRAPH = frozenset({"p", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "table"})
_LINE = frozenset(
    {"div", "li", "ul", "ol", "tr", "dt", "dd", "section", "article", "header", "footer", "hr"}
)
_SKIP = frozenset({"script", "style", "template", "noscript", "head", "title"})
# What survives nh3 (it repairs broken markup and drops script/style with their content);
# everything else is unwrapped to its text.
_KEEP_TAGS = _PARAGRAPH | _LINE | {"br", "a", "span", "b", "i", "em", "strong", "code"}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


_LINE_MARK, _PARA_MARK = "\x01", "\x02"
_BREAKS = re.compile(r"[ \n]*[\x01\x02][\x01\x02 \n]*")


def _join_breaks(match: re.Match) -> str:
    run = match.group(0)
    if _PARA_MARK in run:
        return "\n\n"
    return "\n" * min(2, max(1, run.count("\n")))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def _block(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self.parts.append(_PARA_MARK)
        elif tag in _LINE:
            self.parts.append(_LINE_MARK)

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        else:
            self._block(tag)

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag == "br":
            self.parts.append("\n")
        else:
            self._block(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        else:
            self._block(tag)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(_SPACES.sub(" ", data.replace("\n", " ")))


def html_to_text(html: str | None) -> str:
    """Plain text of an HTML fragment, keeping line and paragraph breaks.

    >>> html_to_text('<p>Hi <a href="/@ann">@<span>ann</span></a> &amp; #tea</p><p>2<br>3</p>')
    'Hi @ann & #tea\\n\\n2\\n3'
    """
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return "\n".join(_SPACES.sub(" ", line).strip() for line in html.splitlines()).strip()
    cleaned = nh3.clean(html, tags=set(_KEEP_TAGS), attributes={}, strip_comments=True)
    parser = _TextExtractor()
    parser.feed(cleaned)
    parser.close()
    text = _BREAKS.sub(_join_breaks, "".join(parser.parts))
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


# --- back-off and rate limits -------------------------------------------------------------


class Backoff:
    """Exponential back-off: ``base``, ``base*factor``, ... capped at ``cap`` seconds.

    ``jitter`` (0..1) spreads each delay uniformly over ``[d*(1-jitter), d]`` so that many
    sources failing together do not retry in lockstep. Not thread-safe (one per connector).
    """

    def __init__(
        self, base: float, cap: float, *, factor: float = 2.0, jitter: float = 0.0
    ) -> None:
        self.base = max(0.0, float(base))
        self.cap = max(self.base, float(cap))
        self.factor = factor
        self.jitter = min(1.0, max(0.0, jitter))
        self.attempt = 0

    def peek(self) -> float:
        """The next delay without jitter, not counting an attempt."""
        return min(self.cap, self.base * self.factor**self.attempt)

    def next(self) -> float:
        delay = self.peek()
        self.attempt += 1
        if self.jitter:
            delay *= 1.0 - self.jitter * random.random()
        return delay

    def reset(self) -> None:
        self.attempt = 0


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, or None if it did not say.

    Reads ``Retry-After`` (delta seconds or an HTTP date) and then ``X-RateLimit-Reset``
    (Mastodon: ISO 8601 time; elsewhere a Unix epoch, or delta seconds if small).
    """
    current = now or datetime.now(tz=UTC)
    value = (headers.get("retry-after") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - current).total_seconds())
    value = (headers.get("x-ratelimit-reset") or "").strip()
    if value:
        try:
            number = float(value)
        except ValueError:
            try:
                when = from_iso(value)
            except ValueError:
                return None
            return max(0.0, (when - current).total_seconds())
        if number > 1e9:  # epoch seconds
            return max(0.0, number - current.timestamp())
        return max(0.0, number)
    return None


# --- ids ----------------------------------------------------------------------------------


def digest(*parts: str, size: int = 16) -> str:
    """A stable hex digest (``size`` bytes) of ``parts``; same input, same output, any host."""
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


class RecentIds:
    """A bounded, insertion-ordered set: adding beyond ``limit`` forgets the oldest."""

    def __init__(self, items: Iterable[str] = (), *, limit: int = 2000) -> None:
        self.limit = max(1, limit)
        self._items: dict[str, None] = {}
        for item in items:
            if isinstance(item, str):
                self.add(item)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: str) -> None:
        self._items.pop(item, None)
        self._items[item] = None
        while len(self._items) > self.limit:
            del self._items[next(iter(self._items))]

    def to_list(self) -> list[str]:
        return list(self._items)


# --- config and time ----------------------------------------------------------------------


def check_http_url(value: object, name: str = "url") -> str:
    """An absolute http(s) URL with a host, trimmed; ConnectorError otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ConnectorError(f"{name}: is required (an http:// or https:// address)")
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConnectorError(
            f"{name}: must be an http:// or https:// address with a host (got {url[:80]!r})"
        )
    if any(ch.isspace() for ch in url):
        raise ConnectorError(f"{name}: must not contain spaces")
    return url


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_iso(value: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
