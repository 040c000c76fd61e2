"""Social handles: one canonical form per platform, so the same account always compares equal.

Customers type their handles in every shape (``@Alice``, ``https://bsky.app/profile/Alice.bsky.social``,
``mastodon.social/@alice``); identity resolution only works if all of them land on one string.
``normalize_handle`` is idempotent: a normalised handle normalises to itself, which lets the
identity index try the raw value first and skip the parsing on the hot path.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from django.utils.translation import gettext as _

from apiary.customers.models import Platform


class HandleError(ValueError):
    """A handle that cannot belong to the platform; ``message`` is translated and user-facing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


REVIEW_PLATFORMS = frozenset({"trustpilot", "google_reviews", "yelp", "tripadvisor"})
FREEFORM_PLATFORMS = REVIEW_PLATFORMS | {"other"}
PLATFORMS = frozenset(Platform.values)

# Host (without www./m./… prefixes) → platform. A host also matches its subdomains.
_HOSTS = {
    "bsky.app": "bluesky",
    "bsky.social": "bluesky",
    "x.com": "x",
    "twitter.com": "x",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "instagram.com": "instagram",
    "instagr.am": "instagram",
    "vk.com": "vk",
    "vk.ru": "vk",
    "vkontakte.ru": "vk",
    "t.me": "telegram",
    "telegram.me": "telegram",
    "telegram.dog": "telegram",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "reddit.com": "reddit",
    "tiktok.com": "tiktok",
    "trustpilot.com": "trustpilot",
    "g.page": "google_reviews",
    "maps.google.com": "google_reviews",
    "yelp.com": "yelp",
    # Large Mastodon servers whose profile URLs may use /users/NAME rather than /@NAME.
    "mastodon.social": "mastodon",
    "mastodon.online": "mastodon",
    "mstdn.social": "mastodon",
    "mas.to": "mastodon",
    "fosstodon.org": "mastodon",
    "hachyderm.io": "mastodon",
    "infosec.exchange": "mastodon",
    "techhub.social": "mastodon",
}
_HOST_PREFIXES = ("www.", "m.", "mobile.", "old.", "new.", "web.", "touch.")
# Country sites: yelp.es, tripadvisor.co.uk, google.de/maps …
_SITE_FAMILIES = {"yelp": "yelp", "tripadvisor": "tripadvisor"}

_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_DOMAINISH_RE = re.compile(r"^[\w-]+(\.[\w-]+)+(:\d+)?(/|$)")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")

_DOMAIN_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"^(?:{_DOMAIN_LABEL}\.)+[a-z][a-z0-9-]*[a-z0-9]$")
_DID_RE = re.compile(r"^did:(?:plc:[a-z2-7]{24}|web:[a-z0-9.-]+)$")
_MASTODON_USER_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")
_YOUTUBE_CHANNEL_RE = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
_REDDIT_PREFIX_RE = re.compile(r"^/?u(?:ser)?/|/$", re.IGNORECASE)

# Allowed characters (after lower-casing) of the platforms with simple user names.
_SIMPLE_RULES = {
    "x": re.compile(r"^[a-z0-9_]{1,15}$"),
    "facebook": re.compile(r"^[a-z0-9._-]{1,80}$"),
    "instagram": re.compile(r"^[a-z0-9._]{1,30}$"),
    "vk": re.compile(r"^[a-z0-9._]{1,64}$"),
    "telegram": re.compile(r"^[a-z0-9_]{1,32}$"),
    "youtube": re.compile(r"^[a-z0-9._-]{1,100}$"),
    "reddit": re.compile(r"^[a-z0-9_-]{1,38}$"),
    "tiktok": re.compile(r"^[a-z0-9._]{1,24}$"),
}
# Path segments that are site pages, not profiles (x.com/home, facebook.com/groups/…).
_NOT_PROFILES = {
    "x": {"home", "i", "intent", "search", "explore", "hashtag", "share", "settings"},
    "facebook": {"groups", "events", "pages", "watch", "sharer", "sharer.php", "share", "hashtag"},
    "instagram": {"p", "reel", "reels", "explore", "stories", "accounts", "tv"},
    "vk": {"wall", "feed", "im", "search", "video", "audio", "share.php"},
    "telegram": {"joinchat", "share", "addstickers"},
    "reddit": {"r", "comments", "search"},
}


def _label(platform: str) -> str:
    try:
        return str(Platform(platform).label)
    except ValueError:
        return platform


def _clean(raw: str) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise HandleError(_("Enter a handle."))
    raw = raw.strip()
    if _CONTROL_RE.search(raw):
        raise HandleError(_("The handle contains invalid characters."))
    if not raw:
        raise HandleError(_("Enter a handle."))
    return raw


def _looks_like_url(raw: str) -> bool:
    return bool(_SCHEME_RE.match(raw)) or ("/" in raw and bool(_DOMAINISH_RE.match(raw)))


