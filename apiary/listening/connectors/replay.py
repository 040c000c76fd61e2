"""The demo's replay source: generated multilingual mentions of the demo brand, in real time.

"For the demo, a replay source streams generated multilingual mentions in real time (a calm
baseline, a few competitor stories, one negative spike) so the app looks alive."

Two halves:

- :func:`generate_mentions` — pure and fast (template-based, ≥ 50,000 mentions/s): the n-th
  mention of a seed is always the same mention, wherever a run starts, so the ingest benchmark
  can make a million realistic mentions and the connector can resume. Every mention carries
  its by-construction labels in ``raw["replay"]`` (language, sentiment, intent, topic, phase) so
  tests — and the analytics checks of the demo — know what the pipeline should find.
- :class:`ReplayConnector` (kind ``"replay"``) — emits that sequence at ``rate_per_minute``
  (multiplied during spikes), stamped ``created_at = now``, with cursor ``{"index": n}`` (the
  next mention to emit) so a restart continues the sequence without repeats.

The scenario repeats every ``spike_every_minutes`` of *sequence time* (index → time is fixed by
the rate schedule): a calm baseline (≈45% positive / 35% neutral / 20% negative, about the brand
mostly, some about competitors, a little unrelated coffee talk; purchase-intent questions and
support complaints among them; replies now and then); two competitor *stories* (a burst of posts
about one competitor: a launch, a price rise or a collaboration); and the *negative spike*: for
``spike_minutes`` the rate is ``spike_multiplier`` times higher and most posts are complaints
about one problem with the brand (late deliveries or a stale batch) in one city, in English,
Spanish and Russian alike.
"""

from __future__ import annotations

import math
import random
import re
import time
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar

from ..raw import RawMention, now
from . import register
from .base import Connector, ConnectorError

BRAND = "Northwind Coffee Roasters"
# Fictional competitors (generated "stories" about them include price rises and complaints, so
# no real company is named): one international chain, one Spanish, one Russian.
COMPETITORS = ("Blue Harbor Coffee", "Café Aurora", "Кофе Лисица")
DEFAULT_SEED = 2026
# The n-th mention is generated from a random stream seeded per block of BLOCK mentions; a run
# starting mid-block regenerates (and discards) the block's earlier mentions first.
BLOCK = 1024
EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # sequence time 0 of generate_mentions
LANGUAGES = ("en", "es", "ru")

# --- Shares (by construction) ----------------------------------------------------------------
TOPIC_BRAND, TOPIC_COMPETITOR = 0.75, 0.22  # the rest: unrelated coffee talk (neutral)
# Within brand/competitor posts: positive, neutral (incl. purchase intent), negative (incl.
# support) — 46/33/21 so that, with the neutral noise, the baseline is ~45/35/20.
SHARE_POS, SHARE_NEU = 0.46, 0.33
SHARE_PURCHASE = 0.12  # of all brand posts (counted in neutral)
SHARE_SUPPORT = 0.10  # of all brand posts (counted in negative)
REPLY_SHARE = 0.12
SPIKE_SHARE = 0.85  # of the posts in a spike window
STORY_SHARE = 0.5  # of the posts in a story window
TAIL_SHARE = 0.35  # an extra emoji / hashtag at the end


