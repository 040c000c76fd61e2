"""Demo customers of Northwind Coffee Roasters: ~3,000 people in eight countries with 18 months
of orders, a few percent *social customers* with consented identities, some wholesale
organisations, a handful of near-duplicate people waiting in the review queue, and a few
community members who are customers too.

The data carries one true story for analytics to find: social customers order about 30% more
often and spend about 17% more per order. Bulk inserts keep the step at a few seconds.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone, translation

from apiary.accounts.models import Role, User
from apiary.customers import handles
from apiary.customers.forms import consent_text
from apiary.customers.models import (
    ConsentRecord,
    Customer,
    LifecycleStage,
    Order,
    Organisation,
    SocialIdentity,
)
from apiary.customers.segments import segments_ensure_defaults
from apiary.customers.services.resolution import AuthorRef, author_suggest

CUSTOMER_COUNT = 3000
SOCIAL_SHARE = 0.04
SOCIAL_FREQUENCY = 1.3  # social customers order this much more often …
SOCIAL_EXTRA_LINE = 0.32  # … and add a line this often: ~17% more per order
HISTORY_DAYS = 548  # 18 months
MARKER = "demo-c-00001"  # the first demo customer's external id: present = already loaded
LINKED_MEMBERS = 12
DUPLICATES = 3  # people entered twice; plus two handle variants of social customers
CENT = Decimal("0.01")
# Fixed demo rates to EUR: prices are set in EUR and converted, so baskets compare across
# currencies (the tests use the same rates).
EUR_RATE = {"EUR": Decimal("1"), "USD": Decimal("1.1"), "MXN": Decimal("20"), "RUB": Decimal("100")}

# --- Who they are ------------------------------------------------------------------------------
# Platforms are weighted by country: VK and Telegram in Russia and Kazakhstan, Instagram in the
# Spanish-speaking markets, Bluesky and Mastodon in the US, UK and Germany.
_RU_NETS = [("vk", 5), ("telegram", 5), ("instagram", 2), ("bluesky", 1), ("x", 1)]
_ES_NETS = [("instagram", 5), ("x", 3), ("bluesky", 3), ("mastodon", 1), ("telegram", 1)]
_EN_NETS = [("bluesky", 4), ("instagram", 4), ("x", 3), ("mastodon", 2)]
_DE_NETS = [("mastodon", 4), ("bluesky", 3), ("instagram", 3), ("x", 1)]


def _country(code, label, weight, lang, currency, mail, phone, cities, platforms):
    return {"code": code, "label": label, "weight": weight, "lang": lang, "currency": currency,
            "mail": mail, "phone": phone, "cities": cities.split(","),
            "platforms": platforms}  # fmt: skip


COUNTRIES = [
    _country("ES", "España", 22, "es", "EUR", "correo.example.es", "+34",
             "Madrid,Barcelona,Sevilla,Valencia,Bilbao,Málaga", _ES_NETS),
    _country("MX", "México", 14, "es", "MXN", "correo.example.mx", "+52",
             "Ciudad de México,Guadalajara,Monterrey,Puebla,Mérida", _ES_NETS),
    _country("AR", "Argentina", 7, "es", "USD", "correo.example.ar", "+54",
             "Buenos Aires,Córdoba,Rosario,Mendoza", _ES_NETS),
    _country("RU", "Россия", 20, "ru", "RUB", "pochta.example.ru", "+7",
             "Москва,Санкт-Петербург,Казань,Новосибирск,Екатеринбург", _RU_NETS),
    _country("KZ", "Қазақстан", 6, "ru", "USD", "pochta.example.kz", "+7",
             "Алматы,Астана,Караганда", _RU_NETS),
    _country("US", "USA", 15, "en", "USD", "mail.example.com", "+1",
             "New York,Portland,Seattle,Austin,Chicago", _EN_NETS),
    _country("GB", "UK", 8, "en", "EUR", "mail.example.co.uk", "+44",
             "London,Manchester,Bristol,Edinburgh", _EN_NETS),
    _country("DE", "Deutschland", 8, "de", "EUR", "post.example.de", "+49",
             "Berlin,Hamburg,München,Köln,Leipzig", _DE_NETS),
]  # fmt: skip
COUNTRY_BY_CODE = {c["code"]: c for c in COUNTRIES}


def _words(text: str) -> list[str]:
    return text.split()


def _names(female: str, male: str) -> dict[str, list[str]]:
    return {"f": _words(female), "m": _words(male)}


FIRST = {
    "es": _names(
        "Lucía Sofía Valentina Camila Martina María Paula Julia Daniela Carmen Elena Ximena Inés",
        "Mateo Santiago Diego Javier Pablo Andrés Alejandro Hugo Álvaro Tomás Joaquín Nicolás",
    ),
    "ru": _names(
        "Анна Мария Елена Ольга Наталья Татьяна Ирина Светлана Юлия Дарья Ксения Алина Полина",
        "Иван Алексей Дмитрий Сергей Андрей Михаил Никита Павел Артём Егор Максим Роман Тимур",
    ),
    "en": _names(
        "Emma Olivia Ava Grace Chloe Emily Hannah Lily Sophie Charlotte Ruby Isla Megan",
        "Liam Noah Ethan Jack Oliver Harry James Lucas Samuel Daniel Thomas George Ryan",
    ),
    "de": _names(
        "Anna Lena Marie Sophie Laura Hannah Lea Julia Katharina Johanna Clara Greta Paula",
        "Lukas Jonas Felix Paul Leon Maximilian Jan Niklas Tim Moritz Florian Tobias Finn",
    ),
}
LAST = {
    "es": _words(
        "García Martínez López Sánchez Pérez Gómez Ruiz Díaz Fernández Hernández Jiménez "
        "Moreno Álvarez Romero Navarro Torres Domínguez Ramírez Castillo Ortega Rubio Molina"
    ),
    "ru": _words(
        "Иванов Смирнов Кузнецов Попов Лебедев Козлов Новиков Морозов Петров Волков Соколов "
        "Орлов Павлов Семёнов Голубев Виноградов Богданов Фёдоров Михайлов Беляев Тарасов"
    ),
    "en": _words(
        "Smith Johnson Brown Taylor Wilson Clarke Walker Hughes Evans Wright Robinson Thompson "
        "White Harris Martin Cooper Turner Parker Collins Edwards Stewart Morris"
    ),
    "de": _words(
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
        "Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hartmann Lange"
    ),
}
TAGS = ["newsletter", "subscription", "espresso", "filter", "gift", "decaf", "beans", "ground"]
ORGANISATIONS = [
    ("Café Sol de Sevilla", "cafesol.example.es", "ES", "Sevilla"),
    ("Кофейня «Зерно»", "zerno.example.ru", "RU", "Казань"),
    ("Blue Door Coffee Co.", "bluedoor.example.com", "US", "Portland"),
    ("Rösterei am Markt", "roesterei.example.de", "DE", "Leipzig"),
    ("Oficinas Norte S.L.", "oficinasnorte.example.es", "ES", "Bilbao"),
    ("Bean There Ltd", "beanthere.example.co.uk", "GB", "Bristol"),
]
MASTODON_SERVERS = ["mastodon.social", "mstdn.social", "mastodon.online", "techhub.social"]
# The coffee roaster's catalogue: (sku, name, price in EUR).
CATALOGUE = [
    ("ETH-GUJI-250", "Ethiopia Guji, 250 g", 12.50),
    ("COL-HUILA-250", "Colombia Huila, 250 g", 11.00),
    ("KEN-AA-250", "Kenya AA, 250 g", 14.00),
    ("GUA-ANT-250", "Guatemala Antigua, 250 g", 12.00),
    ("BRA-CERR-1K", "Brazil Cerrado, 1 kg", 32.00),
    ("ESP-BLEND-1K", "Northwind Espresso Blend, 1 kg", 29.00),
    ("DECAF-SW-250", "Swiss Water Decaf, 250 g", 11.50),
    ("SUB-MONTH", "Monthly subscription box", 24.00),
    ("V60-KIT", "Pour-over starter kit", 39.00),
    ("GRINDER-HB", "Hand grinder", 65.00),
    ("MUG-NW", "Northwind mug", 9.00),
    ("FILTER-100", "Paper filters ×100", 5.00),
]
_TRANSLIT = str.maketrans(
    {**dict(zip("абвгдезийклмнопрстуфхцыэ", "abvgdeziiklmnoprstufhcye", strict=True)),
     "ё": "e", "ж": "zh", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ь": "", "ю": "yu", "я": "ya",
     "á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u", "ñ": "n", "ü": "u", "ö": "o", "ä": "a",
     "ß": "ss", "«": "", "»": "", " ": "."}
)  # fmt: skip


def ascii_local(name: str) -> str:
    """ "Фёдор Орлов" → "fedor.orlov": an e-mail local part / handle base."""
    text = name.lower().translate(_TRANSLIT)
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch in ".-")).strip(".")


def feminine(surname: str) -> str:
    return surname + "а" if surname.endswith(("ов", "ев", "ёв", "ин")) else surname


def weighted_sample(rng, weighted: list[tuple[str, int]], k: int) -> list[str]:
    pool = list(weighted)
    out = []
    while pool and len(out) < k:
        pick = rng.choices([p for p, _w in pool], [w for _p, w in pool])[0]
        out.append(pick)
        pool = [(p, w) for p, w in pool if p != pick]
    return out


def run(ctx) -> str:
    rng = random.Random(f"{ctx.seed}:customers")  # independent of what earlier steps drew
    members = ctx.data.get("members") or list(User.objects.filter(role=Role.MEMBER).order_by("pk"))
    if Customer.objects.filter(external_id=MARKER).exists():
        linked = _relink_members(members)
        segments_ensure_defaults()
        return (
            f"already loaded ({Customer.objects.filter(external_id__startswith='demo-').count()} "
            f"demo customers); {linked} members re-linked"
        )
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    orgs = _organisations()
    people = _people(rng, members)
    customers = _customers(rng, people, orgs, now)
    social = _identities(rng, customers, now)
    orders = _orders(rng, customers, social, now)
    suggestions = _near_duplicates(rng, customers, social, now)
    segments_ensure_defaults()
    ctx.data["customers"] = customers
    return (
        f"{len(customers)} customers ({len(social)} social), {orders} orders, "
        f"{suggestions} suggestions, {sum(1 for p in people if p['user'])} members linked"
    )


def _organisations() -> list[Organisation]:
    out = []
    for name, domain, country, city in ORGANISATIONS:
        org = Organisation.objects.filter(name__iexact=name, deleted_at__isnull=True).first()
        out.append(
            org or Organisation.objects.create(name=name, domain=domain, country=country, city=city)
        )
    return out


def _people(rng: random.Random, members: list[User]) -> list[dict]:
    """Who the customers are: country, language, name, e-mail (no database access)."""
    countries = COUNTRIES
    weights = [c["weight"] for c in countries]
    people = []
    for i in range(CUSTOMER_COUNT):
        country = rng.choices(countries, weights)[0]
        lang = country["lang"]
        female = rng.random() < 0.5
        first = rng.choice(FIRST[lang]["f" if female else "m"])
        last = rng.choice(LAST[lang])
        if lang == "ru" and female:
            last = feminine(last)
        local = ascii_local(f"{first}.{last}")
        people.append(
            {
                "n": i + 1,
                "country": country,
                "lang": lang,
                "name": f"{first} {last}",
                "email": f"{local}.{i + 1}@{country['mail']}",
                "city": rng.choice(country["cities"]),
                "user": None,
            }
        )
    # A few community members are customers too (their account e-mail is the customer's).
    by_lang: dict[str, list[dict]] = {}
    for p in people:
        by_lang.setdefault(p["lang"], []).append(p)
    for member in members[:LINKED_MEMBERS]:
        pool = by_lang.get(member.language or "en") or by_lang["en"]
        person = pool.pop(0)
        person.update(name=member.name, email=member.email.lower(), user=member)
    return people


def _customers(rng, people, orgs, now) -> list[Customer]:
    rows = []
    for p in people:
        stage = rng.choices(
            [LifecycleStage.CUSTOMER, LifecycleStage.LEAD, LifecycleStage.PROSPECT,
             LifecycleStage.CHURNED],
            [76, 9, 5, 10],
        )[0]  # fmt: skip
        org = rng.choice(orgs) if rng.random() < 0.03 else None
        tags = rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2]))
        if org:
            tags = ["wholesale", *[t for t in tags if t != "wholesale"]]
        digits = f"{rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        phone = f"{p['country']['phone']} {digits}"
        rows.append(
            Customer(
                external_id=f"demo-c-{p['n']:05d}",
                email=p["email"],
                name=p["name"],
                phone=phone if rng.random() < 0.6 else "",
                country=p["country"]["code"],
                city=p["city"],
                language=p["lang"],
                tags=tags,
                lifecycle_stage=stage,
                organisation=org,
                user=p["user"],
                created_at=now
                - timedelta(
                    days=rng.randint(30, HISTORY_DAYS + 200), seconds=rng.randint(0, 86399)
                ),
            )
        )
    Customer.objects.bulk_create(rows, batch_size=500)
    # Re-read for primary keys (not every backend returns them from a bulk insert).
    by_ext = {c.external_id: c for c in Customer.objects.filter(external_id__startswith="demo-c-")}
    return [by_ext[r.external_id] for r in rows]


def _identities(rng, customers, now) -> set[int]:
    """~4% of buying customers get 2–4 consented identities; returns their ids."""
    candidates = [c for c in customers if c.lifecycle_stage != LifecycleStage.LEAD]
    # A few community members among them, so their profile page shows linked accounts.
    members = [c for c in candidates if c.user_id][:4]
    others = [c for c in candidates if not c.user_id]
    chosen = members + rng.sample(others, round(len(customers) * SOCIAL_SHARE) - len(members))
    taken: set[tuple[str, str]] = set()
    identities, consents = [], []
    for customer in chosen:
        country = COUNTRY_BY_CODE[customer.country]
        platforms = weighted_sample(rng, country["platforms"], rng.randint(2, 4))
        linked_at = customer.created_at + timedelta(days=rng.randint(0, 120))
        linked_at = min(linked_at, now - timedelta(days=1))
        for platform in platforms:
            handle = _handle(rng, platform, customer.name, taken)
            taken.add((platform, handle))
            identities.append(
                SocialIdentity(
                    customer=customer,
                    platform=platform,
                    handle=handle,
                    display_name=customer.name,
                    profile_url=handles.profile_url(platform, handle),
                    followers=int(rng.lognormvariate(5.3, 1.4)),
                    verified=rng.random() < 0.05,
                    created_at=linked_at,
                )
            )
    SocialIdentity.objects.bulk_create(identities, batch_size=500)
    # In insertion order, so the touchpoints drawn below are the same on every backend.
    stored = SocialIdentity.objects.filter(customer_id__in=[c.pk for c in chosen]).order_by("pk")
    by_customer = {c.pk: c for c in chosen}
    for identity in stored:
        customer = by_customer[identity.customer_id]
        touchpoint = "community_profile" if customer.user_id else _touchpoint(rng)
        with translation.override(customer.language or "en"):
            text = consent_text()
        consents.append(
            ConsentRecord(
                identity=identity, touchpoint=touchpoint, text=text, at=identity.created_at
            )
        )
    ConsentRecord.objects.bulk_create(consents, batch_size=500)
    return {c.pk for c in chosen}


def _touchpoint(rng) -> str:
    return rng.choices(["checkout", "signup", "support_form", "import"], [45, 30, 15, 10])[0]


def _handle(rng, platform: str, name: str, taken: set) -> str:
    base = ascii_local(name).replace("-", "")
    first, _dot, last = base.partition(".")
    variants = [base, f"{first}_{last}", f"{first}{last}", f"{first}.{last[:1]}", f"{last}{first}"]
    for attempt in range(20):
        local = rng.choice(variants) + (str(rng.randint(1, 999)) if attempt else "")
        raw = {
            "bluesky": f"{local.replace('_', '-')}.bsky.social",
            "mastodon": f"{local.replace('.', '_')}@{rng.choice(MASTODON_SERVERS)}",
            "x": local.replace(".", "_")[:15],
            "telegram": local.replace(".", "_").ljust(5, "0")[:32],
            "vk": local.replace(".", "_"),
            "instagram": local,
        }[platform]
        try:
            handle = handles.normalize_handle(platform, raw)
        except handles.HandleError:
            continue
        if (platform, handle) not in taken:
            return handle
    raise RuntimeError(f"no free demo handle for {name} on {platform}")  # pragma: no cover


def _orders(rng, customers, social: set[int], now) -> int:
    rows, n = [], 0
    for customer in customers:
        if customer.lifecycle_stage in (LifecycleStage.LEAD, LifecycleStage.PROSPECT):
            continue
        is_social = customer.pk in social
        start = max(customer.created_at, now - timedelta(days=HISTORY_DAYS))
        end = now - timedelta(hours=1)
        if customer.lifecycle_stage == LifecycleStage.CHURNED:
            end = min(end, start + timedelta(days=rng.randint(30, 200)))
        span_days = max((end - start).days, 1)
        # Orders per month of history; social customers come back more often.
        rate = rng.uniform(0.25, 0.95) * (SOCIAL_FREQUENCY if is_social else 1.0)
        count = max(1, round(rate * span_days / 30 * rng.uniform(0.7, 1.3)))
        currency = COUNTRY_BY_CODE[customer.country]["currency"]
        for _ in range(count):
            n += 1
            at = start + timedelta(seconds=rng.randint(0, span_days * 86400))
            items, total = _basket(rng, currency, SOCIAL_EXTRA_LINE if is_social else 0.0)
            rows.append(
                Order(
                    external_id=f"demo-o-{n:06d}",
                    customer=customer,
                    ordered_at=min(at, end),
                    currency=currency,
                    total=total,
                    items=items,
                    channel=rng.choices(["web", "app", "marketplace", "cafe"], [60, 20, 12, 8])[0],
                )
            )
        if len(rows) >= 5000:
            Order.objects.bulk_create(rows, batch_size=1000)
            rows = []
    Order.objects.bulk_create(rows, batch_size=1000)
    return n


def _basket(rng, currency: str, extra_line: float = 0.0) -> tuple[list[dict], Decimal]:
    """Lines until the order reaches a target value (EUR ~28 median); then, with probability
    ``extra_line``, one more line: at 0.32 that is ~17% more per order on average."""
    target = rng.lognormvariate(3.35, 0.45)
    rate = EUR_RATE[currency]
    items: list[dict] = []
    value_eur = 0.0
    while value_eur < target and len(items) < 6:
        value_eur += _add_line(rng, items, rate)
    if rng.random() < extra_line:
        _add_line(rng, items, rate)
    total = sum(Decimal(i["price"]) * i["quantity"] for i in items)
    return items, total.quantize(CENT)


def _add_line(rng, items: list[dict], rate: Decimal) -> float:
    sku, name, price_eur = rng.choice(CATALOGUE)
    quantity = rng.choice([1, 1, 1, 2, 2, 3])
    price = (Decimal(str(price_eur)) * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    items.append({"sku": sku, "name": name, "quantity": quantity, "price": str(price)})
    return price_eur * quantity


def _near_duplicates(rng, customers, social: set[int], now) -> int:
    """Work for the review queue, made the way production makes it (identity resolution):
    the same person twice (another e-mail, same name and city) whose social account shows up
    as an author, and social customers whose handle variant shows up on the same network."""
    seen: dict[tuple[str, str], int] = {}
    for c in customers:
        seen[(c.name, c.city)] = seen.get((c.name, c.city), 0) + 1
    unique = [
        c for c in customers if seen[(c.name, c.city)] == 1 and c.pk not in social and not c.user_id
    ]
    authors = []
    for k, code in enumerate(rng.sample(["ES", "MX", "RU", "KZ", "US", "DE"], DUPLICATES)):
        original = rng.choice([c for c in unique if c.country == code])
        dup = Customer.objects.create(
            external_id=f"demo-d-{k + 1:03d}",
            email=original.email.replace("@", ".shop@", 1),
            name=original.name,
            country=original.country,
            city=original.city,
            language=original.language,
            created_at=original.created_at + timedelta(days=40),
        )
        currency = COUNTRY_BY_CODE[code]["currency"]
        items, total = _basket(rng, currency)
        Order.objects.create(
            external_id=f"demo-o-d{k + 1:03d}",
            customer=dup,
            ordered_at=now - timedelta(days=rng.randint(5, 90)),
            currency=currency,
            total=total,
            items=items,
            channel="web",
        )
        platform = COUNTRY_BY_CODE[code]["platforms"][0][0]
        handle = _handle(rng, platform, original.name, set())
        authors.append((platform, handle, original))
    for identity in rng.sample(
        list(SocialIdentity.objects.filter(customer_id__in=social, platform="instagram")), 2
    ):
        authors.append((identity.platform, identity.handle.replace(".", "_") + "_", None))
    made = 0
    for platform, handle, person in authors:
        author = AuthorRef(
            platform=platform,
            handle=handle,
            display_name=person.name if person else "",
            location=f"{person.city}, {COUNTRY_BY_CODE[person.country]['label']}" if person else "",
        )
        made += len(author_suggest(author=author))
    return made


def _relink_members(members: list[User]) -> int:
    """On a re-run, re-attach members whose accounts were recreated (matched by e-mail)."""
    linked = 0
    for member in members[:LINKED_MEMBERS]:
        updated = Customer.objects.filter(
            email__iexact=member.email, user__isnull=True, external_id__startswith="demo-c-"
        ).update(user=member)
        linked += updated
    return linked
