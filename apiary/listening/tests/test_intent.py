"""The intent stage: rule-based purchase/support/none on social text in en/ru/es (pure, no DB)."""

import dataclasses

import pytest

from apiary.listening.intent import IntentResult, classify_intent, classify_intents

P, S, N = "purchase", "support", "none"

TABLE: dict[str, dict[str, list[str]]] = {
    "en": {
        P: [
            "Where can I buy the Northwind grinder in Berlin? 🙏",
            "ok I really want to buy a decent espresso machine, budget ~300",
            "can anyone recommend a good pair of running shoes for flat feet?",
            "any suggestions for a laptop for uni?? 💻",
            "how much is the premium plan per month?",
            "is the pro version worth it?",
            "should i get the 128gb or 256gb one 🤔",
            "best headphones for the gym under $100?",
            "looking for a good coffee subscription, pls drop recs 👇",
            "what's the price of the family bundle?",
            "thinking about upgrading to the Ultra tbh, worth the money?",
            "wanna buy a new phone this weekend, which one should i get",
            "where to get cheap airpods in NYC lol",
        ],
        S: [
            "@northwind your app doesn't work since the update 😤",
            "still waiting for my refund, it's been 3 weeks smh",
            "where is my order??? placed it 10 days ago #fail",
            "can't log in to my account, keeps saying invalid password",
            "They charged me twice and nobody answers emails 🙄",
            "checkout page not working again, anyone else?",
            "my brand new grinder arrived broken. great. just great 💀",
            "no response from support for a week, what is going on",
            "please help, the app crashes every time I open it",
            "need help with my subscription, can't cancel it",
            "package never arrived and no reply from @acme_support",
            "the charger stopped working after 2 days, I want my money back",
            "wifi isn't working since the firmware update, help?",
        ],
        N: [
            "lol the new @northwind app update is actually fire 🔥🔥",
            "omg the coffee at this place hits different ☕️ #mondaymotivation",
            "Shoutout to the support team, they sorted it in like 10 minutes 🙌",
            "This is hands down the best pizza I've had in years!",
            "I highly recommend this place, staff are lovely 💯",
            "no need for help, figured it out myself 😅",
            "not looking to buy anything rn, just browsing",
            "totally worth it! best purchase this year",
            "monday again... need more coffee",
            "Big thanks to @acme for helping me out yesterday",
            "can't believe how good this album is",
            "new blog post about our trip to Lisbon ✈️ link in bio",
            "the new store design looks so clean",
        ],
    },
    "ru": {
        P: [
            "Подскажите, где в Москве можно купить нормальные наушники недорого?",
            "хочу купить кофемашину домой, что посоветуете?",
            "Посоветуйте хороший ноутбук для учебы до 60к 🙏",
            "сколько стоит годовая подписка?",
            "Стоит ли брать айфон 15 или подождать 16?",
            "что лучше: Dyson или Xiaomi? 🤔",
            "Подскажите какой тариф выбрать для семьи",
            "где купить зерно Northwind в Питере?",
            "какая цена на новый тариф?",
            "собираюсь купить велик, кто что посоветует",
            "почем сейчас PS5 у вас?",
            "стоит брать их кроссы или ну их?",
            "порекомендуйте норм наушники для бега плз",
        ],
        S: [
            "Ребята, у кого-нибудь тоже не работает сайт сегодня?",
            "Капец, опять списали деньги два раза, поддержка молчит 😡",
            "Верните деньги за отменённый заказ!!!",
            "где мой заказ? жду уже две недели",
            "не могу войти в личный кабинет, пишет ошибка",
            "помогите, приложение не открывается",
            "кофемашина сломалась через неделю, оформляю возврат",
            "вы вообще не отвечаете в чате? третий день жду",
            "после обновы приложение вылетает постоянно",
            "нужна помощь с оплатой, карта не проходит",
            "заказ так и не пришел, что делать",
            "доставка опоздала, а курьер не отвечает 🤬",
            "терминал не работает уже час, очередь до двери",
        ],
        N: [
            "Заказал вчера через приложение, доставили за час 🔥 рекомендую",
            "Утренний кофе в Northwind — просто огонь! #кофе #утро",
            "Спасибо @northwind_ru за быстрый ответ, вопрос решили 👍",
            "Очень довольна покупкой, качество супер 😍",
            "Это худший сервис. Никому не советую!",
            "не хочу покупать ничего, просто смотрю",
            "помощь не нужна, уже разобрался",
            "ну такое себе обслуживание, официант хамил",
            "кто идет на концерт в субботу?",
            "лучший кофе в городе, без вариантов",
            "ничего не сломалось, всё норм работает",
            "погода сегодня шикарная ☀️",
            "новая коллекция выглядит стильно",
        ],
    },
    "es": {
        P: [
            "¿Dónde puedo comprar el molinillo de Northwind en Madrid?",
            "quiero comprar una cafetera decente, ¿me recomiendan alguna?",
            "¿cuánto cuesta el plan premium? 🤔",
            "¿Vale la pena el modelo pro?",
            "¿cuál es mejor, el iPhone o el Pixel?",
            "busco una laptop para la uni, ¿alguna recomendación?",
            "¿qué precio tiene la suscripción anual?",
            "necesito comprar unos audífonos baratos, ¿dónde los venden?",
            "¿me recomiendan algún café en grano? ☕",
            "cuánto sale el envío a Sevilla??",
            "pienso comprar la bici este finde, ¿qué me recomiendan?",
            "¿merece la pena la versión de 256gb?",
            "donde consigo las zapatillas nuevas en CDMX",
        ],
        S: [
            "la app no funciona desde la actualización 😤",
            "¿Dónde está mi pedido? Ya pasaron dos semanas",
            "me cobraron dos veces y nadie responde 🙄",
            "quiero un reembolso YA",
            "no puedo entrar a mi cuenta, ayuda por favor",
            "me llegó la taza rota, pésimo",
            "llevo tres días sin respuesta del soporte",
            "necesito ayuda con mi factura",
            "pedí una devolución hace un mes y nada",
            "la web se cuelga cada vez que pago",
            "mi pedido no ha llegado todavía",
            "ayúdenme, el cargador dejó de funcionar",
            "el wifi no va desde ayer, ¿alguien más?",
        ],
        N: [
            "el café de este sitio es una locura 🔥",
            "gracias @northwind_es por la atención, 10/10",
            "no necesito ayuda, ya lo resolví",
            "no quiero comprar nada, solo miro",
            "la mejor pizza que he probado en años!",
            "qué ganas de que llegue el viernes 🎉",
            "hola que tal, todo bien por aquí",
            "nuevo post en el blog sobre Lisboa",
            "el diseño de la tienda nueva quedó precioso",
            "me encanta su música, la escucho a diario",
            "mañana vamos al concierto!!",
            "vaya día más bonito hace hoy ☀️",
            "qué buen servicio, volveré seguro",
        ],
    },
}

