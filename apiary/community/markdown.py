"""Member text → safe HTML: Markdown (markdown-it-py, CommonMark, raw HTML off) then nh3.

Two layers on purpose: the renderer never emits raw HTML from the source, and nh3 removes
whatever a renderer bug or a crafted link might still let through (``javascript:`` URLs, event
attributes, ``<script>``). Images may only point at our own paths (attachments), so a post cannot
carry a tracking pixel. ``@handle`` becomes a link to the member's profile and is returned in
``mentions`` for notifications.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field

import nh3
from markdown_it import MarkdownIt

HANDLE_RE = re.compile(r"[A-Za-z0-9_]{2,40}")
PROFILE_PATH = "/community/u/{user_id}/"

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "s", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a", "img",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
    "ol": {"start"},
}


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src" and not value.startswith("/"):
        return None  # only our own files
    if attr == "class" and not re.fullmatch(r"(mention|language-[\w-]{1,30})", value):
        return None
    if attr == "style" and value not in (
        "text-align:left",
        "text-align:right",
        "text-align:center",
    ):
        return None
    return value


def _profile_urls(handles: set[str]) -> dict[str, str]:
    """handle → profile URL for the handles that belong to members (one query)."""
    if not handles:
        return {}
    from django.urls import NoReverseMatch, reverse

    from apiary.community.models import Profile

    urls = {}
    for handle, user_id in Profile.objects.filter(handle__in=sorted(handles)[:50]).values_list(
        "handle", "user_id"
    ):
        try:
            urls[handle] = reverse("community:profile", args=[user_id])
        except NoReverseMatch:
            urls[handle] = PROFILE_PATH.format(user_id=user_id)
    return urls


def _mention_rule(state, silent: bool) -> bool:
    pos = state.pos
    src = state.src
    if src[pos] != "@":
        return False
    if pos > 0 and (src[pos - 1].isalnum() or src[pos - 1] in "_.@"):
        return False  # e-mail addresses are not mentions
    match = HANDLE_RE.match(src, pos + 1)
    if not match:
        return False
    if not silent:
        token = state.push("mention", "", 0)
        token.meta = {"handle": match.group(0).lower()}
    state.pos = match.end()
    return True


def _render_mention(self, tokens, idx, options, env) -> str:
    handle = tokens[idx].meta["handle"]
    url = env.get("mention_urls", {}).get(handle)
    if url is None:  # not a member: plain text, no link, no notification
        return f"@{html_lib.escape(handle)}"
    return f'<a href="{html_lib.escape(url)}" class="mention">@{html_lib.escape(handle)}</a>'


def _collect_mentions(tokens) -> set[str]:
    found = set()
    for token in tokens:
        for child in token.children or ():
            if child.type == "mention":
                found.add(child.meta["handle"])
    return found


def _make() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.inline.ruler.push("mention", _mention_rule)
    md.add_render_rule("mention", _render_mention)
    # Not in code spans or blocks: those rules run first and never produce mention tokens.
    return md


_MD = _make()


@dataclass(frozen=True)
class Rendered:
    html: str
    plain: str
    mentions: set[str] = field(default_factory=set)


def sanitize(raw_html: str) -> str:
    return nh3.clean(
        raw_html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener noreferrer",
        strip_comments=True,
    )


def to_plain(raw_html: str) -> str:
    text = nh3.clean(raw_html, tags=set())
    return re.sub(r"\s+", " ", html_lib.unescape(text)).strip()


def render(text: str, *, resolve_mentions: bool = True) -> Rendered:
    """``mentions`` holds the handles of existing members only."""
    env: dict = {}
    tokens = _MD.parse(text or "", env)
    handles = _collect_mentions(tokens)
    env["mention_urls"] = _profile_urls(handles) if resolve_mentions else {}
    raw = _MD.renderer.render(tokens, _MD.options, env)
    safe = sanitize(raw)
    return Rendered(html=safe, plain=to_plain(safe), mentions=set(env["mention_urls"]))


def excerpt(plain: str, limit: int = 280) -> str:
    if len(plain) <= limit:
        return plain
    cut = plain[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"