# --- Templates ---------------------------------------------------------------------------------
# Slots: {brand} {competitor} {product} {where} {emoji} {handle} {days}.
T: dict[str, dict[str, list[str]]] = {
    "en": {
        "pos": [
            "Just tried the {product} from {brand} and wow {emoji}",
            "{brand} never misses. The {product} is my new morning ritual {emoji}",
            "Shoutout to {brand} for the fastest delivery ever, {product} arrived in a day {emoji}",
            "ok the {product} from {brand} is seriously good, smooth and chocolatey {emoji}",
            "My go-to coffee is officially {brand}. {product} all the way {emoji}",
            "Brewed the {product} this morning and the whole flat smells amazing {emoji} {brand}",
            "Best beans I've had {where} so far, thank you {brand} {emoji}",
            "{handle} you were right, {brand} {product} is worth every penny {emoji}",
            "10/10 would recommend the {product} from {brand}, fresh roast and lovely notes",
            "Loving my {brand} subscription, every box is a little surprise {emoji}",
            "The barista {where} used {brand} beans today and it was the best flat white in ages",
            "Happy Monday thanks to {brand} {product} {emoji}",
            "{brand} support sorted my question in five minutes. Great people, great coffee",
            "Gifted the {product} from {brand} to my dad and he loved it {emoji}",
        ],
        "neu": [
            "Trying {brand} for the first time tomorrow, the {product} I think",
            "Does anyone know if {brand} ships {where}?",
            "{brand} just posted their new roast schedule",
            "Comparing the {product} from {brand} with my usual beans this week",
            "Is the {brand} {product} better for espresso or filter?",
            "Saw a {brand} stand {where} today",
            "{handle} what grind size do you use for the {brand} {product}?",
            "Got the {product} from {brand}, will report back",
            "{brand} has a new label design on the {product}",
            "Anyone been to the {brand} tasting event {where}?",
        ],
        "purchase": [
            "Where can I buy {brand} {product} {where}?",
            "Looking to buy the {product} from {brand}, any discount codes?",
            "How much is the {brand} subscription? Thinking of ordering one",
            "Is the {brand} {product} worth it? Want to buy a bag for the office",
            "Where can I get {brand} beans {where}? Need them this week",
            "Can anyone recommend which {brand} coffee to buy for a beginner?",
            "Planning to order the {product} from {brand}, where is it cheapest?",
            "Want to buy {brand} as a gift, which one should I get?",
        ],
        "support": [
            "My order from {brand} hasn't arrived after {days} days, any help?",
            "@northwindcoffee I was charged twice for my {product} order, please help",
            "{brand} my subscription box never arrived this month. Who do I contact?",
            "Still waiting for a refund from {brand} for the damaged {product}",
            "The {product} from {brand} arrived with a torn bag. How do I get a replacement?",
            "Can't log in to my {brand} account to change my delivery address, help",
            "{brand} tracking says delivered but there's nothing here {emoji}",
            "Hey {brand}, wrong item in my order: got decaf instead of the {product}",
        ],
        "neg": [
            "Not impressed with the {product} from {brand}, tasted flat {emoji}",
            "{brand} prices went up again, not sure it's worth it anymore",
            "Disappointed. The {brand} {product} was way too bitter for me",
            "Third time my {brand} delivery was late. Getting tired of this {emoji}",
            "{brand} customer service took a week to answer an email {emoji}",
            "Honestly the {product} from {brand} is overrated",
            "The new {brand} packaging is a nightmare to open and reseal",
            "{brand} beans were stale this time, roast date two months ago {emoji}",
            "Meh. {brand} used to be better {emoji}",
            "Skip the {product} from {brand}, it's not what it used to be",
        ],
        "comp_pos": [
            "{competitor} has the best cold brew {where} {emoji}",
            "Had a lovely cortado at {competitor} today {emoji}",
            "{competitor} really nailed their new seasonal blend",
            "Shoutout to the team at {competitor}, always friendly",
            "{competitor} oat latte is unbeatable {emoji}",
        ],
        "comp_neu": [
            "Anyone compared {competitor} with {brand}?",
            "{competitor} or {brand} for espresso beans?",
            "Passed a {competitor} shop {where} today",
            "{competitor} has a loyalty app now",
        ],
        "comp_neg": [
            "{competitor} got my order wrong again {emoji}",
            "Waited 20 minutes at {competitor} for a lukewarm latte",
            "{competitor} prices are getting ridiculous",
            "Switched from {competitor} to {brand}, no regrets",
            "{competitor} beans taste burnt to me {emoji}",
        ],
        "noise": [
            "Monday needs more coffee {emoji}",
            "Is it too late for a third espresso?",
            "New grinder day {emoji}",
            "Pour-over or french press, what's your pick?",
            "Nothing beats the smell of fresh coffee in the morning {emoji}",
            "Trying latte art again, it looks like a potato {emoji}",
        ],
        "spike_delivery": [
            "{brand} my order {where} is {days} days late and nobody answers {emoji}",
            "Is anyone else {where} still waiting for their {brand} delivery?? {emoji}",
            "{brand} deliveries {where} are a mess this week. Order hasn't arrived, no updates",
            "Day {days} of waiting for my {brand} order {where}. Ridiculous {emoji}",
            "@northwindcoffee what is going on with deliveries {where}? Three orders missing",
            "Cancelled my {brand} subscription. Second box lost {where} {emoji}",
            "{brand} courier {where} marked my parcel delivered. It was not. Refund please",
            "Whole office {where} ordered {brand} and nothing arrived {emoji}",
        ],
        "spike_quality": [
            "The latest {brand} {product} batch tastes stale and sour {emoji}",
            "{brand} what happened to the {product}? Smells like cardboard {emoji}",
            "Bought {brand} {where} this week, beans were old and oily. Never again",
            "Is it just me or is the new {brand} batch awful? Bitter, flat, stale {emoji}",
            "@northwindcoffee my bag of {product} was mouldy. I want a refund",
            "Third bad bag of {brand} in a row {where}. Something is wrong with this batch",
            "{brand} quality has dropped off a cliff, the {product} is undrinkable {emoji}",
            "Returned my {brand} {product}, the roast date was months old {emoji}",
        ],
        "story_launch": [
            "{competitor} opens a new flagship roastery {where}",
            "{competitor} launches a new single-origin range this week {emoji}",
            "Queue around the block for the new {competitor} shop {where}",
            "Just tried the new {competitor} seasonal blend, it's really good {emoji}",
            "{competitor} announces free delivery on all orders",
        ],
        "story_price": [
            "{competitor} raises prices by 15% across all shops",
            "{competitor} just hiked their prices again {emoji}",
            "A {competitor} latte is now how much?? {emoji}",
            "Done with {competitor} after the price rise, looking for alternatives",
            "{competitor} price increase: customers are not happy",
        ],
        "story_collab": [
            "{competitor} teams up with a local bakery {where}",
            "{competitor} announces a collaboration with a big tea brand",
            "Interesting move: {competitor} partners with a supermarket chain",
            "{competitor} x ceramic studio mugs are out {emoji}",
            "Did you see the {competitor} collab announcement?",
        ],
        "news": [
            "{brand} expands its subscription service {where}",
            "Specialty coffee market grows as {brand} and {competitor} compete for customers",
            "{brand} reports record holiday sales",
            "Interview: the head roaster of {brand} on sourcing and freshness",
        ],
        "news_spike": [
            "{brand} customers {where} report delivery delays",
            "{brand} faces complaints over a stale batch of {product}",
            "Customers {where} complain about {brand} orders that never arrived",
        ],
    },
    "es": {
        "pos": [
            "Acabo de probar el {product} de {brand} y es una maravilla {emoji}",
            "{brand} nunca falla. El {product} es mi ritual de cada mañana {emoji}",
            "Qué rápido llegó mi pedido de {brand}, el {product} está buenísimo {emoji}",
            "El mejor café que he tomado {where}, gracias {brand} {emoji}",
            "Me encanta mi suscripción de {brand}, cada caja es una sorpresa {emoji}",
            "{handle} tenías razón, el {product} de {brand} vale cada euro {emoji}",
            "Recomiendo muchísimo el {product} de {brand}, tueste fresco y muy aromático",
            "Regalé el {product} de {brand} a mi madre y le encantó {emoji}",
            "Lunes feliz gracias a {brand} {emoji}",
            "La atención al cliente de {brand} es de diez, me resolvieron todo en minutos",
            "El barista {where} usa granos de {brand} y se nota {emoji}",
            "Oficialmente mi café favorito es {brand} {emoji}",
            "Qué aroma tiene el {product} de {brand}, una delicia",
            "Probando el {product} de {brand} en la cafetera italiana, espectacular {emoji}",
        ],
        "neu": [
            "Mañana pruebo {brand} por primera vez, creo que el {product}",
            "¿Alguien sabe si {brand} hace envíos {where}?",
            "{brand} ha publicado su nuevo calendario de tueste",
            "Esta semana comparo el {product} de {brand} con mi café de siempre",
            "¿El {product} de {brand} es mejor para espresso o para filtro?",
            "Hoy vi un puesto de {brand} {where}",
            "{handle} ¿qué molienda usas para el {product} de {brand}?",
            "Me llegó el {product} de {brand}, ya os contaré",
            "{brand} cambió la etiqueta del {product}",
            "¿Alguien fue a la cata de {brand} {where}?",
        ],
        "purchase": [
            "¿Dónde comprar café de {brand} {where}?",
            "¿Dónde puedo comprar el {product} de {brand}? Lo necesito esta semana",
            "¿Cuánto cuesta la suscripción de {brand}? Estoy pensando en pedirla",
            "Quiero comprar {brand} para regalar, ¿cuál me recomendáis?",
            "¿Vale la pena el {product} de {brand}? Quiero comprar una bolsa para la oficina",
            "Busco dónde comprar granos de {brand} {where}",
            "¿Alguien tiene un código de descuento de {brand}? Voy a hacer un pedido",
            "¿Qué café de {brand} me recomendáis comprar para empezar?",
        ],
        "support": [
            "Mi pedido de {brand} no llega, ya van {days} días",
            "@northwindcoffee me cobraron dos veces el pedido del {product}, ayuda por favor",
            "{brand} mi caja de suscripción no ha llegado este mes, ¿con quién hablo?",
            "Sigo esperando el reembolso de {brand} por el {product} dañado",
            "Mi pedido de {brand} llegó con la bolsa rota, ¿cómo pido un cambio?",
            "No puedo entrar en mi cuenta de {brand} para cambiar la dirección de envío",
            "{brand} el seguimiento dice entregado pero aquí no hay nada {emoji}",
            "Hola {brand}, me enviaron descafeinado en vez del {product}",
        ],
        "neg": [
            "El {product} de {brand} no me convenció, sabe plano {emoji}",
            "{brand} ha vuelto a subir los precios, ya no sé si merece la pena",
            "Qué decepción, el {product} de {brand} está demasiado amargo",
            "Tercera vez que mi pedido de {brand} llega tarde {emoji}",
            "El servicio de atención de {brand} tardó una semana en contestar {emoji}",
            "Sinceramente el {product} de {brand} está sobrevalorado",
            "El nuevo envase de {brand} es imposible de cerrar",
            "Los granos de {brand} estaban rancios esta vez {emoji}",
            "{brand} ya no es lo que era {emoji}",
            "No compréis el {product} de {brand}, ha bajado mucho la calidad",
        ],
        "comp_pos": [
            "{competitor} tiene el mejor cold brew {where} {emoji}",
            "Qué rico el cortado de {competitor} hoy {emoji}",
            "La nueva mezcla de temporada de {competitor} está genial",
            "El equipo de {competitor} siempre tan amable",
            "El latte de avena de {competitor} es insuperable {emoji}",
        ],
        "comp_neu": [
            "¿Alguien ha comparado {competitor} con {brand}?",
            "¿{competitor} o {brand} para espresso?",
            "Hoy pasé por un {competitor} {where}",
            "{competitor} ya tiene app de fidelización",
        ],
        "comp_neg": [
            "{competitor} se equivocó otra vez con mi pedido {emoji}",
            "20 minutos esperando en {competitor} para un café tibio",
            "Los precios de {competitor} son ridículos",
            "Me cambié de {competitor} a {brand} y sin arrepentimientos",
            "El café de {competitor} me sabe a quemado {emoji}",
        ],
        "noise": [
            "Sin café no soy persona {emoji}",
            "¿Es muy tarde para el tercer espresso?",
            "Hoy estreno molinillo {emoji}",
            "¿V60 o prensa francesa? ¿Cuál preferís?",
            "Nada como el olor a café recién hecho {emoji}",
            "Intentando hacer latte art otra vez, parece una patata {emoji}",
        ],
        "spike_delivery": [
            "{brand} mi pedido {where} lleva {days} días de retraso y nadie contesta {emoji}",
            "¿Alguien más {where} sigue esperando su pedido de {brand}? {emoji}",
            "Los envíos de {brand} {where} son un desastre esta semana, mi pedido no llega",
            "Día {days} esperando mi pedido de {brand} {where}. Increíble {emoji}",
            "@northwindcoffee ¿qué pasa con los envíos {where}? Tres pedidos perdidos",
            "He cancelado la suscripción de {brand}, segunda caja perdida {where} {emoji}",
            "El mensajero de {brand} {where} marcó el paquete como entregado y no llegó nada",
            "Toda la oficina {where} pidió {brand} y no ha llegado nada {emoji}",
        ],
        "spike_quality": [
            "El último lote de {product} de {brand} sabe rancio y agrio {emoji}",
            "{brand} ¿qué ha pasado con el {product}? Huele a cartón {emoji}",
            "Compré {brand} {where} esta semana y los granos estaban viejos. Nunca más",
            "¿Soy yo o el nuevo lote de {brand} es horrible? Amargo y rancio {emoji}",
            "@northwindcoffee mi bolsa de {product} tenía moho, quiero un reembolso",
            "Tercera bolsa mala de {brand} seguida {where}, algo pasa con este lote",
            "La calidad de {brand} se ha desplomado, el {product} es imbebible {emoji}",
            "Devolví el {product} de {brand}, la fecha de tueste era de hace meses {emoji}",
        ],
        "story_launch": [
            "{competitor} abre un nuevo tostadero {where}",
            "{competitor} lanza una nueva gama de orígenes esta semana {emoji}",
            "Colas enormes en la nueva tienda de {competitor} {where}",
            "Probé la nueva mezcla de {competitor} y está muy buena {emoji}",
            "{competitor} anuncia envíos gratis en todos los pedidos",
        ],
        "story_price": [
            "{competitor} sube sus precios un 15% en todas sus tiendas",
            "{competitor} ha vuelto a subir los precios {emoji}",
            "¿Un latte de {competitor} cuesta cuánto ahora? {emoji}",
            "Me despido de {competitor} tras la subida de precios",
            "Subida de precios en {competitor}: los clientes no están contentos",
        ],
        "story_collab": [
            "{competitor} se une a una panadería local {where}",
            "{competitor} anuncia una colaboración con una gran marca de té",
            "Movimiento curioso: {competitor} se asocia con una cadena de supermercados",
            "Ya están las tazas de {competitor} con un taller de cerámica {emoji}",
            "¿Habéis visto la colaboración de {competitor}?",
        ],
        "news": [
            "{brand} amplía su servicio de suscripción {where}",
            "El mercado del café de especialidad crece: {brand} y {competitor} compiten",
            "{brand} registra ventas récord en Navidad",
            "Entrevista al maestro tostador de {brand} sobre origen y frescura",
        ],
        "news_spike": [
            "Clientes de {brand} {where} denuncian retrasos en las entregas",
            "{brand} recibe quejas por un lote rancio de {product}",
            "Clientes {where} se quejan de pedidos de {brand} que nunca llegaron",
        ],
    },
    "ru": {
        "pos": [
            "Попробовал {product} от {brand} — это просто огонь {emoji}",
            "{brand} никогда не подводит. {product} теперь мой утренний ритуал {emoji}",
            "Заказ от {brand} пришёл за день, {product} отличный {emoji}",
            "Лучший кофе, который я пил {where}, спасибо {brand} {emoji}",
            "Обожаю подписку {brand}, каждая коробка как сюрприз {emoji}",
            "{handle} ты был прав, {product} от {brand} стоит своих денег {emoji}",
            "Очень рекомендую {product} от {brand}, свежая обжарка и классный вкус",
            "Подарил папе {product} от {brand}, он в восторге {emoji}",
            "Понедельник удался благодаря {brand} {emoji}",
            "Поддержка {brand} ответила за пять минут, всё решили. Спасибо!",
            "Бариста {where} варит на зёрнах {brand}, и это чувствуется {emoji}",
            "Официально: мой любимый кофе — {brand} {emoji}",
            "Какой аромат у {product} от {brand}, просто кайф",
            "Сварил {product} от {brand} в турке — шикарно {emoji}",
        ],
        "neu": [
            "Завтра впервые пробую {brand}, наверное {product}",
            "Кто знает, {brand} доставляет {where}?",
            "{brand} опубликовали новый график обжарки",
            "На этой неделе сравниваю {product} от {brand} с моим обычным кофе",
            "{product} от {brand} лучше для эспрессо или для фильтра?",
            "Видел сегодня стенд {brand} {where}",
            "{handle} какой помол ты используешь для {product} от {brand}?",
            "Пришёл {product} от {brand}, потом расскажу",
            "У {brand} новая этикетка на {product}",
            "Кто-нибудь был на дегустации {brand} {where}?",
        ],
        "purchase": [
            "Где купить {brand} {where}?",
            "Где можно купить {product} от {brand}? Нужно на этой неделе",
            "Сколько стоит подписка {brand}? Думаю заказать",
            "Хочу купить {brand} в подарок, что посоветуете?",
            "Стоит ли брать {product} от {brand}? Хочу купить пачку в офис",
            "Подскажите, где купить зёрна {brand} {where}",
            "Есть у кого-нибудь промокод {brand}? Собираюсь заказать",
            "Какой кофе {brand} посоветуете купить новичку?",
        ],
        "support": [
            "Заказ от {brand} не пришёл, жду уже {days} дней",
            "@northwindcoffee с меня списали деньги два раза за {product}, помогите",
            "{brand}, коробка по подписке в этом месяце так и не пришла. Куда писать?",
            "До сих пор жду возврат денег от {brand} за испорченный {product}",
            "{product} от {brand} пришёл в порванной упаковке, как оформить замену?",
            "Не могу войти в аккаунт {brand}, чтобы поменять адрес доставки",
            "{brand}, в трекинге написано доставлено, а посылки нет {emoji}",
            "{brand}, мне прислали декаф вместо {product}",
        ],
        "neg": [
            "{product} от {brand} не впечатлил, вкус плоский {emoji}",
            "{brand} опять подняли цены, уже не уверен, что оно того стоит",
            "Разочарован, {product} от {brand} слишком горький",
            "Уже третий раз доставка {brand} опаздывает {emoji}",
            "Поддержка {brand} отвечала на письмо неделю {emoji}",
            "Честно, {product} от {brand} переоценён",
            "Новая упаковка {brand} неудобная, не закрывается",
            "Зёрна {brand} в этот раз были несвежие {emoji}",
            "{brand} уже не тот {emoji}",
            "Не берите {product} от {brand}, качество упало",
        ],
        "comp_pos": [
            "В {competitor} лучший колд брю {where} {emoji}",
            "Выпил сегодня отличный кортадо в {competitor} {emoji}",
            "Новый сезонный бленд {competitor} очень удачный",
            "Ребята в {competitor} всегда такие приветливые",
            "Латте на овсяном в {competitor} — лучший {emoji}",
        ],
        "comp_neu": [
            "Кто-нибудь сравнивал {competitor} и {brand}?",
            "{competitor} или {brand} для эспрессо?",
            "Проходил сегодня мимо {competitor} {where}",
            "У {competitor} теперь есть приложение с бонусами",
        ],
        "comp_neg": [
            "{competitor} опять перепутали мой заказ {emoji}",
            "20 минут ждал в {competitor} еле тёплый латте",
            "Цены в {competitor} уже за гранью",
            "Перешёл с {competitor} на {brand} и не жалею",
            "Кофе в {competitor} на вкус горелый {emoji}",
        ],
        "noise": [
            "Без кофе понедельник не начинается {emoji}",
            "Третий эспрессо — это уже слишком?",
            "Сегодня купил новую кофемолку {emoji}",
            "Пуровер или френч-пресс, что выбираете?",
            "Ничего лучше запаха свежего кофе с утра {emoji}",
            "Опять пытаюсь сделать латте-арт, получилась картошка {emoji}",
        ],
        "spike_delivery": [
            "{brand}, мой заказ {where} опаздывает уже на {days} дней, никто не отвечает {emoji}",
            "Кто ещё {where} ждёт доставку {brand}?? {emoji}",
            "С доставкой {brand} {where} на этой неделе полный бардак, заказ не пришёл",
            "{days}-й день жду заказ {brand} {where}. Это уже смешно {emoji}",
            "@northwindcoffee что с доставкой {where}? Три заказа потерялись",
            "Отменил подписку {brand}, вторая коробка потерялась {where} {emoji}",
            "Курьер {brand} {where} отметил посылку доставленной, а её нет. Верните деньги",
            "Весь офис {where} заказал {brand}, и ничего не пришло {emoji}",
        ],
        "spike_quality": [
            "Последняя партия {product} от {brand} несвежая и кислая {emoji}",
            "{brand}, что случилось с {product}? Пахнет картоном {emoji}",
            "Купил {brand} {where} на этой неделе, зёрна старые. Больше никогда",
            "Это только у меня новая партия {brand} ужасная? Горькая и несвежая {emoji}",
            "@northwindcoffee в пачке {product} плесень, хочу возврат",
            "Третья плохая пачка {brand} подряд {where}, с этой партией что-то не так",
            "Качество {brand} резко упало, {product} невозможно пить {emoji}",
            "Вернул {product} от {brand}, дата обжарки несколько месяцев назад {emoji}",
        ],
        "story_launch": [
            "{competitor} открывает новую обжарочную {where}",
            "{competitor} запускает новую линейку моносортов {emoji}",
            "Очередь в новую кофейню {competitor} {where}",
            "Попробовал новый бленд {competitor}, очень даже {emoji}",
            "{competitor} объявили бесплатную доставку на все заказы",
        ],
        "story_price": [
            "{competitor} поднимает цены на 15% во всех кофейнях",
            "{competitor} опять подняли цены {emoji}",
            "Сколько теперь стоит латте в {competitor}?? {emoji}",
            "После повышения цен ухожу из {competitor}, ищу замену",
            "Повышение цен в {competitor}: клиенты недовольны",
        ],
        "story_collab": [
            "{competitor} объединяется с местной пекарней {where}",
            "{competitor} объявили коллаборацию с крупным чайным брендом",
            "Интересный ход: {competitor} теперь в сети супермаркетов",
            "Вышли кружки {competitor} совместно с керамической мастерской {emoji}",
            "Видели новую коллаборацию {competitor}?",
        ],
        "news": [
            "{brand} расширяет сервис подписки {where}",
            "Рынок спешелти-кофе растёт: {brand} и {competitor} борются за клиентов",
            "{brand} отчитались о рекордных продажах в праздники",
            "Интервью с главным обжарщиком {brand} о свежести зерна",
        ],
        "news_spike": [
            "Клиенты {brand} {where} жалуются на задержки доставки",
            "{brand} получает жалобы на несвежую партию {product}",
            "Покупатели {where} жалуются на заказы {brand}, которые так и не пришли",
        ],
    },
}

