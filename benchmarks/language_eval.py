"""Language stage accuracy and speed: the detector in use against py3langid alone.

    .venv/bin/python benchmarks/language_eval.py [--min-texts 50000] [--rounds 5] [--errors SET]

Labelled texts, all offline (accuracy = the code is the expected en/ru/es, or ``other``):

- **en**: VADER's 4,200 tweets (held out: the figure quoted as ``en.accuracy``) and its
  19,503 movie/Amazon/NYT snippets, ``dev_en.jsonl``, and the English msgids of Apiary's
  translations (``apiary/locale``);
- **es**: EvoMSA's 1,000 Spanish tweets (``es.accuracy``), ``dev_es*.jsonl`` and the Spanish
  translations of Apiary's UI;
- **ru**: ``benchmarks/data/sentiment_ru_heldout.jsonl`` (``ru.accuracy``), ``dev_ru.jsonl`` and
  the Russian translations of Apiary's UI;
- **other**: Django's own translations into 24 other languages (German, French, Italian,
  Portuguese, Catalan, Galician, Ukrainian, Bulgarian, Belarusian, Turkish, …; from the installed
  Django) and the other-language posts of ``apiary/listening/tests/test_language.py``;
- the en/ru/es posts of that test module, and the demo replay's texts (20,000 mentions of seed 1,
  deduplicated, with the language hints the connector gives; labels by construction).

UI strings are cut to their text (placeholders and tags removed) and kept from 15 letters. The
VADER and EvoMSA sets are fetched like ``sentiment_eval.py`` does (``pip download`` of their
source distributions into ``benchmarks/.cache/``, once).

Speed: CPU time of ``detect_language`` per text (normalisation and hints included) over all
labelled texts and over the replay's texts, one core, after a warm-up; each detector is timed
``--rounds`` times, interleaved, and the fastest round counts (other work on the machine only
slows a round down). Writes ``benchmarks/results/language_eval.json``: ``<lang>.accuracy`` and
``<lang>.accuracy_py3langid`` for en/es/ru (held-out sets) and other, ``sets.<set>.accuracy``,
``.accuracy_py3langid``, ``.texts`` and ``.fallback_share`` (texts fastText left to py3langid),
``fasttext.us_per_text`` / ``py3langid.us_per_text`` (all texts) and ``…us_per_text_replay``.
"""

from __future__ import annotations

import argparse
import gettext
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import sentiment_eval  # noqa: E402  (its fetchers and the held-out Russian set)

RESULTS = ROOT / "benchmarks" / "results" / "language_eval.json"
LOCALE = ROOT / "apiary" / "locale"
OTHER_LANGS = (
    "de", "fr", "it", "pt", "ca", "gl", "nl", "pl", "uk", "bg", "be", "sr",
    "mk", "kk", "tr", "ro", "sv", "da", "id", "cs", "hu", "fi", "eu", "ast",
)  # fmt: skip
HELD_OUT = {"en": "en-tweets", "es": "es-tweets", "ru": "ru-heldout"}
OTHER_SETS = ("other-django", "other-fixtures")
_PLACEHOLDER = re.compile(r"%\([^)]*\)[sdrf]|%[sd]|\{[^}]*\}|<[^>]*>")

