"""The Spanish tweet model: a linear model over EvoMSA's n-gram space, combined with the lexicon.

Why: the rules and lexicon alone leave most tweets without a cue (so neutral), and the held-out
tweets are mostly positive or negative.  EvoMSA 2.0.14 (INGEOTEC, Apache-2.0) ships two linear
models over one TF-IDF space of 15,227 Spanish n-grams (word uni/bigrams, character 2–4-grams):
``emo_Es`` (which of 64 emoji a tweet carried, learned from millions of tweets: distant supervision,
no hand labels) and ``ha_Es`` (negative/neutral/positive).  ``scripts/build_es_sentiment_model.py``
fits a 3-class logistic regression on their 67 outputs plus the lexicon's compound score, using only
our own labelled posts (``data/sentiment/dev_es*.jsonl``), and collapses it, because every step
is linear, into three weights per n-gram: ``data/sentiment/es_tweet_model.tsv``.

Text goes through EvoMSA's (microtc's) normalisation: lower case, numbers, URLs and ``@users``
deleted, accents stripped, repeated characters collapsed, spaces as ``~``; the n-grams are those
of that string.  For speed, the n-grams inside each space-separated chunk are scored once per
distinct chunk (memoised, like the lexicon's words) and only the few n-grams that straddle two
chunks are looked up per post.  The TF-IDF norm treats an n-gram repeated in two chunks as two
n-grams (exact within a chunk); the training script scores its training posts with this same code,
so the shipped weights match it.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "sentiment"
MODEL_FILE = DATA / "es_tweet_model.tsv"
CACHE_MAX = 100_000  # distinct chunks memoised; ~30 MB at most
QGRAMS = (2, 3, 4)

_NUM_RE = re.compile(r"\d\d*\.?\d*|\d*\.\d\d*")
_URL_RE = re.compile(r"https?://\S+")
_USR_RE = re.compile(r"@\S+")
_SPACE_RE = re.compile(r"[\n\r \t\xa0]")
_DUP_RE = re.compile(r"(.)\1+", re.DOTALL)
_TILDES_RE = re.compile(r"~+")
# microtc's punctuation and symbols: they stay in the character n-grams but split words.
_SPLIT_RE = re.compile(r"[;:,.@\\\-\"'/…“・”’()\[\]¿?¡!{}~<>|]+")


def normalise(text: str) -> str:
    """microtc's ``text_transformations`` for EvoMSA's Spanish models: ``"~hola~que~tal~"``."""
    text = text.lower()
    text = _NUM_RE.sub("", text)
    text = _URL_RE.sub("", text)
    text = _USR_RE.sub("", text)
    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if not 0x300 <= ord(ch) <= 0x36F)
    text = _DUP_RE.sub(r"\1", _SPACE_RE.sub("~", text))
    return _TILDES_RE.sub("~", "~" + text + "~")


class NgramSpace:
    """Sparse linear projections of one post's normalised TF-IDF vector.

    ``weights`` maps an n-gram (``"q:abc"`` for characters, ``"de~la"`` for a word bigram) to its
    IDF times each output's coefficient; ``idf`` to its IDF (for the norm).
    """

    def __init__(self, weights: dict[str, tuple[float, ...]], idf: dict[str, float]) -> None:
        self.weights = weights
        self.idf = idf
        self.dims = len(next(iter(weights.values()))) if weights else 0
        self.zero = (0.0,) * self.dims
        self.cache: dict[str, tuple[tuple[float, ...], float, list[str]]] = {}

    def _chunk(self, chunk: str) -> tuple[tuple[float, ...], float, list[str]]:
        hit = self.cache.get(chunk)
        if hit is not None:
            return hit
        framed = "~" + chunk + "~"
        grams = [
            "q:" + framed[i : i + q] for q in QGRAMS for i in range(len(framed) - q + 1)
        ]  # fmt: skip
        words = [w for w in _SPLIT_RE.split(chunk) if w]
        grams += words
        grams += [words[i] + "~" + words[i + 1] for i in range(len(words) - 1)]
        counts: dict[str, int] = {}
        for gram in grams:
            if gram in self.idf:
                counts[gram] = counts.get(gram, 0) + 1
        dots = [0.0] * self.dims
        sq = 0.0
        for gram, n in counts.items():
            sq += (n * self.idf[gram]) ** 2
            for j, w in enumerate(self.weights[gram]):
                dots[j] += n * w
        hit = (tuple(dots), sq, words)
        if len(self.cache) >= CACHE_MAX:
            self.cache.clear()
        self.cache[chunk] = hit
        return hit

    def project(self, text: str) -> tuple[list[float], float]:
        """(the unnormalised projections, the vector's norm) of one post; norm 0 = no n-gram."""
        chunks = normalise(text)[1:-1].split("~")
        dots = [0.0] * self.dims
        sq = 0.0
        weights, idf = self.weights, self.idf
        extra: list[str] = []
        prev_chunk = ""
        prev_word = ""
        for chunk in chunks:
            if not chunk:
                continue
            c_dots, c_sq, words = self._chunk(chunk)
            if c_sq:
                sq += c_sq
                dots = [a + b for a, b in zip(dots, c_dots, strict=True)]
            if prev_chunk:
                # The character n-grams that straddle the "~" between two chunks.
                left, right = "~" + prev_chunk, chunk + "~"
                extra.append("q:" + left[-1] + "~" + right[0])
                extra.append("q:" + left[-2:] + "~" + right[0])
                extra.append("q:" + left[-1] + "~" + right[:2])
            if words:
                if prev_word:
                    extra.append(prev_word + "~" + words[0])
                prev_word = words[-1]
            prev_chunk = chunk
        for gram in extra:
            w = weights.get(gram)
            if w is not None:
                sq += idf[gram] ** 2
                dots = [a + b for a, b in zip(dots, w, strict=True)]
        return dots, math.sqrt(sq)


class EsTweetModel:
    """``logits(text, compound)`` → (positive, neutral, negative) for one Spanish post."""

    def __init__(self, path: Path = MODEL_FILE) -> None:
        weights: dict[str, tuple[float, ...]] = {}
        idf: dict[str, float] = {}
        self.bias = self.lex = self.lexabs = (0.0, 0.0, 0.0)
        with path.open(encoding="utf-8") as fileobj:
            for line in fileobj:
                if line.startswith("#") or not line.strip():
                    continue
                parts = line.rstrip("\n").split("\t")
                values = tuple(float(x) for x in parts[-3:])
                if parts[0] == "@bias":
                    self.bias = values
                elif parts[0] == "@lex":
                    self.lex = values
                elif parts[0] == "@lexabs":
                    self.lexabs = values
                else:
                    idf[parts[0]] = float(parts[1])
                    weights[parts[0]] = values
        self.space = NgramSpace(weights, idf)

    def logits(self, text: str, compound: float) -> tuple[tuple[float, float, float], bool]:
        """(positive, neutral, negative) logits, and whether any n-gram of the post is known."""
        dots, norm = self.space.project(text)
        absolute = abs(compound)
        out = [
            b + c * compound + a * absolute
            for b, c, a in zip(self.bias, self.lex, self.lexabs, strict=True)
        ]
        if norm:
            out = [o + d / norm for o, d in zip(out, dots, strict=True)]
        return (out[0], out[1], out[2]), bool(norm)


_model: EsTweetModel | None = None
_lock = threading.Lock()


def es_model() -> EsTweetModel:
    """The shipped model, loaded once per process (thread-safe)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = EsTweetModel()
    return _model
