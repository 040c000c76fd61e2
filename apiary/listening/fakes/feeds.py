"""A fake feed host: RSS 2.0 and Atom 1.0 documents over real HTTP on 127.0.0.1.

Serves each path's current document with ``ETag`` and ``Last-Modified`` and answers
conditional requests (``If-None-Match`` first, then ``If-Modified-Since``) with 304. Fault modes
apply to the *next* request(s) of a path only, so a retry finds a healthy server::

    with FakeFeedServer() as server:
        server.set_feed("/reviews.xml", coffee_entries(), format="rss")
        server.fault("/reviews.xml", "500")          # next GET answers 500
        server.fault("/reviews.xml", "429", retry_after=2)
        ... poll server.url("/reviews.xml") ...
        server.add_entry("/reviews.xml", FeedEntry(...))   # new ETag

Faults: ``"500"`` (server error), ``"html"`` (a 200 HTML login page), ``"malformed"`` (a 200
``application/rss+xml`` body that is not XML), ``"429"`` (``Retry-After: n``), ``"slow"`` (sleep
``delay`` seconds before answering), ``"drop"`` (close the socket without an answer).
``redirect(old, new)`` answers ``old`` with a 301 to ``new``. ``requests`` logs every request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape, quoteattr

BRAND_SITE = "https://ridgeback-coffee.example"


@dataclass
class FeedEntry:
    """One item/entry. ``summary`` and ``content`` are HTML (escaped into the XML)."""

    id: str | None
    title: str
    summary: str = ""
    link: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    author_url: str | None = None
    language: str | None = None  # Atom xml:lang of the entry
    content: str | None = None  # RSS content:encoded / Atom <content type="html">
    categories: list[str] = field(default_factory=list)


def coffee_entries(count: int | None = None, *, start: datetime | None = None) -> list[FeedEntry]:
    """Real-looking review/news entries about a coffee brand in English, Russian and Spanish,
    newest first (as feeds list them)."""
    base = start or (datetime.now(tz=UTC) - timedelta(days=2)).replace(microsecond=0)
    texts = [
        (
            "en",
            "Best flat white in town",
            "<p>The <b>Ridgeback</b> flat white is silky and the baristas remember my name. "
            "Five stars!</p><p>Only downside: the queue at 8am.</p>",
            "Emma W.",
        ),
        (
            "ru",
            "Кофе отличный, но обслуживание медленное",
            "<p>Зерно свежей обжарки, эспрессо без горечи.</p>"
            "<p>Ждали заказ <em>двадцать минут</em> &mdash; персоналу нужно больше рук.</p>",
            "Ирина К.",
        ),
        (
            "es",
            "Nueva cafetería de Ridgeback en Madrid",
            "<p>Ridgeback Coffee abre su primera tienda en Malasaña con tostado propio y "
            "leche de avena sin coste extra.</p>",
            "Redacción",
        ),
        (
            "en",
            "Ridgeback Coffee recalls cold brew cans",
            "<p>The roaster is recalling 12&nbsp;oz cold brew cans sold in March after reports "
            "of swollen lids. <a href='https://ridgeback-coffee.example/recall'>Details</a>.</p>",
            "Newsroom",
        ),
        (
            "ru",
            "Подписка на зерно — честный отзыв",
            "<ul><li>Доставка вовремя</li><li>Пачки по 250 г</li></ul>"
            "<p>Отменить подписку оказалось сложно: только через чат.</p>",
            "Дмитрий",
        ),
        (
            "es",
            "¿El mejor café de especialidad?",
            "<p>Probé el <strong>Etiopía Guji</strong> en filtro: notas de arándano y "
            "jazmín. Volveré.</p>",
            "Lucía M.",
        ),
    ]
    entries = []
    total = count if count is not None else len(texts)
    for n in range(total):
        lang, title, summary, author = texts[n % len(texts)]
        if n >= len(texts):
            title = f"{title} ({n // len(texts) + 1})"
        slug = f"review-{n + 1}"
        entries.append(
            FeedEntry(
                id=f"{BRAND_SITE}/reviews/{slug}",
                title=title,
                summary=summary,
                link=f"{BRAND_SITE}/reviews/{slug}",
                published=base + timedelta(hours=n),
                author=author,
                language=lang,
                categories=["coffee", lang],
            )
        )
    entries.reverse()
    return entries


def _rfc822(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def rss_document(
    entries: list[FeedEntry],
    *,
    title: str = "Ridgeback Coffee — reviews",
    link: str = BRAND_SITE,
    language: str | None = "en",
) -> bytes:
    """An RSS 2.0 document (with ``content:encoded`` and ``dc:creator`` like WordPress)."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom">',
        "<channel>",
        f"<title>{escape(title)}</title>",
        f"<link>{escape(link)}</link>",
        "<description>What people say about Ridgeback Coffee</description>",
    ]
    if language:
        out.append(f"<language>{escape(language)}</language>")
    out.append("<generator>fake-feeds/1.0</generator>")
    for e in entries:
        out.append("<item>")
        out.append(f"<title>{escape(e.title)}</title>")
        if e.link:
            out.append(f"<link>{escape(e.link)}</link>")
        if e.id:
            permalink = "true" if e.id == e.link else "false"
            out.append(f'<guid isPermaLink="{permalink}">{escape(e.id)}</guid>')
        if e.published:
            out.append(f"<pubDate>{_rfc822(e.published)}</pubDate>")
        if e.author:
            out.append(f"<dc:creator>{escape(e.author)}</dc:creator>")
        for cat in e.categories:
            out.append(f"<category>{escape(cat)}</category>")
        if e.summary:
            out.append(f"<description>{escape(e.summary)}</description>")
        if e.content:
            out.append(f"<content:encoded><![CDATA[{e.content}]]></content:encoded>")
        out.append("</item>")
    out += ["</channel>", "</rss>"]
    return "\n".join(out).encode("utf-8")