Row = tuple[str, str, str | None]  # text, expected code, hint


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _catalog(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of a compiled catalogue, placeholders removed, both ≥ 15 letters."""
    with path.open("rb") as fileobj:
        catalog = gettext.GNUTranslations(fileobj)._catalog
    pairs = []
    for key, value in catalog.items():
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid or not value:
            continue
        msgid, value = _PLACEHOLDER.sub(" ", msgid), _PLACEHOLDER.sub(" ", value)
        if _letters(msgid) >= 15 and _letters(value) >= 15:
            pairs.append((msgid, value))
    return pairs


def _unique(rows: list[Row]) -> list[Row]:
    return list({row[0]: row for row in rows}.values())


def labelled_sets() -> dict[str, list[Row]]:
    from apiary.listening.connectors.replay import generate_mentions
    from apiary.listening.tests import test_language

    vader = sentiment_eval.vader_sets
    dev = sentiment_eval.DEV_DIR
    sets: dict[str, list[Row]] = {
        "en-tweets": [(t, "en", None) for t, _ in vader(("tweets",))],
        "en-snippets": [
            (t, "en", None)
            for t, _ in vader(
                ("movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets")
            )
        ],
        "en-dev": [(t, "en", None) for t, _ in sentiment_eval.jsonl(dev / "dev_en.jsonl")],
        "es-tweets": [(t, "es", None) for t, _ in sentiment_eval.evomsa_tweets()],
    }
    for name in ("dev_es", "dev_es_posts", "dev_es_social"):
        sets[f"es-{name.replace('_', '-')}"] = [
            (t, "es", None) for t, _ in sentiment_eval.jsonl(dev / f"{name}.jsonl")
        ]
    sets["ru-heldout"] = [
        (t, "ru", None) for t, _ in sentiment_eval.jsonl(sentiment_eval.RU_HELDOUT)
    ]
    sets["ru-dev"] = [(t, "ru", None) for t, _ in sentiment_eval.jsonl(dev / "dev_ru.jsonl")]
    english: list[Row] = []
    for lang in ("es", "ru"):
        pairs = _catalog(LOCALE / lang / "LC_MESSAGES" / "django.mo")
        english += [(msgid, "en", None) for msgid, _ in pairs]
        sets[f"{lang}-ui"] = _unique([(value, lang, None) for _, value in pairs])
    sets["en-ui"] = _unique(english)
    sets["fixtures"] = [(text, want, None) for want, text in test_language.TABLE]
    import django

    django_dir = Path(django.__file__).parent
    other: list[Row] = []
    for lang in OTHER_LANGS:
        for path in sorted(django_dir.glob(f"**/locale/{lang}/LC_MESSAGES/django.mo")):
            other += [(value, "other", None) for _, value in _catalog(path)]
    sets["other-django"] = _unique(other)
    sets["other-fixtures"] = [(text, "other", None) for _, text in test_language.OTHER_POSTS]
    sets["replay"] = _unique(
        [
            (m.text, m.raw["replay"]["lang"], m.language_hint or None)
            for m in generate_mentions(1, 0, 20_000)
        ]
    )
    return sets


def detectors():
    from apiary.listening import language

    return {
        "fasttext": language.detect_language,
        "py3langid": lambda text, hint: language._detect_with(language._detect_langid, text, hint),
    }


def fell_back(rows: list[Row]) -> float:
    """Share of the detected (≥ MIN_LETTERS letters) texts that fastText left to py3langid."""
    from apiary.listening import language

    calls = 0
    original = language._detect_langid

    def counting(clean):
        nonlocal calls
        calls += 1
        return original(clean)

    language._detect_langid = counting
    try:
        detected = 0
        for text, _, hint in rows:
            if _letters(language.normalise(text)) >= language.MIN_LETTERS:
                detected += 1
            language.detect_language(text, hint)
    finally:
        language._detect_langid = original
    return calls / detected if detected else 0.0


def us_per_text(rows: list[Row], min_texts: int, rounds: int) -> dict[str, float]:
    texts = [t for t, _, _ in rows]
    hints = [h for _, _, h in rows]
    repeat = max(1, -(-min_texts // len(texts)))
    best = {name: float("inf") for name in detectors()}
    for detect in detectors().values():  # warm-up: models loaded, symbol map filled
        for text, hint in zip(texts, hints, strict=True):
            detect(text, hint)
    for _ in range(rounds):
        for name, detect in detectors().items():
            started = time.process_time()
            for _ in range(repeat):
                for text, hint in zip(texts, hints, strict=True):
                    detect(text, hint)
            best[name] = min(best[name], (time.process_time() - started) / (repeat * len(texts)))
    return {name: round(seconds * 1e6, 2) for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-texts", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--errors", metavar="SET", help="print the fastText detector's misses")
    args = parser.parse_args()
    sets = labelled_sets()
    results: dict[str, float] = {}
    hits: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in detectors()}
    print(f"{'set':18} {'texts':>6} {'py3langid':>9} {'fasttext':>9} {'fallback':>8}")
    for set_name, rows in sets.items():
        for name, detect in detectors().items():
            codes = [detect(text, hint).code for text, _, hint in rows]
            right = sum(code == want for code, (_, want, _) in zip(codes, rows, strict=True))
            hits[name][set_name] = (right, len(rows))
            if name == "fasttext" and args.errors == set_name:
                for code, (text, want, _) in zip(codes, rows, strict=True):
                    if code != want:
                        print(f"  {want} → {code}: {text[:100]!r}")
        share = fell_back(rows)
        new, old = (hits[n][set_name][0] / len(rows) for n in ("fasttext", "py3langid"))
        print(f"{set_name:18} {len(rows):6,} {old:9.4f} {new:9.4f} {share:8.3f}")
        results[f"sets.{set_name}.texts"] = len(rows)
        results[f"sets.{set_name}.accuracy"] = round(new, 4)
        results[f"sets.{set_name}.accuracy_py3langid"] = round(old, 4)
        results[f"sets.{set_name}.fallback_share"] = round(share, 4)
    groups = {**{lang: (name,) for lang, name in HELD_OUT.items()}, "other": OTHER_SETS}
    for lang, names in groups.items():
        for name, suffix in (("fasttext", ""), ("py3langid", "_py3langid")):
            right = sum(hits[name][s][0] for s in names)
            total = sum(hits[name][s][1] for s in names)
            results[f"{lang}.accuracy{suffix}"] = round(right / total, 4)
        results[f"{lang}.texts"] = total
        print(
            f"{lang}: accuracy {results[f'{lang}.accuracy_py3langid']:.4f} (py3langid) → "
            f"{results[f'{lang}.accuracy']:.4f} (fastText + fallback) on {total:,} texts"
        )
    every = [row for rows in sets.values() for row in rows]
    for label, rows, suffix in (("all texts", every, ""), ("replay", sets["replay"], "_replay")):
        timing = us_per_text(rows, args.min_texts, args.rounds)
        for name, value in timing.items():
            results[f"{name}.us_per_text{suffix}"] = value
        print(
            f"µs per text, {label}: py3langid {timing['py3langid']:.1f}, "
            f"fastText + fallback {timing['fasttext']:.1f} (CPU, one core, best of {args.rounds})"
        )
    results["fasttext.fallback_share"] = round(fell_back(every), 4)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
