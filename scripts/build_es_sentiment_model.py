"""Build the Spanish tweet model ``data/sentiment/es_tweet_model.tsv`` (dev time only).

    .venv/bin/python scripts/build_es_sentiment_model.py [--sdist evomsa-2.0.14.tar.gz] [--check]

Sources:

- ``EvoMSA/models/emo_Es.tm`` and ``EvoMSA/models/ha_Es.tm`` of the evomsa 2.0.14 source
  distribution on PyPI (INGEOTEC, Apache-2.0): two linear models over one microtc TF-IDF space of
  15,227 n-grams.  ``emo_Es`` gives 64 decision values (which emoji a tweet carried), ``ha_Es``
  three (negative/neutral/positive).  Without ``--sdist`` the archive is fetched with
  ``pip download --no-deps --no-binary :all: evomsa==2.0.14`` into ``benchmarks/.cache/`` (the
  benchmark fetches the same file).  Only those two members are read: **never**
  ``EvoMSA/tests/tweets.json``, the benchmark's held-out Spanish set.
- The labelled posts ``apiary/listening/data/sentiment/dev_es.jsonl``, ``dev_es_social.jsonl``
  and ``dev_es_posts.jsonl`` (written for Apiary).

Steps: every post is projected with the runtime's own code (``_es_model.NgramSpace``) onto the
67 EvoMSA outputs, next to the lexicon's compound score and its absolute value
(``sentiment._lexicon``, the rules alone).  A 3-class logistic regression (numpy, balanced class
weights, L2 strength picked by 5-fold cross-validation on those posts) is fitted on the
standardised 69 features.  Every step is linear in the TF-IDF vector, so the regression collapses
into three weights per n-gram plus bias and lexicon terms, which is what the file holds and what
``EsTweetModel`` evaluates.  ``--check`` rebuilds in memory and compares with the shipped file.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apiary.listening.sentiment import _rules as rules_only  # noqa: E402
from apiary.listening.sentiment._es_model import MODEL_FILE, NgramSpace  # noqa: E402
from apiary.listening.sentiment._lexicon import tables  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
SDIST = "evomsa-2.0.14.tar.gz"
MEMBERS = ("EvoMSA/models/emo_Es.tm", "EvoMSA/models/ha_Es.tm")
DEV = ROOT / "apiary" / "listening" / "data" / "sentiment"
DEV_SETS = ("dev_es.jsonl", "dev_es_social.jsonl", "dev_es_posts.jsonl")
CLASSES = ("positive", "neutral", "negative")
LAMBDAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
SEED = 20240601


class _Record:
    """Stand-in for the pickled EvoMSA/microtc/b4msa classes: keeps their state, runs no code."""

    def __setstate__(self, state):
        self.state = state


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "array" and name in ("array", "_array_reconstructor"):
            return super().find_class(module, name)
        if module.startswith(("EvoMSA.", "b4msa.", "microtc.")):
            return type(name, (_Record,), {})
        if module.startswith("numpy") and name in ("scalar", "dtype", "_reconstruct", "ndarray"):
            return super().find_class(module, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def fetch_sdist() -> Path:
    path = CACHE / SDIST
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(  # noqa: S603  (fixed arguments: pip downloading one pinned sdist)
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "evomsa==2.0.14", "-d", str(CACHE), "-q"],
            check=True,
        )  # fmt: skip
    return path


def load_models(sdist: Path) -> list[dict]:
    """``[emo, ha]``, each ``{"w2id", "idf", "coef" (terms × outputs), "intercept", "labels"}``."""
    out = []
    with tarfile.open(sdist) as tar:
        for suffix in MEMBERS:
            member = next(m for m in tar.getmembers() if m.name.endswith(suffix))
            raw = gzip.decompress(tar.extractfile(member).read())
            model = _Unpickler(io.BytesIO(raw), encoding="latin1").load().state
            text_model = model["_textModel"].state
            assert text_model["token_list"] == [-2, -1, 2, 3, 4], text_model["token_list"]
            assert text_model["del_diac"] and text_model["del_dup"] and text_model["lc"]
            assert not text_model["del_punc"]
            assert text_model["num_option"] == text_model["url_option"] == "delete"
            assert text_model["usr_option"] == "delete"
            tfidf = text_model["model"].state
            labels = list(model["_labels"])
            coef = np.array(model["_coef"]).reshape(len(tfidf["_w2id"]), len(labels))
            out.append(
                {
                    "w2id": tfidf["_w2id"],
                    "idf": {k: float(v) for k, v in tfidf["_weight"].items()},
                    "coef": coef,
                    "intercept": np.array(model["_intercept"]),
                    "labels": labels,
                }
            )
    emo, ha = out
    assert emo["w2id"] == ha["w2id"], "emo_Es and ha_Es share one TF-IDF space"
    assert ha["labels"] == ["negative", "neutral", "positive"], ha["labels"]
    return out


def dev_posts() -> tuple[list[str], np.ndarray]:
    texts, gold = [], []
    for name in DEV_SETS:
        with (DEV / name).open(encoding="utf-8") as fileobj:
            for row in map(json.loads, fileobj):
                texts.append(row["text"])
                gold.append(CLASSES.index(row["label"]))
    return texts, np.array(gold)


def features(texts: list[str], emo: dict, ha: dict) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(the 67 EvoMSA outputs, the two lexicon features, the n-gram list) per post."""
    terms = sorted(emo["w2id"], key=emo["w2id"].get)
    coef = np.hstack([emo["coef"], ha["coef"]])  # terms × 67
    idf = np.array([emo["idf"][emo["w2id"][t]] for t in terms])
    scaled = coef * idf[:, None]
    space = NgramSpace(
        {t: tuple(row) for t, row in zip(terms, scaled.tolist(), strict=True)},
        {t: float(v) for t, v in zip(terms, idf, strict=True)},
    )
    intercept = np.concatenate([emo["intercept"], ha["intercept"]])
    tabs = tables()
    model_out, lex = [], []
    for text in texts:
        dots, norm = space.project(text)
        model_out.append(intercept + (np.array(dots) / norm if norm else 0.0))
        compound = (rules_only(text, "es", tabs) or (0.0, 0, True))[0]
        lex.append([compound, abs(compound)])
    return np.array(model_out), np.array(lex), terms