def atom_document(
    entries: list[FeedEntry],
    *,
    title: str = "Ridgeback Coffee — press",
    link: str = BRAND_SITE,
    feed_id: str = "tag:ridgeback-coffee.example,2024:press",
    language: str | None = None,
) -> bytes:
    """An Atom 1.0 document; entries carry ``xml:lang`` when they have a language."""
    updated = max(
        (e.updated or e.published for e in entries if e.updated or e.published),
        default=datetime(2024, 1, 1, tzinfo=UTC),
    )
    lang_attr = f" xml:lang={quoteattr(language)}" if language else ""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom"{lang_attr}>',
        f"<title>{escape(title)}</title>",
        f'<link rel="alternate" href={quoteattr(link)}/>',
        f"<id>{escape(feed_id)}</id>",
        f"<updated>{_rfc3339(updated)}</updated>",
    ]
    for e in entries:
        attr = f" xml:lang={quoteattr(e.language)}" if e.language else ""
        out.append(f"<entry{attr}>")
        out.append(f'<title type="text">{escape(e.title)}</title>')
        if e.link:
            out.append(f'<link rel="alternate" type="text/html" href={quoteattr(e.link)}/>')
        if e.id:
            out.append(f"<id>{escape(e.id)}</id>")
        if e.published:
            out.append(f"<published>{_rfc3339(e.published)}</published>")
        if e.updated or e.published:
            out.append(f"<updated>{_rfc3339(e.updated or e.published)}</updated>")
        if e.author:
            out.append(f"<author><name>{escape(e.author)}</name>")
            if e.author_url:
                out.append(f"<uri>{escape(e.author_url)}</uri>")
            out.append("</author>")
        for cat in e.categories:
            out.append(f"<category term={quoteattr(cat)}/>")
        if e.summary:
            out.append(f'<summary type="html">{escape(e.summary)}</summary>')
        if e.content:
            out.append(f'<content type="html">{escape(e.content)}</content>')
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")


HTML_PAGE = (
    b"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Sign in</title>"
    b"</head><body><h1>Please sign in</h1><form action='/login'><input name='user'>"
    b"</form></body></html>"
)
MALFORMED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>\x00\x01'
    b"<<title>>Ridgeback</ti</channel"
)


class QuietHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that does not print a traceback when a client hangs up."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


@dataclass
class _Route:
    body: bytes
    content_type: str
    etag: str
    last_modified: datetime
    conditional: bool = True
    entries: list[FeedEntry] = field(default_factory=list)
    format: str = ""
    options: dict = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic()
    status: int = 0


@dataclass
class _Fault:
    kind: str
    times: int
    retry_after: float | str | None = None
    delay: float = 0.0


