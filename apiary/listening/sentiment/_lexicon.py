"""Lexicons and rule words of the sentiment stage, loaded once per process from ``data/sentiment/``.

Each language gets a :class:`Lexicon`: exact word forms, Snowball stems (ru, es), phrases, and the
rule words (negators, intensifiers/diminishers, contrast).  ``Lexicon.lookup`` resolves one
lower-cased token to ``(valence, role, boost)`` and memoises it (social text is Zipfian, so the
cache hit rate is high and the Snowball stemmer runs once per distinct word).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "sentiment"

NEG = 1  # role bit: negator ("not", "не", "no")
BOOST = 2  # role bit: intensifier (boost > 0) or diminisher (boost < 0)
CONTRAST = 4  # role bit: "but", "но", "pero"
LOCKED = 16  # role of a phrase head that holds its own negation: not negated again
BOOST_VAL = 8  # valenced word that acts as an intensifier before another valenced word ("супер")

B_INCR = 0.293  # VADER's intensifier step
ELONG = 0.293  # emphasis of an elongated word ("sooo goood")
EVOMSA_WEIGHT = 1.4
EVOMSA_MIN_STEM = 99
CACHE_MAX = 200_000
LAUGH = 1.6  # "jajaja", "hahaha", "ахахах", "lmao"
MIN_STEM = 4  # shorter stems collide with function words ("con", "при")

_NEGATORS = {
    "en": (
        "not no never none nobody nothing neither nor nowhere cannot cant can't dont don't "
        "doesnt doesn't didnt didn't isnt isn't wasnt wasn't arent aren't werent weren't "
        "wont won't wouldnt wouldn't shouldnt shouldn't couldnt couldn't havent haven't hasnt "
        "hasn't hadnt hadn't aint ain't without rarely seldom hardly neednt needn't mustnt "
        "mightnt darent nope nah"
    ),
    "ru": "не ни нет без никогда нисколько ничуть отнюдь нельзя неа",
    "es": "no nunca jamas ni sin nada tampoco nadie ningun ninguna ninguno poco",
}
_BOOSTERS = {
    "en": (
        "absolutely amazingly awfully completely considerably decidedly deeply effing enormously "
        "entirely especially exceptionally extremely fabulously flipping flippin fricking frickin "
        "frigging friggin fully fucking fuckin greatly hella highly hugely incredibly intensely "
        "majorly more most particularly purely quite really remarkably so soo sooo substantially "
        "thoroughly totally tremendously uber unbelievably unusually utterly very freaking mega "
        "literally truly super damn too"
    ),
    "ru": (
        "очень оч сильно реально прям прямо крайне весьма совсем совершенно абсолютно полностью "
        "настолько так такой такая такое самый самая самое самые наиболее вообще ваще максимально "
        "слишком чересчур жутко ужасно безумно невероятно нереально дико адски чертовски супер "
        "мега бесконечно вечно страшно офигенно нереально ооочень оочень капец всегда"
    ),
    "es": (
        "muy mucho muchisimo muchisima mas tan tanto tanta bastante demasiado demasiada "
        "totalmente completamente absolutamente realmente increiblemente extremadamente "
        "sumamente super hiper mega re requete tremendamente terriblemente"
    ),
}
_DIMINISHERS = {
    "en": (
        "almost barely kinda kindof less little marginally occasionally partly scarcely slightly "
        "somewhat sorta sortof bit fairly"
    ),
    "ru": "немного немножко чуть слегка слабо местами частично почти довольно относительно малость",
    "es": "algo casi apenas ligeramente medio",
}
# Valenced words that only intensify when a valenced word follows ("супер быстро", "ужасно вкусно").
_BOOST_VAL = {
    "en": "super",
    "ru": "супер жутко ужасно безумно невероятно нереально дико страшно офигенно капец",
    "es": "super",
}
_CONTRAST = {"en": "but however", "ru": "но однако зато", "es": "pero sino embargo"}


_LAUGH_RE = re.compile(
    r"a?(?:[jh][aeiou]){2,}[jh]?$|(?:js){2,}j?$|(?:a?х[аеи]){2,}х?$|а(?:ха)+х?$|lmf?ao+$|lol+$|rofl$"
)


_ES_SUPERLATIVE_RE = re.compile(r"isim([oa]s?)$")


def _es_positive_degree(word: str) -> str:
    """``hermosísimo`` → ``hermoso``, ``riquísimo`` → ``rico``, ``larguísima`` → ``larga``."""
    match = _ES_SUPERLATIVE_RE.search(word)
    if match is None:
        return word
    root = word[: match.start()]
    if root.endswith("qu"):
        root = root[:-2] + "c"
    elif root.endswith("gu"):
        root = root[:-1]
    return root + match.group(1)


def fold_es(word: str) -> str:
    """Accent-fold Spanish (``qué`` → ``que``, ``ñ`` → ``n``) as both lexicon and tokens are."""
    if word.isascii():
        return word
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch))


def fold_ru(word: str) -> str:
    return word.replace("ё", "е")


def _dedupe_runs(word: str, keep: int) -> str:
    """Collapse runs of 3+ equal letters to ``keep`` letters (``sooo`` → ``so``/``soo``)."""
    out: list[str] = []
    prev, run = "", 0
    for ch in word:
        if ch == prev:
            run += 1
            if run > keep:
                continue
        else:
            prev, run = ch, 1
        out.append(ch)
    return "".join(out)


def _has_run(word: str) -> bool:
    return any(word[i] == word[i + 1] == word[i + 2] for i in range(len(word) - 2))


def _read_tsv(name: str) -> list[tuple[str, str]]:
    rows = []
    with (DATA / name).open(encoding="utf-8") as fileobj:
        for line in fileobj:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) >= 2:
                rows.append((parts[0].strip().lower(), parts[1].strip()))
    return rows


class Lexicon:
    """One language's valences and rule words; ``lookup`` is memoised per token."""

    def __init__(self, lang: str, fold, stemmer=None) -> None:
        self.lang = lang
        self.fold = fold
        self.stem = stemmer
        self.words: dict[str, float] = {}
        self.stems: dict[str, float] = {}
        self.phrases: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        self.roles: dict[str, tuple[int, float]] = {}
        self.cache: dict[str, tuple[float, int, float]] = {}
        for word in _NEGATORS[lang].split():
            self._role(word, NEG, 0.0)
        for word in _BOOSTERS[lang].split():
            self._role(word, BOOST, B_INCR)
        for word in _DIMINISHERS[lang].split():
            self._role(word, BOOST, -B_INCR)
        for word in _BOOST_VAL[lang].split():
            self._role(word, BOOST | BOOST_VAL, B_INCR)
        for word in _CONTRAST[lang].split():
            self._role(word, CONTRAST, 0.0)

    def _role(self, word: str, role: int, boost: float) -> None:
        old_role, old_boost = self.roles.get(word, (0, 0.0))
        self.roles[word] = (old_role | role, boost or old_boost)

    def add(self, term: str, valence: float, *, min_stem: int = 0, override: bool = True) -> None:
        term = " ".join(self.fold(term).split())
        if " " in term:
            words = tuple(term.split())
            bucket = self.phrases.setdefault(words[0], [])
            bucket[:] = [p for p in bucket if p[0] != words]
            bucket.append((words, valence))
            bucket.sort(key=lambda p: -len(p[0]))
            return
        if override or term not in self.words:
            self.words[term] = valence
        if self.stem is not None:
            root = self.stem(term)
            if len(root) >= max(MIN_STEM, min_stem) and (override or root not in self.stems):
                self.stems[root] = valence

    def _valence(self, word: str) -> float | None:
        value = self.words.get(word)
        if value is None and self.stem is not None and len(word) > MIN_STEM:
            value = self.stems.get(self.stem(word))
        return value

    def lookup(self, lower: str) -> tuple[float, int, float]:
        """``(valence, role bits, boost)`` of one lower-cased word token."""
        hit = self.cache.get(lower)
        if hit is not None:
            return hit
        word = self.fold(lower)
        role, boost = self.roles.get(word, (0, 0.0))
        value = self._valence(word)
        if value is None and _has_run(word):
            for keep in (2, 1):
                short = _dedupe_runs(word, keep)
                value = self._valence(short)
                if role == 0:
                    role, boost = self.roles.get(short, (0, 0.0))
                if value is not None:
                    value += ELONG if value > 0 else -ELONG
                    break
                if role:
                    break
        if value is None and self.lang == "es" and len(word) > 7:
            base = _es_positive_degree(word)  # emphasised like an elongated word
            if base != word:
                value = self._valence(base)
                if value:
                    value += ELONG if value > 0 else -ELONG
        if value is None and _LAUGH_RE.match(word):
            value = LAUGH
        if value is None and self.lang == "ru" and word.startswith("не") and len(word) > 5:
            rest = self._valence(word[2:])
            if rest:  # "неаккуратно", "недорого": the negated stem, VADER's negation scalar
                value = rest * -0.74
        hit = (value or 0.0, role, boost)
        if len(self.cache) >= CACHE_MAX:
            self.cache.clear()
        self.cache[lower] = hit
        return hit


