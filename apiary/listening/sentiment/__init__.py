"""Sentiment stage of the listening pipeline: pure, offline, rule-based, batch-in/batch-out.

``score_sentiments(texts, languages=...)`` returns one :class:`SentimentResult` per text, in order;
``score_sentiment(text, language)`` scores one.  No DB, no Django: VADER's rule set
(Hutto & Gilbert, 2014) re-implemented for speed and extended to Russian and Spanish, over
lexicons that ship in ``apiary/listening/data/sentiment/`` (see its README for each file's source
and licence) and Snowball stemmers (``snowballstemmer``), plus, for Spanish posts the rules leave
neutral, a linear tweet model (``_es_model.py``).  Nothing is downloaded at run time.

Decision rules, in order (weights and thresholds are the module constants below):

1. **Cap and tokenise**: only the first ``MAX_CHARS`` characters count (a 1 MB post costs what a
   long one does).  URLs and ``@handles`` are dropped, ``#`` marks too (the hashtag word stays,
   CamelCase split: ``#EpicFail`` → ``Epic Fail``).
   Tokens are words, emoji, emoticons (``:)``, ``:-(``, ``<3``, ``xD``, Russian ``)))``/``(((``),
   numbers and clause separators (``.,;:!?…``).
2. **Lexicon per word, by script**: a Cyrillic word is looked up in the Russian lexicon; a Latin
   word in the Spanish one when the post is ``es`` (then in English's for borrowings such as
   "lol"), else in the English one.  Language ``None``/``other``/``und`` (or anything else) picks
   Spanish or English for Latin words by a vote of common function words.  Words are case-folded,
   ``ё`` → ``е``, Spanish accents folded; elongated words are tried with runs collapsed
   (``sooo goood`` → ``so good``, ``ужжжас`` → ``ужас``) and get a small emphasis; Russian and
   Spanish words also match by Snowball stem (``понравилось``/``понравился``); a Russian ``не-``
   word not in the lexicon is the negated stem (``неаккуратно``), a Spanish superlative is its
   base, emphasised (``riquísimo`` → ``rico``), laughter is mildly positive (``jajaja``,
   ``ахаха``, ``lmao``).  Phrases ("так себе", "una mierda", "waste of money") are matched
   first and take their words' place; a phrase that holds its own negation ("не подвели", "no me
   gusta") is not negated again, and "не ожидал"/"didn't expect" ends a negation's reach.
3. **Rules per valenced word** (VADER's): an intensifier/diminisher among the three words before
   it adds/subtracts ``B_INCR`` (decaying with distance: "very", "очень", "muy"; "kinda",
   "немного", "algo"); "супер"/"ужасно" before a valenced word only intensify; a word in ALL CAPS
   in a post that is not all caps adds ``CAPS_INCR``; a negator among the three words before it
   in the same clause ("not", "не", "ни разу не", "no me", "sin") multiplies it by ``NEG_SCALAR``
   (once, however many negators); a Russian "нет" just after it too ("проблем нет").
4. **Contrast**: with "but"/"но"/"зато"/"pero" the part before weighs ``BEFORE_BUT`` and the part
   after ``AFTER_BUT``.
5. **Post level**: emoji and emoticons add their valence; ``!`` (up to four) add emphasis in the
   direction of the sum; a **sarcasm marker** ("yeah right", "/s", "ага, конечно", "ну да,
   конечно", "sí, claro", 🙃…) turns a positive sum negative (``SARCASM_FLIP``) and pushes any
   other sum down by ``SARCASM_PUSH``.
6. **Result**: ``score`` is VADER's compound, ``sum / sqrt(sum² + 15)`` in -1..1; ``label`` is
   positive at ``score ≥ POSITIVE_AT``, negative at ``score ≤ -NEGATIVE_AT``, else neutral;
   ``confidence`` grows with the distance from the nearest threshold (0 for empty text,
   ``NO_CUE_CONFIDENCE`` for neutral text with no cue at all).
7. **Spanish posts the rules leave neutral** (language ``es``, or a Spanish function-word vote):
   most tweets carry no lexicon cue, and most of those still take a side.  The tweet model
   (``_es_model.EsTweetModel``: EvoMSA's emoji and polarity models collapsed into three weights per
   character/word n-gram, plus the compound score) decides them: ``label`` is its most probable
   class, ``score`` P(positive) - P(negative), ``confidence`` the winning probability.  A post
   whose n-grams are all unknown and that has no cue stays the plain no-cue neutral.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from apiary.listening.sentiment._es_model import es_model
from apiary.listening.sentiment._lexicon import BOOST, BOOST_VAL, CONTRAST, LOCKED, NEG, tables

__all__ = ["LABELS", "SentimentResult", "score_sentiment", "score_sentiments"]

LABELS: tuple[str, ...] = ("positive", "neutral", "negative")

MAX_CHARS = 2000
NEG_SCALAR = -0.74
CAPS_INCR = 0.733
BEFORE_BUT = 0.5
AFTER_BUT = 1.5
EXCLAIM_INCR = 0.292
MAX_EXCLAIMS = 4
SARCASM_FLIP = -0.7
SARCASM_PUSH = 0.9
QUESTION_DAMP = 0.8
# Spanish marks questions with "¿" at the start: such a post asks ("¿alguien sabe dónde reclamar
# un paquete?", "¿vale la pena el plan premium?") far more often than it judges.
QUESTION_DAMP_ES = 0.5
ALPHA = 15.0
POSITIVE_AT = 0.2
NEGATIVE_AT = 0.1
NO_CUE_CONFIDENCE = 0.6
WINDOW = 3
_DECAY = (1.0, 0.95, 0.9)
# Spanish clitics and copulas between a negator and its word do not use up the window:
# "no me lo ha gustado", "tampoco es que fuera tan bueno", "nunca se lo recomendaría".
_ES_NEG_TRANSPARENT = frozenset(
    [
        "me",
        "te",
        "se",
        "lo",
        "la",
        "le",
        "los",
        "las",
        "les",
        "nos",
        "os",
        "es",
        "que",
        "fue",
        "era",
        "sea",
        "fuera",
        "ha",
        "he",
        "han",
        "has",
        "hemos",
    ]
)


@dataclass(frozen=True, slots=True)
class SentimentResult:
    label: str  # "positive" | "neutral" | "negative"
    score: float  # -1.0 .. 1.0 (compound polarity)
    confidence: float  # 0..1


EMPTY = SentimentResult("neutral", 0.0, 0.0)

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_EMOJI_CLASS = (
    "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u2190-\u21ff\u3297\u3299"
    "\u00a9\u00ae\u203c\u2049\u2122\u2139"
)
_TOKEN_RE = re.compile(
    r"@[\w.]+"  # handle (skipped)
    r"|(?:[<>]?[:;=8][\-o*'^]?[)\](\[dDpP/\\|*3cC@]+|[xX][dD]+)(?!\w)"  # :) :-( ;P xD
    r"|[)\](\[dD][\-o*']?[:;=8](?!\w)"  # (: D:
    r"|</?3+|\^[_.]?\^|-_-|[tT]_[tT]"
    r"|\)+|\(+"
    r"|[^\W\d_]+(?:'[^\W\d_]+)*"  # word
    r"|\d+(?:[.,:/]\d+)*"  # number
    r"|[.,;:!?¡¿…]+|\n"  # separator
    rf"|[{_EMOJI_CLASS}]"
)
_EMOTICONS: dict[str, float] = {
    ":)": 2.0, ":-)": 2.0, ":]": 1.8, "=)": 2.0, ":d": 2.4, ":-d": 2.4, "=d": 2.4, ";)": 1.6,
    ";-)": 1.6, ";d": 2.0, ":p": 1.4, ":-p": 1.4, ";p": 1.4, "xd": 1.8, "xdd": 2.0, "<3": 2.8,
    "<33": 3.0, ":*": 2.2, ":3": 1.8, "^_^": 2.2, "^^": 1.8, "^.^": 1.8, "(:": 1.8, ":')": 1.6,
    ":(": -2.0, ":-(": -2.0, ":[": -1.8, "=(": -2.0, ":'(": -2.4, ":/": -1.2, ":-/": -1.2,
    ":\\": -1.2, "d:": -1.8, "</3": -2.6, "-_-": -1.2, ">:(": -2.6, "t_t": -2.0, ":|": -0.6,
    ":c": -1.6, "):": -1.8, ":@": -2.4, ">:": -1.6,
}  # fmt: skip
_BRACKET_SMILE = (0.9, 1.5, 2.0)  # ")", "))", ")))+" — Russian chat smiles; "(" the same, negative

_SARCASM = {
    "en": r"\byeah,? right\b|\byeah,? sure\b|\boh,? great\b|\bjust great\b|\bthanks for nothing\b"
    r"|\bgotta love\b|\bsure,? because\b|\bwhat a surprise\b|\bthanks a lot\b",
    "ru": r"\bага,? (?:конечно|щас)\b|\bну да,? конечно\b|\bда[- ]да\b|\bну спасибо\b|\bнуну\b"
    r"|\bну[- ]ну\b|\bспасибо,? конечно\b|\bочень помогли\b|\bвот спасибо\b|\bага[\s.!)]*$"
    r"|\bкак же,? как же\b",
    "es": r"\bs[ií],? claro\b|\bya,? claro\b|\bc[oó]mo no\b|\bgracias por nada\b|\bclaro,? claro\b"
    r"|\bpues qu[eé] bien\b|\bqu[eé] sorpresa\b|\bqu[eé] casualidad\b"
    r"|\bgracias\b[^.!?]{0,30}\bpor dejarme sin\b",
}
_SARCASM_ANY = r"(?:^|\s)/s\b|#sarcas|#сарказм|🙃|🙄"
_SARCASM_RE = {
    lang: re.compile(f"{pattern}|{_SARCASM_ANY}", re.IGNORECASE)
    for lang, pattern in _SARCASM.items()
}
_SARCASM_RE["mixed"] = re.compile("|".join([*_SARCASM.values(), _SARCASM_ANY]), re.IGNORECASE)


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


_ES_VOTES = _words(
    "el la los las que de y es muy pero por para con una un del al lo me te se mi su esta "
    "este esto eso como mas pues porque hay son fue ser estoy todo nada ya si tambien"
)
_EN_VOTES = _words(
    "the and is to it this of you my for in on that was are with be have i i'm its it's "
    "so just what your me at they but not all"
)


_HASHTAG_RE = re.compile(r"#([^\W\d_]+)")
_CAMEL_RE = re.compile(r"(?<=[a-zß-öø-ÿа-яё])(?=[A-ZÀ-ÖØ-ÞА-ЯЁ])")


def _split_hashtag(match: re.Match) -> str:
    word = match.group(1)
    return " " + _CAMEL_RE.sub(" ", word) if not word.isupper() else " " + word


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _latin_vote(tokens: list[str]) -> str:
    es = en = 0
    for tok in tokens:
        low = tok.lower()
        if low in _ES_VOTES:
            es += 1
        elif low in _EN_VOTES:
            en += 1
    return "es" if es > en else "en"


def _label(compound: float, cues: int) -> SentimentResult:
    if compound >= POSITIVE_AT:
        conf = 0.55 + 0.44 * min(1.0, (compound - POSITIVE_AT) / (1.0 - POSITIVE_AT))
        return SentimentResult("positive", round(compound, 4), round(conf, 3))
    if compound <= -NEGATIVE_AT:
        conf = 0.55 + 0.44 * min(1.0, (-compound - NEGATIVE_AT) / (1.0 - NEGATIVE_AT))
        return SentimentResult("negative", round(compound, 4), round(conf, 3))
    if not cues:
        return SentimentResult("neutral", 0.0, NO_CUE_CONFIDENCE)
    edge = POSITIVE_AT if compound > 0 else NEGATIVE_AT
    conf = 0.5 + 0.45 * (1.0 - abs(compound) / edge)
    return SentimentResult("neutral", round(compound, 4), round(conf, 3))


def _combine(text: str, compound: float, cues: int) -> SentimentResult:
    """A Spanish post the rules left neutral: the tweet model's three logits decide the label.

    ``score`` is P(positive) - P(negative) in -1..1 and ``confidence`` the winning probability,
    except that a post with no known n-gram and no cue keeps the plain no-cue neutral result.
    """
    logits, known = es_model().logits(text, compound)
    if not cues and not known:
        return SentimentResult("neutral", 0.0, NO_CUE_CONFIDENCE)
    top = max(logits)
    pos, neu, neg = (math.exp(x - top) for x in logits)
    total = pos + neu + neg
    pos, neu, neg = pos / total, neu / total, neg / total
    label = "positive" if pos >= neu and pos >= neg else "negative" if neg > neu else "neutral"
    return SentimentResult(label, round(pos - neg, 4), round(max(pos, neu, neg), 3))


def _rules(text: str, language: str | None, tabs: dict) -> tuple[float, int, bool] | None:
    """(compound, cues, Spanish?) of the rules alone; ``None`` for text with no token."""
    if not text or text.isspace():
        return None
    text = text[:MAX_CHARS]
    if "’" in text:
        text = text.replace("’", "'")
    if "http" in text or "www." in text:
        text = _URL_RE.sub(" ", text)
    if "#" in text:  # "#EpicFail" → "Epic Fail"
        text = _HASHTAG_RE.sub(_split_hashtag, text)
    tokens = _TOKEN_RE.findall(text)
    if not tokens:
        return None
    spanish = language == "es"
    if spanish:
        latin, fallback, sarcasm = tabs["es"], tabs["en"], _SARCASM_RE["es"]
        transparent = _ES_NEG_TRANSPARENT
    elif language == "en" or language == "ru":
        latin, fallback, sarcasm = tabs["en"], None, _SARCASM_RE[language]
        transparent = frozenset()
    else:
        vote = _latin_vote(tokens)
        spanish = vote == "es"
        latin = tabs[vote]
        fallback = tabs["en"] if vote == "es" else None
        sarcasm = _SARCASM_RE["mixed"]
        transparent = _ES_NEG_TRANSPARENT if vote == "es" else frozenset()
    ru = tabs["ru"]
    emoji = tabs["emoji"]
    # Brackets are smiles only when they are not balanced parentheses.
    brackets = "(" in text or ")" in text
    if brackets and text.count("(") == text.count(")"):
        brackets = False
    caps_diff = not text.isupper() and any(t.isupper() and len(t) > 1 for t in tokens)

    # Pass 1: one (lower, valence, role, boost, fixed) row per token; separators end clauses.
    lows: list[str] = []
    vals: list[float] = []
    roles: list[int] = []
    boosts: list[float] = []
    fixed = 0.0  # emoji / emoticons: not negated or intensified by words
    cues = 0
    exclaims = 0
    for tok in tokens:
        first = tok[0]
        if first.isalpha() and not (first in "xXdDtT" and tok.lower() in _EMOTICONS):
            low = tok.lower()
            lex = ru if _is_cyrillic(first) else latin
            value, role, boost = lex.lookup(low)
            if not value and not role and fallback is not None and len(low) > 3:
                value = fallback.lookup(low)[0]
            if value and caps_diff and tok.isupper() and len(tok) > 1:
                value += CAPS_INCR if value > 0 else -CAPS_INCR
            lows.append(low)
            vals.append(value)
            roles.append(role)
            boosts.append(boost)
        elif first in ".,;:!?¡¿…\n" and not (len(tok) > 1 and tok.lower() in _EMOTICONS):
            exclaims += tok.count("!") + tok.count("¡")
            lows.append("")
            vals.append(0.0)
            roles.append(-1)
            boosts.append(0.0)
        elif first == "@" or first.isdigit():
            continue
        elif first in "()":
            if brackets:
                step = _BRACKET_SMILE[min(len(tok), 3) - 1]
                fixed += step if first == ")" else -step
                cues += 1
        else:
            value = _EMOTICONS.get(tok.lower()) or emoji.get(tok)
            if value:
                fixed += value
                cues += 1

    # Pass 2: phrases (they replace their words), then VADER's rules per valenced word.
    n = len(lows)
    for i in range(n):
        low = lows[i]
        if not low:
            continue
        lex = ru if _is_cyrillic(low[0]) else latin
        cands = lex.phrases.get(lex.fold(low))
        if cands is None:
            continue
        for words, value in cands:
            k = len(words)
            if i + k <= n and all(lex.fold(lows[i + j]) == words[j] for j in range(1, k)):
                vals[i] = value
                # A phrase that holds its own negation ("не подвели") is not negated again.
                roles[i] = LOCKED if roles[i] > 0 and roles[i] & NEG else 0
                for j in range(1, k):
                    vals[i + j] = 0.0
                    roles[i + j] = 0
                    lows[i + j] = ""
                break

    but = -1
    for i in range(n):
        if roles[i] > 0 and roles[i] & CONTRAST:
            if lows[i] == "embargo" and (i == 0 or lows[i - 1] != "sin"):
                continue
            but = i
    total = 0.0
    for i in range(n):
        value = vals[i]
        if not value:
            continue
        role = roles[i]
        if role > 0 and role & BOOST_VAL and i + 1 < n and vals[i + 1] and roles[i + 1] >= 0:
            continue  # "супер быстро": an intensifier here
        cues += 1
        negated = False
        j, back = i, 0
        while role != LOCKED and back < WINDOW:
            j -= 1
            if j < 0:
                break
            r = roles[j]
            if r < 0:
                break  # clause boundary
            if r == 0 and not vals[j] and lows[j] in transparent:
                continue  # "no *me lo* ha gustado": still within reach
            back += 1
            if r & NEG:
                negated = True
            if r & BOOST:
                step = boosts[j] * _DECAY[back - 1]
                value += step if value > 0 else -step
        if i + 1 < n and lows[i + 1] == "нет":
            negated = not negated
        if negated:
            value *= NEG_SCALAR
        if but >= 0:
            value *= BEFORE_BUT if i < but else AFTER_BUT if i > but else 1.0
        total += value
    if roles and not cues and not fixed:
        return (0.0, 0, spanish) if not sarcasm.search(text) else (-0.3, 1, spanish)
    total += fixed
    if exclaims and total:
        emphasis = min(exclaims, MAX_EXCLAIMS) * EXCLAIM_INCR
        total += emphasis if total > 0 else -emphasis
    if sarcasm.search(text):
        cues += 1
        total = total * SARCASM_FLIP - SARCASM_PUSH if total > 0 else total - SARCASM_PUSH
    elif "?" in text and "!" not in text:
        total *= QUESTION_DAMP_ES if "¿" in text else QUESTION_DAMP
    return total / math.sqrt(total * total + ALPHA), cues, spanish


def _score(text: str, language: str | None, tabs: dict) -> SentimentResult:
    lexicon = _rules(text, language, tabs)
    if lexicon is None:
        return EMPTY
    compound, cues, spanish = lexicon
    result = _label(compound, cues)
    if not spanish or result.label != "neutral":
        return result
    # The rules found no clear polarity in a Spanish post: the tweet model decides.  Rule-polar
    # posts keep the rules' answer, so negation, contrast and sarcasm behave as written.
    return _combine(text[:MAX_CHARS], compound, cues)


def score_sentiment(text: str, language: str | None = None) -> SentimentResult:
    """The sentiment of one post; ``language`` is the language stage's code (or ``None``)."""
    return _score(text, language, tables())


def score_sentiments(
    texts: Sequence[str], languages: Sequence[str | None] | None = None
) -> list[SentimentResult]:
    """One :class:`SentimentResult` per text, in order (``languages`` aligned with ``texts``)."""
    if languages is not None and len(languages) != len(texts):
        raise ValueError("languages must be as long as texts")
    tabs = tables()
    if languages is None:
        return [_score(text, None, tabs) for text in texts]
    return [_score(text, lang, tabs) for text, lang in zip(texts, languages, strict=True)]