class FakeFeedServer:
    """See the module docstring. Thread-safe; every method may be called while serving."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._redirects: dict[str, tuple[str, int]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self.requests: list[Request] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeFeedServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        handler = _make_handler(self)
        self._httpd = QuietHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    def url(self, path: str = "/feed.xml") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- script ---------------------------------------------------------------------------

    def set_body(
        self, path: str, body: bytes | str, content_type: str, *, conditional: bool = True
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            old = self._routes.get(path)
            etag = '"' + hashlib.sha1(data, usedforsecurity=False).hexdigest()[:20] + '"'
            modified = datetime.now(tz=UTC).replace(microsecond=0)
            if old is not None:
                if old.etag == etag:
                    modified = old.last_modified
                elif modified <= old.last_modified:
                    modified = old.last_modified + timedelta(seconds=1)
            route = _Route(data, content_type, etag, modified, conditional)
            if old is not None:
                route.entries, route.format, route.options = old.entries, old.format, old.options
            self._routes[path] = route

    def set_feed(
        self,
        path: str,
        entries: list[FeedEntry],
        *,
        format: str = "rss",
        conditional: bool = True,
        **options,
    ) -> None:
        """Serve ``entries`` (newest first) as RSS 2.0 (``format="rss"``) or Atom."""
        if format == "rss":
            body, ctype = rss_document(entries, **options), "application/rss+xml; charset=utf-8"
        elif format == "atom":
            body, ctype = atom_document(entries, **options), "application/atom+xml; charset=utf-8"
        else:
            raise ValueError(f"unknown feed format {format!r}")
        self.set_body(path, body, ctype, conditional=conditional)
        with self._lock:
            route = self._routes[path]
            route.entries, route.format, route.options = list(entries), format, dict(options)

    def add_entry(self, path: str, entry: FeedEntry) -> None:
        """Put ``entry`` at the top of the feed at ``path`` (a new ETag and Last-Modified)."""
        with self._lock:
            route = self._routes[path]
            entries, fmt, options = [entry, *route.entries], route.format, route.options
            conditional = route.conditional
        self.set_feed(path, entries, format=fmt, conditional=conditional, **options)

    def entries(self, path: str) -> list[FeedEntry]:
        with self._lock:
            return [replace(e) for e in self._routes[path].entries]

    def set_conditional(self, path: str, enabled: bool) -> None:
        """Turn ETag/Last-Modified validation off to make the server always answer 200."""
        with self._lock:
            self._routes[path].conditional = enabled

    def fault(
        self,
        path: str,
        kind: str,
        *,
        times: int = 1,
        retry_after: float | str | None = 1,
        delay: float = 2.0,
    ) -> None:
        if kind not in ("500", "html", "malformed", "429", "slow", "drop"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.setdefault(path, []).append(_Fault(kind, times, retry_after, delay))

    def redirect(self, path: str, to: str, *, status: int = 301) -> None:
        with self._lock:
            self._redirects[path] = (to, status)

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for_requests(self, path: str, count: int, timeout: float = 3.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.requests_for(path)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests to {path}, got {self.requests_for(path)}")

    # -- serving (handler thread) ---------------------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(path) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        record = Request(path, {k.lower(): v for k, v in handler.headers.items()}, time.monotonic())
        with self._lock:
            self.requests.append(record)
            redirect = self._redirects.get(path)

        def answer(status: int, body: bytes = b"", headers: dict | None = None) -> None:
            record.status = status
            handler.send_response(status)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            if status != 304:
                handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if body and handler.command != "HEAD":
                handler.wfile.write(body)

        if redirect is not None:
            target, status = redirect
            answer(status, b"", {"Location": target})
            return
        fault = self._take_fault(path)
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "drop":
                record.status = -1
                handler.close_connection = True
                return
            elif fault.kind == "500":
                answer(500, b"Internal Server Error", {"Content-Type": "text/plain"})
                return
            elif fault.kind == "html":
                answer(200, HTML_PAGE, {"Content-Type": "text/html; charset=utf-8"})
                return
            elif fault.kind == "malformed":
                answer(200, MALFORMED, {"Content-Type": "application/rss+xml"})
                return
            elif fault.kind == "429":
                headers = {"Content-Type": "text/plain"}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                answer(429, b"Too Many Requests", headers)
                return
        with self._lock:
            route = self._routes.get(path)
        if route is None:
            answer(404, b"Not Found", {"Content-Type": "text/plain"})
            return
        validators = {
            "ETag": route.etag,
            "Last-Modified": format_datetime(route.last_modified, usegmt=True),
            "Cache-Control": "max-age=0",
        }
        if route.conditional:
            inm = handler.headers.get("If-None-Match")
            ims = handler.headers.get("If-Modified-Since")
            if inm is not None:
                tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
                if route.etag in tags or "*" in tags:
                    answer(304, b"", validators)
                    return
            elif ims:
                try:
                    since = parsedate_to_datetime(ims)
                except (TypeError, ValueError):
                    since = None
                if since is not None and route.last_modified <= since:
                    answer(304, b"", validators)
                    return
        answer(200, route.body, {"Content-Type": route.content_type, **validators})


def _make_handler(server: FakeFeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-feeds/1.0"

        def do_GET(self) -> None:
            server._handle(self)

        do_HEAD = do_GET

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler
