"""Spam heuristics: pure functions over the text and a few facts about the author.

Each heuristic is a *signal* with a weight; content is held for review (reason ``spam``) when the
weights add up to :data:`HOLD_SCORE`. One weak signal (shouting, one link from a new account)
never holds on its own, so an excited customer is not silenced; two weak ones or one strong one
(many links, the same text again within minutes, known spam phrases) do. Moderators see the
signal codes on the queue item, so a wrong hold is easy to understand and approve.

No database access here: the caller (``services.post_screen`` / ``comment_screen``) looks up the
author's recent texts and passes them in, which keeps these functions testable with plain data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

HOLD_SCORE = 3

MANY_LINKS = 5  # links in one text
NEW_ACCOUNT_HOURS = 24
SHOUT_MIN_LETTERS = 20
SHOUT_SHARE = 0.8
REPEAT_MIN_CHARS = 20  # "thanks!" twice is not spam

WEIGHTS = {
    "many_links": 3,
    "repeated_text": 3,
    "spam_phrase": 2,  # per phrase, at most two counted
    "new_account_links": 2,
    "shouting": 1,
}

# Lower-case, accent-folded phrases (en / ru / es). Matched on word boundaries of the folded text.
SPAM_PHRASES = (
    # en
    "buy now",
    "click here",
    "free money",
    "make money fast",
    "earn money from home",
    "work from home and earn",
    "limited time offer",
    "100% free",
    "casino bonus",
    "cheap viagra",
    "crypto giveaway",
    "double your bitcoin",
    "guaranteed income",
    "act now",
    "risk free",
    "weight loss pills",
    # ru (ё folded to е)
    "заработок в интернете",
    "быстрый заработок",
    "заработай",
    "без вложений",
    "казино",
    "перейди по ссылке",
    "жми сюда",
    "купить дешево",
    "бесплатно и без регистрации",
    "ставки на спорт",
    # es (accents folded)
    "gana dinero",
    "dinero facil",
    "haz clic aqui",
    "compra ahora",
    "oferta por tiempo limitado",
    "trabaja desde casa",
    "casino en linea",
    "100% gratis",
    "sin inversion",
)

_URL_RE = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>()\[\]]+")
_WORD_RE = re.compile(r"[\w%]+")
_BARE_DOMAIN_RE = re.compile(r"(?i)\b[a-z0-9-]+\.(?:com|net|org|ru|info|biz|xyz|top|io|es)\b/\S*")


def fold(text: str) -> str:
    """Lower-case, strip accents (á → a, ё → е), collapse white space: what phrases and repeats
    are compared on."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", text.casefold()).strip()


def count_links(text: str) -> int:
    """URLs (``http(s)://…``, ``www.…``) plus bare ``domain.tld/path`` links."""
    text = text or ""
    urls = _URL_RE.findall(text)
    rest = _URL_RE.sub(" ", text)
    return len(urls) + len(_BARE_DOMAIN_RE.findall(rest))


def is_shouting(text: str) -> bool:
    """Mostly capital letters (at least 20 letters, 80 % upper case), in any cased script."""
    letters = [ch for ch in (text or "") if ch.isalpha() and (ch.isupper() or ch.islower())]
    if len(letters) < SHOUT_MIN_LETTERS:
        return False
    upper = sum(1 for ch in letters if ch.isupper())
    return upper / len(letters) >= SHOUT_SHARE


def spam_phrases(text: str) -> list[str]:
    """The known spam phrases found in the text (folded, on word boundaries)."""
    folded = _words(text)
    return [p for p in SPAM_PHRASES if _words(p) in folded]


def _words(text: str) -> str:
    # " word word " with single spaces, so a phrase matches on word boundaries only
    return " " + " ".join(_WORD_RE.findall(fold(text))) + " "


def is_repeat(text: str, recent_texts) -> bool:
    """The same text (folded) as one of the author's recent posts or comments."""
    folded = fold(text)
    if len(folded) < REPEAT_MIN_CHARS:
        return False
    return any(fold(other) == folded for other in recent_texts)


@dataclass(frozen=True)
class Verdict:
    score: int
    signals: list[str] = field(default_factory=list)

    @property
    def is_spam(self) -> bool:
        return self.score >= HOLD_SCORE


def assess(
    text: str, *, recent_texts=(), account_age_hours: float | None = None, trust_level: int = 0
) -> Verdict:
    """Score one text. ``recent_texts``: the author's texts of the last minutes;
    ``account_age_hours``: None when unknown (then the new-account signal is off)."""
    signals: list[str] = []
    score = 0
    links = count_links(text)
    if links >= MANY_LINKS:
        signals.append("many_links")
        score += WEIGHTS["many_links"]
    elif (
        links
        and trust_level == 0
        and account_age_hours is not None
        and account_age_hours < NEW_ACCOUNT_HOURS
    ):
        signals.append("new_account_links")
        score += WEIGHTS["new_account_links"]
    if is_repeat(text, recent_texts):
        signals.append("repeated_text")
        score += WEIGHTS["repeated_text"]
    found = spam_phrases(text)
    if found:
        signals.append("spam_phrase")
        score += WEIGHTS["spam_phrase"] * min(len(found), 2)
    if is_shouting(text):
        signals.append("shouting")
        score += WEIGHTS["shouting"]
    return Verdict(score=score, signals=signals)
