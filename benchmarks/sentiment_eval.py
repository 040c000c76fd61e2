"""Sentiment stage quality and speed on held-out sets in English, Spanish and Russian.

    .venv/bin/python benchmarks/sentiment_eval.py [--min-posts 100000] [--dev]

Held-out sets (never used for tuning):

- **en**: VADER's 4,200 rated tweets (``tweets_GroundTruth.txt`` inside
  ``additional_resources/hutto_ICWSM_2014.tar.gz`` of the vaderSentiment 3.3.2 source
  distribution).  Gold is the mean of 10 raters on -4..4: ≥ 0.5 positive, ≤ -0.5 negative, else
  neutral.
- **es**: the 1,000 labelled tweets ``EvoMSA/tests/tweets.json`` of the evomsa 2.0.14 source
  distribution.  ``P`` → positive, ``N`` → negative, ``NEU`` and ``NONE`` → neutral.
- **ru**: ``benchmarks/data/sentiment_ru_heldout.jsonl``, 320 Russian posts about shops,
  delivery, cafés, banks, phones and apps, written and labelled before the Russian lexicon was
  tuned.

The two source distributions are fetched with ``pip download --no-deps --no-binary :all:`` into
``benchmarks/.cache/`` (once; never committed).  ``--dev`` scores the tuning sets instead (the
movie, Amazon and NYT snippets of the same VADER archive, and ``data/sentiment/dev_*.jsonl``;
``dev_es_social.jsonl`` is tweet-like Spanish with a realistic share of neutral/no-sentiment posts,
written after the lexicon was tuned; ``dev_es_posts.jsonl`` is 393 posts about products, services
and daily life that the later Spanish rules were written against) and writes nothing.

Speed: ``score_sentiments`` over all held-out posts, repeated to at least ``--min-posts``, in
this one process (one core), after a warm-up pass; posts per second of wall-clock and CPU time.
Writes ``benchmarks/results/sentiment_eval.json`` (merged with what is there): for each of
``en.``, ``es.``, ``ru.`` and ``all.``: ``macro_f1``, ``accuracy``, ``posts``,
``<class>.precision``/``recall``/``f1``, ``confusion.<gold>.<predicted>`` and ``posts_per_s``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS = ROOT / "benchmarks" / "results" / "sentiment_eval.json"
RU_HELDOUT = ROOT / "benchmarks" / "data" / "sentiment_ru_heldout.jsonl"
DEV_DIR = ROOT / "apiary" / "listening" / "data" / "sentiment"
VADER = ("vadersentiment", "3.3.2", "vaderSentiment-3.3.2.tar.gz")
EVOMSA = ("evomsa", "2.0.14", "evomsa-2.0.14.tar.gz")
LABELS = ("positive", "neutral", "negative")
ES_LABELS = {"P": "positive", "N": "negative", "NEU": "neutral", "NONE": "neutral"}


def fetch(package: str, version: str, filename: str) -> Path:
    path = CACHE / filename
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             f"{package}=={version}", "-d", str(CACHE), "-q"],
            check=True,
        )  # fmt: skip
    return path


def _member(tar: tarfile.TarFile, suffix: str) -> bytes:
    for member in tar.getmembers():
        if member.name.endswith(suffix):
            return tar.extractfile(member).read()
    raise FileNotFoundError(suffix)


def _vader_label(mean: float) -> str:
    return "positive" if mean >= 0.5 else "negative" if mean <= -0.5 else "neutral"


def vader_sets(names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(text, gold) pairs from VADER's ground-truth files, e.g. ``("tweets",)``."""
    with tarfile.open(fetch(*VADER)) as outer:
        inner_bytes = _member(outer, "additional_resources/hutto_ICWSM_2014.tar.gz")
    import io

    rows = []
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for name in names:
            raw = _member(inner, f"{name}_GroundTruth.txt").decode("utf-8", errors="replace")
            for line in raw.splitlines():
                parts = line.split("\t")
                if len(parts) >= 3:
                    rows.append(("\t".join(parts[2:]), _vader_label(float(parts[1]))))
    return rows


def evomsa_tweets() -> list[tuple[str, str]]:
    with tarfile.open(fetch(*EVOMSA)) as tar:
        raw = _member(tar, "EvoMSA/tests/tweets.json").decode("utf-8")
    rows = []
    for line in raw.splitlines():
        if line.strip():
            item = json.loads(line)
            rows.append((item["text"], ES_LABELS[item["klass"]]))
    return rows


def jsonl(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as fileobj:
        return [(d["text"], d["label"]) for d in map(json.loads, fileobj) if d]


def metrics(gold: list[str], pred: list[str]) -> dict[str, float]:
    confusion = Counter(zip(gold, pred, strict=True))
    out: dict[str, float] = {"posts": len(gold)}
    f1s = []
    for label in LABELS:
        tp = confusion[(label, label)]
        predicted = sum(confusion[(g, label)] for g in LABELS)
        actual = sum(confusion[(label, p)] for p in LABELS)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        out[f"{label}.precision"] = round(precision, 4)
        out[f"{label}.recall"] = round(recall, 4)
        out[f"{label}.f1"] = round(f1, 4)
        for p in LABELS:
            out[f"confusion.{label}.{p}"] = confusion[(label, p)]
    out["macro_f1"] = round(sum(f1s) / len(f1s), 4)
    out["accuracy"] = round(sum(confusion[(g, g)] for g in LABELS) / len(gold), 4)
    return out


def speed(texts: list[str], langs: list[str | None], min_posts: int) -> tuple[float, float]:
    from apiary.listening.sentiment import score_sentiments

    score_sentiments(texts, langs)  # warm-up: lexicons loaded, word cache filled
    rounds = max(1, -(-min_posts // len(texts)))
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        score_sentiments(texts, langs)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return rounds * len(texts) / wall, rounds * len(texts) / cpu


def report(name: str, m: dict[str, float]) -> None:
    per_class = ", ".join(
        f"{label} P {m[f'{label}.precision']:.2f} R {m[f'{label}.recall']:.2f}" for label in LABELS
    )
    print(
        f"{name}: macro-F1 {m['macro_f1']:.3f}, accuracy {m['accuracy']:.3f} "
        f"on {m['posts']:,} posts ({per_class})"
    )
    print("    confusion (rows gold, columns predicted: pos/neu/neg): " + " | ".join(
        " ".join(f"{m[f'confusion.{g}.{p}']:4d}" for p in LABELS) for g in LABELS))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-posts", type=int, default=100_000)
    parser.add_argument("--dev", action="store_true", help="score the tuning sets; write nothing")
    args = parser.parse_args()
    from apiary.listening.sentiment import score_sentiments

    if args.dev:
        sets = {
            "en": vader_sets(
                ("movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets")
            ),
            "es": jsonl(DEV_DIR / "dev_es.jsonl"),
            "es-social": jsonl(DEV_DIR / "dev_es_social.jsonl"),
            "es-posts": jsonl(DEV_DIR / "dev_es_posts.jsonl"),
            "ru": jsonl(DEV_DIR / "dev_ru.jsonl"),
            "en-social": jsonl(DEV_DIR / "dev_en.jsonl"),
        }
    else:
        sets = {"en": vader_sets(("tweets",)), "es": evomsa_tweets(), "ru": jsonl(RU_HELDOUT)}
    results: dict[str, float] = {}
    all_gold, all_pred, all_texts, all_langs = [], [], [], []
    for lang, rows in sets.items():
        code = lang.split("-")[0]
        texts = [t for t, _ in rows]
        gold = [g for _, g in rows]
        pred = [r.label for r in score_sentiments(texts, [code] * len(texts))]
        m = metrics(gold, pred)
        report(lang, m)
        if not args.dev:
            per_s, per_cpu_s = speed(texts, [code] * len(texts), args.min_posts)
            print(f"    {per_s:,.0f} posts/s ({per_cpu_s:,.0f} per CPU second), one core")
            m["posts_per_s"] = round(per_s)
            m["posts_per_cpu_s"] = round(per_cpu_s)
        results.update({f"{lang}.{k}": v for k, v in m.items()})
        all_gold += gold
        all_pred += pred
        all_texts += texts
        all_langs += [code] * len(texts)
        none_pred = [r.label for r in score_sentiments(texts)]
        print(f"    with language=None: macro-F1 {metrics(gold, none_pred)['macro_f1']:.3f}")
        results[f"{lang}.macro_f1_language_none"] = metrics(gold, none_pred)["macro_f1"]
    m = metrics(all_gold, all_pred)
    report("all", m)
    if args.dev:
        return
    per_s, per_cpu_s = speed(all_texts, all_langs, args.min_posts)
    print(f"    {per_s:,.0f} posts/s ({per_cpu_s:,.0f} per CPU second), one core")
    m["posts_per_s"] = round(per_s)
    m["posts_per_cpu_s"] = round(per_cpu_s)
    results.update({f"all.{k}": v for k, v in m.items()})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged.update(results)
    RESULTS.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(f"Wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
