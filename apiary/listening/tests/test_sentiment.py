"""The sentiment stage: rule-based polarity for social text in en/ru/es (pure, no DB)."""

import dataclasses
import json
import time
from pathlib import Path

import pytest

from apiary.listening.sentiment import SentimentResult, score_sentiment, score_sentiments

POS, NEU, NEG = "positive", "neutral", "negative"
DEV = Path(__file__).resolve().parent.parent / "data" / "sentiment"


@pytest.mark.parametrize(
    ("text", "language", "label"),
    [
        ("I love this place, the coffee is great!", "en", POS),
        ("worst customer service ever", "en", NEG),
        ("what time does the store open tomorrow?", "en", NEU),
        ("Кофе просто огонь, бариста молодцы", "ru", POS),
        ("Ужасный сервис, никому не советую", "ru", NEG),
        ("Заказ передан в службу доставки", "ru", NEU),
        ("Me encanta este lugar, súper recomendado", "es", POS),
        ("Pésimo servicio, no vuelvo más", "es", NEG),
        ("Mañana hay reunión a las 10", "es", NEU),
    ],
)
def test_each_language_gets_the_obvious_label(text, language, label):
    # given a plain post in each language
    # when it is scored
    result = score_sentiment(text, language)
    # then the label is the obvious one
    assert result.label == label, result


@pytest.mark.parametrize(
    ("plain", "negated", "language"),
    [
        ("this is good", "this is not good", "en"),
        ("the app works great", "the app doesn't work great", "en"),
        ("понравилось", "не понравилось", "ru"),
        ("вкусно", "ни разу не вкусно", "ru"),
        ("me gusta", "no me gusta", "es"),
        ("bueno", "nada bueno", "es"),
    ],
)
def test_negation_flips_the_polarity(plain, negated, language):
    # given a positive phrase and its negation
    # when both are scored
    before, after = score_sentiment(plain, language), score_sentiment(negated, language)
    # then the negation is negative
    assert before.label == POS
    assert after.label == NEG


def test_negated_negatives_are_not_negative():
    # given negated complaints ("never let me down", "no problems")
    # when scored
    results = [
        score_sentiment("ни разу не подвели", "ru"),
        score_sentiment("проблем нет, всё пришло", "ru"),
        score_sentiment("sin problemas con el envío", "es"),
        score_sentiment("not bad at all", "en"),
    ]
    # then none of them reads as negative
    assert all(r.label != NEG for r in results), results


@pytest.mark.parametrize(
    ("plain", "boosted", "language"),
    [
        ("good", "very good", "en"),
        ("хорошо", "очень хорошо", "ru"),
        ("быстро", "супер быстро", "ru"),
        ("bueno", "muy bueno", "es"),
        ("bad", "really bad", "en"),
    ],
)
def test_intensifiers_strengthen(plain, boosted, language):
    # given a word with and without an intensifier
    # when both are scored
    before, after = score_sentiment(plain, language), score_sentiment(boosted, language)
    # then the intensified one is stronger in the same direction
    assert abs(after.score) > abs(before.score)
    assert (after.score > 0) == (before.score > 0)


def test_diminishers_weaken():
    # given "good" and "kinda good"
    # when scored
    plain, weak = score_sentiment("good", "en"), score_sentiment("kinda good", "en")
    # then the hedged one is weaker
    assert 0 < weak.score < plain.score


def test_caps_elongation_and_exclamations_add_emphasis():
    # given emphasised variants of the same post
    base = score_sentiment("the food is good", "en").score
    # when they are scored
    caps = score_sentiment("the food is GOOD", "en").score
    elongated = score_sentiment("the food is goood", "en").score
    exclaimed = score_sentiment("the food is good!!!", "en").score
    # then each is stronger than the plain post
    assert caps > base and elongated > base and exclaimed > base


def test_elongated_russian_and_spanish_words_are_recognised():
    # given elongated slang
    # when scored
    # then the collapsed word's polarity is found
    assert score_sentiment("ужжжас", "ru").label == NEG
    assert score_sentiment("buenísimooo", "es").label == POS


@pytest.mark.parametrize(
    ("text", "language", "label"),
    [
        ("🔥🔥🔥", None, POS),
        ("😡", None, NEG),
        ("great :)", "en", POS),
        ("ugh :(", "en", NEG),
        ("спасибо)))", "ru", POS),
        ("опять не работает((", "ru", NEG),
        ("<3", None, POS),
    ],
)
def test_emoji_and_emoticons_count(text, language, label):
    # given posts carried by emoji or emoticons
    # when scored
    # then the emoji decide
    assert score_sentiment(text, language).label == label


def test_balanced_parentheses_are_not_smiles():
    # given a neutral post with a parenthetical remark
    # when scored
    result = score_sentiment("Магазин работает до 22 (по будням)", "ru")
    # then it stays neutral
    assert result.label == NEU


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The coffee is nice but the service is awful", "en"),
        ("Кофе хороший, но обслуживание ужасное", "ru"),
        ("La comida buena pero el servicio pésimo", "es"),
    ],
)
def test_contrast_weighs_the_second_clause(text, language):
    # given a post that turns with "but"
    # when scored
    # then the clause after the contrast wins
    assert score_sentiment(text, language).label == NEG


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("yeah right, great service", "en"),
        ("oh great, the app crashed again /s", "en"),
        ("Отличный сервис, ага, конечно", "ru"),
        ("Ну да, конечно, доставка за 30 минут", "ru"),
        ("Sí, claro, excelente atención", "es"),
        ("Супер, списали деньги дважды 🙃", "ru"),
    ],
)
def test_sarcasm_markers_turn_praise_negative(text, language):
    # given praise with a sarcasm marker
    # when scored
    # then it is negative
    assert score_sentiment(text, language).label == NEG