PRODUCTS = {
    "en": ["Ethiopia Guji", "Colombia Huila", "Kenya AA", "espresso blend", "decaf",
           "subscription box", "pour-over kit", "hand grinder", "Brazil Cerrado", "cold brew pack"],
    "es": ["Etiopía Guji", "Colombia Huila", "Kenia AA", "blend de espresso", "descafeinado",
           "caja de suscripción", "kit de filtro", "molinillo manual", "Brasil Cerrado",
           "pack de cold brew"],
    "ru": ["Эфиопия Гуджи", "Колумбия Уила", "Кения АА", "эспрессо-бленд", "декаф",
           "набор для пуровера", "ручная кофемолка", "Бразилия Серрадо", "колд брю"],
}  # fmt: skip
WHERE = {
    "en": ["in London", "in Manchester", "in Portland", "in New York", "in Seattle", "in Bristol",
           "in Chicago", "in Edinburgh", "here", "in town"],
    "es": ["en Madrid", "en Sevilla", "en Barcelona", "en Valencia", "en Bilbao", "en Málaga",
           "en Ciudad de México", "en Buenos Aires", "aquí", "en el centro"],
    "ru": ["в Москве", "в Питере", "в Казани", "в Новосибирске", "в Екатеринбурге", "в Алматы",
           "у нас", "в центре"],
}  # fmt: skip
EMOJI = {
    "pos": ["☕", "😍", "🔥", "🙌", "❤️", "✨", "👌", "😋", "☕☕", "💯"],
    "neu": ["☕", "🤔", "👀", "", "", "🙂"],
    "neg": ["😤", "😡", "🙄", "😞", "👎", "🤬", "😒", "", "😠"],
}
TAILS = {
    "en": ["#coffee", "#coffeelover", "#specialtycoffee", "#northwindcoffee", "☕", "#morning"],
    "es": ["#café", "#cafedeespecialidad", "#northwindcoffee", "☕", "#buenosdías"],
    "ru": ["#кофе", "#кофеман", "#northwindcoffee", "☕", "#утро"],
}
# The spike's city, as each language says "in <city>".
SPIKE_CITIES = [
    {"en": "in Madrid", "es": "en Madrid", "ru": "в Мадриде"},
    {"en": "in Moscow", "es": "en Moscú", "ru": "в Москве"},
    {"en": "in London", "es": "en Londres", "ru": "в Лондоне"},
    {"en": "in Seville", "es": "en Sevilla", "ru": "в Севилье"},
]
STORY_THEMES = (("story_launch", "positive"), ("story_price", "negative"),
                ("story_collab", "neutral"))  # fmt: skip