CASES = [
    (lang, expected, text)
    for lang, by_class in TABLE.items()
    for expected, texts in by_class.items()
    for text in texts
]


@pytest.mark.parametrize("lang", ["en", "ru", "es"])
@pytest.mark.parametrize("hinted", [True, False])
def test_table_accuracy_per_class_is_at_least_85_percent(lang, hinted):
    # given
    for expected, texts in TABLE[lang].items():
        assert len(texts) >= 12
        languages = [lang] * len(texts) if hinted else None
        # when
        results = classify_intents(texts, languages=languages)
        # then
        wrong = [(t, r) for t, r in zip(texts, results, strict=True) if r.intent != expected]
        accuracy = 1 - len(wrong) / len(texts)
        assert accuracy >= 0.85, (lang, expected, wrong)


@pytest.mark.parametrize(
    ("text", "lang", "intent", "cues"),
    [
        ("Where can I buy the Northwind grinder?", "en", P, ("en:where_to_buy", "?")),
        ("how much is the pro plan", "en", P, ("en:how_much",)),
        ("They charged me twice!", "en", S, ("en:charged_twice",)),
        ("где купить зерно?", "ru", P, ("ru:where_to_buy", "?")),
        ("не могу войти в кабинет", "ru", S, ("ru:cant_log_in",)),
        ("Сколько стоит доставка?", "ru", P, ("ru:how_much", "?")),
        ("¿Cuánto cuesta?", "es", P, ("es:how_much", "?")),
        ("quiero un reembolso", "es", S, ("es:refund",)),
        ("nadie responde 😡", "es", S, ("es:no_response",)),
    ],
)
def test_clear_cases_give_exact_intent_and_cues(text, lang, intent, cues):
    # when
    [result] = classify_intents([text], languages=[lang])
    # then
    assert result.intent == intent
    assert result.cues == cues
    assert 0.5 <= result.confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "no need for help, all good",
        "I don't need help thanks",
        "not looking to buy, just curious",
        "I don't want to buy another one",
        "не хочу купить ещё один",
        "помощь не нужна",
        "ничего не сломалось",
        "no necesito ayuda",
        "no quiero comprar nada",
    ],
)
def test_negated_cues_do_not_count(text):
    # when
    [result] = classify_intents([text])
    # then
    assert result == IntentResult("none", 1.0, ())


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I don't know where to buy this", P),
        ("не знаю где купить такие", P),
        ("no sé dónde comprar esto", P),
        ("still no refund, great", S),
    ],
)
def test_non_negations_are_not_guarded(text, intent):
    # when
    [result] = classify_intents([text])
    # then
    assert result.intent == intent