def _snowball(lang: str):
    import snowballstemmer

    return snowballstemmer.stemmer(lang).stemWord


def _build() -> dict[str, Lexicon]:
    en = Lexicon("en", str)
    for term, value in _read_tsv("en_vader.tsv"):
        en.add(term, float(value), override=False)
    for term, value in _read_tsv("en_social.tsv"):
        en.add(term, float(value))

    es = Lexicon("es", fold_es, _snowball("spanish"))
    for term, value in _read_tsv("es_evomsa_affective.tsv"):
        es.add(term, float(value) * EVOMSA_WEIGHT, min_stem=EVOMSA_MIN_STEM, override=False)
    for term, value in _read_tsv("es.tsv"):
        if value.startswith("="):  # this word form only, its stem left alone ("mente" ≠ "mentir")
            es.add(term, float(value[1:]), min_stem=EVOMSA_MIN_STEM)
        else:
            es.add(term, float(value))

    ru = Lexicon("ru", fold_ru, _snowball("russian"))
    for term, value in _read_tsv("ru.tsv"):
        ru.add(term, float(value))
    return {"en": en, "es": es, "ru": ru}


def _emoji_table(en: Lexicon) -> dict[str, float]:
    """Emoji → valence: VADER's emoji descriptions scored by the English lexicon, then overrides."""
    table: dict[str, float] = {}
    for emoji, description in _read_tsv("emoji_vader.tsv"):
        words = description.replace("-", " ").split()
        total = sum(en.words.get(w, 0.0) for w in words)
        if total:
            table[emoji] = max(-3.0, min(3.0, total))
    for emoji, value in _read_tsv("emoji_overrides.tsv"):
        table[emoji] = float(value)
    return table


_tables: dict | None = None
_lock = threading.Lock()


def tables() -> dict:
    """``{"en"|"es"|"ru": Lexicon, "emoji": {char: valence}}``, built once (thread-safe)."""
    global _tables
    if _tables is None:
        with _lock:
            if _tables is None:
                built: dict = _build()
                built["emoji"] = _emoji_table(built["en"])
                _tables = built
    return _tables