@pytest.mark.parametrize(
    ("text", "language", "label"),
    [
        ("lol this is so good", "en", POS),
        ("meh", "en", NEG),
        ("жесть, отстой", "ru", NEG),
        ("чёт не зашло", "ru", NEG),
        ("топ, всем советую", "ru", POS),
        ("qué guay", "es", POS),
        ("muy cutre todo", "es", NEG),
        ("es una mierda", "es", NEG),
    ],
)
def test_slang(text, language, label):
    # given slang posts
    # when scored
    # then the slang carries the polarity
    assert score_sentiment(text, language).label == label


def test_russian_morphology_and_yo():
    # given inflected forms and ё/е spellings of the same words
    # when scored
    # then they all get the same polarity
    for text in ("понравился", "понравилась", "понравились", "разочарован", "разочарована"):
        assert score_sentiment(text, "ru").label in (POS, NEG), text
    assert score_sentiment("всё чётко", "ru") == score_sentiment("все четко", "ru")


@pytest.mark.parametrize("language", [None, "other", "und"])
def test_unknown_language_falls_back_by_script(language):
    # given posts whose language is unknown
    # when scored
    # then the lexicon is picked by script (and for Latin text, by a vote of common words)
    assert score_sentiment("Ужасный сервис", language).label == NEG
    assert score_sentiment("the service was excellent", language).label == POS
    assert score_sentiment("el servicio fue pésimo", language).label == NEG


def test_mixed_scripts():
    # given Russian posts with English words and vice versa
    # when scored
    # then each word is looked up in its script's lexicon
    assert score_sentiment("кофе top, wifi ok, всё супер", "ru").label == POS
    assert score_sentiment("the coffee was отстой", "en").label == NEG


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "12345", "@brand", "https://example.com/x"])
def test_empty_and_contentless_text_is_neutral(text):
    # given text with nothing to judge
    # when scored
    result = score_sentiment(text, "en")
    # then it is neutral with a low confidence and a zero score
    assert result.label == NEU
    assert result.score == 0.0
    assert result.confidence <= 0.6


def test_emoji_only_text():
    # given posts made of emoji only (some with modifiers and ZWJ sequences)
    # when scored
    results = [score_sentiment(t) for t in ("👍🏽", "👨‍👩‍👧", "❤️❤️", "🤷‍♂️")]
    # then nothing crashes and the polar ones are polar
    assert results[0].label == POS and results[2].label == POS
    assert results[1].label == NEU


def test_a_megabyte_post_is_fast_and_capped():
    # given a 1 MB post
    text = "great product, terrible delivery! " * 31_000
    # when scored
    started = time.perf_counter()
    result = score_sentiment(text, "en")
    # then it returns quickly with a valid result
    assert time.perf_counter() - started < 0.2
    assert result.label in (POS, NEU, NEG)
    assert -1.0 <= result.score <= 1.0


def test_results_are_bounded_and_frozen():
    # given a few posts
    results = score_sentiments(["I LOVE IT!!!!! 😍😍😍", "HATE HATE HATE 🤬🤬", "ok"], ["en"] * 3)
    # then scores and confidences are in range and results are immutable
    for r in results:
        assert isinstance(r, SentimentResult)
        assert -1.0 <= r.score <= 1.0 and 0.0 <= r.confidence <= 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        results[0].label = NEG  # type: ignore[misc]


def test_batch_equals_single_results():
    # given the dev posts in all three languages
    rows = []
    for lang in ("en", "es", "ru"):
        with (DEV / f"dev_{lang}.jsonl").open(encoding="utf-8") as fileobj:
            rows += [(json.loads(line)["text"], lang) for line in fileobj]
    texts, langs = [t for t, _ in rows], [lang for _, lang in rows]
    # when scored in one batch and one by one
    batch = score_sentiments(texts, langs)
    single = [score_sentiment(t, lang) for t, lang in rows]
    # then the results are the same, in order
    assert batch == single
    assert score_sentiments(texts) == [score_sentiment(t) for t in texts]


def test_languages_must_align_with_texts():
    # given two texts and one language
    # when scored
    # then it is refused
    with pytest.raises(ValueError):
        score_sentiments(["a", "b"], ["en"])


def test_hashtags_laughter_and_superlatives():
    # given a CamelCase hashtag, laughter and a Spanish superlative
    # when scored
    # then each carries its polarity
    assert score_sentiment("#EpicFail", "en").label == NEG
    assert score_sentiment("#ЛучшийСервис", "ru").label == POS
    assert score_sentiment("jajajaja", "es").label == POS
    assert score_sentiment("ахахах", "ru").label == POS
    assert score_sentiment("riquísimo", "es").score > score_sentiment("rico", "es").score > 0


def test_a_phrase_with_its_own_negation_is_not_negated_again():
    # given "never let down" and "didn't expect such good"
    # when scored
    # then both are positive
    assert score_sentiment("ни разу не подвели", "ru").label == POS
    assert score_sentiment("Не ожидал такого хорошего сервиса", "ru").label == POS
    assert score_sentiment("didn't expect such a great service", "en").label == POS


def test_spanish_words_that_only_share_a_stem_with_a_valenced_word_are_not_valenced():
    # given Spanish words whose Snowball stem is a valenced word's ("atentado" ~ "atento",
    # "reino" ~ "reír", "seguir", "Franco") in otherwise neutral or negative posts
    # when scored
    # then the stem collision does not decide the label
    assert score_sentiment("Nuevo atentado en la capital", "es").label == NEG
    assert score_sentiment("Visita al reino de Marruecos", "es").label == NEU
    assert score_sentiment("Podéis seguir la rueda de prensa en directo", "es").label == NEU
    assert score_sentiment("Un libro sobre la época de Franco", "es").label == NEU