# --- Authors -------------------------------------------------------------------------------
# The demo customers' name pools (apiary/demo/steps/customers.py), so some replay authors get
# the same handles as demo customers' social identities: "first.last" bases, no digits.
FIRST = {
    "es": "Lucía Sofía Valentina Camila Martina María Paula Julia Daniela Carmen Elena Ximena Inés "
    "Mateo Santiago Diego Javier Pablo Andrés Alejandro Hugo Álvaro Tomás Joaquín Nicolás",
    "ru": "Анна Мария Елена Ольга Наталья Татьяна Ирина Светлана Юлия Дарья Ксения Алина Полина "
    "Иван Алексей Дмитрий Сергей Андрей Михаил Никита Павел Артём Егор Максим Роман Тимур",
    "en": "Emma Olivia Ava Grace Chloe Emily Hannah Lily Sophie Charlotte Ruby Isla Megan "
    "Liam Noah Ethan Jack Oliver Harry James Lucas Samuel Daniel Thomas George Ryan",
}
LAST = {
    "es": "García Martínez López Sánchez Pérez Gómez Ruiz Díaz Fernández Hernández Jiménez "
    "Moreno Álvarez Romero Navarro Torres Domínguez Ramírez Castillo Ortega Rubio Molina",
    "ru": "Иванов Смирнов Кузнецов Попов Лебедев Козлов Новиков Морозов Петров Волков Соколов "
    "Орлов Павлов Семёнов Голубев Виноградов Богданов Фёдоров Михайлов Беляев Тарасов",
    "en": "Smith Johnson Brown Taylor Wilson Clarke Walker Hughes Evans Wright Robinson Thompson "
    "White Harris Martin Cooper Turner Parker Collins Edwards Stewart Morris",
}
_TRANSLIT = str.maketrans(
    {**dict(zip("абвгдезийклмнопрстуфхцыэ", "abvgdeziiklmnoprstufhcye", strict=True)),
     "ё": "e", "ж": "zh", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ь": "", "ю": "yu", "я": "ya",
     "á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u", "ñ": "n", "ü": "u", " ": "."}
)  # fmt: skip
LOCATIONS = {
    "en": [("London", 51.507, -0.128), ("London, UK", 51.507, -0.128),
           ("Manchester", 53.48, -2.242), ("Portland, OR", 45.515, -122.679),
           ("New York", 40.713, -74.006), ("Seattle, WA", 47.606, -122.332),
           ("Bristol", 51.455, -2.588), ("Edinburgh", 55.953, -3.189)],
    "es": [("Madrid, España", 40.417, -3.704), ("Sevilla", 37.389, -5.984),
           ("Barcelona", 41.387, 2.168), ("Valencia, España", 39.47, -0.376),
           ("Bilbao", 43.263, -2.935), ("Ciudad de México", 19.433, -99.133),
           ("Buenos Aires", -34.604, -58.382), ("Málaga", 36.721, -4.421)],
    "ru": [("Москва", 55.756, 37.617), ("Санкт-Петербург", 59.939, 30.316),
           ("Казань", 55.796, 49.106), ("Новосибирск", 55.03, 82.92),
           ("Екатеринбург", 56.838, 60.597), ("Алматы", 43.238, 76.946)],
}  # fmt: skip
LANG_WEIGHTS = {"en": 45, "es": 30, "ru": 25}
PLATFORM_WEIGHTS = {
    "en": [("bluesky", 22), ("x", 22), ("instagram", 18), ("mastodon", 12), ("trustpilot", 6),
           ("news", 2)],
    "es": [("instagram", 30), ("x", 24), ("bluesky", 12), ("telegram", 6), ("mastodon", 4),
           ("trustpilot", 5), ("news", 2)],
    "ru": [("vk", 34), ("telegram", 30), ("instagram", 10), ("x", 5), ("bluesky", 4),
           ("trustpilot", 1), ("news", 2)],
}  # fmt: skip
NEWS_OUTLETS = {
    "en": ["Coffee Business Daily", "The Roast Report", "Brew Street News"],
    "es": ["Diario del Café", "Noticias Barista", "Revista Tueste"],
    "ru": ["Кофейные новости", "Бариста Daily", "Обжарка.Инфо"],
}
MASTODON_SERVERS = ["mastodon.social", "mstdn.social", "mastodon.online", "techhub.social"]
HINTED = frozenset({"bluesky", "mastodon", "x"})  # platforms whose API gives a language


