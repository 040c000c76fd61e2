"""Visitor sessions for the activity log, without a database write per request.

``VisitMiddleware`` (after ``AuthenticationMiddleware``) keeps the visit in a signed cookie of its
own, ``apiary_visit``: ``sid.uid.start.seen`` plus the posts, spaces, profiles and tags viewed in
the last 30 minutes. Per request it only reads that cookie. It writes to the database:

- on the first request of a visit: one ``VisitSession`` row and one ``session.start`` event;
- when ``seen`` is more than a minute old: one ``UPDATE`` of ``last_seen_at`` (so a session's
  recorded end is at most a minute early);
- when the visitor logs in mid-visit: one ``UPDATE`` (the visit becomes theirs);
- when a different account, or nobody, shows up on a logged-in visit: the old visit is closed
  and a new one starts.

A gap of more than 30 minutes starts a new visit; the ``community-sessions`` worker closes the
old one (``services.activity.sessions_sweep``). A log-out closes it at once (``logout_record``,
called by the accounts log-out view).

Not counted: static files, the API (scripts, not visitors), the admin, health probes,
server-sent event streams, htmx GETs (fragments and timed polls would keep an idle tab's visit
alive forever) and user agents that look like bots, scripts or monitors — including an empty
one. Their views are not counted either (``view_once`` answers False).

The cookie is our own rather than Django's session, because an anonymous visitor has no Django
session until something is stored in it, and storing the last-seen time there would save the
session row on every touch; the cookie costs no database work at all. It is signed, so a
visitor cannot forge start times; the user is always taken from ``request.user``, never from
the cookie.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.utils import timezone

logger = logging.getLogger(__name__)

COOKIE = "apiary_visit"
_SALT = "community.visit"
VIEW_WINDOW_SECONDS = 30 * 60  # one view event per visit per object per 30 minutes
MAX_VIEWS = 24  # remembered in the cookie (oldest dropped): keeps it well under 1 KB

EXCLUDED_PREFIXES = (
    "/api/",
    "/admin/",
    "/healthz",
    "/readyz",
    "/favicon.ico",
    "/robots.txt",
    "/.well-known/",
)
BOT_RE = re.compile(
    r"bot|crawl|spider|slurp|preview|fetch|scan|monitor|uptime|pingdom|lighthouse|headless"
    r"|curl|wget|python|httpx|aiohttp|go-http|java/|okhttp|libwww|node-fetch|axios|facebookexternal",
    re.IGNORECASE,
)


def clock() -> datetime:
    """The middleware's time source (tests replace it to move time)."""
    return timezone.now()


@dataclass
class Visit:
    sid: str = ""
    uid: int = 0  # 0 = anonymous
    start: int = 0  # epoch seconds
    seen: int = 0  # last written to the database
    views: dict[str, int] = field(default_factory=dict)  # "p12" → epoch seconds
    dirty: bool = False  # the cookie must be sent again
    closed: bool = False  # logged out: drop the cookie

    def dumps(self) -> str:
        views = ",".join(f"{k}:{v}" for k, v in self.views.items())
        return signing.Signer(salt=_SALT).sign(
            f"{self.sid}.{self.uid}.{self.start}.{self.seen}.{views}"
        )

    @classmethod
    def loads(cls, raw: str) -> Visit | None:
        try:
            value = signing.Signer(salt=_SALT).unsign(raw)
            sid, uid, start, seen, views = value.split(".", 4)
            parsed = {}
            for item in filter(None, views.split(",")):
                key, ts = item.split(":", 1)
                parsed[key] = int(ts)
            return cls(sid=sid, uid=int(uid), start=int(start), seen=int(seen), views=parsed)
        except (signing.BadSignature, ValueError):
            return None


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def tracked(request) -> bool:
    path = request.path_info or "/"
    static = getattr(settings, "STATIC_URL", None) or "/static/"
    if path.startswith(static) or path.startswith(EXCLUDED_PREFIXES):
        return False
    if "text/event-stream" in request.headers.get("Accept", ""):
        return False
    if request.method == "GET" and request.headers.get("HX-Request"):
        return False
    agent = request.headers.get("User-Agent", "")
    return bool(agent) and not BOT_RE.search(agent)


def _user_id(request) -> int:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else 0


class VisitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not tracked(request):
            request.activity = None
            return self.get_response(request)
        visit = Visit.loads(request.COOKIES.get(COOKIE, "")) if COOKIE in request.COOKIES else None
        request.activity = visit = visit or Visit()
        try:
            self._before(request, visit)
        except Exception:
            # The activity log must never cost the visitor their page.
            logger.exception("Starting the visit failed")
            request.activity = None
            return self.get_response(request)
        response = self.get_response(request)
        try:
            self._after(request, visit, response)
        except Exception:
            logger.exception("Recording the visit failed")
        return response

    def _before(self, request, visit: Visit) -> None:
        """Start a visit before the view runs, so the view's own events carry its id."""
        from apiary.community.services import activity

        conf = activity.session_settings()
        now = clock()
        ts = _epoch(now)
        uid = _user_id(request)
        if visit.sid and ts - visit.seen > conf["idle_seconds"]:
            visit.sid = ""  # too long a gap: a new visit (the sweeper closes the old one)
        if visit.sid and visit.uid and visit.uid != uid:
            # logged out elsewhere, or the Django session expired: that visit is over
            activity.session_close(sid=visit.sid, now=now, reason="user_changed")
            visit.sid = ""
        if not visit.sid:
            self._start(request, visit, uid, now)

    def _start(self, request, visit: Visit, uid: int, now: datetime) -> None:
        from apiary.community.services import activity

        data = {"landing": _view_name(request.path_info)}
        referrer = request.headers.get("Referer", "")
        if referrer:
            # the referring site only: a path or query string may carry tokens or names
            data["referrer"] = referrer.split("//", 1)[-1].split("/", 1)[0][:100]
        visit.sid = activity.session_start(user_id=uid or None, now=now, data=data)
        ts = _epoch(now)
        visit.uid, visit.start, visit.seen, visit.dirty = uid, ts, ts, True

    def _after(self, request, visit: Visit, response) -> None:
        from apiary.community.services import activity

        if visit.closed:
            response.delete_cookie(COOKIE)
            return
        conf = activity.session_settings()
        now = clock()
        ts = _epoch(now)
        uid = _user_id(request)  # after the view: a log-in on this very request counts
        if uid and not visit.uid:
            if activity.session_adopt(sid=visit.sid, user_id=uid, now=now):
                visit.uid, visit.seen, visit.dirty = uid, ts, True
        elif visit.uid and uid != visit.uid:
            activity.session_close(sid=visit.sid, now=now, reason="user_changed")
            response.delete_cookie(COOKIE)
            return
        elif ts - visit.seen >= conf["touch_seconds"]:
            if activity.session_touch(sid=visit.sid, now=now):
                visit.seen, visit.dirty = ts, True
            else:  # closed or swept meanwhile: this request opens a new visit
                self._start(request, visit, uid, now)
        if visit.dirty:
            response.set_cookie(
                COOKIE,
                visit.dumps(),
                max_age=2 * conf["idle_seconds"],
                httponly=True,
                samesite="Lax",
                secure=request.is_secure() or getattr(settings, "SESSION_COOKIE_SECURE", False),
            )


def _view_name(path: str) -> str:
    """The landing page as a URL name (``community:post``), never the path: paths can hold
    invitation and share tokens."""
    from django.urls import Resolver404, resolve

    try:
        return resolve(path).view_name or ""
    except Resolver404:
        return ""


# --- the helpers views and the accounts views call -------------------------------------------


def visit_sid(request) -> str:
    """The visit id for an event's ``session_key`` ("" when the request is not tracked)."""
    visit = getattr(request, "activity", None)
    return visit.sid if visit is not None else ""


def view_once(request, key: str) -> bool:
    """Should this view be recorded? Once per visit per object (``key``: ``p12``, ``s3``,
    ``u7``, ``t5``, ``q<hash>``) per 30 minutes, so reloads and back-and-forth browsing do not
    inflate the log. Never for bots and untracked requests; always when the middleware is not
    installed (a bare RequestFactory request)."""
    if not hasattr(request, "activity"):
        return True
    visit = request.activity
    if visit is None:
        return False
    ts = _epoch(clock())
    last = visit.views.get(key)
    if last is not None and ts - last < VIEW_WINDOW_SECONDS:
        return False
    visit.views = {k: v for k, v in visit.views.items() if ts - v < VIEW_WINDOW_SECONDS}
    visit.views.pop(key, None)
    visit.views[key] = ts
    while len(visit.views) > MAX_VIEWS:
        visit.views.pop(next(iter(visit.views)))
    visit.dirty = True
    return True


def login_record(request, user, *, method: str) -> None:
    """Called by the accounts views right after ``login()``: the event; the middleware then
    gives the visit to the user."""
    from apiary.community.services import activity

    try:
        activity.login_record(user=user, method=method, sid=visit_sid(request))
    except Exception:
        logger.exception("Recording the log-in failed")


def logout_record(request) -> None:
    """Called by the accounts log-out view before ``logout()``: the event, and the visit closes
    now (its cookie is dropped, so the next request is a new, anonymous visit)."""
    from apiary.community.services import activity

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return
    try:
        activity.logout_record(user=user, sid=visit_sid(request), now=clock())
    except Exception:
        logger.exception("Recording the log-out failed")
    visit = getattr(request, "activity", None)
    if visit is not None:
        visit.closed = True