@pytest.mark.parametrize(
    ("text", "problem", "purchase"),
    [
        (
            "my grinder arrived broken, should i get a replacement?",
            "en:broken",
            "en:should_i_get",
        ),
        ("телефон не работает, что лучше купить на замену?", "ru:not_working", "ru:what_better"),
        ("la cafetera no funciona, ¿cuál me compro ahora?", "es:not_working", "es:which_better"),
    ],
)
def test_support_wins_over_purchase_when_a_problem_is_present(text, problem, purchase):
    # when
    [result] = classify_intents([text])
    # then
    assert result.intent == "support"
    assert problem in result.cues
    assert purchase in result.cues  # the losing class's cue is still reported


def test_help_request_about_choosing_is_purchase():
    # given
    text = "help me choose, can anyone recommend a good laptop for coding?"
    # when
    [result] = classify_intents([text], languages=["en"])
    # then
    assert result.intent == "purchase"
    assert "en:help_request" in result.cues
    assert "en:recommend_ask" in result.cues


def test_question_mark_strengthens_weak_cues():
    # when
    plain, asked = classify_intents(["the price", "the price?"], languages=["en", "en"])
    # then
    assert plain.intent == "none"
    assert plain.cues == ("en:price",)
    assert asked.intent == "purchase"
    assert asked.cues == ("en:price", "?")
    assert asked.confidence > 1 - plain.confidence


def test_question_mark_raises_confidence_of_strong_cues():
    # when
    flat, asked = classify_intents(["where can i buy it", "where can i buy it?"])
    # then
    assert flat.intent == asked.intent == "purchase"
    assert asked.confidence > flat.confidence


def test_folding_accents_case_yo_and_curly_apostrophes():
    # when
    results = classify_intents(
        ["DONDE ESTA MI PEDIDO", "Вернёте деньги? ВЕРНИТЕ ДЕНЬГИ", "it doesn’t work"]
    )
    # then
    assert [r.intent for r in results] == ["support", "support", "support"]
    assert results[2].cues == ("en:not_working",)


def test_language_selects_lexicon_and_unknown_tries_all():
    # given
    text = "где купить?"
    # when
    en, ru, other, none_ = classify_intents([text] * 4, languages=["en", "ru-RU", "de", None])
    # then
    assert en.intent == "none"
    assert ru.intent == other.intent == none_.intent == "purchase"


def test_batch_keeps_order_and_length():
    # given
    texts = ["where is my order", "", "how much is it?", "nice day", "ayuda por favor"]
    # when
    results = classify_intents(texts)
    # then
    assert [r.intent for r in results] == ["support", "none", "purchase", "none", "support"]
    assert results == [classify_intent(t) for t in texts]


@pytest.mark.parametrize("text", ["", "   ", "\n", "🔥🔥🔥", "https://t.co/abc"])
def test_empty_or_cue_less_text_is_none(text):
    # when
    [result] = classify_intents([text])
    # then
    assert result == IntentResult("none", 1.0, ())


def test_empty_batch():
    # when / then
    assert classify_intents([]) == []
    assert classify_intents([], languages=[]) == []


def test_languages_length_mismatch_is_rejected():
    # when / then
    with pytest.raises(ValueError, match="as long as"):
        classify_intents(["a", "b"], languages=["en"])


def test_result_is_frozen_and_confidence_in_range():
    # given
    texts = [t for _, _, t in CASES]
    # when
    results = classify_intents(texts)
    # then
    assert all(0.0 <= r.confidence <= 1.0 for r in results)
    assert all(r.intent in ("purchase", "support", "none") for r in results)
    with pytest.raises(dataclasses.FrozenInstanceError):
        results[0].intent = "none"  # type: ignore[misc]