@dataclass(slots=True)
class Author:
    platform: str
    handle: str
    name: str
    url: str
    lang: str
    followers: int
    location: str
    lat: float | None
    lon: float | None
    mention: str  # how others @-mention them in text


def _handle(platform: str, base: str, rng: random.Random) -> tuple[str, str, str]:
    """(handle, profile URL, @-mention) in the demo customers' style for ``platform``."""
    if platform == "bluesky":
        handle = f"{base.replace('_', '-')}.bsky.social"
        return handle, f"https://bsky.app/profile/{handle}", f"@{handle}"
    if platform == "mastodon":
        user, server = base.replace(".", "_"), rng.choice(MASTODON_SERVERS)
        return f"{user}@{server}", f"https://{server}/@{user}", f"@{user}@{server}"
    if platform == "x":
        handle = base.replace(".", "_")[:15]
        return handle, f"https://x.com/{handle}", f"@{handle}"
    if platform == "instagram":
        return base, f"https://www.instagram.com/{base}/", f"@{base}"
    if platform == "vk":
        handle = base.replace(".", "_")
        return handle, f"https://vk.com/{handle}", f"@{handle}"
    if platform == "telegram":
        handle = base.replace(".", "_").ljust(5, "0")[:32]
        return handle, f"https://t.me/{handle}", f"@{handle}"
    return base, f"https://www.trustpilot.com/users/{base}", base