def fit(x: np.ndarray, y: np.ndarray, lam: float, iters: int = 4000, rate: float = 0.2):
    """Multinomial logistic regression on standardised ``x``, balanced classes, L2 ``lam``."""
    n, d = x.shape
    weights, bias = np.zeros((d, 3)), np.zeros(3)
    onehot = np.eye(3)[y]
    sample = (n / (3 * np.bincount(y, minlength=3)))[y][:, None]
    for _ in range(iters):
        z = x @ weights + bias
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) * sample / n
        weights -= rate * (x.T @ grad + lam * weights / n)
        bias -= rate * grad.sum(axis=0)
    return weights, bias


def macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    f1s = []
    for k in range(3):
        tp = np.sum((gold == k) & (pred == k))
        p, r = tp / max(1, np.sum(pred == k)), tp / max(1, np.sum(gold == k))
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(f1s))


def pick_lambda(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[float, float]]:
    folds = np.random.default_rng(SEED).permutation(len(y)) % 5
    scores = {}
    for lam in LAMBDAS:
        pred = np.empty_like(y)
        for k in range(5):
            train, test = folds != k, folds == k
            w, b = fit(x[train], y[train], lam)
            pred[test] = np.argmax(x[test] @ w + b, axis=1)
        scores[lam] = round(macro_f1(y, pred), 4)
    return max(scores, key=lambda lam: (scores[lam], lam)), scores


def build(sdist: Path) -> tuple[list[str], dict]:
    emo, ha = load_models(sdist)
    texts, gold = dev_posts()
    model_out, lex, terms = features(texts, emo, ha)
    raw = np.hstack([model_out, lex])
    mu, sd = raw.mean(axis=0), raw.std(axis=0) + 1e-9
    x = (raw - mu) / sd
    lam, cv = pick_lambda(x, gold)
    weights, bias = fit(x, gold, lam)
    # Collapse: logit = bias + sum_j (raw_j - mu_j) / sd_j * W_j, raw_j = intercept_j + v·coef_j.
    scaled = weights / sd[:, None]  # 69 × 3
    model_w = scaled[:67]
    intercept = np.concatenate([emo["intercept"], ha["intercept"]])
    const = bias - mu @ scaled + intercept @ model_w
    coef = np.hstack([emo["coef"], ha["coef"]]) @ model_w  # terms × 3
    idf = np.array([emo["idf"][emo["w2id"][t]] for t in terms])
    per_term = coef * idf[:, None]
    pred = np.argmax(x @ weights + bias, axis=1)
    info = {
        "posts": len(gold),
        "lambda": lam,
        "cv_macro_f1": cv,
        "train_macro_f1": round(macro_f1(gold, pred), 4),
    }
    lines = [
        "# Spanish tweet model of the sentiment stage (apiary/listening/sentiment/_es_model.py).",
        "# Built by scripts/build_es_sentiment_model.py from EvoMSA 2.0.14 (INGEOTEC, Apache-2.0)",
        "# EvoMSA/models/emo_Es.tm + ha_Es.tm and our own data/sentiment/dev_es*.jsonl (README).",
        f"# {json.dumps(info, sort_keys=True)}",
        "# n-gram<TAB>idf<TAB>weight for positive, neutral, negative (idf included)",
        "@bias\t" + "\t".join(f"{v:.6g}" for v in const),
        "@lex\t" + "\t".join(f"{v:.6g}" for v in scaled[67]),
        "@lexabs\t" + "\t".join(f"{v:.6g}" for v in scaled[68]),
    ]
    for term, v, row in zip(terms, idf, per_term, strict=True):
        if "\t" in term or "\n" in term:
            continue
        lines.append(f"{term}\t{v:.5g}\t" + "\t".join(f"{w:.4g}" for w in row))
    return lines, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="a local evomsa-2.0.14.tar.gz")
    parser.add_argument("--check", action="store_true", help="compare with the shipped file")
    args = parser.parse_args()
    lines, info = build(args.sdist or fetch_sdist())
    text = "\n".join(lines) + "\n"
    print(json.dumps(info, indent=2, sort_keys=True))
    if args.check:
        same = MODEL_FILE.read_text(encoding="utf-8") == text
        print("shipped file is up to date" if same else "shipped file differs")
        sys.exit(0 if same else 1)
    MODEL_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {MODEL_FILE.relative_to(ROOT)} ({len(text.encode()) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