def _split_url(raw: str) -> tuple[str, list[str], str]:
    """(host without www./m./port, non-empty path segments, query string) of a URL-ish value."""
    try:
        parts = urlsplit(raw if _SCHEME_RE.match(raw) else "https://" + raw)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:  # e.g. an unbalanced "[" in the host
        return "", [], ""
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
            break
    return host, [s for s in parts.path.split("/") if s], parts.query


def _platform_of_host(host: str, segments: list[str]) -> str | None:
    probe = host
    while probe:
        if probe in _HOSTS:
            return _HOSTS[probe]
        _head, _dot, probe = probe.partition(".")
    first = host.split(".", 1)[0] if host else ""
    if first in _SITE_FAMILIES:
        return _SITE_FAMILIES[first]
    if first == "google" and segments[:1] == ["maps"]:
        return "google_reviews"
    # Any other server with a /@name profile is a fediverse (Mastodon-compatible) server.
    if segments and segments[0].startswith("@") and len(segments[0]) > 1:
        return "mastodon"
    return None


def detect_platform(raw: str) -> str | None:
    """The platform a profile address (URL or ``@user@server``) belongs to, if recognisable."""
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if raw.startswith("@") and raw.count("@") == 2 and "/" not in raw:
        return "mastodon"
    if not _looks_like_url(raw):
        return "bluesky" if raw.lower().endswith(".bsky.social") else None
    host, segments, _query = _split_url(raw)
    return _platform_of_host(host, segments) if host else None


def _wrong_platform(detected: str, platform: str) -> HandleError:
    return HandleError(
        _("This looks like a %(detected)s address, not a %(platform)s handle.")
        % {"detected": _label(detected), "platform": _label(platform)}
    )


def _invalid(platform: str) -> HandleError:
    return HandleError(
        _("This is not a valid %(platform)s handle.") % {"platform": _label(platform)}
    )


def _profile_segment(platform: str, segments: list[str], query: str) -> str:
    """The handle part of a profile URL's path, for each platform's URL layout."""
    seg = segments
    if platform == "bluesky":
        if len(seg) >= 2 and seg[0] == "profile":
            return seg[1]
    elif platform == "facebook":
        if seg[:1] == ["profile.php"]:
            ids = parse_qs(query).get("id") or [""]
            return ids[0]
        if seg[:1] == ["people"] and len(seg) >= 3:  # /people/Name/123456
            return seg[2]
        if seg and seg[0].lower() not in _NOT_PROFILES["facebook"]:
            return seg[0]
    elif platform == "youtube":
        if seg and seg[0].startswith("@"):
            return seg[0]
        if len(seg) >= 2 and seg[0] in ("channel", "c", "user"):
            return seg[1]
    elif platform == "reddit":
        if len(seg) >= 2 and seg[0] in ("user", "u"):
            return seg[1]
    elif platform == "tiktok":
        if seg and seg[0].startswith("@"):
            return seg[0]
    elif platform == "telegram":
        if seg[:1] == ["s"] and len(seg) >= 2:  # t.me/s/name is the public preview page
            return seg[1]
        if seg and seg[0].lower() not in _NOT_PROFILES["telegram"]:
            return seg[0]
    elif seg and seg[0].lower() not in _NOT_PROFILES.get(platform, ()):
        return seg[0]  # x, instagram, vk: the first path segment is the profile
    return ""


def _normalize_bluesky(value: str) -> str:
    value = value.lstrip("@").lower()
    if _DID_RE.match(value):
        return value
    if "." not in value:
        # Clients complete a bare name to the default server, and so do we.
        value = f"{value}.bsky.social"
    if len(value) > 253 or not _DOMAIN_RE.match(value):
        raise _invalid("bluesky")
    return value


def _normalize_mastodon_parts(user: str, server: str) -> str:
    user, server = user.lower(), server.lower().rstrip(".")
    if not _MASTODON_USER_RE.match(user) or len(user) > 64 or not _DOMAIN_RE.match(server):
        raise _invalid("mastodon")
    return f"{user}@{server}"


def _normalize_mastodon(raw: str) -> str:
    if _looks_like_url(raw):
        host, segments, _query = _split_url(raw)
        detected = _platform_of_host(host, segments)
        if detected not in (None, "mastodon"):
            raise _wrong_platform(detected, "mastodon")
        if segments and segments[0].startswith("@"):
            user = segments[0][1:]
        elif len(segments) >= 2 and segments[0] == "users":
            user = segments[1]
        else:
            raise _invalid("mastodon")
        if "@" in user:  # server.example/@alice@other.example shows a remote account
            user, _at, host = user.partition("@")
        return _normalize_mastodon_parts(user, host)
    if raw.lower().endswith(".bsky.social"):
        raise _wrong_platform("bluesky", "mastodon")
    value = raw.lstrip("@")
    if value.count("@") != 1:
        raise HandleError(
            _("Enter the full Mastodon address with its server, e.g. name@mastodon.social.")
        )
    user, _at, server = value.partition("@")
    return _normalize_mastodon_parts(user, server)


