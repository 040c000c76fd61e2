"""Intent stage of the listening pipeline: a pure, rule-based, batch-in/batch-out classifier.

``classify_intents(texts, languages=...)`` returns one :class:`IntentResult` per text, in order.
No model, no DB, no Django: hand-written cue lexicons for en/ru/es, compiled into one regex per
language (and one for "all three") once, at import.

Intents
    ``purchase``  wants to buy, asks for a recommendation, a price or whether something is worth it.
    ``support``   a problem or a question needing help (broken, refund, order not arrived, …).
    ``none``      anything else, including reviews ("highly recommend!", "totally worth it").

Decision rules, in order (weights and thresholds are the module constants below):

1. **Normalise**: the text is case- and accent-folded with :func:`queries.fold` (``Dónde`` →
   ``donde``, ``ё`` → ``е``); curly apostrophes become ``'``.  Empty/blank text → ``none``.
2. **Lexicons**: a language code ``en``/``ru``/``es`` (``en-US`` → ``en``) selects that lexicon;
   any other code or ``None`` tries all three (the Cyrillic one only on text with Cyrillic
   letters, the Latin ones only on text with Latin letters: same result, faster).
3. **Cues**: every non-overlapping cue match counts once.  Each cue has a class (purchase or
   support), a weight (``STRONG``, ``MEDIUM`` or ``WEAK``) and, for support, a kind: a *problem*
   (something is wrong: "not working", "refund", "charged twice") or a bare *help* request.
4. **Negation guard** (cheap, not a parser): a negatable cue is dropped when a negator of its
   language ("not", "don't", "no need for"; "не", "без"; "no", "nunca", "sin") stands at most one
   word before it in the same clause — "not looking to buy", "no need for help", "не хочу
   купить", "no necesito ayuda".  "don't know where to buy" / "не знаю где купить" / "no sé dónde
   comprar" are not negations.  Cues that already contain their negation ("doesn't work") and
   complaints that read the same either way ("no refund yet") are not negatable.
5. **Scores**: per class, ``1 - Π(1 - weight)`` over its cues; a question mark (``?`` or ``¿``)
   strengthens each class that has a cue by ``QUESTION_BONUS`` (so a WEAK cue such as "price" or
   "help" counts only in a question).  A class is in play when its score ≥ ``THRESHOLD``.
6. **Both in play**: ``support`` wins when any *problem* cue is present (a customer with a broken
   product asking about a replacement is support); otherwise ``purchase`` wins (asking for help
   choosing something is a purchase question).
7. **Result**: ``confidence`` is the winning class's score (capped at ``MAX_CONFIDENCE``); for
   ``none`` it is ``1 - `` the best sub-threshold score.  ``cues`` lists every matched cue id
   (both classes, text order), e.g. ``("en:charged_twice", "en:want_to_buy")``, plus ``"?"``
   when a question mark contributed — the "why" shown in the UI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from apiary.listening.queries import fold

__all__ = ["INTENTS", "IntentResult", "classify_intent", "classify_intents"]

Intent = Literal["purchase", "support", "none"]
INTENTS: tuple[str, ...] = ("purchase", "support", "none")
LANGUAGES: tuple[str, ...] = ("en", "ru", "es")

STRONG = 0.75
MEDIUM = 0.5
WEAK = 0.35
QUESTION_BONUS = 0.15
THRESHOLD = 0.5
MAX_CONFIDENCE = 0.99

PURCHASE = "purchase"
SUPPORT = "support"
NONE = "none"


@dataclass(frozen=True, slots=True)
class IntentResult:
    intent: str  # "purchase" | "support" | "none"
    confidence: float  # 0..1
    cues: tuple[str, ...]  # matched cue ids, text order ("?" when a question mark counted)


class _Cue(NamedTuple):
    id: str  # "en:where_to_buy"
    lang: str
    intent: str  # PURCHASE | SUPPORT
    weight: float
    problem: bool  # support cue describing something wrong (vs. a bare help request)
    negatable: bool


# (name, pattern over folded text, weight, negatable).  Patterns are matched with word boundaries
# added around them; earlier entries win where two could match at the same spot.
_W = r"[^\W\d_]+"  # one word (letters only)

_PURCHASE_CUES: dict[str, list[tuple[str, str, float, bool]]] = {
    "en": [
        (
            "where_to_buy",
            r"where (?:can|do|should|would) (?:i|you|we|one) (?:buy|get|order)|"
            r"where to (?:buy|get|order)",
            STRONG,
            True,
        ),
        (
            "want_to_buy",
            r"(?:want|wanna|wanting|going|plan(?:ning)?|need) (?:to )?"
            r"(?:buy|purchase|order|get me)|looking to (?:buy|get|purchase)",
            STRONG,
            True,
        ),
        ("looking_for", r"looking for (?:a|an|some|the best|good|decent|cheap)", MEDIUM, True),
        (
            "recommend_ask",
            r"(?:can|could|would) (?:you|anyone|someone|u|y'?all) recommend|"
            r"any (?:recommendations|recs|recommendation)|recommend me|"
            r"what (?:do|would) (?:you|u|y'?all) recommend",
            STRONG,
            True,
        ),
        ("recommend", r"recommend(?:ations?|s)?", WEAK, True),
        ("suggestions", r"any (?:suggestions|advice|tips|ideas)", STRONG, True),
        ("how_much", r"how much (?:is|are|does|do|for|would|will|to)|how much\s*\?", STRONG, False),
        ("price", r"prices?|pricing|cost", WEAK, True),
        (
            "worth_it",
            r"worth (?:it|the money|the price|buying|getting|upgrading)\s*\?|"
            r"is (?:it|this|that|the \w+) (?:really )?worth",
            STRONG,
            False,
        ),
        (
            "should_i_get",
            r"should i (?:get|buy|go for|pick|choose|upgrade)|"
            r"(?:which|what) (?:one |\w+ )?should i (?:get|buy)",
            STRONG,
            True,
        ),
        ("best_for", rf"best (?:{_W} ){{1,3}}(?:for|under)", MEDIUM, False),
        (
            "thinking_of",
            r"thinking (?:about|of) (?:buying|getting|upgrading|switching to)",
            MEDIUM,
            True,
        ),
    ],
    "ru": [
        (
            "where_to_buy",
            r"где (?:\S+ ){0,4}?(?:купить|покупать|заказать|взять|приобрести)",
            STRONG,
            True,
        ),
        (
            "want_to_buy",
            r"(?:хочу|хотим|хотел|хотела|собираюсь|планирую) "
            r"(?:бы )?(?:купить|взять|приобрести|заказать)",
            STRONG,
            True,
        ),
        ("advise", r"посоветуйте|порекомендуйте|что посоветуете", STRONG, True),
        (
            "which_one",
            r"подскажите\b.{0,60}?\b(?:какой|какую|какое|какие|где|что (?:взять|купить))",
            STRONG,
            True,
        ),
        ("how_much", r"сколько стои(?:т|ят)|почем", STRONG, False),
        ("price", r"цен(?:а|ы|у|ой|ник)|стоимость", WEAK, True),
        (
            "worth_buying",
            r"стоит ли (?:брать|покупать|заказывать|переходить|взять|купить)|"
            r"стоит (?:брать|покупать|переходить)",
            STRONG,
            False,
        ),
        ("what_better", r"что лучше|какой лучше|что выбрать|какой выбрать", MEDIUM, False),
    ],
    "es": [
        (
            "where_to_buy",
            r"donde (?:puedo |se puede |se )?(?:comprar|compro|consigo|conseguir|"
            r"venden|compra)",
            STRONG,
            True,
        ),
        (
            "want_to_buy",
            r"(?:quiero|quisiera|pienso|voy a|necesito) (?:comprar|pillar|"
            r"adquirir|pedir)|busco (?:un|una|unos|unas)",
            STRONG,
            True,
        ),
        (
            "recommend_ask",
            r"(?:me )?recomiendan|me recomiendas|que me recomiendan|"
            r"alguna recomendacion|recomendaciones",
            STRONG,
            True,
        ),
        ("recommendation", r"recomendacion", MEDIUM, True),
        ("how_much", r"cuanto (?:cuesta|cuestan|vale|valen|sale|salen)", STRONG, False),
        ("price", r"precios?", WEAK, True),
        ("worth_it", r"vale la pena|merece la pena", WEAK, False),
        ("which_better", r"cual (?:es |sera )?mejor|cual me compro|que me compro", MEDIUM, False),
    ],
}

# (name, pattern, weight, negatable, problem)
_SUPPORT_CUES: dict[str, list[tuple[str, str, float, bool, bool]]] = {
    "en": [
        (
            "not_working",
            r"(?:does ?n'?t|do ?n'?t|does not|do not|won'?t|will not) work|"
            r"(?:is ?n'?t|are ?n'?t|not|stopped|still not) working",
            STRONG,
            False,
            True,
        ),
        ("broken", r"broken|broke down|crash(?:es|ed|ing)?|glitch(?:ing|y)?", MEDIUM, True, True),
        ("refund", r"refunds?|money back", STRONG, False, True),
        (
            "still_waiting",
            r"still waiting|still hasn'?t (?:arrived|shipped)|never arrived",
            STRONG,
            False,
            True,
        ),
        (
            "where_is_order",
            r"where(?: is|'?s) my (?:order|package|parcel|delivery|refund)",
            STRONG,
            False,
            True,
        ),
        (
            "cant_log_in",
            r"(?:can'?t|cannot|can not|unable to) (?:log ?in|sign ?in|login|access)",
            STRONG,
            False,
            True,
        ),
        (
            "charged_twice",
            r"charged (?:me )?(?:twice|two times|double)|double[- ]charged",
            STRONG,
            False,
            True,
        ),
        (
            "no_response",
            r"no (?:response|reply|answer)|(?:nobody|no one|noone) (?:answers|replies|"
            r"responds|is answering)|never (?:responded|replied|answered)|ignoring me",
            STRONG,
            False,
            True,
        ),
        (
            "help_request",
            r"(?:need|needs|needed) (?:some )?help|please help|help me|help pls|"
            r"(?:can|could) (?:someone|anyone|you|u) help",
            STRONG,
            True,
            False,
        ),
        ("help", r"help|support", WEAK, True, False),
    ],
    "ru": [
        ("not_working", r"не работа(?:ет|ют|л|ла|ло|ли)|перестал\w* работать", STRONG, False, True),
        (
            "broken",
            r"сломал\w*|слома(?:н|на|но|ны)|глючит|вылета(?:ет|ют)|завис\w*",
            MEDIUM,
            True,
            True,
        ),
        ("refund", r"верните (?:мне )?деньги|верните бабки|возврат\w*", STRONG, False, True),
        (
            "where_is_order",
            r"где (?:мой|моя|мои) (?:заказ|посылка|доставка)|"
            r"заказ (?:так и )?не (?:пришел|доставили|привезли)",
            STRONG,
            False,
            True,
        ),
        ("help_request", r"помогите|нужна помощь|help", STRONG, True, False),
        (
            "cant_log_in",
            r"не могу (?:войти|зайти|залогиниться|авторизоваться)",
            STRONG,
            False,
            True,
        ),
        ("charged_twice", r"списали (?:\S+ ){0,3}?(?:дважды|два раза|2 раза)", STRONG, False, True),
        (
            "no_response",
            r"не отвеча(?:ете|ет|ют)|(?:поддержка|никто) (?:молчит|не отвечает)|"
            r"игнорят|игнорируют",
            STRONG,
            False,
            True,
        ),
    ],
    "es": [
        (
            "not_working",
            r"no (?:me )?(?:funciona|funcionan|va|anda)|dejo de funcionar",
            STRONG,
            False,
            True,
        ),
        ("broken", r"rot[oa]s?|se rompio|se (?:cuelga|traba)|se cierra sola", MEDIUM, True, True),
        ("refund", r"reembolso|devuelvan (?:mi|el) dinero", STRONG, False, True),
        ("return", r"devolucion", MEDIUM, False, True),
        (
            "where_is_order",
            r"donde esta mi (?:pedido|paquete|envio)|(?:mi )?pedido no "
            r"(?:ha )?llega(?:do)?|no me (?:ha )?llega(?:do)? (?:el|mi) (?:pedido|paquete)",
            STRONG,
            False,
            True,
        ),
        (
            "help_request",
            r"necesito ayuda|ayudenme|ayudame|alguien (?:me )?(?:puede )?ayuda|"
            r"ayuda por favor|help",
            STRONG,
            True,
            False,
        ),
        ("help", r"ayuda", WEAK, True, False),
        (
            "cant_log_in",
            r"no (?:puedo|consigo) (?:entrar|acceder|iniciar sesion|loguearme)",
            STRONG,
            False,
            True,
        ),
        (
            "charged_twice",
            r"(?:me )?cobraron (?:\S+ ){0,2}?(?:dos veces|doble)|cobro doble",
            STRONG,
            False,
            True,
        ),
        (
            "no_response",
            r"nadie (?:me )?(?:responde|contesta)|no (?:me )?(?:responden|contestan)|"
            r"sin respuesta",
            STRONG,
            False,
            True,
        ),
    ],
}

# A negator at most one word before a negatable cue, in the same clause.
_NEGATION_RE = {
    "en": re.compile(
        r"(?:\bnot|\bnever|\bdo ?n'?t|\bdoes ?n'?t|\bdid ?n'?t|\bno need (?:for|to)|\bno longer|"
        r"\bwithout|\bno)\s+(?!know\b|understand\b|see\b|remember\b|sure\b)(?:\w+\s+)?$"
    ),
    "ru": re.compile(
        r"(?:\bне|\bни|\bнет|\bбез|\bбольше не)\s+"
        r"(?!знаю\b|понимаю\b|помню\b|уверен\w*\b)(?:\w+\s+)?$"
    ),
    "es": re.compile(r"(?:\bno|\bnunca|\bsin|\bni)\s+(?!se\b|entiendo\b|encuentro\b)(?:\w+\s+)?$"),
}
_NEGATION_WINDOW = 40
_LATIN = "latin"  # the en+es lexicons together, for texts of unknown language
_CYRILLIC_RE = re.compile("[а-я]")
_LATIN_RE = re.compile("[a-z]")
_CLAUSE_BREAK_RE = re.compile(r".*[.,;:!?¿¡\n]", re.DOTALL)


def _build() -> tuple[dict[str, _Cue], dict[str, re.Pattern[str]]]:
    cues: dict[str, _Cue] = {}
    parts: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    for lang in LANGUAGES:
        entries: list[tuple[str, str, str, float, bool, bool]] = [
            (SUPPORT, name, pat, w, neg, problem)
            for name, pat, w, neg, problem in _SUPPORT_CUES[lang]
        ]
        entries += [
            (PURCHASE, name, pat, w, neg, False) for name, pat, w, neg in _PURCHASE_CUES[lang]
        ]
        for intent, name, pat, weight, negatable, problem in entries:
            group = f"g{len(cues)}"
            cues[group] = _Cue(f"{lang}:{name}", lang, intent, weight, problem, negatable)
            parts[lang].append(rf"(?P<{group}>{pat})")

    def compile_(langs: tuple[str, ...]) -> re.Pattern[str]:
        return re.compile(r"(?<!\w)(?:" + "|".join(p for x in langs for p in parts[x]) + r")(?!\w)")

    regexes = {lang: compile_((lang,)) for lang in LANGUAGES}
    regexes[_LATIN] = compile_(("en", "es"))
    return cues, regexes


_CUES, _REGEXES = _build()
_NONE_EMPTY = IntentResult(NONE, 1.0, ())


def _lexicon(language: str | None) -> str:
    if not language:
        return ""
    code = language.split("-", 1)[0].split("_", 1)[0].lower()
    return code if code in LANGUAGES else ""


def _negated(folded: str, start: int, lang: str) -> bool:
    before = folded[max(0, start - _NEGATION_WINDOW) : start]
    cut = _CLAUSE_BREAK_RE.match(before)
    if cut:
        before = before[cut.end() :]
    return _NEGATION_RE[lang].search(before) is not None


def classify_intent(text: str, language: str | None = None) -> IntentResult:
    """Classify one text (see the module docstring for the rules)."""
    if not text or text.isspace():
        return _NONE_EMPTY
    folded = fold(text)
    if "’" in folded:
        folded = folded.replace("’", "'")
    lexicon = _lexicon(language)
    if lexicon:
        matches = list(_REGEXES[lexicon].finditer(folded))
    else:  # all three lexicons; only those the script can match are run (same result, faster)
        matches = []
        if _LATIN_RE.search(folded):
            matches += _REGEXES[_LATIN].finditer(folded)
        if _CYRILLIC_RE.search(folded):
            ru = list(_REGEXES["ru"].finditer(folded))
            matches = sorted(matches + ru, key=lambda m: m.start()) if matches else ru
    found: list[_Cue] = []
    for m in matches:
        cue = _CUES[m.lastgroup]  # type: ignore[index]
        if cue.negatable and _negated(folded, m.start(), cue.lang):
            continue
        found.append(cue)
    if not found:
        return _NONE_EMPTY

    miss = {PURCHASE: 1.0, SUPPORT: 1.0}
    problem = False
    for cue in found:
        miss[cue.intent] *= 1.0 - cue.weight
        problem = problem or cue.problem
    question = "?" in folded or "¿" in folded
    bonus = QUESTION_BONUS if question else 0.0
    scores = {
        intent: min(MAX_CONFIDENCE, 1.0 - m + bonus) if m < 1.0 else 0.0
        for intent, m in miss.items()
    }
    ids = tuple(dict.fromkeys(cue.id for cue in found))
    if question:
        ids += ("?",)
    purchase = scores[PURCHASE] >= THRESHOLD
    support = scores[SUPPORT] >= THRESHOLD
    if support and (problem or not purchase):
        intent = SUPPORT
    elif purchase:
        intent = PURCHASE
    else:
        return IntentResult(NONE, round(1.0 - max(scores.values()), 4), ids)
    return IntentResult(intent, round(scores[intent], 4), ids)


def classify_intents(
    texts: Sequence[str], *, languages: Sequence[str | None] | None = None
) -> list[IntentResult]:
    """Classify a batch: one :class:`IntentResult` per text, in order.

    ``languages`` (same length as ``texts``) picks the lexicon per text: en/ru/es; any other code
    or ``None`` tries all three.
    """
    if languages is None:
        return [classify_intent(text) for text in texts]
    if len(languages) != len(texts):
        raise ValueError("languages must be as long as texts")
    return [classify_intent(text, lang) for text, lang in zip(texts, languages, strict=True)]
