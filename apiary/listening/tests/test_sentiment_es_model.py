"""The Spanish tweet model (``sentiment/_es_model.py``) and how the stage uses it.

Posts here are written for these tests (none is from the benchmark's held-out tweets, nor from the
``dev_es*.jsonl`` posts the model was fitted on).
"""

import itertools
import math
from collections import Counter

import pytest

from apiary.listening.sentiment import NO_CUE_CONFIDENCE, _label, _rules, score_sentiment
from apiary.listening.sentiment._es_model import MODEL_FILE, NgramSpace, es_model, normalise
from apiary.listening.sentiment._lexicon import tables

POS, NEU, NEG = "positive", "neutral", "negative"
SPLITS = set("~;:,.@\\-\"'/…“・”’()[]¿?¡!{}<>|")  # microtc's punctuation and symbols


def _reference_ngrams(text: str) -> list[str]:
    """microtc's tokens for EvoMSA's Spanish models, computed the slow way on the whole string."""
    framed = normalise(text)
    words = "".join(" " if ch in SPLITS else ch for ch in framed).split()
    grams = ["q:" + framed[i : i + q] for q in (2, 3, 4) for i in range(len(framed) - q + 1)]
    return grams + words + [a + "~" + b for a, b in itertools.pairwise(words)]


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Life is good at Méxicoo @mgraffg.", "~life~is~god~at~mexico~"),  # microtc's own example
        ("¡¡Qué  GUAY!! 20 años, mira https://t.co/x1", "~¡que~guay!~anos,~mira~"),
        ("ñandú\n\tcañón", "~nandu~canon~"),
        ("", "~"),
    ],
)
def test_normalisation_follows_microtc(text, normalised):
    # given a post with accents, repeats, numbers, a URL, a handle and odd spaces
    # when / then: lower case, accents stripped, repeats collapsed, numbers/URLs/users deleted
    assert normalise(text) == normalised


@pytest.mark.parametrize(
    "text",
    [
        "Holaaa   @juan!! qué tal... 😂😂 https://t.co/x1 #EpicFail",
        "a b c de la casa, de la casa",  # one-letter chunks and repeated n-grams across chunks
        "no,no,no... ¿por qué?",
    ],
)
def test_chunked_projection_equals_the_whole_string_dot_product(text):
    # given a space whose weights are known for every n-gram the post has
    grams = _reference_ngrams(text)
    vocab = sorted(set(grams))
    idf = {g: 1.0 + (i % 7) / 3 for i, g in enumerate(vocab)}
    weights = {g: (idf[g] * ((i % 5) - 2), idf[g] * 0.5) for i, g in enumerate(vocab)}
    space = NgramSpace(weights, idf)
    # when the post is projected chunk by chunk (and projected again, from the cache)
    dots, norm = space.project(text)
    again, _ = space.project(text)
    # then the projections equal the whole-string TF-IDF dot products, and the norm is at least
    # the exact one's lower bound and at most its (n-grams repeated across chunks count apart)
    counts = Counter(grams)
    expected = [sum(n * weights[g][j] for g, n in counts.items()) for j in range(2)]
    assert dots == pytest.approx(expected) and again == dots
    exact = math.sqrt(sum((n * idf[g]) ** 2 for g, n in counts.items()))
    assert exact / math.sqrt(2) <= norm <= exact + 1e-9


def test_the_shipped_model_is_small_and_complete():
    # given the file that ships in data/sentiment/
    model = es_model()
    # then it holds EvoMSA's whole n-gram space, three weights each, and stays small
    assert len(model.space.idf) > 15_000
    assert model.space.dims == 3
    assert MODEL_FILE.stat().st_size < 2_000_000
    assert "ha_Es.tm" in MODEL_FILE.read_text(encoding="utf-8")[:400]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Tres semanas esperando el reembolso y ni una respuesta", NEG),
        ("Ya tengo mi camiseta nueva del equipo 🎶", POS),
        ("Esta noche cenamos todos juntos en casa de la abuela", POS),
        ("La reunión es a las 10 en la sala 3", NEU),
        ("El horario de la tienda es de 9 a 21", NEU),
    ],
)
def test_the_model_decides_posts_the_rules_leave_neutral(text, label):
    # given a Spanish post with no lexicon cue the rules can act on
    compound, cues, spanish = _rules(text, "es", tables())
    assert spanish and _label(compound, cues).label == NEU
    # when scored, then the tweet model decides, and the result is a probability split
    result = score_sentiment(text, "es")
    assert result.label == label
    assert -1.0 <= result.score <= 1.0 and 1 / 3 <= result.confidence <= 1.0
    assert (result.score > 0) == (label == POS) or label == NEU


@pytest.mark.parametrize(
    "text",
    [
        "Pésimo servicio, no vuelvo más",
        "Sí, claro, excelente atención",
        "Me encanta, súper recomendado",
    ],
)
def test_posts_the_rules_call_polar_keep_the_rules_answer(text):
    # given a Spanish post the rules label positive or negative (sarcasm included)
    compound, cues, _ = _rules(text, "es", tables())
    expected = _label(compound, cues)
    assert expected.label != NEU
    # then the stage returns exactly the rules' result
    assert score_sentiment(text, "es") == expected


def test_unknown_language_posts_voted_spanish_use_the_model_too():
    text = "Tres semanas esperando el reembolso y ni una respuesta"
    assert score_sentiment(text, None) == score_sentiment(text, "es")


def test_english_and_russian_never_use_the_model():
    # given posts the rules leave neutral in English and Russian
    for text, language in (("Meeting at 10 in room 3", "en"), ("Встреча в 10 в комнате 3", "ru")):
        compound, cues, spanish = _rules(text, language, tables())
        # then they get the rules' neutral, not a model's probability
        assert not spanish
        assert score_sentiment(text, language) == _label(compound, cues)


def test_a_post_with_no_known_ngram_and_no_cue_stays_the_plain_neutral():
    result = score_sentiment("🦩", "es")
    assert (result.label, result.score, result.confidence) == (NEU, 0.0, NO_CUE_CONFIDENCE)


def test_a_megabyte_spanish_post_is_capped_and_fast():
    import time

    text = "el paquete llegó tarde y la caja rota, " * 30_000
    started = time.perf_counter()
    result = score_sentiment(text, "es")
    assert time.perf_counter() - started < 0.2
    assert result.label in (POS, NEU, NEG)