def _normalize_freeform(platform: str, raw: str) -> str:
    if _looks_like_url(raw):
        host, segments, _query = _split_url(raw)
        detected = _platform_of_host(host, segments)
        if platform != "other" and detected not in (None, platform):
            raise _wrong_platform(detected, platform)
        value = _SCHEME_RE.sub("", raw).rstrip("/")
    else:
        value = raw.lstrip("@")
    value = " ".join(value.split()).casefold()
    if not value:
        raise HandleError(_("Enter a handle."))
    if len(value) > 255:
        raise HandleError(_("The handle is too long."))
    return value


def normalize_handle(platform: str, raw: str) -> str:
    """The canonical handle of ``raw`` on ``platform``; raises :class:`HandleError`."""
    if platform not in PLATFORMS:
        raise HandleError(_("Unknown platform: %(platform)s.") % {"platform": platform})
    raw = _clean(raw)
    if platform in FREEFORM_PLATFORMS:
        return _normalize_freeform(platform, raw)
    if platform == "mastodon":
        return _normalize_mastodon(raw)
    if _looks_like_url(raw):
        host, segments, query = _split_url(raw)
        if host.endswith(".bsky.social") and platform == "bluesky":
            return _normalize_bluesky(host)  # https://alice.bsky.social is the handle itself
        detected = _platform_of_host(host, segments)
        if detected != platform:
            if detected is None:
                raise HandleError(
                    _("This is not a %(platform)s profile address.")
                    % {"platform": _label(platform)}
                )
            raise _wrong_platform(detected, platform)
        value = _profile_segment(platform, segments, query)
        if not value:
            raise HandleError(
                _("This %(platform)s address does not point to a profile.")
                % {"platform": _label(platform)}
            )
    else:
        detected = detect_platform(raw)
        if detected is not None and detected != platform:
            raise _wrong_platform(detected, platform)
        value = raw
    if platform == "bluesky":
        return _normalize_bluesky(value)
    value = value.lstrip("@")
    if platform == "reddit":
        value = _REDDIT_PREFIX_RE.sub("", value)  # people write u/name or /u/name
    if platform == "youtube" and _YOUTUBE_CHANNEL_RE.match(value):
        return value  # channel ids are case-sensitive
    value = value.lower()
    if not _SIMPLE_RULES[platform].match(value):
        raise _invalid(platform)
    return value


def profile_url(platform: str, handle: str) -> str:
    """The public profile address of a normalised handle ("" when there is none to build)."""
    if not handle:
        return ""
    if platform == "bluesky":
        return f"https://bsky.app/profile/{handle}"
    if platform == "mastodon":
        user, _at, server = handle.partition("@")
        return f"https://{server}/@{user}" if server else ""
    if platform == "youtube":
        if _YOUTUBE_CHANNEL_RE.match(handle):
            return f"https://www.youtube.com/channel/{handle}"
        return f"https://www.youtube.com/@{handle}"
    templates = {
        "x": "https://x.com/{}",
        "facebook": "https://www.facebook.com/{}",
        "instagram": "https://www.instagram.com/{}/",
        "vk": "https://vk.com/{}",
        "telegram": "https://t.me/{}",
        "reddit": "https://www.reddit.com/user/{}",
        "tiktok": "https://www.tiktok.com/@{}",
    }
    if platform in templates:
        return templates[platform].format(handle)
    # Review sites and "other": the handle is a URL without its scheme, or just a name.
    if " " not in handle and _DOMAINISH_RE.match(handle):
        return "https://" + handle
    return ""


def handle_local_part(platform: str, handle: str) -> str:
    """The user-name part of a normalised handle, comparable across platforms
    (``alice.bsky.social`` → ``alice``, ``alice@mastodon.social`` → ``alice``)."""
    if platform == "mastodon":
        return handle.partition("@")[0]
    if platform == "bluesky":
        if handle.endswith(".bsky.social"):
            return handle[: -len(".bsky.social")]
        return handle.rsplit(".", 1)[0] if "." in handle else handle
    return handle


_SEPARATORS_RE = re.compile(r"[._-]+")
_TRAILING_DIGITS_RE = re.compile(r"\d+$")


def handle_skeleton(platform: str, handle: str) -> str:
    """Local part without dots, underscores, dashes and trailing digits: ``a.lice_99`` → ``alice``.
    Two handles with one skeleton are likely the same person (a suggestion, never a match)."""
    local = _SEPARATORS_RE.sub("", handle_local_part(platform, handle))
    return _TRAILING_DIGITS_RE.sub("", local)