def _pick_weighted(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> str:
    return rng.choices([p for p, _w in pairs], [w for _p, w in pairs])[0]


@lru_cache(maxsize=8)
def author_pool(seed: int, size: int = 4000) -> tuple[tuple[Author, ...], tuple[float, ...]]:
    """``size`` authors and their cumulative activity weights (heavy-tailed: a few post a lot)."""
    rng = random.Random(f"{seed}:replay-authors")
    firsts = {lang: names.split() for lang, names in FIRST.items()}
    lasts = {lang: names.split() for lang, names in LAST.items()}
    langs = list(LANG_WEIGHTS.items())
    authors: list[Author] = []
    taken: set[tuple[str, str]] = set()
    for _ in range(size):
        lang = _pick_weighted(rng, langs)
        platform = _pick_weighted(rng, PLATFORM_WEIGHTS[lang])
        if platform == "news":
            name = rng.choice(NEWS_OUTLETS[lang])
            slug = re.sub(r"[^a-z0-9]+", "", name.lower().translate(_TRANSLIT)) or "news"
            authors.append(
                Author("news", slug, name, f"https://{slug}.example.com/", lang,
                       int(rng.paretovariate(1.2) * 5000), "", None, None, name)
            )  # fmt: skip
            continue
        first, last = rng.choice(firsts[lang]), rng.choice(lasts[lang])
        female = first.endswith(("а", "я")) if lang == "ru" else False
        if female and last.endswith(("ов", "ев", "ёв", "ин")):
            last += "а"
        name = f"{first} {last}"
        base = name.lower().translate(_TRANSLIT)
        base = "".join(ch for ch in base if ch.isascii() and (ch.isalnum() or ch == "."))
        if rng.random() < 0.45 or (platform, base) in taken:
            base = f"{base}{rng.randint(1, 999)}"
        taken.add((platform, base))
        handle, url, mention = _handle(platform, base, rng)
        if platform == "trustpilot":
            name = f"{first} {last[0]}."
        location, lat, lon = "", None, None
        roll = rng.random()
        if roll < 0.30:
            location, clat, clon = rng.choice(LOCATIONS[lang])
            if roll < 0.03:
                lat = round(clat + rng.uniform(-0.05, 0.05), 5)
                lon = round(clon + rng.uniform(-0.05, 0.05), 5)
        followers = min(int(rng.paretovariate(1.1) * 40) - 40 + rng.randint(0, 30), 5_000_000)
        authors.append(Author(platform, handle, name, url, lang, followers, location, lat, lon,
                              mention))  # fmt: skip
    weights = [rng.paretovariate(1.6) for _ in authors]
    total, cumulative = 0.0, []
    for w in weights:
        total += w
        cumulative.append(total)
    return tuple(authors), tuple(c / total for c in cumulative)


# --- Schedule ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Schedule:
    """Sequence index ↔ sequence time (seconds) and the scenario phase at a time.

    Each cycle of ``every`` minutes: baseline until ``spike_at``, the spike (rate × ``mult``)
    for ``spike_minutes``, then baseline with two competitor-story windows.
    """

    rate: float  # mentions per minute, baseline
    every: float = 20.0
    spike_minutes: float = 3.0
    mult: float = 8.0

    @property
    def spike_at(self) -> float:
        return min(5.0, (self.every - self.spike_minutes) / 2)

    @property
    def cycle_items(self) -> float:
        return (
            self.rate * (self.every - self.spike_minutes)
            + self.rate * self.mult * self.spike_minutes
        )

    def seconds(self, index: float) -> float:
        """Sequence time of mention ``index``."""
        r, per_cycle = self.rate, self.cycle_items
        cycle = math.floor(index / per_cycle)
        off = index - cycle * per_cycle
        before, spike_n = r * self.spike_at, r * self.mult * self.spike_minutes
        if off < before:
            minute = off / r
        elif off < before + spike_n:
            minute = self.spike_at + (off - before) / (r * self.mult)
        else:
            minute = self.spike_at + self.spike_minutes + (off - before - spike_n) / r
        return (cycle * self.every + minute) * 60.0

    def stories(self) -> tuple[tuple[float, float], tuple[float, float]]:
        start = self.spike_at + self.spike_minutes
        rest = self.every - start
        length = min(2.0, rest * 0.2)
        return (start + rest * 0.25, start + rest * 0.25 + length), (
            start + rest * 0.6,
            start + rest * 0.6 + length,
        )

    def phase(self, seconds: float) -> tuple[str, int, int]:
        """("baseline" | "spike" | "story", cycle number, story number)."""
        minute = seconds / 60.0
        cycle = int(minute // self.every)
        at = minute - cycle * self.every
        if self.spike_at <= at < self.spike_at + self.spike_minutes:
            return "spike", cycle, 0
        for k, (lo, hi) in enumerate(self.stories()):
            if lo <= at < hi:
                return "story", cycle, k
        return "baseline", cycle, 0


def brand_variants(brand: str) -> list[str]:
    """How posts name the brand: "Northwind Coffee Roasters" → the full name, "Northwind",
    "@northwindcoffee", "#northwindcoffee" (the short name most often)."""
    words = brand.split()
    tag = re.sub(r"\W", "", "".join(words[:2]).lower()) or "brand"
    return [brand, words[0], words[0], words[0], f"@{tag}", f"#{tag}"]


def competitor_variants(name: str) -> list[str]:
    tag = re.sub(r"\W", "", name.title().replace(" ", ""))
    return [name, name, name, f"#{tag}"]


# --- The generator -------------------------------------------------------------------------
def generate_mentions(
    seed: int = DEFAULT_SEED,
    start: int = 0,
    count: int | None = None,
    *,
    brand: str = BRAND,
    competitors: Sequence[str] = COMPETITORS,
    rate_per_minute: float = 30.0,
    spike_every_minutes: float = 20.0,
    spike_minutes: float = 3.0,
    spike_multiplier: float = 8.0,
    t0: datetime = EPOCH,
    source_id: int | None = None,
) -> Iterator[RawMention]:
    """Mentions ``start`` … ``start + count - 1`` of the sequence for ``seed`` (endless if
    ``count`` is None). ``created_at`` is ``t0`` plus the mention's sequence time.

    ``raw["replay"]`` holds the labels by construction: ``seed``, ``index``, ``lang``
    (en/es/ru), ``sentiment`` (positive/neutral/negative), ``intent`` (purchase/support/""),
    ``topic`` (brand/competitor/noise), ``competitor`` (the one talked about, or ""), ``kind``
    (the template family, e.g. ``spike_delivery``) and ``phase`` — the scenario window the
    mention falls in (baseline/spike/story), whatever its content.
    """
    schedule = Schedule(rate_per_minute, spike_every_minutes, spike_minutes, spike_multiplier)
    authors, cumulative = author_pool(seed)
    n_authors = len(authors)
    brands = brand_variants(brand)
    comps = [competitor_variants(c) for c in competitors] or [competitor_variants(BRAND)]
    comp_names = list(competitors) or [BRAND]
    handles = [a.mention for a in authors if a.platform not in ("news", "trustpilot")][:500]
    t0_ts = t0.timestamp()
    end = None if count is None else start + count
    block = start // BLOCK
    index = block * BLOCK
    while end is None or index < end:
        rng = random.Random(seed * 1_000_003 + block)
        rnd = rng.random
        recent: dict[str, list[tuple[str, str]]] = {}  # platform → (id, mention) in this block
        block_end = index + BLOCK
        while index < block_end:
            i = index
            index += 1
            # Every draw happens whether or not the mention is kept, so a run starting mid-block
            # regenerates exactly the same stream.
            seconds = schedule.seconds(i)
            phase, cycle, story = schedule.phase(seconds)
            author = authors[min(bisect_right(cumulative, rnd()), n_authors - 1)]
            lang = author.lang
            templates = T[lang]
            roll, roll2, roll3 = rnd(), rnd(), rnd()
            competitor = topic_name = intent = ""
            where = WHERE[lang][int(rnd() * len(WHERE[lang]))]
            if phase == "spike" and roll < SPIKE_SHARE:
                kind = "spike_delivery" if cycle % 2 == 0 else "spike_quality"
                where = SPIKE_CITIES[(seed + cycle) % len(SPIKE_CITIES)][lang]
                sentiment, topic = "negative", "brand"
                if kind == "spike_delivery" and roll2 < 0.4:
                    intent = "support"
                if author.platform == "news":
                    kind = "news_spike"
            elif phase == "story" and roll < STORY_SHARE:
                c = (cycle * 2 + story + seed) % len(comp_names)
                kind, sentiment = STORY_THEMES[(cycle + story * 2 + seed) % len(STORY_THEMES)]
                topic, topic_name = "competitor", comp_names[c]
                if roll2 < 0.3 and kind != "story_collab":  # chatter around the story
                    kind, sentiment = "comp_neu", "neutral"
                competitor = comps[c][int(roll3 * len(comps[c]))]
            else:
                if roll2 < TOPIC_BRAND:
                    topic = "brand"
                elif roll2 < TOPIC_BRAND + TOPIC_COMPETITOR:
                    topic = "competitor"
                else:
                    topic = "noise"
                if topic == "noise":
                    kind, sentiment = "noise", "neutral"
                elif roll3 < SHARE_POS:
                    kind, sentiment = "pos", "positive"
                elif roll3 < SHARE_POS + SHARE_NEU:
                    kind, sentiment = "neu", "neutral"
                    if topic == "brand" and roll3 < SHARE_POS + SHARE_PURCHASE:
                        kind, intent = "purchase", "purchase"
                else:
                    kind, sentiment = "neg", "negative"
                    if topic == "brand" and roll3 >= 1.0 - SHARE_SUPPORT:
                        kind, intent = "support", "support"
                if topic == "competitor":
                    c = int(rnd() * len(comp_names))
                    kind = "comp_" + kind
                    variants = comps[c]
                    competitor = variants[int(roll * len(variants))]
                    topic_name = comp_names[c]
                if author.platform == "news" and topic != "noise":
                    kind, sentiment, intent = "news", "neutral", ""
            pool = templates[kind]
            template = pool[int(rnd() * len(pool))]
            sentiment_key = "pos" if sentiment == "positive" else (
                "neg" if sentiment == "negative" else "neu")  # fmt: skip
            emojis = EMOJI[sentiment_key]
            text = template.format(
                brand=brands[int(rnd() * len(brands))],
                competitor=competitor or comp_names[int(roll * len(comp_names))],
                product=PRODUCTS[lang][int(rnd() * len(PRODUCTS[lang]))],
                where=where,
                emoji=emojis[int(rnd() * len(emojis))],
                handle=handles[int(rnd() * len(handles))],
                days=2 + int(rnd() * 12),
            ).strip()
            if rnd() < TAIL_SHARE and author.platform != "news":
                tails = TAILS[lang]
                text = f"{text} {tails[int(rnd() * len(tails))]}"
            platform = author.platform
            external_id = f"replay-{seed}-{i}"
            parent = ""
            reply_roll = rnd()
            same = recent.get(platform)
            if reply_roll < REPLY_SHARE and same and platform not in ("news", "trustpilot"):
                parent, parent_mention = same[int(rnd() * len(same))]
                if not text.startswith("@"):
                    text = f"{parent_mention} {text}"
            if same is None:
                recent[platform] = same = []
            if len(same) < 64:
                same.append((external_id, author.mention))
            else:
                same[int(reply_roll * 64) % 64] = (external_id, author.mention)
            if i < start:
                continue
            created = datetime.fromtimestamp(t0_ts + seconds, tz=UTC)
            yield RawMention(
                platform=platform,
                external_id=external_id,
                text=text,
                created_at=created,
                received_at=created,
                language_hint=lang if platform in HINTED else "",
                author_handle=author.handle,
                author_name=author.name,
                author_url=author.url,
                author_followers=author.followers,
                author_location=author.location,
                url=f"{author.url.rstrip('/')}/{external_id}",
                parent_external_id=parent,
                lat=author.lat,
                lon=author.lon,
                source_id=source_id,
                raw={
                    "replay": {
                        "seed": seed,
                        "index": i,
                        "lang": lang,
                        "sentiment": sentiment,
                        "intent": intent,
                        "topic": topic,
                        "kind": kind,
                        "competitor": topic_name,
                        "phase": phase,
                    }
                },
            )
            if end is not None and index >= end:
                return
        block += 1


# --- The connector -------------------------------------------------------------------------
def _number(config: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConnectorError(f"{name}: must be a number")
    if not low <= value <= high:
        raise ConnectorError(f"{name}: must be between {low:g} and {high:g}")
    return float(value)


@register
class ReplayConnector(Connector):
    kind = "replay"
    default_platform = "other"  # every mention names its own platform
    description = "Generated demo mentions in real time (baseline, competitor stories, a spike)"

    batch_max: ClassVar[int] = 500
    batch_seconds: ClassVar[float] = 0.2
    max_lag_seconds: ClassVar[float] = 5.0  # behind schedule by more (paused): skip ahead in time

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        seed = config.get("seed", DEFAULT_SEED)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise ConnectorError("seed: must be a whole number from 0 to 2147483647")
        brand = config.get("brand", BRAND)
        if not isinstance(brand, str) or not brand.strip() or len(brand) > 100:
            raise ConnectorError("brand: must be a name of up to 100 characters")
        competitors = config.get("competitors", list(COMPETITORS))
        if (
            not isinstance(competitors, list)
            or not 1 <= len(competitors) <= 10
            or not all(isinstance(c, str) and c.strip() and len(c) <= 100 for c in competitors)
        ):
            raise ConnectorError("competitors: must be a list of 1 to 10 names")
        cleaned = {
            "seed": seed,
            "brand": brand.strip(),
            "competitors": [c.strip() for c in competitors],
            "rate_per_minute": _number(config, "rate_per_minute", 30.0, 0.1, 1_000_000.0),
            "spike_every_minutes": _number(config, "spike_every_minutes", 20.0, 1.0, 10_080.0),
            "spike_minutes": _number(config, "spike_minutes", 3.0, 0.1, 1_440.0),
            "spike_multiplier": _number(config, "spike_multiplier", 8.0, 1.0, 100.0),
        }
        if cleaned["spike_minutes"] >= cleaned["spike_every_minutes"]:
            raise ConnectorError("spike_minutes: must be shorter than spike_every_minutes")
        return cleaned

    def run(self) -> None:
        ctx = self.ctx
        try:
            config = self.validate_config(ctx.config)
        except ConnectorError as exc:
            ctx.report_error(str(exc))
            return
        index = ctx.cursor.get("index", 0)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            index = 0
        schedule = Schedule(
            config["rate_per_minute"],
            config["spike_every_minutes"],
            config["spike_minutes"],
            config["spike_multiplier"],
        )
        stream = generate_mentions(
            config["seed"],
            index,
            None,
            brand=config["brand"],
            competitors=config["competitors"],
            rate_per_minute=schedule.rate,
            spike_every_minutes=schedule.every,
            spike_minutes=schedule.spike_minutes,
            spike_multiplier=schedule.mult,
            source_id=ctx.source_id,
        )
        ctx.report_ok()
        # Wall clock of sequence time ``base_seconds`` (mention ``index`` is due at once).
        base_wall, base_seconds = time.monotonic(), schedule.seconds(index)
        batch: list[RawMention] = []
        batch_started = 0.0
        upcoming = next(stream)
        while not ctx.stopping:
            due = base_wall + (schedule.seconds(index) - base_seconds)
            clock = time.monotonic()
            if clock - due > self.max_lag_seconds:  # we were paused: carry on from now
                base_wall, base_seconds = clock, schedule.seconds(index)
                due = clock
            if due <= clock:
                if not batch:
                    batch_started = clock
                stamp = now()
                upcoming.created_at = upcoming.received_at = stamp
                batch.append(upcoming)
                index += 1
                upcoming = next(stream)
                if len(batch) < self.batch_max and clock - batch_started < self.batch_seconds:
                    continue
            if batch:
                ctx.emit(batch, cursor={"index": index})
                batch = []
                continue
            if not ctx.sleep(min(due - clock, self.batch_seconds)):
                break
        if batch:
            ctx.emit(batch, cursor={"index": index})
