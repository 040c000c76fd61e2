"""Place resolution for listening mentions: index load time, resolve_places() throughput, memory.

Builds ``--items`` synthetic mentions shaped like social posts: most carry no place at all, some
a profile location ("Madrid, España", "СПб", "Buenos Aires 🇦🇷", "Earth"), some coordinates and
some a place in the text ("en Sevilla", "в Москве"), in English, Russian and Spanish.  They are
resolved in batches of 10,000 (the listening pipeline's shape) on one core.

Run: ``.venv/bin/python benchmarks/place_resolve.py [--items 300000]``.  No database: the stage
is pure, so the keys carry the ``python.`` prefix instead of a backend.  Writes
``benchmarks/results/place_resolve.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "place_resolve.json"
sys.path.insert(0, str(ROOT))

PLAIN = [
    "Just got my new phone and the battery life is amazing! #tech",
    "@acme_support my order still hasn't arrived, any update?",
    "Honestly the best coffee I've had in weeks. Nice job, Acme!",
    "Не могу войти в приложение уже второй день, что случилось?",
    "Отличный сервис, спасибо большое! Буду заказывать ещё.",
    "¿Alguien sabe si el nuevo modelo vale la pena? Me interesa comprarlo",
    "Qué mal servicio, llevo una semana esperando el reembolso 😡",
    "This is a nice product, very mobile, great for the bar or the office.",
    "Мир, труд, май! Всех с праздником 🎉",
    "RT @brand: New release today. Check it out https://example.com/x",
    "lol same 😂😂😂",
    "The Acme Pro Max vs the Zeta One: which one should I buy? Thoughts?",
]
TEXT_PLACES = [
    "Hoy estoy en Sevilla probando el nuevo modelo, ¡me encanta!",
    "Сегодня в Москве презентация, кто пойдёт?",
    "Great coffee shop in London, the staff were lovely",
    "Из Казани с любовью: доставка пришла за день",
    "Saludos desde Buenos Aires, el envío llegó perfecto",
]
PROFILES = [
    "Madrid, España",
    "СПб",
    "Buenos Aires 🇦🇷",
    "London UK",
    "Earth",
    "she/her",
    "Москва",
    "CDMX",
    "Sevilla y alrededores",
    "🇪🇸",
    "somewhere over the rainbow",
]
COORDS = [
    (40.4168, -3.7038),
    (55.7558, 37.6173),
    (-34.6037, -58.3816),
    (51.5072, -0.1276),
    (10.0, -40.0),
]
LANGS = ["en", "ru", "es", "other", "und"]


def make_items(n: int, rng: random.Random) -> list:
    from apiary.listening.place import PlaceInput

    items = []
    for _ in range(n):
        roll = rng.random()
        lang = rng.choice(LANGS)
        if roll < 0.05:
            lat, lon = rng.choice(COORDS)
            items.append(PlaceInput(text=rng.choice(PLAIN), lat=lat, lon=lon, language=lang))
        elif roll < 0.25:
            items.append(
                PlaceInput(
                    text=rng.choice(PLAIN), profile_location=rng.choice(PROFILES), language=lang
                )
            )
        elif roll < 0.35:
            items.append(PlaceInput(text=rng.choice(TEXT_PLACES), language=lang))
        else:
            items.append(PlaceInput(text=rng.choice(PLAIN), language=lang))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()

    from tqdm import tqdm

    from apiary.listening import place

    started = time.perf_counter()
    place._get_index()
    load_s = time.perf_counter() - started
    tracemalloc.start()  # a second, throwaway copy, only to count the index's memory
    place._Index(place.DATA_FILE)
    index_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()

    items = make_items(args.items, random.Random(2026))
    resolved = 0
    elapsed = 0.0
    for start in tqdm(range(0, len(items), args.batch), desc="resolve", unit="batch"):
        batch = items[start : start + args.batch]
        t0 = time.perf_counter()
        out = place.resolve_places(batch)
        elapsed += time.perf_counter() - t0
        resolved += sum(p is not None for p in out)

    figures = {
        "python.load_s": round(load_s, 3),
        "python.index_mb": round(index_mb, 1),
        "python.items": len(items),
        "python.items_per_s": round(len(items) / elapsed),
        "python.hit_ratio": round(resolved / len(items), 3),
        "python.peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(
        f"index loaded in {load_s:.2f} s, {index_mb:.0f} MB of Python objects, "
        f"peak RSS {figures['python.peak_rss_mb']:.0f} MB"
    )
    print(
        f"{len(items):,} mentions in {elapsed:.2f} s: {figures['python.items_per_s']:,} items/s "
        f"({figures['python.hit_ratio']:.0%} with a place)"
    )
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(existing | figures, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
